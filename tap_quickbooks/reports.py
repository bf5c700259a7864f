"""Financial reports (ProfitAndLoss, BalanceSheet, ...) as typed, keyed streams.

QBO's Reports API answers one nested table per request: ``Header``, ``Columns`` and
``Rows.Row[]``, where a row is either a Section (``Header``, nested ``Rows``, ``Summary``) or a
line of ``ColData`` cells whose amounts are strings ("123.45", "" for blank). A report stream
asks for its report once per period and accounting method, flattens the nesting into one record
per line (data lines and section totals) with the section path, amounts as Decimal, and a key
that stays the same when the period is read again: books get restated, so every run re-reads
the last periods and a target upserts them.
"""

from __future__ import annotations

import datetime as dt
import decimal
import enum
import itertools
import json
import re
import typing as t
from dataclasses import dataclass
from http import HTTPStatus

import pendulum
from singer_sdk import typing as th
from singer_sdk.exceptions import ConfigValidationError, FatalAPIError, RetriableAPIError

from tap_quickbooks import errors, wire
from tap_quickbooks.client import QuickBooksTransport

if t.TYPE_CHECKING:
    import requests
    from singer_sdk.helpers.types import Context

    from tap_quickbooks.company import Company

try:
    from typing import override  # type: ignore[attr-defined]
except ImportError:  # Python 3.11
    from typing_extensions import override


# -- the reports ---------------------------------------------------------------------------


class Kind(enum.Enum):
    """How a report relates to its period, which decides how it is asked for and split."""

    FLOW = "flow"  # totals over the period (P&L, cash flow): split windows add up
    DETAIL = "detail"  # one line per transaction (GL, P&L detail): split windows concatenate
    BALANCE = "balance"  # balances at the period's end (balance sheet, trial balance)
    AGING = "aging"  # open balances per customer or vendor at the period's end


@dataclass(frozen=True)
class Report:
    name: str  # QBO's report name, as in /reports/{name}
    stream: str
    kind: Kind
    takes_method: bool  # QBO accepts accounting_method for it
    party: str | None = None  # "customer" or "vendor": whom the lines of an aging report name

    @property
    def splittable(self) -> bool:
        """A window too large for QBO can be read in halves and put back together."""
        return self.kind in {Kind.FLOW, Kind.DETAIL}


REPORTS: tuple[Report, ...] = (
    Report("ProfitAndLoss", "profit_and_loss_report", Kind.FLOW, takes_method=True),
    Report("ProfitAndLossDetail", "profit_and_loss_detail_report", Kind.DETAIL, True),
    Report("BalanceSheet", "balance_sheet_report", Kind.BALANCE, takes_method=True),
    Report("CashFlow", "cash_flow_report", Kind.FLOW, takes_method=False),
    Report("TrialBalance", "trial_balance_report", Kind.BALANCE, takes_method=True),
    Report("GeneralLedger", "general_ledger_report", Kind.DETAIL, takes_method=True),
    Report("AgedReceivables", "aged_receivables_report", Kind.AGING, False, "customer"),
    Report("AgedPayables", "aged_payables_report", Kind.AGING, False, "vendor"),
    Report("CustomerBalance", "customer_balance_report", Kind.AGING, True, "customer"),
    Report("VendorBalance", "vendor_balance_report", Kind.AGING, True, "vendor"),
)

# What rows are labelled with when QBO takes no accounting method for a report (cash flow,
# A/R and A/P ageing) and names none: those reports are built from accrual-basis documents.
DEFAULT_BASIS = "Accrual"


# -- settings ------------------------------------------------------------------------------

PERIOD_UNITS = ("month", "quarter", "year", "week", "day")
METHODS = {"accrual": ("Accrual",), "cash": ("Cash",), "both": ("Accrual", "Cash")}

REPORT_SETTINGS: list[th.Property] = [
    th.Property(
        "report_period",
        th.StringType,
        default="month",
        allowed_values=list(PERIOD_UNITS),
        description="Length of one report period: `month`, `quarter`, `year`, `week` "
        "(Monday to Sunday) or `day`. Each period of each report is one API call per "
        "accounting method.",
    ),
    th.Property(
        "report_accounting_method",
        th.StringType,
        default="accrual",
        allowed_values=list(METHODS),
        description="Accounting basis of the reports: `accrual`, `cash`, or `both` (each "
        "period is then read twice). CashFlow, AgedReceivables and AgedPayables take no "
        "basis in QBO and are read once.",
    ),
    th.Property(
        "report_lookback_periods",
        th.IntegerType(minimum=0),
        default=3,
        description="Closed periods re-read on every run before the bookmarked one, because "
        "books get restated. 0 re-reads only the bookmarked (last read) period.",
    ),
    th.Property(
        "report_start_date",
        th.DateType,
        description="First day whose period is read on a first run. Default: the day of "
        "`start_date`, or 12 months before today.",
    ),
    th.Property(
        "report_end_date",
        th.DateType,
        description="Day whose period is the last one read. Default: today (so the current, "
        "still open period is read, and read again next run).",
    ),
]


@dataclass(frozen=True)
class Period:
    """A closed range of days."""

    start: dt.date
    end: dt.date

    def __str__(self) -> str:
        return f"{self.start}..{self.end}"

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    def halves(self) -> tuple[Period, Period]:
        middle = self.start + dt.timedelta(days=self.days // 2 - 1)
        return Period(self.start, middle), Period(middle + dt.timedelta(days=1), self.end)


def period_of(day: dt.date, unit: str) -> Period:
    """The calendar period (month, quarter, ...) that holds a day."""
    date = pendulum.Date(day.year, day.month, day.day)
    if unit == "quarter":
        start, end = date.first_of("quarter"), date.last_of("quarter")
    else:
        start, end = date.start_of(unit), date.end_of(unit)
    return Period(_plain(start), _plain(end))


def _plain(date: dt.date) -> dt.date:
    """A pendulum date as a plain one, which prints and compares without surprises."""
    return dt.date(date.year, date.month, date.day)


def periods_from(first: Period, last: Period, unit: str) -> list[Period]:
    """The periods from one to another, both included."""
    out = []
    period = first
    while period.start <= last.start:
        out.append(period)
        period = period_of(period.end + dt.timedelta(days=1), unit)
    return out


def periods_back(period: Period, count: int, unit: str) -> Period:
    """The period that many periods before this one."""
    for _ in range(count):
        period = period_of(period.start - dt.timedelta(days=1), unit)
    return period


@dataclass(frozen=True)
class ReportSettings:
    unit: str
    methods: tuple[str, ...]
    lookback: int
    start: dt.date
    end: dt.date

    @classmethod
    def from_config(cls, config: t.Mapping[str, t.Any], today: dt.date) -> ReportSettings:
        """The report settings of a config; what is wrong with them raises, all at once."""
        problems = []
        unit = config.get("report_period") or "month"
        if unit not in PERIOD_UNITS:
            problems.append(f"report_period must be one of {', '.join(PERIOD_UNITS)}.")
        method = str(config.get("report_accounting_method") or "accrual").lower()
        if method not in METHODS:
            problems.append("report_accounting_method must be accrual, cash or both.")
        lookback = config.get("report_lookback_periods")
        lookback = 3 if lookback is None else lookback
        if not isinstance(lookback, int) or lookback < 0:
            problems.append("report_lookback_periods must be a whole number, 0 or more.")
        start = end = None
        try:
            start = _config_day(config, "report_start_date") or _config_day(config, "start_date")
            end = _config_day(config, "report_end_date") or today
        except ValueError as exc:
            problems.append(str(exc))
        start = start or pendulum.Date(today.year, today.month, today.day).subtract(months=12)
        if end and start > end:
            problems.append(f"report_start_date ({start}) is after report_end_date ({end}).")
        if problems:
            msg = "Invalid report settings: " + " ".join(problems)
            raise ConfigValidationError(msg, errors=problems)
        assert end is not None
        return cls(unit, METHODS[method], lookback, _plain(start), end)


def report_settings_problems(config: t.Mapping[str, t.Any]) -> list[str]:
    """What is wrong with the report settings, one sentence each, for the tap's own check."""
    try:
        ReportSettings.from_config(config, dt.datetime.now(dt.UTC).date())
    except ConfigValidationError as exc:
        return list(exc.errors or [])
    return []


def _config_day(config: t.Mapping[str, t.Any], key: str) -> dt.date | None:
    """The calendar day a date or date-time setting names, as written (no time zone shift)."""
    text = config.get(key)
    if not text:
        return None
    try:
        parsed = pendulum.parse(str(text))
    except (ValueError, TypeError) as exc:  # pendulum's ParserError is a ValueError
        msg = f"{key} must be an ISO-8601 date, not {text!r}."
        raise ValueError(msg) from exc
    if not isinstance(parsed, dt.date):
        msg = f"{key} must be an ISO-8601 date, not {text!r}."
        raise ValueError(msg)
    return dt.date(parsed.year, parsed.month, parsed.day)


# -- reading a report ----------------------------------------------------------------------

TRUNCATION = "unable to display more data"  # QBO's notice, as a row, when a report exceeds
# its 400,000-cell limit: the answer is a 200 that silently lacks the rest.


class ReportTooLarge(Exception):
    """QBO could not answer a report for this window in one piece."""


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
    return bool(_rows(report))


def is_truncated(report: dict) -> bool:
    """Whether QBO cut the report short, which it says only in text (a row, or the header)."""
    if TRUNCATION in str(report.get("Header") or "").lower():
        return True
    return any(
        TRUNCATION in str(cell.get("value", "")).lower() for cell in _all_cells(_rows(report))
    )


def _rows(holder: dict) -> list[dict]:
    return (holder.get("Rows") or {}).get("Row") or []


def _all_cells(rows: list[dict]) -> t.Iterator[dict]:
    for row in rows:
        yield from row.get("ColData") or []
        yield from (row.get("Header") or {}).get("ColData") or []
        yield from (row.get("Summary") or {}).get("ColData") or []
        yield from _all_cells(_rows(row))


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
        yield from lines_of(_rows(row), inner)
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


def _cell(cells: list[dict], index: int) -> dict:
    return cells[index] if index < len(cells) else {}


def _value(cell: dict) -> str | None:
    return cell.get("value") or None


def _id(cell: dict) -> str | None:
    return cell.get("id") or None


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
        for number, line in enumerate(lines_of(_rows(answer)), start=1):
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
        first = _cell(line.cells, 0)
        label = _value(first)
        if line.total:  # a parent account's total is still that account's
            own = line.path[-1]
            account_id, account_name = own.id, own.label if own.id else None
            key = "total"
        else:
            account_id = _id(first)
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
            amount = money(_value(_cell(line.cells, index)))
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
        first = _cell(line.cells, 0)
        label = _value(first)
        if line.total:  # a parent customer's total (with its jobs) is still that customer's
            own = line.path[-1]
            party_id, party_name = own.id, own.label if own.id else None
        else:
            party_id, party_name = _id(first), label
        fields: dict[str, t.Any] = {
            "label": label,
            f"{party}_id": party_id,
            f"{party}_name": party_name,
            **dict.fromkeys(AGING_FIELDS),
        }
        money_columns = [(i, c) for i, c in enumerate(columns) if i and c.money]
        extra = {}
        for index, column in money_columns:
            amount = money(_value(_cell(line.cells, index)))
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
            cell = _cell(line.cells, index)
            if column.key in DETAIL_FIELDS:
                value_field, id_field = DETAIL_FIELDS[column.key]
                fields[value_field] = _value(cell)
                if id_field:
                    fields[id_field] = _id(cell)
            elif column.money and (name := _detail_money_field(column)):
                fields[name] = money(_value(cell))
            elif _value(cell) is not None:
                other[column.key or column.title] = _value(cell)
        # "Beginning Balance" and "Total for ..." stand in the date column: a label, not a date.
        date = day(fields["tx_date"])
        if date is None:
            fields["label"] = fields["tx_date"] or _value(_cell(line.cells, 0))
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


# -- putting split windows back together --------------------------------------------------

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
        rows = _rows(with_data[0])
        for answer in with_data[1:]:
            rows = self.rows(rows, _rows(answer))
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
        first = _cell(cells, 0)
        return ("line", row.get("group"), _id(first), _value(first))

    def is_transaction(self, cells: list[dict]) -> bool:
        if self.date_index is not None:
            return day(_value(_cell(cells, self.date_index))) is not None
        return any(_id(c) for c in cells[1:])

    def combine(self, earlier: dict, later: dict) -> dict:
        if "ColData" in earlier:
            how = self.rule(earlier.get("group"), line=True)
            return {**earlier, "ColData": self.cells(earlier["ColData"], later["ColData"], how)}
        combined = dict(earlier)
        combined["Rows"] = {"Row": self.rows(_rows(earlier), _rows(later))}
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
                out.append(b if _value(b) is not None else a)
            else:
                total = [v for v in (money(_value(a)), money(_value(b))) if v is not None]
                out.append({**(a or b), "value": str(sum(total)) if total else ""})
        return out


# -- the streams ---------------------------------------------------------------------------

PRIMARY_KEYS = ("realm_id", "report", "accounting_method", "period_start", "period_end", "row_key")


def report_schema(report: Report) -> dict:
    """One typed schema per report family."""
    common = [
        th.Property("realm_id", th.StringType, required=True),
        th.Property("report", th.StringType, required=True, description="QBO report name."),
        th.Property("accounting_method", th.StringType, required=True),
        th.Property("period_start", th.DateType, required=True),
        th.Property("period_end", th.DateType, required=True),
        th.Property(
            "row_key",
            th.StringType,
            required=True,
            description="Stable place of the line in the report: section keys, then the "
            "account id, transaction or label of the line.",
        ),
        th.Property("row_number", th.IntegerType, description="Position in QBO's order."),
        th.Property("row_type", th.StringType, description="`data`, or `total` of a section."),
        th.Property("section_path", th.ArrayType(th.StringType), description="Section titles."),
        th.Property("group", th.StringType, description="QBO's group of the line or section."),
        th.Property("label", th.StringType, description="The line's own title."),
        th.Property("currency", th.StringType),
    ]
    amounts = th.Property(
        "amounts",
        th.ObjectType(additional_properties=th.NumberType),
        description="Amount columns with no field of their own, by column title.",
    )
    if report.kind is Kind.DETAIL:
        family = [
            th.Property("account_id", th.StringType),
            th.Property("account_name", th.StringType),
            th.Property("tx_date", th.DateType),
            *(
                th.Property(name, th.StringType)
                for pair in DETAIL_FIELDS.values()
                for name in pair
                if name and name != "tx_date"
            ),
            *(
                th.Property(name, th.NumberType)
                for name in ("amount", "debit", "credit", "balance")
            ),
            th.Property(
                "other_columns",
                th.ObjectType(additional_properties=th.StringType),
                description="Columns with no field of their own, by QBO column key.",
            ),
        ]
    elif report.kind is Kind.AGING:
        party = report.party or "party"
        family = [
            th.Property(f"{party}_id", th.StringType),
            th.Property(f"{party}_name", th.StringType),
            *(th.Property(name, th.NumberType) for name in AGING_FIELDS),
            amounts,
        ]
    else:
        family = [
            th.Property("account_id", th.StringType),
            th.Property("account_name", th.StringType),
            *(th.Property(name, th.NumberType) for name in ("amount", "debit", "credit")),
            amounts,
        ]
    return th.PropertiesList(*common, *family).to_dict()


class ReportStream(QuickBooksTransport):
    """One QBO report: a record per line, per period and accounting method."""

    primary_keys = PRIMARY_KEYS
    replication_key = "period_start"
    # Periods are read in order, so the bookmark advances period by period and a killed run
    # resumes from the last one. The look-back moves it back at a run's start: no sort check.
    is_sorted = True
    check_sorted = False
    # Every period and method is a metered call: reports are chosen, not extracted by default.
    selected_by_default = False

    def __init__(
        self, tap: t.Any, report: Report, settings: ReportSettings, company: Company
    ) -> None:
        self.company = company
        self.report = report
        self.settings = settings
        self.reader = Reader(report)
        self._can_split = False
        super().__init__(tap=tap, name=report.stream, schema=report_schema(report))

    @property
    @override
    def path(self) -> str:  # type: ignore[override]
        return f"/v3/company/{self.company.realm_id}/reports/{self.report.name}"

    # -- what to read ----------------------------------------------------------------------

    def bookmark(self) -> dt.date | None:
        """The period start of the last period read, from state (whatever its text form)."""
        state = self.company_state
        value = state.get("replication_key_value")
        if not value or state.get("replication_key") != self.replication_key:
            return None
        return day(str(value)[:10])

    def periods(self) -> list[Period]:
        unit = self.settings.unit
        first = period_of(self.settings.start, unit)
        if (mark := self.bookmark()) is not None:
            resume = periods_back(period_of(mark, unit), self.settings.lookback, unit)
            first = max(first, resume, key=lambda p: p.start)
        return periods_from(first, period_of(self.settings.end, unit), unit)

    def methods(self) -> tuple[str | None, ...]:
        return self.settings.methods if self.report.takes_method else (None,)

    def params(self, window: Period, method: str | None) -> dict:
        if self.report.kind is Kind.AGING:  # open balances as of a day
            params: dict[str, t.Any] = {"report_date": window.end.isoformat()}
        else:
            params = {"start_date": window.start.isoformat(), "end_date": window.end.isoformat()}
        if method:
            params["accounting_method"] = method
        params["minorversion"] = self.company.minor_version
        return params

    @override
    def get_records(self, context: Context | None) -> t.Iterable[dict]:
        periods = self.periods()
        if not periods:
            return
        self.logger.info(
            "%s: %d %s period(s) %s to %s, %s.",
            self.name,
            len(periods),
            self.settings.unit,
            periods[0].start,
            periods[-1].end,
            ", ".join(m or "no accounting method in QBO" for m in self.methods()),
        )
        for period in periods:
            for method in self.methods():
                answer = self.fetch(period, method)
                basis = method or (answer.get("Header") or {}).get("ReportBasis") or DEFAULT_BASIS
                for record in self.reader.records(answer):
                    yield {
                        "realm_id": self.company.realm_id,
                        "report": self.report.name,
                        "accounting_method": basis,
                        "period_start": period.start.isoformat(),
                        "period_end": period.end.isoformat(),
                        **record,
                    }
            self.checkpoint(period)

    def checkpoint(self, period: Period) -> None:
        """Bookmark a finished period, empty ones too, in a STATE message: a killed run
        resumes there, and a quiet company does not re-read ever more empty periods."""
        state = self.company_state
        state["replication_key"] = self.replication_key
        state["replication_key_value"] = period.start.isoformat()
        self.company.write_state()
        self.state_manager.is_flushed = True

    # -- reading a window, in pieces if QBO cannot answer it whole ---------------------------

    def fetch(self, window: Period, method: str | None) -> dict:
        """The report for a window; halved, down to single days, while QBO cannot answer."""
        try:
            return self.ask(window, method)
        except ReportTooLarge as exc:
            if not (self.report.splittable and window.days > 1):
                msg = (
                    f"{self.name}: QBO cannot answer {self.report.name} for {window} "
                    f"({method or 'no basis'}) in one piece ({exc}), and it cannot be split "
                    "further; the report cannot be extracted completely."
                )
                raise FatalAPIError(msg) from exc
            left, right = window.halves()
            self.logger.warning(
                "%s: QBO could not answer %s (%s) in one piece (%s); reading it as %s and %s.",
                self.name,
                window,
                method or "no basis",
                exc,
                left,
                right,
            )
            parts = [self.fetch(left, method), self.fetch(right, method)]
            return Merger(self.report, columns_of(parts[0])).merge(parts)

    def ask(self, window: Period, method: str | None) -> dict:
        """One request for one window, retried as the entity streams retry."""
        request = self.build_prepared_request(
            method="GET",
            url=f"{self.url_base}{self.path}",
            params=self.params(window, method),
            headers=self.http_headers,
        )
        self._can_split = self.report.splittable and window.days > 1
        # The SDK types its retrying decorator for functions answering a Response; it retries
        # any function, and this one answers the parsed report.
        retried = self.request_decorator(t.cast(t.Any, self._answer))
        answer = t.cast(dict, retried(request, None))
        if is_truncated(answer):
            raise ReportTooLarge("QBO: 'Unable to display more data'")
        self.check_header(answer, window, method)
        return answer

    def check_header(self, answer: dict, window: Period, method: str | None) -> None:
        """Warn when QBO says it answered for other dates or another basis than asked:
        the rows are then labelled with what was asked, which would not be what they are."""
        header = answer.get("Header") or {}
        said = {"EndPeriod": header.get("EndPeriod"), "ReportBasis": header.get("ReportBasis")}
        asked = {"EndPeriod": window.end.isoformat(), "ReportBasis": method}
        if self.report.kind is not Kind.AGING:
            said["StartPeriod"] = header.get("StartPeriod")
            asked["StartPeriod"] = window.start.isoformat()
        for name, value in said.items():
            if value and asked[name] and value != asked[name]:
                self.logger.warning(
                    "%s: asked QBO for %s %s, it answered %s.", self.name, name, asked[name], value
                )

    def _answer(self, request: requests.PreparedRequest, context: Context | None) -> dict:
        response = self.send_once(request, context)
        self.update_sync_costs(request, response, context)
        answer = wire.parsed_body_if_any(response)  # parsed by validate_response, if it did
        try:
            if answer is None:
                answer = json.loads(response.content, parse_float=decimal.Decimal)
        except ValueError as exc:  # a body cut short in transit: asked for again
            raise RetriableAPIError(f"{self.name}: {errors.describe(response)}", response) from exc
        # A Fault inside a 200 was judged by validate_response (retried or fatal), as for
        # every request of the tap.
        if not isinstance(answer, dict) or "Header" not in answer:
            msg = f"{self.name}: an answer that is no report [{errors.intuit_tid(response)}]"
            raise RetriableAPIError(msg, response)
        return answer

    @override
    def validate_response(self, response: requests.Response) -> None:
        # A gateway timeout on a report is mostly its size: a smaller window beats a retry.
        if response.status_code == HTTPStatus.GATEWAY_TIMEOUT and self._can_split:
            raise ReportTooLarge(f"HTTP 504 [intuit_tid={errors.intuit_tid(response)}]")
        super().validate_response(response)

    @override
    def calculate_sync_cost(self, request, response, context) -> dict[str, int]:
        return {"report": 1}


def report_streams(tap: t.Any, company: Company) -> list[ReportStream]:
    """The report streams of one company."""
    today = dt.datetime.now(dt.UTC).date()
    try:
        settings = ReportSettings.from_config(company.config, today)
    except ConfigValidationError:
        # Only where config is not validated (discovery, which has logged the problems):
        # the streams' catalog does not depend on these settings.
        settings = ReportSettings.from_config({}, today)
    return [ReportStream(tap, report, settings, company) for report in REPORTS]
