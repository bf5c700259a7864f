"""Faults survived, limits kept, crashes resumed: the output still equals the ground truth."""

from __future__ import annotations

import random

import pytest

from tests.singer import run_tap, run_tap_until_killed, strip_tap_fields
from tests.test_tap_sync import latest_by_id, select, truth

STREAMS = ["invoices", "customers", "payments", "terms", "time_activities"]
FAULTS = ["429", "500", "502", "503", "504", "401", "truncated_json", "truncated_close",
          "reset", "slow", "fault200"]  # fmt: skip
FAST_RETRIES = {"max_retry_wait": 0.05, "request_timeout": 0.5, "connect_timeout": 2}


def faulty_company(make_company, faults, seed: int = 23):
    emu = make_company(seed=seed, scale=500)
    emu.behaviour.slow_ms = 1500  # longer than the tap's read timeout: a timeout, then a retry
    emu.behaviour.faults = faults
    return emu


def assert_equals_truth(emu, records: list[dict], streams: list[str]) -> int:
    """Every stream's newest records equal the emulator's rows; returns records checked."""
    checked = 0
    realm = emu.realm_ids[0]
    for stream in streams:
        got = latest_by_id(
            [
                {k: v for k, v in r.items() if k != "_stream"}
                for r in records
                if r["_stream"] == stream
            ]
        )
        expected = truth(emu, realm, stream)
        assert {k: strip_tap_fields(v) for k, v in got.items()} == expected, stream
        checked += len(expected)
    return checked


def tagged(run) -> list[dict]:
    return [{**m["record"], "_stream": m["stream"]} for m in run.messages if m["type"] == "RECORD"]


def all_secrets(emu, config: dict) -> list[str]:
    """The client secret and every refresh and access token the emulator ever issued."""
    issued = list(emu.oauth.refresh) + list(emu.oauth.access)
    return [config["client_secret"], *issued]


@pytest.mark.parametrize("kind", FAULTS)
def test_each_fault_alone_is_survived(make_company, kind: str) -> None:
    emu = faulty_company(make_company, [(kind, 0.3)])
    config = {**emu.tap_config(), "page_size": 8, **FAST_RETRIES}
    args = ["--catalog", str(select(config, STREAMS))]
    run = run_tap(config, None, args)
    assert run.returncode == 0, run.stderr[-3000:]
    injected = [k for _, k in emu.behaviour.injected]
    assert injected, "no fault was injected"
    assert_equals_truth(emu, tagged(run), STREAMS)
    # Each retry is logged with its reason and the wait; no secret is.
    assert "retry 1/8" in run.stderr
    for secret in all_secrets(emu, config):
        assert secret not in run.stderr


def test_every_fault_mixed_at_a_high_rate_full_then_incremental(make_company) -> None:
    emu = faulty_company(make_company, [(k, 0.05) for k in FAULTS], seed=29)
    config = {**emu.tap_config(), "page_size": 8, **FAST_RETRIES}
    args = ["--catalog", str(select(config, STREAMS))]
    first = run_tap(config, None, args)
    assert first.returncode == 0, first.stderr[-3000:]
    realm = emu.realm_ids[0]
    store = emu.store(realm)
    emu.clock.advance(seconds=30)
    for invoice in emu.ground_truth(realm, "Invoice")[:25]:
        store.update("Invoice", invoice["Id"], {"PrivateNote": "edited under fire"})
    second = run_tap(config, first.last_state, args)
    assert second.returncode == 0, second.stderr[-3000:]
    checked = assert_equals_truth(emu, tagged(first) + tagged(second), STREAMS)
    print(
        f"\nfault matrix: {len(emu.behaviour.injected)} faults injected, "
        f"{first.stderr.count('retry ') + second.stderr.count('retry ')} retries, "
        f"{checked} records checked"
    )
    for secret in all_secrets(emu, config):
        assert secret not in first.stderr + second.stderr


def test_rate_limits_are_kept_so_qbo_never_throttles(make_company) -> None:
    emu = make_company(seed=31, scale=600)
    emu.behaviour.rate_limits = True
    config = {**emu.tap_config(), "page_size": 5}  # many small pages: > 10 requests a second
    run = run_tap(config, None, ["--catalog", str(select(config, ["invoices", "payments"]))])
    assert run.returncode == 0, run.stderr[-3000:]
    assert "ThrottleExceeded" not in run.stderr
    assert emu.request_counts().get("query", 0) > 30  # unthrottled, that is ~200 per second


def test_a_run_beyond_the_retry_budget_fails_clearly_and_resumes(make_company) -> None:
    emu = make_company(seed=37, scale=500)
    config = {**emu.tap_config(), "page_size": 10, **FAST_RETRIES, "max_retries": 2}
    args = ["--catalog", str(select(config, ["invoices", "payments"]))]
    queries = {"n": 0}

    def outage(realm_id: str, kind: str, index: int) -> None:
        if kind == "query":
            queries["n"] += 1
            if queries["n"] == 3:  # QBO goes down mid-stream
                emu.behaviour.faults = [("503", 1.0)]

    emu.add_hook(outage)
    failed = run_tap(config, None, args)
    assert failed.returncode != 0
    assert "Retries exhausted" in failed.stderr
    assert "503" in failed.stderr
    assert "Traceback" not in failed.stderr
    emu.remove_hook(outage)
    emu.behaviour.faults = None
    resumed = run_tap(config, failed.last_state, args)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert_equals_truth(emu, tagged(failed) + tagged(resumed), ["invoices", "payments"])


def test_requests_that_cannot_succeed_fail_at_once_with_qbos_message(make_company) -> None:
    emu = make_company(seed=41, scale=100)
    # A realm this token does not belong to: QBO answers 403/401, never data.
    config = {**emu.tap_config(), "realm_id": "1234567890", **FAST_RETRIES}
    run = run_tap(config, None, ["--catalog", str(select(config, ["terms"]))])
    assert run.returncode != 0
    assert "intuit_tid" in run.stderr
    assert "Traceback" not in run.stderr


def test_killed_at_many_random_points_misses_nothing(make_company) -> None:
    emu = make_company(seed=43, scale=900)
    config = {**emu.tap_config(), "page_size": 30}
    streams = ["invoices", "payments", "customers", "bills", "estimates"]
    args = ["--catalog", str(select(config, streams))]
    rng = random.Random(8)
    arrived: list[dict] = []
    state = None
    kills = 0
    realm = emu.realm_ids[0]
    for _ in range(12):
        run = run_tap_until_killed(config, state, rng.randrange(1, 400), args)
        kills += 1
        arrived += tagged(run)
        state = run.last_state or state
        # The company keeps changing between runs.
        emu.clock.advance(seconds=rng.randrange(0, 3))
        invoice = rng.choice(emu.ground_truth(realm, "Invoice"))
        emu.store(realm).update("Invoice", invoice["Id"], {"PrivateNote": f"kill {kills}"})
    final = run_tap(config, state, args)
    assert final.returncode == 0, final.stderr[-3000:]
    checked = assert_equals_truth(emu, arrived + tagged(final), streams)
    print(f"\nkill and resume: {kills} kills, {checked} records checked, 0 missed")
