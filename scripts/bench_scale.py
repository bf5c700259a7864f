"""Issue 20's figures: many companies, each printed beside its goal.

`python -m scripts.bench_scale` runs, against the bundled emulator (in this process):

(c) Start-up: `tap-quickbooks --about`, `--discover`, and a quiet sync of one small company
    (nothing changed since its last run), the median of BENCH_STARTUP_RUNS (default 5) of
    each, wall and CPU; then the cost of each extra company in one process: a quiet sync of
    BENCH_STARTUP_EXTRA (default 10) companies less that of one, per extra company; both
    syncs again with the discovered catalog handed back (``--catalog``, as Meltano and the
    orchestrator run the tap).
    Goal: <= 0.3 s per process.
(a) A quiet incremental sync of BENCH_QUIET_COMPANIES (default 1,000) small companies, with
    BENCH_LATENCY_MS (default 250) per request and QBO's limits on, through the orchestrator:
    in-process Dagster runs of its BENCH_SHARDS (default 20, QBO_ORCH_SHARDS's default) shard
    partitions, BENCH_PROCS (default 2) at once, each one tap process over its companies into
    the default loader. Their states come from a first sync (no latency, not timed).
    Goal: <= 5 minutes wall, 2 API requests a company (the tap meters each batch item as one
    call, as Intuit does: about 10+ metered calls a quiet company).
(b) A backfill of BENCH_BACKFILL_COMPANIES (default 20) companies x BENCH_BACKFILL_SCALE
    (default 20,000) records, same latency and limits: in BENCH_BACKFILL_PROCS (default 2)
    tap processes at once, each over its share of the companies, as the orchestrator's shards
    run (a process writes on one core: its main thread writes every record); in one process;
    and one of those companies alone. Goals: >= 25,000 records/s aggregate; tap CPU per
    record no worse than the single-company run.

BENCH_PARTS (default "c,a,b") picks which run.
"""

from __future__ import annotations

import concurrent.futures
import datetime as dt
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import dagster as dg

from qbo_emulator import Emulator
from quickbooks_orchestrator import definitions as D
from quickbooks_orchestrator.shards import occupied
from quickbooks_orchestrator.store import Store, month_of
from scripts.bench import run_tap

STARTUP_GOAL = 0.3  # s per process
QUIET_GOAL = 300.0  # s for the quiet sync of every company
QUIET_CALLS = 2  # API requests a quiet company costs (1 CDC + 1 batch)
RATE_GOAL = 25_000  # records/s aggregate
SMALL = 20  # records scale of a "small" company (a few hundred records)


def knob(name: str, default: int) -> int:
    return int(os.environ.get(name, str(default)))


def verdict(ok: bool) -> str:
    return "goal met" if ok else "goal NOT met"


def emulator(realms: int, scale: int) -> Emulator:
    print(f"Generating {realms:,} emulated companies of ~{scale:,} records ...", flush=True)
    started = time.monotonic()
    # The real clock, as the tap's: with the emulator's pinned apart from it, a company synced
    # a minute ago looks months unsynced to the tap, which then reads it by queries, not CDC.
    # (Data is generated relative to the clock: every run is the same companies, shifted.)
    emu = Emulator(seed=3, scale=scale, realms=realms).start()
    print(f"  generated in {time.monotonic() - started:.1f}s", flush=True)
    return emu


def many_config(emu: Emulator, realms: list[str]) -> dict:
    shared = {k: v for k, v in emu.tap_config().items() if k not in {"realm_id", "refresh_token"}}
    return {
        **shared,
        "companies": [{"realm_id": r, "refresh_token": emu.refresh_token(r)} for r in realms],
    }


def timed(command: list[str], runs: int) -> tuple[float, float]:
    """Median wall and CPU seconds (user + system, the child alone) of a command."""
    walls, cpus = [], []
    for _ in range(runs):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        started = time.monotonic()
        subprocess.run(command, check=True, capture_output=True)
        walls.append(time.monotonic() - started)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpus.append(after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime)
    return statistics.median(walls), statistics.median(cpus)


def quiet_runs(
    config: dict, state: dict, workdir: Path, runs: int, catalog: dict | None = None
) -> tuple[float, float]:
    results = [run_tap(config, state, workdir, catalog) for _ in range(runs)]
    return statistics.median(r["seconds"] for r in results), statistics.median(
        r["cpu"] for r in results
    )


def startup(workdir: Path) -> None:
    runs, extra = knob("BENCH_STARTUP_RUNS", 5), knob("BENCH_STARTUP_EXTRA", 10)
    emu = emulator(extra, SMALL)
    try:
        tap = [sys.executable, "-m", "tap_quickbooks"]
        # What no tap on the SDK can start below: the interpreter, and the SDK's own import.
        floor = timed([sys.executable, "-c", "import singer_sdk"], runs)
        about = timed([*tap, "--about"], runs)
        (workdir / "config.json").write_text(json.dumps(emu.tap_config()))
        discover = timed([*tap, "--config", str(workdir / "config.json"), "--discover"], runs)
        one_config = many_config(emu, emu.realm_ids[:1])
        one_state = run_tap(one_config, None, workdir)["state"]
        one = quiet_runs(one_config, one_state, workdir, runs)
        all_config = many_config(emu, emu.realm_ids)
        all_state = run_tap(all_config, None, workdir)["state"]
        every = quiet_runs(all_config, all_state, workdir, runs)
        # As Meltano and the orchestrator run it: with the discovered catalog handed back.
        catalog = json.loads(
            subprocess.run(
                [*tap, "--config", str(workdir / "config.json"), "--discover"],
                check=True,
                capture_output=True,
            ).stdout
        )
        one_cat = quiet_runs(one_config, one_state, workdir, runs, catalog)
        every_cat = quiet_runs(all_config, all_state, workdir, runs, catalog)
    finally:
        emu.stop()
    print(f"\n(c) Start-up cost, the median of {runs} runs (no latency):")
    print(f"  {'':34}{'wall (s)':>10}{'CPU (s)':>10}")
    for name, (wall, cpu) in (
        ("tap-quickbooks --about", about),
        ("tap-quickbooks --discover", discover),
        ("quiet sync, 1 company", one),
        (f"quiet sync, {extra} companies", every),
        ("each extra company", per_extra(one, every, extra)),
        ("quiet sync, 1 company, --catalog", one_cat),
        (f"quiet sync, {extra} companies, --catalog", every_cat),
        ("each extra company, --catalog", per_extra(one_cat, every_cat, extra)),
        ("for reference: import singer_sdk", floor),
    ):
        print(f"  {name:34}{wall:>10.2f}{cpu:>10.2f}")
    ok = verdict(max(about[0], discover[0]) <= STARTUP_GOAL)
    print(f"  goal: <= {STARTUP_GOAL} s per process (--about, --discover wall): {ok}")


def per_extra(one: tuple[float, float], every: tuple[float, float], extra: int) -> tuple:
    """(wall, CPU) of each company beyond the first in one process."""
    return tuple((e - o) / max(1, extra - 1) for e, o in zip(every, one, strict=True))


def orchestrated(emu: Emulator, workdir: Path, shards: int, procs: int) -> dict:
    """Every shard's run of the orchestrator (in-process Dagster, `procs` runs at once), each
    a real tap process over its companies; wall, tap CPU and the runs' results."""
    project = orchestrator(emu, workdir, shards)
    keys = sorted(occupied(emu.realm_ids, shards))

    def one(key: str) -> bool:
        # An instance of each run's own (in memory), closed on its thread: runs on threads
        # share none of its state.
        with dg.DagsterInstance.ephemeral() as instance:
            D.sync_partitions(instance, project.settings())
            result = dg.materialize(
                [D.quickbooks_shard],
                partition_key=key,
                instance=instance,
                resources={"orchestrator": project},
                raise_on_error=False,
            )
            return result.success

    before = resource_usage()
    started = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(procs) as pool:
        ok = list(pool.map(one, keys))
    return {"seconds": time.monotonic() - started, "cpu": resource_usage() - before, "ok": ok}


def orchestrator(emu: Emulator, workdir: Path, shards: int) -> D.QuickBooksOrchestrator:
    home = workdir / "orchestrator"
    app = {k: v for k, v in emu.tap_config().items() if k not in ("realm_id", "refresh_token")}
    if not home.exists():
        home.mkdir()
        (home / "app.json").write_text(json.dumps(app))
    resource = D.QuickBooksOrchestrator(
        home=str(home), app_config=str(home / "app.json"), shards=shards
    )
    store = resource.settings().store
    if not store.companies():
        for realm in emu.realm_ids:
            store.add_company(realm, emu.refresh_token(realm))
    return resource


def resource_usage() -> float:
    """CPU seconds of this process's finished children (the taps and loaders)."""
    used = resource.getrusage(resource.RUSAGE_CHILDREN)
    return used.ru_utime + used.ru_stime


def quiet_many(workdir: Path) -> None:
    count, shards = knob("BENCH_QUIET_COMPANIES", 1000), knob("BENCH_SHARDS", 20)
    procs, latency = knob("BENCH_PROCS", 2), knob("BENCH_LATENCY_MS", 250)
    emu = emulator(count, SMALL)
    try:
        print(f"  first sync of {shards} shards (no latency, not timed) ...", flush=True)
        first = orchestrated(emu, workdir, shards, procs)
        print(f"  done in {first['seconds']:.1f}s", flush=True)
        emu.behaviour.latency_ms = latency
        emu.behaviour.rate_limits = True
        emu.reset_counts()
        store = Store(workdir / "orchestrator" / "orchestrator.sqlite")
        month = month_of(dt.datetime.now(dt.UTC))
        before = store.usage_by_company(month)
        quiet = orchestrated(emu, workdir, shards, procs)
        served = emu.request_counts()
    finally:
        emu.stop()
    after = store.usage_by_company(month)
    calls = [after[r] - before.get(r, 0) for r in after if after[r] - before.get(r, 0) > 0]
    wall, cpu = quiet["seconds"], quiet["cpu"]
    print(
        f"\n(a) Quiet incremental sync, {count:,} companies, {latency} ms latency, QBO's limits on,"
    )
    print(f"    through the orchestrator (in-process Dagster): {shards} shards of about")
    print(f"    {count / shards:.0f} companies, one tap process a shard, {procs} runs at once:")
    print(f"  wall time          {wall:>10.1f} s")
    print(f"  tap+loader CPU     {cpu:>10.1f} s  ({cpu / count:.2f} s a company)")
    print(f"  shard runs ok      {sum(quiet['ok']):>10,}  (of {len(quiet['ok'])})")
    print(f"  companies counted  {len(calls):>10,}  (of {count:,})")
    if calls:
        # The tap counts each batch item as Intuit meters it; the emulator counts requests.
        print(f"  metered (tap)      {sum(calls):>10,}  ({min(calls)}..{max(calls)} a company)")
    requests = sum(n for kind, n in served.items() if kind != "token") / count
    print(f"  API requests       {requests:>10.1f}  a company (emulator: {json.dumps(served)})")
    ok = wall <= QUIET_GOAL and len(calls) == count and requests <= QUIET_CALLS
    ok = ok and all(quiet["ok"])
    print(f"  goal: <= {QUIET_GOAL:.0f} s, {QUIET_CALLS} requests a company: {verdict(ok)}")
    if count < 1000:
        print(f"  at this rate, 1,000 companies: {wall * 1000 / count:.0f} s (linear)")


def backfill(workdir: Path) -> None:
    count, scale = knob("BENCH_BACKFILL_COMPANIES", 20), knob("BENCH_BACKFILL_SCALE", 20000)
    latency, procs = knob("BENCH_LATENCY_MS", 250), knob("BENCH_BACKFILL_PROCS", 2)
    emu = emulator(count, scale)
    try:
        emu.behaviour.latency_ms = latency
        emu.behaviour.rate_limits = True
        runs = {f"{procs} processes": sharded(emu, procs, workdir / "sharded")}
        (workdir / "many").mkdir(exist_ok=True)
        runs["1 process"] = run_tap(many_config(emu, emu.realm_ids), None, workdir / "many")
        # The same company again, alone and from scratch (a fresh run: no state, no token file).
        (workdir / "one").mkdir(exist_ok=True)
        runs["one company"] = run_tap(emu.tap_config(emu.realm_ids[0]), None, workdir / "one")
    finally:
        emu.stop()
    print(
        f"\n(b) Backfill, {count} companies x ~{scale:,} records, {latency} ms latency, limits on:"
    )
    print(f"  {'':26}" + "".join(f"{name:>15}" for name in runs))

    def row(label: str, values: list, form: str) -> None:
        print(f"  {label:26}" + "".join(f"{v:>15{form}}" for v in values))

    figures = list(runs.values())
    row("records", [r["records"] for r in figures], ",")
    row("wall time (s)", [r["seconds"] for r in figures], ".1f")
    row("tap CPU (s)", [r["cpu"] for r in figures], ".1f")
    rates = [r["records"] / r["seconds"] for r in figures]
    row("records/s", rates, ",.0f")
    per = [1e6 * r["cpu"] / max(1, r["records"]) for r in figures]
    row("tap CPU per record (us)", per, ".1f")
    row("peak memory (MB)", [r["rss_mb"] for r in figures], ".0f")
    print(
        f"  goal: >= {RATE_GOAL:,} records/s ({procs} processes): {verdict(rates[0] >= RATE_GOAL)}"
    )
    print(f"  in one process: {verdict(rates[1] >= RATE_GOAL)}")
    print(f"  goal: CPU per record <= the single company's: {verdict(max(per[:2]) <= per[2])}")


def sharded(emu: Emulator, procs: int, workdir: Path) -> dict:
    """The companies in ``procs`` tap processes at once, each over its share: their
    figures added up (wall time from the first start to the last tap's end, not counting
    the reading back of their output; peak memory the largest process's)."""
    shares = [emu.realm_ids[n::procs] for n in range(procs)]
    folders = [workdir / f"shard-{n}" for n in range(procs)]
    for folder in folders:
        folder.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(procs) as pool:
        figures = list(
            pool.map(
                lambda share, folder: run_tap(many_config(emu, share), None, folder),
                shares,
                folders,
            )
        )
    return {
        "records": sum(f["records"] for f in figures),
        "seconds": max(f["ended"] for f in figures) - started,
        "cpu": sum(f["cpu"] for f in figures),
        "rss_mb": max(f["rss_mb"] for f in figures),
    }


def main() -> None:
    parts = {p.strip() for p in os.environ.get("BENCH_PARTS", "c,a,b").split(",")}
    with tempfile.TemporaryDirectory() as tmp:
        for part, run in (("c", startup), ("a", quiet_many), ("b", backfill)):
            if part in parts:
                (Path(tmp) / part).mkdir()
                run(Path(tmp) / part)


if __name__ == "__main__":
    main()
