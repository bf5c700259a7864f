"""Dagster's step retries of a shard run, in-process (``dg.materialize``) against the emulator.

A shard of two companies; one company's API answers 500 for as long as the first attempt
lasts. The step is retried by Dagster (after ``retry_delay``, the resource's setting that is
30 s by default: 0.1 s here) and the retry syncs only the company not finished; at the end
both equal their ground truth. A refused token (``invalid_grant``) is not retried.

Run-level retries (the job's ``dagster/max_retries`` tag) are made by the daemon, which
``dg.materialize`` does not start; what is tested of them here is the instance's verdict on a
failed run (the ``dagster/will_retry`` tag, set when the run fails): with ``make
orchestrate``'s ``dagster.yaml``, a run whose step failed is not run again (its step had its
retries, or refused them), so a refused token is not tried three more times.
"""

from __future__ import annotations

import json
import shutil
import threading
import time
from pathlib import Path

import dagster as dg
import pytest
import yaml

from qbo_emulator import Emulator
from quickbooks_orchestrator import definitions as D
from quickbooks_orchestrator.runner import Settings
from tests import pipelines as P
from tests.hostile import TcpLink
from tests.test_orchestrator import loaded
from tests.test_tap_sync import select, truth

STREAMS = ["customers", "items"]


@pytest.fixture
def shard(tmp_path):
    with Emulator(seed=26, scale=40, realms=2, now=time.time() - 600) as emu:
        emu.clock.advance(seconds=600)
        app = {k: v for k, v in emu.tap_config().items() if k not in ("realm_id", "refresh_token")}
        app["max_retries"] = 0  # the tap gives up at once: the retry is Dagster's
        (tmp_path / "app.json").write_text(json.dumps(app))
        shutil.copy(select(emu.tap_config(), STREAMS), tmp_path / "catalog.json")
        resource = D.QuickBooksOrchestrator(
            home=str(tmp_path / "home"),
            app_config=str(tmp_path / "app.json"),
            catalog=str(tmp_path / "catalog.json"),
            shards=1,
            retry_delay=0.1,
        )
        settings = resource.settings()
        for realm in emu.realm_ids:
            settings.store.add_company(realm, emu.refresh_token(realm))
        instance = dg.DagsterInstance.ephemeral()
        assert D.sync_partitions(instance, settings) == (["shard-000"], [])
        yield emu, resource, settings, instance


def materialize(resource, instance, tags=None) -> dg.ExecuteInProcessResult:
    return dg.materialize(
        [D.quickbooks_shard],
        partition_key="shard-000",
        instance=instance,
        resources={"orchestrator": resource},
        raise_on_error=False,
        tags=tags,
    )


def retries(result: dg.ExecuteInProcessResult) -> int:
    return sum(1 for e in result.all_events if e.event_type_value == "STEP_UP_FOR_RETRY")


def test_a_transient_failure_is_retried_and_the_retry_syncs_only_the_unfinished(shard) -> None:
    emu, resource, settings, instance = shard
    up, down = emu.realm_ids

    def outage(realm: str, kind: str, number: int) -> None:
        # Down until the first attempt has ended (the other company's state is kept then).
        if realm == down and not settings.store.state(up):
            raise RuntimeError("emulated outage: a 500 SystemFault")

    emu.add_hook(outage)
    result = materialize(resource, instance)
    assert result.success
    assert retries(result) == 1
    metadata = result.asset_materializations_for_node("quickbooks_shard")[0].metadata
    assert metadata["companies_finished_before"].value == 1  # the retry left `up` alone
    assert metadata["companies"].value == 1
    for realm in emu.realm_ids:
        for stream in STREAMS:
            expected = {
                P.truth_key(stream, r, realm): r for r in truth(emu, realm, stream).values()
            }
            assert expected, (realm, stream)
            assert loaded(settings.home, realm, stream) == expected, (realm, stream)


def test_a_refused_token_is_not_retried(shard) -> None:
    emu, resource, settings, instance = shard
    fine, revoked = emu.realm_ids
    emu.oauth.revoke(emu.refresh_token(revoked))
    result = materialize(resource, instance)
    assert not result.success
    assert retries(result) == 0
    failure = result.get_step_failure_events()[0].step_failure_data.error
    assert failure is not None
    assert f"1 of 2 company(ies) not finished ({revoked})" in failure.message
    assert settings.store.finished(result.run_id) == {fine}


def test_a_run_whose_step_failed_is_not_run_again_under_the_projects_instance(
    shard, tmp_path
) -> None:
    emu, resource, settings, _ = shard
    config = yaml.safe_load((Path(D.__file__).parent / "dagster.yaml").read_text())
    assert config["run_retries"]["enabled"] is True
    (tmp_path / "dagster").mkdir()
    with dg.DagsterInstance.local_temp(str(tmp_path / "dagster"), overrides=config) as instance:
        assert instance.run_retries_enabled
        D.sync_partitions(instance, settings)
        emu.oauth.revoke(emu.refresh_token(emu.realm_ids[1]))
        result = materialize(resource, instance, D.quickbooks_sync.tags)
        assert not result.success
        run = instance.get_run_by_id(result.run_id)
        assert run is not None
        assert run.tags["dagster/max_retries"] == "2"
        assert run.tags["dagster/will_retry"] == "false"


def test_the_retry_delay_is_a_setting_of_30_s_by_default(tmp_path) -> None:
    assert Settings.from_env({"QBO_ORCH_HOME": str(tmp_path)}).retry_delay == 30
    assert D.QuickBooksOrchestrator(home=str(tmp_path), retry_delay=2).settings().retry_delay == 2
    with pytest.raises(ValueError, match=r"^QBO_ORCH_RETRY_DELAY must be a number of seconds"):
        Settings.from_env({"QBO_ORCH_HOME": str(tmp_path), "QBO_ORCH_RETRY_DELAY": "soon"})
    assert Settings.from_env({"QBO_ORCH_HOME": str(tmp_path)}).dead_after == 300
    with pytest.raises(ValueError, match=r"^QBO_ORCH_DEAD_AFTER must be a number of seconds"):
        Settings.from_env({"QBO_ORCH_HOME": str(tmp_path), "QBO_ORCH_DEAD_AFTER": "0"})


def test_a_run_taken_for_dead_while_alive_stops_its_tap_and_is_not_retried(shard) -> None:
    """The store did not hear from the run for QBO_ORCH_DEAD_AFTER: dead_run_sensor failed it
    and gave its companies to its retry (here: the run marked dead in the store, as the sensor
    does)."""
    emu, resource, settings, instance = shard
    quick = D.QuickBooksOrchestrator(**{**resource.model_dump(), "dead_after": 1})
    taken = []

    def sensor_verdict(realm: str, kind: str, number: int) -> None:
        if not taken:
            taken.append(realm)
            for run in instance.get_runs():  # this one
                assert settings.store.claim_dead(run.run_id, ahead=float("inf"))
        time.sleep(0.2)  # QBO is slow: the run learns it at its next beat (0.1 s)

    emu.add_hook(sensor_verdict)
    started = time.monotonic()
    result = materialize(quick, instance)
    assert not result.success
    assert retries(result) == 0, "its retry is the sensor's run, not a step retry"
    failure = result.get_step_failure_events()[0].step_failure_data.error
    assert failure is not None
    assert "took this run for dead" in failure.message
    assert time.monotonic() - started < 60
    assert taken
    for realm in emu.realm_ids:  # its retry finds its companies free
        assert settings.store.take_lease(realm, "its-retry", 60) is None


def test_a_run_cut_off_from_its_store_stops_its_tap_in_time_and_its_retry_syncs_in_full(
    shard, postgres
) -> None:
    """The network between the step and its Postgres store goes silent for 2 s while QBO is
    slow (QBO_ORCH_DEAD_AFTER 2 s): the step stops its tap at 1.6 s, before the sensor, on
    another machine, could give its companies to another run; its step retry, once the store
    answers, syncs both companies in full."""
    emu, resource, settings, instance = shard
    name = P.unique_suffix("orch").replace("-", "_")
    postgres.create_database(name)
    with TcpLink(postgres.port) as link:
        url = f"postgresql://{postgres.user}@127.0.0.1:{link.address}/{name}"
        cut = D.QuickBooksOrchestrator(
            **{**resource.model_dump(), "dead_after": 2, "store_url": url}
        )
        store = cut.settings().store
        for realm in emu.realm_ids:
            store.add_company(realm, emu.refresh_token(realm))
        began: list[float] = []

        def partition(realm: str, kind: str, number: int) -> None:
            if not began:
                began.append(time.monotonic())
                link.cut.set()
                threading.Timer(2.0, link.cut.clear).start()
            while time.monotonic() < began[0] + 3.0:  # QBO slow until past the fence
                time.sleep(0.05)

        emu.add_hook(partition)
        result = materialize(cut, instance)
        assert result.success
        assert retries(result) == 1
        said = [e.user_message for e in instance.all_logs(result.run_id)]
        fenced = [m for m in said if m.startswith("No beat of run")]
        assert fenced == [
            f"No beat of run {result.run_id} reached the store for 2 s: it stops its tap (on "
            "its final state) before dead_run_sensor could take it for dead."
        ]
        assert any(m.startswith("The store could not be reached for 2 s") for m in said)
        assert not any(m.startswith("Could not record in the store") for m in said)
        for realm in emu.realm_ids:
            assert store.take_lease(realm, "next-run", 60) is None  # left free
            for stream in STREAMS:
                expected = {
                    P.truth_key(stream, r, realm): r for r in truth(emu, realm, stream).values()
                }
                assert loaded(settings.home, realm, stream) == expected, (realm, stream)
