"""How Singer messages leave the process: msgspec-encoded lines, written in blocks."""

from __future__ import annotations

import datetime as dt
import sys
import threading
import typing as t

from singer_sdk.contrib.msgspec import MsgSpecWriter, encoder
from singer_sdk.singerlib import SchemaMessage, StateMessage

from tap_quickbooks import stopping
from tap_quickbooks.passthrough import RawRecord

if t.TYPE_CHECKING:
    from singer_sdk.singerlib import Message


def state_line(value: t.Any) -> bytes:
    """The STATE message of ``value``, encoded (without its line break)."""
    return encoder.encode({"type": "STATE", "value": value})


class BlockWriter(MsgSpecWriter):
    """The SDK's msgspec writer, without its costs per message.

    The SDK flushes stdout after every message (a system call per record) and turns
    SCHEMA and STATE messages into dicts with ``dataclasses.asdict``, which deep-copies
    every schema. Here lines collect in a block that goes out whole when it is large,
    with every STATE message (a target acts on state as soon as it sees it, and a killed
    run then loses only lines that no state had yet covered), and when the run ends.
    Pass-through records skip the message objects altogether (:meth:`write_raw_record`).

    Safe from any thread: one lock covers adding a line and writing the block, so a line
    added while a block goes out is never dropped nor interleaved; and a stop signal waits
    until the block is out (see stopping.py), so stdout only ever holds whole lines.
    """

    BLOCK_BYTES = 1 << 20

    def __init__(self) -> None:
        super().__init__()
        self._pending: list[bytes | memoryview] = []  # the lines since the last write, in parts
        self._pending_bytes = 0
        self._record_heads: dict[tuple[str, int | None], bytes] = {}  # '{"type":...,"record":'
        self._lock = threading.RLock()  # re-entered: a line that fills the block flushes it

    @staticmethod
    def message_dict(message: Message) -> dict[str, t.Any]:
        """The message as the dict to encode, sharing (never copying) its contents."""
        if isinstance(message, SchemaMessage):
            line = {"type": "SCHEMA", "stream": message.stream, "schema": message.schema}
            if message.key_properties is not None:
                line["key_properties"] = message.key_properties
            if message.bookmark_properties is not None:
                line["bookmark_properties"] = message.bookmark_properties
            return line
        return message.to_dict()

    def write_message(self, message: Message) -> None:
        if isinstance(message, StateMessage):
            self.write_state_line(state_line(message.value))
            return
        line = encoder.encode(self.message_dict(message))
        with self._lock, stopping.whole_lines:
            self._add(line, b"\n")

    def write_state_line(self, line: bytes) -> None:
        """Write a STATE line (from :func:`state_line`), and the block with it."""
        with self._lock, stopping.whole_lines:
            self._add(line, b"\n")
            self.flush()

    def write_raw_record(
        self, stream: str, record: RawRecord, version: int | None, extracted: dt.datetime
    ) -> None:
        """Write a pass-through record's RECORD line as :meth:`write_message` would, straight
        from QBO's bytes: no message object, no copy of the row but the one into the block."""
        head = self._record_heads.get((stream, version))
        if head is None:
            line = {"type": "RECORD", "stream": stream, "record": None}
            head = encoder.encode(line)[: -len(b"null}")]
            self._record_heads[stream, version] = head
        added, body = record.json_parts()
        version_text = b"" if version is None else b',"version":%d' % version
        tail = b'%s,"time_extracted":%s}\n' % (version_text, encoder.encode(extracted))
        with self._lock, stopping.whole_lines:
            self._add(head, added, body, tail)

    def _add(self, *parts: bytes | memoryview) -> None:
        """Add one line, in parts (the lock held)."""
        self._pending += parts
        self._pending_bytes += sum(map(len, parts))
        if self._pending_bytes >= self.BLOCK_BYTES:
            self.flush()

    def flush(self) -> None:
        """Write out every line so far."""
        with self._lock, stopping.whole_lines:
            if self._pending:
                # Joined once: a growing buffer would be copied again each time it grew.
                block = b"".join(self._pending)
                self._pending.clear()
                self._pending_bytes = 0
                sys.stdout.buffer.write(block)
            sys.stdout.flush()
