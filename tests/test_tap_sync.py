"""The tap as a process against the emulator: what arrives must equal QBO's ground truth."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import random
import tempfile
import typing as t
from pathlib import Path

import pytest

from tap_quickbooks.catalogue import BY_STREAM, ENTITIES
from tap_quickbooks.timefmt import parse_instant, utc_text
from tests.singer import as_decimal_json, run_tap, run_tap_until_killed, strip_tap_fields

INCREMENTAL = [e for e in ENTITIES if e.incremental]


def select(config: dict, streams: t.Collection[str] | None) -> Path:
    """A catalog file selecting only these streams (None: every one, reports too), made by
    --discover as a user would."""
    discovered = run_tap(config, args=["--discover"])
    assert discovered.returncode == 0, discovered.stderr
    catalog = json.loads(discovered.stdout)
    for entry in catalog["streams"]:
        for meta in entry["metadata"]:
            if meta["breadcrumb"] == []:
                wanted = streams is None or entry["tap_stream_id"] in streams
                meta["metadata"]["selected"] = wanted
    path = Path(tempfile.mkdtemp()) / "catalog.json"
    path.write_text(json.dumps(catalog))
    return path


def key_of(record: dict) -> tuple:
    return tuple(record.get(k) for k in ("Id", "id", "SourceCurrencyCode", "AsOfDate"))


def truth(emu, realm: str, stream: str) -> dict[tuple, dict]:
    """The emulator's rows as the tap must emit them (wrapped rows get the inner Id on top)."""
    rows = [as_decimal_json(r) for r in emu.ground_truth(realm, BY_STREAM[stream].name)]
    if BY_STREAM[stream].wrapped:
        rows = [
            {**r, **{k: v for x in r.values() for k, v in x.items() if k in ("Id", "MetaData")}}
            for r in rows
        ]
    return {key_of(r): r for r in rows}


def latest_by_id(records: list[dict]) -> dict[tuple, dict]:
    """The newest version of each record, as a target applying upserts would keep it."""
    out: dict[tuple, dict] = {}
    for record in records:
        out[key_of(record)] = record
    return out


def test_full_sync_equals_ground_truth(company) -> None:
    realm = company.realm_ids[0]
    run = run_tap(company.tap_config())
    assert run.returncode == 0, run.stderr[-3000:]
    records = run.records
    assert set(run.schemas) == {e.stream for e in ENTITIES} | {"sync_status"}
    for entity in ENTITIES:
        expected = truth(company, realm, entity.stream)
        assert expected, f"the emulator has no {entity.name}"
        got = latest_by_id(records.get(entity.stream, []))
        assert set(got) == set(expected), entity.stream
        for record_id, record in got.items():
            assert record["realm_id"] == realm
            assert strip_tap_fields(record) == expected[record_id], (entity.stream, record_id)
        # Duplicates at page boundaries are allowed but must stay few.
        assert len(records[entity.stream]) - len(got) <= 2


def test_records_carry_utc_replication_key_and_money_as_numbers(company) -> None:
    config = {**company.tap_config()}
    run = run_tap(config, args=["--catalog", str(select(config, ["invoices", "customers"]))])
    assert run.returncode == 0, run.stderr[-3000:]
    invoices = run.records["invoices"]
    offsets = {r["MetaData"]["LastUpdatedTime"][-6:] for r in invoices}
    assert {"-07:00", "-08:00"} <= offsets, "emulator history should span DST"
    for record in invoices:
        original = parse_instant(record["MetaData"]["LastUpdatedTime"])
        assert record["LastUpdatedTime"] == utc_text(original)
        assert not isinstance(record["TotalAmt"], str)
    # Inactive name-list rows (hidden by QBO unless asked for) arrive too.
    assert any(r.get("Active") is False for r in run.records["customers"])
    bookmark = run.last_state["bookmarks"]["invoices"]["replication_key_value"]
    assert bookmark == max(r["LastUpdatedTime"] for r in invoices)
    assert run.schemas["invoices"]["key_properties"] == ["realm_id", "Id"]


def test_incremental_run_brings_only_changes(make_company) -> None:
    emu = make_company(seed=21, scale=400)
    realm = emu.realm_ids[0]
    config = emu.tap_config()
    catalog = select(config, ["invoices", "customers", "vendors"])
    first = run_tap(config, args=["--catalog", str(catalog)])
    assert first.returncode == 0, first.stderr[-3000:]
    emu.clock.advance(seconds=5)
    store = emu.store(realm)
    invoice_ids = [r["Id"] for r in emu.ground_truth(realm, "Invoice")][:3]
    keys = {(i, None, None, None) for i in invoice_ids}
    for invoice_id in invoice_ids:
        store.update("Invoice", invoice_id, {"PrivateNote": "changed"})
    customer_id = next(r["Id"] for r in emu.ground_truth(realm, "Customer") if r.get("Active"))
    store.deactivate("Customer", customer_id)
    second = run_tap(config, first.last_state, ["--catalog", str(catalog)])
    assert second.returncode == 0, second.stderr[-3000:]
    got = second.records
    # Only the changes, plus at most the boundary rows of the previous bookmark.
    assert keys <= set(latest_by_id(got["invoices"]))
    assert len(got["invoices"]) <= len(invoice_ids) + 2
    deactivated = latest_by_id(got["customers"])[(customer_id, None, None, None)]
    assert deactivated["Active"] is False
    assert len(got.get("vendors", [])) <= 2
    for stream in ("invoices", "customers"):
        merged = latest_by_id(first.records[stream] + got[stream])
        assert {k: strip_tap_fields(v) for k, v in merged.items()} == truth(emu, realm, stream)


def test_more_records_in_one_second_than_a_page(make_company) -> None:
    emu = make_company(seed=5, scale=600)
    realm = emu.realm_ids[0]
    config = {**emu.tap_config(), "page_size": 20}
    catalog = select(config, ["invoices"])
    first = run_tap(config, args=["--catalog", str(catalog)])
    assert first.returncode == 0
    ids = [r["Id"] for r in emu.ground_truth(realm, "Invoice")]
    assert len(ids) > 45
    emu.clock.advance(seconds=10)
    emu.store(realm).touch_many("Invoice", ids[:45])  # a bulk import: one timestamp
    second = run_tap(config, first.last_state, ["--catalog", str(catalog)])
    assert second.returncode == 0, second.stderr[-3000:]
    assert set(ids[:45]) <= {r["Id"] for r in second.records["invoices"]}
    assert len(second.records["invoices"]) <= 45 + 20


def test_one_row_a_page_reads_a_crowded_second_once_and_ends(make_company) -> None:
    # With one row a page, each page of a second read by offsets could never share a row
    # with the page before (the proof that no row slipped between them): the tap stepped
    # back to the second's first row forever. Tie pages now read two rows.
    emu = make_company(seed=5, scale=200)
    realm = emu.realm_ids[0]
    config = {**emu.tap_config(), "page_size": 1}
    catalog = ["--catalog", str(select(config, ["customers"]))]
    ids = [r["Id"] for r in emu.ground_truth(realm, "Customer")]
    assert len(ids) > 12
    emu.clock.advance(seconds=10)
    emu.store(realm).touch_many("Customer", ids[:12])  # twelve rows stamped one second
    emu.reset_counts()
    run = run_tap(config, None, catalog, timeout=180)
    assert run.returncode == 0, run.stderr[-3000:]
    emitted = {
        key: strip_tap_fields(r) for key, r in latest_by_id(run.records["customers"]).items()
    }
    assert emitted == truth(emu, realm, "customers")
    assert len(run.records["customers"]) == len(ids)  # each row once
    # A lone second costs a page and the strict page after it; a crowded one a page a row.
    assert emu.request_counts().get("query", 0) <= 3 * len(ids) + 5, emu.request_counts()


def test_updates_during_the_sync_are_not_lost(make_company) -> None:
    emu = make_company(seed=9, scale=600)
    realm = emu.realm_ids[0]
    config = {**emu.tap_config(), "page_size": 10}
    catalog = select(config, ["invoices"])
    rng = random.Random(4)
    store = emu.store(realm)

    def churn(realm_id: str, kind: str, index: int) -> None:
        # Before each page: move a few records to the newest second (behind the cursor).
        if kind != "query":
            return
        ids = [r["Id"] for r in emu.ground_truth(realm_id, "Invoice")]
        for invoice_id in rng.sample(ids, 3):
            store.update("Invoice", invoice_id, {"PrivateNote": f"edit {index}"})
        emu.clock.advance(seconds=rng.choice([0, 1]))

    emu.add_hook(churn)
    run = run_tap(config, args=["--catalog", str(catalog)])
    assert run.returncode == 0, run.stderr[-3000:]
    emitted = latest_by_id(run.records["invoices"])
    expected = truth(emu, realm, "invoices")
    # Everything that exists arrived; a version changed after its last read is newer than
    # the bookmark, so the next run fetches it.
    bookmark = run.last_state["bookmarks"]["invoices"]["replication_key_value"]
    assert set(expected) <= set(emitted)
    for record_id, record in expected.items():
        if strip_tap_fields(emitted[record_id]) != record:
            assert utc_text(parse_instant(record["MetaData"]["LastUpdatedTime"])) >= bookmark


def test_a_long_stream_read_in_slices_while_it_changes(make_company) -> None:
    emu = make_company(seed=17, scale=1500)
    realm = emu.realm_ids[0]
    config = {**emu.tap_config(), "page_size": 5}  # ~80 pages of invoices: read in slices
    catalog = select(config, ["invoices"])
    rng = random.Random(8)
    store = emu.store(realm)

    def churn(realm_id: str, kind: str, index: int) -> None:
        if kind == "query" and index % 4 == 0:
            ids = [r["Id"] for r in emu.ground_truth(realm_id, "Invoice")]
            store.update("Invoice", rng.choice(ids), {"PrivateNote": f"edit {index}"})
            emu.clock.advance(seconds=1)

    emu.add_hook(churn)
    run = run_tap(config, args=["--catalog", str(catalog)])
    assert run.returncode == 0, run.stderr[-3000:]
    assert "slices of history at once" in run.stderr
    times = [r["LastUpdatedTime"] for r in run.records["invoices"]]
    assert times == sorted(times)  # slices written oldest first: the bookmark only advances
    emitted = latest_by_id(run.records["invoices"])
    expected = truth(emu, realm, "invoices")
    bookmark = run.last_state["bookmarks"]["invoices"]["replication_key_value"]
    assert bookmark == times[-1]
    assert set(expected) <= set(emitted)
    for record_id, record in expected.items():
        if strip_tap_fields(emitted[record_id]) != record:  # changed after its last read
            assert utc_text(parse_instant(record["MetaData"]["LastUpdatedTime"])) >= bookmark


def test_a_deselected_field_is_left_out(make_company) -> None:
    emu = make_company(seed=19, scale=300)
    config = emu.tap_config()
    catalog_path = select(config, ["invoices"])
    catalog = json.loads(catalog_path.read_text())
    for entry in catalog["streams"]:
        for meta in entry["metadata"]:
            if meta["breadcrumb"] == ["properties", "CustomerMemo"]:
                meta["metadata"]["selected"] = False
    catalog_path.write_text(json.dumps(catalog))
    run = run_tap(config, args=["--catalog", str(catalog_path)])
    assert run.returncode == 0, run.stderr[-3000:]
    invoices = run.records["invoices"]
    assert invoices
    assert all("CustomerMemo" not in r for r in invoices)
    assert any("CustomerMemo" in r for r in emu.ground_truth(emu.realm_ids[0], "Invoice"))
    assert all(r["TotalAmt"] is not None and r["realm_id"] for r in invoices)


def test_killed_runs_resume_without_gaps(make_company) -> None:
    emu = make_company(seed=13, scale=500)
    realm = emu.realm_ids[0]
    config = {**emu.tap_config(), "page_size": 25}
    args = ["--catalog", str(select(config, ["invoices", "customers", "payments"]))]
    rng = random.Random(2)
    arrived: list[dict] = []
    state = None
    # SIGKILL at several points, each time resuming from the last STATE the run emitted.
    for _ in range(5):
        run = run_tap_until_killed(config, state, rng.randrange(5, 150), args)
        arrived += [m for m in run.messages if m["type"] == "RECORD"]
        state = run.last_state or state
    final = run_tap(config, state, args)
    assert final.returncode == 0, final.stderr[-3000:]
    arrived += [m for m in final.messages if m["type"] == "RECORD"]
    for stream in ("invoices", "customers", "payments"):
        got = latest_by_id([m["record"] for m in arrived if m["stream"] == stream])
        assert {k: strip_tap_fields(v) for k, v in got.items()} == truth(emu, realm, stream)


@pytest.mark.parametrize("shape", ["sdk", "singer-io"])
def test_bookmarks_in_offset_text_or_singer_io_shape_resume(make_company, shape: str) -> None:
    emu = make_company(seed=3, scale=200)
    config = emu.tap_config()
    catalog = select(config, ["invoices"])
    invoices = sorted(
        emu.ground_truth(emu.realm_ids[0], "Invoice"),
        key=lambda r: parse_instant(r["MetaData"]["LastUpdatedTime"]),
    )
    middle = invoices[len(invoices) // 2]["MetaData"]["LastUpdatedTime"]  # Pacific offset text
    bookmark = (
        {"replication_key": "LastUpdatedTime", "replication_key_value": middle}
        if shape == "sdk"
        else {"LastUpdatedTime": middle}  # singer-io tap-quickbooks' state
    )
    state = {"bookmarks": {"invoices": bookmark}}
    run = run_tap(config, state, ["--catalog", str(catalog)])
    assert run.returncode == 0, run.stderr[-3000:]
    expected = {
        r["Id"]
        for r in invoices
        if parse_instant(r["MetaData"]["LastUpdatedTime"]) >= parse_instant(middle)
    }
    assert {r["Id"] for r in run.records["invoices"]} == expected


def test_start_date_limits_history(make_company) -> None:
    emu = make_company(seed=3, scale=200)
    realm = emu.realm_ids[0]
    times = sorted(
        parse_instant(r["MetaData"]["LastUpdatedTime"]) for r in emu.ground_truth(realm, "Bill")
    )
    start = times[len(times) // 2]
    config = {**emu.tap_config(), "start_date": start.isoformat()}
    run = run_tap(config, args=["--catalog", str(select(config, ["bills"]))])
    assert run.returncode == 0
    got = run.records.get("bills", [])
    assert got
    assert all(parse_instant(r["LastUpdatedTime"]) >= start for r in got)
    assert len(got) == sum(1 for t in times if t >= start)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"api_url": "http://quickbooks.example.com"}, "api_url"),
        ({"token_url": "http://10.1.2.3/token"}, "token_url"),
        ({"page_size": 1001}, "page_size"),
        ({"realm_id": "my-company"}, "realm_id"),
        ({"start_date": "yesterday"}, "start_date"),
        ({"client_id": None}, "client_id"),
    ],
)
def test_bad_config_gets_one_clear_message(change: dict, message: str) -> None:
    config = {
        "client_id": "id",
        "client_secret": "s3cret-value",
        "refresh_token": "rt-value",
        "realm_id": "123",
        "api_url": "http://127.0.0.1:9",
        **change,
    }
    config = {k: v for k, v in config.items() if v is not None}
    run = run_tap(config)
    assert run.returncode != 0
    assert message in run.stderr
    assert "s3cret-value" not in run.stderr
    assert "rt-value" not in run.stderr
    assert "Traceback" not in run.stderr


def test_discover_lists_every_entity_with_keys(company) -> None:
    run = run_tap(company.tap_config(), args=["--discover"])
    catalog = json.loads(run.stdout)
    streams = {s["tap_stream_id"]: s for s in catalog["streams"]}
    assert {e.stream for e in ENTITIES} <= set(streams)
    assert len(ENTITIES) >= 40
    for entity in ENTITIES:
        entry = streams[entity.stream]
        top = next(m["metadata"] for m in entry["metadata"] if m["breadcrumb"] == [])
        assert top["table-key-properties"] == ["realm_id", *entity.key]
        if entity.incremental:
            assert top["valid-replication-keys"] == ["LastUpdatedTime"]
        else:
            assert not top.get("valid-replication-keys")


def test_connection_test_is_one_call_with_a_verdict(make_company, tmp_path) -> None:
    emu = make_company(seed=1, scale=100)
    emu.reset_counts()
    store = tmp_path / "tokens.json"
    run = run_tap({**emu.tap_config(), "token_store_path": str(store)}, args=["--test"])
    assert run.returncode == 0, run.stderr
    assert "Connection test OK" in run.stderr
    counts = emu.request_counts()
    assert sum(v for k, v in counts.items() if k != "token") == 1
    # The token the test rotated in is in the token file: a stale config token does not matter.
    stale = {**emu.tap_config(), "refresh_token": "not-a-token", "token_store_path": str(store)}
    assert run_tap(stale, args=["--test"]).returncode == 0
    # With no live token anywhere, the verdict says how to get one.
    fresh_store = str(tmp_path / "elsewhere.json")
    bad = run_tap({**stale, "token_store_path": fresh_store}, args=["--test"])
    assert bad.returncode != 0
    assert "Connection test FAILED" in bad.stderr
    assert "tap-quickbooks-auth" in bad.stderr


def test_the_utc_offsets_of_a_day_of_dst_change_compare_as_instants() -> None:
    before = "2024-11-03T01:30:00-07:00"  # 08:30 UTC
    after = "2024-11-03T01:10:00-08:00"  # 09:10 UTC: later, though it reads earlier
    assert utc_text(parse_instant(after)) > utc_text(parse_instant(before))
    assert parse_instant("2024-11-03") == dt.datetime(2024, 11, 3, tzinfo=dt.UTC)


def test_the_readme_stream_maps_drop_a_stream_and_hash_an_email(company) -> None:
    """The README's example: QBO leaves empty fields out, so the expression tests for one."""
    address = "md5(record['PrimaryEmailAddr']['Address']) if 'PrimaryEmailAddr' in record else None"
    maps = {
        "invoices": "__NULL__",
        "customers": {"PrimaryEmailAddr": "__NULL__", "email_hash": address},
    }
    run = run_tap({**company.tap_config(), "stream_maps": maps})
    assert run.returncode == 0, run.stderr[-3000:]
    assert "invoices" not in run.records
    truth_by_id = {r["Id"]: r for r in company.ground_truth(company.realm_ids[0], "Customer")}
    customers = run.records["customers"]
    assert {c["Id"] for c in customers} == set(truth_by_id)
    for customer in customers:
        assert "PrimaryEmailAddr" not in customer
        email = truth_by_id[customer["Id"]].get("PrimaryEmailAddr", {}).get("Address")
        want = hashlib.md5(email.encode(), usedforsecurity=False).hexdigest() if email else None
        assert customer["email_hash"] == want, customer["Id"]
