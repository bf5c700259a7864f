"""Reading QBO's report table: its columns, sections, lines and cells.

QBO answers one nested table per request: ``Header``, ``Columns`` and ``Rows.Row[]``, where a
row is either a Section (``Header``, nested ``Rows``, ``Summary``) or a line of ``ColData``
cells whose amounts are strings ("123.45", "" for blank). This module walks that shape;
what a line means is :mod:`tap_quickbooks.report_records`'s.
"""

from __future__ import annotations

import datetime as dt
import decimal
import typing as t
from dataclasses import dataclass

TRUNCATION = "unable to display more data"  # QBO's notice, as a row, when a report exceeds
# its 400,000-cell limit: the answer is a 200 that silently lacks the rest.


@dataclass(frozen=True)
class Column:
    title: str
    kind: str  # QBO's ColType: "Account", "Money", "Date", or a column key in old answers
    key: str  # what the column holds: the ColKey metadata ("tx_date", "total"), else ColType

    @property
    def money(self) -> bool:
        return self.kind == "Money" or self.key.endswith(("_amount", "_amt", "_bal"))

    @property
    def running(self) -> bool:
        """A running balance: the value after the line, not an amount of the line."""
        return self.key.startswith("rbal")


def columns_of(report: dict) -> list[Column]:
    columns = []
    for column in (report.get("Columns") or {}).get("Column") or []:
        meta = {m.get("Name"): m.get("Value") for m in column.get("MetaData") or []}
        kind = column.get("ColType") or ""
        columns.append(Column(column.get("ColTitle") or "", kind, meta.get("ColKey") or kind))
    return columns


def has_data(report: dict) -> bool:
    """False for QBO's empty answer (NoReportData), whose section skeleton is not data."""
    options = (report.get("Header") or {}).get("Option") or []
    for option in options:
        if option.get("Name") == "NoReportData" and str(option.get("Value")).lower() == "true":
            return False
    return bool(rows_of(report))


def is_truncated(report: dict) -> bool:
    """Whether QBO cut the report short, which it says only in text (a row, or the header)."""
    if TRUNCATION in str(report.get("Header") or "").lower():
        return True
    return any(
        TRUNCATION in str(cell.get("value", "")).lower() for cell in all_cells(rows_of(report))
    )


def rows_of(holder: dict) -> list[dict]:
    return (holder.get("Rows") or {}).get("Row") or []


def all_cells(rows: list[dict]) -> t.Iterator[dict]:
    for row in rows:
        yield from row.get("ColData") or []
        yield from (row.get("Header") or {}).get("ColData") or []
        yield from (row.get("Summary") or {}).get("ColData") or []
        yield from all_cells(rows_of(row))


@dataclass(frozen=True)
class Section:
    label: str | None
    id: str | None
    group: str | None

    @property
    def key(self) -> str:
        """Stable name of the section: QBO's group, else the account id, else its title.

        A section with none of them (a parent account's own lines, beside its sub-accounts'
        sections; a grand total) is "section", which keeps its lines and total apart.
        """
        return self.group or (f"id:{self.id}" if self.id else self.label or "section")


def section_of(row: dict) -> Section:
    header = (row.get("Header") or {}).get("ColData") or [{}]
    return Section(header[0].get("value") or None, header[0].get("id") or None, row.get("group"))


@dataclass(frozen=True)
class Line:
    """One line of a report: a data row, or the total (Summary) of a section."""

    total: bool
    path: tuple[Section, ...]  # enclosing sections; a total's path ends with its own section
    group: str | None
    cells: list[dict]


def lines_of(rows: list[dict], path: tuple[Section, ...] = ()) -> t.Iterator[Line]:
    """The report's lines in QBO's order, section headers folded into the paths."""
    for row in rows:
        if "ColData" in row:  # some reports (ageing, trial balance) omit "type": "Data"
            yield Line(False, path, row.get("group"), row["ColData"])
            continue
        inner = (*path, section_of(row))
        yield from lines_of(rows_of(row), inner)
        if summary := (row.get("Summary") or {}).get("ColData"):
            yield Line(True, inner, row.get("group"), summary)


def money(text: object) -> decimal.Decimal | None:
    """A QBO amount cell as a number; blank is null."""
    value = str(text or "").replace(",", "").strip()
    if not value:
        return None
    try:
        return decimal.Decimal(value)
    except decimal.InvalidOperation:
        return None


def day(text: object) -> dt.date | None:
    try:
        return dt.date.fromisoformat(str(text or ""))
    except ValueError:
        return None


def cell_at(cells: list[dict], index: int) -> dict:
    return cells[index] if index < len(cells) else {}


def cell_value(cell: dict) -> str | None:
    return cell.get("value") or None


def cell_id(cell: dict) -> str | None:
    return cell.get("id") or None
