"""`make bench`: what a sync costs in time, CPU, memory and metered API calls, each figure
beside the limit the project holds it to.

Runs the tap as a process against the bundled emulator (in this process, on loopback):
1. Backfill under QBO's limits: a company of BENCH_SCALE records (default 200,000), every
   request answered after 250 ms plus 0.05 ms per record, QBO's rate limits on. Limit: 1.25
   times the floor those limits allow (requests needed / 500 per minute).
2. The tap's own cost: the same company with no latency, records per CPU-second of the tap
   process, the median of three runs. Limit: 20,000. Then an incremental sync with nothing
   changed: the calls it costs.
3. Memory: the tap's peak RSS for companies of BENCH_MEMORY_SCALES records (default
   10,000 and 1,000,000; the large company needs about 6 GB and two minutes to generate).
   Limit: the largest within 1.5 times the smallest.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from qbo_emulator import Emulator

METRIC = re.compile(r"METRIC: (\{.*\})")
# One line per company ("(realm X)" when the run has several).
CALLS = re.compile(r"API calls this run(?: \(realm \w+\))?: (.*)")


def run_tap(config: dict, state: dict | None, workdir: Path, catalog: dict | None = None) -> dict:
    """Run one sync with stdout to a file; return its figures from the OS and the tap's log."""
    (workdir / "config.json").write_text(json.dumps(config))
    command = [sys.executable, "-m", "tap_quickbooks", "--config", str(workdir / "config.json")]
    if catalog is not None:
        (workdir / "catalog.json").write_text(json.dumps(catalog))
        command += ["--catalog", str(workdir / "catalog.json")]
    if state is not None:
        (workdir / "state.json").write_text(json.dumps(state))
        command += ["--state", str(workdir / "state.json")]
    # A wrapper process reports the tap's own peak RSS (its only child).
    wrapper = (
        "import resource, subprocess, sys, time\n"
        "t = time.monotonic()\n"
        "with open(sys.argv[1], 'wb') as out, open(sys.argv[2], 'wb') as err:\n"
        "    code = subprocess.call(sys.argv[3:], stdout=out, stderr=err)\n"
        "rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss\n"
        "usage = resource.getrusage(resource.RUSAGE_CHILDREN)\n"
        "print(code, time.monotonic() - t, rss, usage.ru_utime + usage.ru_stime)\n"
    )
    out, err = workdir / "out.jsonl", workdir / "err.log"
    done = subprocess.run(
        [sys.executable, "-c", wrapper, str(out), str(err), *command],
        capture_output=True,
        text=True,
        check=True,
    )
    # When the tap's last line was written: reading its output back is this script's work.
    ended = time.monotonic()
    code, seconds, rss_kb, cpu = done.stdout.split()
    log = err.read_text()
    if int(code) != 0:
        sys.exit(f"tap failed:\n{log[-3000:]}")
    records = sum(
        json.loads(m)["value"]
        for m in METRIC.findall(log)
        if '"record_count"' in m and '"counter"' in m
    )
    last_state = None
    with out.open() as handle:
        for line in handle:
            if line.startswith('{"type":"STATE"'):
                last_state = json.loads(line)["value"]
    calls = CALLS.findall(log)
    return {
        "records": records,
        "seconds": float(seconds),
        "ended": ended,
        "cpu": float(cpu),
        "rss_mb": int(rss_kb) / 1024,
        "calls": "; ".join(calls) or "?",
        "state": last_state,
    }


QBO_REQUESTS_PER_MINUTE = 500
LATENCY_MS = 250
PER_RECORD_MS = 0.05
BACKFILL_LIMIT = 1.25  # times the floor
CPU_LIMIT = 20_000  # records per CPU-second
MEMORY_LIMIT = 1.5  # largest company's peak RSS over the smallest's
CPU_RUNS = 3


def company(scale: int) -> Emulator:
    print(f"Generating an emulated company of ~{scale:,} records ...", flush=True)
    started = time.monotonic()
    emu = Emulator(seed=1, scale=scale, realms=1).start()
    print(f"  generated in {time.monotonic() - started:.1f}s", flush=True)
    return emu


def verdict(ok: bool) -> str:
    return "within the limit" if ok else "NOT within the limit"


def backfill_and_cost(scale: int, workdir: Path) -> None:  # noqa: PLR0915 - a benchmark printing its figures in sequence
    emu = company(scale)
    try:
        config = emu.tap_config()
        emu.behaviour.latency_ms = LATENCY_MS
        emu.behaviour.per_record_ms = PER_RECORD_MS
        emu.behaviour.rate_limits = True
        emu.reset_counts()
        slow = run_tap(config, None, workdir)
        served_slow = emu.request_counts()
        emu.behaviour.latency_ms = 0
        emu.behaviour.per_record_ms = 0
        emu.behaviour.rate_limits = False
        # The tap's CPU time for one sync varies between runs on a shared machine (its
        # threads and the emulator compete for the cores): the median of CPU_RUNS is judged.
        fulls = []
        for _ in range(CPU_RUNS):
            emu.reset_counts()
            fulls.append(run_tap(config, None, workdir))
            served_full = emu.request_counts()
        full = sorted(fulls, key=lambda run: run["records"] / run["cpu"])[len(fulls) // 2]
        emu.reset_counts()
        quiet = run_tap(config, full["state"], workdir)
        served_quiet = emu.request_counts()
    finally:
        emu.stop()

    api_requests = sum(n for kind, n in served_slow.items() if kind != "token")
    floor = api_requests / (QBO_REQUESTS_PER_MINUTE / 60)
    ratio = slow["seconds"] / floor
    latency = f"{LATENCY_MS} ms + {PER_RECORD_MS} ms/record"
    print(f"\n1. Backfill with {latency} latency, QBO's limits on:")
    print(f"  records            {slow['records']:>12,}")
    print(f"  API requests       {api_requests:>12,}  (emulator: {json.dumps(served_slow)})")
    print(f"  floor              {floor:>12.1f} s  (requests / {QBO_REQUESTS_PER_MINUTE} a minute)")
    print(f"  wall time          {slow['seconds']:>12.1f} s  = {ratio:.2f} x floor")
    ok = verdict(ratio <= BACKFILL_LIMIT)
    print(f"  limit              {BACKFILL_LIMIT:>12.2f} x floor: {ok}")

    per_cpu = full["records"] / full["cpu"]
    each = ", ".join(f"{run['records'] / run['cpu']:,.0f}" for run in fulls)
    print(f"\n2. The same backfill with no latency, {CPU_RUNS} times:")
    print(f"  records            {full['records']:>12,}")
    print(f"  wall time          {full['seconds']:>12.1f} s")
    print(f"  records/s          {full['records'] / full['seconds']:>12,.0f}")
    print(f"  tap CPU time       {full['cpu']:>12.1f} s  (user + system, tap process only)")
    print(f"  records/CPU-second {per_cpu:>12,.0f}  (the median; each run: {each})")
    ok = verdict(per_cpu >= CPU_LIMIT)
    print(f"  limit              {CPU_LIMIT:>12,} records/CPU-second: {ok}")
    print(f"  peak memory (RSS)  {full['rss_mb']:>12.0f} MB")
    print(f"  tap's count        {full['calls']}")
    print(f"  emulator served    {json.dumps(served_full)}")
    print("  Then an incremental sync, nothing changed:")
    print(f"  records            {quiet['records']:>12,}")
    print(f"  tap's count        {quiet['calls']}")
    print(f"  emulator served    {json.dumps(served_quiet)}")


def memory(scales: list[int], workdir: Path) -> None:
    peaks = {}
    for scale in scales:
        emu = company(scale)
        try:
            peaks[scale] = run_tap(emu.tap_config(), None, workdir)
        finally:
            emu.stop()
    print("\n3. The tap's peak memory as the company grows (no latency):")
    for run in peaks.values():
        print(f"  {run['records']:>10,} records {run['rss_mb']:>8.0f} MB {run['seconds']:>8.1f} s")
    small, large = peaks[min(scales)], peaks[max(scales)]
    ratio = large["rss_mb"] / small["rss_mb"]
    print(f"  largest / smallest {ratio:>12.2f}")
    print(f"  limit              {MEMORY_LIMIT:>12.2f}: {verdict(ratio <= MEMORY_LIMIT)}")


def main() -> None:
    scale = int(os.environ.get("BENCH_SCALE", "200000"))
    memory_scales = [
        int(s) for s in os.environ.get("BENCH_MEMORY_SCALES", "10000,1000000").split(",") if s
    ]
    with tempfile.TemporaryDirectory() as tmp:
        backfill_and_cost(scale, Path(tmp))
        if memory_scales:
            memory(memory_scales, Path(tmp))


if __name__ == "__main__":
    main()
