"""``/reports/{Name}`` derived from the transactions in the store.

A double-entry ledger is built from every posting transaction (invoices, sales receipts,
credit memos, refunds, payments, deposits, bills, vendor credits, bill payments, purchases,
transfers, journal entries, credit-card payments, tax payments, inventory adjustments), in
home-currency cents, each transaction balanced by construction. Reports read the ledger,
so they agree with each other and with the data:

- ProfitAndLoss: Total Income equals the period's sales (sales lines less discounts, less
  credit memos and refunds); Net Income = Income - COGS - Expenses + Other Income - Other
  Expenses;
- BalanceSheet: Total Assets equals Total Liabilities and Equity (Retained Earnings carries
  prior years' net income, Net Income the current fiscal year's);
- TrialBalance: debits equal credits;
- CashFlow: Operating + Investing + Financing equals the change in bank balances;
- GeneralLedger, ProfitAndLossDetail: the postings, with beginning balances and totals;
- AgedReceivables / AgedPayables / CustomerBalance / VendorBalance: open invoices/bills.

Shapes follow the recorded reports: ``Header`` (Time, ReportName, DateMacro, ReportBasis,
StartPeriod, EndPeriod, SummarizeColumnsBy, Currency, Option[NoReportData...]), ``Columns``,
``Rows.Row[]`` with Section/Data rows, ``ColData[{value, id?}]`` and string amounts. A period
without data answers ``NoReportData: true``. Cash basis is accepted and labelled but computed
as accrual.
"""

from __future__ import annotations

import calendar
from collections import defaultdict
from dataclasses import dataclass
from datetime import date, timedelta

from . import timefmt
from .responses import ApiError
from .store import Store, inner

SUPPORTED = (
    "ProfitAndLoss",
    "ProfitAndLossDetail",
    "BalanceSheet",
    "TrialBalance",
    "GeneralLedger",
    "CashFlow",
    "AgedReceivables",
    "AgedPayables",
    "CustomerBalance",
    "VendorBalance",
)

TXN_LABEL = {
    "Invoice": "Invoice",
    "SalesReceipt": "Sales Receipt",
    "CreditMemo": "Credit Memo",
    "RefundReceipt": "Refund",
    "Payment": "Payment",
    "Deposit": "Deposit",
    "Bill": "Bill",
    "VendorCredit": "Vendor Credit",
    "BillPayment": "Bill Payment (Check)",
    "Purchase": "Expense",
    "Transfer": "Transfer",
    "JournalEntry": "Journal Entry",
    "CreditCardPayment": "Credit Card Payment",
    "TaxPayment": "Sales Tax Payment",
    "InventoryAdjustment": "Inventory Qty Adjust",
}

INCOME_TYPES = {"Income"}
OTHER_INCOME_TYPES = {"Other Income"}
COGS_TYPES = {"Cost of Goods Sold"}
EXPENSE_TYPES = {"Expense"}
OTHER_EXPENSE_TYPES = {"Other Expense"}
PL_TYPES = INCOME_TYPES | OTHER_INCOME_TYPES | COGS_TYPES | EXPENSE_TYPES | OTHER_EXPENSE_TYPES


def cents_of(v) -> int:
    return round(float(v or 0) * 100)


def fmt_money(cents: int) -> str:
    sign = "-" if cents < 0 else ""
    c = abs(cents)
    return f"{sign}{c // 100}.{c % 100:02d}"


@dataclass
class Posting:
    day: str
    account: str
    cents: int  # debit positive
    entity: str
    txn_id: str
    doc: str
    name: str
    memo: str


# ----- the ledger ------------------------------------------------------------------------------


class Ledger:
    def __init__(self, store: Store):
        self.store = store
        t = store.tables
        self.accounts = t["Account"].objs
        self.items = t["Item"].objs
        self.acct_by_name = {a.get("Name"): k for k, a in self.accounts.items()}
        self.role = store.meta.get("accounts", {})
        self.tax_account: dict[str, str] = {}
        agencies = t["TaxAgency"].objs
        for k, rate in t["TaxRate"].objs.items():
            ag = agencies.get((rate.get("AgencyRef") or {}).get("value", ""))
            if ag:
                acct = self.acct_by_name.get(f"{ag.get('DisplayName')} Payable")
                if acct:
                    self.tax_account[k] = acct
        self.postings: list[Posting] = []
        self.splits: dict[tuple[str, str], list[Posting]] = {}
        for entity in TXN_LABEL:
            table = t[entity]
            for key, obj in table.objs.items():
                rows = self._post(entity, key, obj)
                if rows:
                    self.postings.extend(rows)
                    self.splits[(entity, key)] = rows
        self.postings.sort(
            key=lambda p: (p.day, p.entity, int(p.txn_id) if p.txn_id.isdigit() else 0)
        )

    # -- helpers --
    def _acct(self, ref: dict | None, fallback_role: str) -> str:
        if ref and ref.get("value") in self.accounts:
            return ref["value"]
        return self.role.get(fallback_role, "")

    def _item_income(self, detail: dict) -> str:
        if detail.get("ItemAccountRef"):
            return self._acct(detail["ItemAccountRef"], "inc_services")
        item = self.items.get((detail.get("ItemRef") or {}).get("value", ""), {})
        return self._acct(item.get("IncomeAccountRef"), "inc_services")

    def _item_expense(self, detail: dict) -> str:
        item = self.items.get((detail.get("ItemRef") or {}).get("value", ""), {})
        if item.get("Type") == "Inventory":
            return self._acct(item.get("AssetAccountRef"), "inventory")
        return self._acct(item.get("ExpenseAccountRef"), "cogs")

    def _post(self, entity: str, key: str, obj: dict) -> list[Posting]:  # noqa: C901, PLR0912, PLR0915 - the ledger postings of every transaction type, in one table-like method
        rate = float(obj.get("ExchangeRate") or 1)
        day = obj.get("TxnDate") or obj.get("PaymentDate") or ""
        name = ""
        for ref_key in ("CustomerRef", "VendorRef", "EntityRef"):
            if obj.get(ref_key):
                name = obj[ref_key].get("name", "")
                break
        doc = obj.get("DocNumber", "")
        memo = obj.get("PrivateNote", "")
        rows: list[tuple[str, int, str]] = []  # (account, debit cents in txn currency, memo)

        def add(account: str, cents: int, line_memo: str = "") -> None:
            if account and cents:
                rows.append((account, cents, line_memo))

        lines = obj.get("Line") or []
        if entity in ("Invoice", "SalesReceipt", "CreditMemo", "RefundReceipt"):
            sign = 1 if entity in ("Invoice", "SalesReceipt") else -1
            for ln in lines:
                dt = ln.get("DetailType")
                amt = cents_of(ln.get("Amount"))
                if dt == "SalesItemLineDetail":
                    add(
                        self._item_income(ln["SalesItemLineDetail"]),
                        -sign * amt,
                        ln.get("Description", ""),
                    )
                elif dt == "DiscountLineDetail":
                    ref = ln["DiscountLineDetail"].get("DiscountAccountRef")
                    add(self._acct(ref, "discounts"), sign * amt)
            for tl in (obj.get("TxnTaxDetail") or {}).get("TaxLine") or []:
                rate_id = ((tl.get("TaxLineDetail") or {}).get("TaxRateRef") or {}).get("value", "")
                add(
                    self.tax_account.get(rate_id, self.role.get("tax_ca", "")),
                    -sign * cents_of(tl.get("Amount")),
                )
            if entity in ("Invoice", "CreditMemo"):
                balancing = self._acct(obj.get("ARAccountRef"), "ar")
            else:
                balancing = self._acct(obj.get("DepositToAccountRef"), "uf")
        elif entity == "Payment":
            total = cents_of(obj.get("TotalAmt"))
            add(self._acct(obj.get("DepositToAccountRef"), "uf"), total)
            balancing = self._acct(obj.get("ARAccountRef"), "ar")
        elif entity == "Deposit":
            for ln in lines:
                amt = cents_of(ln.get("Amount"))
                if ln.get("LinkedTxn"):
                    add(self.role.get("uf", ""), -amt)
                elif ln.get("DepositLineDetail"):
                    add(self._acct(ln["DepositLineDetail"].get("AccountRef"), "other_income"), -amt)
            balancing = self._acct(obj.get("DepositToAccountRef"), "checking")
        elif entity in ("Bill", "VendorCredit", "Purchase"):
            sign = (
                -1
                if entity == "VendorCredit" or (entity == "Purchase" and obj.get("Credit"))
                else 1
            )
            for ln in lines:
                amt = cents_of(ln.get("Amount"))
                if ln.get("DetailType") == "AccountBasedExpenseLineDetail":
                    det = ln["AccountBasedExpenseLineDetail"]
                    add(
                        self._acct(det.get("AccountRef"), "exp_unc"),
                        sign * amt,
                        ln.get("Description", ""),
                    )
                elif ln.get("DetailType") == "ItemBasedExpenseLineDetail":
                    add(
                        self._item_expense(ln["ItemBasedExpenseLineDetail"]),
                        sign * amt,
                        ln.get("Description", ""),
                    )
            if entity == "Purchase":
                balancing = self._acct(obj.get("AccountRef"), "checking")
            else:
                balancing = self._acct(obj.get("APAccountRef"), "ap")
        elif entity == "BillPayment":
            total = cents_of(obj.get("TotalAmt"))
            add(self._acct(obj.get("APAccountRef"), "ap"), total)
            if obj.get("PayType") == "CreditCard":
                balancing = self._acct(
                    (obj.get("CreditCardPayment") or {}).get("CCAccountRef"), "cc"
                )
            else:
                balancing = self._acct(
                    (obj.get("CheckPayment") or {}).get("BankAccountRef"), "checking"
                )
        elif entity == "Transfer":
            add(self._acct(obj.get("ToAccountRef"), "savings"), cents_of(obj.get("Amount")))
            balancing = self._acct(obj.get("FromAccountRef"), "checking")
        elif entity == "CreditCardPayment":
            add(self._acct(obj.get("CreditCardAccountRef"), "cc"), cents_of(obj.get("Amount")))
            balancing = self._acct(obj.get("BankAccountRef"), "checking")
        elif entity == "TaxPayment":
            amt = cents_of(obj.get("PaymentAmount"))
            add(self.role.get("tax_ca", ""), -amt if obj.get("Refund") else amt)
            balancing = self._acct(obj.get("PaymentAccountRef"), "checking")
        elif entity == "InventoryAdjustment":
            for ln in lines:
                det = ln.get("ItemAdjustmentLineDetail") or {}
                item = self.items.get((det.get("ItemRef") or {}).get("value", ""), {})
                cost = max(cents_of(item.get("PurchaseCost")), 100)
                add(
                    self._acct(item.get("AssetAccountRef"), "inventory"),
                    round(float(det.get("QtyDiff") or 0) * cost),
                )
            balancing = self._acct(obj.get("AdjustAccountRef"), "shrinkage")
        elif entity == "JournalEntry":
            for ln in lines:
                det = ln.get("JournalEntryLineDetail") or {}
                amt = cents_of(ln.get("Amount"))
                sign = 1 if det.get("PostingType") == "Debit" else -1
                add(
                    self._acct(det.get("AccountRef"), "exp_unc"),
                    sign * amt,
                    ln.get("Description", ""),
                )
            balancing = ""
        else:
            return []
        out: list[Posting] = []
        total_home = 0
        for account, cents, line_memo in rows:
            home = round(cents * rate) if rate != 1 else cents
            total_home += home
            out.append(Posting(day, account, home, entity, key, doc, name, line_memo or memo))
        if balancing:
            if total_home:
                out.append(Posting(day, balancing, -total_home, entity, key, doc, name, memo))
        elif total_home:  # an unbalanced journal (edited by a test): park the difference
            out.append(
                Posting(
                    day, self.role.get("exp_unc", ""), -total_home, entity, key, doc, name, memo
                )
            )
        return out

    # -- aggregates --
    def balances(self, start: str | None, end: str) -> dict[str, int]:
        """Sum of postings per account with start <= day <= end (start None: from the start)."""
        out: dict[str, int] = defaultdict(int)
        for p in self.postings:
            if p.day > end:
                break
            if start is None or p.day >= start:
                out[p.account] += p.cents
        return out

    def atype(self, account: str) -> str:
        return (self.accounts.get(account) or {}).get("AccountType", "")

    def classification(self, account: str) -> str:
        return (self.accounts.get(account) or {}).get("Classification", "")

    def is_pl(self, account: str) -> bool:
        return self.atype(account) in PL_TYPES


_ledger_cache: dict[int, tuple[tuple, Ledger]] = {}


def ledger_for(store: Store) -> Ledger:
    stamp = tuple(t.version for t in store.tables.values())
    cached = _ledger_cache.get(id(store))
    if cached and cached[0] == stamp:
        return cached[1]
    with store.lock:
        led = Ledger(store)
    _ledger_cache[id(store)] = (stamp, led)
    return led


# ----- periods ---------------------------------------------------------------------------------


def _month_start(d: date) -> date:
    return d.replace(day=1)


def resolve_period(params: dict, today: date, default_macro: str) -> tuple[str, str, str | None]:  # noqa: PLR0911 - one return per way QBO names a report period
    start, end = params.get("start_date"), params.get("end_date")
    macro = params.get("date_macro")
    if start or end:
        s = start or f"{today.year}-01-01"
        e = end or today.isoformat()
        return s, e, None
    macro = (macro or default_macro).strip()
    m = macro.lower()
    if m == "today":
        return today.isoformat(), today.isoformat(), macro
    if m in ("this month", "this month-to-date"):
        s = _month_start(today)
        e = (
            today
            if m.endswith("to-date")
            else s.replace(day=calendar.monthrange(s.year, s.month)[1])
        )
        return s.isoformat(), e.isoformat(), macro
    if m == "last month":
        e = _month_start(today) - timedelta(days=1)
        return e.replace(day=1).isoformat(), e.isoformat(), macro
    if m in ("this year", "this fiscal year", "this calendar year"):
        return f"{today.year}-01-01", f"{today.year}-12-31", macro
    if m in ("this year-to-date", "this fiscal year-to-date", "this calendar year-to-date"):
        return f"{today.year}-01-01", today.isoformat(), macro
    if m in ("last year", "last fiscal year", "last calendar year"):
        return f"{today.year - 1}-01-01", f"{today.year - 1}-12-31", macro
    if m in ("all", "all dates"):
        return "2000-01-01", today.isoformat(), macro
    raise ApiError(400, "2080", "Invalid date macro", f"Invalid date_macro: {macro}")


# ----- rendering helpers -----------------------------------------------------------------------


def col(value: str, ident: str | None = None) -> dict:
    d = {"value": value}
    if ident is not None:
        d["id"] = ident
    return d


def data_row(cells: list[dict]) -> dict:
    return {"ColData": cells, "type": "Data"}


def section(
    header: list[dict] | None, rows: list[dict] | None, summary: list[dict] | None, group=None
) -> dict:
    s: dict = {}
    if header is not None:
        s["Header"] = {"ColData": header}
    if rows:
        s["Rows"] = {"Row": rows}
    if summary is not None:
        s["Summary"] = {"ColData": summary}
    s["type"] = "Section"
    if group:
        s["group"] = group
    return s


def money_columns(title: str = "Total") -> dict:
    return {
        "Column": [
            {
                "ColTitle": "",
                "ColType": "Account",
                "MetaData": [{"Name": "ColKey", "Value": "account"}],
            },
            {
                "ColTitle": title,
                "ColType": "Money",
                "MetaData": [{"Name": "ColKey", "Value": "total"}],
            },
        ]
    }


class Report:
    def __init__(self, store: Store, name: str, params: dict, now: float):
        self.store = store
        self.name = name
        self.params = params
        self.now = now
        self.today = date.fromisoformat(timefmt.pacific_date(int(now)))
        self.led = ledger_for(store)

    def header(
        self,
        start: str,
        end: str,
        macro: str | None,
        no_data: bool,
        *,
        summarize=None,
        gaap=True,
        basis=True,
    ) -> dict:
        h: dict = {"Time": timefmt.fmt(int(self.now)), "ReportName": self.name}
        if macro:
            h["DateMacro"] = macro.lower()
        if basis:
            method = (self.params.get("accounting_method") or "Accrual").capitalize()
            h["ReportBasis"] = "Cash" if method == "Cash" else "Accrual"
        h["StartPeriod"] = start
        h["EndPeriod"] = end
        if summarize:
            h["SummarizeColumnsBy"] = summarize
        h["Currency"] = "USD"
        if self.params.get("customer"):
            h["Customer"] = self.params["customer"]
        opts = []
        if gaap:
            opts.append({"Name": "AccountingStandard", "Value": "GAAP"})
        opts.append({"Name": "NoReportData", "Value": "true" if no_data else "false"})
        h["Option"] = opts
        return h

    # -- account trees --
    def tree_rows(
        self, accounts: list[str], amount_of, ncols: int = 1
    ) -> tuple[list[dict], list[int]]:
        """Data rows (and sub-account sections) for accounts; returns rows and column totals."""
        accts = self.led.accounts
        children: dict[str, list[str]] = defaultdict(list)
        chosen = set(accounts)
        roots = []
        for a in sorted(accounts, key=lambda k: accts[k].get("FullyQualifiedName", "")):
            parent = (accts[a].get("ParentRef") or {}).get("value")
            if parent in chosen:
                children[parent].append(a)
            else:
                roots.append(a)

        def render(a: str) -> tuple[dict, list[int]]:
            own = amount_of(a)
            name = accts[a].get("Name", "")
            if not children.get(a):
                return data_row([col(name, a), *[col(fmt_money(v)) for v in own]]), own
            rows = [data_row([col(name, a), *[col(fmt_money(v)) for v in own]])] if any(own) else []
            total = list(own)
            for c in children[a]:
                r, t = render(c)
                rows.append(r)
                total = [x + y for x, y in zip(total, t, strict=True)]
            return (
                section(
                    [col(name, a), *[col("") for _ in own]],
                    rows,
                    [col(f"Total {name}"), *[col(fmt_money(v)) for v in total]],
                ),
                total,
            )

        out, totals = [], [0] * ncols
        for a in roots:
            r, t = render(a)
            out.append(r)
            totals = [x + y for x, y in zip(totals, t, strict=True)]
        return out, totals


# ----- individual reports ----------------------------------------------------------------------


def _columns_for_period(start: str, end: str, by: str) -> list[tuple[str, str, str]]:
    """(title, start, end) column periods for summarize_column_by."""
    s, e = date.fromisoformat(start), date.fromisoformat(end)
    if by == "Month":
        out = []
        cur = s
        while cur <= e:
            last = cur.replace(day=calendar.monthrange(cur.year, cur.month)[1])
            stop = min(last, e)
            out.append((cur.strftime("%b %Y"), cur.isoformat(), stop.isoformat()))
            cur = last + timedelta(days=1)
        return out
    if by == "Year":
        out = []
        cur = s
        while cur <= e:
            stop = min(date(cur.year, 12, 31), e)
            out.append((str(cur.year), cur.isoformat(), stop.isoformat()))
            cur = date(cur.year + 1, 1, 1)
        return out
    if by == "Quarter":
        out = []
        cur = s
        while cur <= e:
            q = (cur.month - 1) // 3
            qend_month = q * 3 + 3
            last = date(cur.year, qend_month, calendar.monthrange(cur.year, qend_month)[1])
            stop = min(last, e)
            out.append((f"Q{q + 1} {cur.year}", cur.isoformat(), stop.isoformat()))
            cur = last + timedelta(days=1)
        return out
    return [("Total", start, end)]


def profit_and_loss(rep: Report) -> dict:
    start, end, macro = resolve_period(rep.params, rep.today, "This Fiscal Year-to-date")
    by = rep.params.get("summarize_column_by") or "Total"
    periods = (
        _columns_for_period(start, end, by)
        if by in ("Month", "Quarter", "Year")
        else [("Total", start, end)]
    )
    led = rep.led
    per: list[dict[str, int]] = [led.balances(ps, pe) for _t, ps, pe in periods]
    multi = len(periods) > 1
    ncols = len(periods) + (1 if multi else 0)

    def amounts(sign: int):
        def f(a: str) -> list[int]:
            vals = [sign * b.get(a, 0) for b in per]
            return [*vals, sum(vals)] if multi else vals

        return f

    def accounts_of(types: set[str]) -> list[str]:
        keys = set()
        for b in per:
            # "Active rows": every account with activity, even when it nets to zero.
            keys.update(a for a in b if led.atype(a) in types)
        return list(keys)

    def block(title, group, types, sign):
        rows, totals = rep.tree_rows(accounts_of(types), amounts(sign), ncols)
        hdr = [col(title), *[col("") for _ in range(ncols)]]
        summ = [col(f"Total {title}"), *[col(fmt_money(v)) for v in totals]]
        return section(hdr, rows, summ, group), totals

    def summary_only(title, group, values):
        return section(None, None, [col(title), *[col(fmt_money(v)) for v in values]], group)

    inc, t_inc = block("Income", "Income", INCOME_TYPES, -1)
    cogs, t_cogs = block("Cost of Goods Sold", "COGS", COGS_TYPES, 1)
    gross = [a - b for a, b in zip(t_inc, t_cogs, strict=True)]
    exp, t_exp = block("Expenses", "Expenses", EXPENSE_TYPES, 1)
    noi = [a - b for a, b in zip(gross, t_exp, strict=True)]
    oinc, t_oinc = block("Other Income", "OtherIncome", OTHER_INCOME_TYPES, -1)
    oexp, t_oexp = block("Other Expenses", "OtherExpenses", OTHER_EXPENSE_TYPES, 1)
    noth = [a - b for a, b in zip(t_oinc, t_oexp, strict=True)]
    net = [a + b for a, b in zip(noi, noth, strict=True)]
    no_data = not any(per_b for per_b in per)
    rows = [
        inc,
        cogs,
        summary_only("Gross Profit", "GrossProfit", gross),
        exp,
        summary_only("Net Operating Income", "NetOperatingIncome", noi),
        oinc,
        oexp,
        summary_only("Net Other Income", "NetOtherIncome", noth),
        summary_only("Net Income", "NetIncome", net),
    ]
    if no_data:
        rows = _blank_pl(ncols)
    columns = [
        {"ColTitle": "", "ColType": "Account", "MetaData": [{"Name": "ColKey", "Value": "account"}]}
    ]
    if multi:
        for title, ps, pe in periods:
            columns.append(
                {
                    "ColTitle": title,
                    "ColType": "Money",
                    "MetaData": [
                        {"Name": "StartDate", "Value": ps},
                        {"Name": "EndDate", "Value": pe},
                        {"Name": "ColKey", "Value": title},
                    ],
                }
            )
    columns.append(
        {
            "ColTitle": "Total" if not no_data else "TOTAL",
            "ColType": "Money",
            "MetaData": [{"Name": "ColKey", "Value": "total"}],
        }
    )
    return {
        "Header": rep.header(start, end, macro, no_data, summarize=by),
        "Columns": {"Column": columns},
        "Rows": {"Row": rows},
    }


def _blank_pl(ncols: int) -> list[dict]:
    blank = [col("") for _ in range(ncols)]
    return [
        section([col("Income"), *blank], None, [col("Total Income"), *blank], "Income"),
        section(None, None, [col("Gross Profit"), *blank], "GrossProfit"),
        section([col("Expenses"), *blank], None, [col("Total Expenses"), *blank], "Expenses"),
        section(None, None, [col("Net Operating Income"), *blank], "NetOperatingIncome"),
        section(None, None, [col("Net Income"), *blank], "NetIncome"),
    ]


def _fiscal_start(end: str) -> str:
    return f"{end[:4]}-01-01"


def balance_sheet(rep: Report) -> dict:
    start, end, macro = resolve_period(rep.params, rep.today, "This Fiscal Year-to-date")
    led = rep.led
    cum = led.balances(None, end)
    fy = _fiscal_start(end)
    ni_current = -sum(v for a, v in led.balances(fy, end).items() if led.is_pl(a))
    prior = led.balances(None, (date.fromisoformat(fy) - timedelta(days=1)).isoformat())
    ni_prior = -sum(v for a, v in prior.items() if led.is_pl(a))

    def of(types, sign):
        accts = [a for a in cum if led.atype(a) in types]
        return rep.tree_rows(accts, lambda a: [sign * cum.get(a, 0)])

    def group_section(title, group, parts):
        rows, total = [], 0
        for p, t in parts:
            if p is not None:
                rows.append(p)
                total += t
        return section(
            [col(title), col("")], rows, [col(f"Total {title}"), col(fmt_money(total))], group
        ), total

    def leaf(title, group, types, sign):
        rows, (t,) = of(types, sign)
        if not rows:
            return None, 0
        return section(
            [col(title), col("")], rows, [col(f"Total {title}"), col(fmt_money(t))], group
        ), t

    bank = leaf("Bank Accounts", "BankAccounts", {"Bank"}, 1)
    ar = leaf("Accounts Receivable", "AR", {"Accounts Receivable"}, 1)
    oca = leaf("Other Current Assets", "OtherCurrentAssets", {"Other Current Asset"}, 1)
    current_assets = group_section("Current Assets", "CurrentAssets", [bank, ar, oca])
    fixed = leaf("Fixed Assets", "FixedAssets", {"Fixed Asset"}, 1)
    other_assets = leaf("Other Assets", "OtherAssets", {"Other Asset"}, 1)
    assets_sec, _assets = group_section(
        "ASSETS", "TotalAssets", [current_assets, fixed, other_assets]
    )
    ap = leaf("Accounts Payable", "AP", {"Accounts Payable"}, -1)
    cc = leaf("Credit Cards", "CreditCards", {"Credit Card"}, -1)
    ocl = leaf(
        "Other Current Liabilities", "OtherCurrentLiabilities", {"Other Current Liability"}, -1
    )
    current_liab = group_section("Current Liabilities", "CurrentLiabilities", [ap, cc, ocl])
    ltl = leaf("Long-Term Liabilities", "LongTermLiabilities", {"Long Term Liability"}, -1)
    liab = group_section("Liabilities", "Liabilities", [current_liab, ltl])
    eq_accts = [a for a in cum if led.atype(a) == "Equity"]
    re_id = led.role.get("re", "")
    eq_rows, eq_total = [], 0
    for a in sorted(eq_accts, key=lambda k: led.accounts[k].get("Name", "")):
        if a == re_id:
            continue
        v = -cum.get(a, 0)
        eq_rows.append(data_row([col(led.accounts[a].get("Name", ""), a), col(fmt_money(v))]))
        eq_total += v
    re_val = -cum.get(re_id, 0) + ni_prior
    if re_id:
        eq_rows.append(data_row([col("Retained Earnings", re_id), col(fmt_money(re_val))]))
    eq_rows.append(data_row([col("Net Income"), col(fmt_money(ni_current))]))
    eq_total += re_val + ni_current
    equity = (
        section(
            [col("Equity"), col("")],
            eq_rows,
            [col("Total Equity"), col(fmt_money(eq_total))],
            "Equity",
        ),
        eq_total,
    )
    le_sec, _le_total = group_section(
        "LIABILITIES AND EQUITY", "TotalLiabilitiesAndEquity", [liab, equity]
    )
    no_data = not cum
    return {
        "Header": rep.header(start, end, macro, no_data, summarize="Total"),
        "Columns": money_columns("Total"),
        "Rows": {"Row": [assets_sec, le_sec]},
    }


def trial_balance(rep: Report) -> dict:
    start, end, macro = resolve_period(rep.params, rep.today, "This Fiscal Year-to-date")
    led = rep.led
    cum = led.balances(None, end)
    fy = _fiscal_start(end)
    before_fy = led.balances(None, (date.fromisoformat(fy) - timedelta(days=1)).isoformat())
    prior_pl = sum(v for a, v in before_fy.items() if led.is_pl(a))
    rows, debit, credit = [], 0, 0
    re_id = led.role.get("re", "")
    values: dict[str, int] = {}
    for a, v in cum.items():
        # P&L accounts restart each fiscal year.
        values[a] = v - before_fy.get(a, 0) if led.is_pl(a) else v
    values[re_id] = values.get(re_id, 0) + prior_pl  # closed into retained earnings
    for a in sorted(
        values, key=lambda k: (led.accounts.get(k) or {}).get("FullyQualifiedName", "")
    ):
        v = values[a]
        if not v or a not in led.accounts:
            continue
        name = led.accounts[a].get("FullyQualifiedName", "")
        if v > 0:
            rows.append(data_row([col(name, a), col(fmt_money(v)), col("")]))
            debit += v
        else:
            rows.append(data_row([col(name, a), col(""), col(fmt_money(-v))]))
            credit += -v
    rows.append(
        {
            "Summary": {"ColData": [col("TOTAL"), col(fmt_money(debit)), col(fmt_money(credit))]},
            "type": "Section",
        }
    )
    return {
        "Header": rep.header(start, end, macro, not cum, summarize="Total"),
        "Columns": {
            "Column": [
                {
                    "ColTitle": "",
                    "ColType": "Account",
                    "MetaData": [{"Name": "ColKey", "Value": "account"}],
                },
                {
                    "ColTitle": "Debit",
                    "ColType": "Money",
                    "MetaData": [{"Name": "ColKey", "Value": "Debit"}],
                },
                {
                    "ColTitle": "Credit",
                    "ColType": "Money",
                    "MetaData": [{"Name": "ColKey", "Value": "Credit"}],
                },
            ]
        },
        "Rows": {"Row": rows},
    }


_GL_COLUMNS = [
    ("Date", "tx_date"),
    ("Transaction Type", "txn_type"),
    ("Num", "doc_num"),
    ("Name", "name"),
    ("Memo/Description", "memo"),
    ("Split", "split_acc"),
    ("Amount", "subt_nat_amount"),
    ("Balance", "rbal_nat_amount"),
]


def _split_name(led: Ledger, p: Posting) -> str:
    others = [q for q in led.splits.get((p.entity, p.txn_id), []) if q.account != p.account]
    accts = {q.account for q in others}
    if len(accts) == 1:
        return (led.accounts.get(next(iter(accts))) or {}).get("Name", "")
    return "-Split-" if accts else ""


def _txn_rows(
    led: Ledger, postings: list[Posting], opening: int, sign: int, with_balance: bool = True
):
    rows, running, total = [], opening, 0
    for p in postings:
        amt = sign * p.cents
        running += amt
        total += amt
        cells = [
            col(p.day),
            col(TXN_LABEL.get(p.entity, p.entity), p.txn_id),
            col(p.doc),
            col(p.name),
            col(p.memo),
            col(_split_name(led, p)),
            col(fmt_money(amt)),
        ]
        if with_balance:
            cells.append(col(fmt_money(running)))
        rows.append(data_row(cells))
    return rows, total


def general_ledger(rep: Report) -> dict:
    start, end, macro = resolve_period(rep.params, rep.today, "This Month-to-date")
    led = rep.led
    before = led.balances(None, (date.fromisoformat(start) - timedelta(days=1)).isoformat())
    in_period: dict[str, list[Posting]] = defaultdict(list)
    for p in led.postings:
        if start <= p.day <= end:
            in_period[p.account].append(p)
    accounts = {a for a, v in before.items() if v} | set(in_period)
    accounts = {a for a in accounts if a in led.accounts}
    # Parents of shown sub-accounts are shown too, as enclosing sections.
    for a in list(accounts):
        parent = (led.accounts[a].get("ParentRef") or {}).get("value")
        while parent and parent in led.accounts:
            accounts.add(parent)
            parent = (led.accounts[parent].get("ParentRef") or {}).get("value")
    children: dict[str, list[str]] = defaultdict(list)
    roots = []
    order = sorted(accounts, key=lambda k: led.accounts[k].get("FullyQualifiedName", ""))
    for a in order:
        parent = (led.accounts[a].get("ParentRef") or {}).get("value")
        (children[parent] if parent in accounts else roots).append(a)
    blank = [col("") for _ in range(7)]

    def render(a: str, nested: bool = False) -> tuple[dict, int]:
        name = led.accounts[a].get("Name", "")
        sign = 1 if led.classification(a) in ("Asset", "Expense") else -1
        opening = sign * before.get(a, 0)
        txn_rows, total = _txn_rows(led, in_period.get(a, []), opening, sign)
        inner_rows = []
        if opening or txn_rows or not children.get(a):
            inner_rows.append(
                data_row(
                    [
                        col("Beginning Balance"),
                        *[col("") for _ in range(6)],
                        col(fmt_money(opening)),
                    ]
                )
            )
        inner_rows.extend(txn_rows)
        for child in children.get(a, []):
            sec, child_total = render(child, nested=True)
            inner_rows.append(sec)
            total += child_total
        shown = fmt_money(total) if total else ""
        summary = [col(f"Total for {name}"), *[col("") for _ in range(5)], col(shown), col("")]
        head = col(name) if nested else col(name, a)  # QBO gives sub-account headers no id
        return section([head, *blank], inner_rows, summary), total

    rows = [render(a)[0] for a in roots]
    no_data = not rows
    return {
        "Header": rep.header(start, end, macro, no_data, gaap=False),
        "Columns": {"Column": [{"ColTitle": t, "ColType": c} for t, c in _GL_COLUMNS]},
        "Rows": {"Row": rows},
    }


def profit_and_loss_detail(rep: Report) -> dict:
    start, end, macro = resolve_period(rep.params, rep.today, "This Fiscal Year-to-date")
    led = rep.led
    by_acct: dict[str, list[Posting]] = defaultdict(list)
    for p in led.postings:
        if start <= p.day <= end and led.is_pl(p.account):
            by_acct[p.account].append(p)
    blank = [col("") for _ in range(7)]

    def block(title, group, types, sign):
        rows, total = [], 0
        for a in sorted(
            (a for a in by_acct if led.atype(a) in types),
            key=lambda k: led.accounts[k].get("FullyQualifiedName", ""),
        ):
            txn_rows, t = _txn_rows(led, by_acct[a], 0, sign)
            name = led.accounts[a].get("Name", "")
            rows.append(
                section(
                    [col(name, a), *blank],
                    txn_rows,
                    [
                        col(f"Total for {name}"),
                        *[col("") for _ in range(5)],
                        col(fmt_money(t)),
                        col(""),
                    ],
                )
            )
            total += t
        return section(
            [col(title), *blank],
            rows,
            [col(f"Total {title}"), *[col("") for _ in range(5)], col(fmt_money(total)), col("")],
            group,
        ), total

    inc, t_inc = block("Income", "Income", INCOME_TYPES, -1)
    cogs, t_cogs = block("Cost of Goods Sold", "COGS", COGS_TYPES, 1)
    exp, t_exp = block("Expenses", "Expenses", EXPENSE_TYPES, 1)
    oinc, t_oinc = block("Other Income", "OtherIncome", OTHER_INCOME_TYPES, -1)
    oexp, t_oexp = block("Other Expenses", "OtherExpenses", OTHER_EXPENSE_TYPES, 1)

    def summ(title, group, v):
        return section(
            None,
            None,
            [col(title), *[col("") for _ in range(5)], col(fmt_money(v)), col("")],
            group,
        )

    gross = t_inc - t_cogs
    noi = gross - t_exp
    net = noi + t_oinc - t_oexp
    rows = [
        inc,
        cogs,
        summ("Gross Profit", "GrossProfit", gross),
        exp,
        summ("Net Operating Income", "NetOperatingIncome", noi),
        oinc,
        oexp,
        summ("Net Income", "NetIncome", net),
    ]
    cols = list(_GL_COLUMNS)
    return {
        "Header": rep.header(start, end, macro, not by_acct),
        "Columns": {"Column": [{"ColTitle": t, "ColType": c} for t, c in cols]},
        "Rows": {"Row": rows},
    }


def cash_flow(rep: Report) -> dict:
    start, end, macro = resolve_period(rep.params, rep.today, "This Fiscal Year-to-date")
    led = rep.led
    delta = led.balances(start, end)
    before = led.balances(None, (date.fromisoformat(start) - timedelta(days=1)).isoformat())
    after = led.balances(None, end)
    net_income = -sum(v for a, v in delta.items() if led.is_pl(a))
    cash_types = {"Bank"}
    operating_types = {
        "Accounts Receivable",
        "Other Current Asset",
        "Accounts Payable",
        "Credit Card",
        "Other Current Liability",
    }
    investing_types = {"Fixed Asset", "Other Asset"}
    financing_types = {"Long Term Liability", "Equity"}

    def adj_rows(types):
        rows, total = [], 0
        for a in sorted(
            (a for a, v in delta.items() if v and led.atype(a) in types),
            key=lambda k: led.accounts[k].get("FullyQualifiedName", ""),
        ):
            v = -delta[a]
            rows.append(
                data_row([col(led.accounts[a].get("FullyQualifiedName", ""), a), col(fmt_money(v))])
            )
            total += v
        return rows, total

    op_rows, op_adj = adj_rows(operating_types)
    operating = net_income + op_adj
    inv_rows, investing = adj_rows(investing_types)
    fin_rows, financing = adj_rows(financing_types)
    cash_begin = sum(v for a, v in before.items() if led.atype(a) in cash_types)
    cash_end = sum(v for a, v in after.items() if led.atype(a) in cash_types)
    adjust = section(
        [col("Adjustments to reconcile Net Income to Net Cash provided by operations:"), col("")],
        op_rows,
        [
            col("Total Adjustments to reconcile Net Income to Net Cash provided by operations:"),
            col(fmt_money(op_adj)),
        ],
        "OperatingAdjustments",
    )
    rows = [
        section(
            [col("OPERATING ACTIVITIES"), col("")],
            [data_row([col("Net Income"), col(fmt_money(net_income))]), adjust],
            [col("Net cash provided by operating activities"), col(fmt_money(operating))],
            "OperatingActivities",
        ),
        section(
            [col("INVESTING ACTIVITIES"), col("")],
            inv_rows,
            [col("Net cash provided by investing activities"), col(fmt_money(investing))],
            "InvestingActivities",
        ),
        section(
            [col("FINANCING ACTIVITIES"), col("")],
            fin_rows,
            [col("Net cash provided by financing activities"), col(fmt_money(financing))],
            "FinancingActivities",
        ),
        section(
            None,
            None,
            [
                col("NET CASH INCREASE FOR PERIOD"),
                col(fmt_money(operating + investing + financing)),
            ],
            "CashIncrease",
        ),
        section(
            None,
            None,
            [col("Cash at beginning of period"), col(fmt_money(cash_begin))],
            "BeginningCash",
        ),
        section(None, None, [col("CASH AT END OF PERIOD"), col(fmt_money(cash_end))], "EndingCash"),
    ]
    return {
        "Header": rep.header(start, end, macro, not delta, summarize="Total"),
        "Columns": money_columns("Total"),
        "Rows": {"Row": rows},
    }


_AGING = [
    ("Current", None),
    ("1 - 30", 30),
    ("31 - 60", 60),
    ("61 - 90", 90),
    ("91 and over", None),
]


def _aging(rep: Report, entity: str, party_ref: str, party_entity: str) -> dict:
    as_of = rep.params.get("report_date") or rep.params.get("end_date") or rep.today.isoformat()
    led = rep.led
    store = rep.store
    parties = store.tables[party_entity].objs
    buckets: dict[str, list[int]] = defaultdict(lambda: [0] * 5)
    for obj in store.tables[entity].objs.values():
        if obj.get("TxnDate", "") > as_of:
            continue
        bal = cents_of(obj.get("HomeBalance", obj.get("Balance")))
        if not bal:
            continue
        ref = (obj.get(party_ref) or {}).get("value", "")
        due = obj.get("DueDate") or obj.get("TxnDate") or as_of
        days = (date.fromisoformat(as_of) - date.fromisoformat(due)).days
        idx = 0 if days <= 0 else 1 if days <= 30 else 2 if days <= 60 else 3 if days <= 90 else 4
        buckets[ref][idx] += bal
    rows, totals = [], [0] * 6
    for ref in sorted(buckets, key=lambda k: (parties.get(k) or {}).get("DisplayName", k)):
        vals = buckets[ref]
        total = sum(vals)
        name = (parties.get(ref) or {}).get("DisplayName", "")
        rows.append(
            data_row(
                [
                    col(name, ref),
                    *[col(fmt_money(v) if v else "") for v in vals],
                    col(fmt_money(total)),
                ]
            )
        )
        totals = [t + v for t, v in zip(totals, [*vals, total], strict=True)]
    rows.append(
        {
            "Summary": {"ColData": [col("TOTAL"), *[col(fmt_money(v)) for v in totals]]},
            "type": "Section",
            "group": "GrandTotal",
        }
    )
    party_col = "Customer" if party_entity == "Customer" else "Vendor"
    cols = [
        {
            "ColTitle": "",
            "ColType": party_col,
            "MetaData": [{"Name": "ColKey", "Value": party_col.lower()}],
        }
    ]
    for title, _ in _AGING:
        cols.append(
            {
                "ColTitle": title,
                "ColType": "Money",
                "MetaData": [{"Name": "ColKey", "Value": title.lower().replace(" ", "")}],
            }
        )
    cols.append(
        {
            "ColTitle": "Total",
            "ColType": "Money",
            "MetaData": [{"Name": "ColKey", "Value": "total"}],
        }
    )
    hdr = rep.header(as_of, as_of, None, len(rows) == 1, summarize=None, gaap=False)
    hdr["ReportBasis"] = "Accrual"
    del led
    return {"Header": hdr, "Columns": {"Column": cols}, "Rows": {"Row": rows}}


def _party_balance(
    rep: Report, party_entity: str, docs: list[tuple[str, int]], ref_key: str
) -> dict:
    store = rep.store
    as_of = rep.params.get("report_date") or rep.params.get("end_date") or rep.today.isoformat()
    parties = store.tables[party_entity].objs
    totals: dict[str, int] = defaultdict(int)
    for entity, sign in docs:
        for obj in store.tables[entity].objs.values():
            if obj.get("TxnDate", "") > as_of:
                continue
            bal = cents_of(obj.get("HomeBalance", obj.get("Balance", obj.get("UnappliedAmt"))))
            if bal:
                totals[(obj.get(ref_key) or {}).get("value", "")] += sign * bal
    rows, grand = [], 0
    for ref in sorted(totals, key=lambda k: (parties.get(k) or {}).get("DisplayName", k)):
        if not totals[ref]:
            continue
        rows.append(
            data_row(
                [
                    col((parties.get(ref) or {}).get("DisplayName", ""), ref),
                    col(fmt_money(totals[ref])),
                ]
            )
        )
        grand += totals[ref]
    rows.append(
        {
            "Summary": {"ColData": [col("TOTAL"), col(fmt_money(grand))]},
            "type": "Section",
            "group": "GrandTotal",
        }
    )
    col_type = "Customer" if party_entity == "Customer" else "Vendor"
    cols = [
        {
            "ColTitle": "",
            "ColType": col_type,
            "MetaData": [{"Name": "ColKey", "Value": col_type.lower()}],
        },
        {
            "ColTitle": "Total",
            "ColType": "Money",
            "MetaData": [{"Name": "ColKey", "Value": "total"}],
        },
    ]
    hdr = rep.header(as_of, as_of, None, len(rows) == 1, summarize="Total", gaap=False)
    return {"Header": hdr, "Columns": {"Column": cols}, "Rows": {"Row": rows}}


def run_report(store: Store, name: str, params: dict, now: float) -> dict:  # noqa: C901, PLR0911 - one return per report
    canonical = {n.lower(): n for n in SUPPORTED}.get(name.lower())
    if canonical is None:
        raise ApiError(
            400,
            "500",
            "Unsupported Operation",
            "Operation Could not find resource for relative : "
            f"/v3/company/{store.realm_id}/reports/{name} is not supported.",
        )
    rep = Report(store, canonical, params, now)
    if canonical == "ProfitAndLoss":
        return profit_and_loss(rep)
    if canonical == "ProfitAndLossDetail":
        return profit_and_loss_detail(rep)
    if canonical == "BalanceSheet":
        return balance_sheet(rep)
    if canonical == "TrialBalance":
        return trial_balance(rep)
    if canonical == "GeneralLedger":
        return general_ledger(rep)
    if canonical == "CashFlow":
        return cash_flow(rep)
    if canonical == "AgedReceivables":
        return _aging(rep, "Invoice", "CustomerRef", "Customer")
    if canonical == "AgedPayables":
        return _aging(rep, "Bill", "VendorRef", "Vendor")
    if canonical == "CustomerBalance":
        return _party_balance(
            rep, "Customer", [("Invoice", 1), ("CreditMemo", -1), ("Payment", -1)], "CustomerRef"
        )
    return _party_balance(rep, "Vendor", [("Bill", 1), ("VendorCredit", -1)], "VendorRef")


def period_sales(store: Store, start: str, end: str) -> int:
    """Sales in home cents: what ProfitAndLoss Total Income must equal (for tests and docs)."""
    total = 0
    for entity, sign in (
        ("Invoice", 1),
        ("SalesReceipt", 1),
        ("CreditMemo", -1),
        ("RefundReceipt", -1),
    ):
        for obj in store.tables[entity].objs.values():
            day = obj.get("TxnDate", "")
            if not (start <= day <= end):
                continue
            rate = float(obj.get("ExchangeRate") or 1)
            for ln in obj.get("Line") or []:
                dt = ln.get("DetailType")
                if dt == "SalesItemLineDetail":
                    c = cents_of(ln.get("Amount"))
                elif dt == "DiscountLineDetail":
                    c = -cents_of(ln.get("Amount"))
                else:
                    continue
                total += sign * (round(c * rate) if rate != 1 else c)
    return total


__all__ = ["SUPPORTED", "Ledger", "ledger_for", "period_sales", "run_report"]

_ = inner  # re-exported helpers used by callers
