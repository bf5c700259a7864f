"""Reports derived from the transactions: shapes and accounting identities."""

from __future__ import annotations

from decimal import Decimal

import pytest

from qbo_emulator import reports as rep_mod
from qbo_emulator import timefmt

from .conftest import Api


def cents(text: str) -> int:
    return int(Decimal(text or "0") * 100)


def group_summary(rows: list[dict], group: str, col: int = 1) -> int:
    for row in rows:
        if row.get("group") == group:
            return cents(row["Summary"]["ColData"][col]["value"])
        inner = row.get("Rows", {}).get("Row", [])
        try:
            return group_summary(inner, group, col)
        except KeyError:
            continue
    raise KeyError(group)


def get(api: Api, name: str, **params) -> dict:
    r = api.get(f"/reports/{name}", params)
    assert r.status_code == 200, r.text
    assert r.headers["Content-Type"] == "application/json;charset=utf-8"
    return r.json()


def years(api: Api) -> list[int]:
    y = int(timefmt.pacific_date(int(api.emu.clock.epoch()))[:4])
    return [y - 2, y - 1, y]


def test_all_ten_reports_answer_in_the_recorded_shape(api_ro: Api):
    for name in rep_mod.SUPPORTED:
        doc = get(api_ro, name)
        assert set(doc) == {"Header", "Columns", "Rows"}, name
        h = doc["Header"]
        assert h["ReportName"] == name
        assert h["Currency"] == "USD"
        assert {"Time", "StartPeriod", "EndPeriod", "Option"} <= set(h)
        assert doc["Columns"]["Column"]
        assert all("ColTitle" in c and "ColType" in c for c in doc["Columns"]["Column"])
        assert doc["Rows"]["Row"], name
    r = api_ro.get("/reports/NoSuchReport")
    assert r.status_code == 400


def test_profit_and_loss_income_equals_the_periods_sales(api_ro: Api):
    store = api_ro.emu.store(api_ro.realm)
    for y in years(api_ro):
        for start, end in ((f"{y}-01-01", f"{y}-12-31"), (f"{y}-03-01", f"{y}-03-31")):
            doc = get(api_ro, "ProfitAndLoss", start_date=start, end_date=end)
            income = group_summary(doc["Rows"]["Row"], "Income")
            assert income == rep_mod.period_sales(store, start, end), (start, end)
            assert income > 0
            net = group_summary(doc["Rows"]["Row"], "NetIncome")
            gross = group_summary(doc["Rows"]["Row"], "GrossProfit")
            cogs = group_summary(doc["Rows"]["Row"], "COGS")
            assert gross == income - cogs
            assert net != 0


def test_balance_sheet_balances_and_agrees_with_profit_and_loss(api_ro: Api):
    for y in years(api_ro):
        end = f"{y}-06-30"
        bs = get(api_ro, "BalanceSheet", start_date=f"{y}-01-01", end_date=end)
        assets = group_summary(bs["Rows"]["Row"], "TotalAssets")
        le = group_summary(bs["Rows"]["Row"], "TotalLiabilitiesAndEquity")
        assert assets == le != 0
        pl = get(api_ro, "ProfitAndLoss", start_date=f"{y}-01-01", end_date=end)
        equity_rows = next(
            r for r in bs["Rows"]["Row"][1]["Rows"]["Row"] if r.get("group") == "Equity"
        )["Rows"]["Row"]
        net_income = next(
            cents(r["ColData"][1]["value"])
            for r in equity_rows
            if r["ColData"][0]["value"] == "Net Income"
        )
        assert net_income == group_summary(pl["Rows"]["Row"], "NetIncome")


def test_trial_balance_nets_to_zero(api_ro: Api):
    for y in years(api_ro):
        tb = get(api_ro, "TrialBalance", start_date=f"{y}-01-01", end_date=f"{y}-09-30")
        total = tb["Rows"]["Row"][-1]["Summary"]["ColData"]
        assert total[0]["value"] == "TOTAL"
        assert cents(total[1]["value"]) == cents(total[2]["value"]) > 0
        debits = sum(cents(r["ColData"][1]["value"]) for r in tb["Rows"]["Row"][:-1])
        credits = sum(cents(r["ColData"][2]["value"]) for r in tb["Rows"]["Row"][:-1])
        assert debits == credits == cents(total[1]["value"])


def test_cash_flow_explains_the_change_in_cash(api_ro: Api):
    for y in years(api_ro):
        cf = get(api_ro, "CashFlow", start_date=f"{y}-01-01", end_date=f"{y}-12-31")
        rows = cf["Rows"]["Row"]
        op = group_summary(rows, "OperatingActivities")
        inv = group_summary(rows, "InvestingActivities")
        fin = group_summary(rows, "FinancingActivities")
        inc = group_summary(rows, "CashIncrease")
        begin = group_summary(rows, "BeginningCash")
        end = group_summary(rows, "EndingCash")
        assert op + inv + fin == inc == end - begin


def test_no_report_data_for_an_empty_period(api_ro: Api):
    doc = get(api_ro, "ProfitAndLoss", start_date="2001-01-01", end_date="2001-12-31")
    assert {"Name": "NoReportData", "Value": "true"} in doc["Header"]["Option"]
    full = get(api_ro, "ProfitAndLoss")
    assert {"Name": "NoReportData", "Value": "false"} in full["Header"]["Option"]
    assert full["Header"]["DateMacro"] == "this fiscal year-to-date"


def test_monthly_columns_add_up_to_the_total(api_ro: Api):
    y = years(api_ro)[1]
    doc = get(
        api_ro,
        "ProfitAndLoss",
        start_date=f"{y}-01-01",
        end_date=f"{y}-12-31",
        summarize_column_by="Month",
    )
    cols = doc["Columns"]["Column"]
    assert len(cols) == 14  # account, 12 months, total
    assert [m["Name"] for m in cols[1]["MetaData"]] == ["StartDate", "EndDate", "ColKey"]
    assert cols[1]["MetaData"][0]["Value"] == f"{y}-01-01"
    net = next(r for r in doc["Rows"]["Row"] if r.get("group") == "NetIncome")["Summary"]["ColData"]
    assert sum(cents(c["value"]) for c in net[1:13]) == cents(net[13]["value"])


def test_reports_follow_mutations(fresh):
    emu = fresh(scale=800)
    api = Api(emu)
    store = emu.store()
    inv = max(
        emu.ground_truth(api.realm, "Invoice"),
        key=lambda i: (i.get("CurrencyRef", {}).get("value") == "USD", i["TotalAmt"]),
    )
    y = inv["TxnDate"][:4]
    before = group_summary(
        get(api, "ProfitAndLoss", start_date=f"{y}-01-01", end_date=f"{y}-12-31")["Rows"]["Row"],
        "Income",
    )
    sales = rep_mod.period_sales(store, inv["TxnDate"], inv["TxnDate"])
    store.void("Invoice", inv["Id"])
    after = group_summary(
        get(api, "ProfitAndLoss", start_date=f"{y}-01-01", end_date=f"{y}-12-31")["Rows"]["Row"],
        "Income",
    )
    assert before - after == sales - rep_mod.period_sales(store, inv["TxnDate"], inv["TxnDate"]) > 0
    bs = get(api, "BalanceSheet", start_date=f"{y}-01-01", end_date=f"{y}-12-31")
    assert group_summary(bs["Rows"]["Row"], "TotalAssets") == group_summary(
        bs["Rows"]["Row"], "TotalLiabilitiesAndEquity"
    )


@pytest.mark.parametrize(
    ("name", "entity"), [("AgedReceivables", "Invoice"), ("AgedPayables", "Bill")]
)
def test_aging_totals_match_open_balances(api_ro: Api, name, entity):
    doc = get(api_ro, name)
    total = cents(doc["Rows"]["Row"][-1]["Summary"]["ColData"][-1]["value"])
    truth = sum(
        cents(str(o.get("HomeBalance", o["Balance"])))
        for o in api_ro.emu.ground_truth(api_ro.realm, entity)
    )
    assert total == truth > 0
    assert [c["ColTitle"] for c in doc["Columns"]["Column"]][1:] == [
        "Current",
        "1 - 30",
        "31 - 60",
        "61 - 90",
        "91 and over",
        "Total",
    ]


def test_customer_and_vendor_balance(api_ro: Api):
    for name in ("CustomerBalance", "VendorBalance"):
        doc = get(api_ro, name)
        rows = doc["Rows"]["Row"]
        assert cents(rows[-1]["Summary"]["ColData"][1]["value"]) == sum(
            cents(r["ColData"][1]["value"]) for r in rows[:-1]
        )


def test_general_ledger_and_detail(api_ro: Api):
    y = years(api_ro)[1]
    gl = get(api_ro, "GeneralLedger", start_date=f"{y}-05-01", end_date=f"{y}-05-31")
    assert [c["ColType"] for c in gl["Columns"]["Column"]] == [
        "tx_date",
        "txn_type",
        "doc_num",
        "name",
        "memo",
        "split_acc",
        "subt_nat_amount",
        "rbal_nat_amount",
    ]
    assert any(
        r["ColData"][0]["value"] == "Beginning Balance"
        for s in gl["Rows"]["Row"]
        for r in s.get("Rows", {}).get("Row", [])
        if "ColData" in r
    )
    detail = get(api_ro, "ProfitAndLossDetail", start_date=f"{y}-05-01", end_date=f"{y}-05-31")
    pl = get(api_ro, "ProfitAndLoss", start_date=f"{y}-05-01", end_date=f"{y}-05-31")
    assert group_summary(detail["Rows"]["Row"], "NetIncome", col=6) == group_summary(
        pl["Rows"]["Row"], "NetIncome"
    )
