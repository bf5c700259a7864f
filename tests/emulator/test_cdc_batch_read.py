"""CDC, batch, reads by id and writes."""

from __future__ import annotations

from qbo_emulator import timefmt
from qbo_emulator.entities import CATALOGUE

from .conftest import Api


def since(emu, seconds_ago: float) -> str:
    return timefmt.fmt(int(emu.clock.epoch() - seconds_ago))


def test_cdc_reports_changes_in_order_with_deleted_stubs_last(fresh):
    emu = fresh(scale=600)
    api = Api(emu)
    store = emu.store()
    emu.clock.advance(seconds=10)
    start = since(emu, 1)
    invoices = emu.ground_truth(api.realm, "Invoice")
    store.update("Invoice", invoices[0]["Id"], {"PrivateNote": "first"})
    emu.clock.advance(seconds=5)
    store.delete("Invoice", invoices[1]["Id"])
    emu.clock.advance(seconds=5)
    store.update("Invoice", invoices[2]["Id"], {"PrivateNote": "last"})
    store.deactivate(
        "Customer", next(c["Id"] for c in emu.ground_truth(api.realm, "Customer") if c["Active"])
    )
    r = api.get("/cdc", {"entities": "Invoice,Customer,Estimate", "changedSince": start})
    assert r.status_code == 200
    qrs = r.json()["CDCResponse"][0]["QueryResponse"]
    assert len(qrs) == 3
    inv = qrs[0]["Invoice"]
    assert [x["Id"] for x in inv] == [invoices[0]["Id"], invoices[2]["Id"], invoices[1]["Id"]]
    assert inv[-1] == {
        "domain": "QBO",
        "status": "Deleted",
        "Id": invoices[1]["Id"],
        "MetaData": {"LastUpdatedTime": inv[-1]["MetaData"]["LastUpdatedTime"]},
    }
    assert qrs[0]["startPosition"] == 1
    assert qrs[0]["maxResults"] == 3
    assert qrs[1]["Customer"][0]["Active"] is False  # CDC shows inactive rows
    assert qrs[2] == {}


def test_cdc_nothing_changed(fresh):
    emu = fresh()
    emu.clock.advance(seconds=60)
    r = Api(emu).get("/cdc", {"entities": "Customer", "changedSince": since(emu, 30)})
    assert r.json()["CDCResponse"] == [{"QueryResponse": [{}]}]


def test_cdc_limits(fresh):
    emu = fresh()
    api = Api(emu)
    old = api.get("/cdc", {"entities": "Invoice", "changedSince": since(emu, 31 * 86400)})
    assert old.status_code == 400
    assert (
        "which is older than fixed days is not supported."
        in old.json()["Fault"]["Error"][0]["Detail"]
    )
    assert (
        api.get("/cdc", {"entities": "Invoice", "changedSince": since(emu, 29 * 86400)}).status_code
        == 200
    )
    date_only = timefmt.pacific_date(int(emu.clock.epoch() - 2 * 86400))
    assert api.get("/cdc", {"entities": "Invoice", "changedSince": date_only}).status_code == 200
    for entity, spec in CATALOGUE.items():
        r = api.get("/cdc", {"entities": entity, "changedSince": since(emu, 86400)})
        assert (r.status_code == 200) == spec.cdc, entity
    for entity in ("JournalCode", "TaxAgency", "TimeActivity", "TaxCode", "TaxRate"):
        assert not CATALOGUE[entity].cdc


def test_cdc_caps_a_response_at_1000_objects(fresh):
    emu = fresh(scale=5000)
    api = Api(emu)
    store = emu.store()
    emu.clock.advance(seconds=30)
    start = since(emu, 1)
    inv = [i["Id"] for i in emu.ground_truth(api.realm, "Invoice")][:800]
    pay = [p["Id"] for p in emu.ground_truth(api.realm, "Payment")][:400]
    assert store.touch_many("Invoice", inv) == 800
    assert store.touch_many("Payment", pay) == 400
    r = api.get("/cdc", {"entities": "Invoice,Payment", "changedSince": start})
    qrs = r.json()["CDCResponse"][0]["QueryResponse"]
    assert len(qrs[0]["Invoice"]) == 800
    assert len(qrs[1]["Payment"]) == 200  # silently cut at 1000 objects in all
    assert qrs[1]["maxResults"] == 200


def test_batch_items_and_limits(fresh):
    emu = fresh()
    api = Api(emu)
    inv = next(i for i in emu.ground_truth(api.realm, "Invoice") if i["TotalAmt"])
    sr = emu.ground_truth(api.realm, "SalesReceipt")[0]
    items = [
        {"bId": "q", "Query": "select count(*) from Invoice"},
        {"bId": "bad", "Query": "select * from Nope"},
        {
            "bId": "void",
            "operation": "update",
            "optionsData": "void",
            "Invoice": {"Id": inv["Id"], "SyncToken": inv["SyncToken"]},
        },
        {
            "bId": "del",
            "operation": "delete",
            "SalesReceipt": {"Id": sr["Id"], "SyncToken": sr["SyncToken"]},
        },
    ]
    r = api.post("/batch", {"BatchItemRequest": items})
    out = {i["bId"]: i for i in r.json()["BatchItemResponse"]}
    assert out["q"]["QueryResponse"]["totalCount"] > 0
    assert out["bad"]["Fault"]["Error"][0]["code"] == "4001"
    assert out["void"]["Invoice"]["TotalAmt"] == 0
    assert out["del"]["SalesReceipt"]["status"] == "Deleted"
    too_many = api.post(
        "/batch",
        {"BatchItemRequest": [{"bId": str(i), "Query": "select * from Term"} for i in range(31)]},
    )
    assert too_many.status_code == 400
    assert (
        api.post(
            "/batch",
            {
                "BatchItemRequest": [
                    {"bId": str(i), "Query": "select * from Term"} for i in range(30)
                ]
            },
        ).status_code
        == 200
    )
    assert emu.request_counts()["batch"] == 3


def test_read_every_entity_by_id(api_ro: Api):
    for entity, spec in CATALOGUE.items():
        if entity in ("ExchangeRate", "TaxClassification", "Preferences"):
            continue
        obj = (
            next(
                o
                for o in api_ro.emu.ground_truth(api_ro.realm, entity)
                if "Id" in o and o["Id"].isdigit()
            )
            if entity != "RecurringTransaction"
            else None
        )
        if obj is None:
            continue
        r = api_ro.get(f"/{spec.path}/{obj['Id']}")
        assert r.status_code == 200, (entity, r.text)
        assert r.json()[entity] == obj
    pref = api_ro.get("/preferences")
    assert set(pref.json()) == {"Preferences", "time"}
    info = api_ro.get(f"/companyinfo/{api_ro.realm}")
    assert info.json()["CompanyInfo"]["Id"] == "1"


def test_read_missing_and_deleted_objects_is_610(fresh):
    emu = fresh()
    api = Api(emu)
    r = api.get("/invoice/987654")
    err = r.json()["Fault"]["Error"][0]
    assert (r.status_code, err["code"], err["Message"]) == (400, "610", "Object Not Found")
    inv = emu.ground_truth(api.realm, "Invoice")[0]
    emu.store().delete("Invoice", inv["Id"])
    assert api.get(f"/invoice/{inv['Id']}").json()["Fault"]["Error"][0]["code"] == "610"
    inactive = next(c for c in emu.ground_truth(api.realm, "Customer") if not c["Active"])
    assert api.get(f"/customer/{inactive['Id']}").status_code == 200  # inactive is still readable


def test_writes_sync_tokens_and_refusals(fresh):
    emu = fresh()
    api = Api(emu)
    cust = next(c for c in emu.ground_truth(api.realm, "Customer") if c["Active"])
    emu.clock.advance(seconds=3)
    r = api.post(
        "/customer",
        {"Id": cust["Id"], "SyncToken": cust["SyncToken"], "sparse": True, "Notes": "VIP"},
    )
    new = r.json()["Customer"]
    assert new["SyncToken"] == str(int(cust["SyncToken"]) + 1)
    assert timefmt.parse_datetime(new["MetaData"]["LastUpdatedTime"]) > timefmt.parse_datetime(
        cust["MetaData"]["LastUpdatedTime"]
    )
    assert new["MetaData"]["CreateTime"] == cust["MetaData"]["CreateTime"]
    stale = api.post(
        "/customer",
        {"Id": cust["Id"], "SyncToken": cust["SyncToken"], "sparse": True, "Notes": "x"},
    )
    assert stale.json()["Fault"]["Error"][0]["code"] == "5010"
    no_delete = api.post(
        "/customer", {"Id": cust["Id"], "SyncToken": new["SyncToken"]}, {"operation": "delete"}
    )
    assert no_delete.status_code == 400
    assert no_delete.json()["Fault"]["Error"][0]["code"] == "6000"
    bill = emu.ground_truth(api.realm, "Bill")[0]
    no_void = api.post(
        "/bill", {"Id": bill["Id"], "SyncToken": bill["SyncToken"]}, {"operation": "void"}
    )
    assert no_void.status_code == 400
    pay = next(p for p in emu.ground_truth(api.realm, "Payment") if p["Line"])
    void = api.post(
        "/payment",
        {"Id": pay["Id"], "SyncToken": pay["SyncToken"], "sparse": True},
        {"operation": "update", "include": "void"},
    )
    assert void.json()["Payment"]["TotalAmt"] == 0
    assert void.json()["Payment"]["PrivateNote"].startswith("Voided")


def test_exchange_rate_read(api_ro: Api):
    rates = api_ro.emu.ground_truth(api_ro.realm, "ExchangeRate")
    eur = sorted(
        (r for r in rates if r["SourceCurrencyCode"] == "EUR"), key=lambda r: r["AsOfDate"]
    )
    r = api_ro.get("/exchangerate", {"sourcecurrencycode": "EUR"})
    assert r.json()["ExchangeRate"] == eur[-1]
    mid = eur[len(eur) // 2]
    r = api_ro.get("/exchangerate", {"sourcecurrencycode": "EUR", "asofdate": mid["AsOfDate"]})
    assert r.json()["ExchangeRate"]["Rate"] == mid["Rate"]
    assert "Id" not in mid
    assert set(mid["MetaData"]) == {"LastUpdatedTime"}
