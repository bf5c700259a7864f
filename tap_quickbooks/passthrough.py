"""Query pages whose rows stay the bytes QBO sent.

Turning a 2 KB invoice into Python objects and back into JSON costs most of the tap's time
per record, yet the tap reads only three of its fields (Id, MetaData.LastUpdatedTime,
status). So, when nothing downstream needs the record as objects (no stream maps, no
flattening, no deselected fields, no BATCH files), a page is decoded only far enough to
split it into rows and read those fields; each row's JSON is written out as it came,
after the fields the tap adds. Numbers keep QBO's exact text on the way.

msgspec checks the whole page while splitting it, so a body cut short or malformed is
still caught inside the retried call.
"""

from __future__ import annotations

import datetime as dt
import decimal
import functools
import threading
import typing as t

import msgspec

from tap_quickbooks.paging import TimedRow
from tap_quickbooks.timefmt import as_utc, read_instant, utc_text

# msgspec.Raw cannot be optional (``Raw | None``); an empty Raw stands for "absent".
_ABSENT = msgspec.field(default_factory=msgspec.Raw)


class _Meta(msgspec.Struct):
    # msgspec reads RFC 3339 times in C; a time in any other shape makes the page unusual.
    LastUpdatedTime: dt.datetime | None = None


class _Head(msgspec.Struct):
    """What the tap reads of a row; msgspec skips the rest without building it. The fields
    the tap adds are looked for too: a row that has one is read the ordinary way, so that
    no field is written twice."""

    Id: t.Any = None
    MetaData: _Meta | None = None
    status: t.Any = None
    realm_id: msgspec.Raw = _ABSENT
    LastUpdatedTime: msgspec.Raw = _ABSENT
    sdc_deleted_at: msgspec.Raw = msgspec.field(default_factory=msgspec.Raw, name="_sdc_deleted_at")

    def clashes(self) -> bool:
        """Whether the row already has a field the tap adds."""
        return bool(self.realm_id or self.LastUpdatedTime or self.sdc_deleted_at)


_encoder = msgspec.json.Encoder(decimal_format="number")


class RawRow(TimedRow):
    """A query row: the fields the tap reads, with the row's JSON as QBO sent it."""

    __slots__ = ("body", "time_text")

    body: msgspec.Raw  # the row's JSON as QBO sent it
    time_text: str | None  # the tap's one timestamp shape (timefmt.utc_text)


class RawRecord(dict):
    """A record to write: the fields the tap adds, then the row's own JSON."""

    __slots__ = ("body",)

    body: msgspec.Raw

    def __init__(self, row: RawRow, added: dict[str, t.Any]) -> None:
        super().__init__(added)
        self.body = row.body

    def json_parts(self) -> tuple[bytes, bytes | memoryview]:
        """The record's JSON in two parts, to be written one after the other: the added
        fields, then the row's own (not copied)."""
        added = _encoder.encode(dict(self))
        body = memoryview(self.body)
        if len(body) < 16 and not bytes(body[1:-1]).strip():  # {}: nothing to add
            return added, b""
        return added[:-1] + b",", body[1:]


# msgspec attaches a struct's type information to it on first use, and fills it in after
# attaching it, evaluating annotations in Python (which hands the GIL to other threads): a
# page chain's thread that decodes with a struct another thread is still preparing reads
# half-built information and crashes the process (SIGSEGV). So every decoder and struct is
# built under one lock, whole, before any thread decodes with it.
_BUILDING = threading.RLock()


def cache(build: t.Callable[[str], t.Any]) -> t.Callable[[str], t.Any]:
    """functools.cache, building under :data:`_BUILDING`."""
    cached = functools.cache(build)

    @functools.wraps(build)
    def get(entity: str) -> t.Any:
        with _BUILDING:
            return cached(entity)

    get.cache_clear = cached.cache_clear  # type: ignore[attr-defined]
    return get


@cache
def _query_response(entity: str) -> type:
    """One entity's QueryResponse, typed, each row left raw."""
    return msgspec.defstruct(
        f"{entity}QueryResponse",
        [
            (entity, list[msgspec.Raw], msgspec.field(default_factory=list)),
            ("startPosition", t.Any, None),
            ("maxResults", t.Any, None),
            ("totalCount", t.Any, None),
        ],
    )


@cache
def _page_decoder(entity: str) -> msgspec.json.Decoder:
    """A decoder for one entity's query pages: the envelope typed, each row left raw."""
    envelope = msgspec.defstruct(
        f"{entity}Page",
        [
            ("QueryResponse", _query_response(entity) | None, None),
            ("Fault", t.Any, None),
            ("fault", t.Any, None),
            ("time", t.Any, None),
        ],
    )
    return msgspec.json.Decoder(envelope)


@cache
def _query_response_decoder(entity: str) -> msgspec.json.Decoder:
    return msgspec.json.Decoder(_query_response(entity))


class UnusualPage(Exception):
    """The page has a shape the raw reading does not cover (a fault, a row that is not an
    object, a single unwrapped row): read it the ordinary way."""


def read_page(entity: str, content: bytes) -> dict[str, t.Any]:
    """A query page as the tap's parsed shape, its rows as :class:`RawRow`.

    Raises msgspec.DecodeError for a body that is not JSON (cut short, malformed), and
    :class:`UnusualPage` for valid JSON that the ordinary reading must handle.
    """
    if b"\n" in content or b"\r" in content:
        # Whitespace between tokens (JSON strings cannot hold a raw line break): each row's
        # JSON becomes part of one output line, so it must not break that line.
        content = content.replace(b"\r", b"").replace(b"\n", b"")
    try:
        page = _page_decoder(entity).decode(content)
    except msgspec.ValidationError as exc:
        raise UnusualPage(str(exc)) from exc
    if page.Fault is not None or page.fault is not None:
        raise UnusualPage("a fault")
    body: dict[str, t.Any] = {} if page.time is None else {"time": page.time}
    if page.QueryResponse is None:
        return body
    response = page.QueryResponse
    raws = getattr(response, entity)
    try:  # every row's head in one pass over the page, rather than one call per row
        heads = getattr(_head_decoder(entity).decode(content).QueryResponse, entity)
    except msgspec.ValidationError as exc:
        raise UnusualPage(str(exc)) from exc
    body["QueryResponse"] = {entity: _raw_rows(raws, heads)}
    for name in ("startPosition", "maxResults", "totalCount"):
        if (value := getattr(response, name)) is not None:
            body["QueryResponse"][name] = value
    return body


def _raw_rows(raws: list[msgspec.Raw], heads: list[_Head]) -> list[RawRow]:
    if any(head.clashes() for head in heads):
        raise UnusualPage("a row carries a field the tap adds")
    rows = []
    for head, raw in zip(heads, raws, strict=True):
        row = RawRow(Id=head.Id)
        if head.status is not None:
            row["status"] = head.status
        row.body = raw
        time = head.MetaData.LastUpdatedTime if head.MetaData is not None else None
        if time is None:
            row.time = row.time_text = None
        else:
            row.time = as_utc(time)  # as paging.metadata_time reads it
            row.time_text = utc_text(row.time)
        rows.append(row)
    return rows


@cache
def _head_decoder(entity: str) -> msgspec.json.Decoder:
    """A decoder for the heads of one entity's query page (the rest of each row skipped)."""
    heads = msgspec.defstruct(
        f"{entity}Heads", [(entity, list[_Head], msgspec.field(default_factory=list))]
    )
    envelope = msgspec.defstruct(f"{entity}HeadPage", [("QueryResponse", heads, None)])
    return msgspec.json.Decoder(envelope)


# Raw rows as kept on disk: the length of a JSON list holding what the tap read of each row
# (Id, status, time_text) and its JSON's length, that list, then the rows' JSON one after
# another. Read back, each row's JSON is cut out by its length, not parsed again (a page is
# megabytes: a parse of it was a tenth of the tap's time in a backfill of many companies).
_HEADS_LENGTH = 8
_spooled_heads = msgspec.json.Decoder(list[tuple[t.Any, t.Any, t.Any, int]])
_decimal_rows = msgspec.json.Decoder(list[dict[str, t.Any]], float_hook=decimal.Decimal)


def rows_to_json(rows: list[dict]) -> tuple[bytes, bool]:
    """Rows as bytes, to be read back by :func:`rows_from_json`; and whether they were raw
    rows (kept with what was read of them, so nothing is read twice)."""
    if rows and isinstance(rows[0], RawRow):
        raws = t.cast("list[RawRow]", rows)  # a page's rows are all of one kind
        heads = _encoder.encode(
            [(r["Id"], r.get("status"), r.time_text, len(r.body)) for r in raws]
        )
        size = len(heads).to_bytes(_HEADS_LENGTH, "little")
        return b"".join([size, heads, *(r.body for r in raws)]), True
    return _encoder.encode(rows), False


def rows_from_json(data: bytes, *, raw: bool) -> list[dict]:
    """The rows that :func:`rows_to_json` wrote, as they were (money as Decimal)."""
    if not raw:
        return _decimal_rows.decode(data)
    view = memoryview(data)
    at = _HEADS_LENGTH + int.from_bytes(view[:_HEADS_LENGTH], "little")
    rows: list[dict] = []
    for row_id, status, time_text, length in _spooled_heads.decode(view[_HEADS_LENGTH:at]):
        row = RawRow.__new__(RawRow)
        row["Id"] = row_id
        if status is not None:
            row["status"] = status
        row.body = msgspec.Raw(view[at : at + length])
        at += length
        row.time_text = time_text
        row.time = read_instant(time_text) if time_text else None
        rows.append(row)
    if at != len(data):
        msg = f"a spooled page of {len(data)} bytes holds rows of {at}"
        raise ValueError(msg)
    return rows


class _BatchItem(msgspec.Struct):
    bId: t.Any = None
    QueryResponse: msgspec.Raw = _ABSENT
    Fault: t.Any = None  # a refused item: the run plan reads why


class _Batch(msgspec.Struct):
    BatchItemResponse: list[_BatchItem] = msgspec.field(default_factory=list)
    Fault: t.Any = None
    fault: t.Any = None
    time: t.Any = None


_batches = msgspec.json.Decoder(_Batch)


def read_batch(content: bytes) -> dict[str, t.Any]:
    """A /batch answer with each item's QueryResponse left as JSON text (``msgspec.Raw``),
    for the stream it belongs to to read as it reads its own pages. Raises as
    :func:`read_page` does."""
    try:
        batch = _batches.decode(content)
    except msgspec.ValidationError as exc:
        raise UnusualPage(str(exc)) from exc
    if batch.Fault is not None or batch.fault is not None:
        raise UnusualPage("a fault")
    items = [
        {"bId": item.bId, "QueryResponse": item.QueryResponse}
        if item.QueryResponse
        else {"bId": item.bId, "Fault": item.Fault}  # a refused item: the plan reads why
        for item in batch.BatchItemResponse
        if item.QueryResponse or item.Fault is not None
    ]
    return {"BatchItemResponse": items, "time": batch.time}


def query_page(query_response: t.Any, time: t.Any) -> bytes:
    """A query page's JSON text, from a batch item's QueryResponse (text or parsed)."""
    if not isinstance(query_response, msgspec.Raw):
        query_response = msgspec.Raw(_encoder.encode(query_response))
    return _encoder.encode({"QueryResponse": query_response, "time": time})
