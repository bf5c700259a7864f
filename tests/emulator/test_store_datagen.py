"""The generated company and the store's mutations."""

from __future__ import annotations

import gc
import re
from collections import Counter
from datetime import datetime
from decimal import Decimal

import pytest

from qbo_emulator import Emulator, timefmt
from qbo_emulator.entities import ENTITY_NAMES
from qbo_emulator.store import MutationError

STAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d-0[78]:00$")
NOT_MONEY = {
    "ExchangeRate",
    "Rate",
    "Qty",
    "TaxPercent",
    "RateValue",
    "DiscountPercent",
    "QtyOnHand",
    "QtyDiff",
    "Hours",
    "Minutes",
    "Level",
    "LineNum",
    "Size",
    "BillRate",
    "HourlyRate",
    "DueDays",
    "DiscountDays",
    "TaxOrder",
}


@pytest.fixture(scope="module")
def company():
    return Emulator(seed=21, scale=3000, now="2026-03-20T10:00:00-07:00")


def walk(node, key=None):
    if isinstance(node, dict):
        for k, v in node.items():
            yield from walk(v, k)
    elif isinstance(node, list):
        for v in node:
            yield from walk(v, key)
    else:
        yield key, node


def all_objects(emu, realm=None):
    realm = realm or emu.realm_ids[0]
    for entity in ENTITY_NAMES:
        for obj in emu.ground_truth(realm, entity):
            yield entity, obj


def test_same_seed_same_company_other_seed_other_company():
    a = Emulator(seed=4, scale=500, now="2026-01-10T09:00:00-08:00")
    b = Emulator(seed=4, scale=500, now="2026-01-10T09:00:00-08:00")
    c = Emulator(seed=5, scale=500, now="2026-01-10T09:00:00-08:00")
    assert a.realm_ids == b.realm_ids
    assert a.client_id == b.client_id
    for entity in ENTITY_NAMES:
        assert a.ground_truth(a.realm_ids[0], entity) == b.ground_truth(b.realm_ids[0], entity), (
            entity
        )
    assert a.ground_truth(a.realm_ids[0], "Customer") != c.ground_truth(c.realm_ids[0], "Customer")


@pytest.mark.parametrize("scale", [300, 2000, 12000])
def test_scale_is_the_total_number_of_records(scale):
    emu = Emulator(seed=1, scale=scale)
    total = sum(len(emu.store().tables[e]) for e in ENTITY_NAMES)
    assert abs(total - scale) <= max(0.15 * scale, 120), total
    assert all(len(emu.store().tables[e]) > 0 for e in ENTITY_NAMES)


def test_money_has_at_most_two_decimals_and_round_trips(company):
    seen = 0
    for entity, obj in all_objects(company):
        for key, v in walk(obj):
            if isinstance(v, float) and key not in NOT_MONEY:
                assert Decimal(repr(v)).as_tuple().exponent >= -2, (entity, key, v)
                assert float(repr(v)) == v
                seen += 1
    assert seen > 1000


def test_timestamps_are_pacific_second_precision_across_dst(company):
    offsets = Counter()
    now = company.clock.epoch()
    for entity, obj in all_objects(company):
        md = obj.get("MetaData")
        if entity == "RecurringTransaction":
            md = next(iter(obj.values()))["MetaData"]
        if md is None:
            assert (
                entity == "TaxClassification"
                or obj.get("Id") in ("TAX", "NON")
                or obj.get("status") == "Deleted"
            )
            continue
        lut = md["LastUpdatedTime"]
        assert STAMP.match(lut), lut
        epoch = timefmt.parse_datetime(lut)
        real = datetime.fromtimestamp(epoch, timefmt.PACIFIC).isoformat()
        assert real == lut, (real, lut)
        assert epoch <= now
        offsets[lut[-6:]] += 1
        if "CreateTime" in md:
            assert STAMP.match(md["CreateTime"])
            assert timefmt.parse_datetime(md["CreateTime"]) <= epoch
    assert offsets["-07:00"] > 100
    assert offsets["-08:00"] > 100


def test_history_spans_years_and_reaches_the_last_30_days(company):
    times = [
        timefmt.parse_datetime(i["MetaData"]["CreateTime"])
        for i in company.ground_truth(None, "Invoice")
    ]
    now = company.clock.epoch()
    assert now - min(times) > 2 * 365 * 86400
    recent = [t for t in times if now - t < 30 * 86400]
    assert len(recent) >= 5


def test_ids_tokens_and_common_keys(company):
    for entity, obj in all_objects(company):
        if entity in ("ExchangeRate", "TaxClassification") or obj.get("Id") in ("TAX", "NON"):
            continue
        core = next(iter(obj.values())) if entity == "RecurringTransaction" else obj
        assert core["Id"].isdigit(), (entity, core["Id"])
        assert core["domain"] == "QBO"
        assert core["sparse"] is False
        assert isinstance(core["SyncToken"], str)
        assert core["SyncToken"].isdigit()


def test_second_level_ties_exist(company):
    for entity in ("Customer", "Invoice"):
        stamps = Counter(
            o["MetaData"]["LastUpdatedTime"] for o in company.ground_truth(None, entity)
        )
        assert max(stamps.values()) >= 3, entity


def test_transactions_reference_the_lists_consistently(company):
    customers = {c["Id"]: c for c in company.ground_truth(None, "Customer")}
    items = {i["Id"] for i in company.ground_truth(None, "Item")}
    invoices = {i["Id"]: i for i in company.ground_truth(None, "Invoice")}
    applied = Counter()
    for p in company.ground_truth(None, "Payment"):
        assert p["CustomerRef"]["value"] in customers
        for line in p["Line"]:
            for link in line["LinkedTxn"]:
                assert link["TxnType"] == "Invoice"
                assert link["TxnId"] in invoices
                assert invoices[link["TxnId"]]["CustomerRef"]["value"] == p["CustomerRef"]["value"]
                applied[link["TxnId"]] += round(line["Amount"] * 100)
    detail_types = Counter()
    for inv in invoices.values():
        assert inv["CustomerRef"]["value"] in customers
        assert inv["CustomerRef"]["name"] == customers[inv["CustomerRef"]["value"]][
            "DisplayName"
        ].removesuffix(" (deleted)")
        for line in inv["Line"]:
            detail_types[line["DetailType"]] += 1
            if line["DetailType"] == "SalesItemLineDetail":
                assert line["SalesItemLineDetail"]["ItemRef"]["value"] in items
        assert round(inv["TotalAmt"] * 100) - applied[inv["Id"]] == round(inv["Balance"] * 100)
        if applied[inv["Id"]]:
            assert int(inv["SyncToken"]) >= 1  # being paid updates the invoice
    assert {
        "SalesItemLineDetail",
        "SubTotalLineDetail",
        "DiscountLineDetail",
        "DescriptionOnly",
    } <= set(detail_types)


def test_realistic_variety(company):
    customers = company.ground_truth(None, "Customer")
    assert any(
        c["Job"] and c["ParentRef"] and c["Level"] == 1 and ":" in c["FullyQualifiedName"]
        for c in customers
    )
    assert any(not c["Active"] for c in customers)
    invoices = company.ground_truth(None, "Invoice")
    foreign = [i for i in invoices if i["CurrencyRef"]["value"] != "USD"]
    assert foreign
    assert all("ExchangeRate" in i and "HomeTotalAmt" in i for i in foreign)
    assert any(i["TxnTaxDetail"].get("TaxLine") for i in invoices)
    assert any(cf.get("StringValue") for i in invoices for cf in i["CustomField"])
    items = company.ground_truth(None, "Item")
    assert {"Inventory", "Service", "NonInventory", "Category"} <= {i["Type"] for i in items}
    assert all("QtyOnHand" in i for i in items if i["Type"] == "Inventory")
    accounts = company.ground_truth(None, "Account")
    assert {
        "Bank",
        "Accounts Receivable",
        "Accounts Payable",
        "Income",
        "Expense",
        "Equity",
        "Credit Card",
        "Fixed Asset",
    } <= {a["AccountType"] for a in accounts}
    payments = company.ground_truth(None, "Payment")
    assert any("LineEx" in line for p in payments for line in p["Line"])
    assert any(p.get("LinkedTxn") and p["LinkedTxn"][0]["TxnType"] == "Deposit" for p in payments)
    assert any("PurchaseEx" in p for p in company.ground_truth(None, "Purchase"))


def test_store_update_create_delete(company_fresh):
    emu = company_fresh
    store = emu.store()
    emu.clock.advance(seconds=5)
    emu.clock.freeze()
    vendor = emu.ground_truth(None, "Vendor")[0]
    new = store.update("Vendor", vendor["Id"], {"CompanyName": "Renamed Co", "AcctNum": None})
    assert new["SyncToken"] == str(int(vendor["SyncToken"]) + 1)
    assert new["MetaData"]["LastUpdatedTime"] == emu.clock.iso()
    assert "AcctNum" not in new
    assert new["CompanyName"] == "Renamed Co"
    created = store.create("Customer", {"DisplayName": "Brand New", "Active": True})
    assert created["Id"].isdigit()
    assert created["SyncToken"] == "0"
    assert created["MetaData"]["CreateTime"] == created["MetaData"]["LastUpdatedTime"]
    ids = {c["Id"] for c in emu.ground_truth(None, "Customer")} | {
        v["Id"] for v in emu.ground_truth(None, "Vendor")
    }
    assert created["Id"] in ids
    assert int(created["Id"]) == max(int(i) for i in ids)
    bill = emu.ground_truth(None, "Bill")[0]
    store.delete("Bill", bill["Id"])
    assert bill["Id"] not in {b["Id"] for b in emu.ground_truth(None, "Bill")}
    assert emu.deleted(None, "Bill")[-1]["Id"] == bill["Id"]
    with pytest.raises(MutationError):
        store.delete("Customer", created["Id"])
    with pytest.raises(MutationError):
        store.void("Bill", emu.ground_truth(None, "Bill")[0]["Id"])
    with pytest.raises(KeyError):
        store.update("Vendor", "999999", {})


def test_deactivate_cascades_to_jobs(company_fresh):
    emu = company_fresh
    store = emu.store()
    customers = emu.ground_truth(None, "Customer")
    parent_id = next(
        c["ParentRef"]["value"] for c in customers if c.get("ParentRef") and c["Active"]
    )
    parent = next(c for c in customers if c["Id"] == parent_id)
    store.deactivate("Customer", parent_id)
    after = {c["Id"]: c for c in emu.ground_truth(None, "Customer")}
    assert after[parent_id]["Active"] is False
    assert after[parent_id]["DisplayName"] == parent["DisplayName"] + " (deleted)"
    jobs = [c for c in after.values() if c.get("ParentRef", {}).get("value") == parent_id]
    assert jobs
    assert all(not j["Active"] for j in jobs)


def test_merge_moves_references_and_deletes_the_source(company_fresh):
    emu = company_fresh
    store = emu.store()
    invoices = emu.ground_truth(None, "Invoice")
    by_customer = Counter(i["CustomerRef"]["value"] for i in invoices)
    (src, _), (dst, _) = by_customer.most_common(2)
    emu.clock.advance(seconds=2)
    emu.clock.freeze()
    store.merge("Customer", src, dst)
    after = emu.ground_truth(None, "Invoice")
    assert not [i for i in after if i["CustomerRef"]["value"] == src]
    moved = [
        i
        for i in after
        if i["CustomerRef"]["value"] == dst and i["MetaData"]["LastUpdatedTime"] == emu.clock.iso()
    ]
    assert len(moved) == by_customer[src]
    assert src in {d["Id"] for d in emu.deleted(None, "Customer")}


def test_touch_many_and_frozen_clock_make_ties(company_fresh):
    emu = company_fresh
    store = emu.store()
    ids = [p["Id"] for p in emu.ground_truth(None, "Payment")][:300]
    store.touch_many("Payment", ids, when="2026-03-08T01:59:59-08:00")  # a second before DST
    stamps = {
        p["MetaData"]["LastUpdatedTime"]
        for p in emu.ground_truth(None, "Payment")
        if p["Id"] in set(ids)
    }
    assert stamps == {"2026-03-08T01:59:59-08:00"}
    store.touch_many("Payment", ids[:10], when="2026-03-08T10:00:00Z")
    first = next(p for p in emu.ground_truth(None, "Payment") if p["Id"] == ids[0])
    assert first["MetaData"]["LastUpdatedTime"] == "2026-03-08T03:00:00-07:00"  # 10:00Z: PDT starts
    emu.clock.freeze()
    a = store.update("Term", "1", {"DueDays": 1})
    emu.clock.advance(seconds=0)
    b = store.update("Term", "2", {"DueDays": 2})
    assert a["MetaData"]["LastUpdatedTime"] == b["MetaData"]["LastUpdatedTime"]
    emu.clock.advance(days=1)
    assert (
        store.update("Term", "3", {"DueDays": 3})["MetaData"]["LastUpdatedTime"]
        != a["MetaData"]["LastUpdatedTime"]
    )
    emu.clock.unfreeze()
    assert not emu.clock.frozen


def test_void_and_deleting_a_payment_reopen_invoices(company_fresh):
    emu = company_fresh
    store = emu.store()
    pay = next(p for p in emu.ground_truth(None, "Payment") if p["Line"] and p["TotalAmt"])
    inv_id = pay["Line"][0]["LinkedTxn"][0]["TxnId"]
    before = next(i for i in emu.ground_truth(None, "Invoice") if i["Id"] == inv_id)
    store.void("Payment", pay["Id"])
    after = next(i for i in emu.ground_truth(None, "Invoice") if i["Id"] == inv_id)
    assert round(after["Balance"] * 100) == round(before["Balance"] * 100) + round(
        pay["Line"][0]["Amount"] * 100
    )
    voided = next(p for p in emu.ground_truth(None, "Payment") if p["Id"] == pay["Id"])
    assert voided["TotalAmt"] == 0
    assert voided["PrivateNote"].startswith("Voided")


@pytest.fixture
def company_fresh():
    return Emulator(seed=8, scale=1200)


@pytest.mark.parametrize("seed", range(12))
def test_many_seeds_generate_cleanly(seed):
    emu = Emulator(seed=seed, scale=200 + 37 * seed, realms=1)
    store = emu.store()
    assert all(len(store.tables[e]) for e in ENTITY_NAMES)
    for table in store.tables.values():
        assert table.index == sorted(table.index)


def test_a_seed_gives_the_same_company_whatever_day_it_starts():
    a = Emulator(seed=6, scale=700, now="2026-02-01T10:00:00-08:00")
    b = Emulator(seed=6, scale=700, now="2026-07-19T16:30:00-07:00")
    for entity in ("Customer", "Vendor", "Item", "Account"):
        names = [
            [o.get("DisplayName") or o.get("Name") for o in e.ground_truth(None, entity)]
            for e in (a, b)
        ]
        assert names[0] == names[1], entity
    inv = [
        [
            (i["Id"], i["CustomerRef"]["value"], i["TotalAmt"])
            for i in e.ground_truth(None, "Invoice")
            if i["CurrencyRef"]["value"] == "USD"
        ]
        for e in (a, b)
    ]
    assert inv[0] == inv[1]
    shift = b.clock.epoch() - a.clock.epoch()
    first = [
        timefmt.parse_datetime(e.ground_truth(None, "Invoice")[0]["MetaData"]["CreateTime"])
        for e in (a, b)
    ]
    assert abs(first[1] - first[0] - shift) < 2


@pytest.mark.parametrize("enabled", [True, False])
def test_generating_a_company_leaves_the_collector_as_the_caller_set_it(enabled: bool) -> None:
    """gc.freeze is the serving process's choice (qbo-emulator's main), never the library's:
    in-process callers (the tests, the benches) keep their collector as they set it."""
    was = gc.isenabled()
    (gc.enable if enabled else gc.disable)()
    try:
        frozen = gc.get_freeze_count()
        emu = Emulator(seed=2, scale=200)
        assert (gc.isenabled(), gc.get_freeze_count()) == (enabled, frozen)
        assert emu.ground_truth(None, "Customer")  # a company was made
    finally:
        (gc.enable if was else gc.disable)()
