"""One report answer as the stream's records: a typed record per line, with a stable key.

Lines (data lines and section totals) are flattened with their section path, amounts as
Decimal, and a key that stays the same when the period is read again: books get restated,
so every run re-reads the last periods and a target upserts them.
"""

from __future__ import annotations

import re
import typing as t

from tap_quickbooks.report_catalogue import Kind, Report
from tap_quickbooks.report_table import (
    Column,
    Line,
    Section,
    cell_at,
    cell_id,
    cell_value,
    columns_of,
    day,
    has_data,
    lines_of,
    money,
    rows_of,
)


def _slug(title: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", title.lower()).strip("_")


# Detail reports: QBO column keys -> the record's typed fields ((value, id) field names).
DETAIL_FIELDS: dict[str, tuple[str, str | None]] = {
    "tx_date": ("tx_date", None),
    "txn_type": ("txn_type", "txn_id"),
    "doc_num": ("doc_num", None),
    "name": ("name", "name_id"),
    "memo": ("memo", None),
    "split_acc": ("split_account", "split_account_id"),
    "account_name": ("account_column", "account_column_id"),
}
DETAIL_MONEY = {"debt_amt": "debit", "credit_amt": "credit"}


def _detail_money_field(column: Column) -> str | None:
    if column.key in DETAIL_MONEY:
        return DETAIL_MONEY[column.key]
    if column.running:
        return "balance"
    if column.key.startswith("subt_") or column.key == "amount":
        return "amount"
    return None


def _aging_field(title: str) -> str | None:
    """Ageing bucket titles ("Current", "1 - 30", "91 and over", "Total") as field names."""
    text = title.strip().lower()
    if text in {"current", "total"}:
        return text
    if match := re.fullmatch(r"(\d+)\s*-\s*(\d+)", text):
        return f"days_{match[1]}_{match[2]}"
    if match := re.fullmatch(r"(\d+)\s+and\s+over", text):
        return f"days_{match[1]}_and_over"
    return None


AGING_FIELDS = ("current", "days_1_30", "days_31_60", "days_61_90", "days_91_and_over", "total")


class Reader:
    """Turns one report answer into the stream's records (without period and method)."""

    def __init__(self, report: Report) -> None:
        self.report = report

    def records(self, answer: dict) -> list[dict]:
        if not has_data(answer):
            return []
        columns = columns_of(answer)
        currency = (answer.get("Header") or {}).get("Currency")
        records = []
        seen: dict[str, int] = {}
        for number, line in enumerate(lines_of(rows_of(answer)), start=1):
            if self.report.kind is Kind.DETAIL:
                fields, own_key = self.detail_fields(line, columns)
            elif self.report.kind is Kind.AGING:
                fields, own_key = self.aging_fields(line, columns)
            else:
                fields, own_key = self.summary_fields(line, columns)
            records.append(
                {
                    "row_key": _unique(_row_key(line, own_key), seen),
                    "row_number": number,
                    "row_type": "total" if line.total else "data",
                    "section_path": [s.label for s in line.path if s.label],
                    "group": line.path[-1].group if line.total else line.group,
                    "currency": currency,
                    **fields,
                }
            )
        return records

    def summary_fields(self, line: Line, columns: list[Column]) -> tuple[dict, str]:
        """Account lines of P&L, balance sheet, cash flow, trial balance."""
        first = cell_at(line.cells, 0)
        label = cell_value(first)
        if line.total:  # a parent account's total is still that account's
            own = line.path[-1]
            account_id, account_name = own.id, own.label if own.id else None
            key = "total"
        else:
            account_id = cell_id(first)
            # QBO names every account line with its id; lines without one are computed
            # (Net Income), and are no account.
            account_name = label if account_id else None
            key = f"id:{account_id}" if account_id else line.group or label or ""
        fields: dict[str, t.Any] = {
            "label": label,
            "account_id": account_id,
            "account_name": account_name,
            "amount": None,
            "debit": None,
            "credit": None,
        }
        money_columns = [(i, c) for i, c in enumerate(columns) if i and c.money]
        extra = {}
        for index, column in money_columns:
            amount = money(cell_value(cell_at(line.cells, index)))
            name = _slug(column.title)
            if len(money_columns) == 1 or name == "total" or column.key == "total":
                fields["amount"] = amount
            elif name in {"debit", "credit"}:
                fields[name] = amount
            elif amount is not None:
                extra[column.title or column.key] = amount
        fields["amounts"] = extra or None
        return fields, key

    def aging_fields(self, line: Line, columns: list[Column]) -> tuple[dict, str]:
        """Customer or vendor lines of ageing and balance reports."""
        party = self.report.party or "party"
        first = cell_at(line.cells, 0)
        label = cell_value(first)
        if line.total:  # a parent customer's total (with its jobs) is still that customer's
            own = line.path[-1]
            party_id, party_name = own.id, own.label if own.id else None
        else:
            party_id, party_name = cell_id(first), label
        fields: dict[str, t.Any] = {
            "label": label,
            f"{party}_id": party_id,
            f"{party}_name": party_name,
            **dict.fromkeys(AGING_FIELDS),
        }
        money_columns = [(i, c) for i, c in enumerate(columns) if i and c.money]
        extra = {}
        for index, column in money_columns:
            amount = money(cell_value(cell_at(line.cells, index)))
            name = _aging_field(column.title) or ("total" if len(money_columns) == 1 else None)
            if name in fields:
                fields[name] = amount
            elif amount is not None:
                extra[column.title or column.key] = amount
        fields["amounts"] = extra or None
        key = "total" if line.total else f"id:{party_id}" if party_id else label or ""
        return fields, key

    def detail_fields(self, line: Line, columns: list[Column]) -> tuple[dict, str]:
        """Transaction lines of the general ledger and P&L detail."""
        account = _detail_account(line.path)
        fields: dict[str, t.Any] = {
            "label": None,
            "account_id": account.id if account else None,
            "account_name": account.label if account else None,
            "tx_date": None,
            **{f: None for pair in DETAIL_FIELDS.values() for f in pair if f and f != "tx_date"},
            "amount": None,
            "debit": None,
            "credit": None,
            "balance": None,
        }
        other = {}
        for index, column in enumerate(columns):
            cell = cell_at(line.cells, index)
            if column.key in DETAIL_FIELDS:
                value_field, id_field = DETAIL_FIELDS[column.key]
                fields[value_field] = cell_value(cell)
                if id_field:
                    fields[id_field] = cell_id(cell)
            elif column.money and (name := _detail_money_field(column)):
                fields[name] = money(cell_value(cell))
            elif cell_value(cell) is not None:
                other[column.key or column.title] = cell_value(cell)
        # "Beginning Balance" and "Total for ..." stand in the date column: a label, not a date.
        date = day(fields["tx_date"])
        if date is None:
            fields["label"] = fields["tx_date"] or cell_value(cell_at(line.cells, 0))
        fields["tx_date"] = date.isoformat() if date else None
        fields["other_columns"] = other or None
        if line.total:
            key = "total"
        elif fields["txn_id"]:
            key = f"{fields['txn_type']}#{fields['txn_id']}"
        else:
            key = fields["label"] or "line"
        return fields, key


def _detail_account(path: tuple[Section, ...]) -> Section | None:
    """The account a detail line posts to: the innermost titled section from the first one
    that names an account by id down. Sections above it are groups (Income, Expenses);
    below it, sub-accounts, whose headers QBO sends without an id."""
    first = next((i for i, s in enumerate(path) if s.id), None)
    if first is None:
        return None
    return next(s for s in reversed(path[first:]) if s.label)


def _row_key(line: Line, own_key: str) -> str:
    """The line's place in the report: its sections' stable names, then its own."""
    path = [s.key for s in line.path if s.key]
    if line.total:  # the total's own section is already the last of the path
        return " > ".join([*path, "total"])
    return " > ".join([*path, own_key])


def _unique(key: str, seen: dict[str, int]) -> str:
    """Repeats of a key (a transaction's several lines in one account) numbered in order."""
    seen[key] = seen.get(key, 0) + 1
    return key if seen[key] == 1 else f"{key} ~{seen[key]}"
