"""QBO's limits are per company, whichever process asks: a tap and two targets on one company,
naming one `shared_limits_path`, stay inside them together as the emulator counts them."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import threading
import time
from collections import Counter

import pytest

from tap_quickbooks.throttle import RequestLimiter, SharedLimiter
from tests.emulator.conftest import Api
from tests.singer import FAULTHANDLER, parse_messages, tap_command
from tests.test_tap_sync import select
from tests.test_target import _ours, messages, receipts_input, target_config

PER_TARGET = 21 * 30  # 21 full batch calls each: 42 together, over QBO's 40 a minute


@pytest.mark.slow
@pytest.mark.parametrize(
    "sharing",
    [True, pytest.param(False, marks=pytest.mark.full)],
    ids=["shared", "each-its-own-control"],
)
def test_a_tap_and_two_targets_on_one_company_share_qbos_limits(make_company, tmp_path, sharing):
    """Control (full run): the same processes, each counting only its own calls, meet 429s."""
    emu = make_company()
    realm = emu.realm_ids[0]
    shared = str(tmp_path / "limits.sqlite") if sharing else None
    tap_config = {**emu.tap_config(), "page_size": 2, "shared_limits_path": shared}
    tap_config["token_store_path"] = str(tmp_path / "tap-token.json")
    catalog = select(tap_config, ["customers", "items", "invoices", "payments"])
    records, totals = receipts_input(emu, 2 * PER_TARGET)
    emu.request_counts()  # discovery above ran without limits; from here QBO's hold
    emu.behaviour.configure(rate_limits=True, latency_ms=50)
    arrivals: list[tuple[float, str]] = []
    lock = threading.Lock()

    def note(realm_id, kind, number):
        with lock:
            arrivals.append((time.monotonic(), kind))

    emu.add_hook(note)
    runs = []
    for n, part in enumerate((records[:PER_TARGET], records[PER_TARGET:])):
        workdir = tmp_path / f"target{n}"
        workdir.mkdir()
        config = target_config(emu, workdir, shared_limits_path=shared)
        lines = messages("sales_receipts", "SalesReceipt", ["DocNumber"], part)
        (workdir / "target.json").write_text(json.dumps(config))
        process = subprocess.Popen(
            [sys.executable, "-m", "target_quickbooks", "--config", str(workdir / "target.json")],
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            cwd=workdir,
        )
        runs.append((process, "".join(json.dumps(m) + "\n" for m in lines)))
    tap = subprocess.Popen(
        [*tap_command(tap_config, None, ["--catalog", str(catalog)], tmp_path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **FAULTHANDLER},
    )
    runs_out: dict[int, tuple[str, str]] = {}

    def feed(n: int) -> None:
        process, lines = runs[n]
        runs_out[n] = process.communicate(lines, timeout=600)

    feeders = [threading.Thread(target=feed, args=(n,)) for n in range(len(runs))]
    for f in feeders:
        f.start()
    tap_out, tap_err = tap.communicate(timeout=600)
    for f in feeders:
        f.join()
    emu.remove_hook(note)

    counts = emu.request_counts(realm)
    batch_times = [at for at, kind in arrivals if kind == "batch"]
    api = [at for at, kind in arrivals if kind not in ("token", "other")]
    busiest = max(sum(1 for b in api if a <= b < a + 1) for a in api)
    print(
        f"\ncalls: {counts.get('query', 0)} queries, {counts.get('batch', 0)} batch; "
        f"throttled {counts.get('throttled', 0)}; peak in flight "
        f"{emu.behaviour.peak_in_flight.get(realm)}; batch calls spanned "
        f"{batch_times[-1] - batch_times[0]:.1f} s; busiest second {busiest} calls"
    )
    if not sharing:  # each counting alone, together they overrun QBO: 429s
        assert counts.get("throttled", 0) > 0, counts
        return
    assert tap.returncode == 0, tap_err[-3000:]
    for n, (process, _) in enumerate(runs):
        assert process.returncode == 0, runs_out[n][1][-3000:]
    assert counts.get("throttled", 0) == 0, counts  # QBO never had to say 429
    assert emu.behaviour.peak_in_flight[realm] <= 10
    assert counts["batch"] >= 42  # more than one minute's worth of batch calls ...
    assert batch_times[-1] - batch_times[0] >= 60  # ... so some waited for the next minute
    assert Counter(r["DocNumber"] for r in _ours(emu)) == Counter(list(totals))
    read = Counter(m["stream"] for m in parse_messages(tap_out) if m["type"] == "RECORD")
    assert read["customers"] == len(emu.ground_truth(realm, "Customer"))  # read meanwhile


def test_the_emulator_allows_40_batch_calls_a_minute_of_30_items(make_company):
    emu = make_company()
    api = Api(emu)
    emu.behaviour.configure(rate_limits=True, per_second=1000)  # isolate the batch limit
    one = {"BatchItemRequest": [{"bId": "1", "Query": "select * from Term"}]}
    statuses = [api.post("/batch", one).status_code for _ in range(41)]
    assert statuses == [200] * 40 + [429]
    assert api.post("/query", "select * from Term", content_type="application/text").ok
    too_big = {
        "BatchItemRequest": [{"bId": str(i), "Query": "select * from Term"} for i in range(31)]
    }
    emu.behaviour.configure(rate_limits=False)
    refused = api.post("/batch", too_big)
    assert refused.status_code == 400
    assert refused.json()["Fault"]["Error"][0]["code"] == "1001"


def test_limiters_sharing_a_file_count_one_budget_per_company(tmp_path):
    """Two limiters on one file (as two processes would be): together never more than 10
    starts in a second for a company; another company's budget is its own."""
    path = tmp_path / "limits.sqlite"
    limiters = [SharedLimiter(path, "1"), SharedLimiter(path, "1"), SharedLimiter(path, "2")]

    def take(limiter: SharedLimiter) -> None:
        for _ in range(12):
            with limiter.slot():
                pass

    threads = [threading.Thread(target=take, args=(x,)) for x in limiters]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    with sqlite3.connect(path) as db:  # the starts as the limiters granted them
        starts = {
            realm: [at for (at,) in db.execute(
                "SELECT at FROM starts WHERE realm = ? ORDER BY at", (realm,)
            )]
            for realm in ("1", "2")
        }  # fmt: skip
        left = db.execute("SELECT count(*) FROM flight WHERE until IS NULL").fetchone()[0]
    assert len(starts["1"]) == 24
    assert len(starts["2"]) == 12
    for times in starts.values():
        assert all(b - a >= 1.0 for a, b in zip(times, times[10:], strict=False))
    assert starts["2"][-1] - starts["2"][0] < starts["1"][-1] - starts["1"][0]
    assert left == 0  # every call that ended says so


def test_calls_left_in_flight_by_a_dead_process_do_not_block(tmp_path):
    path = tmp_path / "limits.sqlite"
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    SharedLimiter(path, "1")  # makes the tables
    with sqlite3.connect(path) as db:
        db.executemany(
            "INSERT INTO flight VALUES (?, '1', ?, ?, NULL)",
            [(f"dead-{n}", gone.pid, time.time()) for n in range(10)],
        )

    def one_call() -> None:
        with SharedLimiter(path, "1").slot():
            pass

    caller = threading.Thread(target=one_call, daemon=True)
    caller.start()
    caller.join(60)  # ten "in flight": without the check it would wait 15 minutes
    assert not caller.is_alive()
    with sqlite3.connect(path) as db:
        assert db.execute("SELECT count(*) FROM flight WHERE token LIKE 'dead-%'").fetchone() == (
            0,
        )


@pytest.mark.parametrize("shared", [False, True], ids=["one-process", "shared-file"])
def test_a_batch_call_past_the_minutes_allowance_waits_while_other_calls_go(tmp_path, shared):
    if shared:
        limiter = SharedLimiter(
            tmp_path / "limits.sqlite", "1", per_minute=10**6, per_second=10**6,
            batch_per_minute=3,
        )  # fmt: skip
    else:
        limiter = RequestLimiter(10**6, 10**6, 10, batch_per_minute=3)
    for _ in range(3):
        with limiter.slot(kind="batch"):
            pass
    fourth = threading.Thread(target=lambda: limiter.slot(kind="batch").__enter__(), daemon=True)
    fourth.start()

    def query() -> None:
        with limiter.slot():
            pass

    other = threading.Thread(target=query, daemon=True)
    other.start()
    other.join(30)
    assert not other.is_alive()  # a query is not a batch call: it goes
    assert fourth.is_alive()  # the 4th batch call of the minute waits for the next minute
