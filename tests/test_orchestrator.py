"""The Dagster project (quickbooks_orchestrator), in-process against the emulator.

Four emulated companies in two shards of two; each shard's run starts one real tap process
over its companies and the loader. Checked: every company's loaded rows equal its ground
truth, the metered calls recorded per company equal what the emulator served it (batch items
one each), one run per company at a time, the monthly budget stop (run failure + ERROR,
schedule skipped), the registry sensor keeping one partition per occupied shard.
"""

from __future__ import annotations

import collections
import contextlib
import datetime as dt
import json
import logging
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import pytest

from qbo_emulator import Emulator, server
from quickbooks_orchestrator import definitions as D
from quickbooks_orchestrator.shards import shard_of
from quickbooks_orchestrator.store import month_of
from tests import pipelines as P
from tests.singer import parse_messages, strip_tap_fields
from tests.test_tap_sync import select, truth

STREAMS = ["customers", "invoices", "items", "accounts"]
COMPANIES = 4
SHARDS = 2
# What Intuit meters (CorePlus reads); a batch request counts as its items, below.
METERED_KINDS = ("query", "cdc", "read", "report")


@pytest.fixture(scope="module")
def emu():
    # History 10 minutes back, caught up with this machine's clock.
    emulator = Emulator(seed=23, scale=60, realms=COMPANIES, now=time.time() - 600).start()
    emulator.clock.advance(seconds=600)
    yield emulator
    emulator.stop()


@contextlib.contextmanager
def counting_batch_items() -> Iterator[collections.Counter]:
    """Batch items served per realm: the emulator counts batch requests, Intuit each item."""
    counted: collections.Counter = collections.Counter()
    original = server.api.batch

    def counting(realm, raw, now, *args, **kwargs):
        with contextlib.suppress(ValueError, KeyError, TypeError):
            counted[realm.store.realm_id] += len(json.loads(raw)["BatchItemRequest"])
        return original(realm, raw, now, *args, **kwargs)

    server.api.batch = counting
    try:
        yield counted
    finally:
        server.api.batch = original


def metered_served(served: dict, batch_items: int) -> int:
    """What Intuit meters of what the emulator served a company."""
    return sum(served.get(k, 0) for k in METERED_KINDS) + batch_items


@pytest.fixture(scope="module")
def batch_items(emu):
    with counting_batch_items() as counted:
        yield counted


@pytest.fixture(scope="module")
def project(emu, batch_items, tmp_path_factory):
    started = dt.datetime.now(dt.UTC)
    home = tmp_path_factory.mktemp("orchestrator")
    app = {k: v for k, v in emu.tap_config().items() if k not in ("realm_id", "refresh_token")}
    (home / "app.json").write_text(json.dumps(app))
    catalog = select(emu.tap_config(), STREAMS)
    shutil.copy(catalog, home / "catalog.json")
    resource = D.QuickBooksOrchestrator(
        home=str(home),
        app_config=str(home / "app.json"),
        catalog=str(home / "catalog.json"),
        shards=SHARDS,
    )
    settings = resource.settings()
    for realm in emu.realm_ids:
        settings.store.add_company(realm, emu.refresh_token(realm))
    (home / "dagster").mkdir()
    instance = dg.DagsterInstance.local_temp(str(home / "dagster"))
    added, removed = D.sync_partitions(instance, settings)
    by_shard = collections.defaultdict(list)
    for realm in emu.realm_ids:
        by_shard[shard_of(realm, SHARDS)].append(realm)
    # Two shards of two: each run is one tap process over two companies.
    assert (added, removed) == (["shard-000", "shard-001"], [])
    assert sorted(len(v) for v in by_shard.values()) == [2, 2]
    emu.reset_counts()
    results = {
        shard: dg.materialize(
            [D.quickbooks_shard],
            partition_key=shard,
            instance=instance,
            resources={"orchestrator": resource},
            raise_on_error=False,
        )
        for shard in sorted(by_shard)
    }
    served = {realm: emu.request_counts(realm) for realm in emu.realm_ids}
    return {
        "home": home,
        "resource": resource,
        "settings": settings,
        "instance": instance,
        "results": results,
        "by_shard": by_shard,
        "served": served,
        "started": started,
    }


def loaded(home: Path, realm: str, stream: str) -> dict[tuple, dict]:
    """What an upserting warehouse holds after the runs: the last row of each key."""
    rows: dict[tuple, dict] = {}
    path = home / "output" / realm / f"{stream}.jsonl"
    for record in parse_messages(path.read_text()) if path.exists() else []:
        rows[P.loaded_key(stream, record)] = strip_tap_fields(record)
    return rows


def test_every_company_loads_its_ground_truth(emu, project) -> None:
    assert all(r.success for r in project["results"].values())
    for realm in emu.realm_ids:
        for stream in STREAMS:
            expected = {
                P.truth_key(stream, r, realm): r for r in truth(emu, realm, stream).values()
            }
            got = loaded(project["home"], realm, stream)
            assert expected, (realm, stream)
            assert got == expected, (realm, stream)
            # No row of another company.
            assert {key[0] for key in got} == {realm}
        # Its own part of its shard's state, and its newest token, kept under its realm_id:
        # in the store's tokens, not sealed in the state (no copy travels with it).
        state = project["settings"].store.state(realm)
        contexts = {
            p["context"]["realm_id"] for b in state["bookmarks"].values() for p in b["partitions"]
        }
        assert contexts == {realm}
        assert "quickbooks_auth" not in state
        assert project["settings"].store.token(realm)


def months_since(started: dt.datetime) -> set[str]:
    """The months a run begun then has counted its calls in: two when it crossed a month's
    end (the store files each call under the month it was made in)."""
    return {month_of(started), month_of(dt.datetime.now(dt.UTC))}


def usage_since(store, started: dt.datetime) -> collections.Counter:
    """Each company's metered calls counted since ``started``, whatever today's date."""
    total: collections.Counter = collections.Counter()
    for month in months_since(started):
        total.update(store.usage_by_company(month))
    return total


def test_metered_calls_are_counted_per_company_and_in_total(emu, batch_items, project) -> None:
    store = project["settings"].store
    per_company = usage_since(store, project["started"])
    for realm in emu.realm_ids:
        served = project["served"][realm]
        expected = metered_served(served, batch_items[realm])
        assert batch_items[realm] > 1  # a batch of several first pages: each item metered
        assert per_company[realm] == expected, (realm, served)
        # Counted from sync_status, selected for the runner's sake: the loader, whose
        # catalog leaves it out, gets none of it.
        assert not (project["home"] / "output" / realm / "sync_status.jsonl").exists()
        assert (project["home"] / "output" / realm / "customers.jsonl").exists()
    for shard, realms in project["by_shard"].items():
        metadata = (
            project["results"][shard]
            .asset_materializations_for_node("quickbooks_shard")[0]
            .metadata
        )
        assert metadata["companies"].value == len(realms)
        assert metadata["metered_calls"].value == sum(per_company[r] for r in realms)
    assert sum(store.usage(m) for m in months_since(project["started"])) == sum(
        per_company.values()
    )


def test_a_company_held_by_another_run_is_left_to_it(emu, project) -> None:
    shard, (held, other) = sorted(project["by_shard"].items())[0]
    store = project["settings"].store
    assert store.take_lease(held, "the-other-run", 60) is None
    emu.reset_counts()
    try:
        # Its shard's run syncs the other company alone ...
        shard_run = dg.materialize(
            [D.quickbooks_shard],
            partition_key=shard,
            instance=project["instance"],
            resources={"orchestrator": project["resource"]},
            raise_on_error=False,
        )
        # ... and a run narrowed to it (a webhook run) does nothing.
        narrowed = dg.materialize(
            [D.quickbooks_shard],
            partition_key=shard,
            tags={D.REALM_TAG: held},
            instance=project["instance"],
            resources={"orchestrator": project["resource"]},
            raise_on_error=False,
        )
    finally:
        store.release_lease(held, "the-other-run")
    assert shard_run.success
    assert emu.request_counts(held) == {}  # never read
    assert emu.request_counts(other)
    assert not narrowed.success
    failure = narrowed.get_step_failure_events()[0].step_failure_data.error.message
    assert "being synced by run the-other-run" in failure
    # The instance keeps runs queued per shard: one in flight per shard tag.
    requests = D.run_requests(project["instance"], project["settings"])
    assert {r.partition_key: r.tags[D.SHARD_TAG] for r in requests} == {
        s: s for s in project["by_shard"]
    }


def test_the_instance_config_allows_one_run_per_shard(tmp_path) -> None:
    shutil.copy(Path(D.__file__).parent / "dagster.yaml", tmp_path / "dagster.yaml")
    with dg.DagsterInstance.from_config(str(tmp_path)) as instance:
        queue = instance.get_concurrency_config().run_queue_config
    assert queue.max_concurrent_runs == 8
    [limit] = queue.tag_concurrency_limits
    assert limit["key"] == D.SHARD_TAG
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
        [D.quickbooks_shard],
        partition_key="shard-001",
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
    # Contexts are closed after use (see tests/webhook_pipeline.py).
    with dg.build_schedule_context(
        instance=project["instance"], resources={"orchestrator": tight}
    ) as context:
        tick = D.every_15_minutes.evaluate_tick(context)
    assert not tick.run_requests
    assert "Metered-call budget reached" in tick.skip_message
    # Under the budget the schedule asks for a run of every shard.
    roomy = D.QuickBooksOrchestrator(**{**project["resource"].__dict__, "monthly_budget": 10**9})
    with dg.build_schedule_context(
        instance=project["instance"],
        resources={"orchestrator": roomy},
        scheduled_execution_time=dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
        repository_def=D.defs.get_repository_def(),
    ) as context:
        tick = D.every_15_minutes.evaluate_tick(context)
    assert sorted(r.partition_key for r in tick.run_requests) == sorted(project["by_shard"])


def test_the_registry_sensor_keeps_partitions_in_step(project) -> None:
    settings = project["settings"]
    instance = dg.DagsterInstance.ephemeral()
    instance.add_dynamic_partitions(D.PARTITIONS, ["shard-000", "shard-009"])
    # Ten shards: the four companies and a new one occupy five of them, shard-009 not.
    resource = D.QuickBooksOrchestrator(**{**project["resource"].__dict__, "shards": 10})
    settings.store.add_company("9999", "a-token")
    try:
        with dg.build_sensor_context(
            instance=instance, resources={"orchestrator": resource}
        ) as context:
            result = D.company_registry_sensor(context)
    finally:
        settings.store.remove_company("9999")
    [add, delete] = result.dynamic_partitions_requests
    registered = {c.realm_id for c in settings.store.companies()} | {"9999"}
    occupied = {shard_of(r, 10) for r in registered}
    assert len(occupied) == 5
    assert "shard-000" in occupied
    assert set(add.partition_keys) == occupied - {"shard-000"}
    assert delete.partition_keys == ["shard-009"]
