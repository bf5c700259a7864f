"""`make demo`: the real pipeline, `meltano run tap-quickbooks target-duckdb`, against the emulator.

Meltano lives in its own virtual environment (.venv-meltano): its SQLAlchemy pin conflicts with
the SDK's. The emulator runs as a separate process, as Intuit's API would be.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from tap_quickbooks.catalogue import ENTITIES
from tap_quickbooks.schemas import entity_schema

ROOT = Path(__file__).resolve().parent.parent
OUTPUT = ROOT / "output" / "demo"
MELTANO_VENV = ROOT / ".venv-meltano"
MELTANO = MELTANO_VENV / "bin" / "meltano"
LOADERS = ROOT / ".meltano" / "loaders"  # each loader's venv, as `meltano install` made it
# Written into each environment's marker: one installed before bytecode was compiled is redone.
COMPILED = "# installed with --compile-bytecode\n"
DUCKDB_PYTHON = LOADERS / "target-duckdb" / "venv" / "bin" / "python"
WAREHOUSE = ROOT / "output" / "warehouse.duckdb"


def uv() -> list[str]:
    """The uv that runs us (`uv run` names itself in $UV), else one on PATH or in .venv-uv."""
    found = os.environ.get("UV") or shutil.which("uv")
    if not found and (ROOT / ".venv-uv" / "bin" / "uv").exists():
        found = str(ROOT / ".venv-uv" / "bin" / "uv")
    return [found] if found else [sys.executable, "-m", "uv"]


def ensure_venv(venv: Path, lock: Path, command: str) -> Path:
    """A tool in an environment of its own, installed from a committed lock file; `command`
    from its bin dir. Kept apart because its pins conflict with the SDK's."""
    marker = venv / ".installed-from"
    executable = venv / "bin" / command
    wanted = lock.read_text() + COMPILED
    if executable.exists() and marker.exists() and marker.read_text() == wanted:
        return executable
    print(f"Installing {command} into {venv.name} (its own environment) ...", flush=True)
    subprocess.run([*uv(), "venv", "--quiet", "--allow-existing", str(venv)], check=True)
    python = str(venv / "bin" / "python")
    install = [*uv(), "pip", "install", "--quiet", "--compile-bytecode", "--python", python]
    subprocess.run([*install, "-r", str(lock)], check=True)
    marker.write_text(wanted)
    return executable


def compile_plugins() -> None:
    """Bytecode for the environments `meltano install` made: where PYTHONDONTWRITEBYTECODE is
    set nothing caches it, and every plugin start would compile its imports again (seconds)."""
    for venv in sorted(ROOT.glob(".meltano/*/*/venv")):
        subprocess.run(
            [str(venv / "bin" / "python"), "-m", "compileall", "-q", "-j", "0", str(venv / "lib")],
            stdout=subprocess.DEVNULL,
            check=False,  # a file that does not compile costs only its own time
        )


def ensure_meltano() -> None:
    ensure_venv(MELTANO_VENV, ROOT / "requirements" / "meltano.txt", "meltano")


def start_emulator(config_path: Path) -> subprocess.Popen:
    config_path.unlink(missing_ok=True)
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "qbo_emulator.cli",
            "--port",
            "0",
            "--seed",
            "42",
            "--scale",
            os.environ.get("DEMO_SCALE", "5000"),
            "--write-config",
            str(config_path),
        ],
        stdout=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 120
    while not config_path.exists() or not config_path.read_text().strip():
        if process.poll() is not None or time.monotonic() > deadline:
            sys.exit("The emulator did not start.")
        time.sleep(0.2)
    time.sleep(0.2)
    return process


def meltano(*args: str, env: dict) -> None:
    subprocess.run([str(MELTANO), *args], cwd=ROOT, env=env, check=True)


def table_counts() -> dict[str, int]:
    script = (
        "import duckdb, json, sys\n"
        f"con = duckdb.connect({str(WAREHOUSE)!r}, read_only=True)\n"
        'rows = con.sql("select table_name from information_schema.tables '
        "where table_schema = 'quickbooks'\").fetchall()\n"
        "print(json.dumps({t: con.sql(f'select count(*) from quickbooks.\"{t}\"').fetchone()[0]"
        " for (t,) in rows}))\n"
    )
    out = subprocess.run(
        [str(DUCKDB_PYTHON), "-c", script], capture_output=True, text=True, check=True
    )
    return json.loads(out.stdout)


def declared_types() -> dict[str, dict[str, str]]:
    """Per stream, the top-level columns the tap declares as decimal numbers or dates."""
    out: dict[str, dict[str, str]] = {}
    for entity in ENTITIES:
        for name, prop in entity_schema(entity.name)["properties"].items():
            types = prop.get("type", [])
            if "number" in types:
                out.setdefault(entity.stream, {})[name] = "decimal"
            elif prop.get("format") == "date" and "string" in types:
                out.setdefault(entity.stream, {})[name] = "date"
    return out


def type_columns(warehouse: Path, schema: str) -> None:
    """target-duckdb makes money DOUBLE and dates VARCHAR: give them their declared types."""
    script = ROOT / "scripts" / "duckdb_types.py"
    columns = json.dumps(declared_types())
    subprocess.run([str(DUCKDB_PYTHON), str(script), str(warehouse), schema, columns], check=True)


def column_types(table: str, columns: list[str]) -> dict[str, str]:
    script = (
        "import duckdb, json\n"
        f"con = duckdb.connect({str(WAREHOUSE)!r}, read_only=True)\n"
        'print(json.dumps(dict(con.sql("select column_name, data_type from '
        f"information_schema.columns where table_schema = 'quickbooks' and table_name = '{table}'"
        f' and column_name in {tuple(columns)!r}").fetchall())))\n'
    )
    out = subprocess.run(
        [str(DUCKDB_PYTHON), "-c", script], capture_output=True, text=True, check=True
    )
    return json.loads(out.stdout)


def truth_counts(base_url: str, realm: str) -> dict[str, int]:
    """How many rows of each entity the emulated company holds (inactive ones included)."""
    counts = {}
    for entity in ENTITIES:
        url = f"{base_url}/_emulator/ground_truth/{realm}/{entity.name}"
        with urllib.request.urlopen(url) as answer:  # noqa: S310 - loopback emulator
            counts[entity.name] = len(json.load(answer))
    return counts


def main() -> None:
    OUTPUT.mkdir(parents=True, exist_ok=True)
    ensure_meltano()
    config_path = OUTPUT / "emulator-config.json"
    emulator = start_emulator(config_path)
    try:
        config = json.loads(config_path.read_text())
        env = {**os.environ, "MELTANO_SEND_ANONYMOUS_USAGE_STATS": "false"}
        env.update({f"TAP_QUICKBOOKS_{k.upper()}": str(v) for k, v in config.items()})
        env.pop("VIRTUAL_ENV", None)
        # The demo's own selection (every stream, reports too), whatever `meltano select` has
        # added to meltano.yml: the environment variable replaces the project's `select`.
        env["TAP_QUICKBOOKS__SELECT"] = json.dumps(["*.*"])
        print(f"Emulated QuickBooks company at {config['api_url']} (realm {config['realm_id']})")
        print("meltano install ...", flush=True)
        meltano("--log-level=warning", "install", env=env)
        compile_plugins()
        WAREHOUSE.unlink(missing_ok=True)
        print("meltano run tap-quickbooks target-duckdb ...", flush=True)
        started = time.monotonic()
        meltano(
            "--log-level=warning",
            "run",
            "--full-refresh",
            "tap-quickbooks",
            "target-duckdb",
            env=env,
        )
        took = time.monotonic() - started
        type_columns(WAREHOUSE, "quickbooks")
        loaded = table_counts()
        typed = column_types("invoices", ["totalamt", "txndate"])
        expected = truth_counts(config["api_url"], config["realm_id"])
    finally:
        emulator.terminate()
        emulator.wait(timeout=30)
    print(f"\nLoaded into {WAREHOUSE.relative_to(ROOT)} in {took:.1f}s:\n")
    print(f"{'table':<28}{'rows in DuckDB':>16}{'in QuickBooks':>16}")
    mismatches = 0
    for entity in ENTITIES:
        got, want = loaded.get(entity.stream, 0), expected.get(entity.name, 0)
        mismatches += got != want
        flag = "" if got == want else "   <-- differs"
        print(f"{entity.stream:<28}{got:>16,}{want:>16,}{flag}")
    total_got = sum(loaded.get(e.stream, 0) for e in ENTITIES)
    total_want = sum(expected.get(e.name, 0) for e in ENTITIES)
    print(f"{'total':<28}{total_got:>16,}{total_want:>16,}")
    reports = {name: rows for name, rows in loaded.items() if name.endswith("_report")}
    if reports:
        print("\nReport streams (one row per report line, period and basis):")
        for name, rows in sorted(reports.items()):
            print(f"{name:<34}{rows:>10,}")
    if mismatches:
        sys.exit(f"{mismatches} tables differ from the emulator's ground truth.")
    money, date = typed.get("totalamt"), typed.get("txndate")
    print(f"\ninvoices.totalamt is {money}, invoices.txndate is {date}.")
    if not str(money).startswith("DECIMAL") or date != "DATE":
        sys.exit("Money or dates did not land with their declared types.")
    print(
        "\nEvery table matches QuickBooks' row count. Query it: `make query` (revenue by "
        'month), or make query SQL="select count(*) from quickbooks.invoices"'
    )


if __name__ == "__main__":
    main()
