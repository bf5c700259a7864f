"""The orchestrator under a real ``dagster-daemon`` (processes, as ``dagster dev`` runs them),
with the project's own ``dagster.yaml``, when the machine dies in the middle of a run.

A run of one shard (two companies) is launched with ``dagster job launch``; while the tap
waits on QBO for one company, the daemon's whole process group (daemon, code server, run
worker, step, tap, loader) is SIGKILLed: a reboot. Dagster alone leaves that run STARTED for
ever, and with one run per shard allowed the shard would never be synced again. Checked:
after the daemon is started again, ``dead_run_sensor`` fails the run whose beats ran out,
the daemon's run retry syncs the shard, and both companies equal their ground truth.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import dagster as dg
import pytest

from qbo_emulator import Emulator
from quickbooks_orchestrator import definitions as D
from quickbooks_orchestrator.runner import Settings
from tests import pipelines as P
from tests.test_orchestrator import loaded
from tests.test_tap_sync import select, truth

STREAMS = ["customers", "items"]
SUCCESS = dg.DagsterRunStatus.SUCCESS
BIN = Path(sys.executable).parent
PROJECT_YAML = Path(D.__file__).parent / "dagster.yaml"
LAUNCH = [str(BIN / "dagster"), "job", "launch", "-m", "quickbooks_orchestrator.definitions"]
LAUNCH += ["-j", "quickbooks_sync"]


def processes() -> dict[int, tuple[int, int, str]]:
    """Every live process: pid -> (parent pid, process group, command line)."""
    found = {}
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                fields = (proc / "stat").read_text().rsplit(")", 1)[1].split()
                command = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            except OSError:
                continue
            if fields[0] != "Z":
                found[int(proc.name)] = (int(fields[1]), int(fields[2]), command)
    return found


def group_alive(pgid: int) -> list[int]:
    """The processes still in this process group."""
    return [pid for pid, (_, group, _) in processes().items() if group == pgid]


def wait_for(what: str, check, timeout: float):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if found := check():
            return found
        time.sleep(0.5)
    raise AssertionError(f"not within {timeout:.0f} s: {what}")


@pytest.fixture
def machine(tmp_path, request):
    """The emulator, a store of two companies and a daemon's environment
    (``QBO_ORCH_DEAD_AFTER`` 3 s, or what the test's ``machine`` parameter says)."""
    dead_after = getattr(request, "param", {}).get("dead_after", 3)
    held = threading.Event()  # a request of the first company has reached QBO
    release = threading.Event()
    with Emulator(seed=31, scale=40, realms=2, now=time.time() - 600) as emu:
        emu.clock.advance(seconds=600)
        slow = emu.realm_ids[0]

        def hang(realm: str, kind: str, number: int) -> None:
            if realm == slow and not release.is_set():
                held.set()
                release.wait(120)

        emu.add_hook(hang)
        app = {k: v for k, v in emu.tap_config().items() if k not in ("realm_id", "refresh_token")}
        (tmp_path / "app.json").write_text(json.dumps(app))
        shutil.copy(select(emu.tap_config(), STREAMS), tmp_path / "catalog.json")
        dagster_home = tmp_path / "dagster"
        dagster_home.mkdir()
        shutil.copy(PROJECT_YAML, dagster_home / "dagster.yaml")
        env = {
            **os.environ,
            "DAGSTER_HOME": str(dagster_home),
            "QBO_ORCH_HOME": str(tmp_path / "home"),
            "QBO_ORCH_APP_CONFIG": str(tmp_path / "app.json"),
            "QBO_ORCH_CATALOG": str(tmp_path / "catalog.json"),
            "QBO_ORCH_SHARDS": "1",
            "QBO_ORCH_RETRY_DELAY": "1",
            "QBO_ORCH_DEAD_AFTER": str(dead_after),
            # No scheduled run in the way (the assertions would allow one, all the same).
            "QBO_ORCH_SCHEDULE": "0 0 1 1 *",
        }
        settings = Settings.from_env(env)
        for realm in emu.realm_ids:
            settings.store.add_company(realm, emu.refresh_token(realm))
        daemons: list[subprocess.Popen] = []

        def start_daemon(log: str) -> subprocess.Popen:
            daemon = subprocess.Popen(
                [str(BIN / "dagster-daemon"), "run", "-m", "quickbooks_orchestrator.definitions"],
                env=env,
                stdout=(tmp_path / log).open("w"),
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own group: a "machine" to kill as one
            )
            daemons.append(daemon)
            return daemon

        old = os.environ.get("DAGSTER_HOME")
        os.environ["DAGSTER_HOME"] = str(dagster_home)
        try:
            with dg.DagsterInstance.get() as instance:
                assert D.sync_partitions(instance, settings) == (["shard-000"], [])
                yield {
                    "emu": emu,
                    "env": env,
                    "settings": settings,
                    "instance": instance,
                    "start_daemon": start_daemon,
                    "held": held,
                    "release": release,
                    "home": tmp_path,
                }
        finally:
            release.set()
            for daemon in daemons:
                if group_alive(daemon.pid):
                    os.killpg(daemon.pid, signal.SIGKILL)
                daemon.wait(30)
            if old is None:
                os.environ.pop("DAGSTER_HOME", None)
            else:
                os.environ["DAGSTER_HOME"] = old


def launch_and_hold(machine) -> tuple[subprocess.Popen, dg.DagsterRun]:
    """The daemon started and the shard's run launched, its tap held by QBO."""
    instance = machine["instance"]
    daemon = machine["start_daemon"]("daemon-1.log")
    tags = {"dagster/partition": "shard-000", D.SHARD_TAG: "shard-000"}
    launched = subprocess.run(
        [*LAUNCH, "--tags", json.dumps(tags)],
        check=False,
        env=machine["env"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert launched.returncode == 0, launched.stderr[-2000:]
    assert machine["held"].wait(120), "the run's tap never reached QBO"
    (run,) = instance.get_runs()
    assert instance.get_run_by_id(run.run_id).status == dg.DagsterRunStatus.STARTED
    return daemon, run


def unsynced(emu, settings) -> list[tuple[str, str]]:
    """The (company, stream)s whose loaded rows differ from their ground truth."""
    differ = []
    for realm in emu.realm_ids:
        for stream in STREAMS:
            rows = truth(emu, realm, stream).values()
            expected = {P.truth_key(stream, r, realm): r for r in rows}
            assert expected, (realm, stream)
            if loaded(settings.home, realm, stream) != expected:
                differ.append((realm, stream))
    return differ


def assert_synced_and_free(emu, settings) -> None:
    """Both companies equal their ground truth, and no run holds them."""
    assert not unsynced(emu, settings)
    for realm in emu.realm_ids:
        assert settings.store.take_lease(realm, "probe", 60) is None
        settings.store.release_lease(realm, "probe")


def test_a_run_whose_machine_died_is_failed_and_its_shard_synced_again(machine) -> None:
    emu, settings, instance = machine["emu"], machine["settings"], machine["instance"]
    first, run = launch_and_hold(machine)

    os.killpg(first.pid, signal.SIGKILL)  # the machine goes: every process of the daemon's
    first.wait(30)
    wait_for("every process of the dead machine gone", lambda: not group_alive(first.pid), 30)
    machine["release"].set()
    time.sleep(4)  # past QBO_ORCH_DEAD_AFTER: the run's last beat has run out
    # Dagster alone keeps it STARTED: nothing is left to say otherwise.
    assert instance.get_run_by_id(run.run_id).status == dg.DagsterRunStatus.STARTED

    machine["start_daemon"]("daemon-2.log")
    dead = wait_for(
        "the dead run marked failed",
        lambda: (
            (r := instance.get_run_by_id(run.run_id)).status == dg.DagsterRunStatus.FAILURE and r
        ),
        120,
    )
    said = [
        e.dagster_event.message
        for e in instance.all_logs(dead.run_id)
        if e.dagster_event and e.dagster_event.message
    ]
    assert any("stopped showing itself alive" in m for m in said), said[-5:]

    def retried():
        of_it = dg.RunsFilter(tags={"dagster/parent_run_id": run.run_id})
        return [
            r for r in instance.get_runs(filters=of_it) if r.status == dg.DagsterRunStatus.SUCCESS
        ]

    (retry,) = wait_for("the run retried and the retry succeeded", retried, 120)
    assert retry.tags.get("dagster/partition") == "shard-000"
    assert_synced_and_free(emu, settings)  # nothing of the dead run holds its companies
    assert settings.store.beats_left([run.run_id])[run.run_id] <= 0  # found dead


@pytest.mark.full
@pytest.mark.parametrize(
    ("killed", "machine"),
    [
        # Its beats outlast the step retry's wait (up to 60 s): the same run syncs the shard.
        ("step", {"dead_after": 90}),
        # Mostly they do not: dead_run_sensor fails the run during the wait, and its run retry
        # (or the step retry, should it start first and take the leases) syncs the shard.
        ("step", {"dead_after": 3}),
        ("run worker", {"dead_after": 3}),
    ],
    indirect=["machine"],
    ids=["step-retried", "step-outwaited", "run-worker"],
)
def test_a_run_whose_step_or_worker_process_died_leaves_one_tap_and_its_shard_synced(
    machine, killed
) -> None:
    """Killed alone (out of memory, say), unlike the whole machine: the step's process, which
    Dagster's step retry runs again; or the run's worker, which the code server marks failed
    while its step lives on and finishes. Either way no two taps are seen at once (sampled
    every half second; a killed step's tap stops at its next line, its reader gone), and the
    shard ends synced and free."""
    emu, settings, instance = machine["emu"], machine["settings"], machine["instance"]
    daemon, run = launch_and_hold(machine)
    found = processes()

    def taps_in(found: dict) -> list[int]:
        return [p for p, (_, g, c) in found.items() if g == daemon.pid and "tap-quickbooks" in c]

    (tap,) = taps_in(found)
    step = found[tap][0]
    victim = step if killed == "step" else found[step][0]
    assert "spawn_main" in found[victim][2], found[victim]
    most = [1]

    def taps(found: dict) -> list[int]:
        running = taps_in(found)
        most[0] = max(most[0], len(running))
        return running

    os.kill(victim, signal.SIGKILL)
    machine["release"].set()
    wait_for("the killed step's tap gone", lambda: tap not in taps(processes()), 60)

    def settled():
        # A run marked failed may still have a step at work (the worker's case): it is done
        # once no run worker, step, tap or loader is left.
        working = ("spawn_main", "tap-quickbooks", "jsonl_loader")
        found = processes()
        taps(found)
        busy = [c for _, g, c in found.values() if g == daemon.pid and any(w in c for w in working)]
        runs = instance.get_runs()
        ended = (SUCCESS, dg.DagsterRunStatus.FAILURE)
        # Synced too: a run retry may not be made yet when the failed run's processes end.
        if busy or not all(r.status in ended for r in runs):
            return None
        try:
            return not unsynced(emu, settings) and runs
        except ValueError:  # a line being written by a run's loader that began meanwhile
            return None

    runs = wait_for("the shard synced, and every run and process of it ended", settled, 240)
    assert most[0] == 1, "two taps synced the shard's companies at once"
    status = instance.get_run_by_id(run.run_id).status
    if killed == "step" and machine["env"]["QBO_ORCH_DEAD_AFTER"] == "90":
        assert status == SUCCESS, "the step retry synced the shard in the same run"
        assert len(runs) == 1
    elif killed == "step" and status == dg.DagsterRunStatus.FAILURE:
        said = [
            e.dagster_event.message or "" for e in instance.all_logs(run.run_id) if e.dagster_event
        ]
        assert any("stopped showing itself alive" in m for m in said), said[-5:]
    elif killed == "step":  # the retry's wait (jittered) was shorter than the beat's time left
        assert status == SUCCESS
    else:
        assert status == dg.DagsterRunStatus.FAILURE, "the code server marks it failed"
    assert_synced_and_free(emu, settings)
