"""Items of every type, and the budgets."""

from __future__ import annotations

from .. import timefmt
from ..store import money
from .core import _num
from .vocabulary import BIZ_A, HISTORY_DAYS, PRODUCT_ITEMS, SERVICE_ITEMS


class Items:
    def gen_items(self) -> None:  # noqa: C901, PLR0912, PLR0915 - one block per item type QBO has
        rng = self.rng
        t = self.setup_time(5)
        self.items_service: list[dict] = []
        self.items_product: list[dict] = []
        self.item_objs: dict[str, dict] = {}
        cats = []
        for name in ["Landscaping", "Garden Supplies"]:
            obj = self.base("Item")
            obj.update(
                {
                    "Name": name,
                    "Active": True,
                    "SubItem": False,
                    "FullyQualifiedName": name,
                    "Taxable": False,
                    "Type": "Category",
                    "Level": 0,
                }
            )
            self.add("Item", obj, t)
            cats.append(obj)
        n = self.counts["Item"]
        for i in range(n):
            obj = self.base("Item")
            if i < len(SERVICE_ITEMS):
                name, price, role = SERVICE_ITEMS[i]
                kind = "Service"
                cost = 0
            elif i < len(SERVICE_ITEMS) + len(PRODUCT_ITEMS):
                name, price, cost = PRODUCT_ITEMS[i - len(SERVICE_ITEMS)]
                role = "inc_product"
                kind = "Inventory" if rng.random() < 0.7 else "NonInventory"
            else:
                kind = self.pick(["Service", "Service", "NonInventory", "Inventory"])
                name = f"{self.pick(BIZ_A)} {'Service' if kind == 'Service' else 'Part'} {i}"
                price = self.pick([500, 1250, 2000, 3500, 5000, 7500, 9900, 15000])
                cost = price * self.pick([40, 50, 60]) // 100 // 2 * 2
                role = (
                    self.pick(["inc_services", "inc_landscape"])
                    if kind == "Service"
                    else "inc_product"
                )
            price = price // 2 * 2  # even cents so half quantities stay whole cents
            cat = None
            if kind != "Service" and rng.random() < 0.4:
                cat = cats[1]
            elif kind == "Service" and rng.random() < 0.3:
                cat = cats[0]
            obj["Name"] = name
            obj["Description"] = name if rng.random() < 0.6 else f"{name} - standard"
            obj["Active"] = True
            if cat:
                obj["SubItem"] = True
                obj["ParentRef"] = {"value": cat["Id"], "name": cat["Name"]}
                obj["Level"] = 1
                obj["FullyQualifiedName"] = f"{cat['Name']}:{name}"
            else:
                obj["FullyQualifiedName"] = name
            obj["Taxable"] = kind != "Service"
            obj["UnitPrice"] = _num(price)
            obj["Type"] = kind
            obj["IncomeAccountRef"] = self.ref(role)
            obj["PurchaseDesc"] = name if kind != "Service" else ""
            obj["PurchaseCost"] = _num(cost)
            if kind != "Service":
                obj["ExpenseAccountRef"] = self.ref("cogs")
            if kind == "Inventory":
                obj["AssetAccountRef"] = self.ref("inventory")
                obj["TrackQtyOnHand"] = True
                obj["QtyOnHand"] = 0
                obj["InvStartDate"] = timefmt.pacific_date(self.t0)
            else:
                obj["TrackQtyOnHand"] = False
            if rng.random() < 0.5:
                obj["Sku"] = f"SKU-{i + 100:05d}"
            ct = t if i < 18 else self.t0 + rng.randint(3600, HISTORY_DAYS * 80000)
            self.add("Item", obj, ct)
            entry = {
                "ref": {"value": obj["Id"], "name": name},
                "price": price,
                "cost": cost,
                "income": role,
                "kind": kind,
                "ct": ct,
                "obj": obj,
                "qty": rng.randint(20, 200) if kind == "Inventory" else 0,
            }
            self.item_objs[obj["Id"]] = entry
            (self.items_service if kind == "Service" else self.items_product).append(entry)
        # An old item, made inactive.
        obj = self.base("Item")
        obj.update(
            {
                "Name": "Hedge Trimming (deleted)",
                "Active": False,
                "FullyQualifiedName": "Hedge Trimming (deleted)",
                "Taxable": False,
                "UnitPrice": 30,
                "Type": "Service",
                "IncomeAccountRef": self.ref("inc_landscape"),
                "PurchaseCost": 0,
                "TrackQtyOnHand": False,
            }
        )
        self.add("Item", obj, t).touch(t + 120 * 86400)

    def gen_budget(self) -> None:
        year = int(timefmt.pacific_date(self.anchor)[:4])
        for y in (year - 1, year):
            obj = self.base("Budget")
            details = []
            for mo in range(1, 13):
                for role in ("inc_services", "inc_landscape", "exp_rent", "exp_util", "exp_ads"):
                    amt = self.rng.randint(50, 900) * 1000
                    details.append(
                        {
                            "BudgetDate": f"{y}-{mo:02d}-01",
                            "Amount": money(amt),
                            "AccountRef": dict(self.ref(role)),
                        }
                    )
            obj.update(
                {
                    "Name": f"FY{y} Budget",
                    "StartDate": f"{y}-01-01",
                    "EndDate": f"{y}-12-31",
                    "BudgetType": "ProfitAndLoss",
                    "BudgetEntryType": "Monthly",
                    "Active": y == year,
                    "BudgetDetail": details,
                }
            )
            if y != year:
                obj["Name"] += " (deleted)"
            ct = max(self.t0 + 86400, timefmt.local_epoch(y - 1, 12, 15, 10))
            ct = min(ct, self.anchor - 86400 * 2)
            rec = self.add("Budget", obj, ct)
            if y != year:
                rec.touch(self.anchor - 40 * 86400)
