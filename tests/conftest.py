"""Shared fixtures: emulated QBO companies the tap runs against."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from qbo_emulator import Emulator
from scripts import demo
from tests import pipelines as P


def pytest_configure(config) -> None:
    """Under `python -m tests.any_day`, stop at once if the shifted clock did not take."""
    if today := os.environ.get("ANY_DAY"):
        child = subprocess.run(  # the tap runs as a child: its clock must have moved too
            [sys.executable, "-c", "import time; print(time.time())"],
            capture_output=True,
            text=True,
            check=True,
        )
        for seen in (time.time(), float(child.stdout)):
            if abs(seen - dt.datetime.fromisoformat(today).timestamp()) > 3600:
                pytest.exit(f"the clock reads {seen}, not about {today}", 3)


def pytest_collection_modifyitems(config, items) -> None:
    """Under `python -m tests.any_day`, skip the tests that judge the tap's CPU use: with
    libfaketime preloaded, a thread waiting for the interpreter lock spins instead of
    sleeping (measured: 8 threads that mostly sleep burn 2.5 times the CPU), so a process
    waiting on QBO looks busy. What they test reads no date."""
    if os.environ.get("ANY_DAY"):
        skip = pytest.mark.skip(reason="judges CPU use, which libfaketime inflates")
        for item in items:
            if "cpu_judged" in item.keywords:
                item.add_marker(skip)


@pytest.fixture(scope="session", autouse=True)
def session_token_store(tmp_path_factory):
    """The same for taps run in session- and class-scoped fixtures (the SDK's standard tests)."""
    before = os.environ.get("XDG_STATE_HOME")
    os.environ["XDG_STATE_HOME"] = str(tmp_path_factory.mktemp("xdg-state-session"))
    yield
    if before is None:
        os.environ.pop("XDG_STATE_HOME", None)
    else:
        os.environ["XDG_STATE_HOME"] = before


@pytest.fixture(autouse=True)
def own_token_store(tmp_path_factory, monkeypatch):
    """Each test's tap runs keep rotated tokens in a state directory of that test alone (the
    tap's default token store is under $XDG_STATE_HOME), never in the user's."""
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path_factory.mktemp("xdg-state")))


@pytest.fixture(scope="session")
def company():
    """A realistic company for read-only tests: do not mutate it (use `make_company`)."""
    with Emulator(seed=7, scale=800, realms=1) as emu:
        yield emu


@pytest.fixture
def make_company():
    """A factory of private companies, for tests that change data or switch on behaviours."""
    started: list[Emulator] = []

    def make(**kwargs) -> Emulator:
        kwargs.setdefault("seed", 11)
        kwargs.setdefault("scale", 300)
        emu = Emulator(**kwargs)
        emu.start()
        started.append(emu)
        return emu

    yield make
    for emu in started:
        emu.stop()


@pytest.fixture(scope="session")
def postgres():
    """A private PostgreSQL server. `make test` installs Debian's server when it is missing;
    where that cannot be done the tests skip, unless TAP_QUICKBOOKS_TEST_REQUIRE_POSTGRES is set
    (CI sets it: there a missing server is a failure, not a skip)."""
    pg_bin = P.postgres_bin()
    problem = P.postgres_problem() if pg_bin else "PostgreSQL is not installed (no initdb)"
    if problem:
        if os.environ.get("TAP_QUICKBOOKS_TEST_REQUIRE_POSTGRES"):
            pytest.fail(f"a private PostgreSQL server cannot start: {problem}")
        pytest.skip(f"{problem}; `make test` installs Debian's postgresql package")
    server = P.Postgres(pg_bin).start()
    yield server
    server.stop()


@pytest.fixture(params=["sqlite", "postgres"])
def store_url(request, tmp_path) -> str:
    """The webhook event store, each test on both: a SQLite file, and a fresh database of the
    private PostgreSQL server."""
    if request.param == "sqlite":
        return str(tmp_path / "events.sqlite3")
    server = request.getfixturevalue("postgres")
    name = P.unique_suffix("webhooks").replace("-", "_")
    server.create_database(name)
    return f"postgresql://{server.user}@127.0.0.1:{server.port}/{name}"


@pytest.fixture(scope="session")
def system_db(tmp_path_factory) -> Path:
    """Meltano's system database for this session: state lives there, as in any Meltano
    project, apart from the developer's own `.meltano/meltano.db`."""
    return tmp_path_factory.mktemp("meltano") / "meltano.db"


@pytest.fixture(scope="session")
def meltano_project(system_db) -> Path:
    """Meltano in its own environment and the project's plugins installed: every plugin in
    meltano.yml is a custom definition, so Meltano Hub is never asked."""
    demo.ensure_meltano()
    P.meltano("install", env=P.meltano_env({}, system_db), timeout=1200)
    demo.compile_plugins()  # each run starts a tap and a target: no compiling their imports
    return P.ROOT
