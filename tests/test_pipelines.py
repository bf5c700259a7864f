"""The whole path users run, with real parts: Meltano, PostgreSQL, DuckDB, target-jsonl.

Each pipeline loads an emulated company, then the company changes (invoices edited, a customer
deactivated, an invoice created, one deleted) and the pipeline runs again with the state the
first run left: in Meltano's system database under `meltano run`, handed back by hand for
the plain pipe. The tests check every loaded table against the emulator's ground truth after
each run, and that the second run brought the changes and nothing else.
"""

from __future__ import annotations

import json
import shlex
import subprocess
import sys
import time
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

import pytest

from qbo_emulator import Emulator
from qbo_emulator.profiles import PROFILES
from scripts import demo
from tap_quickbooks.catalogue import BY_STREAM
from tests import pipelines as P
from tests.singer import parse_messages, run_tap, strip_tap_fields
from tests.test_schemas import validate
from tests.test_tap_sync import select, truth

pytestmark = pytest.mark.slow

CHANGED_STREAMS = ["invoices", "customers", "payments", "items", "accounts"]
SCHEMA = "quickbooks"
TAP = Path(sys.executable).parent / "tap-quickbooks"


# ----- the emulated company, and what changes in it -------------------------------------------


def start_company(seed: int, scale: int) -> Emulator:
    """A company whose history lies further back than the tap's CDC safety margin (5
    minutes before the last run's start), so a second run brings exactly what changed."""
    # Generated 10 minutes back, then caught up with this machine's clock (the tap refuses
    # answers from a QBO clock ahead of its own).
    emu = Emulator(seed=seed, scale=scale, now=time.time() - 600).start()
    emu.clock.advance(seconds=600)
    return emu


def snapshot(emu: Emulator, streams: list[str]) -> dict[str, dict[tuple, dict]]:
    """The ground truth of each stream by (realm_id, *key), as the tap must emit it."""
    realm = emu.realm_ids[0]
    return {
        s: {P.truth_key(s, r, realm): r for r in truth(emu, realm, s).values()} for s in streams
    }


def change_company(emu: Emulator) -> dict[str, str]:
    """A day in QuickBooks: three invoices edited, a customer deactivated (its jobs with it),
    an invoice created and another deleted."""
    realm = emu.realm_ids[0]
    store = emu.store(realm)
    emu.clock.advance(seconds=5)
    invoices = emu.ground_truth(realm, "Invoice")
    for invoice in invoices[:3]:
        store.update("Invoice", invoice["Id"], {"PrivateNote": "changed by the pipeline test"})
    customer = next(c for c in emu.ground_truth(realm, "Customer") if c.get("Active"))
    store.deactivate("Customer", customer["Id"])
    template = {k: v for k, v in invoices[5].items() if k not in ("Id", "SyncToken", "MetaData")}
    created = store.create("Invoice", {**template, "DocNumber": "PIPE-1", "TotalAmt": 1234.56})
    deleted = invoices[4]["Id"]
    store.delete("Invoice", deleted)
    return {"customer": customer["Id"], "created": created["Id"], "deleted": deleted}


@dataclass
class Pipeline:
    """Two runs of a pipeline around a change in the company, and what each left behind."""

    realm: str
    streams: list[str]
    before: dict[str, dict[tuple, dict]]  # ground truth at the first run
    after: dict[str, dict[tuple, dict]]  # ground truth at the second run
    change: dict[str, str]
    first: dict[str, list[dict]] = field(default_factory=dict)  # tables after run 1
    second: dict[str, list[dict]] = field(default_factory=dict)  # tables after run 2
    state: dict = field(default_factory=dict)  # the state the first run left
    next_state: dict = field(default_factory=dict)  # the state the second run left

    @property
    def changed(self) -> dict[str, set[tuple]]:
        """Keys whose row is new, different or gone since the first run."""
        return {
            s: {
                k
                for k in self.before[s].keys() | self.after[s].keys()
                if self.before[s].get(k) != self.after[s].get(k)
            }
            for s in self.streams
        }

    def key(self, stream: str, row_id: str) -> tuple:
        return (self.realm, row_id)


# ----- comparing loaded tables with the ground truth -------------------------------------------


def live_rows(rows: list[dict]) -> list[dict]:
    """Rows that stand for a record (a target without hard delete flags deleted ones)."""
    return [r for r in rows if not P.column(r, "_sdc_deleted_at")]


def mismatches(
    tables: dict[str, list[dict]],
    expected: dict[str, dict[tuple, dict]],
    *,
    empty_string_is_null: bool = False,
) -> list:
    """Per table: exact row count, equal key sets, and every row's declared values (money as
    Decimal to the cent, nested objects such as CustomerRef, Line and MetaData as QBO's JSON).
    `empty_string_is_null` for a target that loads "" as NULL."""
    problems: list = []
    for stream, want in expected.items():
        if stream not in tables:
            problems.append((stream, "no such table"))
            continue
        rows = live_rows(tables[stream])
        got = {P.loaded_key(stream, r): r for r in rows}
        if len(rows) != len(want):
            problems.append((stream, "rows", len(rows), "expected", len(want)))
        if set(got) != set(want):
            problems.append((stream, "missing", sorted(set(want) - set(got))[:5]))
            problems.append((stream, "unexpected", sorted(set(got) - set(want))[:5]))
        for key in sorted(set(got) & set(want)):
            found = P.differences(stream, got[key], want[key], empty_string_is_null)
            if found:
                problems.append((stream, key, found[:3]))
    return problems[:30]


def sample_checks(tables: dict[str, list[dict]], expected: dict[str, dict[tuple, dict]]) -> int:
    """The values the issue names, checked by name: TotalAmt and Balance exactly as Decimal,
    CustomerRef, Line and MetaData equal to the emulator's JSON. Returns how many it compared."""
    compared = 0
    for stream in ("invoices", "payments", "customers"):
        got = {P.loaded_key(stream, r): r for r in live_rows(tables[stream])}
        for key, want in expected[stream].items():
            row = got[key]
            for money in ("TotalAmt", "Balance"):
                if money in want:
                    assert P.same_number(P.column(row, money), want[money]), (stream, key, money)
                    compared += 1
            for nested in ("CustomerRef", "Line", "MetaData"):
                if nested in want:
                    assert P.as_json_value(P.column(row, nested)) == want[nested], (stream, key)
                    compared += 1
    return compared


def written_by_second_run(pipeline: Pipeline, stream: str) -> set[tuple]:
    """Keys of the rows the second run wrote: new rows, or rows whose batch time moved."""
    before = {
        P.loaded_key(stream, r): P.column(r, "_sdc_batched_at") for r in pipeline.first[stream]
    }
    return {
        P.loaded_key(stream, r)
        for r in pipeline.second[stream]
        if before.get(P.loaded_key(stream, r)) != P.column(r, "_sdc_batched_at")
    }


def assert_only_changes(pipeline: Pipeline, arrived: dict[str, set[tuple]]) -> None:
    """An incremental run brings every change, and besides them at most the rows stamped
    with a table's newest second (read `>=` the bookmark); full-table lists come whole."""
    changed = pipeline.changed
    assert any(changed.values())
    for stream in pipeline.streams:
        if not BY_STREAM[stream].incremental:
            continue
        keys = arrived.get(stream, set())
        assert changed[stream] <= keys, (stream, "changes missing", changed[stream] - keys)
        extra = keys - changed[stream]
        assert extra <= P.newest_rows(pipeline.before[stream]), (stream, sorted(extra)[:5])


def missing_columns(tables: dict[str, list[dict]], expected: dict[str, dict[tuple, dict]]):
    """Fields QBO sends that have no column in the target: targets make columns from the
    stream's schema, so a field the schema does not declare is silently dropped."""
    missing = {}
    for stream, rows in expected.items():
        columns = {c.lower() for row in tables[stream] for c in row}
        fields = {f for row in rows.values() for f in row}
        lost = sorted(f for f in fields if f.lower() not in columns)
        if lost:
            missing[stream] = lost
    return missing


# ----- Meltano into PostgreSQL (the fixtures meltano_project, postgres are in conftest.py) -----


def meltano_pipeline(
    emu: Emulator, streams: list[str], loader: str, env: dict, read_tables
) -> Pipeline:
    """`meltano run tap-quickbooks <loader>` twice, around a change in the company."""
    suffix = P.unique_suffix(loader)
    run = ["run", "--no-install", "--state-id-suffix", suffix, "tap-quickbooks", loader]
    before = snapshot(emu, streams)
    P.meltano(run[0], "--full-refresh", *run[1:], env=env)
    first = read_tables()
    change = change_company(emu)
    after = snapshot(emu, streams)
    P.meltano(*run, env=env)  # no --full-refresh: Meltano hands the tap the state it kept
    pipeline = Pipeline(emu.realm_ids[0], streams, before, after, change, first, read_tables())
    pipeline.state = P.meltano_state(f"dev:tap-quickbooks-to-{loader}:{suffix}", env)
    return pipeline


@pytest.fixture(scope="module")
def postgres_pipeline(meltano_project, system_db, postgres):
    """All 41 entity streams into PostgreSQL (meltanolabs-target-postgres)."""
    emu = start_company(seed=31, scale=1000)
    try:
        postgres.create_database("warehouse_pg")
        env = P.meltano_env(
            emu.tap_config(),
            system_db,
            **postgres.target_env("warehouse_pg", SCHEMA),
            **P.select_env(P.ENTITY_STREAMS),
        )
        yield meltano_pipeline(
            emu,
            P.ENTITY_STREAMS,
            "target-postgres",
            env,
            lambda: postgres.tables("warehouse_pg", SCHEMA),
        )
    finally:
        emu.stop()


def test_postgres_tables_equal_the_ground_truth(postgres_pipeline) -> None:
    pipeline = postgres_pipeline
    assert sorted(pipeline.first) == sorted(P.ENTITY_STREAMS)
    assert mismatches(pipeline.first, pipeline.before) == []
    assert mismatches(pipeline.second, pipeline.after) == []
    assert sample_checks(pipeline.first, pipeline.before) > 500
    assert sample_checks(pipeline.second, pipeline.after) > 500
    invoices = {r["Id"]: r for r in pipeline.second["invoices"]}
    assert P.same_number(invoices[pipeline.change["created"]]["TotalAmt"], "1234.56")
    customer = {r["Id"]: r for r in pipeline.second["customers"]}[pipeline.change["customer"]]
    assert customer["Active"] is False


def test_postgres_second_run_brings_only_the_changes(postgres_pipeline) -> None:
    pipeline = postgres_pipeline
    bookmarks = pipeline.state["singer_state"]["bookmarks"]
    assert all(s in bookmarks for s in P.ENTITY_STREAMS)
    arrived = {s: written_by_second_run(pipeline, s) for s in pipeline.streams}
    assert_only_changes(pipeline, arrived)


def test_postgres_flags_the_deleted_invoice(postgres_pipeline) -> None:
    """QBO's CDC reports the deletion; the tap emits it as a record with _sdc_deleted_at, and
    target-postgres keeps the row with that column set. (Its `hard_delete` acts only on
    ACTIVATE_VERSION messages of full-table syncs, not on such records: 0.8.1 leaves the row.)"""
    pipeline = postgres_pipeline
    deleted = pipeline.key("invoices", pipeline.change["deleted"])
    assert deleted in {P.loaded_key("invoices", r) for r in live_rows(pipeline.first["invoices"])}
    row = next(r for r in pipeline.second["invoices"] if P.loaded_key("invoices", r) == deleted)
    assert row["_sdc_deleted_at"]
    assert deleted not in {
        P.loaded_key("invoices", r) for r in live_rows(pipeline.second["invoices"])
    }


def test_postgres_holds_money_as_numeric_and_dates_as_date(postgres_pipeline, postgres) -> None:
    """What users query: exact money (NUMERIC, never a float) and real dates, as declared."""
    out = postgres.psql(
        "select table_name || '.' || column_name || '=' || data_type "
        "from information_schema.columns where table_schema = 'quickbooks' and "
        "(table_name, column_name) in (('invoices', 'TotalAmt'), ('invoices', 'TxnDate'), "
        "('payments', 'TotalAmt'), ('bills', 'DueDate'), ('customers', 'Balance'))",
        "warehouse_pg",
    )
    types = dict(line.split("=", 1) for line in out.split())
    assert types == {
        "invoices.TotalAmt": "numeric",
        "invoices.TxnDate": "date",
        "payments.TotalAmt": "numeric",
        "bills.DueDate": "date",
        "customers.Balance": "numeric",
    }


def test_postgres_has_a_column_for_every_field_qbo_sends(postgres_pipeline) -> None:
    assert missing_columns(postgres_pipeline.second, postgres_pipeline.after) == {}


# ----- Meltano into DuckDB ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def duckdb_pipeline(meltano_project, system_db, tmp_path_factory):
    """Five streams into DuckDB (target-duckdb 0.8.0 with duckdb 1.2.2, as meltano.yml pins)."""
    # Not named like its schema: DuckDB finds `quickbooks.quickbooks` ambiguous.
    warehouse = tmp_path_factory.mktemp("duckdb") / "warehouse.duckdb"
    emu = start_company(seed=37, scale=800)
    try:
        env = P.meltano_env(
            emu.tap_config(),
            system_db,
            TARGET_DUCKDB_FILEPATH=str(warehouse),
            TARGET_DUCKDB_DEFAULT_TARGET_SCHEMA=SCHEMA,
            TARGET_DUCKDB_ADD_METADATA_COLUMNS="true",
            **P.select_env(CHANGED_STREAMS),
        )
        pipeline = meltano_pipeline(
            emu, CHANGED_STREAMS, "target-duckdb", env, lambda: P.duckdb_tables(warehouse, SCHEMA)
        )
        pipeline.warehouse = warehouse  # for the typing step of `make demo`
        yield pipeline
    finally:
        emu.stop()


def test_duckdb_tables_equal_the_ground_truth(duckdb_pipeline) -> None:
    pipeline = duckdb_pipeline
    assert sorted(pipeline.first) == sorted(CHANGED_STREAMS)
    # target-duckdb 0.8.0 loads through CSV, where "" (an empty PurchaseDesc) becomes NULL.
    assert mismatches(pipeline.first, pipeline.before, empty_string_is_null=True) == []
    assert mismatches(pipeline.second, pipeline.after, empty_string_is_null=True) == []
    assert sample_checks(pipeline.first, pipeline.before) > 300
    assert sample_checks(pipeline.second, pipeline.after) > 300


def test_duckdb_second_run_brings_only_the_changes(duckdb_pipeline) -> None:
    pipeline = duckdb_pipeline
    arrived = {s: written_by_second_run(pipeline, s) for s in pipeline.streams}
    assert_only_changes(pipeline, arrived)
    # No hard delete in target-duckdb: the deleted invoice stays, flagged.
    deleted = pipeline.key("invoices", pipeline.change["deleted"])
    row = next(r for r in pipeline.second["invoices"] if P.loaded_key("invoices", r) == deleted)
    assert row["_sdc_deleted_at"]


def test_duckdb_money_is_decimal_and_dates_are_date_after_the_demo_step(duckdb_pipeline) -> None:
    """target-duckdb 0.8.0 makes every number DOUBLE and every `format: date` VARCHAR, whatever
    the schema says (it has no setting for it): `make demo` then types the columns
    (scripts/duckdb_types.py). Money then sums exactly to QuickBooks' own total."""
    pipeline = duckdb_pipeline
    demo.type_columns(pipeline.warehouse, SCHEMA)
    script = (
        "import duckdb, json, sys\n"
        "con = duckdb.connect(sys.argv[1], read_only=True)\n"
        "types = dict(con.sql(\"select table_name || '.' || column_name, data_type from "
        "information_schema.columns where table_schema = 'quickbooks'\").fetchall())\n"
        "total = con.sql('select sum(totalamt) from quickbooks.invoices "
        "where _sdc_deleted_at is null').fetchone()[0]\n"
        "print(json.dumps({'types': types, 'total': str(total)}))\n"
    )
    done = subprocess.run(
        [str(demo.DUCKDB_PYTHON), "-c", script, str(pipeline.warehouse)],
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    out = json.loads(done.stdout)
    types = out["types"]
    for column in ("invoices.totalamt", "invoices.balance", "payments.totalamt"):
        assert types[column].startswith("DECIMAL"), (column, types[column])
    for column in ("invoices.txndate", "invoices.duedate", "payments.txndate"):
        assert types[column] == "DATE", (column, types[column])
    want = sum(Decimal(str(r["TotalAmt"])) for r in pipeline.after["invoices"].values())
    assert Decimal(out["total"]) == want


# ----- Meltano's catalog, and selecting with it -------------------------------------------------


def test_meltanos_catalog_is_small_and_selects_as_meltano_yml_says(meltano_project, system_db):
    """Meltano's own copy of the catalog (written on every run, indented, with its metadata):
    at most 1 MB (it was 3.0 MB, from a tap catalog of 10.2 MB); reports off by default."""
    emu = start_company(seed=53, scale=100)
    try:
        env = P.meltano_env(emu.tap_config(), system_db)
        env.pop("TAP_QUICKBOOKS__SELECT", None)  # meltano.yml's own select
        done = P.meltano("invoke", "--dump=catalog", "tap-quickbooks", env=env)
    finally:
        emu.stop()
    assert len(done.stdout.encode()) <= 1_000_000
    catalog = json.loads(done.stdout)
    selected = {
        s["tap_stream_id"]
        for s in catalog["streams"]
        for m in s["metadata"]
        if m["breadcrumb"] == [] and m["metadata"].get("selected")
    }
    assert {"invoices", "sync_status"} <= selected
    assert not any(name.endswith("_report") for name in selected)
    assert all(len(m["breadcrumb"]) <= 2 for s in catalog["streams"] for m in s["metadata"])


def test_meltano_selects_a_nested_field_with_its_parent(meltano_project, system_db) -> None:
    """`meltano select tap-quickbooks invoices "Line.*"` selects the whole top-level `Line`
    (nested fields are not selectable one by one); `TotalAmt` alone, nothing else but keys."""
    emu = start_company(seed=59, scale=100)
    try:
        env = P.meltano_env(
            emu.tap_config(),
            system_db,
            TAP_QUICKBOOKS__SELECT=json.dumps(["invoices.Line.*", "invoices.TotalAmt"]),
        )
        done = P.meltano("invoke", "tap-quickbooks", env=env)
        want = {r["Id"]: r for r in truth(emu, emu.realm_ids[0], "invoices").values()}
    finally:
        emu.stop()
    records = [m["record"] for m in parse_messages(done.stdout) if m.get("type") == "RECORD"]
    assert len(records) == len(want)
    for record in records:
        fields = set(strip_tap_fields(record))
        assert {"Line", "TotalAmt", "Id"} <= fields <= {"Line", "TotalAmt", "Id", "MetaData"}
        assert record["Line"] == want[record["Id"]]["Line"]
        assert record["TotalAmt"] == want[record["Id"]]["TotalAmt"]


# ----- a plain pipe into target-jsonl ----------------------------------------------------------


def pipe_run(workdir: Path, name: str, config: Path, catalog: Path, state: dict) -> dict:
    """`tap-quickbooks --config --catalog --state | target-jsonl --config` in a shell; returns
    the state target-jsonl wrote last (what a user keeps for the next run)."""
    state_in = workdir / f"{name}-state-in.json"
    state_in.write_text(json.dumps(state))
    target_config = workdir / f"{name}-target.json"
    target_config.write_text(
        json.dumps({"destination_path": str(workdir / name), "do_timestamp_file": False})
    )
    target = P.loader_bin("target-jsonl", "target-jsonl")
    tap = [str(TAP), "--config", str(config), "--catalog", str(catalog), "--state", str(state_in)]
    command = (
        f"set -o pipefail; {shlex.join(tap)} 2>{shlex.quote(str(workdir / name))}.log | "
        f"{shlex.quote(str(target))} --config {shlex.quote(str(target_config))}"
    )
    done = subprocess.run(
        ["bash", "-c", command], capture_output=True, text=True, timeout=600, check=False
    )
    assert done.returncode == 0, done.stderr[-3000:]
    states = [line for line in done.stdout.splitlines() if line.strip()]
    return json.loads(states[-1])


def jsonl_records(directory: Path, streams: list[str]) -> dict[str, list[dict]]:
    out = {}
    for stream in streams:
        path = directory / f"{stream}.jsonl"
        out[stream] = parse_messages(path.read_text()) if path.exists() else []
    return out


@pytest.fixture(scope="module")
def pipe_pipeline(meltano_project, tmp_path_factory):
    workdir = tmp_path_factory.mktemp("pipe")
    emu = start_company(seed=41, scale=800)
    try:
        config = workdir / "config.json"
        config.write_text(json.dumps(emu.tap_config()))
        catalog = select(emu.tap_config(), CHANGED_STREAMS)
        before = snapshot(emu, CHANGED_STREAMS)
        state = pipe_run(workdir, "run1", config, catalog, {})
        change = change_company(emu)
        after = snapshot(emu, CHANGED_STREAMS)
        second_state = pipe_run(workdir, "run2", config, catalog, state)
        pipeline = Pipeline(
            emu.realm_ids[0],
            CHANGED_STREAMS,
            before,
            after,
            change,
            jsonl_records(workdir / "run1", CHANGED_STREAMS),
            jsonl_records(workdir / "run2", CHANGED_STREAMS),
            state,
        )
        pipeline.next_state = second_state
        yield pipeline
    finally:
        emu.stop()


def upserted(*runs: list[dict], stream: str) -> dict[tuple, dict]:
    """What a target upserting on the key, deleting on _sdc_deleted_at, holds after the runs."""
    table: dict[tuple, dict] = {}
    for records in runs:
        for record in records:
            key = P.loaded_key(stream, record)
            if record.get("_sdc_deleted_at"):
                table.pop(key, None)
            else:
                table[key] = strip_tap_fields(record)
    return table


def test_pipe_into_jsonl_equals_the_ground_truth(pipe_pipeline) -> None:
    pipeline = pipe_pipeline
    for stream in pipeline.streams:
        first = upserted(pipeline.first[stream], stream=stream)
        assert first == pipeline.before[stream], stream
        both = upserted(pipeline.first[stream], pipeline.second[stream], stream=stream)
        assert both == pipeline.after[stream], stream


def test_pipe_second_run_brings_only_the_changes(pipe_pipeline) -> None:
    pipeline = pipe_pipeline
    arrived = {s: {P.loaded_key(s, r) for r in pipeline.second[s]} for s in pipeline.streams}
    assert_only_changes(pipeline, arrived)
    deleted = pipeline.key("invoices", pipeline.change["deleted"])
    stub = next(r for r in pipeline.second["invoices"] if P.loaded_key("invoices", r) == deleted)
    assert stub["_sdc_deleted_at"]
    assert (
        pipeline.next_state["bookmarks"]["invoices"]["replication_key_value"]
        >= (pipeline.state["bookmarks"]["invoices"]["replication_key_value"])
    )


# ----- singer-tools ----------------------------------------------------------------------------

CHECKED_STREAMS = [
    "invoices",
    "customers",
    "items",
    "recurring_transactions",
    "exchange_rates",
    "tax_classifications",
    "company_info",
    "profit_and_loss_report",
    "aged_receivables_report",
]


def test_singer_check_tap_finds_the_output_valid(make_company, tmp_path) -> None:
    check_tap = P.ensure_singer_tools()
    emu = make_company(seed=43, scale=400)
    config = tmp_path / "config.json"
    config.write_text(json.dumps(emu.tap_config()))
    catalog = select(emu.tap_config(), CHECKED_STREAMS)
    tap = [str(TAP), "--config", str(config), "--catalog", str(catalog)]
    command = f"set -o pipefail; {shlex.join(tap)} 2>/dev/null | {shlex.quote(str(check_tap))}"
    done = subprocess.run(
        ["bash", "-c", command],
        cwd=tmp_path,  # singer-check-tap makes a working directory where it runs
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "The output is valid." in done.stdout
    for stream in CHECKED_STREAMS:
        assert f"| {stream} " in done.stdout, stream


def test_singer_check_tap_reruns_the_tap_with_its_own_state(make_company, tmp_path) -> None:
    """`singer-check-tap --tap`: every default stream, then again from the state it wrote."""
    check_tap = P.ensure_singer_tools()
    emu = make_company(seed=47, scale=300)
    config = tmp_path / "config.json"
    config.write_text(json.dumps(emu.tap_config()))
    # singer-tools' own race (its reader thread is not joined) is closed by a launcher.
    python = check_tap.parent / "python"
    launcher = Path(__file__).with_name("singer_check_tap.py")
    done = subprocess.run(
        [str(python), str(launcher), "--tap", str(TAP), "--config", str(config)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert done.stdout.count("The output is valid.") == 2
    assert "Now re-running tap with state produced by previous run" in done.stdout


def test_singer_check_tap_launcher_waits_for_the_last_lines(tmp_path) -> None:
    """The launcher closes singer-tools' race: a tap that exits with output still unread."""
    check_tap = P.ensure_singer_tools()
    fake_tap = tmp_path / "fake-tap"
    # Past the pipe's 64 KiB buffer: the reader is still parsing when the process has exited.
    fake_tap.write_text(
        "#!/usr/bin/env python3\n"
        "import json\n"
        'print(json.dumps({"type": "SCHEMA", "stream": "s", "key_properties": ["id"],'
        ' "schema": {"type": "object", "properties": {"id": {"type": "integer"}}}}))\n'
        "for i in range(20000):\n"
        '    print(json.dumps({"type": "RECORD", "stream": "s", "record": {"id": i}}))\n'
        'print(json.dumps({"type": "STATE", "value": {"n": 1}}))\n'
    )
    fake_tap.chmod(0o755)
    config = tmp_path / "config.json"
    config.write_text("{}")
    launcher = Path(__file__).with_name("singer_check_tap.py")
    command = [str(check_tap.parent / "python"), str(launcher), "--tap", str(fake_tap)]
    done = subprocess.run(
        [*command, "--config", str(config)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert done.stdout.count("The output is valid.") == 2
    assert done.stdout.count("20000 record messages") == 2


# ----- every kind of company into PostgreSQL ---------------------------------------------------

# One country in the default run, the one that asks most of a load (GST/HST with multicurrency
# around a non-USD home, and inventory); every other profile (VAT, TVA with journal codes, ...)
# under `make test-full` (a US company with everything loads above, in the 41-stream pipeline).
PROFILES_IN_DEFAULT_RUN = ("ca",)
MONEY = ("TotalAmt", "Balance", "HomeTotalAmt", "HomeBalance", "ExchangeRate")
TAX_STREAMS = ("tax_codes", "tax_rates", "tax_agencies")


def profile_params() -> list:
    return [
        pytest.param(
            name, marks=() if name in PROFILES_IN_DEFAULT_RUN else (pytest.mark.full,), id=name
        )
        for name in PROFILES
        if name != "default"
    ]


@pytest.mark.parametrize("profile", profile_params())
def test_every_kind_of_company_loads_into_postgres(  # noqa: C901, PLR0912, PLR0915 - one load, checked in order
    profile: str, meltano_project, postgres
) -> None:
    """One company of each profile, every entity stream and sync_status, through the tap into
    target-postgres: every record holds to its schema (VAT/GST codes, FR journal codes,
    multicurrency amounts); what the company has equals the ground truth, row for row and to
    the cent; what it cannot have stays empty; the sync_status table says which and why."""
    database = f"profile_{profile}"
    # Scale 1000: the first with foreign-currency customers, so multicurrency amounts exist.
    with Emulator(seed=53, scale=1000, profiles=[profile]) as emu:
        realm = emu.realm_ids[0]
        company = emu.profile(realm)
        refused = company.refused()
        has = [s for s in P.ENTITY_STREAMS if BY_STREAM[s].name not in refused]
        cannot = [s for s in P.ENTITY_STREAMS if BY_STREAM[s].name in refused]
        assert cannot  # every named profile lacks something (JournalCode outside France, ...)
        config = emu.tap_config()
        run = run_tap(
            config, args=["--catalog", str(select(config, [*P.ENTITY_STREAMS, "sync_status"]))]
        )
        assert run.returncode == 0, run.stderr[-3000:]
        expected = snapshot(emu, has)
    validated = 0
    for stream, records in run.records.items():
        schema = run.schemas[stream]["schema"]
        for record in records:
            validate(record, schema)
            validated += 1
    assert validated > 500, validated
    postgres.create_database(database)
    postgres.load(database, SCHEMA, run.stdout)
    tables = postgres.tables(database, SCHEMA)

    assert mismatches(tables, expected) == []
    assert missing_columns(tables, expected) == {}
    for stream in cannot:
        assert not tables.get(stream), stream  # no rows of what the company cannot have
    # Money to the cent, by name, in the transaction streams (home and foreign amounts).
    compared = foreign = 0
    for stream in ("invoices", "payments", "bills", "purchases", "sales_receipts"):
        if stream not in expected:
            continue
        got = {P.loaded_key(stream, r): r for r in live_rows(tables[stream])}
        for key, want in expected[stream].items():
            for money in MONEY:
                if money in want:
                    assert P.same_number(P.column(got[key], money), want[money]), (key, money)
                    compared += 1
                    foreign += money == "HomeTotalAmt"
    assert compared > 500, compared
    home = company.country.currency[0]
    currencies = {r["CurrencyRef"]["value"] for r in expected["invoices"].values()}
    if "multicurrency" in company.features:
        assert foreign > 0
        assert len(currencies) > 1, currencies
    else:
        assert (foreign, currencies) == (0, {home})
    # The country's tax codes, rates and agencies arrive as the company has them.
    for stream in TAX_STREAMS:
        names = {r.get("Name") or r.get("DisplayName") for r in tables[stream]}
        assert names == {w.get("Name") or w.get("DisplayName") for w in expected[stream].values()}
    # The sync-state table operators watch: one row per stream, the refused ones unavailable.
    status = {r["stream"]: r for r in tables["sync_status"]}
    assert set(status) == {*P.ENTITY_STREAMS}
    for stream in P.ENTITY_STREAMS:
        row = status[stream]
        assert row["realm_id"] == realm
        if stream in cannot:
            assert row["status"] == "unavailable", row
            assert row["error"], row
        else:
            assert (row["status"], row["error"]) == ("ok", None), row
