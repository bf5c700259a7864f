"""Company profiles: which edition, country and features a realm has, in one place.

QBO companies differ. A profile decides which entities and reports exist, what
``CompanyInfo`` and ``Preferences`` say, and what the data looks like (the country's tax
codes and rates, the home currency, no inventory items when inventory is off). What the
company cannot have is refused as QBO refuses it, wherever it is asked for (query, COUNT,
batch item, CDC, read by id, write, report):

- an entity the country does not know (``JournalCode`` outside France, ``TaxPayment``
  without automated sales tax): 400, 4001 ``Metadata not found for Entity: <Name>``;
- a feature the edition lacks or the company switched off: 400, 5020 ``Permission Denied
  Error``.

The ``default`` profile is the emulator's historic company (every entity, every report,
every feature): its data is not touched.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from .responses import ApiError


class Generated(Protocol):
    """The generated company that :func:`shape` reshapes (``datagen``'s generator): its
    records, each with an ``entity`` name and an ``obj`` document. A protocol, so that this
    module, which the store reads, imports nothing of the generator that fills the store."""

    recs: list


METADATA_NOT_FOUND = "4001"
PERMISSION_DENIED = "5020"


def refusal(entity: str, code: str) -> ApiError:
    """QBO's answer to a request for an entity or report the company cannot have (4001,
    5020); any other code is an error of that one entity that is no refusal (for tests of
    a stream failing alone: "500" a system fault, others a 400 with that code)."""
    if code == "500":
        return ApiError(
            500,
            "10000",
            "An application error has occurred while processing your request",
            "System Failure Error: An unexpected error occurred while accessing or saving your "
            "data. Please wait a few minutes and try again.",
            fault_type="SystemFault",
        )
    if code not in (METADATA_NOT_FOUND, PERMISSION_DENIED):
        return ApiError(
            400,
            code,
            "A business validation error has occurred while processing your request",
            f"Business Validation Error: {entity} cannot be read right now.",
        )
    if code == METADATA_NOT_FOUND:
        return ApiError(
            400,
            METADATA_NOT_FOUND,
            "Invalid query",
            f"QueryValidationError: Metadata not found for Entity: {entity}",
        )
    return ApiError(
        400,
        PERMISSION_DENIED,
        "Permission Denied Error",
        "Permission Denied Error : You do not have the access rights to use this feature.",
        element="",
    )


@dataclass(frozen=True)
class Country:
    code: str  # CompanyInfo.Country
    iso3: str  # addresses' Country since 2025
    currency: tuple[str, str]  # home currency code and name
    languages: str
    timezone: str
    address: dict
    tax_name: str  # what the tax is called on forms: "Sales Tax", "VAT", "GST"
    agencies: tuple[str, ...]
    rates: tuple[tuple[str, int], ...]  # name, basis points (at most 4: the generator's)
    codes: tuple[str, ...]  # tax code names (at most 3: the generator's groups)


US = Country(
    "US",
    "USA",
    ("USD", "United States Dollar"),
    "en",
    "America/Los_Angeles",
    {"Line1": "2500 Garcia Ave", "City": "Mountain View", "CountrySubDivisionCode": "CA"},
    "Sales Tax",
    ("Board of Equalization", "Arizona Dept. of Revenue"),
    (("California", 800), ("AZ State tax", 710), ("Tucson City", 200), ("Mountain View", 25)),
    ("California", "Tucson", "Mountain View"),
)
COUNTRIES = {
    "US": US,
    "CA": Country(
        "CA",
        "CAN",
        ("CAD", "Canadian Dollar"),
        "en,fr",
        "America/Toronto",
        {"Line1": "100 King St W", "City": "Toronto", "CountrySubDivisionCode": "ON"},
        "GST/HST",
        ("Canada Revenue Agency", "Ministry of Finance (BC)"),
        (("GST", 500), ("HST ON", 1300), ("PST BC", 700), ("QST", 998)),
        ("GST", "HST ON", "GST/PST BC"),
    ),
    "GB": Country(
        "GB",
        "GBR",
        ("GBP", "British Pound Sterling"),
        "en",
        "Europe/London",
        {"Line1": "10 Fleet Street", "City": "London", "CountrySubDivisionCode": "ENG"},
        "VAT",
        ("HM Revenue & Customs",),
        (("20.0% S", 2000), ("5.0% R", 500), ("0.0% Z", 0), ("Exempt", 0)),
        ("20.0% S", "5.0% R", "0.0% Z"),
    ),
    "AU": Country(
        "AU",
        "AUS",
        ("AUD", "Australian Dollar"),
        "en",
        "Australia/Sydney",
        {"Line1": "1 Martin Place", "City": "Sydney", "CountrySubDivisionCode": "NSW"},
        "GST",
        ("Australian Taxation Office",),
        (("GST (sales)", 1000), ("GST (purchases)", 1000), ("GST free", 0), ("Input taxed", 0)),
        ("GST", "FRE", "INP"),
    ),
    "FR": Country(
        "FR",
        "FRA",
        ("EUR", "Euro"),
        "fr",
        "Europe/Paris",
        {"Line1": "8 rue de Rivoli", "City": "Paris", "CountrySubDivisionCode": "75"},
        "TVA",
        ("Direction générale des Finances publiques",),
        (("TVA 20%", 2000), ("TVA 10%", 1000), ("TVA 5,5%", 550), ("TVA 2,1%", 210)),
        ("TVA 20%", "TVA 10%", "TVA 5,5%"),
    ),
}

# The entities each feature brings (refused with 5020 when it is off). Which edition has
# which feature, and the sources checked, are in docs/emulator.md ("Company profiles").
FEATURE_ENTITIES = {
    "multicurrency": ("CompanyCurrency", "ExchangeRate"),
    "inventory": ("InventoryAdjustment",),
    "classes": ("Class",),
    "locations": ("Department",),
    "budgets": ("Budget",),
    "purchase_orders": ("PurchaseOrder",),
    "time_tracking": ("TimeActivity",),
    "billable_expenses": ("ReimburseCharge",),
    "bills": ("Bill", "BillPayment", "VendorCredit"),
    "recurring": ("RecurringTransaction",),  # Essentials and up, not Simple Start
}
FEATURES = tuple(FEATURE_ENTITIES)


@dataclass(frozen=True)
class Profile:
    name: str
    edition: str  # CompanyInfo's OfferingSku
    country: Country = US
    features: frozenset[str] = frozenset(FEATURES)
    automated_sales_tax: bool = True  # US only: TaxPayment, Preferences.TaxPrefs.PartnerTaxEnabled
    missing_reports: frozenset[str] = frozenset()
    everything: bool = False  # the historic company: nothing refused, data untouched
    notes: str = ""

    def refused(self) -> dict[str, str]:
        """Entity or report name -> QBO's refusal code, for what this company cannot have."""
        if self.everything:
            return {}
        out = {}
        for feature, entities in FEATURE_ENTITIES.items():
            if feature not in self.features:
                out.update(dict.fromkeys(entities, PERMISSION_DENIED))
        if not self.automated_sales_tax:
            out["TaxPayment"] = METADATA_NOT_FOUND
        if self.country.code != "FR":
            out["JournalCode"] = METADATA_NOT_FOUND
        out.update(dict.fromkeys(self.missing_reports, PERMISSION_DENIED))
        return out

    def has(self, name: str) -> bool:
        return name not in self.refused()


_BASIC = frozenset()
# Essentials adds bills, time tracking, recurring transactions and multicurrency to Simple
# Start; Plus adds classes, locations, budgets, purchase orders, billable expenses, inventory.
_ESSENTIALS = frozenset({"multicurrency", "bills", "time_tracking", "recurring"})
_ALL = frozenset(FEATURES)

PROFILES: dict[str, Profile] = {
    p.name: p
    for p in (
        Profile("default", "QuickBooks Online Plus", everything=True, notes="the historic company"),
        Profile(
            "us_simple_start",
            "QuickBooks Online Simple Start",
            features=_BASIC,
            missing_reports=frozenset({"AgedPayables", "VendorBalance", "CashFlow"}),
        ),
        Profile("us_essentials", "QuickBooks Online Essentials", features=_ESSENTIALS),
        Profile(
            "us_plus_no_inventory",
            "QuickBooks Online Plus",
            features=_ALL - {"inventory", "multicurrency"},
        ),
        Profile("us_advanced", "QuickBooks Online Advanced", features=_ALL),
        Profile(
            "ca",
            "QuickBooks Online Plus",
            COUNTRIES["CA"],
            features=_ALL,
            automated_sales_tax=False,
        ),
        Profile(
            "uk",
            "QuickBooks Online Plus",
            COUNTRIES["GB"],
            features=_ALL - {"multicurrency"},
            automated_sales_tax=False,
        ),
        Profile(
            "au",
            "QuickBooks Online Essentials",
            COUNTRIES["AU"],
            features=_ESSENTIALS - {"multicurrency"},
            automated_sales_tax=False,
        ),
        Profile(
            "fr",
            "QuickBooks Online Plus",
            COUNTRIES["FR"],
            features=_ALL - {"multicurrency"},
            automated_sales_tax=False,
        ),
    )
}
DEFAULT = PROFILES["default"]


def get(name: str | Profile | None) -> Profile:
    if isinstance(name, Profile):
        return name
    if name is None:
        return DEFAULT
    if name not in PROFILES:
        raise KeyError(f"unknown company profile {name!r}; profiles: {', '.join(PROFILES)}")
    return PROFILES[name]


# ----- shaping the generated company ---------------------------------------------------------


@dataclass
class _Shaper:
    gen: Generated
    profile: Profile
    home: dict = field(init=False)

    def __post_init__(self) -> None:
        code, name = self.profile.country.currency
        self.home = {"value": code, "name": name}

    def run(self) -> None:
        gone = set(self.profile.refused())
        self.gen.recs = [r for r in self.gen.recs if r.entity not in gone]
        by_entity: dict[str, list] = {}
        for rec in self.gen.recs:
            by_entity.setdefault(rec.entity, []).append(rec)
        self.company(by_entity)
        self.preferences(by_entity)
        if "inventory" not in self.profile.features:
            for rec in by_entity.get("Item", []):
                self.no_inventory(rec.obj)
        if self.profile.country is not US:
            self.taxes(by_entity)
        multicurrency = "multicurrency" in self.profile.features
        swap = self.home["value"] != "USD"
        for rec in self.gen.recs:
            if rec.entity in ("CompanyCurrency", "ExchangeRate"):
                if swap:
                    self.swap_currency_codes(rec.obj)
                continue
            _walk_currency(rec.obj, self.home, swap=swap, keep_foreign=multicurrency)

    def company(self, by_entity: dict) -> None:
        country = self.profile.country
        for rec in by_entity.get("CompanyInfo", []):
            info = rec.obj
            info["Country"] = country.code
            info["SupportedLanguages"] = country.languages
            info["DefaultTimeZone"] = country.timezone
            for key in ("CompanyAddr", "CustomerCommunicationAddr", "LegalAddr"):
                addr = info.get(key) or {}
                addr.update(country.address)
                addr["Country"] = country.iso3
                if country is not US:
                    addr.pop("PostalCode", None)
            for pair in info.get("NameValue") or []:
                if pair.get("Name") == "OfferingSku":
                    pair["Value"] = self.profile.edition

    def preferences(self, by_entity: dict) -> None:
        p = self.profile
        for rec in by_entity.get("Preferences", []):
            prefs = rec.obj
            acct = prefs["AccountingInfoPrefs"]
            acct["TrackDepartments"] = "locations" in p.features
            acct["ClassTrackingPerTxnLine"] = "classes" in p.features
            acct["ClassTrackingPerTxn"] = False
            prefs["ProductAndServicesPrefs"]["QuantityOnHand"] = "inventory" in p.features
            vendor = prefs["VendorAndPurchasesPrefs"]
            vendor["BillableExpenseTracking"] = "billable_expenses" in p.features
            if "time_tracking" not in p.features:
                prefs.pop("TimeTrackingPrefs", None)
            tax = {"UsingSalesTax": True}
            if p.automated_sales_tax and p.country is US:
                tax["PartnerTaxEnabled"] = True  # absent means not enabled
            if p.country is not US:
                tax["TaxGroupCodeRef"] = {"value": "1"}
            prefs["TaxPrefs"] = tax
            prefs["CurrencyPrefs"] = {
                "MultiCurrencyEnabled": "multicurrency" in p.features,
                "HomeCurrency": {"value": self.home["value"]},
            }

    @staticmethod
    def no_inventory(item: dict) -> None:
        if item.get("Type") == "Inventory":
            item["Type"] = "NonInventory"
            for key in ("QtyOnHand", "InvStartDate", "AssetAccountRef", "ReorderPoint"):
                item.pop(key, None)
            item["TrackQtyOnHand"] = False

    def taxes(self, by_entity: dict) -> None:
        """The country's tax agencies, rates and codes in place of California's (same Ids,
        so the transactions' references still resolve)."""
        country = self.profile.country
        agencies = by_entity.get("TaxAgency", [])
        for i, rec in enumerate(agencies):
            rec.obj["DisplayName"] = country.agencies[min(i, len(country.agencies) - 1)]
            if i >= len(country.agencies):
                rec.obj["DisplayName"] += f" ({i})"
        names = {}
        for rec, (name, bp) in zip(by_entity.get("TaxRate", []), country.rates, strict=False):
            names[rec.key] = name
            rec.obj["Name"] = name
            rec.obj["Description"] = country.tax_name
            rec.obj["RateValue"] = bp / 100
            for eff in rec.obj.get("EffectiveTaxRate") or []:
                eff["RateValue"] = bp / 100
        codes = [r for r in by_entity.get("TaxCode", []) if r.key not in ("TAX", "NON")]
        # The US-only pseudo codes TAX and NON do not exist outside the US.
        self.gen.recs = [
            r for r in self.gen.recs if not (r.entity == "TaxCode" and r.key in ("TAX", "NON"))
        ]
        for rec, name in zip(codes, country.codes, strict=False):
            rec.obj["Name"] = rec.obj["Description"] = name
            for detail in (rec.obj.get("SalesTaxRateList") or {}).get("TaxRateDetail") or []:
                ref = detail.get("TaxRateRef") or {}
                ref["name"] = names.get(ref.get("value"), ref.get("name"))
            # Outside the US a code taxes purchases too (input VAT/GST is reclaimed).
            rec.obj["PurchaseTaxRateList"] = rec.obj.get("SalesTaxRateList") or {
                "TaxRateDetail": []
            }

    def swap_currency_codes(self, obj: dict) -> None:
        home = self.home["value"]
        for key in ("Code", "SourceCurrencyCode", "TargetCurrencyCode"):
            if obj.get(key) == home:
                obj[key] = "USD"
            elif obj.get(key) == "USD":
                obj[key] = home
        if obj.get("Code") == "USD":
            obj["Name"] = "United States Dollar"


def _walk_currency(obj: object, home: dict, *, swap: bool, keep_foreign: bool) -> None:
    """Currency references as this company has them: USD and the home currency trade places
    when the home is not USD; without multicurrency every amount is in the home currency."""
    if isinstance(obj, list):
        for item in obj:
            _walk_currency(item, home, swap=swap, keep_foreign=keep_foreign)
        return
    if not isinstance(obj, dict):
        return
    ref = obj.get("CurrencyRef")
    if isinstance(ref, dict) and ref.get("value"):
        code = ref["value"]
        if swap and code in ("USD", home["value"]):
            obj["CurrencyRef"] = dict(home) if code == "USD" else dict(_USD)
        if not keep_foreign and obj["CurrencyRef"]["value"] != home["value"]:
            obj["CurrencyRef"] = dict(home)
            for key in [k for k in obj if k == "ExchangeRate" or k.startswith("Home")]:
                del obj[key]
    for key, value in obj.items():
        if key != "CurrencyRef" and isinstance(value, (dict, list)):
            _walk_currency(value, home, swap=swap, keep_foreign=keep_foreign)


_USD = {"value": "USD", "name": "United States Dollar"}


def shape(gen: Generated, profile: Profile) -> None:
    """Turn the generated (historic) company into this profile's, before it is loaded."""
    if not profile.everything:
        _Shaper(gen, profile).run()
