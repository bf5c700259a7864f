"""Company profiles: what each company has, and QBO's refusal wherever the rest is asked for."""

from __future__ import annotations

import requests

from qbo_emulator import Emulator
from qbo_emulator.profiles import PROFILES
from tests.emulator.conftest import Api

PERMISSION_DENIED = (
    "Permission Denied Error : You do not have the access rights to use this feature."
)


def fault(response: requests.Response) -> dict:
    return response.json()["Fault"]["Error"][0]


def test_what_a_company_cannot_have_is_refused_wherever_it_is_asked_for(fresh) -> None:
    emu = fresh(scale=200, profiles=["us_simple_start"])
    api = Api(emu)
    since = emu.clock.iso()
    asked = {
        "query": api.query("SELECT * FROM Class"),
        "count": api.query("SELECT COUNT(*) FROM Class"),
        "read": api.get("/class/1"),
        "cdc": api.get("/cdc", {"entities": "Customer,Class", "changedSince": since}),
        "write": api.post("/class", {"Name": "New"}),
        "report": api.get("/reports/CashFlow"),
    }
    for how, response in asked.items():
        assert response.status_code == 400, how
        error = fault(response)
        assert (error["code"], error["Message"], error["Detail"]) == (
            "5020",
            "Permission Denied Error",
            PERMISSION_DENIED,
        ), how
    missing = api.query("SELECT * FROM JournalCode")
    assert missing.status_code == 400
    assert fault(missing) == {
        "Message": "Invalid query",
        "Detail": "QueryValidationError: Metadata not found for Entity: JournalCode",
        "code": "4001",
    }
    batch = api.post(
        "/batch",
        {
            "BatchItemRequest": [
                {"bId": "a", "Query": "SELECT * FROM Bill"},
                {"bId": "b", "Query": "SELECT * FROM Term"},
            ]
        },
    )
    assert batch.status_code == 200
    items = {i["bId"]: i for i in batch.json()["BatchItemResponse"]}
    assert items["a"]["Fault"]["Error"][0]["code"] == "5020"
    assert items["b"]["QueryResponse"]["Term"]
    # What it has answers as ever.
    assert api.rows("SELECT * FROM Customer", "Customer")


def test_profiles_shape_company_info_preferences_and_data(fresh) -> None:
    emu = fresh(scale=200, profiles=["uk", "fr", "us_plus_no_inventory", "ca"])
    uk, fr, plus, ca = emu.realm_ids
    info = emu.ground_truth(uk, "CompanyInfo")[0]
    prefs = emu.ground_truth(uk, "Preferences")[0]
    assert (info["Country"], info["CompanyAddr"]["Country"]) == ("GB", "GBR")
    assert prefs["CurrencyPrefs"] == {
        "MultiCurrencyEnabled": False,
        "HomeCurrency": {"value": "GBP"},
    }
    assert "PartnerTaxEnabled" not in prefs["TaxPrefs"]
    assert {c["Name"] for c in emu.ground_truth(uk, "TaxCode")} >= {"20.0% S", "5.0% R"}
    invoices = emu.ground_truth(uk, "Invoice")
    assert {i["CurrencyRef"]["value"] for i in invoices} == {"GBP"}
    assert not any("ExchangeRate" in i or "HomeTotalAmt" in i for i in invoices)
    assert emu.ground_truth(fr, "CompanyInfo")[0]["SupportedLanguages"] == "fr"
    assert emu.ground_truth(fr, "JournalCode")
    assert not emu.ground_truth(uk, "JournalCode")
    assert not any(i.get("Type") == "Inventory" for i in emu.ground_truth(plus, "Item"))
    assert (
        emu.ground_truth(plus, "Preferences")[0]["ProductAndServicesPrefs"]["QuantityOnHand"]
        is False
    )
    # Canada keeps multicurrency: USD becomes a foreign currency, CAD the home one.
    assert "USD" in {c["Code"] for c in emu.ground_truth(ca, "CompanyCurrency")}
    assert "CAD" not in {c["Code"] for c in emu.ground_truth(ca, "CompanyCurrency")}
    assert emu.info()["profiles"] == dict(
        zip(emu.realm_ids, ["uk", "fr", "us_plus_no_inventory", "ca"], strict=True)
    )


def test_the_default_company_is_the_historic_one() -> None:
    at = "2026-06-01T12:00:00Z"  # both made at the same instant: the same company
    plain = Emulator(seed=4, scale=200, now=at)
    named = Emulator(seed=4, scale=200, now=at, profiles=["default"])
    realm = plain.realm_ids[0]
    assert named.realm_ids == [realm]
    assert plain.store(realm).refused == {}
    for entity in ("Invoice", "TaxCode", "CompanyInfo", "Preferences", "Item", "JournalCode"):
        assert plain.ground_truth(realm, entity) == named.ground_truth(realm, entity)
    assert set(PROFILES) >= {
        "us_simple_start",
        "us_essentials",
        "us_plus_no_inventory",
        "us_advanced",
        "ca",
        "uk",
        "au",
        "fr",
    }


def test_the_admin_api_changes_what_a_company_has(fresh) -> None:
    emu = fresh(scale=200, profiles=["us_simple_start"])
    api = Api(emu)
    assert api.query("SELECT * FROM Class").status_code == 400
    r = requests.post(
        f"{emu.base_url}/_emulator/profile",
        json={"realm": api.realm, "profile": "us_advanced"},
        timeout=10,
    )
    assert r.json() == {"realm": api.realm, "profile": "us_advanced"}
    assert api.query("SELECT * FROM Class").status_code == 200


# What each edition has, as Intuit and QBO's guides say (sources in docs/emulator.md,
# "Company profiles"): Simple Start < Essentials < Plus = Advanced, for these entities.
EDITIONS = {
    "us_simple_start": set(),
    "us_essentials": {"Bill", "TimeActivity", "RecurringTransaction", "CompanyCurrency"},
    "us_advanced": {
        *("Bill", "TimeActivity", "RecurringTransaction", "CompanyCurrency", "Class"),
        *("Department", "Budget", "PurchaseOrder", "ReimburseCharge", "InventoryAdjustment"),
    },
}
EDITION_GATED = set().union(*EDITIONS.values())


def test_editions_and_countries_have_what_qbo_documents() -> None:
    for name, has in EDITIONS.items():
        profile = PROFILES[name]
        assert {e for e in EDITION_GATED if profile.has(e)} == has, name
    for name, profile in PROFILES.items():
        if profile.everything:
            continue
        # JournalCode is France's alone; TaxPayment needs US automated sales tax.
        assert profile.has("JournalCode") == (profile.country.code == "FR"), name
        assert profile.has("TaxPayment") == (
            profile.country.code == "US" and profile.automated_sales_tax
        ), name
        for entity in ("Customer", "Invoice", "TaxCode", "TaxRate", "Account", "Purchase"):
            assert profile.has(entity), (name, entity)


def test_simple_start_has_no_recurring_transactions(fresh) -> None:
    emu = fresh(scale=200, profiles=["us_simple_start", "us_essentials"])
    simple, essentials = (Api(emu, realm) for realm in emu.realm_ids)
    refused = simple.query("SELECT * FROM RecurringTransaction")
    assert refused.status_code == 400
    assert fault(refused)["code"] == "5020"
    assert essentials.query("SELECT * FROM RecurringTransaction").status_code == 200
