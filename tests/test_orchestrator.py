"""The Dagster project (quickbooks_orchestrator), in-process against the emulator.

Each partition is one emulated company; its run starts the real tap and loader processes.
Checked: every company's loaded rows equal its ground truth, the metered calls recorded equal
what the emulator served (batch items one each), one run per company at a time, the monthly
budget stop (run failure + ERROR, schedule skipped), the registry sensor.
"""

from __future__ import annotations

import collections
import contextlib
import datetime as dt
import json
import logging
import shutil
import time
from pathlib import Path

import dagster as dg
import pytest

from qbo_emulator import Emulator, server
from quickbooks_orchestrator import definitions as D
from quickbooks_orchestrator.store import month_of
from tests import pipelines as P
from tests.singer import parse_messages, strip_tap_fields
from tests.test_tap_sync import select, truth

STREAMS = ["customers", "invoices", "items", "accounts"]
COMPANIES = 4
# What Intuit meters (CorePlus reads); a batch request counts as its items, below.
METERED_KINDS = ("query", "cdc", "read", "report")


@pytest.fixture(scope="module")
def emu():
    # History 10 minutes back, caught up with this machine's clock.
    emulator = Emulator(seed=23, scale=60, realms=COMPANIES, now=time.time() - 600).start()
    emulator.clock.advance(seconds=600)
    yield emulator
    emulator.stop()


@pytest.fixture(scope="module")
def batch_items(emu):
    """Batch items served per realm: the emulator counts batch requests, Intuit each item."""
    counted: collections.Counter = collections.Counter()
    original = server.api.batch

    def counting(realm, raw, now, *args, **kwargs):
        with contextlib.suppress(ValueError, KeyError, TypeError):
            counted[realm.store.realm_id] += len(json.loads(raw)["BatchItemRequest"])
        return original(realm, raw, now, *args, **kwargs)

    server.api.batch = counting
    yield counted
    server.api.batch = original


@pytest.fixture(scope="module")
def project(emu, batch_items, tmp_path_factory):
    home = tmp_path_factory.mktemp("orchestrator")
    app = {k: v for k, v in emu.tap_config().items() if k not in ("realm_id", "refresh_token")}
    (home / "app.json").write_text(json.dumps(app))
    catalog = select(emu.tap_config(), STREAMS)
    shutil.copy(catalog, home / "catalog.json")
    resource = D.QuickBooksOrchestrator(
        home=str(home), app_config=str(home / "app.json"), catalog=str(home / "catalog.json")
    )
    settings = resource.settings()
    for realm in emu.realm_ids:
        settings.store.add_company(realm, emu.refresh_token(realm))
    (home / "dagster").mkdir()
    instance = dg.DagsterInstance.local_temp(str(home / "dagster"))
    added, removed = D.sync_partitions(instance, settings)
    assert (added, removed) == (sorted(emu.realm_ids), [])
    emu.reset_counts()
    results = {
        realm: dg.materialize(
            [D.quickbooks_company],
            partition_key=realm,
            instance=instance,
            resources={"orchestrator": resource},
            raise_on_error=False,
        )
        for realm in emu.realm_ids
    }
    served = {realm: emu.request_counts(realm) for realm in emu.realm_ids}
    return {
        "home": home,
        "resource": resource,
        "settings": settings,
        "instance": instance,
        "results": results,
        "served": served,
    }


def loaded(home: Path, realm: str, stream: str) -> dict[tuple, dict]:
    """What an upserting warehouse holds after the runs: the last row of each key."""
    rows: dict[tuple, dict] = {}
    path = home / "output" / realm / f"{stream}.jsonl"
    for record in parse_messages(path.read_text()) if path.exists() else []:
        rows[P.loaded_key(stream, record)] = strip_tap_fields(record)
    return rows


def test_every_company_loads_its_ground_truth(emu, project) -> None:
    for realm in emu.realm_ids:
        assert project["results"][realm].success, realm
        for stream in STREAMS:
            expected = {
                P.truth_key(stream, r, realm): r for r in truth(emu, realm, stream).values()
            }
            got = loaded(project["home"], realm, stream)
            assert expected, (realm, stream)
            assert got == expected, (realm, stream)
            # No row of another company.
            assert {key[0] for key in got} == {realm}
        assert project["settings"].store.state(realm)["bookmarks"], realm


def test_metered_calls_are_counted_per_company_and_in_total(emu, batch_items, project) -> None:
    store = project["settings"].store
    month = month_of(dt.datetime.now(dt.UTC))
    per_company = store.usage_by_company(month)
    for realm in emu.realm_ids:
        served = project["served"][realm]
        expected = sum(served.get(k, 0) for k in METERED_KINDS) + batch_items[realm]
        assert batch_items[realm] > 1  # a batch of several first pages: each item metered
        assert per_company[realm] == expected, (realm, served)
        metadata = (
            project["results"][realm]
            .asset_materializations_for_node("quickbooks_company")[0]
            .metadata
        )
        assert metadata["metered_calls"].value == expected
    assert store.usage(month) == sum(per_company.values())


def test_a_second_run_of_a_company_waits_for_the_first(emu, project) -> None:
    realm = emu.realm_ids[0]
    store = project["settings"].store
    assert store.take_lease(realm, "the-other-run", 60) is None
    emu.reset_counts()
    try:
        result = dg.materialize(
            [D.quickbooks_company],
            partition_key=realm,
            instance=project["instance"],
            resources={"orchestrator": project["resource"]},
            raise_on_error=False,
        )
    finally:
        store.release_lease(realm, "the-other-run")
    assert not result.success
    failure = result.get_step_failure_events()[0].step_failure_data.error.message
    assert "being synced by run the-other-run" in failure
    assert emu.request_counts(realm) == {}  # the tap never started
    # The instance keeps runs queued per company: one in flight per realm_id tag.
    requests = D.run_requests(project["instance"], project["settings"])
    assert {r.partition_key: r.tags[D.REALM_TAG] for r in requests} == {r: r for r in emu.realm_ids}


def test_the_instance_config_allows_one_run_per_company(tmp_path) -> None:
    shutil.copy(Path(D.__file__).parent / "dagster.yaml", tmp_path / "dagster.yaml")
    with dg.DagsterInstance.from_config(str(tmp_path)) as instance:
        queue = instance.get_concurrency_config().run_queue_config
    assert queue.max_concurrent_runs == 8
    [limit] = queue.tag_concurrency_limits
    assert limit["key"] == D.REALM_TAG
    assert limit["limit"] == 1
    assert limit["value"] == {"applyLimitPerUniqueValue": True}


def test_the_budget_stops_reads_with_an_error(emu, project, caplog) -> None:
    used = project["settings"].store.usage(month_of(dt.datetime.now(dt.UTC)))
    # A budget whose stop (95%) the month's calls so far have reached.
    tight = D.QuickBooksOrchestrator(**{**project["resource"].__dict__, "monthly_budget": used})
    settings = tight.settings()
    assert settings.budget_stop <= used
    emu.reset_counts()
    result = dg.materialize(
        [D.quickbooks_company],
        partition_key=emu.realm_ids[1],
        instance=project["instance"],
        resources={"orchestrator": tight},
        raise_on_error=False,
    )
    assert not result.success
    failure = result.get_step_failure_events()[0].step_failure_data.error.message
    assert "Metered-call budget reached" in failure
    assert emu.request_counts() == {}  # nothing was read
    logged = project["instance"].all_logs(result.run_id)
    assert any("budget reached" in e.user_message and e.level == logging.ERROR for e in logged)
    context = dg.build_schedule_context(
        instance=project["instance"], resources={"orchestrator": tight}
    )
    tick = D.every_15_minutes.evaluate_tick(context)
    assert not tick.run_requests
    assert "Metered-call budget reached" in tick.skip_message
    # Under the budget the schedule asks for a run of every company.
    roomy = D.QuickBooksOrchestrator(**{**project["resource"].__dict__, "monthly_budget": 10**9})
    context = dg.build_schedule_context(
        instance=project["instance"],
        resources={"orchestrator": roomy},
        scheduled_execution_time=dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
        repository_def=D.defs.get_repository_def(),
    )
    tick = D.every_15_minutes.evaluate_tick(context)
    assert sorted(r.partition_key for r in tick.run_requests) == sorted(emu.realm_ids)


def test_the_registry_sensor_keeps_partitions_in_step(project) -> None:
    settings = project["settings"]
    instance = dg.DagsterInstance.ephemeral()
    instance.add_dynamic_partitions(D.PARTITIONS, ["gone-company"])
    settings.store.add_company("9999", "a-token")
    try:
        context = dg.build_sensor_context(
            instance=instance, resources={"orchestrator": project["resource"]}
        )
        result = D.company_registry_sensor(context)
    finally:
        settings.store.remove_company("9999")
    [add, delete] = result.dynamic_partitions_requests
    registered = {c.realm_id for c in settings.store.companies()} | {"9999"}
    assert set(add.partition_keys) == registered
    assert delete.partition_keys == ["gone-company"]
