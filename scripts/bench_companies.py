"""Many companies: one tap process with `companies` against one process per company.

`python -m scripts.bench_companies` generates BENCH_COMPANIES emulated companies (default 10)
of BENCH_COMPANY_SCALE records each (default 2,000), then syncs them all twice, with
BENCH_LATENCY_MS per request (default 250) and QBO's per-company limits on: once as one run
with a `companies` config, once as one tap process per company, one after another (what a
"one connection per company" setup does). It prints wall time, tap CPU and records for each.
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

from qbo_emulator import Emulator
from scripts.bench import run_tap


def main() -> None:
    count = int(os.environ.get("BENCH_COMPANIES", "10"))
    scale = int(os.environ.get("BENCH_COMPANY_SCALE", "2000"))
    latency = float(os.environ.get("BENCH_LATENCY_MS", "250"))
    print(f"Generating {count} emulated companies of ~{scale:,} records ...", flush=True)
    started = time.monotonic()
    emu = Emulator(seed=3, scale=scale, realms=count).start()
    print(f"  generated in {time.monotonic() - started:.1f}s", flush=True)
    emu.behaviour.latency_ms = latency
    emu.behaviour.rate_limits = True
    try:
        shared = {
            k: v for k, v in emu.tap_config().items() if k not in {"realm_id", "refresh_token"}
        }
        entries = [{"realm_id": r, "refresh_token": emu.refresh_token(r)} for r in emu.realm_ids]
        with tempfile.TemporaryDirectory() as tmp:
            work = Path(tmp)
            (work / "many").mkdir()
            many = run_tap({**shared, "companies": entries}, None, work / "many")
            singles = []
            for n, realm in enumerate(emu.realm_ids):
                (work / str(n)).mkdir()
                singles.append(run_tap(emu.tap_config(realm), None, work / str(n)))
    finally:
        emu.stop()
    one_by_one = {key: sum(run[key] for run in singles) for key in ("records", "seconds", "cpu")}
    print(f"\n{count} companies x ~{scale:,} records, {latency:.0f} ms latency, QBO's limits on:")
    print(f"  {'':26}{'one run':>14}{'a run each':>14}")
    print(f"  {'records':26}{many['records']:>14,}{one_by_one['records']:>14,}")
    print(f"  {'wall time (s)':26}{many['seconds']:>14.1f}{one_by_one['seconds']:>14.1f}")
    print(f"  {'tap CPU (s)':26}{many['cpu']:>14.1f}{one_by_one['cpu']:>14.1f}")
    rate_many = many["records"] / many["seconds"]
    rate_each = one_by_one["records"] / one_by_one["seconds"]
    print(f"  {'records/s':26}{rate_many:>14,.0f}{rate_each:>14,.0f}")
    per_record = [1e6 * r["cpu"] / max(1, r["records"]) for r in (many, one_by_one)]
    print(f"  {'tap CPU per record (us)':26}{per_record[0]:>14.1f}{per_record[1]:>14.1f}")
    peak_each = max(r["rss_mb"] for r in singles)
    print(f"  {'peak memory (MB)':26}{many['rss_mb']:>14.0f}{peak_each:>14.0f}")


if __name__ == "__main__":
    main()
