"""The QBO query language, as the tap writes it.

QBO parses a SQL dialect: ``SELECT * | COUNT(*) FROM Entity [WHERE a AND b ...]
[ORDERBY f [ASC|DESC], ...] [STARTPOSITION n] [MAXRESULTS n]``. No OR, no joins, no
projections; quotes inside literals are escaped with a backslash; STARTPOSITION is 1-based and
MAXRESULTS may not exceed 1000. Every statement the tap sends is built here.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import pendulum

MAX_RESULTS = 1000
LAST_UPDATED = "MetaData.LastUpdatedTime"
ALL_ACTIVE_STATES = "Active IN (true, false)"


def literal(value: str | bool | int | dt.datetime) -> str:
    """Render a Python value as a QBO literal."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, dt.datetime):
        return f"'{utc_text(value)}'"
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def utc_text(value: dt.datetime) -> str:
    """An instant as second-precision UTC text: the tap's one timestamp format.

    QBO stamps records in Pacific time with changing offsets (-07:00/-08:00), and the SDK
    compares bookmarks as strings, so every timestamp the tap emits or stores is UTC text of
    one fixed shape, which sorts as the instants do.
    """
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


@dataclass(frozen=True)
class Select:
    """One QBO query statement."""

    entity: str
    where: tuple[str, ...] = ()
    order_by: tuple[str, ...] = ()
    start_position: int | None = None
    max_results: int | None = None
    count: bool = False

    def __post_init__(self) -> None:
        if self.max_results is not None and not 1 <= self.max_results <= MAX_RESULTS:
            msg = f"MAXRESULTS must be between 1 and {MAX_RESULTS}, not {self.max_results}"
            raise ValueError(msg)
        if self.start_position is not None and self.start_position < 1:
            msg = f"STARTPOSITION is 1-based, not {self.start_position}"
            raise ValueError(msg)

    def __str__(self) -> str:
        parts = [f"SELECT {'COUNT(*)' if self.count else '*'} FROM {self.entity}"]
        if self.where:
            parts.append("WHERE " + " AND ".join(self.where))
        if self.order_by:
            parts.append("ORDERBY " + ", ".join(self.order_by))
        if self.start_position is not None:
            parts.append(f"STARTPOSITION {self.start_position}")
        if self.max_results is not None:
            parts.append(f"MAXRESULTS {self.max_results}")
        return " ".join(parts)


def compare(prop: str, op: str, value: str | bool | int | dt.datetime) -> str:
    """A ``prop op value`` condition."""
    if op not in {"=", "<", ">", "<=", ">=", "LIKE"}:
        msg = f"QBO has no operator {op!r}"
        raise ValueError(msg)
    return f"{prop} {op} {literal(value)}"


def one_of(prop: str, values: list[str] | tuple[str, ...]) -> str:
    """A ``prop IN (...)`` condition."""
    return f"{prop} IN ({', '.join(literal(v) for v in values)})"
