"""Every kind of company (edition, country, features): the tap as a process against each
emulated profile. What the company has arrives whole; what it cannot have is skipped once,
named, and marked in sync_status; one failing stream never sinks the run."""

from __future__ import annotations

import json
import re
import tempfile
from pathlib import Path

import pytest

from qbo_emulator import Emulator
from qbo_emulator.profiles import PROFILES
from tap_quickbooks.catalogue import ENTITIES
from tap_quickbooks.reports import REPORTS
from tests.singer import run_tap, strip_tap_fields
from tests.test_tap_sync import latest_by_id, truth

NAMED = [name for name in PROFILES if name != "default"]
# A short report window keeps every report at a few calls (the dates are the emulator's own).
REPORT_WINDOW = {"report_period": "year", "report_lookback_periods": 0}


def catalog_selecting(config: dict, streams: set[str] | None = None) -> Path:
    """The discovered catalog with these streams selected (None: every stream, reports too)."""
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


def status_of(run) -> dict[str, dict]:
    return {r["stream"]: r for r in run.records.get("sync_status", [])}


def config_of(emu: Emulator) -> dict:
    return {**emu.tap_config(), **REPORT_WINDOW}


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
            warnings = [
                line
                for line in run.stderr.splitlines()
                if "WARNING" in line and re.search(rf"\b{entity.stream}: not available", line)
            ]
            assert len(warnings) == 1, (entity.stream, warnings)
            continue
        assert row["status"] == "ok", row
        assert row["error"] is None
        if not first:
            continue  # an incremental run brings only what changed, checked by the caller
        expected = truth(emu, realm, entity.stream)
        got = latest_by_id(run.records.get(entity.stream, []))
        assert set(got) == set(expected), entity.stream
        for key, record in got.items():
            assert strip_tap_fields(record) == expected[key], (entity.stream, key)
        assert row["records"] == len(run.records.get(entity.stream, []))
    for report in REPORTS:
        row = status[report.stream]
        assert row["status"] == ("unavailable" if report.name in refused else "ok"), row


@pytest.mark.parametrize("profile", NAMED)
def test_every_profile_syncs_what_it_has_and_skips_the_rest(profile: str) -> None:
    with Emulator(seed=5, scale=200, profiles=[profile]) as emu:
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
        emu.clock.advance(seconds=60)
        second = run_tap(config, quiet.last_state, args=["--catalog", str(catalog)])
        check_company(emu, second, first=False)
        edited = [r for r in second.records["customers"] if r["Id"] == customer["Id"]]
        assert edited
        assert edited[-1]["Notes"] == "edited by the profile test"
