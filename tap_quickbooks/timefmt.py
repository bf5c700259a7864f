"""The tap's one timestamp canon: how it reads QBO's times and how it writes its own.

QBO stamps records in Pacific time with changing offsets (-07:00/-08:00), and the SDK compares
bookmarks as strings, so every timestamp the tap emits or stores is UTC text of one fixed shape
(:func:`utc_text`), which sorts as the instants do. Every time the tap reads, from QBO, config
or state, goes through :func:`parse_instant`.
"""

from __future__ import annotations

import datetime as dt
import re

# The shapes config, state and QBO write (a date, or a date-time with seconds and an offset
# or Z), which ``fromisoformat`` reads exactly as pendulum does: read so, without importing
# pendulum (a twentieth of a second of every process). Anything else gets pendulum.
_PLAIN_ISO = re.compile(
    r"\d{4}-\d{2}-\d{2}(?:T\d{2}:\d{2}:\d{2}(?:\.\d{1,6})?(?:Z|[+-]\d{2}:\d{2})?)?"
)


def utc_text(value: dt.datetime) -> str:
    """An instant as second-precision UTC text: the tap's one timestamp format."""
    value = as_utc(value)
    # isoformat() then has this shape (...T12:00:00+00:00); its timespec argument alone would
    # cost a third of the call, which runs for every record.
    return (value.replace(microsecond=0) if value.microsecond else value).isoformat()


def as_utc(value: dt.datetime) -> dt.datetime:
    """The instant in UTC; a time without an offset is taken to be UTC already."""
    if value.tzinfo is None:
        return value.replace(tzinfo=dt.UTC)
    return value if value.tzinfo is dt.UTC else value.astimezone(dt.UTC)


def parse_instant(text: str) -> dt.datetime:
    """Parse a QBO or ISO-8601 timestamp (offset, ``Z``, or date only) into aware UTC."""
    if not text[:1].isdigit():  # pendulum also reads words ("now"): a time that moves
        msg = f"not an ISO-8601 timestamp: {text!r}"
        raise ValueError(msg)
    if (plain := plain_iso(text)) is not None:
        return as_utc(plain)
    import pendulum  # noqa: PLC0415 - see _PLAIN_ISO

    # exact: a time of day is not read as today's (a time that moves).
    parsed = pendulum.parse(text, exact=True)
    if not isinstance(parsed, dt.datetime):
        if not isinstance(parsed, dt.date):  # a time of day ("12:00") or a duration
            msg = f"not an ISO-8601 timestamp: {text!r}"
            raise ValueError(msg)
        # A bare date means its midnight, UTC.
        parsed = pendulum.datetime(parsed.year, parsed.month, parsed.day, tz="UTC")
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=dt.UTC)
    return dt.datetime.fromtimestamp(parsed.timestamp(), tz=dt.UTC)


def plain_iso(text: str) -> dt.datetime | None:
    """``text`` read by ``fromisoformat`` if it has one of the plain shapes (a date alone is
    its midnight, without an offset), else None (for pendulum to read)."""
    if _PLAIN_ISO.fullmatch(text):
        try:
            return dt.datetime.fromisoformat(text)
        except ValueError:  # a day or hour out of range: pendulum says so
            return None
    return None


def read_instant(text: str) -> dt.datetime:
    """:func:`parse_instant`, fast for the shape QBO stamps every record with.

    Runs once a record: ``fromisoformat`` reads QBO's own shape in a fraction of pendulum's
    time, and anything it refuses gets the full parser (and its error).
    """
    try:
        return as_utc(dt.datetime.fromisoformat(text))
    except ValueError:
        return parse_instant(text)
