"""Deletions, voids and merges reach the target; a quiet sync costs a handful of calls."""

from __future__ import annotations

import math
import time

from tap_quickbooks.catalogue import BY_STREAM, ENTITIES
from tests.singer import run_tap, strip_tap_fields
from tests.test_tap_sync import key_of, select, truth


def apply(table: dict, run, stream: str) -> dict:
    """What a target honouring _sdc_deleted_at (hard delete) holds after loading the run."""
    for message in run.messages:
        if message["type"] != "RECORD" or message["stream"] != stream:
            continue
        record = message["record"]
        if record.get("_sdc_deleted_at"):
            table.pop(key_of(record), None)
        else:
            table[key_of(record)] = strip_tap_fields(record)
    return table


def synced_company(make_company, seed: int, scale: int, streams: list[str], **emulator):
    """A company, fully synced once: (emulator, config, catalog args, first run, tables)."""
    emu = make_company(seed=seed, scale=scale, **emulator)
    config = emu.tap_config()
    catalog = ["--catalog", str(select(config, streams))]
    first = run_tap(config, None, catalog)
    assert first.returncode == 0, first.stderr[-3000:]
    return emu, config, catalog, first, {s: apply({}, first, s) for s in streams}


def entity_streams() -> list[str]:
    return [e.stream for e in ENTITIES]


def test_a_quiet_incremental_sync_costs_a_handful_of_calls(make_company) -> None:
    emu = make_company(seed=51, scale=3000)
    config = emu.tap_config()
    catalog = ["--catalog", str(select(config, entity_streams()))]
    emu.reset_counts()
    full = run_tap(config, None, catalog)
    assert full.returncode == 0, full.stderr[-3000:]
    served = emu.request_counts()
    # Full sync: 1000-row pages, no COUNT, no re-reads; first pages folded into batch calls.
    realm = emu.realm_ids[0]
    pages_beyond_first = sum(
        max(0, math.ceil(len(emu.ground_truth(realm, e.name)) / 1000) - 1) for e in ENTITIES
    )
    assert served.get("batch", 0) == math.ceil(len(ENTITIES) / 30)
    assert served.get("query", 0) <= pages_beyond_first + 2
    assert "API calls this run:" in full.stderr
    emu.reset_counts()
    quiet = run_tap(config, full.last_state, catalog)
    assert quiet.returncode == 0, quiet.stderr[-3000:]
    served = emu.request_counts()
    calls = {k: v for k, v in served.items() if k != "token"}
    print(f"\nquiet incremental sync over {len(ENTITIES)} streams: {calls}")
    # One CDC call for the entities it reports, one batch for the first pages of the rest.
    assert calls == {"cdc": 1, "batch": 1}, calls
    # Nothing changed: incremental streams bring at most the rows of their bookmark's own
    # second; full-table lists (a few small reference lists) are re-read whole.
    records = [m["stream"] for m in quiet.messages if m["type"] == "RECORD"]
    incremental = [s for s in records if BY_STREAM[s].incremental]
    assert len(incremental) <= 2 * len(ENTITIES)
    full_table = [e for e in ENTITIES if not e.incremental]
    assert len(records) - len(incremental) == sum(
        len(emu.ground_truth(realm, e.name)) for e in full_table
    )


def test_deletes_voids_and_merges_arrive(make_company) -> None:
    streams = ["invoices", "payments", "customers", "vendors", "bills"]
    emu, config, catalog, first, tables = synced_company(make_company, 53, 600, streams)
    realm = emu.realm_ids[0]
    store = emu.store(realm)
    emu.clock.advance(seconds=60)
    invoices = [r["Id"] for r in emu.ground_truth(realm, "Invoice")]
    store.delete("Invoice", invoices[0])
    store.void("Invoice", invoices[1])
    store.delete("Bill", emu.ground_truth(realm, "Bill")[0]["Id"])
    customers = [r["Id"] for r in emu.ground_truth(realm, "Customer") if r.get("Active")]
    store.merge("Customer", customers[0], customers[1])
    vendors = [r["Id"] for r in emu.ground_truth(realm, "Vendor") if r.get("Active")]
    store.merge("Vendor", vendors[0], vendors[1])
    emu.clock.advance(seconds=5)
    second = run_tap(config, first.last_state, catalog)
    assert second.returncode == 0, second.stderr[-3000:]
    for stream in streams:
        assert apply(tables[stream], second, stream) == truth(emu, realm, stream), stream
    deleted = [
        m["record"]
        for m in second.messages
        if m["type"] == "RECORD" and m["record"].get("_sdc_deleted_at")
    ]
    assert {(r["Id"]) for r in deleted} >= {invoices[0], customers[0], vendors[0]}
    voided = next(
        m["record"]
        for m in second.messages
        if m["type"] == "RECORD" and m["stream"] == "invoices" and m["record"]["Id"] == invoices[1]
    )
    assert voided["TotalAmt"] == 0
    assert not voided.get("_sdc_deleted_at")
    assert emu.request_counts().get("query", 0) == 0, "CDC should have covered every change"


def test_a_changed_recurring_transaction_is_read_from_cdc(make_company) -> None:
    # CDC wraps a recurring transaction in its template's type ({"Invoice": {...}}), as a
    # query's answer does. Read unwrapped, its rows had no Id: the tap took the answer for
    # wrong and spent a query on what CDC had already brought.
    streams = ["recurring_transactions", "invoices"]
    emu, config, catalog, first, tables = synced_company(make_company, 55, 400, streams)
    realm = emu.realm_ids[0]
    recurring = emu.ground_truth(realm, "RecurringTransaction")
    assert len(recurring) >= 2
    inner = [next(v for v in row.values() if isinstance(v, dict)) for row in recurring]
    emu.clock.advance(seconds=60)
    emu.store(realm).update("RecurringTransaction", inner[0]["Id"], {"PrivateNote": "changed"})
    emu.clock.advance(seconds=5)
    emu.reset_counts()
    second = run_tap(config, first.last_state, catalog)
    assert second.returncode == 0, second.stderr[-3000:]
    assert "cannot be right" not in second.stderr
    for stream in streams:
        assert apply(tables[stream], second, stream) == truth(emu, realm, stream), stream
    changed = [
        m["record"]
        for m in second.messages
        if m["type"] == "RECORD" and m["stream"] == "recurring_transactions"
    ]
    assert [r["Id"] for r in changed] == [inner[0]["Id"]]
    assert emu.request_counts().get("query", 0) == 0, emu.request_counts()


def test_more_than_a_thousand_changes(make_company) -> None:
    streams = ["invoices", "payments", "customers"]
    emu, config, catalog, first, tables = synced_company(make_company, 57, 6000, streams)
    realm = emu.realm_ids[0]
    store = emu.store(realm)
    emu.clock.advance(seconds=30)
    invoice_ids = [r["Id"] for r in emu.ground_truth(realm, "Invoice")]
    assert len(invoice_ids) > 1100
    store.touch_many("Invoice", invoice_ids[:1100])  # a bulk update: one timestamp
    payment = emu.ground_truth(realm, "Payment")[0]["Id"]
    store.delete("Payment", payment)
    emu.clock.advance(seconds=5)
    second = run_tap(config, first.last_state, catalog)
    assert second.returncode == 0, second.stderr[-3000:]
    for stream in streams:
        assert apply(tables[stream], second, stream) == truth(emu, realm, stream), stream
    # Invoices alone passed CDC's 1000: they were read by query; payments' delete was seen.
    assert "more than 1000 changes" in second.stderr


def test_a_gap_longer_than_cdc_reaches_is_read_by_query_and_said(make_company) -> None:
    streams = ["invoices", "customers"]
    # QBO's clock starts 45 days back and catches up with this machine's: the tap refuses
    # answers from a QBO clock ahead of its own.
    gap = 45 * 86400
    emu, config, catalog, first, tables = synced_company(
        make_company, 59, 600, streams, now=time.time() - gap
    )
    realm = emu.realm_ids[0]
    emu.clock.advance(seconds=gap)
    store = emu.store(realm)
    invoices = [r["Id"] for r in emu.ground_truth(realm, "Invoice")]
    store.update("Invoice", invoices[3], {"PrivateNote": "45 days later"})
    second = run_tap(config, first.last_state, catalog)
    assert second.returncode == 0, second.stderr[-3000:]
    assert "deletions since the last sync cannot be detected" in second.stderr or (
        "older than CDC's 30 days" in second.stderr
    )
    got = apply(tables["invoices"], second, "invoices")
    assert got[(invoices[3], None, None, None)]["PrivateNote"] == "45 days later"
    assert got == truth(emu, realm, "invoices")


def test_full_table_streams_say_why_in_the_code() -> None:
    for entity in ENTITIES:
        if not entity.incremental:
            assert len(entity.full_table_reason or "") > 20, entity.name
    assert BY_STREAM["invoices"].incremental


def test_the_batch_calls_for_the_first_pages_go_out_at_once(make_company) -> None:
    # Every stream waits for its first page: 41 streams need two batch calls, and on the
    # code before, the second was sent only once the first had come back (a second here).
    emu = make_company(seed=51, scale=300)
    emu.behaviour.latency_ms = 1000
    sent: list[float] = []
    emu.add_hook(lambda realm, kind, n: sent.append(time.monotonic()) if kind == "batch" else None)
    run = run_tap(
        emu.tap_config(), None, ["--catalog", str(select(emu.tap_config(), entity_streams()))]
    )
    assert run.returncode == 0, run.stderr[-3000:]
    assert len(sent) == math.ceil(len(ENTITIES) / 30) == 2
    assert sent[1] - sent[0] < 0.5
