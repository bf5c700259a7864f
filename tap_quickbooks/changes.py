"""The fewest metered calls per sync: Change Data Capture first, batch for the rest.

Intuit meters every read. Asking 41 entities "anything new?" costs 41 calls when nothing
changed. Instead, before the first stream syncs, the tap plans the run:

1. One ``/cdc`` call for every selected incremental entity that CDC covers and that has a
   bookmark within CDC's 30-day reach. CDC answers with the changed objects themselves and the
   deleted ones as stubs, so those streams need no query at all. CDC returns at most 1000
   objects per call: a full answer is split by entity, and an entity that alone reaches 1000 is
   left to the query path (its deletions then cannot all be seen, and the log says so).
2. One ``/batch`` call (30 queries at most each) with the first page of every other selected
   stream. A stream whose first page was not full is then done; a full one pages on by itself.

Deletions are the other reason for CDC: QBO queries never return hard-deleted objects.
"""

from __future__ import annotations

import datetime as dt
import logging
import math
import typing as t
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from singer_sdk.exceptions import FatalAPIError, RetriableAPIError

from tap_quickbooks import errors, wire
from tap_quickbooks.catalogue import BY_NAME, lift_wrapped
from tap_quickbooks.outcomes import StreamUnavailable, company_wide, is_unavailable_fault
from tap_quickbooks.paging import record_time, ties
from tap_quickbooks.passthrough import query_page
from tap_quickbooks.timefmt import parse_instant

if t.TYPE_CHECKING:
    import requests

    from tap_quickbooks.catalogue import Entity
    from tap_quickbooks.query import Select

logger = logging.getLogger("tap_quickbooks.changes")

CDC_REACH = dt.timedelta(days=30) - dt.timedelta(minutes=15)  # margin for clock skew
CDC_MAX_OBJECTS = 1000
BATCH_MAX_ITEMS = 30
SYNCED_AT = "synced_at"  # stream state: QBO's time when the last complete read of it began
# How far back of a run's start an all-empty CDC answer still leaves synced_at (see
# QuickBooksStream.synced_up_to): a week of runs must all lose their answers to lose a change.
QUIET_CDC_TRUST = dt.timedelta(days=7)


@dataclass
class EntityChanges:
    """Everything CDC reported for one entity since ``since``: rows sorted by LastUpdatedTime."""

    since: dt.datetime
    rows: list[dict] = field(default_factory=list)  # changed objects and deletion stubs


@dataclass
class RunPlan:
    started_at: dt.datetime  # QBO's clock when this run's reading began
    changes: dict[str, EntityChanges] = field(default_factory=dict)  # by entity name
    # stream: (query, its page as the stream reads it)
    first_pages: dict[str, tuple[str, t.Any]] = field(default_factory=dict)
    # How many pages each batch-read stream is likely to need, judged by its first page, and
    # (for a full first page) the time of its last row and how its rows share seconds.
    expected_pages: dict[str, float] = field(default_factory=dict)
    first_page_end: dict[str, dt.datetime] = field(default_factory=dict)
    first_page_ties: dict[str, float] = field(default_factory=dict)
    # Streams QBO said (in the batch or CDC answer) the company cannot have: QBO's reason.
    unavailable: dict[str, str] = field(default_factory=dict)
    cdc_silent: bool = False  # CDC answered that nothing at all changed


class CallLedger(t.Protocol):
    """What the plan needs of the stream's company (company.Company is one)."""

    @property
    def page_size(self) -> int: ...

    def count_call(self, kind: str, n: int = 1) -> None: ...


class PlannedStream(t.Protocol):
    """What the plan needs of an entity stream (client.QuickBooksStream is one): a Protocol,
    so this module does not import the stream's, which imports this one."""

    @property
    def name(self) -> str: ...

    @property
    def selected(self) -> bool: ...

    @property
    def entity(self) -> Entity: ...

    @property
    def logger(self) -> logging.Logger: ...

    @property
    def company(self) -> CallLedger: ...

    def changes_since(self) -> dt.datetime | None: ...

    def first_token(self) -> t.Any: ...

    def statement(self, token: t.Any) -> Select: ...

    def send(
        self,
        method: str,
        endpoint: str,
        *,
        params: dict | None = None,
        json_body: dict | None = None,
        kind: str,
    ) -> requests.Response: ...

    def read_page(self, content: bytes) -> t.Any:
        """A query page's JSON, parsed as the stream reads its pages; ValueError if not JSON."""
        ...


def plan_run(streams: t.Sequence[PlannedStream], now: dt.datetime) -> RunPlan:
    """Ask CDC, then batch the first pages of what CDC does not cover.

    ``now`` is the local clock, used to skip a CDC call QBO would refuse (and as a bound on
    QBO's); the plan's ``started_at`` is set by the caller from QBO's own clock once the
    plan's calls are made.
    """
    plan = RunPlan(started_at=now)
    selected = [s for s in streams if s.selected]
    if not selected:
        return plan
    caller = selected[0]
    if covered := _cdc_covered(selected, now):
        try:
            plan.changes = _changes(caller, covered)
            plan.cdc_silent = bool(plan.changes) and not any(c.rows for c in plan.changes.values())
        except (FatalAPIError, RetriableAPIError) as exc:
            if company_wide(exc):
                raise
            # QBO refused CDC (its clock may put the window past 30 days): queries still
            # find every change; only deletions go unseen, and the log says so.
            caller.logger.warning(
                "CDC was refused (%s): reading changes by query; deletions since the last "
                "sync cannot be detected this run.",
                exc,
            )
    pending = [
        s for s in selected if s.entity.name not in plan.changes and s.name not in plan.unavailable
    ]
    # Every stream's reading waits for all the batch calls, so they are sent at once, the
    # streams shared evenly between them (the calls take as long as the rows they bring).
    calls = math.ceil(len(pending) / BATCH_MAX_ITEMS)
    batches = [pending[n::calls] for n in range(calls)]
    with ThreadPoolExecutor(max(1, calls), thread_name_prefix="batch") as pool:
        answers = [pool.submit(_batch_first_pages, caller, b, plan, now) for b in batches]
    for answer in answers:
        try:
            plan.first_pages.update(answer.result())
        except (FatalAPIError, RetriableAPIError) as exc:
            if company_wide(exc):
                raise
            # Each stream then asks for its first page itself, and fails (or not) alone.
            caller.logger.warning(
                "The batch call for the streams' first pages failed (%s); each stream reads "
                "its first page by itself.",
                exc,
            )
    return plan


def _cdc_covered(selected: list[PlannedStream], now: dt.datetime) -> dict[str, dt.datetime]:
    """Since when CDC is to be asked about each entity it can answer for (by entity name): an
    incremental one with a bookmark within CDC's reach."""
    covered = {}
    for stream in selected:
        since = stream.changes_since()
        if stream.entity.cdc and stream.entity.incremental and since is not None:
            if now - since <= CDC_REACH:
                covered[stream.entity.name] = since
            else:
                stream.logger.warning(
                    "%s: the last sync is older than CDC's 30 days, so records deleted since "
                    "then cannot be detected; changes are read by query. A full refresh of "
                    "this stream reconciles deletions.",
                    stream.name,
                )
    return covered


def _changes(caller: PlannedStream, covered: dict[str, dt.datetime]) -> dict[str, EntityChanges]:
    """CDC answers for these entities, split until each answer is complete.

    A call refused because of one entity (QBO says the company cannot have it) is asked
    again without it, found by its name in QBO's answer, else by halving the group. That
    entity is left out of the answer: its stream's query, in the run's batch call, then
    reads it, or tells (at no further call) that the company has none."""
    since = min(covered.values())
    found: dict[str, EntityChanges] = {}
    groups = [sorted(covered)]
    asked_again: set[tuple[str, ...]] = set()
    while groups:
        group = groups.pop()
        try:
            answer, blocks = _cdc(caller, group, since)
        except StreamUnavailable as exc:
            named = [n for n in group if f"Entity: {n}" in str(exc)]
            if named or len(group) == 1:
                caller.logger.info(
                    "CDC refused %s (%s): reading it by query.",
                    ", ".join(named or group),
                    str(exc).split(": ", 1)[-1],
                )
                if rest := [n for n in group if n not in (named or group)]:
                    groups.append(rest)
            else:
                half = len(group) // 2
                groups += [group[:half], group[half:]]
            continue
        if left_out := _left_out(group, answer, blocks):
            # Taken as "no changes", its synced_at would pass changes never read.
            again = tuple(left_out) not in asked_again
            caller.logger.warning(
                "CDC's answer cannot be right: it leaves out %s (%d entities asked, %d "
                "answered); %s.",
                ", ".join(left_out),
                len(group),
                blocks,
                "asking again for them" if again else "reading them by query this run",
            )
            if again:
                asked_again.add(tuple(left_out))
                groups.append(left_out)
            group = [n for n in group if n not in left_out]
        total = sum(len(rows) for rows in answer.values())
        if total < CDC_MAX_OBJECTS:
            for name in group:
                rows = [r for r in answer.get(name, []) if _at_or_after(r, covered[name])]
                rows.sort(key=lambda r: record_time(r) or since)
                found[name] = EntityChanges(covered[name], rows)
        elif len(group) > 1:
            half = len(group) // 2
            groups += [group[:half], group[half:]]
        else:
            caller.logger.warning(
                "%s: more than %d changes since %s; reading them by query. Deletions among "
                "them cannot all be seen through CDC.",
                group[0],
                CDC_MAX_OBJECTS,
                since.isoformat(),
            )
    return found


def _at_or_after(row: dict, since: dt.datetime) -> bool:
    time = record_time(row)
    return time is None or time >= since


def _left_out(asked: list[str], answer: dict[str, list], blocks: int) -> list[str]:
    """The entities a CDC answer says nothing of, not even ``{}``: QBO answers one block per
    entity asked (``{}`` where nothing changed), or a single ``{}`` when nothing changed at
    all (a quiet answer: see QUIET_CDC_TRUST)."""
    if blocks >= len(asked) or (blocks == 1 and not answer):
        return []
    return [name for name in asked if name not in answer]


def _cdc(
    caller: PlannedStream, entities: list[str], since: dt.datetime
) -> tuple[dict[str, list], int]:
    """The rows of a CDC answer by entity, and how many entity blocks it held."""
    response = caller.send(
        "GET",
        "cdc",
        params={"entities": ",".join(entities), "changedSince": since.isoformat()},
        kind="cdc",
    )
    body = wire.parsed_body(response)  # parsed and checked for faults inside the retried call
    blocks = body.get("CDCResponse") if isinstance(body, dict) else None
    if not blocks or not isinstance(blocks, list):
        # Even "nothing changed" is [{"QueryResponse": [{}]}]: this answer is not CDC's.
        msg = f"CDC answered without a CDCResponse [{errors.intuit_tid(response)}]"
        raise FatalAPIError(msg)
    out: dict[str, list] = {}
    count = 0
    for block in body.get("CDCResponse") or []:
        for page in block.get("QueryResponse") or []:
            count += 1
            for name, rows in page.items():
                if isinstance(rows, list):
                    wrapped = (entity := BY_NAME.get(name)) is not None and entity.wrapped
                    lifted = [lift_wrapped(row) for row in rows] if wrapped else rows
                    out.setdefault(name, []).extend(lifted)  # wrapped as a query's rows are
    return out, count


def _answer_time(body: dict) -> dt.datetime | None:
    """The time an answer of QBO's says it was given, if it says one that reads."""
    try:
        return parse_instant(body["time"])
    except (KeyError, TypeError, ValueError):
        return None


def _batch_first_pages(
    caller: PlannedStream, streams: list[PlannedStream], plan: RunPlan, now: dt.datetime
) -> dict[str, tuple[str, t.Any]]:
    """One /batch call holding each stream's first query; the pages (read as their streams
    read their own query pages) by stream name."""
    statements = {s.name: str(s.statement(s.first_token())) for s in streams}
    entities = {s.name: s.entity.name for s in streams}
    by_name = {s.name: s for s in streams}
    items = [{"bId": name, "Query": text} for name, text in statements.items()]
    response = caller.send("POST", "batch", json_body={"BatchItemRequest": items}, kind="batch")
    # Intuit meters each batch item as one call: the send counted the first.
    if len(items) > 1:
        caller.company.count_call("metered batch", len(items) - 1)
    body = wire.parsed_body(response)
    # QBO stamps the rows, so their history runs up to its clock; this machine's may be far
    # ahead, and a density read up to it puts slices of history past the stream's end. A
    # clock of QBO's ahead of this machine's is not believed (as for the run's start).
    now = min(_answer_time(body) or now, now)
    pages = {}
    for item in body.get("BatchItemResponse") or []:
        name = item.get("bId")
        if name not in statements:
            continue
        if "QueryResponse" not in item:
            if is_unavailable_fault(item.get("Fault")):
                # Not part of this company: the stream is skipped, at no further call.
                reason = errors.fault_text(item["Fault"])
                plan.unavailable[name] = f"{name}: batch item: {reason}"
            # Another fault for one item: that stream asks again by itself and reports it.
            continue
        try:  # read here, once: its rows' times place the stream's slices
            page = by_name[name].read_page(query_page(item["QueryResponse"], body.get("time")))
        except ValueError:
            continue  # cut short inside the batch answer: the stream asks for it on its own
        pages[name] = (statements[name], page)
        times = page_times(page, entities[name])
        first, last = (times[0], times[-1]) if times else (None, None)
        if len(times) < caller.company.page_size:
            plan.expected_pages[name] = 1
        elif first and last and last > first:  # more of the same density, up to now
            plan.expected_pages[name] = 1 + (now - last) / (last - first)
            plan.first_page_end[name] = last
            plan.first_page_ties[name] = ties(times)
        else:
            plan.expected_pages[name] = math.inf
    return pages


def page_times(page: t.Any, entity: str) -> list[dt.datetime | None]:
    """The LastUpdatedTime of every row of a query page as its stream read it, in order (for
    judging how long the stream is, and how its rows share seconds)."""
    response = page.get("QueryResponse") if isinstance(page, dict) else None
    rows = response.get(entity) if isinstance(response, dict) else None
    if not isinstance(rows, list):
        return []
    return [record_time(row) if isinstance(row, dict) else None for row in rows]
