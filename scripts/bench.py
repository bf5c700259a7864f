"""`make bench`: what a sync costs, in seconds, memory and metered API calls.

Runs the tap as a process against the bundled emulator (in this process, on loopback):
1. a full backfill of a large company to /dev/null: records/s and the tap's peak memory;
2. the same company again with the state of (1) and nothing changed: the calls it costs;
3. both beside the emulator's own count of requests served.
Set BENCH_SCALE (records in the company, default 120000) to change the size.
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
CALLS = re.compile(r"API calls this run: (.*)")


def run_tap(config: dict, state: dict | None, workdir: Path) -> dict:
    """Run one sync with stdout to a file; return its figures from the OS and the tap's log."""
    (workdir / "config.json").write_text(json.dumps(config))
    command = [sys.executable, "-m", "tap_quickbooks", "--config", str(workdir / "config.json")]
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
    calls = CALLS.search(log)
    return {
        "records": records,
        "seconds": float(seconds),
        "cpu": float(cpu),
        "rss_mb": int(rss_kb) / 1024,
        "calls": calls.group(1) if calls else "?",
        "state": last_state,
    }


def main() -> None:
    scale = int(os.environ.get("BENCH_SCALE", "120000"))
    print(f"Generating an emulated company of ~{scale:,} records ...", flush=True)
    started = time.monotonic()
    with Emulator(seed=1, scale=scale, realms=1) as emu, tempfile.TemporaryDirectory() as tmp:
        print(f"  generated in {time.monotonic() - started:.1f}s\n", flush=True)
        config = emu.tap_config()
        emu.reset_counts()
        full = run_tap(config, None, Path(tmp))
        served_full = emu.request_counts()
        emu.reset_counts()
        quiet = run_tap(config, full["state"], Path(tmp))
        served_quiet = emu.request_counts()

    print("Full backfill (all streams, no latency):")
    print(f"  records            {full['records']:>12,}")
    print(f"  wall time          {full['seconds']:>12.1f} s")
    print(f"  records/s          {full['records'] / full['seconds']:>12,.0f}")
    print(f"  records/CPU-second {full['records'] / full['cpu']:>12,.0f}  (tap process only)")
    print(f"  peak memory (RSS)  {full['rss_mb']:>12.0f} MB")
    print(f"  tap's count        {full['calls']}")
    print(f"  emulator served    {json.dumps(served_full)}")
    print("\nIncremental sync, nothing changed:")
    print(f"  records            {quiet['records']:>12,}")
    print(f"  tap's count        {quiet['calls']}")
    print(f"  emulator served    {json.dumps(served_quiet)}")


if __name__ == "__main__":
    main()
