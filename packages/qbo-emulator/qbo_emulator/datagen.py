"""A deterministic QuickBooks company, by seed and scale.

``generate(store, seed, scale, anchor)`` fills a :class:`~qbo_emulator.store.Store` with a
company that looks like a real QBO file three years into its life:

- a chart of accounts (bank, A/R, undeposited funds, inventory, fixed assets with
  sub-accounts, A/P, credit cards, tax payable, loans, equity, income, COGS, expenses),
  classes, departments, terms, payment methods, customer types, tax agencies, rates and
  codes (with the ``TAX``/``NON`` pseudo codes), currencies and monthly exchange rates;
- customers (companies and people, some inactive with " (deleted)", sub-customers/jobs with
  ``ParentRef``/``Job``/``Level``, some in EUR/GBP/CAD), vendors, employees, items
  (Service, NonInventory, Inventory with QtyOnHand, Category);
- transactions created in time order that reference those consistently: invoices with
  typed ``Line`` arrays (SalesItemLineDetail, DiscountLineDetail, SubTotalLineDetail,
  DescriptionOnly), tax detail, custom fields and addresses; payments whose lines link the
  invoices they pay (some with JAXB ``LineEx.any`` leaks), and which bump the invoice's
  Balance, SyncToken and LastUpdatedTime like QBO does; deposits of undeposited payments;
  estimates turned into invoices; bills paid by bill payments; purchases (some with
  ``PurchaseEx.any``); journal entries, transfers, credit-card payments, tax payments,
  inventory adjustments, time activities, attachables, reimburse charges and recurring
  templates.

Money is built from integer cents (``cents / 100`` always round-trips through JSON), and
timestamps are Pacific, second precision, spanning several DST changes, with deliberate
same-second groups (imports, recurring batches, bank feeds). ``scale`` is the approximate
total number of records; transactions take whatever the lists leave over.
"""

from __future__ import annotations

import bisect
import gc
import random
from collections import deque
from dataclasses import dataclass

from . import profiles, timefmt
from .entities import CATALOGUE
from .store import Store, inner, money

HISTORY_DAYS = 3 * 365 + 40
QUARTER = 91 * 86400
USD = {"value": "USD", "name": "United States Dollar"}
CURRENCIES = {
    "EUR": ({"value": "EUR", "name": "Euro"}, 1.08),
    "GBP": ({"value": "GBP", "name": "British Pound Sterling"}, 1.27),
    "CAD": ({"value": "CAD", "name": "Canadian Dollar"}, 0.74),
}

FIRST = [
    "Amy",
    "Bill",
    "Grace",
    "Diego",
    "Peter",
    "Dylan",
    "Geeta",
    "Jeff",
    "John",
    "Kate",
    "Mark",
    "Sonia",
    "Russ",
    "Travis",
    "Dan",
    "Whitney",
    "Emily",
    "Tony",
    "Pam",
    "Tania",
    "Tim",
    "Sasha",
    "Nora",
    "Omar",
    "Priya",
    "Luis",
    "Mei",
    "Hana",
    "Ivan",
    "Olga",
    "Raj",
    "Chen",
    "Ana",
    "Ben",
    "Carla",
    "Derek",
    "Elena",
    "Farid",
    "Gina",
    "Hugo",
    "Irene",
    "Jamal",
    "Kira",
    "Leo",
    "Maya",
    "Nate",
    "Opal",
    "Paula",
    "Quinn",
    "Rosa",
    "Sam",
    "Tara",
    "Uma",
    "Victor",
    "Wendy",
    "Xavier",
    "Yara",
    "Zane",
]
LAST = [
    "Lauterbach",
    "Lucchini",
    "Pariente",
    "Rodriguez",
    "Dukes",
    "Sollfrank",
    "Kalapatapu",
    "Melton",
    "Whelan",
    "Cho",
    "Paulsen",
    "Barnett",
    "Sonnenschein",
    "Waldron",
    "Platt",
    "Rondonuwu",
    "Seitz",
    "Philip",
    "Johnson",
    "Doe",
    "Kim",
    "Nguyen",
    "Garcia",
    "Okafor",
    "Rossi",
    "Schmidt",
    "Tanaka",
    "Novak",
    "Silva",
    "Haddad",
    "Kowalski",
    "Moreau",
    "Jensen",
    "Ortiz",
    "Brennan",
    "Castillo",
    "Dubois",
    "Eriksen",
    "Fischer",
    "Gupta",
    "Horvat",
    "Ibarra",
    "Jovanovic",
    "Keller",
]
BIZ_A = [
    "Bird",
    "Windsurf",
    "Cool",
    "Basketball",
    "Sporting",
    "Photography",
    "Jalopies",
    "Cakes",
    "Travel",
    "Rock",
    "Fruit",
    "Design",
    "Sushi",
    "Video",
    "Wedding",
    "Consulting",
    "Bakery",
    "Garden",
    "Harbor",
    "Summit",
    "Cedar",
    "Maple",
    "Copper",
    "Golden",
    "Blue",
    "Silver",
    "Pine",
    "Ocean",
    "River",
    "Valley",
    "Sunrise",
    "Granite",
    "Meadow",
    "Coastal",
    "Urban",
]
BIZ_B = [
    "Sanctuary",
    "Shop",
    "Cars",
    "Camp",
    "Goods",
    "Agency",
    "Diner",
    "Store",
    "Supplies",
    "Studio",
    "Works",
    "Partners",
    "Services",
    "Outfitters",
    "Market",
    "Labs",
    "Collective",
    "Group",
    "Co.",
    "Traders",
    "Kitchen",
    "Nursery",
    "Rentals",
]
VENDOR_B = [
    "Insurance",
    "Telephone",
    "Gas",
    "and",
    "Oil",
    "Health",
    "Care",
    "Computers",
    "Bodyshop",
    "Equipment",
    "Rental",
    "Properties",
    "Hardware",
    "Advertising",
    "Mugs",
    "Dental",
    "Eye",
    "Care",
    "Lumber",
    "Associates",
    "Car",
    "Wash",
    "Masonry",
    "Nursery",
    "Printing",
    "Freight",
    "Utilities",
    "Software",
    "Staffing",
    "Fuel",
    "Uniforms",
]
CITIES = [
    ("Bayshore", "CA", "94326", "37.7", "-122.4"),
    ("Tucson", "AZ", "85719", "32.28", "-110.97"),
    ("Half Moon Bay", "CA", "94213", "37.43", "-122.43"),
    ("Middlefield", "CA", "94303", "37.45", "-122.11"),
    ("Palo Alto", "CA", "94303", "37.44", "-122.14"),
    ("Sunnyvale", "CA", "94086", "37.37", "-122.03"),
    ("San Jose", "CA", "95112", "37.35", "-121.88"),
    ("Menlo Park", "CA", "94025", "37.45", "-122.18"),
    ("Los Gatos", "CA", "95030", "37.22", "-121.97"),
    ("Phoenix", "AZ", "85004", "33.45", "-112.07"),
    ("Fresno", "CA", "93721", "36.73", "-119.78"),
    ("Oakland", "CA", "94607", "37.80", "-122.27"),
]
STREETS = [
    "Finch St",
    "Court St",
    "Ocean Dr",
    "Channing Ave Main St",
    "Cypress Hill Ave Boise Ave Capital Drive Elm St",
    "Market St",
    "Park Blvd Lakeview Rd Sierra Way Mission St.",
]

# name, AccountType, AccountSubType, Classification, role, parent role
CHART = [
    ("Checking", "Bank", "Checking", "Asset", "checking", None),
    ("Savings", "Bank", "Savings", "Asset", "savings", None),
    ("Accounts Receivable (A/R)", "Accounts Receivable", "AccountsReceivable", "Asset", "ar", None),
    ("Undeposited Funds", "Other Current Asset", "UndepositedFunds", "Asset", "uf", None),
    ("Inventory Asset", "Other Current Asset", "Inventory", "Asset", "inventory", None),
    ("Prepaid Expenses", "Other Current Asset", "PrepaidExpenses", "Asset", "prepaid", None),
    (
        "Uncategorized Asset",
        "Other Current Asset",
        "OtherCurrentAssets",
        "Asset",
        "unc_asset",
        None,
    ),
    ("Truck", "Fixed Asset", "Vehicles", "Asset", "truck", None),
    ("Original Cost", "Fixed Asset", "Vehicles", "Asset", "truck_cost", "truck"),
    ("Depreciation", "Fixed Asset", "AccumulatedDepreciation", "Asset", "truck_dep", "truck"),
    ("Accounts Payable (A/P)", "Accounts Payable", "AccountsPayable", "Liability", "ap", None),
    ("Mastercard", "Credit Card", "CreditCard", "Liability", "cc", None),
    ("Visa", "Credit Card", "CreditCard", "Liability", "cc2", None),
    (
        "Board of Equalization Payable",
        "Other Current Liability",
        "GlobalTaxPayable",
        "Liability",
        "tax_ca",
        None,
    ),
    (
        "Arizona Dept. of Revenue Payable",
        "Other Current Liability",
        "GlobalTaxPayable",
        "Liability",
        "tax_az",
        None,
    ),
    ("Loan Payable", "Other Current Liability", "LoanPayable", "Liability", "loan", None),
    ("Notes Payable", "Long Term Liability", "NotesPayable", "Liability", "notes", None),
    ("Opening Balance Equity", "Equity", "OpeningBalanceEquity", "Equity", "obe", None),
    ("Retained Earnings", "Equity", "RetainedEarnings", "Equity", "re", None),
    ("Owner's Investment", "Equity", "OwnersEquity", "Equity", "owner", None),
    ("Services", "Income", "ServiceFeeIncome", "Revenue", "inc_services", None),
    ("Design income", "Income", "ServiceFeeIncome", "Revenue", "inc_design", None),
    ("Landscaping Services", "Income", "ServiceFeeIncome", "Revenue", "inc_landscape", None),
    ("Sales of Product Income", "Income", "SalesOfProductIncome", "Revenue", "inc_product", None),
    ("Discounts given", "Income", "DiscountsRefundsGiven", "Revenue", "discounts", None),
    ("Other Income", "Other Income", "OtherMiscellaneousIncome", "Revenue", "other_income", None),
    ("Interest Earned", "Other Income", "InterestEarned", "Revenue", "interest", None),
    ("Cost of Goods Sold", "Cost of Goods Sold", "SuppliesMaterialsCogs", "Expense", "cogs", None),
    (
        "Inventory Shrinkage",
        "Cost of Goods Sold",
        "OtherCostsOfServiceCos",
        "Expense",
        "shrinkage",
        None,
    ),
    ("Advertising", "Expense", "AdvertisingPromotional", "Expense", "exp_ads", None),
    ("Automobile", "Expense", "Auto", "Expense", "exp_auto", None),
    ("Fuel", "Expense", "Auto", "Expense", "exp_fuel", "exp_auto"),
    ("Bank Charges", "Expense", "BankCharges", "Expense", "exp_bank", None),
    ("Insurance", "Expense", "Insurance", "Expense", "exp_ins", None),
    ("Workers Compensation", "Expense", "Insurance", "Expense", "exp_wc", "exp_ins"),
    ("Job Expenses", "Expense", "CostOfLabor", "Expense", "exp_job", None),
    ("Equipment Rental", "Expense", "EquipmentRental", "Expense", "exp_rental", "exp_job"),
    ("Job Materials", "Expense", "SuppliesMaterials", "Expense", "exp_materials", "exp_job"),
    ("Legal & Professional Fees", "Expense", "LegalProfessionalFees", "Expense", "exp_legal", None),
    ("Accounting", "Expense", "LegalProfessionalFees", "Expense", "exp_acct", "exp_legal"),
    ("Maintenance and Repair", "Expense", "RepairMaintenance", "Expense", "exp_repair", None),
    ("Meals and Entertainment", "Expense", "EntertainmentMeals", "Expense", "exp_meals", None),
    (
        "Office Expenses",
        "Expense",
        "OfficeGeneralAdministrativeExpenses",
        "Expense",
        "exp_office",
        None,
    ),
    ("Rent or Lease", "Expense", "RentOrLeaseOfBuildings", "Expense", "exp_rent", None),
    ("Utilities", "Expense", "Utilities", "Expense", "exp_util", None),
    ("Gas and Electric", "Expense", "Utilities", "Expense", "exp_gas", "exp_util"),
    ("Telephone", "Expense", "Utilities", "Expense", "exp_phone", "exp_util"),
    ("Travel", "Expense", "Travel", "Expense", "exp_travel", None),
    (
        "Uncategorized Expense",
        "Expense",
        "OtherMiscellaneousServiceCost",
        "Expense",
        "exp_unc",
        None,
    ),
    ("Depreciation Expense", "Other Expense", "Depreciation", "Expense", "exp_dep", None),
    ("Exchange Gain or Loss", "Other Expense", "ExchangeGainOrLoss", "Expense", "fx", None),
]
EXPENSE_ROLES = [
    "exp_ads",
    "exp_fuel",
    "exp_bank",
    "exp_ins",
    "exp_wc",
    "exp_rental",
    "exp_materials",
    "exp_acct",
    "exp_repair",
    "exp_meals",
    "exp_office",
    "exp_rent",
    "exp_gas",
    "exp_phone",
    "exp_travel",
    "exp_unc",
]
SERVICE_ITEMS = [
    ("Services", 10000, "inc_services"),
    ("Design", 7500, "inc_design"),
    ("Gardening", 3500, "inc_landscape"),
    ("Installation", 5000, "inc_landscape"),
    ("Lighting", 4500, "inc_landscape"),
    ("Maintenance & Repair", 6000, "inc_services"),
    ("Pest Control", 3500, "inc_landscape"),
    ("Trimming", 3500, "inc_landscape"),
    ("Concrete", 8000, "inc_landscape"),
    ("Consulting", 12500, "inc_services"),
]
PRODUCT_ITEMS = [
    ("Rock Fountain", 27500, 12500),
    ("Rocks", 2250, 800),
    ("Sprinkler Heads", 200, 75),
    ("Sprinkler Pipes", 400, 250),
    ("Pump", 1575, 1000),
    ("Sod", 1000, 400),
    ("Soil", 1000, 650),
    ("Fountain Pump", 1575, 1000),
]
TXN_WEIGHTS = {
    "Invoice": 30.0,
    "Payment": 20.0,
    "SalesReceipt": 7.0,
    "Estimate": 5.0,
    "CreditMemo": 1.5,
    "RefundReceipt": 0.6,
    "Bill": 10.0,
    "BillPayment": 7.0,
    "Purchase": 9.0,
    "PurchaseOrder": 2.0,
    "VendorCredit": 1.0,
    "Deposit": 3.0,
    "Transfer": 0.5,
    "JournalEntry": 0.8,
    "CreditCardPayment": 0.4,
    "TimeActivity": 2.5,
    "InventoryAdjustment": 0.3,
    "TaxPayment": 0.2,
    "ReimburseCharge": 0.4,
    "Attachable": 1.0,
    "RecurringTransaction": 0.1,
}
_LINE_CUM = (35, 65, 85, 95, 100)
_BACK_CUM = (50, 60, 70, 85, 95, 100)
CUSTOM_FIELD = {"DefinitionId": "1", "Name": "Crew #", "Type": "StringType"}
THANKS = {"value": "Thank you for your business and have a great day!"}


def _jaxb(name: str, value: str) -> dict:
    return {
        "name": "{http://schema.intuit.com/finance/v3}NameValue",
        "declaredType": "com.intuit.schema.finance.v3.NameValue",
        "scope": "javax.xml.bind.JAXBElement$GlobalScope",
        "value": {"Name": name, "Value": value},
        "nil": False,
        "globalScope": True,
        "typeSubstituted": False,
    }


def _num(cents: int):
    """A unit price as QBO writes it: an int when whole (``75``), else a float."""
    return cents // 100 if cents % 100 == 0 else cents / 100


def _qty(halves: int):
    return halves // 2 if halves % 2 == 0 else halves / 2


@dataclass
class Rec:
    """A generated object with its timestamps and version, before it goes into the store."""

    entity: str
    key: str
    obj: dict
    ct: int
    lut: int
    sync: int = 0

    def touch(self, when: int) -> None:
        self.sync += 1
        self.lut = max(self.lut, when)


def plan(scale: int) -> dict[str, int]:
    """How many rows each scaled list gets and how many transactions remain."""
    s = max(int(scale), 150)

    def clamp(v: float, lo: int, hi: int) -> int:
        return max(lo, min(hi, int(v)))

    counts = {
        "Customer": clamp(s * 0.03, 24, 60_000),
        "Vendor": clamp(s * 0.008, 12, 20_000),
        "Employee": clamp(s * 0.001, 5, 3_000),
        "Item": clamp(s * 0.002, 20, 8_000),
        "Class": clamp(s * 0.0002, 5, 120),
        "Department": clamp(s * 0.0001, 3, 60),
        "ExtraAccounts": clamp(s * 0.0002, 0, 300),
    }
    fixed = 220 + sum(counts.values())
    counts["txn"] = max(len(TXN_WEIGHTS) * 2, s - fixed)
    return counts


class _Gen:
    def __init__(self, store: Store, seed: int, scale: int, anchor: int):
        self.store = store
        self.realm = store.realm_id
        self.rng = random.Random(f"qbo-emulator:{seed}:{store.realm_id}")
        # Calendar-dependent draws (one rate per month) use their own stream, so the main one -
        # ids, names, amounts - does not depend on the day the emulator starts.
        self.rate_rng = random.Random(f"qbo-emulator-rates:{seed}:{store.realm_id}")
        self.scale = scale
        self.anchor = int(anchor)
        self.t0 = self.anchor - HISTORY_DAYS * 86400
        self.recs: list[Rec] = []
        self.by_key: dict[tuple[str, str], Rec] = {}
        self.seq: dict[str, int] = {}
        self.acct: dict[str, dict] = {}  # role -> ref {"value","name"}
        self.addr_seq = 1
        self.doc: dict[str, int] = {}
        self.counts = plan(scale)
        rnd = self.rng.random
        self.pick = lambda seq: seq[int(rnd() * len(seq))]

    # ----- helpers -------------------------------------------------------------------------
    def next_id(self, entity: str) -> str:
        seq = CATALOGUE[entity].id_seq or entity
        n = self.seq.get(seq, 5000000000000500000 if seq == "attachable" else 1)
        self.seq[seq] = n + 1
        return str(n)

    def add(self, entity: str, obj: dict, ct: int, lut: int | None = None, key=None) -> Rec:
        key = key if key is not None else obj.get("Id")
        rec = Rec(entity, key, obj, ct, lut if lut is not None else ct)
        self.recs.append(rec)
        self.by_key[(entity, key)] = rec
        return rec

    def base(self, entity: str) -> dict:
        key = self.next_id(entity)
        return {"domain": "QBO", "sparse": False, "Id": key, "SyncToken": "0", "MetaData": None}

    def docnum(self, kind: str, start: int = 1001) -> str:
        n = self.doc.get(kind, start)
        self.doc[kind] = n + 1
        return str(n)

    def address(self, city=None, lines: int = 1, full: bool = False) -> dict:
        rng = self.rng
        c = city or self.pick(CITIES)
        a = {"Id": str(self.addr_seq)}
        self.addr_seq += 1
        a["Line1"] = f"{rng.randint(10, 9999)} {self.pick(STREETS).strip('.')}."
        if lines > 1:
            a["Line2"] = f"Suite {rng.randint(100, 999)}"
        a["City"] = c[0]
        if full or rng.random() < 0.2:
            a["Country"] = "USA"
        a["CountrySubDivisionCode"], a["PostalCode"] = c[1], c[2]
        if rng.random() < 0.15:
            a["Lat"], a["Long"] = "INVALID", "INVALID"
        else:
            a["Lat"] = f"{float(c[3]) + rng.uniform(-0.05, 0.05):.7f}"
            a["Long"] = f"{float(c[4]) + rng.uniform(-0.05, 0.05):.7f}"
        return a

    def txn_addr(self, c: dict) -> dict:
        """A transaction's BillAddr: the customer's address, or QBO's free-form 4-line form."""
        if c["addr"] is None or self.rng.random() < 0.5:
            a = c["addr"] or self.address()
            lines = {"Id": str(self.addr_seq), "Line1": c["ref"]["name"]}
            self.addr_seq += 1
            n = 2
            if c["obj"].get("CompanyName") and c["obj"].get("GivenName"):
                lines["Line1"] = f"{c['obj']['GivenName']} {c['obj'].get('FamilyName', '')}".strip()
                lines["Line2"] = c["obj"]["CompanyName"]
                n = 3
            lines[f"Line{n}"] = a["Line1"]
            lines[f"Line{n + 1}"] = f"{a['City']}, {a['CountrySubDivisionCode']}  {a['PostalCode']}"
            lines["Lat"], lines["Long"] = a.get("Lat", "INVALID"), a.get("Long", "INVALID")
            return lines
        return c["addr"]

    def phone(self) -> dict:
        r = self.rng
        return {"FreeFormNumber": f"({r.randint(200, 989)}) 555-{r.randint(1000, 9999)}"}

    def ref(self, role: str) -> dict:
        return self.acct[role]

    def setup_time(self, minutes: float = 0) -> int:
        return self.t0 + int(minutes * 60)

    # ----- setup lists ---------------------------------------------------------------------
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

    # ----- names ---------------------------------------------------------------------------
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

    # ----- transactions --------------------------------------------------------------------
    def pick_customer(self, t: int) -> dict:
        hi = bisect.bisect_right(self.cust_times, t)
        hi = max(hi, 1)
        for _ in range(6):
            c = self.customers[self.rng.randrange(hi)]
            if c["until"] is None or c["until"] > t:
                return c
        return self.customers[0]

    def pick_vendor(self, t: int) -> dict:
        hi = max(bisect.bisect_right(self.vend_times, t), 1)
        for _ in range(6):
            v = self.vendors[self.rng.randrange(hi)]
            if v["until"] is None or v["until"] > t:
                return v
        return self.vendors[0]

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

    def currency_fields(self, obj: dict, cur: str | None, day: str, total: int) -> float:
        if cur is None:
            obj["CurrencyRef"] = USD
            return 1.0
        ref, _ = CURRENCIES[cur]
        rate = self.rate_for(cur, day)
        obj["CurrencyRef"] = ref
        obj["ExchangeRate"] = rate
        obj["HomeTotalAmt"] = money(round(total * rate))
        return rate

    def custom_fields(self) -> list[dict]:
        if self.rng.random() < 0.3:
            return [dict(CUSTOM_FIELD, StringValue=str(self.rng.randint(100, 130)))]
        return [CUSTOM_FIELD]

    def txn_date(self, ct: int) -> str:
        back = self.rng.choices((0, 0, 0, 1, 2, 5), cum_weights=_BACK_CUM)[0]
        return timefmt.add_days(timefmt.pacific_date(ct), -back)

    def new_txn(self, entity: str, ct: int) -> tuple[dict, Rec]:
        obj = self.base(entity)
        rec = self.add(entity, obj, ct)
        return obj, rec

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

    def gen_deposit(self, ct: int, ev_idx: int) -> None:
        rng = self.rng
        obj, _rec = self.new_txn("Deposit", ct)
        lines = []
        total = 0
        batch = []
        while self.undeposited and len(batch) < 40:
            batch.append(self.undeposited.popleft())
        lid = 1
        for pay_obj, pay_rec, amount in batch:
            ttype = "Payment" if pay_rec.entity == "Payment" else "SalesReceipt"
            lines.append(
                {
                    "Id": str(lid),
                    "LineNum": lid,
                    "Amount": money(amount),
                    "LinkedTxn": [{"TxnId": pay_obj["Id"], "TxnType": ttype, "TxnLineId": "0"}],
                }
            )
            lid += 1
            total += amount
            pay_obj.setdefault("LinkedTxn", []).append({"TxnId": obj["Id"], "TxnType": "Deposit"})
            pay_rec.touch(ct)
        if not lines:
            amount = rng.randint(5, 300) * 100
            role = self.pick(["other_income", "interest", "owner"])
            lines.append(
                {
                    "Id": "1",
                    "LineNum": 1,
                    "Amount": money(amount),
                    "DetailType": "DepositLineDetail",
                    "DepositLineDetail": {"AccountRef": dict(self.ref(role))},
                    "_account": role,
                }
            )
            total = amount
        obj["DepositToAccountRef"] = dict(self.acct["checking"])
        obj["TxnDate"] = timefmt.pacific_date(ct)
        obj["CurrencyRef"] = USD
        obj["TotalAmt"] = money(total)
        obj["Line"] = lines
        self.strip_private(lines)
        if len(lines) == 1 and "DepositLineDetail" in lines[0]:
            obj["PrivateNote"] = "Miscellaneous deposit"

    def gen_transfer(self, ct: int, ev_idx: int) -> None:
        obj, _rec = self.new_txn("Transfer", ct)
        a, b = ("checking", "savings") if self.rng.random() < 0.6 else ("savings", "checking")
        amount = self.rng.randint(5, 100) * 10000
        obj["FromAccountRef"] = dict(self.acct[a])
        obj["ToAccountRef"] = dict(self.acct[b])
        obj["Amount"] = money(amount)
        obj["TxnDate"] = timefmt.pacific_date(ct)
        obj["CurrencyRef"] = USD
        if self.rng.random() < 0.3:
            obj["PrivateNote"] = "Monthly sweep"

    def gen_journal_entry(self, ct: int, ev_idx: int, opening: bool = False) -> None:
        rng = self.rng
        obj, _rec = self.new_txn("JournalEntry", ct)
        if opening:
            pairs = [("checking", 2500000), ("savings", 800000), ("truck_cost", 1349500)]
            lines = []
            lid = 0
            total = 0
            for role, cents in pairs:
                lines.append(self._je_line(lid, "Debit", role, cents, "Opening balance"))
                lid += 1
                total += cents
            lines.append(self._je_line(lid, "Credit", "notes", 2500000, "Opening balance"))
            lid += 1
            lines.append(self._je_line(lid, "Credit", "obe", total - 2500000, "Opening balance"))
            obj["DocNumber"] = "OB-1"
        else:
            kind = self.pick(["dep", "accrual", "reclass"])
            cents = rng.randint(10, 800) * 100
            if kind == "dep":
                lines = [
                    self._je_line(0, "Debit", "exp_dep", cents, "Depreciation"),
                    self._je_line(1, "Credit", "truck_dep", cents, "Depreciation"),
                ]
            elif kind == "accrual":
                lines = [
                    self._je_line(0, "Debit", self.pick(self.expense_roles), cents, "Accrual"),
                    self._je_line(1, "Credit", "loan", cents, "Accrual"),
                ]
            else:
                lines = [
                    self._je_line(0, "Debit", "prepaid", cents, "Reclass"),
                    self._je_line(1, "Credit", "checking", cents, "Reclass"),
                ]
            obj["DocNumber"] = self.docnum("JournalEntry", 1)
        obj["TxnDate"] = timefmt.pacific_date(ct)
        obj["CurrencyRef"] = USD
        obj["Line"] = lines
        obj["Adjustment"] = False
        if rng.random() < 0.3:
            obj["PrivateNote"] = "Adjusting entry"

    def _je_line(self, lid: int, posting: str, role: str, cents: int, desc: str) -> dict:
        return {
            "Id": str(lid),
            "Description": desc,
            "Amount": money(cents),
            "DetailType": "JournalEntryLineDetail",
            "JournalEntryLineDetail": {"PostingType": posting, "AccountRef": dict(self.ref(role))},
        }

    def gen_cc_payment(self, ct: int, ev_idx: int) -> None:
        obj, _rec = self.new_txn("CreditCardPayment", ct)
        obj["TxnDate"] = timefmt.pacific_date(ct)
        obj["Amount"] = money(self.rng.randint(100, 3000) * 100)
        obj["BankAccountRef"] = dict(self.acct["checking"])
        obj["CreditCardAccountRef"] = dict(self.acct[self.pick(["cc", "cc2"])])
        obj["PrivateNote"] = "Card payment"
        obj["CurrencyRef"] = USD

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

    def gen_tax_payment(self, ct: int, ev_idx: int) -> None:
        obj, _rec = self.new_txn("TaxPayment", ct)
        amount = self.rng.randint(50, 900) * 100
        obj["PaymentDate"] = timefmt.pacific_date(ct)
        obj["PaymentAmount"] = money(amount)
        obj["PaymentAccountRef"] = dict(self.acct["checking"])
        obj["Refund"] = False
        obj["Description"] = "Sales tax payment"

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

    # ----- the event loop ------------------------------------------------------------------
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

    # ----- finishing -----------------------------------------------------------------------
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


def generate(
    store: Store, seed: int, scale: int, anchor: float, profile: profiles.Profile | None = None
) -> None:
    """Fill ``store`` with a deterministic company (same seed, scale, realm -> same data),
    shaped by its profile (edition, country, features; the historic company by default)."""
    profile = profiles.get(profile)
    store.set_profile(profile)
    # Millions of small dicts: the cyclic GC would rescan them over and over (quadratic).
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        gen = _Gen(store, seed, scale, int(anchor))
        gen.profile = profile
        gen.run()
    finally:
        if was_enabled:
            gc.enable()
        gc.freeze()
