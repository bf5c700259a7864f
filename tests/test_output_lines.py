"""Fewer, smaller lines in many-company runs (output.py): each stream's SCHEMA once, a STATE
held until a block of data or the end of a company, and still a state that resumes anywhere,
missing nothing. The tap as a process against the emulator, three companies."""

from __future__ import annotations

import pytest

from qbo_emulator import Emulator
from tests.singer import run_tap, run_tap_until_killed, strip_tap_fields
from tests.test_companies import many_config
from tests.test_tap_sync import latest_by_id, select, truth

NOW = "2026-06-01T12:00:00Z"  # the emulator's clock: no test depends on today's date
COMPANIES = 3
KILL_STREAMS = ["invoices", "customers", "payments"]


def bookmarks_but_times(state: dict) -> dict:
    """Each stream's bookmark of each company, less when it was synced (that moves on)."""
    return {
        (stream, str(p.get("context"))): {k: v for k, v in p.items() if k != "synced_at"}
        for stream, bookmark in state["bookmarks"].items()
        for p in bookmark.get("partitions", [])
    }


def test_a_quiet_many_company_run_writes_each_schema_once_and_a_state_per_company() -> None:
    with Emulator(seed=3, scale=20, realms=COMPANIES, now=NOW) as emu:
        config = many_config(emu, {r: emu.refresh_token(r) for r in emu.realm_ids})
        first = run_tap(config)
        assert first.returncode == 0, first.stderr[-3000:]
        quiet = run_tap(config, first.last_state)
        assert quiet.returncode == 0, quiet.stderr[-3000:]

    for run in (first, quiet):
        schemas = [m["stream"] for m in run.messages if m["type"] == "SCHEMA"]
        assert sorted(schemas) == sorted(set(schemas))  # once a stream, not once a company
        assert set(schemas) == set(run.records)
        # One as each company ends (the data of a small company is less than a block), and
        # the run's last: not one a stream of each company (~41 a company before).
        assert len(run.states) <= COMPANIES + 2, len(run.states)
    # The resumable state is the one the run was handed: nothing changed, so no bookmark
    # moved (only the time each stream was last synced); every company's is there.
    before, after = bookmarks_but_times(first.last_state), bookmarks_but_times(quiet.last_state)
    assert after == before
    assert {key[1] for key in after} == {str({"realm_id": r}) for r in emu.realm_ids}
    assert set(quiet.last_state["quickbooks_auth"]["companies"]) == set(emu.realm_ids)


@pytest.mark.parametrize("kill_after", [1, 100, 250, 450])  # of ~500 records
def test_a_many_company_run_killed_anywhere_resumes_missing_nothing(kill_after: int) -> None:
    with Emulator(seed=29, scale=600, realms=COMPANIES, now=NOW) as emu:
        emu.behaviour.latency_ms = 15  # lines come out over a while: the kill lands inside
        config = {**many_config(emu, {r: emu.refresh_token(r) for r in emu.realm_ids})}
        config["page_size"] = 10
        args = ["--catalog", str(select(config, KILL_STREAMS))]
        killed = run_tap_until_killed(config, None, kill_after, args)
        assert killed.returncode != 0  # it was killed, not done
        resumed = run_tap(config, killed.last_state, args)
        assert resumed.returncode == 0, resumed.stderr[-3000:]
        for realm in emu.realm_ids:
            for stream in KILL_STREAMS:
                got = latest_by_id(
                    [
                        r
                        for run in (killed, resumed)
                        for r in run.records.get(stream, [])
                        if r["realm_id"] == realm
                    ]
                )
                expected = truth(emu, realm, stream)
                assert {k: strip_tap_fields(v) for k, v in got.items()} == expected, (
                    realm,
                    stream,
                )
        if bookmarked(killed.last_state) and kill_after > 1:
            # A company finished before the kill resumes from its bookmarks, not from scratch
            # (a STATE before any, carrying a rotated token alone, moved none).
            assert sum(len(v) for v in resumed.records.values()) < sum(
                len(truth(emu, r, s)) for r in emu.realm_ids for s in KILL_STREAMS
            )


def bookmarked(state: dict | None) -> bool:
    """Whether ``state`` holds a bookmark of any company's stream."""
    bookmarks = (state or {}).get("bookmarks", {})
    return any(
        "replication_key_value" in partition
        for stream in bookmarks.values()
        for partition in stream.get("partitions", [])
    )
