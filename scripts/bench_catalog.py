"""`make bench` (part): what the catalog costs Meltano on every `meltano run`.

Before a sync Meltano runs the tap's discovery (every run for an editable install, as in this
repository's meltano.yml; once per settings change for a pip-installed tap), then walks the
catalog applying `select` and `metadata` rules, and writes its own copy, indented, to
.meltano/run/tap-quickbooks/tap.properties.json. Prints, beside the limits of issue 18 (1 MB,
2 s):

1. the tap's catalog (`tap-quickbooks --discover`): bytes, metadata entries, seconds;
2. Meltano's copy (`meltano invoke --dump=catalog tap-quickbooks`, with this project's
   select): bytes and metadata entries;
3. the seconds of catalog work in a run: the discovery process (whole: in a run it is a
   process of its own, besides the sync) plus Meltano's rule pass (its own code, in its
   environment, timed on the discovered catalog), wall and CPU, the median of
   BENCH_CATALOG_RUNS (default 3). The CPU figure is judged: on a shared machine the wall
   time is mostly waiting for a core. As a cross-check, the dump's time less that of a
   Meltano command without catalog work (`meltano invoke tap-quickbooks --about`, which also
   starts the tap, so the tap's start-up is not in the difference).

Runs against the bundled emulator, offline, with a Meltano system database of its own.
"""

from __future__ import annotations

import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

from qbo_emulator import Emulator
from scripts import demo

ROOT = demo.ROOT
SIZE_LIMIT = 1_000_000
SECONDS_LIMIT = 2.0
TAP = Path(sys.executable).parent / "tap-quickbooks"

# Meltano's own rule pass, as SingerTap.apply_catalog_rules runs it, in Meltano's environment.
MELTANO_RULES = """
import json, logging, sys, time
import structlog
structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
from meltano.core.plugin.singer.catalog import MetadataExecutor, select_metadata_rules
from meltano.core.setting_definition import json_dumps
path, select = sys.argv[1], json.loads(sys.argv[2])
wall, cpu = time.perf_counter(), time.process_time()
with open(path) as f:
    catalog = json.load(f)
rules = select_metadata_rules(["!*.*"]) + select_metadata_rules(select)
MetadataExecutor(rules).visit(catalog)
text = json_dumps(catalog, indent=2)
print(json.dumps({"seconds": time.perf_counter() - wall, "cpu": time.process_time() - cpu}))
"""


def verdict(ok: bool) -> str:
    return "within the limit" if ok else "NOT within the limit"


def metadata_entries(text: str) -> int:
    return sum(len(s.get("metadata", [])) for s in json.loads(text)["streams"])


def cpu_of_children() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def timed(command: list[str], env: dict | None = None) -> tuple[float, float, str]:
    """Wall and CPU seconds of a command (the CPU of all its processes), and its output."""
    started, cpu = time.perf_counter(), cpu_of_children()
    done = subprocess.run(
        command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=900, check=False
    )
    if done.returncode != 0:
        sys.exit(f"{' '.join(command[:4])} ... failed:\n{done.stderr[-3000:]}")
    return time.perf_counter() - started, cpu_of_children() - cpu, done.stdout


def project_select() -> list[str]:
    """The tap's `select` as meltano.yml declares it."""
    project = yaml.safe_load((ROOT / "meltano.yml").read_text())
    tap = next(p for p in project["plugins"]["extractors"] if p["name"] == "tap-quickbooks")
    return tap.get("select", ["*.*"])


def median(runs: list[tuple[float, float, str]]) -> tuple[float, float]:
    """Median wall and median CPU seconds of runs of one command."""
    return statistics.median(r[0] for r in runs), statistics.median(r[1] for r in runs)


def main() -> None:
    runs = int(os.environ.get("BENCH_CATALOG_RUNS", "3"))
    demo.ensure_meltano()
    emu = Emulator(seed=42, scale=500).start()
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        try:
            config = workdir / "config.json"
            config.write_text(json.dumps(emu.tap_config()))
            env = {**os.environ, "MELTANO_SEND_ANONYMOUS_USAGE_STATS": "false"}
            env.pop("VIRTUAL_ENV", None)
            env["MELTANO_DATABASE_URI"] = f"sqlite:///{workdir / 'meltano.db'}"
            env.update({f"TAP_QUICKBOOKS_{k.upper()}": str(v) for k, v in emu.tap_config().items()})
            meltano = [str(demo.MELTANO), "--log-level=warning"]
            timed([*meltano, "install", "extractor", "tap-quickbooks"], env)
            demo.compile_plugins()

            command = [str(TAP), "--config", str(config), "--discover"]
            discover = [timed(command) for _ in range(runs)]
            about = [timed([str(TAP), "--about"]) for _ in range(runs)]
            tap_text = discover[0][2]
            (workdir / "catalog.json").write_text(tap_text)
            dumps = [
                timed([*meltano, "invoke", "--dump=catalog", "tap-quickbooks"], env)
                for _ in range(runs)
            ]
            no_catalog = [
                timed([*meltano, "invoke", "tap-quickbooks", "--about"], env) for _ in range(runs)
            ]
            meltano_text = dumps[0][2]
            select = project_select()
            python = str(demo.MELTANO_VENV / "bin" / "python")
            script = [
                python,
                "-c",
                MELTANO_RULES,
                str(workdir / "catalog.json"),
                json.dumps(select),
            ]
            passes = [json.loads(timed(script)[2]) for _ in range(runs)]
        finally:
            emu.stop()
    print_figures(
        runs,
        tap_text,
        meltano_text=meltano_text,
        discover=discover,
        about=about,
        dumps=dumps,
        no_catalog=no_catalog,
        passes=passes,
    )


def print_figures(runs, tap_text, *, meltano_text, discover, about, dumps, no_catalog, passes):
    tap_bytes, meltano_bytes = len(tap_text.encode()), len(meltano_text.encode())
    (discover_s, discover_cpu), (about_s, about_cpu) = median(discover), median(about)
    (dump_s, dump_cpu), (bare_s, bare_cpu) = median(dumps), median(no_catalog)
    rule_s = statistics.median(p["seconds"] for p in passes)
    rule_cpu = statistics.median(p["cpu"] for p in passes)
    work_s, work_cpu = discover_s + rule_s, discover_cpu + rule_cpu
    entries = metadata_entries(tap_text)
    print(f"\nThe catalog and Meltano (median of {runs} runs each; CPU-s: all processes):")
    print(f"  tap's catalog      {tap_bytes:>12,} bytes, {entries:,} metadata entries")
    print(f"  tap --discover     {discover_s:>12.2f} s  {discover_cpu:.2f} CPU-s")
    print(f"  tap --about        {about_s:>12.2f} s  {about_cpu:.2f} CPU-s (start-up alone)")
    entries = metadata_entries(meltano_text)
    print(f"  Meltano's copy     {meltano_bytes:>12,} bytes, {entries:,} metadata entries")
    print(f"  limit              {SIZE_LIMIT:>12,} bytes: {verdict(meltano_bytes <= SIZE_LIMIT)}")
    print(f"  Meltano's rules    {rule_s:>12.2f} s  {rule_cpu:.2f} CPU-s  read, apply, write")
    print(f"  catalog work/run   {work_s:>12.2f} s  {work_cpu:.2f} CPU-s  (discovery + rules)")
    # The CPU figure is judged: on a shared machine wall time is mostly waiting for a core.
    print(f"  limit              {SECONDS_LIMIT:>12.2f} s: {verdict(work_cpu <= SECONDS_LIMIT)}")
    print(f"  meltano invoke     {dump_s:>12.2f} s  {dump_cpu:.2f} CPU-s  --dump=catalog")
    print(f"  meltano invoke     {bare_s:>12.2f} s  {bare_cpu:.2f} CPU-s  tap-quickbooks --about")
    diff_s, diff_cpu = dump_s - bare_s, dump_cpu - bare_cpu
    print(f"  the difference     {diff_s:>12.2f} s  {diff_cpu:.2f} CPU-s  (no tap start-up in it)")


if __name__ == "__main__":
    main()
