"""The emulator's write side: requestid, validation faults, stock, and the write behaviours."""

from __future__ import annotations

import pytest
import requests

from qbo_emulator.writes import HUMAN_NOTE

from .conftest import Api


def _stock_item(emu, realm):
    return next(
        i for i in emu.ground_truth(realm, "Item") if i.get("TrackQtyOnHand") and i["Active"]
    )


def _customer(emu, realm):
    return next(c for c in emu.ground_truth(realm, "Customer") if c["Active"])


def _receipt(emu, realm, doc: str, qty: int = 2, price: float = 12.5) -> dict:
    item = _stock_item(emu, realm)
    return {
        "DocNumber": doc,
        "CustomerRef": {"value": _customer(emu, realm)["Id"]},
        "Line": [
            {
                "DetailType": "SalesItemLineDetail",
                "Amount": qty * price,
                "SalesItemLineDetail": {
                    "ItemRef": {"value": item["Id"]},
                    "Qty": qty,
                    "UnitPrice": price,
                },
            }
        ],
    }


def _receipts(emu, realm, doc: str) -> list[dict]:
    return [r for r in emu.ground_truth(realm, "SalesReceipt") if r.get("DocNumber") == doc]


def test_a_repeated_requestid_gets_the_first_answer_and_writes_nothing(fresh):
    emu = fresh()
    api = Api(emu)
    body = _receipt(emu, api.realm, "RID-1")
    first = api.post("/salesreceipt", body, {"requestid": "r-1"})
    again = api.post("/salesreceipt", body, {"requestid": "r-1"})
    assert first.status_code == again.status_code == 200
    assert first.json()["SalesReceipt"] == again.json()["SalesReceipt"]
    assert len(_receipts(emu, api.realm, "RID-1")) == 1
    emu.writes.requestid_dedup = False  # QBO's reported lapse: now a repeat writes again
    body["DocNumber"] = "RID-2"
    assert api.post("/salesreceipt", body, {"requestid": "r-2"}).status_code == 200
    repeat = api.post("/salesreceipt", body, {"requestid": "r-2"})
    assert repeat.json()["Fault"]["Error"][0]["code"] == "6140"  # it tried to write again
    assert api.post("/salesreceipt", body, {"requestid": "x" * 51}).status_code == 400
    assert api.post("/batch", {"BatchItemRequest": []}, {"requestid": "y" * 37}).status_code == 400


def test_sales_reduce_stock_adjustments_move_it_voids_give_it_back(fresh):
    emu = fresh()
    api = Api(emu)
    item = _stock_item(emu, api.realm)
    start = item["QtyOnHand"]
    sale = api.post("/salesreceipt", _receipt(emu, api.realm, "S-1", qty=3))
    assert sale.status_code == 200, sale.text
    assert sale.json()["SalesReceipt"]["TotalAmt"] == 37.5  # QBO adds the lines up
    assert emu.store().get("Item", item["Id"])["QtyOnHand"] == start - 3
    account = emu.ground_truth(api.realm, "Account")[0]["Id"]
    adj = {
        "AdjustAccountRef": {"value": account},
        "Line": [
            {
                "DetailType": "ItemAdjustmentLineDetail",
                "ItemAdjustmentLineDetail": {"ItemRef": {"value": item["Id"]}, "QtyDiff": 10},
            }
        ],
    }
    assert api.post("/inventoryadjustment", adj).status_code == 200
    assert emu.store().get("Item", item["Id"])["QtyOnHand"] == start + 7
    receipt = sale.json()["SalesReceipt"]
    voided = api.post(
        "/salesreceipt",
        {"Id": receipt["Id"], "SyncToken": receipt["SyncToken"]},
        {"operation": "void"},
    )
    assert voided.status_code == 200, voided.text
    assert emu.store().get("Item", item["Id"])["QtyOnHand"] == start + 10


def test_validation_faults(fresh):
    emu = fresh()
    api = Api(emu)
    assert api.post("/salesreceipt", _receipt(emu, api.realm, "D-1")).status_code == 200
    dup = api.post("/salesreceipt", _receipt(emu, api.realm, "D-1"))
    assert dup.status_code == 400
    assert dup.json()["Fault"]["Error"][0]["code"] == "6140"
    bad_ref = _receipt(emu, api.realm, "D-2")
    bad_ref["CustomerRef"] = {"value": "999999"}
    answer = api.post("/salesreceipt", bad_ref)
    assert answer.json()["Fault"]["Error"][0]["code"] == "2500"
    name = _customer(emu, api.realm)["DisplayName"]
    assert api.post("/customer", {"DisplayName": name}).json()["Fault"]["Error"][0]["code"] == (
        "6240"
    )
    emu.store().meta["country"] = "GB"
    vat = api.post("/salesreceipt", _receipt(emu, api.realm, "D-3"))
    assert vat.status_code == 400
    assert "VAT rate" in vat.json()["Fault"]["Error"][0]["Detail"]
    assert vat.json()["Fault"]["Error"][0]["code"] == "6000"
    assert _receipts(emu, api.realm, "D-2") == _receipts(emu, api.realm, "D-3") == []


def test_a_lost_answer_was_still_written_and_a_503_was_not(fresh):
    emu = fresh()
    api = Api(emu)
    emu.writes.lost_after_commit = 1.0
    with pytest.raises(requests.RequestException):
        api.post("/salesreceipt", _receipt(emu, api.realm, "L-1"), {"requestid": "lost-1"})
    assert len(_receipts(emu, api.realm, "L-1")) == 1
    emu.writes.lost_after_commit = 0.0
    retry = api.post("/salesreceipt", _receipt(emu, api.realm, "L-1"), {"requestid": "lost-1"})
    assert retry.status_code == 200  # the original answer, not a 6140
    assert retry.json()["SalesReceipt"]["Id"] == _receipts(emu, api.realm, "L-1")[0]["Id"]
    emu.writes.fail_before_commit = 1.0
    refused = api.post("/salesreceipt", _receipt(emu, api.realm, "L-2"), {"requestid": "lost-2"})
    assert refused.status_code == 503
    assert _receipts(emu, api.realm, "L-2") == []


def test_a_person_editing_in_between_makes_the_update_stale_once(fresh):
    emu = fresh()
    api = Api(emu)
    emu.writes.edit_between = 1.0
    created = api.post("/salesreceipt", _receipt(emu, api.realm, "E-1")).json()["SalesReceipt"]
    update = {"Id": created["Id"], "SyncToken": created["SyncToken"], "sparse": True}
    stale = api.post("/salesreceipt", {**update, "CustomerMemo": {"value": "ours"}})
    assert stale.json()["Fault"]["Error"][0]["code"] == "5010"
    current = emu.store().get("SalesReceipt", created["Id"])
    update["SyncToken"] = current["SyncToken"]
    ok = api.post("/salesreceipt", {**update, "CustomerMemo": {"value": "ours"}})
    assert ok.status_code == 200, ok.text
    final = emu.store().get("SalesReceipt", created["Id"])
    assert final["PrivateNote"] == HUMAN_NOTE
    assert final["CustomerMemo"] == {"value": "ours"}


def test_batch_items_get_the_same_checks(fresh):
    emu = fresh()
    api = Api(emu)
    items = [
        {"bId": "1", "operation": "create", "SalesReceipt": _receipt(emu, api.realm, "B-1")},
        {"bId": "2", "operation": "create", "SalesReceipt": _receipt(emu, api.realm, "B-1")},
    ]
    answer = api.post("/batch", {"BatchItemRequest": items}, {"requestid": "b-1"})
    out = answer.json()["BatchItemResponse"]
    assert "SalesReceipt" in out[0]
    assert out[1]["Fault"]["Error"][0]["code"] == "6140"
    again = api.post("/batch", {"BatchItemRequest": items}, {"requestid": "b-1"})
    assert again.json()["BatchItemResponse"] == out
    assert len(_receipts(emu, api.realm, "B-1")) == 1
