"""Purchase transactions: bills, bill payments, purchases, purchase orders and vendor
credits, with their expense lines."""

from __future__ import annotations

from .. import timefmt
from ..store import money
from .core import _jaxb, _num
from .vocabulary import USD


class Purchases:
    def expense_lines(self, n_max: int = 3, billable_customers: bool = True):
        rng = self.rng
        lines = []
        total = 0
        for i in range(self.pick((1, 1, 1, 2, 2, 3))):
            if i >= n_max:
                break
            amount = self.pick((1999, 4500, 12000, 25000, 5250, 8999, 150000, 37500, 640))
            amount = amount * rng.randint(1, 4)
            if self.items_product and rng.random() < 0.2:
                it = self.pick(self.items_product)
                qty = rng.randint(1, 20)
                amount = max(it["cost"], 100) * qty
                if it["kind"] == "Inventory":
                    it["qty"] += qty
                detail = {
                    "ItemRef": dict(it["ref"]),
                    "BillableStatus": "NotBillable",
                    "UnitPrice": _num(max(it["cost"], 100)),
                    "Qty": qty,
                    "TaxCodeRef": {"value": "NON"},
                }
                line = {
                    "Id": str(i + 1),
                    "LineNum": i + 1,
                    "Amount": money(amount),
                    "DetailType": "ItemBasedExpenseLineDetail",
                    "ItemBasedExpenseLineDetail": detail,
                }
                account = "inventory" if it["kind"] == "Inventory" else "cogs"
            else:
                role = self.pick(self.expense_roles)
                detail = {
                    "AccountRef": dict(self.ref(role)),
                    "BillableStatus": "NotBillable",
                    "TaxCodeRef": {"value": "NON"},
                }
                if billable_customers and rng.random() < 0.1:
                    detail["BillableStatus"] = "Billable"
                    detail["CustomerRef"] = dict(self.pick_customer(self.now_ct)["ref"])
                line = {"Id": str(i + 1), "LineNum": i + 1}
                if rng.random() < 0.5:
                    line["Description"] = self.pick(
                        ["Monthly service", "Supplies", "Fuel", "Repairs", "Materials"]
                    )
                line.update(
                    {
                        "Amount": money(amount),
                        "DetailType": "AccountBasedExpenseLineDetail",
                        "AccountBasedExpenseLineDetail": detail,
                    }
                )
                account = role
            lines.append(line)
            total += amount
            line["_account"] = account
        return lines, total

    @staticmethod
    def strip_private(lines: list[dict]) -> None:
        for line in lines:
            line.pop("_account", None)

    def gen_bill(self, ct: int, ev_idx: int) -> None:
        rng = self.rng
        v = self.pick_vendor(ct)
        po = None
        if self.open_pos and rng.random() < 0.3:
            po = self.open_pos.pop(rng.randrange(len(self.open_pos)))
            v = po["vendor"]
        obj, rec = self.new_txn("Bill", ct)
        day = self.txn_date(ct)
        lines, total = self.expense_lines()
        self.strip_private(lines)
        term, days = self.pick(self.terms)
        obj["DocNumber"] = str(rng.randint(10000, 999999)) if rng.random() < 0.6 else None
        if obj["DocNumber"] is None:
            del obj["DocNumber"]
        obj["TxnDate"] = day
        obj["CurrencyRef"] = USD
        obj["LinkedTxn"] = []
        if po:
            obj["LinkedTxn"].append({"TxnId": po["obj"]["Id"], "TxnType": "PurchaseOrder"})
            po["obj"]["POStatus"] = "Closed"
            po["obj"]["LinkedTxn"] = [{"TxnId": obj["Id"], "TxnType": "Bill"}]
            po["rec"].touch(ct)
        obj["Line"] = lines
        obj["VendorRef"] = dict(v["ref"])
        obj["APAccountRef"] = dict(self.acct["ap"])
        obj["SalesTermRef"] = {"value": term["value"]}
        obj["DueDate"] = timefmt.add_days(day, days)
        obj["TotalAmt"] = money(total)
        obj["Balance"] = money(total)
        if self.departments and rng.random() < 0.2:
            obj["DepartmentRef"] = dict(self.pick(self.departments))
        self.open_bills.append({"obj": obj, "rec": rec, "balance": total, "v": v, "ct": ct})

    def gen_bill_payment(self, ct: int, ev_idx: int) -> None:
        rng = self.rng
        obj, _rec = self.new_txn("BillPayment", ct)
        day = timefmt.pacific_date(ct)
        target = None
        if self.open_bills:
            lo = max(0, len(self.open_bills) - 300)
            i = rng.randrange(lo, len(self.open_bills))
            if self.open_bills[i]["ct"] <= ct:
                target = self.open_bills[i]
        by_card = rng.random() < 0.2
        if target is None:
            v = self.pick_vendor(ct)
            amount = rng.randint(10, 500) * 100
            obj["VendorRef"] = dict(v["ref"])
            lines = []
        else:
            v = target["v"]
            amount = target["balance"] if rng.random() < 0.85 else target["balance"] // 2
            amount = max(amount, 1)
            target["balance"] -= amount
            bill = target["obj"]
            bill["Balance"] = money(target["balance"])
            bill["LinkedTxn"].append({"TxnId": obj["Id"], "TxnType": "BillPayment"})
            target["rec"].touch(ct)
            if target["balance"] <= 0:
                self.open_bills[i] = self.open_bills[-1]
                self.open_bills.pop()
            obj["VendorRef"] = dict(v["ref"])
            lines = [
                {"Amount": money(amount), "LinkedTxn": [{"TxnId": bill["Id"], "TxnType": "Bill"}]}
            ]
        obj["PayType"] = "CreditCard" if by_card else "Check"
        if by_card:
            obj["CreditCardPayment"] = {"CCAccountRef": dict(self.acct["cc"])}
        else:
            obj["CheckPayment"] = {
                "BankAccountRef": dict(self.acct["checking"]),
                "PrintStatus": self.pick(["NeedToPrint", "NotSet", "PrintComplete"]),
            }
        obj["TotalAmt"] = money(amount)
        obj["DocNumber"] = self.docnum("BillPayment", 1)
        obj["TxnDate"] = day
        obj["CurrencyRef"] = USD
        obj["Line"] = lines
        if target is None:
            obj["PrivateNote"] = "Prepayment"

    def gen_purchase(self, ct: int, ev_idx: int) -> None:
        rng = self.rng
        v = self.pick_vendor(ct)
        obj, _rec = self.new_txn("Purchase", ct)
        day = self.txn_date(ct)
        lines, total = self.expense_lines()
        self.strip_private(lines)
        pay = self.pick(["Cash", "Check", "CreditCard", "CreditCard"])
        account = {"Cash": "checking", "Check": "checking", "CreditCard": self.pick(["cc", "cc2"])}[
            pay
        ]
        obj["AccountRef"] = dict(self.acct[account])
        obj["PaymentType"] = pay
        obj["EntityRef"] = {"value": v["ref"]["value"], "name": v["ref"]["name"], "type": "Vendor"}
        obj["Credit"] = False
        obj["TotalAmt"] = money(total)
        if rng.random() < 0.5:
            obj["PurchaseEx"] = {"any": [_jaxb("TxnType", "54")]}
        if pay == "Check":
            obj["DocNumber"] = self.docnum("Check", 101)
            obj["PrintStatus"] = "NotSet"
        obj["TxnDate"] = day
        obj["CurrencyRef"] = USD
        if rng.random() < 0.2:
            obj["PrivateNote"] = self.pick(["Bank feed", "Reimbursed", "Card ending 4321"])
        obj["Line"] = lines
        if self.departments and rng.random() < 0.2:
            obj["DepartmentRef"] = dict(self.pick(self.departments))
        if rng.random() < 0.05:
            obj["Credit"] = True  # a refund from the vendor

    def gen_purchase_order(self, ct: int, ev_idx: int) -> None:
        v = self.pick_vendor(ct)
        obj, rec = self.new_txn("PurchaseOrder", ct)
        day = self.txn_date(ct)
        lines, total = self.expense_lines(billable_customers=False)
        self.strip_private(lines)
        obj["DocNumber"] = self.docnum("PurchaseOrder", 1001)
        obj["TxnDate"] = day
        obj["CustomField"] = [{"DefinitionId": "1", "Name": "Crew #", "Type": "StringType"}]
        obj["CurrencyRef"] = USD
        obj["POStatus"] = "Open"
        obj["LinkedTxn"] = []
        obj["Line"] = lines
        obj["VendorRef"] = dict(v["ref"])
        obj["APAccountRef"] = dict(self.acct["ap"])
        obj["TotalAmt"] = money(total)
        obj["POEmail"] = {"Address": "orders@example.net"}
        obj["EmailStatus"] = "NotSet"
        obj["ShipAddr"] = {
            "Id": str(self.addr_seq),
            "Line1": self.company_name,
            "Line2": "2500 Garcia Ave",
            "Line3": "Mountain View, CA  94043",
        }
        self.addr_seq += 1
        self.open_pos.append({"obj": obj, "rec": rec, "vendor": v})
        if len(self.open_pos) > 200:
            self.open_pos.pop(0)

    def gen_vendor_credit(self, ct: int, ev_idx: int) -> None:
        v = self.pick_vendor(ct)
        obj, _rec = self.new_txn("VendorCredit", ct)
        lines, total = self.expense_lines(n_max=2, billable_customers=False)
        self.strip_private(lines)
        obj["TxnDate"] = self.txn_date(ct)
        obj["CurrencyRef"] = USD
        obj["Line"] = lines
        obj["VendorRef"] = dict(v["ref"])
        obj["APAccountRef"] = dict(self.acct["ap"])
        obj["TotalAmt"] = money(total)
        obj["Balance"] = money(total)
