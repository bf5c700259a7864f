"""Putting the reports of split windows back together, as QBO would have answered them whole."""

from __future__ import annotations

import itertools

from tap_quickbooks.report_catalogue import Kind, Report
from tap_quickbooks.report_table import (
    Column,
    cell_at,
    cell_id,
    cell_value,
    day,
    has_data,
    money,
    rows_of,
    section_of,
)

KEEP_FIRST_GROUPS = {"BeginningCash"}  # cash at the start of the whole window
KEEP_LAST_GROUPS = {"EndingCash"}  # cash at its end


class Merger:
    """One report from the reports of consecutive windows, as QBO would have answered it whole.

    Sections and keyed lines (accounts, computed lines) are matched by key and their amounts
    added; transactions are appended in window order; running balances come from the later
    window, opening balances and opening cash from the earlier one.
    """

    def __init__(self, report: Report, columns: list[Column]) -> None:
        self.detail = report.kind is Kind.DETAIL
        self.columns = columns
        self.date_index = next((i for i, c in enumerate(columns) if c.key == "tx_date"), None)

    def merge(self, answers: list[dict]) -> dict:
        with_data = [a for a in answers if has_data(a)]
        if not with_data:
            return answers[0]
        merged = dict(with_data[0])
        rows = rows_of(with_data[0])
        for answer in with_data[1:]:
            rows = self.rows(rows, rows_of(answer))
        merged["Rows"] = {"Row": rows}
        return merged

    def rows(self, kept: list[dict], more: list[dict]) -> list[dict]:
        out = list(kept)
        index = {k: row for row in out if (k := self.key(row)) is not None}
        insert_at = 0
        for row in more:
            key = self.key(row)
            if key is None:  # a transaction: after everything before it
                out.append(row)
                continue
            if key in index:
                earlier = index[key]
                position = next(i for i, r in enumerate(out) if r is earlier)
                out[position] = index[key] = self.combine(earlier, row)
                insert_at = position + 1
            else:  # a line only the later window has: where that window has it
                out.insert(insert_at, row)
                index[key] = row
                insert_at += 1
        return out

    def key(self, row: dict) -> tuple | None:
        if "ColData" not in row:
            section = section_of(row)
            return ("section", section.group, section.id, section.label)
        cells = row["ColData"]
        if self.detail and self.is_transaction(cells):
            return None
        first = cell_at(cells, 0)
        return ("line", row.get("group"), cell_id(first), cell_value(first))

    def is_transaction(self, cells: list[dict]) -> bool:
        if self.date_index is not None:
            return day(cell_value(cell_at(cells, self.date_index))) is not None
        return any(cell_id(c) for c in cells[1:])

    def combine(self, earlier: dict, later: dict) -> dict:
        if "ColData" in earlier:
            how = self.rule(earlier.get("group"), line=True)
            return {**earlier, "ColData": self.cells(earlier["ColData"], later["ColData"], how)}
        combined = dict(earlier)
        combined["Rows"] = {"Row": self.rows(rows_of(earlier), rows_of(later))}
        summaries = [(r.get("Summary") or {}).get("ColData") for r in (earlier, later)]
        if summaries[0] and summaries[1]:
            how = self.rule(earlier.get("group"), line=False)
            combined["Summary"] = {"ColData": self.cells(summaries[0], summaries[1], how)}
        elif summaries[1]:
            combined["Summary"] = later["Summary"]
        return combined

    def rule(self, group: str | None, *, line: bool) -> str:
        if group in KEEP_FIRST_GROUPS or (self.detail and line):  # opening balances
            return "first"
        if group in KEEP_LAST_GROUPS:
            return "last"
        return "add"

    def cells(self, earlier: list[dict], later: list[dict], how: str) -> list[dict]:
        if how == "first":
            return earlier
        if how == "last":
            return later
        out = []
        missing: dict = {}  # a column only one side has
        for index, (a, b) in enumerate(itertools.zip_longest(earlier, later, fillvalue=missing)):
            column = self.columns[index] if index < len(self.columns) else None
            if index == 0 or column is None or not column.money:
                out.append(a or b)
            elif column.running:
                out.append(b if cell_value(b) is not None else a)
            else:
                total = [v for v in (money(cell_value(a)), money(cell_value(b))) if v is not None]
                out.append({**(a or b), "value": str(sum(total)) if total else ""})
        return out
