"""Every touch of singer-sdk's private surface, in one place (tests/test_sdk_fastpath.py
counts them: at most 6 names, none elsewhere in the package).

The rest of the tap runs on the SDK's public hooks. These six have none:

- ``_generate_record_messages``, ``_write_record_message``, ``_stream_version`` and the
  private module ``singer_sdk.helpers._catalog`` (for ``pop_deselected_record_properties``):
  the SDK builds every record's message in private methods ("Private message authoring
  methods", streams/core.py) and exposes no hook between a record and its line. The fast
  path skips the SDK's walk of each record against the selection mask when nothing is
  deselected (a tenth of the tap's time), and writes a pass-through record (passthrough.py)
  as its line directly, without the message objects in between. The version of the stream
  that ACTIVATE_VERSION messages carry is the SDK's private attribute; the line must carry
  the same one, and a run of many companies sets one for all of them (``set_stream_version``).
  The same private module's ``get_selected_schema`` gives the stream maps a
  stream's schema less its deselected fields, as the SDK's own registration does (the tap
  registers from the streams, not through a catalog round trip: tap.py's setup_mapper).
- ``_sync_records``: the SDK's record loop, where a stream's own failure is met. Kept for the
  end of the run there (outcomes.py) instead of ending the run; the public ``sync`` is
  around it, but there the SDK has already logged the failure as an unhandled error.
- ``_validate_config``: the one place the SDK validates settings, before any public hook
  runs; the tap adds its sentences there, and keeps the values of secret settings out of
  the SDK's schema messages.

One more part of the fast path reads no private name but changes an SDK object's behaviour:
``remember_partition`` (below).

The fast path (the first four) is taken only on the SDK version it was verified on, and not
when ``TAP_QUICKBOOKS_SDK_FASTPATH=0``: otherwise records go the SDK's own (slower) way,
said once at INFO. tests/test_sdk_fastpath.py proves both ways write the same RECORD and
STATE messages. The other two are plain wrappers around the SDK's own method (they read
nothing private of it), kept on any version.
"""

from __future__ import annotations

import datetime as dt
import importlib.metadata
import logging
import os
import typing as t

from singer_sdk.helpers._catalog import get_selected_schema, pop_deselected_record_properties
from singer_sdk.singerlib import RecordMessage

from tap_quickbooks.passthrough import RawRecord

if t.TYPE_CHECKING:
    from singer_sdk.helpers.types import Context

    from tap_quickbooks.output import BlockWriter

VERIFIED_SDK = ("0.54.9",)  # the singer-sdk versions the fast path was proved on
SWITCH = "TAP_QUICKBOOKS_SDK_FASTPATH"  # "0": the SDK's own way, for comparison


def _sdk_version() -> str:
    try:
        return importlib.metadata.version("singer-sdk")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def _slow_path_reason() -> str | None:
    if os.environ.get(SWITCH, "1").strip() == "0":
        return f"{SWITCH}=0"
    if (version := _sdk_version()) not in VERIFIED_SDK:
        return (
            f"singer-sdk {version} is not the version the fast path was verified on "
            f"({', '.join(VERIFIED_SDK)}); correct, but slower"
        )
    return None


SLOW_PATH_REASON = _slow_path_reason()  # decided once a process
ENABLED = SLOW_PATH_REASON is None
_said = False


def _say_slow_path(logger: logging.Logger) -> None:
    """Say once a process, at the first record, why records go the SDK's own way."""
    global _said  # noqa: PLW0603 - once a process, from the main thread (it writes records)
    if not _said:
        _said = True
        logger.info("Records are written the SDK's own way (%s).", SLOW_PATH_REASON)


class RecordWriting:
    """The fast record path, for a stream (a RESTStream subclass) that says ``all_selected``
    (whether the catalog deselects nothing) and writes raw records with ``raw_writer``."""

    raw_writer: BlockWriter | None = None

    def _generate_record_messages(self, record: dict) -> t.Generator[RecordMessage, None, None]:
        stream = t.cast(t.Any, self)
        if not ENABLED:
            _say_slow_path(stream.logger)
            yield from super()._generate_record_messages(record)  # type: ignore[misc]
            return
        # The SDK's own, minus its walk of every record against the selection mask when
        # nothing is deselected: that walk then changes nothing. Conformance is NONE
        # (client.py), so the record goes to the maps as it is.
        if not stream.all_selected:
            pop_deselected_record_properties(record, stream.schema, stream.mask)
        extracted = dt.datetime.now(dt.UTC)
        for stream_map in stream.stream_maps:
            mapped = stream_map.transform(record)
            if mapped is not None:
                yield RecordMessage(
                    stream=stream_map.stream_alias,
                    record=mapped,
                    version=stream._stream_version,
                    time_extracted=extracted,
                )

    def _write_record_message(self, record: dict) -> None:
        # A pass-through record (made only when ENABLED: client.py) becomes its line
        # directly, as the one message the SDK would have made of it.
        if isinstance(record, RawRecord) and self.raw_writer is not None:
            stream = t.cast(t.Any, self)
            self.raw_writer.write_raw_record(
                stream.stream_maps[0].stream_alias,
                record,
                stream._stream_version,
                dt.datetime.now(dt.UTC),
            )
            stream.state_manager.is_flushed = False
        else:
            super()._write_record_message(record)  # type: ignore[misc]


def remember_partition(stream: t.Any, context: t.Mapping[str, t.Any] | None) -> None:
    """Let the stream's state manager find its company's partition without searching.

    The SDK looks a record's partition up in state at each record (to move its bookmark),
    comparing it with every company's partition of the stream: in a run of 20 companies,
    a tenth of the record loop. A stream here is one company's, so it asks for one
    partition only; the state dict found is kept, and given again while it is still where
    it was found in state (anything else is searched for as the SDK does). Taken with the
    rest of the fast path: on the verified SDK only."""
    if not ENABLED or context is None:
        return
    manager = stream.state_manager
    search = manager.get_context_state
    found: list = []  # [the stream's partitions list, the index in it, the partition dict]

    def get_context_state(asked: Context | None) -> dict:
        if found and asked == context:
            partitions, index, partition = found
            bookmarks = manager.tap_state.get("bookmarks", {}).get(stream.name, {})
            if (
                bookmarks.get("partitions") is partitions
                and index < len(partitions)
                and partitions[index] is partition
            ):
                return partition
        partition = search(asked)
        if asked == context:
            partitions = manager.tap_state["bookmarks"][stream.name].get("partitions") or []
            found.clear()
            for index, candidate in enumerate(partitions):
                if candidate is partition:
                    found.extend((partitions, index, partition))
                    break
        return partition

    manager.get_context_state = get_context_state


def set_stream_version(stream: t.Any, version: int) -> None:
    """The table version a stream's records carry (and its ACTIVATE_VERSION names): set for
    every company of a run at once, which then activates it once (companies.py)."""
    stream._stream_version = version


def selected_schema(stream: t.Any) -> dict:
    """The schema the SDK registers a stream's maps with: the catalog's (else the stream's),
    less the fields the catalog deselects; the schema itself when it deselects none (the
    SDK's copy of it would be all the same)."""
    schema = stream.effective_schema
    if all(stream.mask.values()):
        return schema
    return get_selected_schema(stream.name, schema, stream.mask)


class FailureBoundary:
    """A stream's own failure, met in the SDK's record loop, handed to ``keep_failure``:
    what it does not keep (True) ends the run. Counts the records the loop passed on."""

    records_synced = 0

    def keep_failure(self, exc: Exception) -> bool:
        return False

    def _sync_records(self, context: Context | None = None, *, write_messages: bool = True):
        try:
            for record in super()._sync_records(  # type: ignore[misc]
                context=context, write_messages=write_messages
            ):
                self.records_synced += 1
                yield record
        except Exception as exc:
            if not self.keep_failure(exc):
                raise


class ConfigChecks:
    """The tap's own config checks, run where the SDK validates: ``config_problems`` gets
    the SDK's schema check as a callable, and returns the problems (raising when asked)."""

    def config_problems(
        self, schema_check: t.Callable[[], list[str]], *, raise_errors: bool
    ) -> list[str]:
        raise NotImplementedError

    def _validate_config(self, *, raise_errors: bool = True) -> list[str]:
        return self.config_problems(
            lambda: super(ConfigChecks, self)._validate_config(raise_errors=True),  # type: ignore[misc]
            raise_errors=raise_errors,
        )
