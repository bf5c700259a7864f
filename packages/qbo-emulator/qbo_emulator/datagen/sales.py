"""Sales transactions: invoices, payments, sales receipts, estimates, credit memos and
refunds, with their typed lines and tax detail."""

from __future__ import annotations

from .. import timefmt
from ..store import money
from .core import _jaxb, _num, _qty
from .vocabulary import _LINE_CUM, CURRENCIES, THANKS, USD


class Sales:
    def sales_lines(self, allow_discount: bool = True, taxable_ok: bool = True):
        """Typed sales lines; returns (lines, subtotal_cents, taxable_cents, discount_cents)."""
        rng = self.rng
        lines = []
        subtotal = taxable = 0
        n = rng.choices((1, 2, 3, 4, 6), cum_weights=_LINE_CUM)[0]
        lid = 1
        for _ in range(n):
            pool = (
                self.items_service
                if rng.random() < 0.6 or not self.items_product
                else self.items_product
            )
            it = self.pick(pool)
            halves = self.pick((2, 2, 2, 4, 6, 8, 3, 5, 10, 20))
            amount = it["price"] * halves // 2
            tax = taxable_ok and it["kind"] != "Service" and rng.random() < 0.8
            detail = {
                "ItemRef": dict(it["ref"]),
                "UnitPrice": _num(it["price"]),
                "Qty": _qty(halves),
                "TaxCodeRef": {"value": "TAX" if tax else "NON"},
            }
            if self.classes and rng.random() < 0.15:
                detail["ClassRef"] = dict(self.pick(self.classes))
            if rng.random() < 0.2:
                detail["ItemAccountRef"] = dict(self.ref(it["income"]))
            line = {"Id": str(lid), "LineNum": lid}
            if rng.random() < 0.6:
                line["Description"] = it["obj"]["Description"]
            line.update(
                {
                    "Amount": money(amount),
                    "DetailType": "SalesItemLineDetail",
                    "SalesItemLineDetail": detail,
                }
            )
            lines.append(line)
            lid += 1
            subtotal += amount
            if tax:
                taxable += amount
            if it["kind"] == "Inventory":
                it["qty"] -= halves // 2
        if rng.random() < 0.08:
            lines.append(
                {
                    "Id": str(lid),
                    "LineNum": lid,
                    "Description": self.pick(
                        ["Thank you!", "Work performed on site", "See attached schedule"]
                    ),
                    "DetailType": "DescriptionOnly",
                    "DescriptionLineDetail": {},
                }
            )
        lines.append(
            {
                "Amount": money(subtotal),
                "DetailType": "SubTotalLineDetail",
                "SubTotalLineDetail": {},
            }
        )
        discount = 0
        if allow_discount and rng.random() < 0.1 and subtotal > 0:
            pct = self.pick((5, 10, 15))
            discount = subtotal * pct // 100
            if taxable:
                taxable -= taxable * pct // 100
            lines.append(
                {
                    "Amount": money(discount),
                    "DetailType": "DiscountLineDetail",
                    "DiscountLineDetail": {
                        "PercentBased": True,
                        "DiscountPercent": pct,
                        "DiscountAccountRef": dict(self.ref("discounts")),
                    },
                }
            )
        return lines, subtotal, taxable, discount

    def tax_detail(self, taxable: int, customer: dict):
        """TxnTaxDetail for the taxable amount; returns (detail, {liability role: cents})."""
        if taxable <= 0:
            return {"TotalTax": 0}, {}
        code_id, rates = self.tax_codes[int(customer["ref"]["value"]) % len(self.tax_codes)]
        tax_lines = []
        total = 0
        by_role: dict[str, int] = {}
        for rate_id, bp, role, _name in rates:
            cents = (taxable * bp + 5000) // 10000
            total += cents
            by_role[role] = by_role.get(role, 0) + cents
            tax_lines.append(
                {
                    "Amount": money(cents),
                    "DetailType": "TaxLineDetail",
                    "TaxLineDetail": {
                        "TaxRateRef": {"value": rate_id},
                        "PercentBased": True,
                        "TaxPercent": _num(bp),
                        "NetAmountTaxable": money(taxable),
                    },
                }
            )
        return {
            "TxnTaxCodeRef": {"value": code_id},
            "TotalTax": money(total),
            "TaxLine": tax_lines,
        }, by_role

    def gen_invoice(self, ct: int, ev_idx: int) -> None:  # noqa: C901, PLR0912, PLR0915 - an invoice's fields and lines, each with QBO's own odds
        rng = self.rng
        est = None
        if self.open_estimates and rng.random() < 0.15:
            est = self.open_estimates.pop(rng.randrange(len(self.open_estimates)))
        c = est["customer"] if est else self.pick_customer(ct)
        obj, rec = self.new_txn("Invoice", ct)
        day = self.txn_date(ct)
        obj["CustomField"] = self.custom_fields()
        obj["DocNumber"] = self.docnum("Invoice")
        obj["TxnDate"] = day
        if est:
            lines, subtotal, taxable, discount = (
                est["lines"],
                est["subtotal"],
                est["taxable"],
                est["discount"],
            )
        else:
            lines, subtotal, taxable, discount = self.sales_lines(taxable_ok=c["cur"] is None)
        tax, tax_roles = self.tax_detail(taxable, c)
        total = subtotal - discount + sum(tax_roles.values())
        rate = self.currency_fields(obj, c["cur"], day, total)
        if rng.random() < 0.03:
            obj["PrivateNote"] = self.pick(
                ["Rush job", "Customer requested paper copy", "Net 30 agreed"]
            )
        obj["LinkedTxn"] = []
        if est:
            obj["LinkedTxn"].append({"TxnId": est["obj"]["Id"], "TxnType": "Estimate"})
        obj["Line"] = lines
        obj["TxnTaxDetail"] = tax
        obj["CustomerRef"] = dict(c["ref"])
        obj["CustomerMemo"] = THANKS
        if rng.random() < 0.9:
            obj["BillAddr"] = self.txn_addr(c)
            if c["addr"] is not None and rng.random() < 0.4:
                obj["ShipAddr"] = c["addr"]
        if self.departments and rng.random() < 0.3:
            obj["DepartmentRef"] = dict(self.pick(self.departments))
        term, days = self.pick(self.terms)
        obj["SalesTermRef"] = dict(term)
        obj["DueDate"] = timefmt.add_days(day, days)
        obj["TotalAmt"] = money(total)
        obj["ApplyTaxAfterDiscount"] = False
        obj["PrintStatus"] = self.pick(["NeedToPrint", "NotSet", "PrintComplete"])
        obj["EmailStatus"] = self.pick(["NotSet", "NeedToSend", "EmailSent"])
        if c["email"] and rng.random() < 0.7:
            obj["BillEmail"] = c["email"]
        obj["Balance"] = money(total)
        if c["cur"]:
            obj["HomeBalance"] = obj["HomeTotalAmt"]
        obj["AllowIPNPayment"] = False
        obj["AllowOnlinePayment"] = False
        obj["AllowOnlineCreditCardPayment"] = rng.random() < 0.2
        obj["AllowOnlineACHPayment"] = False
        if total > 0:
            self.open_invoices.append(
                {"obj": obj, "rec": rec, "balance": total, "c": c, "rate": rate, "ct": ct}
            )
        if est:
            eo = est["obj"]
            eo["TxnStatus"] = "Closed"
            eo["LinkedTxn"] = [{"TxnId": obj["Id"], "TxnType": "Invoice"}]
            est["rec"].touch(ct)
        self.recent_sales.append(obj)
        if rng.random() < 0.1:
            rec.touch(min(self.anchor - 1, ct + rng.randint(60, 20 * 86400)))

    def gen_payment(self, ct: int, ev_idx: int) -> None:  # noqa: C901, PLR0912, PLR0915 - a payment's fields and the invoices it pays
        rng = self.rng
        obj, rec = self.new_txn("Payment", ct)
        day = timefmt.pacific_date(ct)
        target = None
        if self.open_invoices:
            lo = max(0, len(self.open_invoices) - 400)
            i = rng.randrange(lo, len(self.open_invoices))
            target = self.open_invoices[i]
            if target["ct"] > ct:
                target = None
        if target is None:
            c = self.pick_customer(ct)
            amount = rng.randint(20, 900) * 100
            obj["CustomerRef"] = dict(c["ref"])
            obj["DepositToAccountRef"] = {"value": self.acct["uf"]["value"]}
            obj["TotalAmt"] = money(amount)
            obj["UnappliedAmt"] = money(amount)
            obj["ProcessPayment"] = False
            obj["TxnDate"] = day
            self.currency_fields(obj, c["cur"], day, amount)
            obj["Line"] = []
            if c["cur"] is None:
                self.undeposited.append((obj, rec, amount))
            return
        c = target["c"]
        inv = target["obj"]
        if rng.random() < 0.8 or target["balance"] < 200:
            amount = target["balance"]
        else:
            amount = target["balance"] * self.pick((25, 50, 75)) // 100
        target["balance"] -= amount
        inv["Balance"] = money(target["balance"])
        if "HomeBalance" in inv:
            inv["HomeBalance"] = money(round(target["balance"] * target["rate"]))
        inv["LinkedTxn"].append({"TxnId": obj["Id"], "TxnType": "Payment"})
        target["rec"].touch(ct)
        if target["balance"] <= 0:
            self.open_invoices[i] = self.open_invoices[-1]
            self.open_invoices.pop()
        obj["CustomerRef"] = dict(c["ref"])
        deposit_to = "uf" if (c["cur"] is None and rng.random() < 0.8) else "checking"
        if c["cur"] == "EUR":
            deposit_to = "eur_bank"
        elif c["cur"] is not None:
            deposit_to = "uf"
        obj["DepositToAccountRef"] = {"value": self.acct[deposit_to]["value"]}
        if rng.random() < 0.6:
            obj["PaymentMethodRef"] = dict(self.pick(self.pay_methods))
        if rng.random() < 0.4:
            obj["PaymentRefNum"] = str(rng.randint(1000, 99999))
        obj["TotalAmt"] = money(amount)
        obj["UnappliedAmt"] = 0
        obj["ProcessPayment"] = False
        obj["TxnDate"] = day
        if c["cur"]:
            rate = target["rate"]
            obj["CurrencyRef"] = CURRENCIES[c["cur"]][0]
            obj["ExchangeRate"] = rate
            obj["HomeTotalAmt"] = money(round(amount * rate))
        else:
            obj["CurrencyRef"] = USD
        obj["LinkedTxn"] = []
        line = {"Amount": money(amount), "LinkedTxn": [{"TxnId": inv["Id"], "TxnType": "Invoice"}]}
        if rng.random() < 0.35:
            line["LineEx"] = {
                "any": [
                    _jaxb("txnId", inv["Id"]),
                    _jaxb("txnOpenBalance", f"{(target['balance'] + amount) / 100:.2f}"),
                    _jaxb("txnReferenceNumber", inv["DocNumber"]),
                ]
            }
        obj["Line"] = [line]
        if deposit_to == "uf" and c["cur"] is None:
            self.undeposited.append((obj, rec, amount))

    def gen_sales_receipt(self, ct: int, ev_idx: int) -> None:
        rng = self.rng
        c = self.pick_customer(ct)
        obj, rec = self.new_txn("SalesReceipt", ct)
        day = self.txn_date(ct)
        obj["CustomField"] = self.custom_fields()
        obj["DocNumber"] = self.docnum("SalesReceipt", 1001)
        obj["TxnDate"] = day
        lines, subtotal, taxable, discount = self.sales_lines(taxable_ok=c["cur"] is None)
        tax, tax_roles = self.tax_detail(taxable, c)
        total = subtotal - discount + sum(tax_roles.values())
        self.currency_fields(obj, c["cur"], day, total)
        obj["Line"] = lines
        obj["TxnTaxDetail"] = tax
        obj["CustomerRef"] = dict(c["ref"])
        obj["CustomerMemo"] = THANKS
        if rng.random() < 0.7:
            obj["BillAddr"] = self.txn_addr(c)
            if c["addr"] is not None and rng.random() < 0.3:
                obj["ShipAddr"] = c["addr"]
        if rng.random() < 0.1:
            obj["PrivateNote"] = self.pick(["Paid in full", "Walk-in customer", "Cash sale"])
        if c["email"] and rng.random() < 0.5:
            obj["BillEmail"] = c["email"]
        obj["TotalAmt"] = money(total)
        obj["ApplyTaxAfterDiscount"] = False
        obj["PrintStatus"] = self.pick(["NeedToPrint", "NotSet"])
        obj["EmailStatus"] = "NotSet"
        obj["Balance"] = 0
        if rng.random() < 0.5:
            obj["PaymentMethodRef"] = dict(self.pick(self.pay_methods))
            obj["PaymentRefNum"] = str(rng.randint(1000, 99999))
        to = (
            "uf"
            if c["cur"] is None and rng.random() < 0.7
            else ("eur_bank" if c["cur"] == "EUR" else "checking")
        )
        if c["cur"] not in (None, "EUR"):
            to = "uf"
        obj["DepositToAccountRef"] = dict(self.acct[to])
        obj["LinkedTxn"] = []
        if to == "uf" and c["cur"] is None:
            self.undeposited.append((obj, rec, total))

    def gen_estimate(self, ct: int, ev_idx: int) -> None:
        c = self.pick_customer(ct)
        obj, rec = self.new_txn("Estimate", ct)
        day = self.txn_date(ct)
        obj["CustomField"] = self.custom_fields()
        obj["DocNumber"] = self.docnum("Estimate", 1001)
        obj["TxnDate"] = day
        lines, subtotal, taxable, discount = self.sales_lines(taxable_ok=c["cur"] is None)
        tax, tax_roles = self.tax_detail(taxable, c)
        total = subtotal - discount + sum(tax_roles.values())
        self.currency_fields(obj, c["cur"], day, total)
        status = self.pick(["Pending", "Pending", "Accepted", "Rejected"])
        obj["TxnStatus"] = status
        obj["LinkedTxn"] = []
        obj["Line"] = lines
        obj["TxnTaxDetail"] = tax
        obj["CustomerRef"] = dict(c["ref"])
        obj["CustomerMemo"] = THANKS
        obj["BillAddr"] = self.txn_addr(c)
        if c["addr"] is not None and self.rng.random() < 0.5:
            obj["ShipAddr"] = c["addr"]
        obj["TotalAmt"] = money(total)
        obj["ApplyTaxAfterDiscount"] = False
        obj["PrintStatus"] = "NeedToPrint"
        obj["EmailStatus"] = self.pick(["NotSet", "EmailSent"])
        obj["ExpirationDate"] = timefmt.add_days(day, 30)
        if c["email"]:
            obj["BillEmail"] = c["email"]
        if c["email"] and self.rng.random() < 0.3:
            obj["DeliveryInfo"] = {"DeliveryType": "Email"}
        if status != "Rejected":
            self.open_estimates.append(
                {
                    "obj": obj,
                    "rec": rec,
                    "customer": c,
                    "lines": lines,
                    "subtotal": subtotal,
                    "taxable": taxable,
                    "discount": discount,
                }
            )
            if len(self.open_estimates) > 300:
                self.open_estimates.pop(0)

    def gen_credit_memo(self, ct: int, ev_idx: int, refund: bool = False) -> None:
        rng = self.rng
        c = self.pick_customer(ct)
        entity = "RefundReceipt" if refund else "CreditMemo"
        obj, _rec = self.new_txn(entity, ct)
        day = self.txn_date(ct)
        obj["CustomField"] = self.custom_fields()
        obj["DocNumber"] = self.docnum(entity, 2001 if refund else 3001)
        obj["TxnDate"] = day
        lines, subtotal, taxable, _discount = self.sales_lines(
            allow_discount=False, taxable_ok=c["cur"] is None
        )
        tax, tax_roles = self.tax_detail(taxable, c)
        total = subtotal + sum(tax_roles.values())
        self.currency_fields(obj, c["cur"], day, total)
        obj["Line"] = lines
        obj["TxnTaxDetail"] = tax
        obj["CustomerRef"] = dict(c["ref"])
        obj["CustomerMemo"] = THANKS
        obj["BillAddr"] = self.txn_addr(c)
        obj["TotalAmt"] = money(total)
        obj["ApplyTaxAfterDiscount"] = False
        obj["PrintStatus"] = "NotSet"
        obj["EmailStatus"] = "NotSet"
        if refund:
            obj["Balance"] = 0
            obj["PaymentMethodRef"] = dict(self.pick(self.pay_methods))
            bank = "eur_bank" if c["cur"] == "EUR" else "checking"
            if c["cur"] not in (None, "EUR"):
                bank = "checking"
            obj["DepositToAccountRef"] = dict(self.acct[bank])
            obj["PaymentRefNum"] = str(rng.randint(1000, 99999))
        else:
            obj["RemainingCredit"] = money(total)
            obj["Balance"] = money(total)
