"""How Singer messages leave the process: msgspec-encoded lines, written in blocks."""

from __future__ import annotations

import sys
import typing as t

import msgspec
from singer_sdk.contrib.msgspec import MsgSpecWriter, encoder
from singer_sdk.singerlib import RecordMessage, SchemaMessage, StateMessage

from tap_quickbooks.passthrough import RawRecord

if t.TYPE_CHECKING:
    from singer_sdk.singerlib import Message


class BlockWriter(MsgSpecWriter):
    """The SDK's msgspec writer, without its two costs per message.

    The SDK flushes stdout after every message (a system call per record) and turns
    SCHEMA and STATE messages into dicts with ``dataclasses.asdict``, which deep-copies
    every schema. Here lines collect in a buffer that goes out whole when it is large,
    with every STATE message (a target acts on state as soon as it sees it, and a killed
    run then loses only lines that no state had yet covered), and when the run ends.
    """

    BLOCK_BYTES = 1 << 20

    def __init__(self) -> None:
        super().__init__()
        self._pending = bytearray()

    @staticmethod
    def message_dict(message: Message) -> dict[str, t.Any]:
        """The message as the dict to encode, sharing (never copying) its contents."""
        if isinstance(message, RecordMessage):
            line = message.to_dict()
            if isinstance(message.record, RawRecord):  # JSON already, as QBO sent it
                line["record"] = msgspec.Raw(message.record.json())
            return line
        if isinstance(message, SchemaMessage):
            line = {"type": "SCHEMA", "stream": message.stream, "schema": message.schema}
            if message.key_properties is not None:
                line["key_properties"] = message.key_properties
            if message.bookmark_properties is not None:
                line["bookmark_properties"] = message.bookmark_properties
            return line
        if isinstance(message, StateMessage):
            return {"type": "STATE", "value": message.value}
        return message.to_dict()

    def write_message(self, message: Message) -> None:
        encoder.encode_into(self.message_dict(message), self._pending, -1)
        self._pending += b"\n"
        if isinstance(message, StateMessage) or len(self._pending) >= self.BLOCK_BYTES:
            self.flush()

    def flush(self) -> None:
        """Write out every line so far."""
        if self._pending:
            sys.stdout.buffer.write(self._pending)
            self._pending.clear()
        sys.stdout.flush()
