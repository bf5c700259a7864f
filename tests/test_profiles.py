"""Every kind of company (edition, country, features): the tap as a process against each
emulated profile. What the company has arrives whole; what it cannot have is skipped once,
named, and marked in sync_status; one failing stream never sinks the run."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from qbo_emulator import Emulator
from qbo_emulator.profiles import PROFILES
from tap_quickbooks.catalogue import ENTITIES
from tap_quickbooks.report_catalogue import REPORTS
from tests.singer import run_tap, strip_tap_fields
from tests.test_schemas import validate
from tests.test_tap_sync import latest_by_id, select, truth

NAMED = [name for name in PROFILES if name != "default"]
# `make test` syncs one profile, the one that lacks the most (entities and reports); every other
# one under `make test-full` (tests/test_pipelines.py loads a Canadian company in `make test`).
IN_DEFAULT_RUN = "us_simple_start"
# A short report window keeps every report at a few calls (the dates are the emulator's own).
REPORT_WINDOW = {"report_period": "year", "report_lookback_periods": 0}


def catalog_selecting(config: dict, streams: set[str] | None = None) -> Path:
    """The discovered catalog with these streams selected (None: every stream, reports too)."""
    return select(config, streams)


def status_of(run) -> dict[str, dict]:
    return {r["stream"]: r for r in run.records.get("sync_status", [])}


def config_of(emu: Emulator) -> dict:
    return {**emu.tap_config(), **REPORT_WINDOW}


def assert_named_once(run, stream: str) -> None:
    """A stream the company cannot have is named in exactly one WARNING of the log."""
    warnings = [
        line
        for line in run.stderr.splitlines()
        if "WARNING" in line and re.search(rf"\b{stream}: not available", line)
    ]
    assert len(warnings) == 1, (stream, warnings)


def check_company(emu: Emulator, run, *, first: bool) -> None:
    """Every table equals what the company has; what it cannot have is skipped, once."""
    realm = emu.realm_ids[0]
    refused = emu.profile(realm).refused()
    assert run.returncode == 0, run.stderr[-3000:]
    status = status_of(run)
    expected_streams = {e.stream for e in ENTITIES} | {r.stream for r in REPORTS}
    assert set(status) == expected_streams
    for entity in ENTITIES:
        row = status[entity.stream]
        if entity.name in refused:
            assert row["status"] == "unavailable", row
            assert f"Entity: {entity.name}" in row["error"] or "Permission Denied" in row["error"]
            assert entity.stream not in run.records
            assert_named_once(run, entity.stream)
            continue
        assert row["status"] == "ok", row
        assert row["error"] is None
        if not first:
            continue  # an incremental run brings only what changed, checked by the caller
        expected = truth(emu, realm, entity.stream)
        got = latest_by_id(run.records.get(entity.stream, []))
        assert set(got) == set(expected), entity.stream
        schema = run.schemas[entity.stream]["schema"]
        for key, record in got.items():
            assert strip_tap_fields(record) == expected[key], (entity.stream, key)
            validate(record, schema)  # VAT/GST codes, FR journal codes, currencies
        assert row["records"] == len(run.records.get(entity.stream, []))
    for report in REPORTS:
        row = status[report.stream]
        assert row["status"] == ("unavailable" if report.name in refused else "ok"), row
        if report.name in refused:
            assert report.stream not in run.records
            assert_named_once(run, report.stream)
    # Every record of every stream (reports and sync_status too) holds to its own schema.
    for stream, records in run.records.items():
        schema = run.schemas[stream]["schema"]
        for record in records:
            validate(record, schema)


@pytest.mark.parametrize(
    "profile",
    [pytest.param(n, marks=() if n == IN_DEFAULT_RUN else (pytest.mark.full,)) for n in NAMED],
)
def test_every_profile_syncs_what_it_has_and_skips_the_rest(profile: str) -> None:
    sync_twice(profile, scale=200)


@pytest.mark.full
@pytest.mark.parametrize("profile", NAMED)
def test_every_profile_at_a_larger_scale(profile: str) -> None:
    sync_twice(profile, scale=4000)  # several pages per stream, sliced history


def sync_twice(profile: str, scale: int) -> None:
    """A full sync of every stream, a quiet incremental one, then one after edits."""
    with Emulator(seed=5, scale=scale, profiles=[profile]) as emu:
        realm = emu.realm_ids[0]
        config = config_of(emu)
        catalog = catalog_selecting(config)
        first = run_tap(config, args=["--catalog", str(catalog)])
        check_company(emu, first, first=True)
        refused = emu.profile(realm).refused()
        # State of a stream the company cannot have stays as it was: no bookmark.
        bookmarks = first.last_state["bookmarks"]
        for entity in ENTITIES:
            if entity.name in refused:
                assert not bookmarks.get(entity.stream, {}).get("replication_key_value")

        # A quiet incremental run: the entity streams cost CDC + batch, nothing more.
        emu.clock.advance(seconds=60)
        entity_streams = {e.stream for e in ENTITIES} | {"sync_status"}
        quiet_catalog = catalog_selecting(config, entity_streams)
        emu.reset_counts()
        quiet = run_tap(config, first.last_state, args=["--catalog", str(quiet_catalog)])
        assert quiet.returncode == 0, quiet.stderr[-3000:]
        counts = emu.request_counts(realm)
        metered = sum(counts.get(k, 0) for k in ("query", "batch", "cdc", "read", "report"))
        assert metered == 2, counts

        # Edits, then an incremental run of everything: the changes arrive.
        store = emu.store(realm)
        customer = next(c for c in store.all("Customer") if c.get("Active", True))
        store.update("Customer", customer["Id"], {"Notes": "edited by the profile test"})
        invoice = store.all("Invoice")[0]
        store.update("Invoice", invoice["Id"], {"PrivateNote": "edited by the profile test"})
        emu.clock.advance(seconds=60)
        second = run_tap(config, quiet.last_state, args=["--catalog", str(catalog)])
        check_company(emu, second, first=False)
        edited = [r for r in second.records["customers"] if r["Id"] == customer["Id"]]
        assert edited
        assert edited[-1]["Notes"] == "edited by the profile test"
        # What a target upserting the three runs holds is the company after the edits.
        for entity in ENTITIES:
            if entity.name in refused:
                continue
            runs = (first, quiet, second)
            table = latest_by_id([r for run in runs for r in run.records.get(entity.stream, [])])
            loaded = {
                k: strip_tap_fields(r) for k, r in table.items() if not r.get("_sdc_deleted_at")
            }
            assert loaded == truth(emu, realm, entity.stream), entity.stream


def entity_catalog(config: dict) -> Path:
    return catalog_selecting(config, {e.stream for e in ENTITIES} | {"sync_status"})


# An unknown 400 in `make test`; server faults until the retries run out under `make test-full`.
@pytest.mark.parametrize("code", ["2500", pytest.param("500", marks=pytest.mark.full)])
def test_one_failing_stream_does_not_sink_the_others(code: str) -> None:
    with Emulator(seed=9, scale=250) as emu:
        realm = emu.realm_ids[0]
        store = emu.store(realm)
        config = {**emu.tap_config(), "max_retries": 1, "max_retry_wait": 0.1}
        catalog = entity_catalog(config)
        # Invoices fail for a reason that is no refusal of the feature: an unknown 400, or
        # server faults until the retries are exhausted.
        store.refused["Invoice"] = code
        run = run_tap(config, args=["--catalog", str(catalog)])
        assert run.returncode == 1, run.stderr[-3000:]
        status = status_of(run)
        assert status["invoices"]["status"] == "failed"
        assert status["invoices"]["consecutive_failures"] == 1
        assert status["invoices"]["error"].startswith("invoices: ")
        assert "HTTP" in status["invoices"]["error"]
        assert ("code 10000" if code == "500" else f"code {code}") in status["invoices"]["error"]
        assert "Stream invoices failed: invoices: " in run.stderr
        assert "Traceback" not in run.stderr
        for entity in ENTITIES:
            if entity.name == "Invoice":
                continue
            assert status[entity.stream]["status"] == "ok", entity.stream
            expected = truth(emu, realm, entity.stream)
            assert set(latest_by_id(run.records.get(entity.stream, []))) == set(expected)
        bookmarks = run.last_state["bookmarks"]
        assert bookmarks["customers"]["replication_key_value"]
        assert not bookmarks.get("invoices", {}).get("replication_key_value")

        # Still failing: the count goes on; then mended: the stream is read whole, count 0.
        again = run_tap(config, run.last_state, args=["--catalog", str(catalog)])
        assert again.returncode == 1
        assert status_of(again)["invoices"]["consecutive_failures"] == 2
        del store.refused["Invoice"]
        mended = run_tap(config, again.last_state, args=["--catalog", str(catalog)])
        assert mended.returncode == 0, mended.stderr[-3000:]
        row = status_of(mended)["invoices"]
        assert (row["status"], row["consecutive_failures"], row["error"]) == ("ok", 0, None)
        assert set(latest_by_id(mended.records["invoices"])) == set(truth(emu, realm, "invoices"))
        assert (
            row["bookmark"] == mended.last_state["bookmarks"]["invoices"]["replication_key_value"]
        )


def test_a_failing_stream_in_a_company_that_lacks_others() -> None:
    """Unavailable and failed together: the refused streams stay `unavailable` (no failure),
    the failing one is `failed` with QBO's message, the rest arrive whole; exit 1."""
    with Emulator(seed=5, scale=200, profiles=["uk"]) as emu:
        realm = emu.realm_ids[0]
        refused = emu.profile(realm).refused()
        emu.store(realm).refused["Invoice"] = "2500"
        config = emu.tap_config()
        run = run_tap(config, args=["--catalog", str(entity_catalog(config))])
        assert run.returncode == 1, run.stderr[-3000:]
        assert "Traceback" not in run.stderr
        status = status_of(run)
        for entity in ENTITIES:
            row = status[entity.stream]
            if entity.name == "Invoice":
                assert row["status"] == "failed", row
                assert "code 2500" in row["error"]
            elif entity.name in refused:
                assert row["status"] == "unavailable", row
                assert row["consecutive_failures"] == 0, row
                assert_named_once(run, entity.stream)
            else:
                assert row["status"] == "ok", row
                got = set(latest_by_id(run.records.get(entity.stream, [])))
                assert got == set(truth(emu, realm, entity.stream)), entity.stream
        assert "Stream invoices failed" in run.stderr
        assert "Stream journal_codes failed" not in run.stderr


def test_a_stream_that_becomes_available_is_read_from_then_on() -> None:
    with Emulator(seed=5, scale=200, profiles=["us_simple_start"]) as emu:
        realm = emu.realm_ids[0]
        config = emu.tap_config()
        catalog = entity_catalog(config)
        first = run_tap(config, args=["--catalog", str(catalog)])
        assert first.returncode == 0, first.stderr[-3000:]
        assert status_of(first)["classes"]["status"] == "unavailable"
        # The company upgrades and starts tracking classes.
        emu.set_profile(realm, "us_plus_no_inventory")
        emu.clock.advance(seconds=60)
        created = emu.store(realm).create("Class", {"Name": "Landscaping", "Active": True})
        emu.clock.advance(seconds=60)
        second = run_tap(config, first.last_state, args=["--catalog", str(catalog)])
        assert second.returncode == 0, second.stderr[-3000:]
        assert status_of(second)["classes"]["status"] == "ok"
        assert [r["Id"] for r in second.records["classes"]] == [created["Id"]]
        assert second.last_state["bookmarks"]["classes"]["replication_key_value"]


def test_a_cdc_call_refused_for_one_entity_is_asked_again_without_it() -> None:
    with Emulator(seed=5, scale=200) as emu:
        realm = emu.realm_ids[0]
        store = emu.store(realm)
        config = emu.tap_config()
        catalog = entity_catalog(config)
        first = run_tap(config, args=["--catalog", str(catalog)])
        assert first.returncode == 0, first.stderr[-3000:]
        # The company loses class tracking (5020 names no entity) and JournalCode-like
        # 4001 refusals name theirs: CDC refuses any call that includes them.
        store.refused["Class"] = "5020"
        store.refused["Vendor"] = "4001"
        emu.clock.advance(seconds=60)
        customer = next(c for c in store.all("Customer") if c.get("Active", True))
        store.update("Customer", customer["Id"], {"Notes": "after the downgrade"})
        emu.clock.advance(seconds=60)
        emu.reset_counts()
        second = run_tap(config, first.last_state, args=["--catalog", str(catalog)])
        assert second.returncode == 0, second.stderr[-3000:]
        status = status_of(second)
        assert status["classes"]["status"] == "unavailable"
        assert status["vendors"]["status"] == "unavailable"
        assert "Entity: Vendor" in status["vendors"]["error"]
        assert [r["Notes"] for r in second.records["customers"]] == ["after the downgrade"]
        for stream in ("classes", "vendors"):
            assert second.last_state["bookmarks"][stream] == first.last_state["bookmarks"][stream]
        counts = emu.request_counts(realm)
        # One refused call, then halves until Class is found: a few CDC calls, no queries.
        assert counts.get("query", 0) == 0, counts
        assert counts["cdc"] <= 12, counts


def test_an_error_about_the_whole_company_still_stops_the_run_at_once() -> None:
    with Emulator(seed=5, scale=200, realms=2) as emu:
        mine, other = emu.realm_ids
        # A token of one company used for another: QBO refuses every call (401, code 100).
        config = {**emu.tap_config(mine), "realm_id": other, "max_retries": 1}
        config["max_retry_wait"] = 0.1
        catalog = entity_catalog(config)
        emu.reset_counts()
        run = run_tap(config, args=["--catalog", str(catalog)])
        assert run.returncode == 1
        assert not run.records
        assert "Stream " not in run.stderr  # no stream-by-stream failures: the run stopped
        assert "Traceback" not in run.stderr
        counts = emu.request_counts(other)
        assert sum(v for k, v in counts.items() if k != "token") <= 2, counts


def test_only_refusals_of_the_company_count_as_unavailable() -> None:
    from tap_quickbooks.outcomes import is_company_fault, is_unavailable_fault

    def fault(code: str, detail: str = "") -> dict:
        return {
            "Error": [{"Message": "m", "Detail": detail, "code": code}],
            "type": "ValidationFault",
        }

    assert is_unavailable_fault(
        fault("4001", "QueryValidationError: Metadata not found for Entity: X")
    )
    assert is_unavailable_fault(fault("5020", "Permission Denied Error : You do not have ..."))
    assert is_unavailable_fault(
        fault("120", "-11014-You do not have access to use QuickBooks Online Plus")
    )
    # A query QBO cannot run is the tap's error, not the company's.
    assert not is_unavailable_fault(
        fault("4001", "QueryValidationError: property 'X' is not queryable")
    )
    assert not is_unavailable_fault(fault("2500"))
    assert not is_unavailable_fault(None)
    assert is_company_fault(fault("6190", "Invalid Company Status"))
    assert not is_company_fault(fault("5020"))
