"""The company and its setup lists: company info and preferences, currencies and rates, the
chart of accounts, simple lists (classes, departments, terms, ...) and taxes."""

from __future__ import annotations

import bisect

from .. import timefmt
from .core import _num
from .vocabulary import BIZ_A, BIZ_B, CHART, CURRENCIES, EXPENSE_ROLES, HISTORY_DAYS, THANKS, USD


class Lists:
    def gen_company(self) -> None:
        rng = self.rng
        t = self.setup_time()
        name = f"{self.pick(BIZ_A)} {self.pick(BIZ_B)} {self.pick(['LLC', 'Inc.', 'Co.'])}"
        self.company_name = name
        addr = {
            "Id": "1",
            "Line1": "2500 Garcia Ave",
            "City": "Mountain View",
            "CountrySubDivisionCode": "CA",
            "PostalCode": "94043",
            "Country": "USA",
        }
        self.addr_seq = 2
        info = {
            "CompanyName": name,
            "LegalName": name,
            "CompanyAddr": dict(addr),
            "CustomerCommunicationAddr": dict(addr),
            "LegalAddr": dict(addr),
            "PrimaryPhone": {"FreeFormNumber": "(650) 944-4444"},
            "CompanyStartDate": timefmt.pacific_date(t),
            "FiscalYearStartMonth": "January",
            "Country": "US",
            "Email": {"Address": "noreply@quickbooks.com"},
            "WebAddr": {},
            "SupportedLanguages": "en",
            "DefaultTimeZone": "America/Los_Angeles",
            "NameValue": [
                {"Name": "NeoEnabled", "Value": "true"},
                {"Name": "IndustryType", "Value": "Landscaping Services"},
                {"Name": "IndustryCode", "Value": "561730"},
                {"Name": "SubscriptionStatus", "Value": "PAID"},
                {"Name": "OfferingSku", "Value": "QuickBooks Online Plus"},
                {"Name": "PayrollFeature", "Value": "false"},
                {"Name": "AccountantFeature", "Value": "false"},
                {"Name": "ItemCategoriesFeature", "Value": "true"},
            ],
            "domain": "QBO",
            "sparse": False,
            "Id": "1",
            "SyncToken": "0",
            "MetaData": None,
        }
        rec = self.add("CompanyInfo", info, t)
        rec.touch(self.anchor - rng.randint(86400, 200 * 86400))
        prefs = {
            "AccountingInfoPrefs": {
                "TrackDepartments": True,
                "DepartmentTerminology": "Location",
                "ClassTrackingPerTxn": False,
                "ClassTrackingPerTxnLine": True,
                "CustomerTerminology": "Customers",
                "BookCloseDate": timefmt.add_days(timefmt.pacific_date(self.anchor), -400)[:4]
                + "-12-31",
            },
            "ProductAndServicesPrefs": {
                "ForSales": True,
                "ForPurchase": True,
                "QuantityWithPriceAndRate": True,
                "QuantityOnHand": True,
            },
            "SalesFormsPrefs": {
                "CustomField": [
                    {
                        "CustomField": [
                            {
                                "Name": "SalesFormsPrefs.UseSalesCustom1",
                                "Type": "BooleanType",
                                "BooleanValue": True,
                            },
                            {
                                "Name": "SalesFormsPrefs.UseSalesCustom2",
                                "Type": "BooleanType",
                                "BooleanValue": False,
                            },
                        ]
                    },
                    {
                        "CustomField": [
                            {
                                "Name": "SalesFormsPrefs.SalesCustomName1",
                                "Type": "StringType",
                                "StringValue": "Crew #",
                            }
                        ]
                    },
                ],
                "AllowDeposit": True,
                "AllowDiscount": True,
                "DefaultDiscountAccount": "86",
                "AllowEstimates": True,
                "ETransactionEnabledStatus": "NotApplicable",
                "IPNSupportEnabled": False,
                "AllowServiceDate": False,
                "AllowShipping": False,
                "DefaultTerms": {"value": "3"},
                "UsingPriceLevels": False,
            },
            "EmailMessagesPrefs": {
                "InvoiceMessage": {
                    "Subject": "Invoice from {company}",
                    "Message": "Your invoice is attached.",
                }
            },
            "VendorAndPurchasesPrefs": {
                "TrackingByCustomer": True,
                "BillableExpenseTracking": True,
                "POCustomField": [
                    {
                        "CustomField": [
                            {
                                "Name": "PurchasePrefs.UsePurchaseCustom1",
                                "Type": "BooleanType",
                                "BooleanValue": True,
                            }
                        ]
                    }
                ],
            },
            "TimeTrackingPrefs": {
                "UseServices": True,
                "BillCustomers": True,
                "ShowBillRateToAll": False,
                "WorkWeekStartDate": "Monday",
                "MarkTimeEntriesBillable": True,
            },
            "TaxPrefs": {"UsingSalesTax": True, "PartnerTaxEnabled": True},
            "CurrencyPrefs": {"MultiCurrencyEnabled": True, "HomeCurrency": {"value": "USD"}},
            "ReportPrefs": {"ReportBasis": "Accrual", "CalcAgingReportFromTxnDate": False},
            "OtherPrefs": {
                "NameValue": [
                    {"Name": "SalesFormsPrefs.DefaultCustomerMessage", "Value": THANKS["value"]},
                    {"Name": "VendorAndPurchasesPrefs.UseMasterCard", "Value": "true"},
                    {"Name": "DTXCopyMemo", "Value": "false"},
                ]
            },
            "domain": "QBO",
            "sparse": False,
            "Id": "1",
            "SyncToken": "0",
            "MetaData": None,
        }
        rec = self.add("Preferences", prefs, t)
        rec.touch(self.anchor - rng.randint(86400, 300 * 86400))

    def gen_currencies(self) -> None:
        t = self.setup_time(30)
        for code, (ref, _rate) in CURRENCIES.items():
            obj = self.base("CompanyCurrency")
            obj.update({"Code": code, "Name": ref["name"], "Active": True})
            self.add("CompanyCurrency", obj, t)
        # Monthly rates (first of each month), a random walk around the base rate.
        self.rates: dict[str, list[tuple[str, float]]] = {}
        for code, (_ref, base_rate) in CURRENCIES.items():
            rate = base_rate
            series = []
            y, m = (int(x) for x in timefmt.pacific_date(self.t0)[:7].split("-"))
            end = timefmt.pacific_date(self.anchor)[:7]
            while f"{y:04d}-{m:02d}" <= end:
                day = f"{y:04d}-{m:02d}-01"
                rate = round(max(0.3, rate * (1 + self.rate_rng.uniform(-0.02, 0.02))), 4)
                series.append((day, rate))
                stamp = max(self.t0 + 3600, timefmt.date_epoch(day) + 6 * 3600 + 1)
                obj = {
                    "SyncToken": "0",
                    "domain": "QBO",
                    "AsOfDate": day,
                    "SourceCurrencyCode": code,
                    "Rate": rate,
                    "sparse": False,
                    "TargetCurrencyCode": "USD",
                    "MetaData": None,
                }
                self.add("ExchangeRate", obj, stamp, key=f"{code}:{day}")
                m += 1
                if m == 13:
                    y, m = y + 1, 1
            self.rates[code] = series

    def rate_for(self, code: str, day: str) -> float:
        series = self.rates[code]
        i = bisect.bisect_right(series, (day, 1e9)) - 1
        return series[max(i, 0)][1]

    def gen_accounts(self) -> None:
        t = self.setup_time(1)
        roles: dict[str, dict] = {}
        for name, atype, sub, cls, role, parent in CHART:
            obj = self.base("Account")
            fq = name if parent is None else f"{roles[parent]['FullyQualifiedName']}:{name}"
            obj.update({"Name": name, "SubAccount": parent is not None})
            if parent is not None:
                obj["ParentRef"] = {"value": roles[parent]["Id"]}
            obj.update(
                {
                    "FullyQualifiedName": fq,
                    "Active": True,
                    "Classification": cls,
                    "AccountType": atype,
                    "AccountSubType": sub,
                    "CurrentBalance": 0,
                    "CurrentBalanceWithSubAccounts": 0,
                    "CurrencyRef": USD,
                }
            )
            roles[role] = obj
            self.acct[role] = {"value": obj["Id"], "name": name}
            self.add("Account", obj, t)
        self.account_objs = roles
        # Extra expense sub-accounts for bigger companies; a few inactive.
        extra = self.counts["ExtraAccounts"]
        self.expense_roles = list(EXPENSE_ROLES)
        for i in range(extra):
            parent_role = self.pick(["exp_office", "exp_job", "exp_util", "exp_legal"])
            parent = roles[parent_role]
            name = f"{parent['Name']} {i + 1:03d}"
            obj = self.base("Account")
            obj.update(
                {
                    "Name": name,
                    "SubAccount": True,
                    "ParentRef": {"value": parent["Id"]},
                    "FullyQualifiedName": f"{parent['FullyQualifiedName']}:{name}",
                    "Active": True,
                    "Classification": "Expense",
                    "AccountType": "Expense",
                    "AccountSubType": parent["AccountSubType"],
                    "AcctNum": f"6{i:04d}",
                    "CurrentBalance": 0,
                    "CurrentBalanceWithSubAccounts": 0,
                    "CurrencyRef": USD,
                }
            )
            role = f"extra{i}"
            roles[role] = obj
            self.acct[role] = {"value": obj["Id"], "name": name}
            self.add("Account", obj, self.t0 + self.rng.randint(86400, HISTORY_DAYS * 43000))
            self.expense_roles.append(role)
        # A foreign-currency bank account.
        obj = self.base("Account")
        obj.update(
            {
                "Name": "Euro Checking",
                "SubAccount": False,
                "FullyQualifiedName": "Euro Checking",
                "Active": True,
                "Classification": "Asset",
                "AccountType": "Bank",
                "AccountSubType": "Checking",
                "CurrentBalance": 0,
                "CurrentBalanceWithSubAccounts": 0,
                "CurrencyRef": CURRENCIES["EUR"][0],
            }
        )
        roles["eur_bank"] = obj
        self.acct["eur_bank"] = {"value": obj["Id"], "name": obj["Name"]}
        self.add("Account", obj, t + 600)
        # One old, now inactive account.
        obj = self.base("Account")
        obj.update(
            {
                "Name": "Petty Cash (deleted)",
                "SubAccount": False,
                "FullyQualifiedName": "Petty Cash (deleted)",
                "Active": False,
                "Classification": "Asset",
                "AccountType": "Bank",
                "AccountSubType": "CashOnHand",
                "CurrentBalance": 0,
                "CurrentBalanceWithSubAccounts": 0,
                "CurrencyRef": USD,
            }
        )
        rec = self.add("Account", obj, t)
        rec.touch(self.t0 + 200 * 86400)

    def gen_simple_lists(self) -> None:  # noqa: C901, PLR0912, PLR0915 - one block per simple list QBO has, each a few rows
        rng = self.rng
        t = self.setup_time(2)
        terms = [
            ("Due on receipt", 0, None),
            ("Net 10", 10, None),
            ("Net 15", 15, None),
            ("Net 30", 30, None),
            ("Net 60", 60, None),
            ("1% 10 Net 30", 30, (1, 10)),
        ]
        self.terms = []
        for name, days, disc in terms:
            obj = self.base("Term")
            obj.update({"Name": name, "Active": True, "Type": "STANDARD", "DueDays": days})
            if disc:
                obj["DiscountPercent"], obj["DiscountDays"] = disc
            self.add("Term", obj, t)
            self.terms.append(({"value": obj["Id"], "name": name}, days))
        obj = self.base("Term")
        obj.update({"Name": "Net 45 (deleted)", "Active": False, "Type": "STANDARD", "DueDays": 45})
        self.add("Term", obj, t).touch(t + 90 * 86400)

        self.pay_methods = []
        for name, typ in [
            ("Cash", "NON_CREDIT_CARD"),
            ("Check", "NON_CREDIT_CARD"),
            ("Visa", "CREDIT_CARD"),
            ("MasterCard", "CREDIT_CARD"),
            ("American Express", "CREDIT_CARD"),
            ("Discover", "CREDIT_CARD"),
            ("Diners Club", "CREDIT_CARD"),
        ]:
            obj = self.base("PaymentMethod")
            obj.update({"Name": name, "Active": True, "Type": typ})
            self.add("PaymentMethod", obj, t)
            self.pay_methods.append({"value": obj["Id"], "name": name})
        obj = self.base("PaymentMethod")
        obj.update({"Name": "Bitcoin (deleted)", "Active": False, "Type": "NON_CREDIT_CARD"})
        self.add("PaymentMethod", obj, t + 86400).touch(t + 400 * 86400)

        self.classes = []
        base_classes = ["Landscaping", "Design", "Maintenance", "Retail", "Commercial"]
        n = self.counts["Class"]
        for i in range(n):
            obj = self.base("Class")
            if i < len(base_classes):
                name, parent = base_classes[i], None
            else:
                parent = self.pick(self.classes[: len(base_classes)])
                name = f"{parent['name']} {i - len(base_classes) + 1}"
            obj["Name"] = name
            obj["SubClass"] = parent is not None
            if parent:
                obj["ParentRef"] = {"value": parent["value"]}
                obj["FullyQualifiedName"] = f"{parent['name']}:{name}"
            else:
                obj["FullyQualifiedName"] = name
            obj["Active"] = True
            created = (
                t if i < len(base_classes) else self.t0 + rng.randint(3600, HISTORY_DAYS * 80000)
            )
            rec = self.add("Class", obj, created)
            self.classes.append({"value": obj["Id"], "name": obj["FullyQualifiedName"]})
            if i == n - 1 and n > 2:
                obj["Active"] = False
                obj["Name"] += " (deleted)"
                obj["FullyQualifiedName"] += " (deleted)"
                rec.touch(min(self.anchor - 3600, created + 100 * 86400))
                self.classes.pop()

        self.departments = []
        cities = ["Mountain View", "Tucson", "Palo Alto", "San Jose", "Fresno", "Oakland"]
        for i in range(self.counts["Department"]):
            obj = self.base("Department")
            name = cities[i] if i < len(cities) else f"Branch {i + 1}"
            obj.update(
                {"Name": name, "SubDepartment": False, "FullyQualifiedName": name, "Active": True}
            )
            self.add("Department", obj, t + i)
            self.departments.append({"value": obj["Id"], "name": name})

        self.customer_types = []
        for i, name in enumerate(["Residential", "Commercial", "Government", "Wholesale"]):
            obj = self.base("CustomerType")
            obj.update({"Name": name, "Active": True})
            self.add("CustomerType", obj, t + 60 + i)
            self.customer_types.append({"value": obj["Id"], "name": name})

        for i, (name, typ, desc) in enumerate(
            [
                ("VT", "Sales", "Ventes"),
                ("HA", "Purchases", "Achats"),
                ("BQ", "Bank", "Banque"),
                ("OD", "Others", "Operations diverses"),
            ]
        ):
            obj = self.base("JournalCode")
            obj.update({"Name": name, "Type": typ, "Description": desc, "Active": True})
            self.add("JournalCode", obj, t + 120 + i)

        tc = [
            (
                "EUC-09020802-V1-00120000",
                "EUC-09020802",
                "Landscaping services",
                "Landscape and garden services",
                "2",
                ("Services", "V1-00120000"),
            ),
            (
                "EUC-01010101-V1-00100000",
                "EUC-01010101",
                "Tangible, custom software",
                "Custom software delivered on a tangible format",
                "2",
                ("Professional Services", "V1-00100000"),
            ),
            (
                "EUC-99990101-V1-00020000",
                "EUC-99990101",
                "General goods",
                "General tangible personal property",
                "2",
                ("General", "V1-00020000"),
            ),
            (
                "V1-00100000",
                "V1-00100000",
                "Professional Services",
                "Professional services",
                "1",
                None,
            ),
            ("V1-00120000", "V1-00120000", "Services", "Services", "1", None),
            ("V1-00020000", "V1-00020000", "General", "General", "1", None),
        ]
        for tid, code, name, desc, level, parent in tc:
            obj = {
                "applicableTo": ["Inventory", "Noninventory", "Service"],
                "code": code,
                "description": desc,
                "level": level,
            }
            if parent:
                obj["ParentRef"] = {"name": parent[0], "value": parent[1]}
            obj["id"] = tid
            obj["name"] = name
            self.add("TaxClassification", obj, t, key=tid)

    def gen_taxes(self) -> None:
        t = self.setup_time(3)
        agencies = [("Board of Equalization", "tax_ca"), ("Arizona Dept. of Revenue", "tax_az")]
        agency_ids = []
        for name, _role in agencies:
            obj = self.base("TaxAgency")
            obj.update(
                {
                    "DisplayName": name,
                    "TaxTrackedOnSales": True,
                    "TaxTrackedOnPurchases": False,
                    "TaxRegistrationNumber": f"{self.rng.randint(10**8, 10**9 - 1)}",
                    "TaxAgencyConfig": "USER_DEFINED",
                }
            )
            self.add("TaxAgency", obj, t)
            agency_ids.append(obj["Id"])
        rates = [
            ("California", 800, 0, "tax_ca"),
            ("AZ State tax", 710, 1, "tax_az"),
            ("Tucson City", 200, 1, "tax_az"),
            ("Mountain View", 25, 0, "tax_ca"),
        ]
        self.tax_rates = []
        for name, bp, agency, role in rates:
            obj = self.base("TaxRate")
            obj.update(
                {
                    "Name": name,
                    "Description": "Sales Tax",
                    "Active": True,
                    "RateValue": _num(bp),
                    "AgencyRef": {"value": agency_ids[agency]},
                    "SpecialTaxType": "NONE",
                    "DisplayType": "ReadOnly",
                    "EffectiveTaxRate": [
                        {
                            "RateValue": _num(bp),
                            "EffectiveDate": timefmt.pacific_date(self.t0) + "T00:00:00-08:00",
                        }
                    ],
                }
            )
            self.add("TaxRate", obj, t)
            self.tax_rates.append((obj["Id"], bp, role, name))
        # Pseudo codes: no SyncToken, no domain, no MetaData.
        self.add(
            "TaxCode",
            {"Name": "TAX", "Description": "TAX", "Taxable": True, "TaxGroup": False, "Id": "TAX"},
            t,
            key="TAX",
        )
        self.add(
            "TaxCode",
            {"Name": "NON", "Description": "NON", "Taxable": False, "TaxGroup": False, "Id": "NON"},
            t,
            key="NON",
        )
        groups = [("California", [0]), ("Tucson", [1, 2]), ("Mountain View", [0, 3])]
        self.tax_codes = []
        for name, idx in groups:
            obj = self.base("TaxCode")
            obj.update(
                {
                    "Name": name,
                    "Description": name,
                    "Active": True,
                    "Hidden": False,
                    "Taxable": True,
                    "TaxGroup": True,
                    "SalesTaxRateList": {
                        "TaxRateDetail": [
                            {
                                "TaxRateRef": {
                                    "value": self.tax_rates[i][0],
                                    "name": self.tax_rates[i][3],
                                },
                                "TaxTypeApplicable": "TaxOnAmount",
                                "TaxOrder": 0,
                            }
                            for i in idx
                        ]
                    },
                    "PurchaseTaxRateList": {"TaxRateDetail": []},
                    "TaxCodeConfigType": "USER_DEFINED",
                }
            )
            self.add("TaxCode", obj, t)
            self.tax_codes.append((obj["Id"], [self.tax_rates[i] for i in idx]))
        obj = self.base("TaxCode")
        obj.update(
            {
                "Name": "Out of state (deleted)",
                "Description": "Out of state",
                "Active": False,
                "Hidden": True,
                "Taxable": True,
                "TaxGroup": True,
                "SalesTaxRateList": {"TaxRateDetail": []},
                "PurchaseTaxRateList": {"TaxRateDetail": []},
            }
        )
        self.add("TaxCode", obj, t).touch(t + 30 * 86400)
