"""target-quickbooks as users run it: a process reading Singer messages, writing to the
emulator; every check compares with the emulator's ground truth and the ledger."""

from __future__ import annotations

import csv
import json
import os
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from decimal import Decimal
from pathlib import Path

import pytest

from qbo_emulator.writes import HUMAN_NOTE
from tap_quickbooks.schemas import entity_schema
from tests.singer import run_tap
from tests.test_tap_sync import select

FAST = {"retry_base_seconds": 0.01, "max_retry_wait": 0.05, "circuit_cooldown_seconds": 0.05}


def target_config(emu, tmp_path: Path, **extra) -> dict:
    return {
        **emu.tap_config(),
        "ledger_path": str(tmp_path / "ledger.sqlite"),
        "token_store_path": str(tmp_path / "token.json"),
        **FAST,
        **extra,
    }


def messages(stream: str, entity: str | None, key: list[str], records: list[dict]) -> list[dict]:
    schema = entity_schema(entity) if entity else {"type": "object", "properties": {}}
    schema["properties"].setdefault("sku", {"type": ["string", "null"]})
    schema["properties"].setdefault("QtyOnHand", {"type": ["number", "null"]})
    out = [{"type": "SCHEMA", "stream": stream, "schema": schema, "key_properties": key}]
    out += [{"type": "RECORD", "stream": stream, "record": r} for r in records]
    return out


def run_target(
    config: dict, lines: list[dict], tmp_path: Path, args=()
) -> subprocess.CompletedProcess:
    path = tmp_path / "target.json"
    path.write_text(json.dumps(config))
    return subprocess.run(
        [sys.executable, "-m", "target_quickbooks", *args, "--config", str(path)],
        input="".join(json.dumps(m) + "\n" for m in lines),
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
        cwd=tmp_path,
    )


def ledger_rows(config: dict, status: str | None = None) -> list[tuple]:
    with sqlite3.connect(config["ledger_path"]) as db:
        sql = "SELECT stream, key, qbo_id, status, message FROM records"
        if status:
            return db.execute(sql + " WHERE status = ?", (status,)).fetchall()
        return db.execute(sql).fetchall()


def stock_items(emu) -> list[dict]:
    return [i for i in emu.ground_truth(None, "Item") if i.get("TrackQtyOnHand") and i["Active"]]


def receipts_input(emu, n: int) -> tuple[list[dict], dict[str, int]]:
    """n sales receipts, amounts with cents; returns them and their totals in cents."""
    customers = [c for c in emu.ground_truth(None, "Customer") if c["Active"]]
    items = stock_items(emu)
    records, totals = [], {}
    for i in range(n):
        lines, cents = [], 0
        for j in range(1 + i % 2):
            qty, price_cents = 1 + (i + j) % 3, 199 + (i * 37 + j * 11) % 5000
            lines.append(
                {
                    "DetailType": "SalesItemLineDetail",
                    "Amount": qty * price_cents / 100,
                    "SalesItemLineDetail": {
                        "ItemRef": {"value": items[(i + j) % len(items)]["Id"]},
                        "Qty": qty,
                        "UnitPrice": price_cents / 100,
                    },
                }
            )
            cents += qty * price_cents
        doc = f"WEB-{i:05d}"
        records.append(
            {
                "DocNumber": doc,
                "TxnDate": "2026-03-01",
                "CustomerRef": {"value": customers[i % len(customers)]["Id"]},
                "Line": lines,
                "shop_order_id": f"shop-{i}",  # the platform's own field: never sent to QBO
            }
        )
        totals[doc] = cents
    return records, totals


def _ours(emu) -> list[dict]:
    return [
        r
        for r in emu.ground_truth(None, "SalesReceipt")
        if str(r.get("DocNumber", "")).startswith("WEB-")
    ]


@pytest.mark.parametrize("dedup", [True, False], ids=["requestid-dedup", "dedup-lapses"])
def test_receipts_land_exactly_once_when_answers_are_lost(make_company, tmp_path, dedup):
    emu = make_company()
    emu.writes.configure(lost_after_commit=0.10, fail_before_commit=0.05, requestid_dedup=dedup)
    records, totals = receipts_input(emu, 300)
    qty_before = {i["Id"]: i["QtyOnHand"] for i in stock_items(emu)}
    config = target_config(emu, tmp_path)
    lines = messages("sales_receipts", "SalesReceipt", ["DocNumber"], records)

    run = run_target(config, lines, tmp_path)
    assert run.returncode == 0, run.stderr[-3000:]
    outcomes = Counter(outcome for _, _, outcome in emu.writes.log)
    assert outcomes["lost"] >= 1
    assert outcomes["refused"] >= 1
    ours = _ours(emu)
    assert Counter(r["DocNumber"] for r in ours) == Counter(list(totals))  # each once, none missing
    for r in ours:
        assert round(r["TotalAmt"] * 100) == totals[r["DocNumber"]], r["DocNumber"]
        assert "shop_order_id" not in r
    sold = Counter()
    for rec in records:
        for line in rec["Line"]:
            sold[line["SalesItemLineDetail"]["ItemRef"]["value"]] += line["SalesItemLineDetail"][
                "Qty"
            ]
    for item in stock_items(emu):
        assert item["QtyOnHand"] == qty_before[item["Id"]] - sold[item["Id"]]
    assert len(ledger_rows(config, "written")) == 300
    if not dedup:  # the tap reads them back: once each, to the cent
        emu.writes.configure(lost_after_commit=0, fail_before_commit=0)
        tap_config = {k: v for k, v in config.items() if k not in FAST}
        read = run_tap(tap_config, args=["--catalog", str(select(tap_config, ["sales_receipts"]))])
        assert read.returncode == 0, read.stderr[-2000:]
        back = [r for r in read.records["sales_receipts"] if str(r["DocNumber"]).startswith("WEB-")]
        assert sorted(r["DocNumber"] for r in back) == sorted(totals)
        for r in back:
            assert r["TotalAmt"] == Decimal(totals[r["DocNumber"]]) / 100

    writes_before = emu.request_counts()
    replay = run_target(config, lines, tmp_path)
    assert replay.returncode == 0, replay.stderr[-3000:]
    assert len(_ours(emu)) == 300
    after = emu.request_counts()
    for kind in ("write", "batch"):
        assert after.get(kind, 0) == writes_before.get(kind, 0), kind  # a replay sends nothing


def test_a_person_editing_meanwhile_keeps_their_edit_and_gets_ours(make_company, tmp_path):
    emu = make_company()
    records, _ = receipts_input(emu, 5)
    config = target_config(emu, tmp_path)
    first = run_target(
        config, messages("sales_receipts", "SalesReceipt", ["DocNumber"], records), tmp_path
    )
    assert first.returncode == 0, first.stderr[-3000:]
    ids = {r["DocNumber"]: r["Id"] for r in _ours(emu)}
    emu.writes.edit_between = 1.0
    changed = [{**r, "CustomerMemo": {"value": f"Thanks, order {r['DocNumber']}"}} for r in records]
    second = run_target(
        config, messages("sales_receipts", "SalesReceipt", ["DocNumber"], changed), tmp_path
    )
    assert second.returncode == 0, second.stderr[-3000:]
    assert "5 stale-object retries" in second.stderr
    ours = _ours(emu)
    assert {r["DocNumber"]: r["Id"] for r in ours} == ids  # updated in place, nothing new
    for r in ours:
        assert r["PrivateNote"] == HUMAN_NOTE  # the person's edit
        assert r["CustomerMemo"] == {"value": f"Thanks, order {r['DocNumber']}"}  # ours


def test_rejected_records_are_kept_in_the_ledger_and_the_rest_written(make_company, tmp_path):
    emu = make_company()
    records, _ = receipts_input(emu, 6)
    existing = emu.ground_truth(None, "SalesReceipt")[0]["DocNumber"]
    records[1]["CustomerRef"] = {"value": "987654"}  # no such customer
    records[2]["DocNumber"] = existing  # 6140: the company has this number already
    taken = next(c for c in emu.ground_truth(None, "Customer") if c["Active"])["DisplayName"]
    lines = messages("sales_receipts", "SalesReceipt", ["DocNumber"], records)
    lines += messages(
        "customers", "Customer", ["DisplayName"], [{"DisplayName": taken}, {"DisplayName": "New"}]
    )
    config = target_config(emu, tmp_path)
    run = run_target(config, lines, tmp_path)
    assert run.returncode == 1
    assert "3 record(s) rejected" in run.stderr
    assert config["ledger_path"] in run.stderr
    assert "Traceback" not in run.stderr
    rejected = {(s, k): m for s, k, _, _, m in ledger_rows(config, "rejected")}
    assert set(rejected) == {
        ("sales_receipts", records[1]["DocNumber"]),
        ("sales_receipts", existing),
        ("customers", taken),
    }
    assert "code 2500" in rejected[("sales_receipts", records[1]["DocNumber"])]
    assert "code 6140" in rejected[("sales_receipts", existing)]
    assert "code 6240" in rejected[("customers", taken)]
    docs = {r["DocNumber"] for r in _ours(emu)}
    assert docs == {r["DocNumber"] for i, r in enumerate(records) if i not in (1, 2)}
    assert any(c["DisplayName"] == "New" for c in emu.ground_truth(None, "Customer"))


def test_outside_the_us_a_sale_without_a_tax_code_is_rejected(make_company, tmp_path):
    emu = make_company()
    emu.store().meta["country"] = "GB"
    records, _ = receipts_input(emu, 2)
    config = target_config(emu, tmp_path)
    run = run_target(
        config, messages("sales_receipts", "SalesReceipt", ["DocNumber"], records), tmp_path
    )
    assert run.returncode == 1
    messages_6000 = [m for *_, m in ledger_rows(config, "rejected")]
    assert len(messages_6000) == 2
    assert all("code 6000" in m and "VAT rate" in m for m in messages_6000)
    assert _ours(emu) == []


def test_quantities_reach_their_targets_exactly_through_adjustments(make_company, tmp_path):
    emu = make_company()
    emu.writes.configure(lost_after_commit=0.3, requestid_dedup=False)
    items = [i for i in stock_items(emu) if i.get("Sku")]
    start = {i["Sku"]: i["QtyOnHand"] for i in items}
    targets = {sku: qty + 7 * (n + 1) - 10 for n, (sku, qty) in enumerate(start.items())}
    adjustments_before = {a["Id"] for a in emu.ground_truth(None, "InventoryAdjustment")}
    records = [{"sku": sku, "QtyOnHand": qty} for sku, qty in targets.items()]
    records.append({"sku": "NO-SUCH-SKU", "QtyOnHand": 5})
    config = target_config(emu, tmp_path, reconcile_tolerance_pct=1)
    run = run_target(config, messages("item_quantities", None, ["sku"], records), tmp_path)
    assert run.returncode == 1  # the unknown sku is rejected, the rest written
    now = {i["Sku"]: i["QtyOnHand"] for i in stock_items(emu) if i.get("Sku")}
    assert now == targets
    new = [
        a
        for a in emu.ground_truth(None, "InventoryAdjustment")
        if a["Id"] not in adjustments_before
    ]
    assert len(new) == 1  # one adjustment, never a second after a lost answer
    by_id = {i["Id"]: i["Sku"] for i in items}
    diffs = {
        by_id[line["ItemAdjustmentLineDetail"]["ItemRef"]["value"]]: line[
            "ItemAdjustmentLineDetail"
        ]["QtyDiff"]
        for line in new[0]["Line"]
    }
    assert diffs == {sku: targets[sku] - start[sku] for sku in targets}
    report = Path(config["ledger_path"]).with_name("ledger-reconciliation.csv")
    rows = list(csv.DictReader(report.open()))
    assert {r["item"]: r["flagged"] for r in rows} == {
        **dict.fromkeys(targets, "False"),
        "NO-SUCH-SKU": "True",
    }
    assert "Reconciliation: 5 items compared" in run.stderr or "items compared" in run.stderr


def test_reconcile_command_flags_differences_and_writes_nothing(make_company, tmp_path):
    emu = make_company()
    items = [i for i in stock_items(emu) if i.get("Sku")]
    platform = tmp_path / "inventory.csv"
    with platform.open("w", newline="") as handle:
        out = csv.writer(handle)
        out.writerow(["sku", "QtyOnHand"])
        out.writerow([items[0]["Sku"], items[0]["QtyOnHand"]])  # equal
        out.writerow([items[1]["Sku"], items[1]["QtyOnHand"] * 1.5 + 10])  # far off
    config = target_config(emu, tmp_path)
    before = emu.request_counts()
    run = run_target(config, [], tmp_path, args=["reconcile", "--platform", str(platform)])
    assert run.returncode == 0, run.stderr
    assert "2 items compared, 1 flagged" in run.stderr
    after = emu.request_counts()
    assert after.get("write", 0) == before.get("write", 0)
    assert after.get("query", 0) - before.get("query", 0) == 1  # one query per 1,000 items
    with sqlite3.connect(config["ledger_path"]) as db:
        flagged = db.execute("SELECT item_key, flagged FROM reconciliation").fetchall()
    assert dict(flagged) == {items[0]["Sku"]: 0, items[1]["Sku"]: 1}


def test_bad_input_gets_one_clear_message(make_company, tmp_path):
    emu = make_company()
    config = target_config(emu, tmp_path)
    cases = [
        (messages("bills", "Bill", ["DocNumber"], []), "Stream 'bills' is not one target-"),
        (messages("sales_receipts", "SalesReceipt", [], []), "has no key_properties"),
        (
            messages("sales_receipts", "SalesReceipt", ["DocNumber"], [{"DocNumber": 5}]),
            "does not match its SCHEMA: 5 is not of type",
        ),
        (
            [{"type": "RECORD", "stream": "customers", "record": {}}],
            "before a corresponding schema",
        ),
    ]
    for lines, sentence in cases:
        run = run_target(config, lines, tmp_path)
        assert run.returncode == 1
        assert sentence in run.stderr
        assert "Traceback" not in run.stderr
        assert emu.client_secret not in run.stderr


def test_the_circuit_breaker_stops_hammering_a_failing_qbo(make_company, tmp_path):
    emu = make_company()
    records, _ = receipts_input(emu, 3)
    emu.behaviour.faults = [("503", 1.0)]
    config = target_config(emu, tmp_path)
    run = run_target(
        config, messages("sales_receipts", "SalesReceipt", ["DocNumber"], records), tmp_path
    )
    assert run.returncode == 1
    assert run.stderr.count("Circuit breaker open: 5 failed requests in a row") == 3
    assert "after 3 cool-downs" in run.stderr
    assert "Traceback" not in run.stderr
    # 5 failures open it; after each of the 3 cool-downs one try, then it gives up: 8 calls.
    counts = emu.request_counts()
    assert counts.get("batch", 0) + counts.get("query", 0) + counts.get("write", 0) == 8
    assert {s for _, _, _, s, _ in ledger_rows(config)} == {"pending"}


def test_a_run_that_never_learnt_its_outcomes_is_resolved_by_the_next(make_company, tmp_path):
    emu = make_company()
    emu.writes.configure(lost_after_commit=1.0, requestid_dedup=False)
    records, _ = receipts_input(emu, 40)
    config = target_config(emu, tmp_path, max_retries=0)
    lines = messages("sales_receipts", "SalesReceipt", ["DocNumber"], records)
    first = run_target(config, lines, tmp_path)
    assert first.returncode == 1
    assert "40 with an unknown outcome" in first.stderr
    assert {status for *_, status, _ in ledger_rows(config)} == {"pending"}
    emu.writes.configure(lost_after_commit=0.0)
    second = run_target({**config, "max_retries": 8}, lines, tmp_path)
    assert second.returncode == 0, second.stderr[-3000:]
    assert "40 found after a lost answer" in second.stderr
    assert Counter(r["DocNumber"] for r in _ours(emu)) == Counter(r["DocNumber"] for r in records)
    assert {status for *_, status, _ in ledger_rows(config)} == {"written"}


def test_customers_invoices_and_payments_once_each_with_later_records_as_updates(
    make_company, tmp_path
):
    emu = make_company()
    emu.behaviour.strict_rotation = True  # every refresh rotates: the kept token must be used
    emu.writes.configure(lost_after_commit=0.2, fail_before_commit=0.05, requestid_dedup=False)
    customers = [{"DisplayName": f"Shop customer {i}", "Notes": "v1"} for i in range(4)]
    customers.append({"DisplayName": "Shop customer 0", "Notes": "v2"})  # same key: an update
    config = target_config(emu, tmp_path)
    first = run_target(
        config, messages("customers", "Customer", ["DisplayName"], customers), tmp_path
    )
    assert first.returncode == 0, first.stderr[-3000:]
    made = [c for c in emu.ground_truth(None, "Customer") if c["DisplayName"].startswith("Shop")]
    assert sorted(c["DisplayName"] for c in made) == [f"Shop customer {i}" for i in range(4)]
    assert {c["DisplayName"]: c["Notes"] for c in made}["Shop customer 0"] == "v2"
    ids = {key: qbo_id for stream, key, qbo_id, _, _ in ledger_rows(config)}
    item = stock_items(emu)[0]
    invoices = [
        {
            "DocNumber": f"INV-{i}",
            "CustomerRef": {"value": ids[f"Shop customer {i}"]},
            "Line": [
                {
                    "DetailType": "SalesItemLineDetail",
                    "Amount": 100.10 + i,
                    "SalesItemLineDetail": {"ItemRef": {"value": item["Id"]}, "Qty": 1},
                }
            ],
        }
        for i in range(4)
    ]
    # The config's refresh token died with the first run's rotation; with the token file gone
    # too, only the ledger holds the live one (sealed).
    assert emu.refresh_token() != config["refresh_token"]
    Path(config["token_store_path"]).unlink()
    second = run_target(config, messages("invoices", "Invoice", ["DocNumber"], invoices), tmp_path)
    assert second.returncode == 0, second.stderr[-3000:]
    ids = {key: qbo_id for stream, key, qbo_id, _, _ in ledger_rows(config)}
    payments = [
        {
            "PaymentRefNum": f"PAY-{i}",
            "CustomerRef": {"value": ids[f"Shop customer {i}"]},
            "TotalAmt": 50,
            "Line": [
                {"Amount": 50, "LinkedTxn": [{"TxnId": ids[f"INV-{i}"], "TxnType": "Invoice"}]}
            ],
        }
        for i in range(4)
    ]
    third = run_target(
        config, messages("payments", "Payment", ["PaymentRefNum"], payments), tmp_path
    )
    assert third.returncode == 0, third.stderr[-3000:]
    paid = [
        p for p in emu.ground_truth(None, "Payment") if p.get("PaymentRefNum", "")[:4] == "PAY-"
    ]
    assert sorted(p["PaymentRefNum"] for p in paid) == [f"PAY-{i}" for i in range(4)]
    balances = {
        inv["DocNumber"]: inv["Balance"]
        for inv in emu.ground_truth(None, "Invoice")
        if inv.get("DocNumber", "").startswith("INV-")
    }
    assert balances == {f"INV-{i}": round(50.10 + i, 2) for i in range(4)}
    for run in (first, second, third):
        assert emu.client_secret not in run.stderr
        assert config["refresh_token"] not in run.stderr


def test_requestids_repeat_for_the_same_write_and_never_for_another():
    from target_quickbooks.push import Pusher, Write

    class Company:
        def __init__(self, realm_id):
            self.realm_id = realm_id

    def rid(*, realm="1", stream="sales_receipts", key="A", change="h1", qbo_id=None, token=None):
        pusher = Pusher(Company(realm), None, None)
        return pusher.requestid(stream, Write(key, {}, change, qbo_id, token))

    assert rid() == rid()
    assert len(rid()) == 36  # within QBO's 50, and its 36 inside a batch
    others = {
        rid(realm="2"),
        rid(stream="invoices"),
        rid(key="B"),
        rid(change="h2"),
        rid(qbo_id="7", token="0"),  # an update, not the create
        rid(qbo_id="7", token="1"),  # the same update after a 5010 re-read
    }
    assert rid() not in others
    assert len(others) == 6


def test_the_taps_own_output_feeds_the_target(make_company, tmp_path):
    """Records as tap-quickbooks emits them (QBO's shape, its key, its extra fields) write
    into another company; a name that company already has is a 6240, kept in the ledger."""
    emu = make_company(realms=2)
    source, dest = emu.realm_ids
    tap_config = emu.tap_config(source)
    read = run_tap(tap_config, args=["--catalog", str(select(tap_config, ["customers"]))])
    assert read.returncode == 0, read.stderr[-2000:]
    lines = [json.loads(json.dumps(m, default=str)) for m in read.messages]
    names = {c["DisplayName"] for c in emu.ground_truth(source, "Customer")}
    taken = {  # QBO's customers, vendors and employees share one set of names
        o["DisplayName"].casefold()
        for entity in ("Customer", "Vendor", "Employee")
        for o in emu.ground_truth(dest, entity)
    }
    already = {n for n in names if n.casefold() in taken}
    config = {**target_config(emu, tmp_path), **emu.tap_config(dest)}
    run = run_target(config, [m for m in lines if m["type"] != "STATE"], tmp_path)
    assert run.returncode == (1 if already else 0), run.stderr[-2000:]
    assert names - already <= {c["DisplayName"] for c in emu.ground_truth(dest, "Customer")}
    rejected = ledger_rows(config, "rejected")
    assert len(rejected) == len(already)
    assert all("code 6240" in message for *_, message in rejected)
    assert len(ledger_rows(config, "written")) == len(names) - len(already)


def test_csv_shaped_records_all_text_are_read_as_qbos_types(make_company, tmp_path):
    """tap-csv emits every column as text: JSON text for objects and lines, numbers as text."""
    emu = make_company()
    records, totals = receipts_input(emu, 3)
    as_text = [
        {k: json.dumps(v) if isinstance(v, (dict, list)) else str(v) for k, v in r.items()}
        for r in records
    ]
    as_text[2]["Line"] = "[{not json"
    as_text[1]["PrivateNote"] = ""  # an empty cell of a text field stays text
    text_schema = {
        "type": "object",
        "properties": {k: {"type": ["string", "null"]} for k in as_text[0] | as_text[1]},
    }
    lines = [
        {"type": "SCHEMA", "stream": "sales_receipts", "schema": text_schema,
         "key_properties": ["DocNumber"]},
        *({"type": "RECORD", "stream": "sales_receipts", "record": r} for r in as_text),
    ]  # fmt: skip
    config = target_config(emu, tmp_path)
    run = run_target(config, lines, tmp_path)
    assert run.returncode == 1
    ours = {r["DocNumber"]: r for r in _ours(emu)}
    assert sorted(ours) == [records[0]["DocNumber"], records[1]["DocNumber"]]
    for doc, r in ours.items():
        assert round(r["TotalAmt"] * 100) == totals[doc]
    [(_, key, _, _, message)] = ledger_rows(config, "rejected")
    assert key == records[2]["DocNumber"]
    assert "SalesReceipt.Line must be JSON text" in message


@pytest.mark.slow
def test_throughput_beats_the_single_call_ceiling_at_250_ms_latency(make_company, tmp_path):
    """QBO answers one call at a time in ~250 ms and allows 500 calls a minute: batch calls
    of 30 must carry more than 900 receipts a minute."""
    emu = make_company()
    emu.behaviour.configure(latency_ms=250, rate_limits=True)
    records, _ = receipts_input(emu, 600)
    config = target_config(emu, tmp_path)
    lines = messages("sales_receipts", "SalesReceipt", ["DocNumber"], records)
    started = time.monotonic()
    run = run_target(config, lines, tmp_path)
    minutes = (time.monotonic() - started) / 60
    assert run.returncode == 0, run.stderr[-2000:]
    assert len(_ours(emu)) == 600
    assert emu.request_counts().get("batch") == 20
    assert emu.request_counts().get("throttled", 0) == 0
    assert 600 / minutes >= 900, f"{600 / minutes:.0f} receipts a minute"


def test_a_target_killed_mid_write_resumes_without_writing_twice(make_company, tmp_path):
    """SIGKILL while QBO is committing a batch: the next run finds that batch's receipts by
    DocNumber (its ledger rows say pending) and writes only the rest."""
    emu = make_company()
    emu.writes.requestid_dedup = False  # the look-up alone must do it
    records, _ = receipts_input(emu, 120)
    config = target_config(emu, tmp_path)
    lines = messages("sales_receipts", "SalesReceipt", ["DocNumber"], records)
    path = tmp_path / "target.json"
    path.write_text(json.dumps(config))
    process = subprocess.Popen(
        [sys.executable, "-m", "target_quickbooks", "--config", str(path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        text=True,
        cwd=tmp_path,
    )
    batches = []

    def kill_on_third_batch(realm, kind, number):
        if kind == "batch":
            batches.append(number)
            if len(batches) == 3:
                process.kill()  # the batch is still committed, its answer goes nowhere

    emu.add_hook(kill_on_third_batch)
    process.communicate("".join(json.dumps(m) + "\n" for m in lines), timeout=300)
    emu.remove_hook(kill_on_third_batch)
    assert process.returncode == -9
    deadline = time.monotonic() + 120  # the emulator may still be committing the third batch
    while sum(kind == "batch" for _, kind, _ in emu.writes.log) < 3:
        assert time.monotonic() < deadline, emu.writes.log
        time.sleep(0.05)
    assert len(_ours(emu)) == 90  # three batches of 30 reached the books
    assert len(ledger_rows(config, "pending")) == 30  # the one whose answer was lost

    again = run_target(config, lines, tmp_path)
    assert again.returncode == 0, again.stderr[-3000:]
    assert "30 found after a lost answer" in again.stderr
    assert "30 created" in again.stderr
    assert Counter(r["DocNumber"] for r in _ours(emu)) == Counter(r["DocNumber"] for r in records)


def test_a_company_the_token_does_not_open_stops_with_one_sentence(make_company, tmp_path):
    emu = make_company(realms=2)
    config = {**target_config(emu, tmp_path), "realm_id": emu.realm_ids[1]}  # other's token
    records, _ = receipts_input(emu, 2)
    run = run_target(
        config, messages("sales_receipts", "SalesReceipt", ["DocNumber"], records), tmp_path
    )
    assert run.returncode == 1
    assert "QuickBooks refused access (HTTP 401" in run.stderr
    assert "Traceback" not in run.stderr
    for realm in emu.realm_ids:
        docs = [r.get("DocNumber", "") for r in emu.ground_truth(realm, "SalesReceipt")]
        assert not [d for d in docs if d.startswith("WEB-")]


def test_an_object_deleted_in_quickbooks_is_not_recreated_by_an_update(make_company, tmp_path):
    emu = make_company()
    records, _ = receipts_input(emu, 2)
    config = target_config(emu, tmp_path)
    lines = messages("sales_receipts", "SalesReceipt", ["DocNumber"], records)
    assert run_target(config, lines, tmp_path).returncode == 0
    gone = next(r for r in _ours(emu) if r["DocNumber"] == records[0]["DocNumber"])
    emu.store().delete("SalesReceipt", gone["Id"])
    changed = [{**r, "PrivateNote": "second pass"} for r in records]
    run = run_target(
        config, messages("sales_receipts", "SalesReceipt", ["DocNumber"], changed), tmp_path
    )
    assert run.returncode == 1
    [(_, key, _, _, message)] = ledger_rows(config, "rejected")
    assert key == records[0]["DocNumber"]
    assert "code 610" in message
    assert [(r["DocNumber"], r["PrivateNote"]) for r in _ours(emu)] == [
        (records[1]["DocNumber"], "second pass")
    ]


MELTANO_PROJECT = """
requires_meltano: ">=4.0"
send_anonymous_usage_stats: false
project_id: target-quickbooks-test
default_environment: dev
environments:
- name: dev
plugins:
  extractors:
  - name: tap-quickbooks
    namespace: tap_quickbooks
    pip_url: -e {root}
    executable: tap-quickbooks
    capabilities: [state, catalog, discover]
    settings: [{settings}]
    select: [customers.*]
  loaders:
  - name: target-quickbooks
    namespace: target_quickbooks
    pip_url: -e {root} -e {root}/packages/target-quickbooks
    executable: target-quickbooks
    settings: [{settings}, {{name: ledger_path}}]
"""


@pytest.mark.slow
def test_meltano_runs_tap_quickbooks_into_target_quickbooks(make_company, tmp_path):
    """A real Meltano pipeline: one company's customers, read by the tap, written by the
    target into another company; run twice, the second run writes nothing."""
    from scripts import demo

    demo.ensure_meltano()
    emu = make_company(realms=2)
    source, dest = emu.realm_ids
    names = ("client_id", "client_secret", "refresh_token", "realm_id", "api_url", "token_url")
    settings = ", ".join(f"{{name: {n}}}" for n in names)
    (tmp_path / "meltano.yml").write_text(MELTANO_PROJECT.format(root=demo.ROOT, settings=settings))
    env = {k: v for k, v in os.environ.items() if k != "VIRTUAL_ENV"}
    env |= {"MELTANO_SEND_ANONYMOUS_USAGE_STATS": "false"}
    env["MELTANO_DATABASE_URI"] = f"sqlite:///{tmp_path / 'system.db'}"
    env |= {f"TAP_QUICKBOOKS_{k.upper()}": str(v) for k, v in emu.tap_config(source).items()}
    env |= {f"TARGET_QUICKBOOKS_{k.upper()}": str(v) for k, v in emu.tap_config(dest).items()}
    env["TARGET_QUICKBOOKS_LEDGER_PATH"] = str(tmp_path / "ledger.sqlite")

    def meltano(*args):
        return subprocess.run(
            [str(demo.MELTANO), "--log-level=info", *args],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=900,
            check=False,
        )

    installed = meltano("install")
    assert installed.returncode == 0, installed.stderr[-3000:]
    taken = {
        o["DisplayName"].casefold()
        for entity in ("Customer", "Vendor", "Employee")
        for o in emu.ground_truth(dest, entity)
    }
    wanted = {c["DisplayName"] for c in emu.ground_truth(source, "Customer")}
    new = {n for n in wanted if n.casefold() not in taken}
    run = meltano("run", "tap-quickbooks", "target-quickbooks")
    # A name the company already has (customers, vendors and employees share names) is a 6240.
    assert run.returncode == (0 if new == wanted else 1), run.stderr[-3000:]
    have = {c["DisplayName"] for c in emu.ground_truth(dest, "Customer")}
    assert new <= have

    def write_calls():
        counts = emu.request_counts(dest)
        return counts.get("batch", 0) + counts.get("write", 0)

    before = write_calls()
    again = meltano("run", "--full-refresh", "tap-quickbooks", "target-quickbooks")
    assert again.returncode == run.returncode, again.stderr[-3000:]
    assert {c["DisplayName"] for c in emu.ground_truth(dest, "Customer")} == have
    # The replay sends only what was rejected before (and is rejected again): one call or none.
    assert write_calls() - before == (0 if new == wanted else 1)


def test_references_by_name_are_resolved_to_qbo_ids(make_company, tmp_path):
    """A platform knows customers and products by name: {"name": ...} without a value is
    looked up; a name QuickBooks does not have rejects that record alone."""
    emu = make_company()
    records, totals = receipts_input(emu, 3)
    customers = {c["Id"]: c for c in emu.ground_truth(None, "Customer")}
    items = {i["Id"]: i for i in emu.ground_truth(None, "Item")}
    for r in records[:2]:
        r["CustomerRef"] = {"name": customers[r["CustomerRef"]["value"]]["DisplayName"]}
        for line in r["Line"]:
            ref = line["SalesItemLineDetail"]["ItemRef"]
            line["SalesItemLineDetail"]["ItemRef"] = {"name": items[ref["value"]]["Name"]}
    expected = {r["DocNumber"]: r for r in receipts_input(emu, 3)[0]}
    records[2]["CustomerRef"] = {"name": "Nobody Of That Name"}
    config = target_config(emu, tmp_path)
    lines = messages("sales_receipts", "SalesReceipt", ["DocNumber"], records)
    run = run_target(config, lines, tmp_path)
    assert run.returncode == 1, run.stderr[-3000:]
    ours = {r["DocNumber"]: r for r in _ours(emu)}
    assert sorted(ours) == [records[0]["DocNumber"], records[1]["DocNumber"]]
    for doc, r in ours.items():
        assert r["CustomerRef"]["value"] == expected[doc]["CustomerRef"]["value"]
        got = [line["SalesItemLineDetail"]["ItemRef"]["value"] for line in r["Line"]]
        want = [line["SalesItemLineDetail"]["ItemRef"]["value"] for line in expected[doc]["Line"]]
        assert got == want
        assert round(r["TotalAmt"] * 100) == totals[doc]
    [(_, key, _, _, message)] = ledger_rows(config, "rejected")
    assert key == records[2]["DocNumber"]
    assert "no active Customer is named 'Nobody Of That Name'" in message
    before = emu.request_counts()
    again = run_target(config, lines, tmp_path)  # the written two are unchanged: no look-up
    assert again.returncode == 1
    assert emu.request_counts().get("batch", 0) == before.get("batch", 0)
    assert len(_ours(emu)) == 2
