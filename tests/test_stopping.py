"""A run stopped by SIGTERM or SIGINT (schedulers, Ctrl-C) into a pipe leaves whole lines,
ends on a STATE covering what it wrote, exits 143 / 130, and resumes missing nothing."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import pytest

from tests.singer import FAULTHANDLER, TapRun, parse_messages, run_tap, tap_command
from tests.test_orchestrator import counting_batch_items, metered_served
from tests.test_resilience import assert_equals_truth, tagged
from tests.test_tap_sync import select, truth

STREAMS = ["invoices", "customers", "payments"]
REPORT = "profit_and_loss_report"
REPORTS = {"report_start_date": "2025-01-01", "report_end_date": "2025-12-31"}


def run_tap_until_signalled(
    config: dict, state: dict | None, args: list[str], signum: int, after_line
) -> tuple[TapRun, float]:
    """Start a sync writing into a pipe and send it ``signum`` once ``after_line(line, n)``
    says so; read on to the end. Returns the run and how long it took to exit after the
    signal."""
    with tempfile.TemporaryDirectory() as tmp:
        command = tap_command(config, state, args, Path(tmp))
        stderr = Path(tmp) / "stderr"
        with stderr.open("w") as err:
            process = subprocess.Popen(
                command, stdout=subprocess.PIPE, stderr=err, env={**os.environ, **FAULTHANDLER}
            )
            assert process.stdout is not None
            lines: list[bytes] = []
            signalled = None
            for n, line in enumerate(process.stdout):
                lines.append(line)
                if signalled is None and after_line(line, n):
                    process.send_signal(signum)
                    signalled = time.monotonic()
            code = process.wait(timeout=60)
        took = time.monotonic() - (signalled or time.monotonic())
        assert signalled is not None, "the run ended before the signal"
        text = b"".join(lines).decode()
        return TapRun(code, text, stderr.read_text(), parse_messages(text)), took


def records_seen(at_least: int, stream: str | None = None):
    seen = {"n": 0}

    def after_line(line: bytes, n: int) -> bool:
        if b'"type":"RECORD"' in line and (stream is None or f'"{stream}"'.encode() in line):
            seen["n"] += 1
        return seen["n"] >= at_least

    return after_line


def assert_stopped_cleanly(run: TapRun, text: str, signum: int, took: float) -> None:
    for line in text.splitlines():
        json.loads(line)  # every line whole: no line cut, none glued to another
    assert text.endswith("\n")
    assert run.messages[-1]["type"] == "STATE", run.messages[-1]
    assert run.returncode == 128 + signum, run.stderr[-3000:]
    assert "Traceback" not in run.stderr
    assert "Fatal Python error" not in run.stderr
    assert f"Stopped by {signal.Signals(signum).name}" in run.stderr
    assert took < 10  # page chains and waits stop promptly


@pytest.mark.parametrize(
    ("signum", "point"),
    [
        (signal.SIGTERM, "early"),
        (signal.SIGTERM, "mid-stream"),
        (signal.SIGINT, "mid-stream"),
        (signal.SIGTERM, "late"),
    ],
)
def test_a_stopped_run_ends_on_whole_lines_and_a_state_and_resumes(
    make_company, signum: int, point: str
) -> None:
    emu = make_company(seed=61, scale=600)
    emu.behaviour.latency_ms = 15  # a run of some seconds: the signal lands inside it
    config = {**emu.tap_config(), "page_size": 5}
    args = ["--catalog", str(select(config, STREAMS))]
    after = {
        "early": lambda line, n: n == 0,  # the first line out: chains just started
        "mid-stream": records_seen(40),
        "late": records_seen(15, "payments"),
    }[point]
    stopped, took = run_tap_until_signalled(config, None, args, signum, after)
    assert_stopped_cleanly(stopped, stopped.stdout, signum, took)
    resumed = run_tap(config, stopped.last_state, args)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert_equals_truth(emu, tagged(stopped) + tagged(resumed), STREAMS)


def test_a_run_stopped_during_a_report_resumes_it(make_company) -> None:
    emu = make_company(seed=67, scale=300)
    emu.behaviour.latency_ms = 150  # each month's report takes a while
    config = {**emu.tap_config(), **REPORTS, "report_period": "month"}
    args = ["--catalog", str(select(config, [REPORT, "terms"]))]
    after = records_seen(1, REPORT)
    stopped, took = run_tap_until_signalled(config, None, args, signal.SIGTERM, after)
    assert_stopped_cleanly(stopped, stopped.stdout, signal.SIGTERM, took)
    resumed = run_tap(config, stopped.last_state, args)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    periods = {
        r["period_start"] for r in tagged(stopped) + tagged(resumed) if r["_stream"] == REPORT
    }
    complete = {
        r["period_start"] for r in tagged(run_tap(config, None, args)) if r["_stream"] == REPORT
    }
    assert periods == complete  # every month, read by one run or the other


def test_a_run_stopped_while_qbo_takes_its_time_over_a_batch_call_exits_at_once(
    make_company, tmp_path
) -> None:
    # The streams' first pages come by batch calls sent from a pool of threads: a stop
    # while QBO is slow to answer one ends the run on its STATE at once, not after the
    # answer (the process does not wait on the pool's thread).
    emu = make_company(seed=61, scale=100)
    asked, answer = threading.Event(), threading.Event()

    def slow_batch(realm: str, kind: str, number: int) -> None:
        if kind == "batch":
            asked.set()
            answer.wait(120)

    emu.add_hook(slow_batch)
    config = emu.tap_config()
    command = tap_command(config, None, ["--catalog", str(select(config, STREAMS))], tmp_path)
    process = subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, **FAULTHANDLER},
    )
    try:
        assert asked.wait(60), "no batch call came"
        process.send_signal(signal.SIGTERM)
        signalled = time.monotonic()
        out, err = process.communicate(timeout=60)
        took = time.monotonic() - signalled
    finally:
        answer.set()
        if process.poll() is None:
            process.kill()
    text = out.decode()
    run = TapRun(process.returncode, text, err.decode(), parse_messages(text))
    assert_stopped_cleanly(run, text, signal.SIGTERM, took)
    assert not run.records  # none had come


def test_a_stopped_run_of_several_companies_reports_what_each_did_and_spent(
    make_company,
) -> None:
    """Stopped at its first company's 10th customer (the other companies planned: batch and
    CDC calls made), the run writes a sync_status record for each stream of each company that
    spent a call: `ok` for those that ended, `stopped` for the rest, and each company's metered
    calls, so that a budget counts a stopped run too. It then ends on its STATE as ever, and
    the next run resumes every company, missing nothing."""
    emu = make_company(seed=62, scale=300, realms=3)
    emu.behaviour.latency_ms = 15
    shared = {k: v for k, v in emu.tap_config().items() if k not in {"realm_id", "refresh_token"}}
    config = {
        **shared,
        "page_size": 5,
        "companies": [
            {"realm_id": r, "refresh_token": emu.refresh_token(r)} for r in emu.realm_ids
        ],
    }
    args = ["--catalog", str(select(config, [*STREAMS, "sync_status"]))]
    with counting_batch_items() as batch_items:
        stopped, took = run_tap_until_signalled(
            config, None, args, signal.SIGTERM, records_seen(10, "customers")
        )
        time.sleep(0.5)  # requests the stop left in flight reach the emulator
    assert_stopped_cleanly(stopped, stopped.stdout, signal.SIGTERM, took)
    rows = stopped.records["sync_status"]
    by_realm: dict[str, dict[str, dict]] = {}
    for row in rows:
        by_realm.setdefault(row["realm_id"], {})[row["stream"]] = row
    spent = {r: metered_served(emu.request_counts(r), batch_items[r]) for r in emu.realm_ids}
    assert set(by_realm) == {r for r, n in spent.items() if n}, (by_realm.keys(), spent)
    assert len(rows) == len(by_realm) * len(STREAMS)  # one a stream, none twice
    statuses = [row["status"] for row in rows]
    assert set(statuses) <= {"ok", "stopped"}, statuses
    assert "stopped" in statuses
    for realm, streams in by_realm.items():
        assert set(streams) == set(STREAMS)
        reported = {row["company_metered_calls"] for row in streams.values()}
        assert len(reported) == 1, reported
        # Never more than QBO served; less by at most the requests cut off in flight.
        assert spent[realm] - 10 <= reported.pop() <= spent[realm], (realm, spent)
        for stream, row in streams.items():
            written = [
                m for m in stopped.messages
                if m["type"] == "RECORD" and m["stream"] == stream
                and m["record"].get("realm_id") == realm
            ]  # fmt: skip
            assert row["records"] == len(written), (realm, stream, row)
            if row["status"] == "stopped":
                assert row["error"].startswith("The run was stopped by SIGTERM")
                assert row["consecutive_failures"] == 0  # a stop is not the stream's failure
    resumed = run_tap(config, stopped.last_state, args)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    got = tagged(stopped) + tagged(resumed)
    for realm in emu.realm_ids:
        for stream in STREAMS:
            ids = {r["Id"] for r in got if r["_stream"] == stream and r["realm_id"] == realm}
            assert ids == {r["Id"] for r in truth(emu, realm, stream).values()}, (realm, stream)
