"""How Singer messages leave the process: msgspec-encoded lines, written in blocks."""

from __future__ import annotations

import datetime as dt
import math
import sys
import threading
import time
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

    Two kinds of line are left out or put off, as a run of many quiet companies otherwise
    writes mostly them (each STATE holds every company's bookmarks, and each company's
    streams repeat the same schemas):

    - A SCHEMA byte-identical to the last one of its stream is not written again: a schema
      stays in force until replaced, and a target keeps it.
    - A STATE is written at once only when a block's worth of data lines (RECORD, BATCH,
      ACTIVATE_VERSION) went out since the last STATE written; otherwise it is held, a newer
      one replacing it, until then or until :meth:`flush`: at the end of each company, of
      the run, and of a stop. (Even a quiet stream writes a record, the one at its
      bookmark, so holding only over streams that wrote nothing would save nothing.)
      A STATE put off is encoded when it goes out, from the state as it is then: a state
      moves on only after the lines it covers are written, so it still claims no line not
      yet written, and a run of many companies (each STATE holds them all) encodes a STATE
      a block, not one at every stream's checkpoint. A run killed outright (SIGKILL, power)
      while a STATE is held loses only progress made since the last STATE written: the next
      run asks QBO for those streams again from their older bookmarks, re-writes the
      records of about a block (a target keeps one row per key), and misses nothing. A
      STATE carrying a newly rotated refresh token is never held (tap.py): it may be the
      token's only copy. One asked for ``soon`` (a report's finished period: a metered
      call not to be asked again after a kill) is held only until a second after the last
      STATE written: it goes out with the first line written from then on (even when a
      newer STATE, not asked for soon, has replaced it), or at the next :meth:`flush`. A
      run of many companies reads their reports at once, and a STATE per period per
      company, each holding every company's bookmarks, grew with the square of the
      companies (593 MB of STATE for 30 companies' reports).

    Safe from any thread: one lock covers adding a line and writing the block, so a line
    added while a block goes out is never dropped nor interleaved; and a stop signal waits
    until the block is out (see stopping.py), so stdout only ever holds whole lines.
    """

    BLOCK_BYTES = 1 << 20
    SOON_SECONDS = 1.0  # how long a STATE asked for soon may be held (see the class)

    def __init__(self) -> None:
        super().__init__()
        self._pending: list[bytes | memoryview] = []  # the lines since the last write, in parts
        self._pending_bytes = 0
        self._record_heads: dict[tuple[str, int | None], bytes] = {}  # '{"type":...,"record":'
        self._lock = threading.RLock()  # re-entered: a line that fills the block flushes it
        self._schemas: dict[str, bytes] = {}  # the last SCHEMA line written, by stream
        self._held_state: t.Callable[[], bytes | None] | None = None  # a STATE put off
        self._data_bytes = 0  # of the data lines since the last STATE written
        self._state_written_at = -math.inf  # time.monotonic() of the last STATE written
        self._held_due = math.inf  # when the STATE held must go out (one was asked for soon)

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
            if isinstance(message, SchemaMessage):
                if self._schemas.get(message.stream) == line:
                    return
                self._schemas[message.stream] = line
            else:
                self._release_if_due()
                self._data_bytes += len(line)
            self._add(line, b"\n")

    def write_state_line(self, line: bytes, *, at_once: bool = False) -> None:
        """Write a STATE line (from :func:`state_line`): :meth:`write_state` of it."""
        self.write_state(lambda: line, at_once=at_once)

    def write_state(
        self, encode: t.Callable[[], bytes | None], *, at_once: bool = False, soon: bool = False
    ) -> None:
        """Write the STATE line ``encode()`` returns (None: the state did not change, nothing
        to write), and the block with it; or hold it (see the class), unless ``at_once``, or
        ``soon`` and the last STATE written is a second old: ``encode`` is called when it
        goes out."""
        with self._lock, stopping.whole_lines:
            if soon:
                self._held_due = min(self._held_due, self._state_written_at + self.SOON_SECONDS)
            due = (
                at_once
                or self._data_bytes >= self.BLOCK_BYTES
                or time.monotonic() >= self._held_due
            )
            if due:
                self._release(encode)
            else:
                self._held_state = encode
            # The block goes out all the same: the target has the records as soon as ever.
            self._write_block()

    def _release(self, encode: t.Callable[[], bytes | None]) -> None:
        """Add the STATE line ``encode()`` returns, if any; none is held any more."""
        self._held_state, self._held_due = None, math.inf
        if (line := encode()) is not None:
            self._data_bytes = 0
            self._state_written_at = time.monotonic()
            self._add(line, b"\n")

    def _release_if_due(self) -> None:
        """Before a data line: the STATE held, if its second is up (it covers only lines
        already added), out with the block."""
        held = self._held_state
        if held is not None and self._held_due != math.inf and time.monotonic() >= self._held_due:
            self._release(held)
            self._write_block()

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
            self._release_if_due()
            self._data_bytes += len(head) + len(added) + len(body) + len(tail)
            self._add(head, added, body, tail)

    def _add(self, *parts: bytes | memoryview) -> None:
        """Add one line, in parts (the lock held)."""
        self._pending += parts
        self._pending_bytes += sum(map(len, parts))
        if self._pending_bytes >= self.BLOCK_BYTES:
            self._write_block()

    def flush(self) -> None:
        """Write out every line so far, the STATE held with them (the end of a company, of
        the run): the last STATE of what was written is then always out."""
        with self._lock, stopping.whole_lines:
            if (held := self._held_state) is not None:
                self._release(held)
            self._write_block()

    def _write_block(self) -> None:
        with self._lock, stopping.whole_lines:
            if self._pending:
                # Joined once: a growing buffer would be copied again each time it grew.
                block = b"".join(self._pending)
                self._pending.clear()
                self._pending_bytes = 0
                sys.stdout.buffer.write(block)
            sys.stdout.flush()
