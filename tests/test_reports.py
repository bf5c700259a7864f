"""Report streams: QBO report answers read into typed, keyed lines; periods; splitting; state.

Answers are the recorded real ones, or built here in the real shape (Header, Columns, nested
Rows with Section/Data rows, ColData cells whose amounts are strings) by small builders.
"""

from __future__ import annotations

import copy
import datetime as dt
import decimal
import json
import logging
import re
import tempfile
from collections.abc import Callable
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import jsonschema
import pytest
import requests
from singer_sdk.exceptions import ConfigValidationError

from tap_quickbooks.companies import ahead
from tap_quickbooks.report_catalogue import REPORTS, Kind
from tap_quickbooks.report_periods import (
    Period,
    ReportSettings,
    period_of,
    periods_back,
    periods_from,
)
from tap_quickbooks.report_records import Reader
from tap_quickbooks.report_schema import PRIMARY_KEYS
from tap_quickbooks.report_table import has_data, is_truncated, money
from tap_quickbooks.tap import TapQuickBooks
from tap_quickbooks.throttle import RequestLimiter
from tests.singer import run_tap, run_tap_until_killed

RECORDED = Path(__file__).parent / "fixtures" / "recorded"
BY_NAME = {r.name: r for r in REPORTS}
D = decimal.Decimal


def load(name: str) -> dict:
    return json.loads((RECORDED / name).read_text(), parse_float=decimal.Decimal)


# -- builders of answers in QBO's shape -----------------------------------------------------


def cells(*values: str | tuple[str, str]) -> list[dict]:
    out = []
    for value in values:
        if isinstance(value, tuple):
            out.append({"value": value[0], "id": value[1]})
        else:
            out.append({"value": value})
    return out


def data(*values: str | tuple[str, str], group: str | None = None, typed: bool = True) -> dict:
    row: dict = {"ColData": cells(*values)}
    if typed:  # ageing and trial balance answers leave "type" out
        row["type"] = "Data"
    if group:
        row["group"] = group
    return row


def section(
    header: str | tuple[str, str] | None,
    rows: list[dict] = (),  # type: ignore[assignment]
    summary: tuple | None = None,
    group: str | None = None,
    width: int = 2,
) -> dict:
    row: dict = {"type": "Section"}
    if header is not None:
        row["Header"] = {"ColData": cells(header, *[""] * (width - 1))}
    if rows:
        row["Rows"] = {"Row": list(rows)}
    if summary is not None:
        row["Summary"] = {"ColData": cells(*summary)}
    if group:
        row["group"] = group
    return row


def answer(
    name: str,
    columns: list[tuple[str, str, str | None]],
    rows: list[dict],
    *,
    start: str = "2024-01-01",
    end: str = "2024-01-31",
    basis: str | None = "Accrual",
    no_data: bool = False,
) -> dict:
    header: dict = {
        "Time": "2024-02-01T08:00:00-08:00",
        "ReportName": name,
        "StartPeriod": start,
        "EndPeriod": end,
        "Currency": "USD",
        "Option": [{"Name": "NoReportData", "Value": "true" if no_data else "false"}],
    }
    if basis:
        header["ReportBasis"] = basis
    column_list = []
    for title, kind, key in columns:
        column: dict = {"ColTitle": title, "ColType": kind}
        if key:
            column["MetaData"] = [{"Name": "ColKey", "Value": key}]
        column_list.append(column)
    return {"Header": header, "Columns": {"Column": column_list}, "Rows": {"Row": rows}}


ACCOUNT_TOTAL = [("", "Account", "account"), ("Total", "Money", "total")]


def profit_and_loss(services: str = "200.00", **kw) -> dict:
    income = D(services) + D("337.50") + D("75.00")
    gross = income - D("100.00")
    rows = [
        section(
            "Income",
            [
                data(("Services", "1"), services),
                data(("Design income", "82"), "337.50"),
                section(
                    ("Landscaping Services", "45"),
                    [
                        data(("Landscaping Services", "45"), "50.00"),
                        data(("Plants and Soil", "46"), "25.00"),
                    ],
                    ("Total Landscaping Services", "75.00"),
                ),
            ],
            ("Total Income", str(income)),
            "Income",
        ),
        section(
            "Cost of Goods Sold",
            [data(("Cost of Goods Sold", "80"), "100.00")],
            ("Total Cost of Goods Sold", "100.00"),
            "COGS",
        ),
        section(None, summary=("Gross Profit", str(gross)), group="GrossProfit"),
        section(
            "Expenses",
            [data(("Rent or Lease", "17"), "300.00"), data(("Utilities", "77"), "")],
            ("Total Expenses", "300.00"),
            "Expenses",
        ),
        section(
            None, summary=("Net Operating Income", str(gross - 300)), group="NetOperatingIncome"
        ),
        section(None, summary=("Net Income", str(gross - 300)), group="NetIncome"),
    ]
    return answer("ProfitAndLoss", ACCOUNT_TOTAL, rows, **kw)


def balance_sheet(**kw) -> dict:
    rows = [
        section(
            "ASSETS",
            [
                section(
                    "Current Assets",
                    [
                        section(
                            "Bank Accounts",
                            [
                                data(("Checking", "35"), "1350.55"),
                                data(("Savings", "36"), "800.00"),
                            ],
                            ("Total Bank Accounts", "2150.55"),
                            "BankAccounts",
                        ),
                        section(
                            "Accounts Receivable",
                            [data(("Accounts Receivable (A/R)", "84"), "6383.12")],
                            ("Total Accounts Receivable", "6383.12"),
                            "AR",
                        ),
                    ],
                    ("Total Current Assets", "8533.67"),
                    "CurrentAssets",
                ),
                section(
                    "Fixed Assets",
                    [
                        section(
                            ("Truck", "37"),
                            [data(("Original Cost", "38"), "13495.00")],
                            ("Total Truck", "13495.00"),
                        )
                    ],
                    ("Total Fixed Assets", "13495.00"),
                    "FixedAssets",
                ),
            ],
            ("TOTAL ASSETS", "22028.67"),
            "TotalAssets",
        ),
        section(
            "LIABILITIES AND EQUITY",
            [
                section(
                    "Liabilities",
                    [data(("Accounts Payable (A/P)", "33"), "1602.67")],
                    ("Total Liabilities", "1602.67"),
                    "Liabilities",
                ),
                section(
                    "Equity",
                    [
                        data(("Opening Balance Equity", "34"), "9337.50"),
                        data(("Retained Earnings", "2"), "8648.23"),
                        data("Net Income", "2440.27", group="NetIncome"),
                    ],
                    ("Total Equity", "20426.00"),
                    "Equity",
                ),
            ],
            ("TOTAL LIABILITIES AND EQUITY", "22028.67"),
            "TotalLiabilitiesAndEquity",
        ),
    ]
    return answer("BalanceSheet", ACCOUNT_TOTAL, rows, **kw)


def trial_balance(**kw) -> dict:
    rows = [
        data(("Checking", "35"), "4151.74", "", typed=False),
        data(("Accounts Payable (A/P)", "33"), "", "1602.67", typed=False),
        data(("Meals and Entertainment", "13"), "46.00", "", typed=False),
        data(("Services", "1"), "", "2595.07", typed=False),
        section(None, summary=("TOTAL", "4197.74", "4197.74"), group="GrandTotal"),
    ]
    columns = [("", "Account", None), ("Debit", "Money", None), ("Credit", "Money", None)]
    return answer("TrialBalance", columns, rows, **kw)


AGING_COLUMNS = [
    ("", "Customer", None),
    *((title, "Money", None) for title in ("Current", "1 - 30", "31 - 60", "61 - 90")),
    ("91 and over", "Money", None),
    ("Total", "Money", None),
]


def aged_receivables(**kw) -> dict:
    rows = [
        data(("Amy's Bird Sanctuary", "1"), "239.00", "", "", "", "", "239.00", typed=False),
        data(("Jane Litigious", "4"), "", "", "", "", "37.50", "37.50", typed=False),
        section(
            None,
            summary=("TOTAL", "239.00", "0.00", "0.00", "0.00", "37.50", "276.50"),
            group="GrandTotal",
        ),
    ]
    return answer("AgedReceivables", AGING_COLUMNS, rows, basis=None, **kw)


def cash_flow(begin: str, net: str, **kw) -> dict:
    end = str(D(begin) + D(net))
    rows = [
        section(
            "OPERATING ACTIVITIES",
            [data("Net Income", net, group="NetIncome")],
            ("Net cash provided by operating activities", net),
            "OperatingActivities",
        ),
        section(None, summary=("Net cash increase for period", net), group="CashIncrease"),
        section(None, summary=("Cash at beginning of period", begin), group="BeginningCash"),
        section(None, summary=("Cash at end of period", end), group="EndingCash"),
    ]
    return answer("CashFlow", ACCOUNT_TOTAL, rows, basis=None, **kw)


DETAIL_COLUMNS = [
    ("Date", "Date", "tx_date"),
    ("Transaction Type", "String", "txn_type"),
    ("Num", "String", "doc_num"),
    ("Name", "String", "name"),
    ("Memo/Description", "String", "memo"),
    ("Split", "String", "split_acc"),
    ("Amount", "Money", "subt_nat_amount"),
    ("Balance", "Money", "rbal_nat_amount"),
]


def txn(date: str, kind: str, txn_id: str, amount: str, balance: str) -> dict:
    split = ("Accounts Receivable (A/R)", "84")
    return data(date, (kind, txn_id), txn_id, ("", ""), "", split, amount, balance)


def general_ledger(days: list[dt.date], opening: D, start: str, end: str) -> dict:
    """A one-account ledger with one 10.00 invoice a day on the given days."""
    lines = [data("Beginning Balance", "", "", "", "", "", "", str(opening))] if opening else []
    balance = opening
    for day in days:
        balance += D("10.00")
        lines.append(txn(day.isoformat(), "Invoice", str(day.toordinal()), "10.00", str(balance)))
    total = str(D("10.00") * len(days)) if days else ""
    rows = [
        section(
            ("Services", "1"),
            lines,
            ("Total for Services", "", "", "", "", "", total, ""),
            width=8,
        )
    ]
    return answer("GeneralLedger", DETAIL_COLUMNS, rows, start=start, end=end)


def records(report: str, body: dict) -> list[dict]:
    return Reader(BY_NAME[report]).records(body)


def by_key(rows: list[dict]) -> dict[str, dict]:
    return {r["row_key"]: r for r in rows}


# -- reading answers ------------------------------------------------------------------------


def test_recorded_general_ledger_is_read_into_typed_transaction_lines() -> None:
    rows = records("GeneralLedger", load("Report_GeneralLedger__qbo_api.json"))
    assert len({r["row_key"] for r in rows}) == len(rows)
    keyed = by_key(rows)
    invoice = keyed["id:84 > Invoice#264"]
    assert invoice["tx_date"] == "2020-09-29"
    assert (invoice["txn_type"], invoice["txn_id"], invoice["doc_num"]) == (
        "Invoice",
        "264",
        "1041",
    )
    assert (invoice["name"], invoice["name_id"]) == ("Amy's Bird Sanctuary", "1")
    assert (invoice["split_account"], invoice["split_account_id"]) == ("Services", "1")
    assert (invoice["amount"], invoice["balance"]) == (D("100.00"), D("5104.02"))
    assert (invoice["account_id"], invoice["account_name"]) == ("84", "Accounts Receivable (A/R)")
    assert invoice["label"] is None
    assert invoice["row_type"] == "data"
    assert invoice["section_path"] == ["Accounts Receivable (A/R)"]
    opening = keyed["id:84 > Beginning Balance"]
    assert opening["label"] == "Beginning Balance"
    assert opening["tx_date"] is None
    assert (opening["amount"], opening["balance"]) == (None, D("5004.02"))
    total = keyed["id:84 > total"]
    assert (total["row_type"], total["label"], total["amount"]) == (
        "total",
        "Total for Accounts Receivable (A/R)",
        D("200.00"),
    )
    # A sub-account section without an id (old answers) nests under its parent account.
    original_cost = keyed["id:38 > Original Cost > Beginning Balance"]
    assert original_cost["section_path"] == ["Truck", "Original Cost"]
    assert (original_cost["account_id"], original_cost["account_name"]) == (None, "Original Cost")
    # The ledger's own arithmetic: each account's lines add up to its total.
    for account in ("84", "4", "82", "1"):
        lines = [r for r in rows if r["account_id"] == account and r["txn_id"]]
        assert sum(r["amount"] for r in lines) == keyed[f"id:{account} > total"]["amount"]
    assert all(r["currency"] == "USD" for r in rows)


def test_recorded_no_report_data_gives_no_rows() -> None:
    body = load("Report_ProfitAndLoss__qbo_api_nodata.json")
    assert not has_data(body)
    assert records("ProfitAndLoss", body) == []
    empty = answer("ProfitAndLoss", ACCOUNT_TOTAL, [])
    del empty["Rows"]
    assert records("ProfitAndLoss", empty) == []


def test_profit_and_loss_lines_keep_sections_accounts_and_add_up() -> None:
    rows = by_key(records("ProfitAndLoss", profit_and_loss()))
    services = rows["Income > id:1"]
    assert (services["account_id"], services["account_name"]) == ("1", "Services")
    assert services["amount"] == D("200.00")
    assert services["section_path"] == ["Income"]
    plants = rows["Income > id:45 > id:46"]
    assert plants["section_path"] == ["Income", "Landscaping Services"]
    parent_total = rows["Income > id:45 > total"]
    assert (parent_total["account_id"], parent_total["amount"]) == ("45", D("75.00"))
    assert rows["Expenses > id:77"]["amount"] is None  # blank stays blank, not 0
    income_lines = [
        r for r in rows.values() if r["row_type"] == "data" and r["section_path"][:1] == ["Income"]
    ]
    total_income = rows["Income > total"]
    assert total_income["group"] == "Income"
    assert sum(r["amount"] for r in income_lines) == total_income["amount"] == D("612.50")
    gross = rows["GrossProfit > total"]
    assert (gross["label"], gross["section_path"], gross["group"]) == (
        "Gross Profit",
        [],
        "GrossProfit",
    )
    assert gross["amount"] == total_income["amount"] - rows["COGS > total"]["amount"]
    net = rows["NetIncome > total"]["amount"]
    assert net == gross["amount"] - rows["Expenses > total"]["amount"]
    assert [r["row_number"] for r in rows.values()] == list(range(1, len(rows) + 1))


def test_balance_sheet_balances_and_net_income_is_no_account() -> None:
    rows = by_key(records("BalanceSheet", balance_sheet()))
    assets = rows["TotalAssets > total"]["amount"]
    assert assets == rows["TotalLiabilitiesAndEquity > total"]["amount"]
    asset_lines = [
        r for r in rows.values() if r["row_type"] == "data" and r["section_path"][0] == "ASSETS"
    ]
    assert sum(r["amount"] for r in asset_lines) == assets
    net_income = rows["TotalLiabilitiesAndEquity > Equity > NetIncome"]
    assert (net_income["label"], net_income["group"]) == ("Net Income", "NetIncome")
    assert (net_income["account_id"], net_income["account_name"]) == (None, None)
    truck = rows["TotalAssets > FixedAssets > id:37 > id:38"]
    assert truck["section_path"] == ["ASSETS", "Fixed Assets", "Truck"]


def test_trial_balance_debits_equal_credits() -> None:
    rows = records("TrialBalance", trial_balance())
    lines = [r for r in rows if r["row_type"] == "data"]
    assert len(lines) == 4
    debits = sum(r["debit"] or 0 for r in lines)
    credits = sum(r["credit"] or 0 for r in lines)
    assert debits == credits == D("4197.74")
    total = by_key(rows)["GrandTotal > total"]
    assert (total["debit"], total["credit"], total["amount"]) == (debits, credits, None)
    checking = by_key(rows)["id:35"]
    assert (checking["debit"], checking["credit"]) == (D("4151.74"), None)


def test_ageing_buckets_become_fields_and_customers_are_named() -> None:
    rows = by_key(records("AgedReceivables", aged_receivables()))
    amy = rows["id:1"]
    assert (amy["customer_id"], amy["customer_name"]) == ("1", "Amy's Bird Sanctuary")
    assert (amy["current"], amy["days_1_30"], amy["total"]) == (D("239.00"), None, D("239.00"))
    assert rows["id:4"]["days_91_and_over"] == D("37.50")
    total = rows["GrandTotal > total"]
    assert total["customer_id"] is None
    assert total["total"] == rows["id:1"]["total"] + rows["id:4"]["total"]
    assert "vendor_id" not in amy
    body = answer(
        "VendorBalance",
        [("", "Vendor", None), ("Total", "Money", None)],
        [data(("Norton Lumber", "46"), "103.55", typed=False)],
    )
    (vendor,) = records("VendorBalance", body)
    assert (vendor["vendor_id"], vendor["vendor_name"], vendor["total"]) == (
        "46",
        "Norton Lumber",
        D("103.55"),
    )


def test_detail_lines_of_a_parent_account_are_its_own_and_keys_stay_unique() -> None:
    own_lines = section(
        None,
        [
            txn("2024-01-02", "Invoice", "65", "80.00", "80.00"),
            txn("2024-01-02", "Invoice", "65", "30.00", "110.00"),  # two lines, one account
        ],
        ("Total for Landscaping Services", "", "", "", "", "", "110.00", ""),
    )
    body = answer(
        "ProfitAndLossDetail",
        DETAIL_COLUMNS,
        [
            section(
                "Income",
                [
                    section(
                        ("Landscaping Services", "45"),
                        [own_lines],
                        (
                            "Total for Landscaping Services with sub-accounts",
                            *[""] * 5,
                            "110.00",
                            "",
                        ),
                        width=8,
                    )
                ],
                width=8,
            )
        ],
    )
    rows = records("ProfitAndLossDetail", body)
    keys = [r["row_key"] for r in rows]
    assert keys == [
        "Income > id:45 > section > Invoice#65",
        "Income > id:45 > section > Invoice#65 ~2",
        "Income > id:45 > section > total",
        "Income > id:45 > total",
    ]
    assert {r["account_id"] for r in rows} == {"45"}
    assert rows[0]["other_columns"] is None
    # Reading the same answer again gives the same keys: a re-read period upserts.
    assert [r["row_key"] for r in records("ProfitAndLossDetail", body)] == keys


def test_money_cells() -> None:
    assert money("123.45") == D("123.45")
    assert money("-9337.50") == D("-9337.50")
    assert money("1,234.50") == D("1234.50")
    assert money("") is None
    assert money(None) is None
    assert money("n/a") is None


def test_truncation_notice_is_found_anywhere_in_the_rows() -> None:
    body = general_ledger([dt.date(2024, 1, 2)], D("0"), "2024-01-01", "2024-01-31")
    assert not is_truncated(body)
    notice = data("Unable to display more data. Please reduce the date range.", *[""] * 7)
    body["Rows"]["Row"][0]["Rows"]["Row"].append(notice)
    assert is_truncated(body)


# -- periods and settings ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("unit", "start", "end"),
    [
        ("month", "2024-02-01", "2024-02-29"),
        ("quarter", "2024-01-01", "2024-03-31"),
        ("year", "2024-01-01", "2024-12-31"),
        ("week", "2024-02-12", "2024-02-18"),
        ("day", "2024-02-14", "2024-02-14"),
    ],
)
def test_period_of_a_day(unit: str, start: str, end: str) -> None:
    period = period_of(dt.date(2024, 2, 14), unit)
    assert (period.start.isoformat(), period.end.isoformat()) == (start, end)
    assert type(period.start) is dt.date


def test_periods_follow_each_other_and_go_back() -> None:
    first = period_of(dt.date(2023, 11, 5), "month")
    months = periods_from(first, period_of(dt.date(2024, 2, 1), "month"), "month")
    assert [str(p) for p in months] == [
        "2023-11-01..2023-11-30",
        "2023-12-01..2023-12-31",
        "2024-01-01..2024-01-31",
        "2024-02-01..2024-02-29",
    ]
    assert periods_back(months[-1], 3, "month") == months[0]
    assert periods_back(months[-1], 0, "month") == months[-1]
    left, right = Period(dt.date(2024, 1, 1), dt.date(2024, 1, 31)).halves()
    assert (str(left), str(right)) == ("2024-01-01..2024-01-15", "2024-01-16..2024-01-31")
    left, right = Period(dt.date(2024, 1, 1), dt.date(2024, 1, 2)).halves()
    assert (left.days, right.days) == (1, 1)


def test_settings_defaults_and_start_date() -> None:
    today = dt.date(2026, 11, 23)
    settings = ReportSettings.from_config({}, today)
    assert settings == ReportSettings("month", ("Accrual",), 3, dt.date(2025, 11, 23), today)
    settings = ReportSettings.from_config(
        {
            "start_date": "2024-03-05T00:00:00-08:00",
            "report_period": "quarter",
            "report_accounting_method": "both",
            "report_lookback_periods": 0,
        },
        today,
    )
    assert settings.start == dt.date(2024, 3, 5)  # the day as written, not shifted to UTC
    assert (settings.unit, settings.methods, settings.lookback) == (
        "quarter",
        ("Accrual", "Cash"),
        0,
    )
    settings = ReportSettings.from_config(
        {"start_date": "2020-01-01", "report_start_date": "2023-01-01"}, today
    )
    assert settings.start == dt.date(2023, 1, 1)


def test_bad_settings_are_all_named() -> None:
    with pytest.raises(ConfigValidationError) as raised:
        ReportSettings.from_config(
            {
                "report_period": "fortnight",
                "report_accounting_method": "hybrid",
                "report_lookback_periods": -1,
                "report_start_date": "2024-05-01",
                "report_end_date": "2024-04-01",
            },
            dt.date(2024, 6, 1),
        )
    problems = " ".join(raised.value.errors)
    for word in ("report_period", "report_accounting_method", "report_lookback_periods", "after"):
        assert word in problems
    with pytest.raises(ConfigValidationError, match="Invalid report settings"):
        ReportSettings.from_config({"report_end_date": "May 1st"}, dt.date(2024, 6, 1))


# -- the streams against a fake QBO ------------------------------------------------------


BASE_CONFIG = {
    "client_id": "client",
    "client_secret": "secret",
    "refresh_token": "refresh",
    "realm_id": "123145",
    "api_url": "http://127.0.0.1:9",
    "max_retry_wait": 0.01,
    "report_start_date": "2024-01-01",
    "report_end_date": "2024-03-15",
}

Handler = Callable[[str, dict], tuple[int, object]]


class NoAuth:
    """Stands for the tap's OAuth: no token endpoint in unit tests."""

    def __call__(self, request):
        return request

    def expire(self) -> None:  # pragma: no cover - called on a 401 only
        pass

    def worked(self, request) -> None:  # a request the token was good for: nothing to note
        pass


class FakeQBO:
    """Answers report requests from a handler(report name, params) -> (status, body)."""

    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self.calls: list[tuple[str, dict]] = []

    def send(self, request: requests.PreparedRequest, **_: object) -> requests.Response:
        url = urlparse(request.url or "")
        name = url.path.rsplit("/", 1)[-1]
        params = {k: v[0] for k, v in parse_qs(url.query).items()}
        self.calls.append((name, params))
        status, body = self.handler(name, params)
        response = requests.Response()
        response.status_code = status
        response.request = request
        response.url = request.url or ""
        if isinstance(body, str):
            response._content = body.encode()
            response.headers["Content-Type"] = "application/xml"
        else:
            response._content = json.dumps(body, default=str).encode()
            response.headers["Content-Type"] = "application/json;charset=utf-8"
        return response


def make_tap(
    handler: Handler, state: dict | None = None, **config
) -> tuple[TapQuickBooks, FakeQBO]:
    tap = TapQuickBooks(config={**BASE_CONFIG, **config}, state=state, validate_config=True)
    fake = FakeQBO(handler)
    tap.company.__dict__["authenticator"] = NoAuth()
    tap.company.__dict__["limiter"] = RequestLimiter(
        per_minute=10**6, per_second=10**6, in_flight=10**6
    )
    for stream in tap.streams.values():
        if hasattr(stream, "requests_session"):  # not sync_status: it asks QBO nothing
            stream.requests_session.send = fake.send  # type: ignore[method-assign]
    return tap, fake


def window(params: dict) -> Period:
    if "report_date" in params:
        day = dt.date.fromisoformat(params["report_date"])
        return Period(day, day)
    return Period(
        dt.date.fromisoformat(params["start_date"]), dt.date.fromisoformat(params["end_date"])
    )


def sync(tap: TapQuickBooks, stream_name: str, capsys) -> list[dict]:
    """Run one stream's sync as the tap would (its held STATE out at the end, as at the
    end of each company); the Singer messages it wrote."""
    stream = tap.streams[stream_name]
    stream.selected = True
    stream.sync()
    tap.block_writer.flush()
    return [json.loads(line) for line in capsys.readouterr().out.splitlines() if line]


def failed_sync(tap: TapQuickBooks, stream) -> str:
    """Sync a stream that fails: the run goes on (other streams would sync), the stream's
    outcome says it failed; QBO's message."""
    stream.sync()
    tap.block_writer.flush()
    outcome = tap.company.outcomes.by_stream[stream.name]
    assert outcome.status == "failed"
    return outcome.error


def test_report_streams_are_discovered_keyed_incremental_and_opt_in() -> None:
    tap, _ = make_tap(lambda *_: (500, {}))
    names = {r.stream for r in REPORTS}
    assert len(REPORTS) >= 10
    assert names <= set(tap.streams)
    catalog = tap.catalog_dict
    for entry in catalog["streams"]:
        if entry["tap_stream_id"] not in names:
            continue
        root = next(m["metadata"] for m in entry["metadata"] if m["breadcrumb"] == [])
        assert root["selected-by-default"] is False
        assert list(entry["key_properties"]) == [
            "realm_id",
            "report",
            "accounting_method",
            "period_start",
            "period_end",
            "row_key",
        ]
        assert entry["replication_key"] == "period_start"
        props = entry["schema"]["properties"]
        assert props["period_start"]["format"] == "date"
        money_fields = {"amount", "total", "debit"} & set(props)
        assert money_fields, entry["tap_stream_id"]
        assert all("number" in props[f]["type"] for f in money_fields)
    assert "report_period" in TapQuickBooks.config_jsonschema["properties"]


def test_requests_name_the_period_basis_and_minor_version(capsys) -> None:
    def handler(name: str, params: dict) -> tuple[int, object]:
        return 200, answer(name, ACCOUNT_TOTAL, [], no_data=True)

    tap, fake = make_tap(handler, report_accounting_method="both", report_end_date="2024-02-10")
    sync(tap, "profit_and_loss_report", capsys)
    assert fake.calls == [
        (
            "ProfitAndLoss",
            {
                "start_date": f"2024-0{m}-01",
                "end_date": end,
                "accounting_method": method,
                "minorversion": "75",
            },
        )
        for m, end in ((1, "2024-01-31"), (2, "2024-02-29"))
        for method in ("Accrual", "Cash")
    ]
    fake.calls.clear()
    sync(tap, "aged_receivables_report", capsys)  # no basis in QBO: one call per period
    assert fake.calls == [
        ("AgedReceivables", {"report_date": "2024-01-31", "minorversion": "75"}),
        ("AgedReceivables", {"report_date": "2024-02-29", "minorversion": "75"}),
    ]
    fake.calls.clear()
    sync(tap, "customer_balance_report", capsys)
    assert [c[1].get("accounting_method") for c in fake.calls] == ["Accrual", "Cash"] * 2


def test_records_carry_period_basis_and_match_the_schema(capsys) -> None:
    def handler(name: str, params: dict) -> tuple[int, object]:
        period = window(params)
        if name == "BalanceSheet":
            return 200, balance_sheet(basis=params["accounting_method"])
        if name == "AgedReceivables":
            return 200, aged_receivables(end=period.end.isoformat())
        return 200, trial_balance(basis=params["accounting_method"])

    tap, _ = make_tap(handler, report_accounting_method="both")
    for stream_name in ("balance_sheet_report", "aged_receivables_report", "trial_balance_report"):
        messages = sync(tap, stream_name, capsys)
        schema = next(m["schema"] for m in messages if m["type"] == "SCHEMA")
        rows = [m["record"] for m in messages if m["type"] == "RECORD"]
        assert rows
        for row in rows:
            jsonschema.validate(row, schema)
            assert row["realm_id"] == "123145"
        keys = {tuple(r[k] for k in tap.streams[stream_name].primary_keys) for r in rows}
        assert len(keys) == len(rows), "the key makes every row unique"
        periods = sorted({(r["period_start"], r["period_end"]) for r in rows})
        assert periods == [
            ("2024-01-01", "2024-01-31"),
            ("2024-02-01", "2024-02-29"),
            ("2024-03-01", "2024-03-31"),
        ]
        methods = {r["accounting_method"] for r in rows}
        # Ageing takes no basis: read once, labelled with the accrual basis it is built on.
        assert methods == (
            {"Accrual"} if stream_name == "aged_receivables_report" else {"Accrual", "Cash"}
        )


def test_empty_periods_give_no_rows_and_still_advance_the_bookmark(capsys) -> None:
    def handler(name: str, params: dict) -> tuple[int, object]:
        if window(params).start.month == 1:
            return 200, profit_and_loss()
        return 200, load("Report_ProfitAndLoss__qbo_api_nodata.json")

    tap, _ = make_tap(handler)
    messages = sync(tap, "profit_and_loss_report", capsys)
    rows = [m["record"] for m in messages if m["type"] == "RECORD"]
    assert {r["period_start"] for r in rows} == {"2024-01-01"}
    bookmarks = [
        m["value"]["bookmarks"]["profit_and_loss_report"]["replication_key_value"]
        for m in messages
        if m["type"] == "STATE" and "profit_and_loss_report" in m["value"].get("bookmarks", {})
    ]
    # Periods bookmarked within a second of the last STATE are written together (output.py).
    assert bookmarks == sorted(bookmarks)
    assert bookmarks[-1] == "2024-03-01"


@pytest.mark.parametrize("bookmark", ["2024-06-01", "2024-06-01T00:00:00+00:00"])
def test_a_run_resumes_from_the_bookmark_with_the_look_back(capsys, bookmark: str) -> None:
    def handler(name: str, params: dict) -> tuple[int, object]:
        return 200, profit_and_loss(start=params["start_date"], end=params["end_date"])

    state = {
        "bookmarks": {
            "profit_and_loss_report": {
                "replication_key": "period_start",
                "replication_key_value": bookmark,  # a date, or a date-time from elsewhere
            }
        }
    }
    tap, fake = make_tap(
        handler, state=state, report_lookback_periods=2, report_end_date="2024-07-04"
    )
    sync(tap, "profit_and_loss_report", capsys)
    assert [c[1]["start_date"] for c in fake.calls] == [
        "2024-04-01",
        "2024-05-01",
        "2024-06-01",
        "2024-07-01",
    ]
    # The look-back never reaches before report_start_date.
    tap, fake = make_tap(
        handler,
        state=copy.deepcopy(state),
        report_lookback_periods=12,
        report_start_date="2024-05-20",
        report_end_date="2024-06-30",
    )
    sync(tap, "profit_and_loss_report", capsys)
    assert [c[1]["start_date"] for c in fake.calls] == ["2024-05-01", "2024-06-01"]


def test_a_killed_run_resumes_where_its_last_state_points(capsys) -> None:
    def failing(name: str, params: dict) -> tuple[int, object]:
        if params["start_date"] == "2024-03-01":
            return 400, {"Fault": {"Error": [{"Message": "boom", "code": "2030"}]}}
        return 200, profit_and_loss(start=params["start_date"], end=params["end_date"])

    tap, _ = make_tap(failing, report_lookback_periods=0)
    stream = tap.streams["profit_and_loss_report"]
    stream.selected = True
    assert "boom" in failed_sync(tap, stream)
    states = [
        json.loads(line)["value"]
        for line in capsys.readouterr().out.splitlines()
        if '"STATE"' in line
    ]
    last = states[-1]["bookmarks"]["profit_and_loss_report"]["replication_key_value"]
    assert last == "2024-02-01"

    tap, fake = make_tap(
        lambda n, p: (200, profit_and_loss()), state=states[-1], report_lookback_periods=0
    )
    sync(tap, "profit_and_loss_report", capsys)
    assert [c[1]["start_date"] for c in fake.calls] == ["2024-02-01", "2024-03-01"]


# -- windows too large for QBO ------------------------------------------------------------

GATEWAY_TIMEOUT = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?><IntuitResponse '
    'xmlns="http://schema.intuit.com/finance/v3"><Fault type="SERVICE"><Error code="6002">'
    "<Message>message=GatewayTimeout; errorCode=006002; statusCode=504</Message></Error>"
    "</Fault></IntuitResponse>"
)


def test_a_504_splits_the_window_and_the_halves_add_up(capsys, caplog) -> None:
    def handler(name: str, params: dict) -> tuple[int, object]:
        period = window(params)
        if period.days > 10:
            return 504, GATEWAY_TIMEOUT
        services = str(D("10.00") * period.days)
        return 200, profit_and_loss(services, start=params["start_date"], end=params["end_date"])

    tap, fake = make_tap(handler, report_end_date="2024-01-31")
    with caplog.at_level(logging.WARNING):
        messages = sync(tap, "profit_and_loss_report", capsys)
    rows = by_key([m["record"] for m in messages if m["type"] == "RECORD"])
    pieces = [window(p) for _, p in fake.calls if window(p).days <= 10]
    assert sum(p.days for p in pieces) == 31
    assert rows["Income > id:1"]["amount"] == D("310.00")
    assert rows["Income > id:82"]["amount"] == D("337.50") * len(pieces)
    income = [
        r for r in rows.values() if r["row_type"] == "data" and r["section_path"][0] == "Income"
    ]
    assert sum(r["amount"] for r in income) == rows["Income > total"]["amount"]
    net = rows["NetIncome > total"]["amount"]
    expenses = rows["Expenses > total"]["amount"]
    assert net == rows["Income > total"]["amount"] - rows["COGS > total"]["amount"] - expenses
    assert all(
        r["period_start"] == "2024-01-01" and r["period_end"] == "2024-01-31" for r in rows.values()
    )
    assert "could not answer 2024-01-01..2024-01-31 (Accrual) in one piece (HTTP 504" in caplog.text


def test_a_truncated_ledger_is_read_day_by_day_and_put_back_together(capsys, caplog) -> None:
    active = [dt.date(2024, 1, d) for d in (2, 3, 3, 17, 30)]

    def handler(name: str, params: dict) -> tuple[int, object]:
        period = window(params)
        days = [d for d in active if period.start <= d <= period.end]
        opening = D("500.00") + D("10.00") * len([d for d in active if d < period.start])
        body = general_ledger(days, opening, params["start_date"], params["end_date"])
        if len(set(days)) > 1:  # more than one day of lines is too much for this QBO
            notice = data("Unable to display more data. Please reduce the date range.", *[""] * 7)
            body["Rows"]["Row"][0]["Rows"]["Row"].append(notice)
        return 200, body

    tap, _ = make_tap(handler, report_end_date="2024-01-31")
    with caplog.at_level(logging.WARNING):
        messages = sync(tap, "general_ledger_report", capsys)
    rows = [m["record"] for m in messages if m["type"] == "RECORD"]
    lines = [r for r in rows if r["txn_id"]]
    assert [r["tx_date"] for r in lines] == [d.isoformat() for d in active]
    assert [r["balance"] for r in lines] == [
        D("510.00"),
        D("520.00"),
        D("530.00"),
        D("540.00"),
        D("550.00"),
    ]
    openings = [r for r in rows if r["label"] == "Beginning Balance"]
    assert [r["balance"] for r in openings] == [D("500.00")]  # the window's, once
    (total,) = [r for r in rows if r["row_type"] == "total"]
    assert total["amount"] == D("50.00") == sum(r["amount"] for r in lines)
    assert len({r["row_key"] for r in rows}) == len(rows)
    assert "Unable to display more data" in caplog.text
    assert not any("Unable" in str(r) for r in rows)


def test_a_day_qbo_cannot_answer_fails_loudly(capsys) -> None:
    def handler(name: str, params: dict) -> tuple[int, object]:
        body = general_ledger(
            [dt.date(2024, 1, 2)], D("0"), params["start_date"], params["end_date"]
        )
        body["Rows"]["Row"].append(
            data("Unable to display more data. Please reduce the date range.")
        )
        return 200, body

    tap, fake = make_tap(handler, report_end_date="2024-01-31")
    stream = tap.streams["general_ledger_report"]
    stream.selected = True
    assert "cannot be split further" in failed_sync(tap, stream)
    assert min(window(p).days for _, p in fake.calls) == 1
    capsys.readouterr()


def test_split_cash_flow_keeps_opening_and_closing_cash() -> None:
    from tap_quickbooks.report_merge import Merger
    from tap_quickbooks.report_table import columns_of

    first = cash_flow("1000.00", "250.00")
    second = cash_flow("1250.00", "-100.00")
    merged = Merger(BY_NAME["CashFlow"], columns_of(first)).merge([first, second])
    rows = by_key(records("CashFlow", merged))
    assert rows["BeginningCash > total"]["amount"] == D("1000.00")
    assert rows["EndingCash > total"]["amount"] == D("1150.00")
    assert rows["CashIncrease > total"]["amount"] == D("150.00")
    assert rows["OperatingActivities > NetIncome"]["amount"] == D("150.00")
    beginning, increase = (
        rows["BeginningCash > total"]["amount"],
        rows["CashIncrease > total"]["amount"],
    )
    assert beginning + increase == rows["EndingCash > total"]["amount"]


def test_point_in_time_reports_are_retried_not_split(capsys) -> None:
    answers = iter([(504, GATEWAY_TIMEOUT), (200, None)])

    def handler(name: str, params: dict) -> tuple[int, object]:
        status, body = next(answers, (200, None))
        return status, body or balance_sheet()

    tap, fake = make_tap(handler, report_end_date="2024-01-31")
    messages = sync(tap, "balance_sheet_report", capsys)
    assert [window(p) for _, p in fake.calls] == [window(fake.calls[0][1])] * 2
    assert any(m["type"] == "RECORD" for m in messages)


def test_a_fault_inside_a_200_is_an_error(capsys) -> None:
    fault = {
        "Fault": {
            "Error": [{"Message": "Report not available", "code": "10000"}],
            "type": "SystemFault",
        }
    }
    tap, _ = make_tap(lambda n, p: (200, fault), report_end_date="2024-01-31")
    stream = tap.streams["cash_flow_report"]
    stream.selected = True
    # Retried first or not (the entity streams' policy decides), it ends the sync: no rows.
    assert "Report not available" in failed_sync(tap, stream)
    capsys.readouterr()


def test_a_validation_fault_inside_a_200_fails_at_once_with_one_sentence(capsys) -> None:
    fault = {
        "Fault": {
            "Error": [{"Message": "Invalid date", "Detail": "end_date", "code": "2020"}],
            "type": "ValidationFault",
        }
    }
    tap, fake = make_tap(lambda n, p: (200, fault), report_end_date="2024-01-31", max_retries=8)
    stream = tap.streams["cash_flow_report"]
    stream.selected = True
    error = failed_sync(tap, stream)
    assert "ValidationFault code 2020: Invalid date" in error
    assert len(fake.calls) == 1  # the same question gets the same refusal: never asked again
    assert "\n" not in error
    assert "retry" not in capsys.readouterr().err


def test_a_system_fault_inside_a_200_is_asked_again(capsys) -> None:
    fault = {"Fault": {"Error": [{"Message": "An application error", "code": "10000"}]}}
    answers = iter([(200, fault), (200, fault)])
    tap, fake = make_tap(
        lambda n, p: next(answers, (200, {"Header": {}, "Rows": {}})),
        report_end_date="2024-01-31",
        report_start_date="2024-01-01",
    )
    sync(tap, "cash_flow_report", capsys)
    assert len(fake.calls) == 3  # two faults retried, then the report


def test_kinds_cover_the_issue_reports() -> None:
    wanted = {
        "ProfitAndLoss",
        "ProfitAndLossDetail",
        "BalanceSheet",
        "CashFlow",
        "TrialBalance",
        "GeneralLedger",
        "AgedReceivables",
        "AgedPayables",
        "CustomerBalance",
        "VendorBalance",
    }
    assert wanted <= set(BY_NAME)
    assert {r.name for r in REPORTS if r.splittable} == {
        "ProfitAndLoss",
        "ProfitAndLossDetail",
        "CashFlow",
        "GeneralLedger",
    }
    assert BY_NAME["AgedPayables"].party == "vendor"
    assert BY_NAME["GeneralLedger"].kind is Kind.DETAIL


# -- against the emulator: the tap as a process, its rows beside the company's books ---------

REPORT_STREAMS = [r.stream for r in REPORTS]
CENT = D("0.01")


@pytest.fixture(scope="module")
def report_catalog(company) -> Callable[[list[str]], list[str]]:
    """--catalog arguments selecting some report streams (discovered once, as a user would)."""

    discovered = run_tap(company.tap_config(), args=["--discover"])
    assert discovered.returncode == 0, discovered.stderr[-3000:]
    catalog = json.loads(discovered.stdout)
    folder = Path(tempfile.mkdtemp())

    def select(streams: list[str]) -> list[str]:
        chosen = copy.deepcopy(catalog)
        for entry in chosen["streams"]:
            for meta in entry["metadata"]:
                if meta["breadcrumb"] == []:
                    meta["metadata"]["selected"] = entry["tap_stream_id"] in streams
        path = folder / f"catalog-{len(list(folder.iterdir()))}.json"
        path.write_text(json.dumps(chosen))
        return ["--catalog", str(path)]

    return select


def emulator_today(emu) -> dt.date:
    return dt.date.fromisoformat(emu.clock.iso()[:10])  # the company's (Pacific) day


@pytest.fixture(scope="module")
def books(company, report_catalog) -> dict:
    """Every report stream, monthly, from January of last year to this month, in one run."""

    today = emulator_today(company)
    config = {
        **company.tap_config(),
        "report_start_date": f"{today.year - 1}-01-01",
        "report_end_date": today.isoformat(),
    }
    run = run_tap(config, args=report_catalog(REPORT_STREAMS))
    assert run.returncode == 0, run.stderr[-3000:]
    return {"run": run, "today": today, "realm": company.realm_ids[0]}


def periods_of(rows: list[dict]) -> dict[tuple[str, str], list[dict]]:
    out: dict[tuple[str, str], list[dict]] = {}
    for row in rows:
        out.setdefault((row["period_start"], row["period_end"]), []).append(row)
    return out


def line(rows: list[dict], key: str) -> dict:
    (found,) = [r for r in rows if r["row_key"] == key]
    return found


def sales(emu, realm: str, start: str, end: str) -> D:
    """The period's sales from the documents: sales lines less discounts, less credit memos
    and refunds, in home currency."""
    total = D(0)
    for entity, sign in (
        ("Invoice", 1),
        ("SalesReceipt", 1),
        ("CreditMemo", -1),
        ("RefundReceipt", -1),
    ):
        for document in emu.ground_truth(realm, entity):
            if not start <= document["TxnDate"] <= end:
                continue
            rate = D(str(document.get("ExchangeRate") or 1))
            for item in document.get("Line") or []:
                amount = D(str(item.get("Amount") or 0))
                if item.get("DetailType") == "DiscountLineDetail":
                    amount = -amount
                elif item.get("DetailType") != "SalesItemLineDetail":
                    continue
                total += sign * (amount * rate).quantize(CENT, decimal.ROUND_HALF_EVEN)
    return total


def test_emulator_reports_arrive_typed_keyed_and_bookmarked(books) -> None:
    run, today = books["run"], books["today"]
    months = periods_from(
        period_of(dt.date(today.year - 1, 1, 1), "month"), period_of(today, "month"), "month"
    )
    for stream in REPORT_STREAMS:
        rows = run.records.get(stream, [])
        assert rows, f"{stream}: no rows"
        schema = run.schemas[stream]
        assert schema["key_properties"] == list(PRIMARY_KEYS)
        validator = jsonschema.Draft202012Validator(schema["schema"])
        for row in rows:
            validator.validate(row)
        keys = [tuple(r[k] for k in PRIMARY_KEYS) for r in rows]
        assert len(set(keys)) == len(keys), f"{stream}: duplicate keys"
        assert {(r["period_start"], r["period_end"]) for r in rows} <= {
            (p.start.isoformat(), p.end.isoformat()) for p in months
        }
        bookmark = run.last_state["bookmarks"][stream]["replication_key_value"]
        assert bookmark == months[-1].start.isoformat()
    # Money is a JSON number, read back exactly.
    amounts = [
        r["amount"] for r in run.records["profit_and_loss_report"] if r["amount"] is not None
    ]
    assert amounts
    assert all(isinstance(a, D) for a in amounts)


def test_profit_and_loss_income_is_the_periods_sales(books, company) -> None:
    checked = 0
    for (start, end), rows in periods_of(books["run"].records["profit_and_loss_report"]).items():
        income = line(rows, "Income > total")["amount"]
        assert income == sales(company, books["realm"], start, end), (start, end)
        income_lines = [
            r for r in rows if r["row_type"] == "data" and r["section_path"][:1] == ["Income"]
        ]
        assert sum(r["amount"] for r in income_lines) == income
        gross = line(rows, "GrossProfit > total")["amount"]
        assert gross == income - line(rows, "COGS > total")["amount"]
        operating = line(rows, "NetOperatingIncome > total")["amount"]
        assert operating == gross - line(rows, "Expenses > total")["amount"]
        other = line(rows, "NetOtherIncome > total")["amount"]
        assert line(rows, "NetIncome > total")["amount"] == operating + other
        checked += 1
    assert checked >= 12


def test_balance_sheet_balances_and_holds_the_years_net_income(books) -> None:
    records = books["run"].records
    net_income = {
        start: line(rows, "NetIncome > total")["amount"]
        for (start, _), rows in periods_of(records["profit_and_loss_report"]).items()
    }
    periods = periods_of(records["balance_sheet_report"])
    assert len(periods) >= 12
    for (start, end), rows in periods.items():
        assets = line(rows, "TotalAssets > total")["amount"]
        assert assets == line(rows, "TotalLiabilitiesAndEquity > total")["amount"], end
        asset_lines = [
            r for r in rows if r["row_type"] == "data" and r["section_path"][0] == "ASSETS"
        ]
        assert sum(r["amount"] for r in asset_lines) == assets
        # Its Net Income is the fiscal (calendar) year's to date: the months' P&L added up.
        year_to_date = sum(v for s, v in net_income.items() if s[:4] == start[:4] and s <= start)
        (equity_net,) = [r for r in rows if r["label"] == "Net Income" and r["row_type"] == "data"]
        assert equity_net["amount"] == year_to_date, end
        assert equity_net["account_id"] is None


def test_trial_balance_nets_to_zero(books) -> None:
    periods = periods_of(books["run"].records["trial_balance_report"])
    assert len(periods) >= 12
    for rows in periods.values():
        lines = [r for r in rows if r["row_type"] == "data"]
        debits = sum(r["debit"] or 0 for r in lines)
        credits = sum(r["credit"] or 0 for r in lines)
        assert debits == credits
        (total,) = [r for r in rows if r["row_type"] == "total"]
        assert (total["debit"], total["credit"]) == (debits, credits)
        assert all(r["account_id"] for r in lines)


def test_cash_flow_reconciles_with_the_bank_accounts(books) -> None:
    records = books["run"].records
    bank = {
        end: line(rows, "TotalAssets > CurrentAssets > BankAccounts > total")["amount"]
        for (_, end), rows in periods_of(records["balance_sheet_report"]).items()
    }
    for (_, end), rows in periods_of(records["cash_flow_report"]).items():
        beginning = line(rows, "BeginningCash > total")["amount"]
        increase = line(rows, "CashIncrease > total")["amount"]
        ending = line(rows, "EndingCash > total")["amount"]
        assert beginning + increase == ending
        assert ending == bank[end]
        activities = [
            r
            for r in rows
            if r["row_type"] == "total" and r["group"] and r["group"].endswith("Activities")
        ]
        assert sum(r["amount"] for r in activities) == increase


def test_ledgers_agree_with_profit_and_loss(books, company) -> None:
    records = books["run"].records
    income_accounts = {
        a["Name"]
        for a in company.ground_truth(books["realm"], "Account")
        if a["AccountType"] == "Income"
    }
    pnl = periods_of(records["profit_and_loss_report"])
    for period, rows in periods_of(records["general_ledger_report"]).items():
        sections = {tuple(r["section_path"]) for r in rows}
        for path in sections:
            own = [r for r in rows if tuple(r["section_path"]) == path]
            postings = [r for r in own if r["txn_id"]]
            openings = [r["balance"] for r in own if r["label"] == "Beginning Balance"]
            if postings:  # the running balance starts at the opening one
                assert openings[0] + sum(r["amount"] for r in postings) == postings[-1]["balance"]
            # A section's total holds its sub-accounts' too, which QBO nests in it.
            nested = [
                r for r in rows if r["txn_id"] and tuple(r["section_path"][: len(path)]) == path
            ]
            (total,) = [r for r in own if r["row_type"] == "total"]
            assert (total["amount"] or 0) == sum(r["amount"] for r in nested), (period, path)
            assert {r["account_name"] for r in own} == {path[-1]}
        income = sum(
            r["amount"] for r in rows if r["txn_id"] and r["account_name"] in income_accounts
        )
        expected = line(pnl[period], "Income > total")["amount"] if period in pnl else 0
        assert income == expected, period
    for period, rows in periods_of(records["profit_and_loss_detail_report"]).items():
        summary = {r["account_id"]: r["amount"] for r in pnl[period] if r["row_type"] == "data"}
        detail: dict[str, D] = {}
        for row in rows:
            if row["txn_id"]:
                detail[row["account_id"]] = detail.get(row["account_id"], 0) + row["amount"]
        # An account whose postings cancel out has lines in the detail, no line in the P&L.
        assert {k: v for k, v in detail.items() if v} == {k: v for k, v in summary.items() if v}
        assert (
            line(rows, "NetIncome > total")["amount"]
            == line(pnl[period], "NetIncome > total")["amount"]
        )
        group_total = line(rows, "Income > total")
        assert (group_total["account_id"], group_total["account_name"]) == (None, None)


def test_ageing_totals_are_the_open_documents(books, company) -> None:
    records = books["run"].records
    end = period_of(books["today"], "month").end.isoformat()
    for stream, entity in (
        ("aged_receivables_report", "Invoice"),
        ("aged_payables_report", "Bill"),
    ):
        rows = [r for r in records[stream] if r["period_end"] == end]
        open_total = sum(
            D(str(d.get("HomeBalance", d.get("Balance")) or 0))
            for d in company.ground_truth(books["realm"], entity)
            if d["TxnDate"] <= end
        )
        total = line(rows, "GrandTotal > total")
        assert total["total"] == open_total
        buckets = ("current", "days_1_30", "days_31_60", "days_61_90", "days_91_and_over")
        assert sum(total[b] for b in buckets) == total["total"]
        parties = [r for r in rows if r["row_type"] == "data"]
        assert sum(r["total"] for r in parties) == total["total"]
        party = "customer" if entity == "Invoice" else "vendor"
        assert all(r[f"{party}_id"] and r[f"{party}_name"] for r in parties)
        assert {r["accounting_method"] for r in rows} == {"Accrual"}


def test_periods_before_any_data_give_no_rows(company, report_catalog) -> None:

    first = min(d["TxnDate"] for d in company.ground_truth(company.realm_ids[0], "Invoice"))
    before = dt.date.fromisoformat(first) - dt.timedelta(days=400)
    config = {
        **company.tap_config(),
        "report_start_date": before.isoformat(),
        "report_end_date": (before + dt.timedelta(days=200)).isoformat(),
        "report_period": "quarter",
    }
    streams = [
        "profit_and_loss_report",
        "balance_sheet_report",
        "general_ledger_report",
        "trial_balance_report",
    ]
    run = run_tap(config, args=report_catalog(streams))
    assert run.returncode == 0, run.stderr[-3000:]
    assert not any(run.records.get(s) for s in streams)
    last = period_of(before + dt.timedelta(days=200), "quarter").start.isoformat()
    for stream in streams:  # empty periods still move the bookmark on
        assert run.last_state["bookmarks"][stream]["replication_key_value"] == last


def test_a_gateway_timeout_splits_the_month_and_the_rows_stay_the_same(
    make_company, report_catalog
) -> None:

    emu = make_company(seed=17, scale=400)
    today = emulator_today(emu)
    month = periods_back(period_of(today, "month"), 1, "month")
    config = {
        **emu.tap_config(),
        "report_start_date": month.start.isoformat(),
        "report_end_date": month.end.isoformat(),
        "max_retry_wait": 0.1,
    }
    args = report_catalog(["profit_and_loss_report", "general_ledger_report"])
    whole = run_tap(config, args=args)
    assert whole.returncode == 0, whole.stderr[-3000:]
    emu.reset_counts()
    emu.behaviour.faults = {1: "504", 3: "504"}  # the P&L's month, then the ledger's month
    split = run_tap(config, args=args)
    emu.behaviour.faults = None
    assert split.returncode == 0, split.stderr[-3000:]
    assert split.stderr.count("in one piece (HTTP 504") == 2
    assert emu.request_counts()["report"] == 2 * 3  # each month: the 504, then two halves

    def comparable(rows: list[dict]) -> dict:
        return {r["row_key"]: {k: v for k, v in r.items() if k != "row_number"} for r in rows}

    for stream in ("profit_and_loss_report", "general_ledger_report"):
        assert whole.records[stream]
        assert comparable(split.records[stream]) == comparable(whole.records[stream]), stream


def test_a_killed_run_resumes_and_a_rerun_reads_only_the_look_back(
    make_company, report_catalog
) -> None:

    emu = make_company(seed=23, scale=400)
    today = emulator_today(emu)
    config = {
        **emu.tap_config(),
        "report_start_date": periods_back(period_of(today, "month"), 7, "month").start.isoformat(),
        "report_end_date": today.isoformat(),
        "report_lookback_periods": 1,
        "report_accounting_method": "both",
    }
    streams = ["general_ledger_report", "customer_balance_report"]
    args = report_catalog(streams)
    reference = run_tap(config, args=args)
    assert reference.returncode == 0, reference.stderr[-3000:]
    expected = {
        s: {tuple(r[k] for k in PRIMARY_KEYS) for r in reference.records[s]} for s in streams
    }
    assert {r["accounting_method"] for r in reference.records["customer_balance_report"]} == {
        "Accrual",
        "Cash",
    }

    killed = run_tap_until_killed(
        config, None, len(reference.records["general_ledger_report"]) // 2, args
    )
    assert killed.last_state, "a STATE message came before the kill"
    resumed = run_tap(config, killed.last_state, args)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    for stream in streams:
        got = {
            tuple(m["record"][k] for k in PRIMARY_KEYS)
            for run in (killed, resumed)
            for m in run.messages
            if m["type"] == "RECORD" and m["stream"] == stream
        }
        assert got == expected[stream], stream

    emu.reset_counts()
    rerun = run_tap(config, reference.last_state, args)
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    # This month and the one before, with both methods for the balance, once for the ledger.
    assert emu.request_counts()["report"] == 2 * 2 + 2 * 2
    assert {r["period_start"][:7] for s in streams for r in rerun.records[s]} == {
        periods_back(period_of(today, "month"), 1, "month").start.isoformat()[:7],
        today.isoformat()[:7],
    }


def test_companies_read_their_reports_at_once_each_its_own(make_company, report_catalog) -> None:
    # Reports were asked for on the main thread as it wrote them, one company's after the
    # other's (30 companies' reports took 431 s where one's took 15); now each company's
    # periods are read ahead by page chains of their own from the start of the run.
    emu = make_company(seed=29, scale=120, realms=2)
    today = emulator_today(emu)
    settings = {
        "report_start_date": periods_back(period_of(today, "month"), 5, "month").start.isoformat(),
        "report_end_date": today.isoformat(),
    }
    streams = ["profit_and_loss_report", "balance_sheet_report"]
    args = report_catalog(streams)
    realms = emu.realm_ids

    def keyed(records: list[dict]) -> dict:
        return {tuple(r[k] for k in PRIMARY_KEYS): r for r in records}

    alone = {}
    for realm in realms:
        run = run_tap({**emu.tap_config(realm), **settings}, args=args)
        assert run.returncode == 0, run.stderr[-3000:]
        alone[realm] = {s: keyed(run.records[s]) for s in streams}
        assert all(alone[realm][s] for s in streams), realm

    asked: list[str] = []
    emu.add_hook(lambda realm, kind, number: asked.append(realm) if kind == "report" else None)
    shared = {k: v for k, v in emu.tap_config().items() if k not in {"realm_id", "refresh_token"}}
    config = {
        **shared,
        **settings,
        "companies": [{"realm_id": r, "refresh_token": emu.refresh_token(r)} for r in realms],
    }
    both = run_tap(config, args=args)
    assert both.returncode == 0, both.stderr[-3000:]
    for realm in realms:
        for stream in streams:
            got = keyed([r for r in both.records[stream] if r["realm_id"] == realm])
            assert got == alone[realm][stream], (realm, stream)
    assert {r["realm_id"] for s in streams for r in both.records[s]} == set(realms)
    # 2 reports x 6 months a company, at most 10 a second each: every company's reports
    # had begun before any company's ended.
    assert len(asked) == len(realms) * 2 * 6
    first = [asked.index(r) for r in realms]
    last = [len(asked) - 1 - asked[::-1].index(r) for r in realms]
    assert max(first) < min(last), asked

    # Killed outright halfway (its periods read ahead, their STATE held up to a second),
    # then resumed from its last STATE: nothing missed, for either company.
    def config_now() -> dict:
        tokens = [{"realm_id": r, "refresh_token": emu.refresh_token(r)} for r in realms]
        return {**shared, **settings, "companies": tokens}

    half = len(both.records["profit_and_loss_report"] + both.records["balance_sheet_report"]) // 2
    killed = run_tap_until_killed(config_now(), None, half, args)
    assert killed.last_state, "a STATE message came before the kill"
    resumed = run_tap(config_now(), killed.last_state, args)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    for realm in realms:
        for stream in streams:
            got = {
                key: record
                for run in (killed, resumed)
                for key, record in keyed(
                    [r for r in run.records.get(stream, []) if r["realm_id"] == realm]
                ).items()
            }
            assert got == alone[realm][stream], (realm, stream)


@pytest.mark.cpu_judged
def test_companies_waiting_on_qbo_are_fetched_more_at_once(make_company, report_catalog) -> None:
    # A report's periods are each a call, at most 10 a second a company: such companies
    # cost the process little CPU, so it fetches more of them at once than it starts with.
    emu = make_company(seed=37, scale=60, realms=2 * ahead() + 2)
    emu.behaviour.latency_ms = 200
    today = emulator_today(emu)
    streams = ["profit_and_loss_report", "balance_sheet_report"]
    shared = {k: v for k, v in emu.tap_config().items() if k not in {"realm_id", "refresh_token"}}
    config = {
        **shared,
        "report_start_date": periods_back(period_of(today, "month"), 3, "month").start.isoformat(),
        "report_end_date": today.isoformat(),
        "companies": [
            {"realm_id": r, "refresh_token": emu.refresh_token(r)} for r in emu.realm_ids
        ],
    }
    run = run_tap(config, args=report_catalog(streams))
    assert run.returncode == 0, run.stderr[-3000:]
    grown = [
        (int(now), int(was))
        for now, was in re.findall(r"Companies fetched at once: (\d+) \(was (\d+);", run.stderr)
    ]
    assert grown, run.stderr[-3000:]
    assert grown[0] == (2 * ahead(), ahead())
    for stream in streams:
        assert {r["realm_id"] for r in run.records[stream]} == set(emu.realm_ids), stream


def test_a_dry_run_asks_for_no_period_it_does_not_write(make_company, report_catalog) -> None:
    # Review of be99d90: read ahead outside a whole run, `--test` (one record a stream, and
    # every stream selected) asked for periods it never wrote, each a metered call.
    emu = make_company(seed=41, scale=120)
    today = emulator_today(emu)
    first_month = periods_back(period_of(today, "month"), 5, "month")
    config = {
        **emu.tap_config(),
        "report_start_date": first_month.start.isoformat(),
        "report_end_date": today.isoformat(),
    }
    streams = [r.stream for r in REPORTS]
    whole = run_tap(config, args=report_catalog(streams))
    assert whole.returncode == 0, whole.stderr[-3000:]
    months = [
        p.start.isoformat() for p in periods_from(first_month, period_of(today, "month"), "month")
    ]

    def asks_to_first_record(stream: str) -> int:
        """Periods are asked for in order (one accounting method here): up to the first
        that has a record, or all of them."""
        starts = [r["period_start"] for r in whole.records.get(stream, [])]
        return months.index(min(starts)) + 1 if starts else len(months)

    emu.reset_counts()
    dry = run_tap(config, args=["--test=record"])
    assert dry.returncode == 0, dry.stderr[-3000:]
    for stream in streams:
        assert len(dry.records.get(stream, [])) == (1 if stream in whole.records else 0)
    assert emu.request_counts()["report"] == sum(map(asks_to_first_record, streams))
