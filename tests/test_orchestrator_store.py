"""The orchestrator's store on both backends: a SQLite file and a PostgreSQL database
(`QBO_ORCH_STORE_URL`, runs on many machines). The Postgres cases start a private server
(tests/conftest.py) and skip cleanly without one, unless TAP_QUICKBOOKS_TEST_REQUIRE_POSTGRES=1.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import re
import subprocess
import sys
import threading
import time
import typing as t
from types import SimpleNamespace

import dagster as dg
import pytest

from qbo_emulator import Emulator
from quickbooks_orchestrator import definitions as D
from quickbooks_orchestrator.liveness import Heartbeat, fail_dead_runs, resumed_cursor
from quickbooks_orchestrator.runner import Settings, sync_companies
from quickbooks_orchestrator.store import Store
from tests import pipelines as P
from tests.any_day import libfaketime
from tests.hostile import TcpLink
from tests.test_orchestrator import usage_since
from tests.test_tap_sync import select

LOG = logging.getLogger("test_orchestrator_store")

WHEN = dt.datetime(2026, 3, 31, 23, 59, tzinfo=dt.UTC)


def test_companies_state_and_tokens_are_kept(store_url) -> None:
    store = Store(store_url)
    store.add_company("2", "first-2")
    store.add_company("1", "first-1")
    assert [c.realm_id for c in store.companies()] == ["1", "2"]
    assert "first-1" not in repr(store.companies())  # a token never reaches a log
    store.save_state("1", {"bookmarks": {"a": 1}})
    store.save_state("1", {"bookmarks": {"a": 2}})
    assert store.state("1") == {"bookmarks": {"a": 2}}
    assert store.state("2") == {}
    assert store.save_token("1", "rotated-1")
    assert store.token("1") == "rotated-1"
    # Added again (re-authorized): its new token, not the older rotation.
    store.add_company("1", "reauthorized-1")
    assert store.token("1") is None
    assert store.company("1").refresh_token == "reauthorized-1"
    store.remove_company("2")
    assert store.company("2") is None
    with pytest.raises(ValueError, match="needs a realm_id and a refresh token"):
        store.add_company("3", " ")


def test_the_store_keeps_the_newest_token_whichever_run_writes_last(store_url) -> None:
    store = Store(store_url)
    store.add_company("1", "first-1")
    added = dt.datetime.now(dt.UTC) - dt.timedelta(days=5)
    backdate(store, "companies", "added_at", added)
    assert store.save_token("1", "rotated-1", added + dt.timedelta(hours=25))
    # A run found dead reaches the store again, or a machine's token file still holds the
    # token it received months ago: neither puts an older token back.
    assert not store.save_token("1", "rotated-0", added + dt.timedelta(hours=1))
    assert store.token("1") == "rotated-1"
    assert store.save_token("1", "rotated-2", added + dt.timedelta(hours=49))
    assert store.token("1") == "rotated-2"
    # Another timezone is the same instant: compared as UTC.
    later = (added + dt.timedelta(hours=73)).astimezone(dt.timezone(dt.timedelta(hours=-8)))
    assert store.save_token("1", "rotated-3", later)
    assert not store.save_token("1", "rotated-2b", added + dt.timedelta(hours=72, minutes=59))
    assert store.token("1") == "rotated-3"
    # Received "next year" (the clock was set back since): taken as received now, so the
    # tokens received after it are kept, not held back for a year.
    assert store.save_token("1", "rotated-4", dt.datetime.now(dt.UTC) + dt.timedelta(days=365))
    assert store.save_token("1", "rotated-5")
    assert store.token("1") == "rotated-5"
    # Re-authorized: no token of the chain before it is kept, however new it looked.
    store.add_company("1", "reauthorized-1")
    assert not store.save_token("1", "rotated-5", dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1))
    assert store.token("1") is None
    assert store.save_token("1", "rotated-r1")  # received now: after the re-authorization
    assert store.token("1") == "rotated-r1"
    # Rows written before the store kept microseconds (whole seconds) compare as times too.
    second = (dt.datetime.now(dt.UTC) - dt.timedelta(days=3)).replace(microsecond=0)
    for table, column in (("tokens", "updated_at"), ("companies", "added_at")):
        backdate(store, table, column, second, timespec="seconds")
    assert not store.save_token("1", "rotated-r0", second - dt.timedelta(microseconds=1))
    assert store.save_token("1", "rotated-r2", second + dt.timedelta(microseconds=1))
    assert store.token("1") == "rotated-r2"


def test_a_token_of_before_a_re_authorization_is_not_kept_when_the_two_race(pg_url):
    """On PostgreSQL a token's save reads the company's added_at as it begins: an `add`
    committing meanwhile (it deletes the token the save then no longer conflicts with) must
    not leave the replaced chain's token in the store. SQLite runs writes one at a time."""
    import psycopg

    store = Store(pg_url)
    store.add_company("1", "first")
    assert store.save_token("1", "rotated")
    received = dt.datetime.now(dt.UTC)
    saved: list[bool] = []
    with psycopg.connect(pg_url) as adding:  # an `add` half done: not committed
        adding.execute(
            "update companies set added_at = %s where realm_id = '1'",
            ((received + dt.timedelta(seconds=1)).isoformat(timespec="microseconds"),),
        )
        adding.execute("delete from tokens where realm_id = '1'")
        saving = threading.Thread(
            target=lambda: saved.append(store.save_token("1", "old", received))
        )
        saving.start()
        with psycopg.connect(pg_url, autocommit=True) as watching:
            deadline = time.monotonic() + 30
            while not watching.execute(  # the save waits on the row the add deleted
                "select 1 from pg_stat_activity where wait_event_type = 'Lock' "
                "and query like 'insert into tokens%'"
            ).fetchone():
                assert time.monotonic() < deadline, "the save never waited for the add"
                time.sleep(0.05)
    saving.join(timeout=30)  # the add committed
    assert saved == [False]
    assert store.token("1") is None


def backdate(
    store: Store, table: str, column: str, when: dt.datetime, timespec: str = "microseconds"
) -> None:
    """Set every row's time as the store writes it (before microseconds: ``seconds``)."""
    with store._db() as db:
        db.execute(f"update {table} set {column} = ?", (when.isoformat(timespec=timespec),))


def test_a_company_s_state_is_kept_only_by_the_run_holding_it(store_url) -> None:
    store = Store(store_url)
    assert store.save_state("1", {"bookmarks": {"a": 1}})  # no lease asked: always kept
    assert store.take_lease("1", "run-a", 3600) is None
    assert store.save_state("1", {"bookmarks": {"a": 2}}, lease="run-a")
    assert store.state("1") == {"bookmarks": {"a": 2}}
    # run-a is found dead: its leases freed, its retry takes the company.
    store.release_leases("run-a")
    assert not store.save_state("1", {"bookmarks": {"a": 3}}, lease="run-a")
    assert store.take_lease("1", "run-retry", 3600) is None
    assert not store.save_state("1", {"bookmarks": {"a": 3}}, lease="run-a")
    assert store.save_state("1", {"bookmarks": {"a": 4}}, lease="run-retry")
    assert store.state("1") == {"bookmarks": {"a": 4}}
    # A company never held by anyone: a run that asks for its lease keeps nothing.
    assert not store.save_state("2", {"bookmarks": {"b": 1}}, lease="run-retry")
    assert store.state("2") == {}


def test_one_run_holds_a_company_until_it_releases_or_its_lease_ends(store_url) -> None:
    store = Store(store_url)
    assert store.take_lease("1", "run-a", 60) is None
    assert store.take_lease("1", "run-a", 60) is None  # its own again (a step retry)
    assert store.take_lease("1", "run-b", 60) == "run-a"
    store.release_lease("1", "run-b")  # not its lease: nothing changes
    assert store.take_lease("1", "run-b", 60) == "run-a"
    store.release_lease("1", "run-a")
    assert store.take_lease("1", "run-b", 0.2) is None
    time.sleep(0.3)  # a run killed without cleanup: its lease ends
    assert store.take_lease("1", "run-c", 60) is None


def test_a_run_is_alive_while_it_beats_and_its_leases_go_when_found_dead(store_url) -> None:
    store = Store(store_url)
    assert store.beat("run-a", 60)
    assert store.beat("run-b", 60)
    left = store.beats_left(["run-a", "run-b", "run-c"])
    assert set(left) == {"run-a", "run-b"}  # run-c never beat
    assert all(55 < seconds <= 60 for seconds in left.values())
    assert store.beats_left(["run-a"]).keys() == {"run-a"}  # only the runs asked about
    assert store.renew_beat("run-b", 120)
    assert store.beats_left(["run-b"])["run-b"] > 115
    assert store.take_lease("1", "run-b", 3600) is None
    assert store.take_lease("2", "run-b", 3600) is None
    store.release_leases("run-b")  # found dead
    store.claim_dead("run-b", ahead=float("inf"))
    assert store.take_lease("1", "run-retry", 60) is None  # its retry takes them at once
    assert store.take_lease("2", "run-retry", 60) is None
    assert not store.renew_beat("run-b", 60), "a run found dead learns it at its next beat"
    # A step retry of it (its process was killed) cannot beat it alive again.
    assert not store.beat("run-b", 60)
    assert store.beats_left(["run-b"])["run-b"] <= 0
    # Claimed again: a sensor that stopped between marking a run and failing it goes on.
    assert store.claim_dead("run-b")
    assert not store.claim_dead("run-a"), "a run that beats is alive"
    assert store.claim_dead("run-never"), "one that never beat is marked too"
    assert not store.beat("run-never", 60), "and then cannot begin"
    store.beat("run-old", -2 * 86_400)
    store.forget_beats(86_400)
    kept = {"run-a", "run-b", "run-never"}
    assert store.beats_left(["run-a", "run-b", "run-never", "run-old"]).keys() == kept


# A run on another machine: its clock `skew` seconds off this one's (libfaketime), it takes
# company 1's lease and beats, each for `seconds`, in a store shared with this machine.
SKEWED_RUN = """
import json, sys, time
from quickbooks_orchestrator.store import Store
url, seconds = sys.argv[1], float(sys.argv[2])
store = Store(url)
assert store.take_lease("1", "run-elsewhere", seconds) is None
store.beat("run-elsewhere", seconds)
print(json.dumps([time.time()]))
"""

# A run on another machine keeps the refresh token its tap received `ago` seconds before now
# (by its clock).
SKEWED_TOKEN = """
import datetime as dt, json, sys, time
from quickbooks_orchestrator.store import Store
url, token, ago = sys.argv[1], sys.argv[2], float(sys.argv[3])
received = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=ago)
kept = Store(url).save_token("1", token, received)
print(json.dumps([kept, time.time()]))
"""


@pytest.fixture
def pg_url(postgres) -> str:
    """A fresh database of the private PostgreSQL server, for a store shared by machines."""
    name = P.unique_suffix("orchestrator").replace("-", "_")
    postgres.create_database(name)
    return f"postgresql://{postgres.user}@127.0.0.1:{postgres.port}/{name}"


@pytest.fixture
def elsewhere(pg_url):
    """A store on the private PostgreSQL, and a way to run a script on a machine whose clock
    is `skew` seconds off this one's; it prints what it found, then its time."""
    lib = libfaketime()
    if lib is None:
        pytest.skip("libfaketime is not installed (Debian: apt-get install faketime)")
    url = pg_url
    # Under tests.any_day this process's clock is faked already: the run's is off from it.
    here = int(os.environ["FAKETIME"]) if os.environ.get("LD_PRELOAD") == lib else 0

    def run(skew: int, script: str, *args: str) -> t.Any:
        env = {**os.environ, "LD_PRELOAD": lib, "FAKETIME": f"{here + skew:+d}"}
        env["FAKETIME_DONT_FAKE_MONOTONIC"] = "1"
        done = subprocess.run(
            [sys.executable, "-c", script, url, *args],
            env=env,
            check=False,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0, done.stderr
        *found, its_time = json.loads(done.stdout)
        assert abs(its_time - time.time() - skew) < 30, "its clock was not off"
        return found[0] if found else None

    return SimpleNamespace(store=Store(url), run=run)


@pytest.mark.parametrize("skew", [-600, 600], ids=["behind", "ahead"])
def test_leases_and_beats_hold_for_their_time_whatever_each_machines_clock_says(
    elsewhere, skew
) -> None:
    """By the store's clock: a machine 10 minutes behind would otherwise hold leases and
    beats that ran out before it took them (its live run taken for dead, its company given
    to a second run on the same token chain); one ahead, leases of dead runs for 10 minutes
    more."""
    store = elsewhere.store
    seconds = 300 if skew < 0 else 2
    elsewhere.run(skew, SKEWED_RUN, str(seconds))
    if skew < 0:
        assert store.take_lease("1", "run-here", 60) == "run-elsewhere"
        assert 290 < store.beats_left(["run-elsewhere"])["run-elsewhere"] <= 300
        assert not store.claim_dead("run-elsewhere"), "a live run is not taken for dead"
    else:
        time.sleep(2.5)  # the run died: its lease and beat end on time all the same
        assert store.beats_left(["run-elsewhere"])["run-elsewhere"] <= 0
        assert store.take_lease("1", "run-here", 60) is None
        assert store.claim_dead("run-elsewhere")


def test_the_newest_token_is_kept_whatever_each_machines_clock_says(elsewhere) -> None:
    """Judged by its own clock, a machine two days ahead would hold back every other
    machine's tokens for two days (theirs the store's, soon dead: a lockout), and one two
    days behind would never have its tokens kept (left only in its own token file)."""
    store, two_days = elsewhere.store, 2 * 86_400
    store.add_company("1", "first")
    assert elsewhere.run(two_days, SKEWED_TOKEN, "from-ahead", "0")
    assert store.save_token("1", "here-later"), "held back by the machine ahead"
    assert elsewhere.run(-two_days, SKEWED_TOKEN, "from-behind", "0"), "the machine behind's"
    assert store.token("1") == "from-behind"
    # It came after this one, received a minute ago here: that is older and not kept.
    minute_ago = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1)
    assert not store.save_token("1", "here-earlier", minute_ago)
    assert store.token("1") == "from-behind"
    # Re-authorized (by this machine): the machine ahead's token of before is not kept.
    store.add_company("1", "reauthorized")
    assert not elsewhere.run(two_days, SKEWED_TOKEN, "from-ahead-before", "60")
    assert store.token("1") is None


def test_a_heartbeat_beats_while_its_block_runs_and_outlasts_it(tmp_path) -> None:
    store = Store(tmp_path / "store.sqlite")

    def left() -> float:
        return store.beats_left(["run-a"])["run-a"]

    with Heartbeat(store, "run-a", dead_after=4, retried_after=30):
        time.sleep(2.5)  # beats every 0.4 s: never near running out
        assert left() > 2
    assert 3 < left() <= 4, "a run's end is recorded before its beat runs out"
    with Heartbeat(store, "run-a", dead_after=4, retried_after=30) as beat:
        beat.hold(10)  # a step retry that waits 10 s
    assert 13 < left() <= 14
    beat = Heartbeat(store, "run-a", dead_after=4, retried_after=30)
    with pytest.raises(OSError, match="retries"), beat:
        raise OSError("a fault the retry policy retries")
    assert 33 < left() <= 34
    with pytest.raises(dg.Failure), Heartbeat(store, "run-a", dead_after=4, retried_after=30):
        raise dg.Failure("refused", allow_retries=False)
    assert 3 < left() <= 4
    with Heartbeat(store, "run-a", dead_after=4) as beat:
        store.claim_dead("run-a", ahead=float("inf"))  # taken for dead while alive
        assert beat.dead.wait(10)
    with Heartbeat(store, "run-a", dead_after=4) as beat:  # a step retry of it
        assert beat.dead.is_set(), "a run found dead learns it before it begins"
    assert left() <= 0
    assert not beat.fenced


class Unreachable(Store):
    """A store this machine stops reaching once the run has begun."""

    def renew_beat(self, run_id: str, seconds: float) -> bool:
        raise OSError("connection timed out")


def test_a_heartbeat_that_cannot_reach_the_store_stops_its_run_before_the_sensor_would(
    tmp_path, caplog
) -> None:
    store = Unreachable(tmp_path / "store.sqlite")
    log = logging.getLogger("test_heartbeat")
    started = time.monotonic()
    with caplog.at_level(logging.WARNING), Heartbeat(store, "run-a", dead_after=2, log=log) as beat:
        assert beat.dead.wait(10)
        took = time.monotonic() - started
    assert beat.fenced
    # 0.8 of its 2 s, at its beats (every 0.2 s); the sensor's verdict could come at 2 s.
    assert 1.6 <= took < 2.0 + 1.0
    warned = [r.getMessage() for r in caplog.records if r.name == "test_heartbeat"]
    assert len(warned) == 2, warned  # once, not at every beat; then the fence
    assert "stops its tap" in warned[0]
    assert "connection timed out" in warned[0]
    assert "No beat of run run-a reached the store for 2 s: it stops its tap" in warned[1]


def test_a_heartbeat_whose_store_hangs_behind_a_network_cut_stops_its_run_in_time(
    postgres, caplog
) -> None:
    """A cut that answers nothing (no refusal, no reset: each call waits out libpq's connect
    timeout, 10 s, or for ever mid-query) fences the run at 0.8 of its 3 s all the same, and
    the step's end is not held up by the beat still waiting on the store."""
    name = P.unique_suffix("cut").replace("-", "_")
    postgres.create_database(name)
    log = logging.getLogger("test_heartbeat")
    with TcpLink(postgres.port) as link:
        store = Store(f"postgresql://{postgres.user}@127.0.0.1:{link.address}/{name}")
        with caplog.at_level(logging.WARNING):
            with Heartbeat(store, "run-a", dead_after=3, log=log) as beat:
                link.cut.set()
                started = time.monotonic()
                assert beat.dead.wait(10)
                took = time.monotonic() - started
            ended = time.monotonic() - started
        assert beat.fenced
        assert took < 2.4 + 0.5, took  # its last beat got through before the cut
        assert ended - took < 0.3 + 0.5, ended  # a tenth of dead_after for the stuck beat
        warned = [r.getMessage() for r in caplog.records if r.name == "test_heartbeat"]
        assert warned == [
            "No beat of run run-a reached the store for 2 s: it stops its tap (on its final "
            "state) before dead_run_sensor could take it for dead."
        ]
    # The run is still alive in the store, for at most what its last beat gave it.
    left = Store(f"postgresql://{postgres.user}@127.0.0.1:{postgres.port}/{name}").beats_left(
        ["run-a"]
    )
    assert left["run-a"] < 3 - took + 0.5


def test_the_dead_run_sensor_waits_two_beats_after_a_pause() -> None:
    cursor, judge = resumed_cursor(None, 300, 1000.0, 15)
    assert not judge  # its first tick: the runs may not have beaten since the daemon started
    cursor, judge = resumed_cursor(cursor, 300, 1030.0, 15)
    assert not judge
    cursor, judge = resumed_cursor(cursor, 300, 1060.0, 15)
    assert judge  # two beats (30 s each) since it came back
    cursor, judge = resumed_cursor(cursor, 300, 1075.0, 15)
    assert judge
    cursor, judge = resumed_cursor(cursor, 300, 5000.0, 15)  # the machine slept
    assert not judge
    cursor, judge = resumed_cursor(cursor, 300, 5015.0, 15)
    assert not judge
    cursor, judge = resumed_cursor(cursor, 300, 5061.0, 15)
    assert judge
    # Ticks a while apart are not a pause: 4 ticks of 15 s when dead_after is short.
    cursor, judge = resumed_cursor(cursor, 3, 5100.0, 15)
    assert judge
    cursor, judge = resumed_cursor(cursor, 3, 5200.0, 15)
    assert not judge


def test_usage_and_finished_companies_add_up_per_run(store_url) -> None:
    store = Store(store_url)
    store.record_usage("run-a", "1", 10, WHEN)
    store.record_usage("run-a", "1", 5, WHEN)  # a retried step adds its calls
    store.record_usage("run-a", "2", 7, WHEN)
    store.record_usage("run-b", "1", 100, WHEN + dt.timedelta(minutes=2))  # April
    assert store.usage("2026-03") == 22
    assert store.usage("2026-03", "1") == 15
    assert store.usage_by_company("2026-03") == {"1": 15, "2": 7}
    assert store.usage("2026-04") == 100
    store.mark_finished("run-a", ["1"])
    store.mark_finished("run-a", ["1", "2"])
    assert store.finished("run-a") == {"1", "2"}
    assert store.finished("run-b") == set()


def test_the_settings_take_a_postgres_url(store_url, tmp_path) -> None:
    settings = Settings.from_env({"QBO_ORCH_HOME": str(tmp_path), "QBO_ORCH_STORE_URL": store_url})
    settings.store.add_company("1", "first-1")
    assert [c.realm_id for c in Store(store_url).companies()] == ["1"]


def test_an_unreachable_postgres_store_is_one_sentence() -> None:
    with pytest.raises(ValueError, match=r"^The orchestrator's store \(QBO_ORCH_STORE_URL\)") as e:
        Store("postgresql://someone:s3cret@127.0.0.1:1/nowhere")
    assert "s3cret" not in str(e.value)


def test_a_shard_run_keeps_each_company_in_the_store(store_url, tmp_path) -> None:
    with Emulator(seed=25, scale=20, realms=2, now=time.time() - 600) as emu:
        emu.clock.advance(seconds=600)
        app = {k: v for k, v in emu.tap_config().items() if k not in ("realm_id", "refresh_token")}
        settings = Settings(
            home=tmp_path / "home",
            app_config=app,
            catalog=select(emu.tap_config(), ["customers", "sync_status"]),
            shards=1,
            store_url=store_url,
        )
        for realm in emu.realm_ids:
            settings.store.add_company(realm, emu.refresh_token(realm))
        started = dt.datetime.now(dt.UTC)
        result = sync_companies(settings, "shard-000", emu.realm_ids, "run-1", LOG)
    store = Store(store_url)
    used = usage_since(store, started)
    for realm in emu.realm_ids:
        assert result.companies[realm].finished
        assert result.companies[realm].metered == used[realm]
        partitions = store.state(realm)["bookmarks"]["customers"]["partitions"]
        assert [p["context"]["realm_id"] for p in partitions] == [realm]
        assert store.token(realm)
    assert store.finished("run-1") == set(emu.realm_ids)


class FakeInstance:
    """What fail_dead_runs asks of Dagster's instance, over runs made up here."""

    def __init__(self, runs: dict[str, tuple[str, float, float]]) -> None:
        now = time.time()
        # run_id: (job name, seconds since it started, since its last event)
        self.runs = {
            run_id: dg.DagsterRun(job_name=job, run_id=run_id, status=dg.DagsterRunStatus.STARTED)
            for run_id, (job, _, _) in runs.items()
        }
        self.started = {run_id: now - ago for run_id, (_, ago, _) in runs.items()}
        self.logged = {run_id: now - ago for run_id, (_, _, ago) in runs.items()}
        self.failed: dict[str, str] = {}

    def get_run_records(self, filters):
        assert filters.statuses == [dg.DagsterRunStatus.STARTED]
        return [
            SimpleNamespace(dagster_run=r, start_time=self.started[i]) for i, r in self.runs.items()
        ]

    def get_records_for_run(self, run_id, limit, ascending):
        assert (limit, ascending) == (1, False)
        return SimpleNamespace(records=[SimpleNamespace(timestamp=self.logged[run_id])])

    def get_run_by_id(self, run_id):
        return self.runs[run_id]

    def report_engine_event(self, message, run):
        pass

    def report_run_failed(self, run, message):
        self.failed[run.run_id] = message


def test_dead_runs_are_those_whose_beats_ran_out_or_that_never_beat_and_fell_silent(tmp_path):
    store = Store(tmp_path / "store.sqlite")
    job = D.quickbooks_sync.name
    instance = FakeInstance(
        {
            "ran-out": (job, 900, 900),
            "claimed-not-failed": (job, 900, 900),
            "beating": (job, 900, 900),
            "never-beat-silent": (job, 700, 700),
            "never-beat-waiting-for-a-slot": (job, 700, 100),
            "never-beat-just-started": (job, 100, 100),
            "another-job": ("someone_elses_job", 7000, 7000),
        }
    )
    store.beat("ran-out", -1)
    store.beat("claimed-not-failed", -1)
    # A sensor that stopped between marking this run dead and failing it.
    assert store.claim_dead("claimed-not-failed")
    store.beat("beating", 60)
    assert not store.claim_dead("beating"), "a run that beats is not claimed"
    assert store.take_lease("1", "ran-out", 3600) is None
    said = fail_dead_runs(instance, store, 300, D.is_shard_run)
    failed = {"ran-out", "claimed-not-failed", "never-beat-silent"}
    assert set(said) == set(instance.failed) == failed
    assert re.search(r"its last beat ran out \d+ s ago", said["ran-out"])
    assert "has not beaten nor logged anything for 600 s" in said["never-beat-silent"]
    assert store.take_lease("1", "its-retry", 60) is None
    left = store.beats_left(["ran-out", "beating"])
    assert left["ran-out"] <= 0 < left["beating"]
    assert not store.beat("ran-out", 60), "its step retry cannot beat it alive again"
    assert not store.beat("never-beat-silent", 60), "nor begin, had it never beaten"
