"""The Dagster project: ``dagster dev -m quickbooks_orchestrator.definitions``.

- ``shards``: dynamic partitions ``shard-NNN``, one per shard holding a connected company
  (``shards.shard_of``: sha256(realm_id) mod ``QBO_ORCH_SHARDS``, default 20), kept in step
  with the registry by ``company_registry_sensor`` (or ``sync_partitions`` called directly).
- ``quickbooks_shard``: the asset of one partition: one tap process syncing its companies.
- ``quickbooks_sync``: its job; ``every_15_minutes`` asks for a run of every shard, unless
  the month's metered-call budget is spent (then an ERROR and no run).
- ``webhook_sensor``: with ``QBO_ORCH_WEBHOOK_STORE`` set (the receiver's ``store_url``),
  one run per company with pending webhook events (its shard's partition, narrowed to it by
  the ``quickbooks/realm_id`` tag), of the streams they name; the schedule then runs hourly
  by default, as the safety net (``webhook_runs`` has the rules).
- ``dead_run_sensor``: fails a run whose machine or daemon died under it (its step's beats
  in the store ran out, ``liveness``), so that its shard is not held for ever.
- ``dagster.yaml`` (next to this file) is the instance config ``make orchestrate`` uses: at
  most one run in flight per shard (tag ``quickbooks/shard``), a cap on concurrent runs,
  run retries and run monitoring. Leases in the store keep each company to one run
  whatever starts them.
"""

import datetime as dt
import os
import random
import time

import dagster as dg

from quickbooks_webhooks.store import open_store

from .liveness import Fenced, Heartbeat, fail_dead_runs, resumed_cursor
from .runner import Settings, SyncError, sync_companies
from .selection import run_catalog
from .shards import members, occupied, shard_of
from .store import month_of
from .webhook_runs import close_events, plan_runs, start_watermark

PARTITIONS = "quickbooks_shards"
# Every run's shard: dagster.yaml lets one run per shard be in flight.
SHARD_TAG = "quickbooks/shard"
# A run narrowed to some companies of its shard (a webhook run: one), comma-separated.
REALM_TAG = "quickbooks/realm_id"
# A webhook run's streams (comma-separated); a run without it reads every selected stream.
STREAMS_TAG = "quickbooks/streams"
TRIGGER_TAG = "quickbooks/trigger"
shards = dg.DynamicPartitionsDefinition(name=PARTITIONS)


class QuickBooksOrchestrator(dg.ConfigurableResource):
    """Settings of the orchestrator; empty fields come from the ``QBO_ORCH_*`` environment."""

    home: str = ""
    app_config: str = ""
    catalog: str = ""
    monthly_budget: int = 0
    webhook_store: str = ""
    shards: int = 0
    store_url: str = ""
    retry_delay: float = 0
    dead_after: float = 0

    def settings(self) -> Settings:
        env = dict(os.environ)
        for name, value in (
            ("HOME", self.home),
            ("APP_CONFIG", self.app_config),
            ("CATALOG", self.catalog),
            ("MONTHLY_BUDGET", str(self.monthly_budget or "")),
            ("WEBHOOK_STORE", self.webhook_store),
            ("SHARDS", str(self.shards or "")),
            ("STORE_URL", self.store_url),
            ("RETRY_DELAY", str(self.retry_delay or "")),
            ("DEAD_AFTER", str(self.dead_after or "")),
        ):
            if value:
                env[f"QBO_ORCH_{name}"] = value
        return Settings.from_env(env)


def budget_spent(settings: Settings, when: dt.datetime | None = None) -> tuple[bool, int]:
    """Whether reads must stop for the month, and the month's metered calls so far."""
    used = settings.store.usage(month_of(when or dt.datetime.now(dt.UTC)))
    return used >= settings.budget_stop, used


def budget_message(settings: Settings, used: int) -> str:
    return (
        f"Metered-call budget reached: {used:,} of {settings.monthly_budget:,} this month "
        f"(reads stop at {settings.budget_stop:,}); no company is synced until the month "
        "ends or QBO_ORCH_MONTHLY_BUDGET is raised."
    )


def _realms_of(settings: Settings, shard: str, tagged: str | None) -> list[str]:
    """The companies a run of ``shard`` syncs: all of the registry's in it, or those tagged."""
    realms = members(shard, (c.realm_id for c in settings.store.companies()), settings.shards)
    if tagged:
        wanted = set(tagged.split(","))
        realms = [r for r in realms if r in wanted]
    return realms


# A failed sync (a QBO outage, a 429 storm) is tried again this many times, after
# QBO_ORCH_RETRY_DELAY (30 s), then twice and four times that; a retry syncs only the
# companies the earlier attempts did not finish.
STEP_RETRIES = 3


def retry_wait(settings: Settings, retry_number: int) -> float:
    """Seconds before the next attempt: exponential, a quarter either way so that shards
    failed together do not come back together."""
    return settings.retry_delay * 2**retry_number * random.uniform(0.75, 1.25)


DEAD_BUT_ALIVE = (
    "dead_run_sensor took this run for dead (the store did not hear from it for "
    "QBO_ORCH_DEAD_AFTER) and freed its companies for its retry: its tap (if any) was "
    "stopped, on its final state."
)


# For faults outside the sync itself (the store unreachable); the sync's own failures ask
# for their retry below, after the configured delay.
FAULT_RETRIES = dg.RetryPolicy(
    max_retries=STEP_RETRIES, delay=30, backoff=dg.Backoff.EXPONENTIAL, jitter=dg.Jitter.PLUS_MINUS
)
# The longest such a retry waits (Dagster's exponential delay, plus its jitter).
FAULT_RETRY_WAIT = (2**STEP_RETRIES - 1) * 30 + 30


@dg.asset(
    partitions_def=shards,
    retry_policy=FAULT_RETRIES,
    op_tags={"dagster/concurrency_key": "quickbooks"},
)
def quickbooks_shard(
    context: dg.AssetExecutionContext, orchestrator: QuickBooksOrchestrator
) -> dg.MaterializeResult:
    """One shard synced: one tap process over its companies into the loader, each from its
    own state (a webhook run: the company it names, of the streams its events name)."""
    settings = orchestrator.settings()
    spent, used = budget_spent(settings)
    if spent:
        context.log.error(budget_message(settings, used))
        raise dg.Failure(budget_message(settings, used), allow_retries=False)
    run = context.instance.get_run_by_id(context.run.run_id)
    if run is not None and run.status == dg.DagsterRunStatus.FAILURE:
        # A step retry of a run that dead_run_sensor failed meanwhile: its retry run syncs.
        raise dg.Failure(DEAD_BUT_ALIVE, allow_retries=False)
    # Beats while it works: a run whose machine dies is found dead by dead_run_sensor.
    with Heartbeat(
        settings.store,
        context.run.run_id,
        settings.dead_after,
        context.log,
        retried_after=FAULT_RETRY_WAIT,
    ) as beat:
        if beat.dead.is_set():  # as above, found in the store: its leases are not to be taken
            raise dg.Failure(DEAD_BUT_ALIVE, allow_retries=False)
        return _sync_shard(context, settings, beat)


def _sync_shard(
    context: dg.AssetExecutionContext, settings: Settings, beat: Heartbeat
) -> dg.MaterializeResult:
    shard = context.partition_key
    store = settings.store
    run_id = context.run.run_id
    # Run retries are new runs of the same root: what the root finished stays finished.
    root = context.run.root_run_id or run_id
    realms, held = [], {}
    for realm in _realms_of(settings, shard, context.run.tags.get(REALM_TAG)):
        holder = store.take_lease(realm, run_id, settings.lease_seconds)
        if holder is None:
            realms.append(realm)
        else:
            held[realm] = holder
    if held:
        # The shard tag limit keeps a second run queued; this guards runs started around it.
        context.log.warning(
            "%d company(ies) of %s are being synced by another run and are left to it: %s",
            len(held),
            shard,
            ", ".join(f"{r} (run {h})" for r, h in sorted(held.items())[:5]),
        )
        if not realms:
            realm, holder = sorted(held.items())[0]
            msg = f"Company {realm} is being synced by run {holder}; this run did nothing."
            raise dg.Failure(msg, allow_retries=False)
    tagged = context.run.tags.get(STREAMS_TAG)
    streams = set(tagged.split(",")) if tagged else None
    try:
        # Read before the tap starts: the events this run is sure to cover.
        up_to = start_watermark(settings)
        catalog, forward_status = run_catalog(settings, streams)
        result = sync_companies(
            settings,
            shard,
            realms,
            root,
            context.log,
            catalog=catalog,
            forward_status=forward_status,
            stop=beat.dead,
            lease=run_id,
        )
    except SyncError as error:
        exc = error
        if beat.fenced:  # the store unreachable: a step retry, should the run live on
            exc = Fenced(settings.dead_after)
        elif beat.dead.is_set():
            raise dg.Failure(DEAD_BUT_ALIVE, allow_retries=False) from None
        if exc.retry and context.retry_number < STEP_RETRIES:
            wait = retry_wait(settings, context.retry_number)
            context.log.warning("%s\nTried again in %.0f s.", exc, wait)
            beat.hold(wait)  # alive while it waits for its retry
            raise dg.RetryRequested(max_retries=STEP_RETRIES, seconds_to_wait=wait) from None
        raise dg.Failure(str(exc), allow_retries=False) from None
    finally:
        for realm in realms:
            store.release_lease(realm, run_id)
    closed = sum(
        close_events(settings, realm, streams, up_to)
        for realm, done in result.companies.items()
        if done.finished
    )
    month = month_of(dt.datetime.now(dt.UTC))
    return dg.MaterializeResult(
        metadata={
            "shard": shard,
            "companies": len(result.companies),
            "companies_finished_before": len(result.skipped),
            "metered_calls": sum(c.metered or 0 for c in result.companies.values()),
            "metered_calls_app_month": store.usage(month),
            "monthly_budget": settings.monthly_budget,
            "streams": ",".join(sorted(streams)) if streams else "all selected",
            "webhook_events_synced": closed,
        }
    )


quickbooks_sync = dg.define_asset_job(
    "quickbooks_sync",
    selection=[quickbooks_shard],
    # Run retries (dagster.yaml enables them) for runs that died outside the step.
    tags={"dagster/max_retries": "2", "dagster/retry_strategy": "FROM_FAILURE"},
)


def sync_partitions(instance: dg.DagsterInstance, settings: Settings) -> tuple[list, list]:
    """Partitions made equal to the registry's shards; the shards added and removed."""
    wanted = occupied((c.realm_id for c in settings.store.companies()), settings.shards)
    have = set(instance.get_dynamic_partitions(PARTITIONS))
    added, removed = sorted(wanted - have), sorted(have - wanted)
    if added:
        instance.add_dynamic_partitions(PARTITIONS, added)
    for key in removed:
        instance.delete_dynamic_partition(PARTITIONS, key)
    return added, removed


@dg.sensor(minimum_interval_seconds=30, default_status=dg.DefaultSensorStatus.RUNNING)
def company_registry_sensor(
    context: dg.SensorEvaluationContext, orchestrator: QuickBooksOrchestrator
) -> dg.SensorResult:
    """Adds the partition of a shard a new company lands in, drops shards left empty."""
    settings = orchestrator.settings()
    wanted = occupied((c.realm_id for c in settings.store.companies()), settings.shards)
    have = set(context.instance.get_dynamic_partitions(PARTITIONS))
    requests = []
    if wanted - have:
        requests.append(shards.build_add_request(sorted(wanted - have)))
    if have - wanted:
        requests.append(shards.build_delete_request(sorted(have - wanted)))
    return dg.SensorResult(dynamic_partitions_requests=requests)


def is_shard_run(run: dg.DagsterRun) -> bool:
    """A run of the shard asset (its job, or the asset materialized from the UI): it beats."""
    selected = run.asset_selection or set()
    return run.job_name == quickbooks_sync.name or quickbooks_shard.key in selected


DEAD_RUN_CHECK = 15  # seconds between two looks for dead runs


@dg.sensor(minimum_interval_seconds=DEAD_RUN_CHECK, default_status=dg.DefaultSensorStatus.RUNNING)
def dead_run_sensor(
    context: dg.SensorEvaluationContext, orchestrator: QuickBooksOrchestrator
) -> dg.SkipReason:
    """Fails the runs whose machine or daemon died under them (``liveness``): else, one run
    per shard being allowed, their shards would never run again."""
    settings = orchestrator.settings()
    cursor, judge = resumed_cursor(context.cursor, settings.dead_after, time.time(), DEAD_RUN_CHECK)
    context.update_cursor(cursor)
    if not judge:
        return dg.SkipReason("Back after a pause: the runs in flight get two beats to show life.")
    dead = fail_dead_runs(context.instance, settings.store, settings.dead_after, is_shard_run)
    for message in dead.values():
        context.log.warning(message)
    if dead:
        return dg.SkipReason(f"{len(dead)} dead run(s) marked failed: {', '.join(dead)}.")
    return dg.SkipReason("Every run in flight is alive.")


def run_requests(
    instance: dg.DagsterInstance, settings: Settings, tick: str = ""
) -> list[dg.RunRequest]:
    # One run per shard and tick: the run_key makes a re-evaluated tick ask nothing twice.
    return [
        dg.RunRequest(run_key=f"{key}@{tick}", partition_key=key, tags={SHARD_TAG: key})
        for key in instance.get_dynamic_partitions(PARTITIONS)
    ]


IN_FLIGHT = [
    dg.DagsterRunStatus.NOT_STARTED,
    dg.DagsterRunStatus.QUEUED,
    dg.DagsterRunStatus.STARTING,
    dg.DagsterRunStatus.STARTED,
]


def busy_companies(settings: Settings, runs: list) -> set[str]:
    """The companies a run in flight syncs: those it is narrowed to, else its whole shard."""
    registered = [c.realm_id for c in settings.store.companies()]
    busy: set[str] = set()
    for run in runs:
        if tagged := run.tags.get(REALM_TAG):
            busy.update(tagged.split(","))
        elif shard := run.tags.get(SHARD_TAG):
            busy.update(members(shard, registered, settings.shards))
    return busy


@dg.sensor(
    job=quickbooks_sync, minimum_interval_seconds=5, default_status=dg.DefaultSensorStatus.RUNNING
)
def webhook_sensor(context: dg.SensorEvaluationContext, orchestrator: QuickBooksOrchestrator):
    """A run per company with pending webhook events (QBO_ORCH_WEBHOOK_STORE), of their streams."""
    settings = orchestrator.settings()
    if not settings.webhook_store:
        return dg.SkipReason("Webhooks are off: QBO_ORCH_WEBHOOK_STORE is not set.")
    events = open_store(settings.webhook_store)
    try:
        if not events.pending_by_company():
            return dg.SkipReason("No pending webhook event.")
        spent, used = budget_spent(settings)
        if spent:
            context.log.error(budget_message(settings, used))
            return dg.SkipReason(budget_message(settings, used))
        instance = context.instance
        runs = instance.get_runs(filters=dg.RunsFilter(statuses=IN_FLIGHT))
        busy = busy_companies(settings, runs)
        plan = plan_runs(settings, events, instance.get_dynamic_partitions(PARTITIONS), busy)
    finally:
        events.close()
    for reason, n in plan.ignored.items():
        if n:
            context.log.info("%d webhook event(s) ignored: %s", n, reason)
    # The run_key: one run per company and burst, however often this tick is evaluated.
    requests = [
        dg.RunRequest(
            run_key=f"webhook:{realm}:{latest}",
            partition_key=shard_of(realm, settings.shards),
            tags={
                SHARD_TAG: shard_of(realm, settings.shards),
                REALM_TAG: realm,
                TRIGGER_TAG: "webhook",
                STREAMS_TAG: ",".join(sorted(streams)),
            },
        )
        for realm, (streams, latest) in sorted(plan.runs.items())
    ]
    adds = [shards.build_add_request(plan.new_partitions)] if plan.new_partitions else []
    if not requests:
        return dg.SensorResult(
            skip_reason=f"{len(plan.waiting)} company(ies) wait for their run in flight.",
            dynamic_partitions_requests=adds,
        )
    return dg.SensorResult(run_requests=requests, dynamic_partitions_requests=adds)


def schedule_cron(env=os.environ) -> str:
    """QBO_ORCH_SCHEDULE, else every 15 minutes, or hourly when webhooks say what changed."""
    default = "0 * * * *" if env.get("QBO_ORCH_WEBHOOK_STORE") else "*/15 * * * *"
    return env.get("QBO_ORCH_SCHEDULE") or default


@dg.schedule(
    job=quickbooks_sync,
    cron_schedule=schedule_cron(),
    default_status=dg.DefaultScheduleStatus.RUNNING,
)
def every_15_minutes(context: dg.ScheduleEvaluationContext, orchestrator: QuickBooksOrchestrator):
    """A run per shard: "synced within 15 minutes of trigger" is the product's promise."""
    settings = orchestrator.settings()
    spent, used = budget_spent(settings)
    if spent:
        context.log.error(budget_message(settings, used))
        return dg.SkipReason(budget_message(settings, used))
    tick = context.scheduled_execution_time
    return run_requests(context.instance, settings, tick.isoformat() if tick else "")


defs = dg.Definitions(
    assets=[quickbooks_shard],
    jobs=[quickbooks_sync],
    schedules=[every_15_minutes],
    sensors=[company_registry_sensor, webhook_sensor, dead_run_sensor],
    resources={"orchestrator": QuickBooksOrchestrator()},
)
