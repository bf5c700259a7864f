"""The rest of a company's life: time activities, inventory adjustments, reimburse charges,
attachables and recurring templates."""

from __future__ import annotations

from .. import timefmt
from ..store import money
from .core import _num
from .vocabulary import CUSTOM_FIELD, USD


class Other:
    def gen_time_activity(self, ct: int, ev_idx: int) -> None:
        rng = self.rng
        obj, _rec = self.new_txn("TimeActivity", ct)
        obj["TxnDate"] = self.txn_date(ct)
        if rng.random() < 0.8 or not self.vendors:
            e = self.pick(self.employees)
            obj["NameOf"] = "Employee"
            obj["EmployeeRef"] = dict(e["ref"])
        else:
            v = self.pick_vendor(ct)
            obj["NameOf"] = "Vendor"
            obj["VendorRef"] = dict(v["ref"])
        c = self.pick_customer(ct)
        obj["CustomerRef"] = dict(c["ref"])
        it = self.pick(self.items_service)
        obj["ItemRef"] = dict(it["ref"])
        billable = rng.random() < 0.6
        obj["BillableStatus"] = "Billable" if billable else "NotBillable"
        obj["Taxable"] = False
        if billable:
            obj["HourlyRate"] = _num(it["price"])
        obj["Hours"] = rng.randint(0, 8)
        obj["Minutes"] = self.pick((0, 15, 30, 45))
        if rng.random() < 0.6:
            obj["Description"] = self.pick(
                ["Site visit", "Weekly maintenance", "Design review", "Installation work"]
            )

    def gen_inventory_adjustment(self, ct: int, ev_idx: int) -> None:
        inv_items = [i for i in self.items_product if i["kind"] == "Inventory"]
        obj, _rec = self.new_txn("InventoryAdjustment", ct)
        obj["DocNumber"] = self.docnum("InventoryAdjustment", 1)
        obj["TxnDate"] = timefmt.pacific_date(ct)
        obj["AdjustAccountRef"] = dict(self.acct["shrinkage"])
        lines = []
        for lid, it in enumerate(
            self.rng.sample(inv_items, min(len(inv_items), self.rng.randint(1, 2)))
        ):
            diff = -self.rng.randint(1, 5)
            it["qty"] += diff
            lines.append(
                {
                    "Id": str(lid + 1),
                    "DetailType": "ItemAdjustmentLineDetail",
                    "ItemAdjustmentLineDetail": {"ItemRef": dict(it["ref"]), "QtyDiff": diff},
                    "_cost": max(it["cost"], 100) * -diff,
                }
            )
        obj["Line"] = lines
        obj["PrivateNote"] = "Cycle count"

    def gen_reimburse_charge(self, ct: int, ev_idx: int) -> None:
        c = self.pick_customer(ct)
        obj, _rec = self.new_txn("ReimburseCharge", ct)
        amount = self.rng.randint(10, 400) * 100
        obj["Amount"] = money(amount)
        obj["CustomerRef"] = dict(c["ref"])
        obj["HasBeenInvoiced"] = self.rng.random() < 0.3
        obj["Line"] = [
            {
                "Id": "1",
                "LineNum": 1,
                "Amount": money(amount),
                "DetailType": "ReimburseLineDetail",
                "ReimburseLineDetail": {
                    "ItemAccountRef": dict(self.ref("exp_materials")),
                    "TaxCodeRef": {"value": "NON"},
                },
            }
        ]
        obj["TxnDate"] = self.txn_date(ct)
        obj["CurrencyRef"] = USD
        obj["ExchangeRate"] = 1

    def gen_attachable(self, ct: int, ev_idx: int) -> None:
        rng = self.rng
        key = self.next_id("Attachable")
        obj = {}
        target = self.pick(self.recent_sales[-500:]) if self.recent_sales else None
        if rng.random() < 0.85:
            ext, ctype = self.pick(
                [
                    ("pdf", "application/pdf"),
                    ("jpg", "image/jpeg"),
                    ("png", "image/png"),
                    ("xml", "text/xml"),
                ]
            )
            stem = self.pick(["receipt", "contract", "photo", "scan", "signed"])
            fname = f"{stem}_{rng.randint(1, 9999)}.{ext}"
            obj["FileName"] = fname
            obj["FileAccessUri"] = f"/v3/company/{self.realm}/download/{key}"
            obj["TempDownloadUri"] = (
                f"https://intuit-qbo-prod-23.s3.amazonaws.com/{self.realm}/attachments/"
                f"{rng.getrandbits(64):016x}{fname}?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Expires=900"
            )
            obj["Size"] = rng.randint(500, 3_000_000)
            obj["ContentType"] = ctype
        else:
            obj["Note"] = self.pick(
                ["Call before delivery", "Signed copy on file", "Customer prefers email"]
            )
        obj.update(
            {"domain": "QBO", "sparse": False, "Id": key, "SyncToken": "0", "MetaData": None}
        )
        if target is not None:
            obj["AttachableRef"] = [
                {"EntityRef": {"value": target["Id"], "type": "Invoice"}, "IncludeOnSend": False}
            ]
        self.add("Attachable", obj, ct)

    def gen_recurring(self, ct: int, ev_idx: int) -> None:
        rng = self.rng
        c = self.pick_customer(ct)
        key = self.next_id("RecurringTransaction")
        lines, subtotal, _taxable, _discount = self.sales_lines(
            allow_discount=False, taxable_ok=False
        )
        day = timefmt.pacific_date(ct)
        tmpl = {
            "RecurDataRef": {"value": key},
            "RecurringInfo": {
                "Name": f"Monthly {c['ref']['name']}"[:100],
                "RecurType": "Automated",
                "Active": True,
                "ScheduleInfo": {
                    "IntervalType": "Monthly",
                    "NumInterval": 1,
                    "DayOfMonth": 1,
                    "StartDate": day,
                    "NextDate": timefmt.add_days(timefmt.pacific_date(self.anchor), 20),
                },
            },
            "domain": "QBO",
            "sparse": False,
            "Id": key,
            "SyncToken": "0",
            "MetaData": None,
            "CustomField": [CUSTOM_FIELD],
            "CurrencyRef": USD,
            "Line": lines,
            "TxnTaxDetail": {"TotalTax": 0},
            "CustomerRef": dict(c["ref"]),
            "TotalAmt": money(subtotal),
            "ApplyTaxAfterDiscount": False,
            "PrintStatus": "NeedToPrint",
            "EmailStatus": "NotSet",
            "Balance": money(subtotal),
        }
        self.add("RecurringTransaction", {"Invoice": tmpl}, ct, key=key)
        if rng.random() < 0.5:
            self.by_key[("RecurringTransaction", key)].touch(
                min(self.anchor - 1, ct + 86400 * rng.randint(1, 90))
            )
