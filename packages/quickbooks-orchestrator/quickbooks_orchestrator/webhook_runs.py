"""Pending webhook events into runs: which companies to sync, which streams, and when to close
their events (``definitions.webhook_sensor`` and the asset call these).

A burst of any size becomes one run per company, of the streams its events name; a company
with a run queued or in flight gets none until it ends (its new events wait, so a burst costs
one or two runs per company). Events are closed only by a run that succeeded, and only those
that had arrived when it started: a later event starts the next run. Events of a company the
registry does not know, or of a stream the catalog does not select, are kept as ignored.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field

from quickbooks_webhooks.store import EventStore, open_store

from .runner import Settings
from .selection import selected_streams
from .shards import shard_of


@dataclass
class Plan:
    runs: dict[str, tuple[set[str], int]] = field(default_factory=dict)
    """realm -> (streams, newest pending seq): one run each."""
    new_partitions: list[str] = field(default_factory=list)
    """Shards to add: a company registered since the registry sensor ran."""
    waiting: list[str] = field(default_factory=list)
    """Companies with pending events whose run is still queued or in flight."""
    ignored: dict[str, int] = field(default_factory=dict)
    """reason -> events closed as ignored by this plan."""


def plan_runs(
    settings: Settings, store: EventStore, partitions: Collection[str], busy: Collection[str]
) -> Plan:
    pending = store.pending_by_company()
    plan = Plan()
    if not pending:
        return plan
    known = {c.realm_id for c in settings.store.companies()}
    selected = selected_streams(settings)
    for realm, streams in pending.items():
        if realm not in known:
            n = store.mark_ignored(realm, "unknown_realm", up_to=pending.watermark)
            plan.ignored["unknown_realm"] = plan.ignored.get("unknown_realm", 0) + n
            continue
        if skipped := streams - selected:
            n = store.mark_ignored(realm, "not_selected", skipped, up_to=pending.watermark)
            plan.ignored["not_selected"] = plan.ignored.get("not_selected", 0) + n
        wanted = streams & selected
        if not wanted:
            continue
        if realm in busy:
            plan.waiting.append(realm)
            continue
        shard = shard_of(realm, settings.shards)
        if shard not in partitions and shard not in plan.new_partitions:
            plan.new_partitions.append(shard)  # registered since the registry sensor ran
        plan.runs[realm] = (wanted, pending.latest[realm])
    return plan


def start_watermark(settings: Settings) -> int | None:
    """Before a run reads anything: the newest event it is sure to cover (None: no webhooks)."""
    if not settings.webhook_store:
        return None
    store = open_store(settings.webhook_store)
    try:
        return store.watermark()
    finally:
        store.close()


def close_events(
    settings: Settings, realm: str, streams: Collection[str] | None, up_to: int | None
) -> int:
    """After a run succeeded: its company's events up to ``up_to`` of the streams it read
    (every selected stream for a scheduled run) are synced. How many."""
    if up_to is None or not settings.webhook_store:
        return 0
    store = open_store(settings.webhook_store)
    try:
        read = set(streams) if streams is not None else selected_streams(settings)
        return store.mark_synced(realm, read, up_to=up_to)
    finally:
        store.close()
