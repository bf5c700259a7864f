"""The company over time: when each transaction happens (the handler table), later edits,
balances, and loading the records into the store."""

from __future__ import annotations

from collections import deque

from .. import profiles, timefmt
from ..store import inner, money
from .vocabulary import QUARTER, TXN_WEIGHTS


class Timeline:
    def event_times(self, n: int) -> list[tuple[int, str]]:
        rng = self.rng
        kinds = list(TXN_WEIGHTS)
        weights = [TXN_WEIGHTS[k] for k in kinds]
        chosen = rng.choices(kinds, weights, k=n)
        # Every kind at least twice.
        for i, k in enumerate(kinds):
            chosen[i * 2 % n] = k
            chosen[(i * 2 + 1) % n] = k
        lo, hi = self.t0 + 2 * 86400, self.anchor - 120
        span = hi - lo
        events = []
        for k in chosen:
            # Busier recently: a mild ramp (sqrt skew towards the anchor).
            t = lo + int(span * (rng.random() ** 0.8))
            # Snap to anchor-relative grids (not the calendar) so that the event order, and
            # with it the whole company, is the same whatever day the emulator starts.
            if k == "Invoice" and rng.random() < 0.08:
                # Recurring invoices: a quarterly batch, all created in the same second.
                t = self.t0 + (t - self.t0) // QUARTER * QUARTER + 7200
            elif k == "Purchase" and rng.random() < 0.05:
                t = self.t0 + (t - self.t0) // 86400 * 86400 + 21600  # a bank-feed import
            if lo <= t <= hi:
                events.append((t, k))
            else:
                events.append((lo + int(span * rng.random()), k))
        events.sort()
        return events

    def gen_transactions(self) -> None:
        self.open_invoices: list[dict] = []
        self.open_bills: list[dict] = []
        self.open_estimates: list[dict] = []
        self.open_pos: list[dict] = []
        self.undeposited: deque = deque()
        self.recent_sales: list[dict] = []
        self.gen_journal_entry(self.setup_time(10), 0, opening=True)
        handlers = {
            "Invoice": self.gen_invoice,
            "Payment": self.gen_payment,
            "SalesReceipt": self.gen_sales_receipt,
            "Estimate": self.gen_estimate,
            "CreditMemo": self.gen_credit_memo,
            "RefundReceipt": lambda ct, i: self.gen_credit_memo(ct, i, refund=True),
            "Bill": self.gen_bill,
            "BillPayment": self.gen_bill_payment,
            "Purchase": self.gen_purchase,
            "PurchaseOrder": self.gen_purchase_order,
            "VendorCredit": self.gen_vendor_credit,
            "Deposit": self.gen_deposit,
            "Transfer": self.gen_transfer,
            "JournalEntry": self.gen_journal_entry,
            "CreditCardPayment": self.gen_cc_payment,
            "TimeActivity": self.gen_time_activity,
            "InventoryAdjustment": self.gen_inventory_adjustment,
            "TaxPayment": self.gen_tax_payment,
            "ReimburseCharge": self.gen_reimburse_charge,
            "Attachable": self.gen_attachable,
            "RecurringTransaction": self.gen_recurring,
        }
        for i, (ct, kind) in enumerate(self.event_times(self.counts["txn"])):
            self.now_ct = ct
            handlers[kind](ct, i)
            if len(self.recent_sales) > 2000:
                del self.recent_sales[:1000]

    def random_edits(self) -> None:
        """Later edits (SyncToken > 0), deactivations, and changes in the last 30 days."""
        rng = self.rng
        for c in self.customers:
            if c["until"] is not None:
                o = c["obj"]
                o["Active"] = False
                o["DisplayName"] += " (deleted)"
                o["FullyQualifiedName"] += " (deleted)"
                c["rec"].touch(c["until"])
        for v in self.vendors:
            if v["until"] is not None:
                o = v["obj"]
                o["Active"] = False
                o["DisplayName"] += " (deleted)"
                v["rec"].touch(v["until"])
        recent_lo = self.anchor - 28 * 86400
        for rec in self.recs:
            if rec.entity in ("TaxClassification", "ExchangeRate") or rec.key in ("TAX", "NON"):
                continue
            r = rng.random()
            if r < 0.06:
                rec.touch(min(self.anchor - 1, rec.lut + int(rng.expovariate(1 / (12 * 86400)))))
            elif r < 0.075 and rec.lut < recent_lo:
                rec.touch(rng.randint(recent_lo, self.anchor - 60))

    def balances(self) -> None:
        by_customer: dict[str, int] = {}
        for inv in self.open_invoices:
            key = inv["c"]["ref"]["value"]
            by_customer[key] = by_customer.get(key, 0) + inv["balance"]
        for c in self.customers:
            own = by_customer.get(c["ref"]["value"], 0)
            c["obj"]["Balance"] = money(own)
            c["own"] = own
        with_jobs = {id(c): c["own"] for c in self.customers}
        for c in self.customers:
            if c["parent"] is not None:
                with_jobs[id(c["parent"])] += c["own"]
        for c in self.customers:
            c["obj"]["BalanceWithJobs"] = money(with_jobs[id(c)])
        by_vendor: dict[str, int] = {}
        for b in self.open_bills:
            key = b["v"]["ref"]["value"]
            by_vendor[key] = by_vendor.get(key, 0) + b["balance"]
        for v in self.vendors:
            v["obj"]["Balance"] = money(by_vendor.get(v["ref"]["value"], 0))
        for it in self.item_objs.values():
            if it["kind"] == "Inventory":
                it["obj"]["QtyOnHand"] = it["qty"]

    def load(self) -> None:
        store = self.store
        fmt = timefmt.fmt
        tables = store.tables
        for rec in self.recs:
            obj = rec.obj
            core = inner(rec.entity, obj)
            rec.lut = min(rec.lut, self.anchor)
            rec.ct = min(rec.ct, rec.lut)
            has_meta = "MetaData" in core
            if has_meta:
                if rec.entity == "ExchangeRate":
                    core["MetaData"] = {"LastUpdatedTime": fmt(rec.lut)}
                else:
                    core["MetaData"] = {"CreateTime": fmt(rec.ct), "LastUpdatedTime": fmt(rec.lut)}
                if "SyncToken" in core:
                    core["SyncToken"] = str(rec.sync)
            for line in core.get("Line") or ():
                line.pop("_cost", None)
            tables[rec.entity].load(
                rec.key, obj, rec.ct if has_meta else None, rec.lut if has_meta else None
            )
        for t in tables.values():
            t.finish()
        for seq, n in self.seq.items():
            store.seq[seq] = n
        store.meta["accounts"] = {role: ref["value"] for role, ref in self.acct.items()}
        store.meta["company_name"] = self.company_name

    def run(self) -> None:
        self.gen_company()
        self.gen_currencies()
        self.gen_accounts()
        self.gen_simple_lists()
        self.gen_taxes()
        self.gen_customers()
        self.gen_vendors()
        self.gen_employees()
        self.gen_items()
        self.gen_budget()
        self.gen_transactions()
        self.balances()
        self.random_edits()
        profiles.shape(self, self.profile)
        self.load()
