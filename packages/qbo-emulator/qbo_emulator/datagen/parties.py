"""Customers (with sub-customers and jobs), vendors and employees, created over time."""

from __future__ import annotations

from .. import timefmt
from .core import _num
from .vocabulary import BIZ_A, BIZ_B, CURRENCIES, FIRST, LAST, USD, VENDOR_B


class Parties:
    def created_times(self, n: int, setup_share: float, chunk: int) -> list[int]:
        """Creation times: a share imported at setup in same-second chunks, the rest spread."""
        rng = self.rng
        times = []
        n_setup = int(n * setup_share)
        base = self.setup_time(60)
        for i in range(n_setup):
            times.append(base + (i // chunk) * 7)
        lo, hi = self.t0 + 86400, self.anchor - 3600
        times.extend(rng.randint(lo, hi) for _ in range(n - n_setup))
        times.sort()
        return times

    def unique(self, name: str) -> str:
        if name not in self.used_names:
            self.used_names.add(name)
            return name
        i = 2
        while f"{name} {i}" in self.used_names:
            i += 1
        self.used_names.add(f"{name} {i}")
        return f"{name} {i}"

    def gen_customers(self) -> None:  # noqa: C901, PLR0912, PLR0915 - a customer's fields, each present with QBO's own odds
        rng = self.rng
        self.used_names: set[str] = set()
        n = self.counts["Customer"]
        times = self.created_times(n, 0.55, 40)
        self.customers: list[dict] = []  # {"ref","ct","cur","until","obj","parent"}
        self.cust_times: list[int] = []
        for i, ct in enumerate(times):
            obj = self.base("Customer")
            full = i in (1, 2)  # a couple of records carry every optional field
            person = rng.random() < 0.45 and not full
            given, family = self.pick(FIRST), self.pick(LAST)
            parent = None
            if i >= 4 and (i % 9 == 4 or rng.random() < 0.04):  # jobs (sub-customers)
                parent = self.pick(self.customers[-50:])
                if parent["parent"] is not None:
                    parent = parent["parent"]
            if person:
                display = self.unique(f"{given} {family}")
                company = None
            else:
                if i == 1 or rng.random() < 0.15:  # apostrophes: a query-escaping trap
                    company = self.unique(f"{given}'s {self.pick(BIZ_A)} {self.pick(BIZ_B)}")
                else:
                    company = self.unique(f"{self.pick(BIZ_A)} {self.pick(BIZ_B)}")
                display = company
            cur = None
            if parent is None and rng.random() < 0.08:
                cur = self.pick(list(CURRENCIES))
            elif parent is not None:
                cur = parent["cur"]
            taxable = full or rng.random() < 0.6
            obj["Taxable"] = taxable
            addr = self.address(full=full)
            if full or rng.random() < 0.85:
                obj["BillAddr"] = addr
            if full or rng.random() < 0.5:
                obj["ShipAddr"] = dict(addr) if rng.random() < 0.7 else self.address()
            obj["Job"] = parent is not None
            obj["BillWithParent"] = parent is not None and rng.random() < 0.7
            if parent is not None:
                obj["ParentRef"] = {"value": parent["ref"]["value"]}
                obj["Level"] = 1
            obj["Balance"] = 0
            obj["BalanceWithJobs"] = 0
            obj["CurrencyRef"] = CURRENCIES[cur][0] if cur else USD
            obj["PreferredDeliveryMethod"] = self.pick(["Print", "Email", "None"])
            if full or rng.random() < 0.7:
                obj["GivenName"] = given
                obj["FamilyName"] = family
                if full or rng.random() < 0.12:
                    obj["MiddleName"] = self.pick("ABCDEJKLMR")
            fq = display if parent is None else f"{parent['obj']['FullyQualifiedName']}:{display}"
            obj["FullyQualifiedName"] = fq
            if company:
                obj["CompanyName"] = company
            obj["DisplayName"] = display
            obj["PrintOnCheckName"] = company or display
            obj["Active"] = True
            if full or rng.random() < 0.75:
                obj["PrimaryPhone"] = self.phone()
            if full or rng.random() < 0.1:
                obj["Mobile"] = self.phone()
            if full or rng.random() < 0.08:
                obj["Fax"] = self.phone()
            if full or rng.random() < 0.7:
                handle = display.split()[0].strip("'.,").lower()
                obj["PrimaryEmailAddr"] = {"Address": f"{handle}{rng.randint(1, 99)}@example.com"}
            if full or rng.random() < 0.15:
                obj["WebAddr"] = {"URI": f"http://www.{display.split()[0].lower().strip('.,')}.com"}
            if full or (taxable and rng.random() < 0.4):
                obj["DefaultTaxCodeRef"] = {"value": self.pick(self.tax_codes)[0]}
            if rng.random() < 0.3:
                obj["SalesTermRef"] = {"value": self.pick(self.terms)[0]["value"]}
            if rng.random() < 0.2:
                obj["CustomerTypeRef"] = {"value": self.pick(self.customer_types)["value"]}
            if rng.random() < 0.05:
                obj["Notes"] = "Prefers morning visits."
            rec = self.add("Customer", obj, ct)
            c = {
                "ref": {"value": obj["Id"], "name": display},
                "ct": ct,
                "cur": cur,
                "until": None,
                "obj": obj,
                "parent": parent,
                "rec": rec,
                "addr": addr,
                "email": obj.get("PrimaryEmailAddr"),
            }
            self.customers.append(c)
            self.cust_times.append(ct)
        # Some customers go inactive late in the history.
        for c in rng.sample(self.customers, max(1, n // 20)):
            lo = max(c["ct"] + 86400, self.anchor - 400 * 86400)
            if lo < self.anchor - 600:
                c["until"] = rng.randint(lo, self.anchor - 600)

    def gen_vendors(self) -> None:  # noqa: C901, PLR0912, PLR0915 - a vendor's fields, each present with QBO's own odds
        rng = self.rng
        n = self.counts["Vendor"]
        times = self.created_times(n, 0.5, 25)
        self.vendors: list[dict] = []
        self.vend_times: list[int] = []
        for i, ct in enumerate(times):
            obj = self.base("Vendor")
            full = i in (1, 2)
            person = rng.random() < 0.3 or i == 1
            given, family = self.pick(FIRST), self.pick(LAST)
            if person:
                display = self.unique(f"{given} {family}")
                company = None
            else:
                if i == 2 or rng.random() < 0.12:  # ampersands must be URL-encoded as %26
                    company = self.unique(
                        f"{self.pick(LAST)} & {self.pick(LAST)} {self.pick(VENDOR_B)}"
                    )
                else:
                    company = self.unique(f"{self.pick(LAST)} {self.pick(VENDOR_B)}")
                display = company
            if full or rng.random() < 0.6:
                obj["BillAddr"] = self.address(full=full)
            obj["Balance"] = 0
            if full or rng.random() < 0.5:
                obj["AcctNum"] = f"{rng.randint(10**6, 10**11):011d}"
            obj["Vendor1099"] = rng.random() < 0.1
            obj["CurrencyRef"] = USD
            if person or rng.random() < 0.25:
                if full or rng.random() < 0.3:
                    obj["Title"] = self.pick(["Mr.", "Ms.", "Dr."])
                obj["GivenName"] = given
                if full or rng.random() < 0.3:
                    obj["MiddleName"] = self.pick("ABCDEJKLMR")
                obj["FamilyName"] = family
                if full or rng.random() < 0.1:
                    obj["Suffix"] = self.pick(["Jr.", "Sr.", "III"])
            if company:
                obj["CompanyName"] = company
            obj["DisplayName"] = display
            obj["PrintOnCheckName"] = display
            obj["Active"] = True
            if full or rng.random() < 0.6:
                obj["PrimaryPhone"] = self.phone()
            if full or rng.random() < 0.25:
                obj["Mobile"] = self.phone()
            if full or rng.random() < 0.15:
                obj["Fax"] = self.phone()
            if full or rng.random() < 0.4:
                obj["PrimaryEmailAddr"] = {"Address": f"billing{rng.randint(1, 999)}@example.net"}
            if full or rng.random() < 0.3:
                obj["WebAddr"] = {"URI": f"http://www.vendor{rng.randint(1, 9999)}.com"}
            if full or rng.random() < 0.2:
                obj["TermRef"] = {"value": self.pick(self.terms)[0]["value"]}
            if full or rng.random() < 0.1:
                obj["TaxIdentifier"] = f"XXXXXX{rng.randint(1000, 9999)}"
            rec = self.add("Vendor", obj, ct)
            self.vendors.append(
                {
                    "ref": {"value": obj["Id"], "name": display},
                    "ct": ct,
                    "until": None,
                    "obj": obj,
                    "rec": rec,
                }
            )
            self.vend_times.append(ct)
        for v in rng.sample(self.vendors, max(1, n // 25)):
            lo = max(v["ct"] + 86400, self.anchor - 500 * 86400)
            if lo < self.anchor - 600:
                v["until"] = rng.randint(lo, self.anchor - 600)

    def gen_employees(self) -> None:
        rng = self.rng
        n = self.counts["Employee"]
        times = self.created_times(n, 0.6, 10)
        self.employees = []
        for i, ct in enumerate(times):
            obj = self.base("Employee")
            given, family = self.pick(FIRST), self.pick(LAST)
            display = self.unique(f"{given} {family}")
            obj["BillableTime"] = rng.random() < 0.5
            if obj["BillableTime"]:
                obj["BillRate"] = _num(self.pick([4500, 5000, 6500, 7500]))
            if rng.random() < 0.7:
                obj["BirthDate"] = (
                    f"{rng.randint(1960, 2000)}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"
                )
            obj["HiredDate"] = timefmt.pacific_date(ct)
            obj["GivenName"] = given
            obj["FamilyName"] = family
            obj["DisplayName"] = display
            obj["PrintOnCheckName"] = display
            obj["Active"] = True
            obj["EmployeeNumber"] = f"E{i + 1:04d}"
            if rng.random() < 0.6:
                obj["PrimaryPhone"] = self.phone()
            if rng.random() < 0.5:
                obj["PrimaryAddr"] = self.address()
            if rng.random() < 0.5:
                obj["SSN"] = f"XXX-XX-{rng.randint(1000, 9999)}"
            rec = self.add("Employee", obj, ct)
            self.employees.append(
                {"ref": {"value": obj["Id"], "name": display}, "ct": ct, "rec": rec, "obj": obj}
            )
        # The last-hired but one left the company.
        if len(self.employees) > 3:
            e = self.employees[1]
            e["obj"]["Active"] = False
            e["obj"]["DisplayName"] += " (deleted)"
            e["obj"]["ReleasedDate"] = timefmt.pacific_date(self.anchor - 200 * 86400)
            e["rec"].touch(self.anchor - 200 * 86400)
            self.employees.pop(1)
