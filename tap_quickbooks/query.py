"""The QBO query language, as the tap writes it.

QBO parses a SQL dialect: ``SELECT * | COUNT(*) FROM Entity [WHERE a AND b ...]
[ORDERBY f [ASC|DESC], ...] [STARTPOSITION n] [MAXRESULTS n]``. No OR, no joins, no
projections; quotes inside literals are escaped with a backslash; STARTPOSITION is 1-based and
MAXRESULTS may not exceed 1000. Every statement the tap sends is built here; the times in
them are written by :mod:`tap_quickbooks.timefmt`.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

# The time canon has its own room; these names stay importable from here for the modules
# that still spell them query.utc_text / query.parse_instant (client.py, tap.py, company.py,
# companies.py): one implementation, two spellings, until those lines move to timefmt.
from tap_quickbooks.timefmt import parse_instant, utc_text

__all__ = [
    "ALL_ACTIVE_STATES",
    "LAST_UPDATED",
    "MAX_RESULTS",
    "Select",
    "compare",
    "literal",
    "one_of",
    "parse_instant",
    "utc_text",
]

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
