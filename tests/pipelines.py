"""Real pipelines around the tap: Meltano, PostgreSQL, DuckDB, target-jsonl, singer-tools.

Helpers for ``tests/test_pipelines.py``. Nothing here is mocked: Meltano runs from its own
environment (``.venv-meltano``), the loaders from the environments ``meltano install`` made
for them, PostgreSQL is a private server started with Debian's ``initdb``/``pg_ctl``.
"""

from __future__ import annotations

import datetime as dt
import decimal
import glob
import json
import os
import pwd
import re
import shutil
import socket
import subprocess
import tempfile
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from scripts import demo
from tap_quickbooks.catalogue import BY_STREAM, ENTITIES
from tap_quickbooks.schemas import entity_schema
from tap_quickbooks.timefmt import parse_instant

ROOT = demo.ROOT
MELTANO = demo.MELTANO
ENTITY_STREAMS = [e.stream for e in ENTITIES]
TAP_ADDED = ("realm_id", "LastUpdatedTime", "_sdc_deleted_at")
SINGER_TOOLS_VENV = ROOT / ".venv-singer-tools"
SINGER_TOOLS_LOCK = ROOT / "requirements" / "singer-tools.txt"


def loader_bin(loader: str, executable: str) -> Path:
    """An executable of a loader's own environment, as ``meltano install`` made it."""
    return demo.LOADERS / loader / "venv" / "bin" / executable


def parse_json(text: str) -> object:
    return json.loads(text, parse_float=decimal.Decimal)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# ----- Meltano ---------------------------------------------------------------------------------


def meltano_env(tap_config: dict, system_db: Path, **extra: str) -> dict[str, str]:
    """The environment of a ``meltano`` command: the tap's config as TAP_QUICKBOOKS_* settings,
    a system database of our own (state lives there), and any loader settings."""
    env = {**os.environ, "MELTANO_SEND_ANONYMOUS_USAGE_STATS": "false"}
    env.pop("VIRTUAL_ENV", None)
    env["MELTANO_DATABASE_URI"] = f"sqlite:///{system_db}"
    env.update({f"TAP_QUICKBOOKS_{k.upper()}": str(v) for k, v in tap_config.items()})
    env.update(extra)
    return env


def select_env(streams: list[str]) -> dict[str, str]:
    """Meltano's `<PLUGIN>__SELECT` extra as an env var: these streams, every property."""
    return {"TAP_QUICKBOOKS__SELECT": json.dumps([f"{s}.*" for s in streams])}


PLUGIN_ERROR = re.compile(r"error|exception|traceback|critical", re.IGNORECASE)


def meltano(*args: str, env: dict, timeout: float = 900) -> subprocess.CompletedProcess:
    # Info level: the plugins' own lines (a tap's error, its traceback) are in Meltano's log
    # only from there, and a failure must show them.
    done = subprocess.run(
        [str(MELTANO), "--log-level=info", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if done.returncode != 0:
        lines = done.stderr.splitlines()
        errors = [line for line in lines if PLUGIN_ERROR.search(line)]
        raise AssertionError(
            f"meltano {' '.join(args)} failed ({done.returncode}):\n"
            + "\n".join(errors[:60])
            + f"\n--- last lines ---\n{done.stdout[-3000:]}\n"
            + "\n".join(lines[-80:])
        )
    return done


def meltano_state(state_id: str, env: dict) -> dict:
    out = meltano("state", "get", state_id, env=env).stdout
    return json.loads(out[out.index("{") :])


def unique_suffix(name: str) -> str:
    return f"{name}-{uuid.uuid4().hex[:8]}"


# ----- PostgreSQL ------------------------------------------------------------------------------


def postgres_bin() -> Path | None:
    """The newest Debian PostgreSQL bin directory holding initdb and pg_ctl."""
    found = sorted(
        (Path(p).parent for p in glob.glob("/usr/lib/postgresql/*/bin/initdb")),
        key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0,
    )
    found = [p for p in found if (p / "pg_ctl").exists()]
    return found[-1] if found else None


def postgres_problem() -> str | None:
    """Why a private server cannot start here, if it cannot: initdb refuses to run as root, so
    root runs it as Debian's `postgres` user."""
    if os.geteuid() != 0:
        return None
    try:
        pwd.getpwnam("postgres")
    except KeyError:
        return "running as root with no `postgres` user to run initdb as"
    if shutil.which("runuser") is None:
        return "running as root without `runuser` to start initdb as `postgres`"
    return None


def server_command(*command: str, timeout: float = 120) -> subprocess.CompletedProcess:
    """A server command (initdb, pg_ctl) as the user that owns the data directory."""
    as_user = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    return subprocess.run(
        [*as_user, *command], capture_output=True, text=True, timeout=timeout, check=False
    )


@dataclass
class Postgres:
    """A private PostgreSQL server on 127.0.0.1, its data and socket in a temporary dir."""

    bin: Path
    home: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="tap-qbo-pg-")))
    port: int = 0
    user: str = "postgres"  # the database superuser initdb makes

    @property
    def data(self) -> Path:
        return self.home / "data"

    def start(self) -> Postgres:
        if os.geteuid() == 0:
            shutil.chown(self.home, "postgres", "postgres")
        done = server_command(
            str(self.bin / "initdb"),
            "-D",
            str(self.data),
            "-U",
            self.user,
            "-A",
            "trust",
            "-E",
            "UTF8",
            "--no-sync",
        )
        if done.returncode != 0:
            raise RuntimeError(f"initdb failed: {done.stderr}")
        for _ in range(3):  # a free port can be taken between asking and listening
            self.port = free_port()
            options = (
                f"-c listen_addresses=127.0.0.1 -p {self.port} -k {self.home} "
                "-c fsync=off -c synchronous_commit=off -c full_page_writes=off"
            )
            done = server_command(
                str(self.bin / "pg_ctl"),
                "-D",
                str(self.data),
                "-l",
                str(self.home / "server.log"),
                "-o",
                options,
                "-w",
                "start",
            )
            if done.returncode == 0:
                return self
        log = (self.home / "server.log").read_text(errors="replace")
        raise RuntimeError(f"pg_ctl start failed: {done.stdout}{done.stderr}\n{log[-3000:]}")

    def stop(self) -> None:
        server_command(str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "stop")
        shutil.rmtree(self.home, ignore_errors=True)

    def psql(self, sql: str, database: str = "postgres") -> str:
        done = subprocess.run(
            [
                str(self.bin / "psql"),
                "-h",
                "127.0.0.1",
                "-p",
                str(self.port),
                "-U",
                self.user,
                "-d",
                database,
                "-v",
                "ON_ERROR_STOP=1",
                "-X",
                "-q",
                "-A",
                "-t",
                "-c",
                sql,
            ],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        if done.returncode != 0:
            raise AssertionError(f"psql failed: {done.stderr}")
        return done.stdout

    def create_database(self, name: str) -> None:
        self.psql(f'create database "{name}"')

    def target_env(self, database: str, schema: str) -> dict[str, str]:
        return {
            "TARGET_POSTGRES_HOST": "127.0.0.1",
            "TARGET_POSTGRES_PORT": str(self.port),
            "TARGET_POSTGRES_USER": self.user,
            # Trust authentication ignores it, but the target refuses to start without one.
            "TARGET_POSTGRES_PASSWORD": "unused",
            "TARGET_POSTGRES_DATABASE": database,
            "TARGET_POSTGRES_DEFAULT_TARGET_SCHEMA": schema,
        }

    def load(self, database: str, schema: str, messages: str, **settings: object) -> None:
        """Singer messages into `target-postgres --config` (the loader Meltano installed),
        with any further settings of it (`hard_delete`, ...)."""
        env = self.target_env(database, schema)
        config: dict[str, object] = {
            k.removeprefix("TARGET_POSTGRES_").lower(): v for k, v in env.items()
        }
        config.update(port=self.port, **settings)
        path = self.home / f"{database}-target.json"
        path.write_text(json.dumps(config))
        done = subprocess.run(
            [str(loader_bin("target-postgres", "target-postgres")), "--config", str(path)],
            input=messages,
            capture_output=True,
            text=True,
            timeout=900,
            check=False,
        )
        assert done.returncode == 0, done.stderr[-3000:]

    def tables(self, database: str, schema: str) -> dict[str, list[dict]]:
        """Every row of every table of the schema, as JSON objects (numerics exact)."""
        names = self.psql(
            "select table_name from information_schema.tables "
            f"where table_schema = '{schema}' order by 1",
            database,
        ).split()
        out = {}
        for name in names:
            text = self.psql(f'select row_to_json(t) from "{schema}"."{name}" t', database)
            out[name] = [parse_json(line) for line in text.splitlines() if line.strip()]
        return out


# ----- DuckDB ----------------------------------------------------------------------------------

DUCKDB_DUMP = """
import duckdb, sys
con = duckdb.connect(sys.argv[1], read_only=True)
schema = sys.argv[2]
names = [r[0] for r in con.execute(
    "select table_name from information_schema.tables where table_schema = ? order by 1",
    [schema]).fetchall()]
for name in names:
    print(name + "\\t")
    for (row,) in con.execute(f'select to_json(t) from "{schema}"."{name}" t').fetchall():
        print(name + "\\t" + row)
"""


def duckdb_tables(path: Path, schema: str) -> dict[str, list[dict]]:
    """Every row of every table, read with the target's own duckdb (the file's version)."""
    done = subprocess.run(
        [str(demo.DUCKDB_PYTHON), "-c", DUCKDB_DUMP, str(path), schema],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    out: dict[str, list[dict]] = {}
    for line in done.stdout.splitlines():
        name, _, row = line.partition("\t")
        out.setdefault(name, [])
        if row:
            out[name].append(parse_json(row))
    return out


# ----- singer-tools ----------------------------------------------------------------------------


def ensure_singer_tools() -> Path:
    """singer-tools in its own environment (it pins jsonschema 2.6), from the committed lock."""
    return demo.ensure_venv(SINGER_TOOLS_VENV, SINGER_TOOLS_LOCK, "singer-check-tap")


# ----- comparing a loaded table with the emulator's ground truth -------------------------------


def date_time_fields(stream: str) -> set[str]:
    """Top-level fields typed date-time: targets re-type them (time zone dropped or moved)."""
    props = entity_schema(BY_STREAM[stream].name)["properties"]
    return {name for name, p in props.items() if p.get("format") == "date-time"}


def column(row: dict, name: str) -> object:
    """A field of a loaded row: targets may fold column names to lower case."""
    return row[name] if name in row else row.get(name.lower())


def loaded_key(stream: str, row: dict) -> tuple:
    """A loaded row's key: (realm_id, *the entity's key)."""
    return tuple(str(column(row, k)) for k in ("realm_id", *BY_STREAM[stream].key))


def truth_key(stream: str, row: dict, realm: str) -> tuple:
    return (realm, *(str(row.get(k)) for k in BY_STREAM[stream].key))


def as_json_value(value: object) -> object:
    """A nested value as a target gives it back: parsed from JSON text when stored as text."""
    if isinstance(value, str):
        try:
            return parse_json(value)
        except ValueError:
            return value
    return value


def same_number(loaded: object, expected: object) -> bool:
    """Exactly equal as Decimal; a float column (DuckDB's double) is read as its shortest
    decimal text, so 12.34 stays 12.34 to the cent."""
    if isinstance(loaded, float):
        loaded = decimal.Decimal(repr(loaded))
    try:
        return decimal.Decimal(str(loaded)) == decimal.Decimal(str(expected))
    except decimal.InvalidOperation:
        return False


def declared_fields(stream: str) -> set[str]:
    return set(entity_schema(BY_STREAM[stream].name)["properties"])


def differences(
    stream: str, loaded: dict, expected: dict, empty_string_is_null: bool = False
) -> list[str]:
    """Where a loaded row differs from the emulator's object, field by field: every field the
    stream's schema declares (a target makes its columns from the schema), except date-times,
    which targets re-type."""
    problems = []
    skip = date_time_fields(stream) | set(TAP_ADDED)
    declared = declared_fields(stream)
    for name, want in expected.items():
        if name in skip or name not in declared:
            continue
        got = column(loaded, name)
        if not same_value(got, want, empty_string_is_null=empty_string_is_null):
            problems.append(f"{name}: {got!r} != {want!r}")
    return problems


def same_value(got: object, want: object, *, empty_string_is_null: bool) -> bool:
    """Whether a loaded column holds the emulator's value, as the target typed it."""
    if isinstance(want, (dict, list)):
        return as_json_value(got) == want
    if isinstance(want, bool) or want is None:
        return got == want
    if isinstance(want, (int, float, decimal.Decimal)):
        return same_number(got, want)
    if want == "" and got is None and empty_string_is_null:
        return True
    return str(got) == str(want)


def newest_rows(expected: dict[tuple, dict]) -> set[tuple]:
    """Keys of the rows stamped with a table's newest second: an incremental run re-reads
    those (`>=` its bookmark)."""
    stamped = {
        k: parse_instant(r["MetaData"]["LastUpdatedTime"])
        for k, r in expected.items()
        if isinstance(r.get("MetaData"), dict) and r["MetaData"].get("LastUpdatedTime")
    }
    if not stamped:
        return set()
    newest = max(stamped.values())
    return {k for k, when in stamped.items() if when == newest}


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)
