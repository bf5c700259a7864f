"""The base streams: how every request to a company is sent, and one QBO entity read
through the query endpoint."""

from __future__ import annotations

import contextlib
import datetime as dt
import decimal
import email.utils
import json
import logging
import math
import threading
import time
import typing as t
from functools import cache, cached_property
from http import HTTPStatus
from types import MappingProxyType
from urllib.parse import urlsplit

import requests
from singer_sdk import RESTStream, metrics
from singer_sdk.exceptions import FatalAPIError, RetriableAPIError
from singer_sdk.helpers.conform import TypeConformanceLevel
from singer_sdk.mapper import SameRecordTransform
from singer_sdk.pagination import BaseAPIPaginator, OffsetPaginator, SinglePagePaginator
from singer_sdk.singerlib import MetadataMapping
from singer_sdk.streams.rest import PageContext

from tap_quickbooks import errors, outcomes, query, sdk_fastpath, wire
from tap_quickbooks.catalog import top_level_only
from tap_quickbooks.catalogue import lift_wrapped
from tap_quickbooks.changes import QUIET_CDC_TRUST, SYNCED_AT
from tap_quickbooks.output import BlockWriter
from tap_quickbooks.paging import (
    FUTURE_ALLOWANCE,
    Doubt,
    End,
    KeysetPaginator,
    Window,
    record_time,
    tie_page_size,
)
from tap_quickbooks.passthrough import RawRecord, RawRow, UnusualPage, read_batch, read_page
from tap_quickbooks.schemas import entity_schema
from tap_quickbooks.sdk_fastpath import FailureBoundary, RecordWriting

if t.TYPE_CHECKING:
    from singer_sdk.helpers.types import Context

    from tap_quickbooks.catalogue import Entity
    from tap_quickbooks.company import Company

try:
    from typing import override  # type: ignore[attr-defined]
except ImportError:  # Python 3.11
    from typing_extensions import override


# A page QBO could not have sent for its query is asked for this many times in all.
DOUBT_TRIES = 3


def record_schema(entity: Entity) -> dict:
    """The entity's schema plus the fields the tap adds to every record.

    One dict per entity for the process, shared by every company's stream of it (a copy per
    stream was a fifth of a quiet company's CPU): neither the tap nor the SDK changes a
    stream's schema in place (the SDK copies one before it selects or flattens fields).
    """
    return _record_schema(entity.name)


@cache
def _record_schema(name: str) -> dict:
    shared = entity_schema(name, fresh=False)  # its nested parts shared, never changed
    return {
        **shared,
        "properties": {
            "realm_id": {"type": ["string"]},
            "LastUpdatedTime": {"type": ["string", "null"], "format": "date-time"},
            # Set on records that stand for a deletion (from CDC): targets delete or flag it.
            "_sdc_deleted_at": {"type": ["string", "null"], "format": "date-time"},
            **shared["properties"],
        },
    }


PLAN_ENDPOINTS = ("cdc", "batch")  # called for the whole run (changes.py), not for a stream


class QuickBooksTransport(RecordWriting, FailureBoundary, RESTStream[t.Any]):
    """What every request to a company shares, entity or report: host, token, QBO's limits,
    retries, and reading QBO's answers and errors. One policy, in one place."""

    # Records are JSON as QBO sent it (money already Decimal), which is what the schemas
    # declare; the SDK's per-record walk to coerce types would only cost time (most of it).
    TYPE_CONFORMANCE_LEVEL = TypeConformanceLevel.NONE

    # Retries cover 401 (after a refresh), throttling and server faults.
    extra_retry_statuses = (HTTPStatus.TOO_MANY_REQUESTS, HTTPStatus.UNAUTHORIZED)

    company: Company  # handed down by the tap, which builds the stream for one company
    raw_writer: BlockWriter | None = None  # the tap's writer, for pass-through records

    @property
    def company_state(self) -> dict:
        """This stream's state for its company (a partition when the run has several)."""
        return self.get_context_state(self.company.context)

    @property
    @override
    def partitions(self) -> list[dict] | None:
        # A stream is one company's: its one partition in a run of several, none otherwise
        # (partitions another config left in state are not this company's to read).
        return None if self.company.context is None else [dict(self.company.context)]

    @property
    @override
    def emit_activate_version_messages(self) -> bool:
        # In a run of several companies the run sends one per full-table stream, once every
        # company has synced it (companies.py): the SDK's one per stream object would make
        # a target drop the rows of every company synced before.
        return self.company.context is None and super().emit_activate_version_messages

    @property
    @override
    def logger(self) -> logging.Logger:
        # In a run of several companies, each line names whose stream it is.
        return self._company_logger

    @cached_property
    def _company_logger(self) -> logging.Logger:
        stream_logger = super().logger
        if self.company.context is None or stream_logger.parent is None:
            return stream_logger
        return stream_logger.parent.getChild(f"{self.company.realm_id}.{self.name}")

    @property
    @override
    def url_base(self) -> str:
        return self.company.api_url

    @property
    @override
    def authenticator(self):
        return self.company.authenticator

    @property
    @override
    def requests_session(self) -> requests.Session:
        # One session for the run (its connections reused by every stream), whose answers
        # are read whole, within request_timeout and a size cap (wire.py).
        return self.company.http_session

    @property
    @override
    def http_headers(self) -> dict:
        return {"Accept": "application/json"}

    @property
    @override
    def timeout(self) -> tuple[float, float]:
        """(connect, read) seconds: a dead network fails fast, a slow report may take long."""
        return (
            float(self.config.get("connect_timeout", 30)),
            float(self.config.get("request_timeout", 300)),
        )

    @override
    def generate_child_contexts(self, record: dict, context: Context | None) -> t.Iterator:
        # QBO streams have no child streams; the SDK would still copy every record for them.
        if self.child_streams:
            yield from super().generate_child_contexts(record, context)

    def log_request_duration(self, response: requests.Response, context: Context | None) -> None:
        """The SDK's request-duration metric for one attempt. The run plan's CDC and batch
        calls go out through the first selected stream, but are the run's, not that
        stream's, and are not its `/query` endpoint: they say so."""
        path = urlsplit(response.request.url or "").path if response.request else ""
        called = path.rsplit("/", 1)[-1]
        plan_call = called in PLAN_ENDPOINTS
        tags: dict[str, t.Any] = {
            metrics.Tag.STREAM: "run plan" if plan_call else self.name,
            metrics.Tag.ENDPOINT: f"/{called}" if plan_call else self.path,
            metrics.Tag.HTTP_STATUS_CODE: response.status_code,
            metrics.Tag.STATUS: (
                metrics.Status.SUCCEEDED
                if response.status_code < HTTPStatus.BAD_REQUEST
                else metrics.Status.FAILED
            ),
        }
        if context and not plan_call:
            tags[metrics.Tag.CONTEXT] = context
        point = metrics.Point(
            "timer",
            metric=metrics.Metric.HTTP_REQUEST_DURATION,
            value=response.elapsed.total_seconds(),
            tags=tags,
        )
        metrics.log(self.metrics_logger, point)

    @property
    @override
    def metadata(self) -> MetadataMapping:
        # Discovered metadata only for top-level properties (catalog.py says why); a catalog
        # given as input is kept as it is.
        metadata = super().metadata
        if metadata is not self._trimmed_metadata and not self.catalog_given:
            self._trimmed_metadata = top_level_only(metadata)  # trimmed in place, once
        return metadata

    _trimmed_metadata: MetadataMapping | None = None
    catalog_given = False  # whether the input catalog has this stream

    @override
    def apply_catalog(self, catalog: t.Any) -> None:
        self.catalog_given = catalog.get_stream(self.tap_stream_id) is not None
        super().apply_catalog(catalog)

    @cached_property
    def all_selected(self) -> bool:
        """Whether the catalog deselects no field of this stream (the usual case)."""
        return all(self.mask.values())

    # -- one stream's end never ends the run ------------------------------------------------

    @override  # type: ignore[misc]  # the SDK marks sync final; this one keeps the outcome
    def sync(self, context: Context | None = None) -> None:
        run = self.company.outcomes
        run.begin(self)
        self.records_synced = 0
        if reason := self.known_unavailable():
            run.unavailable(self, reason)  # QBO already said so: not even a SCHEMA
        else:
            sdk_fastpath.remember_partition(self, context)
            super().sync(context)
        run.end(self, self.records_synced)

    @override
    def keep_failure(self, exc: Exception) -> bool:
        # A stream's own failure is kept for the end of the run (and a stream the company
        # cannot have is skipped) instead of ending the run here.
        if isinstance(exc, outcomes.StreamUnavailable):
            self.company.outcomes.unavailable(self, str(exc))
            return True
        if isinstance(exc, FatalAPIError | RetriableAPIError) and not outcomes.company_wide(exc):
            self.company.outcomes.failed(self, exc)
            return True
        return False

    def known_unavailable(self) -> str | None:
        """QBO's reason, if it already said (in the run's batch or CDC call) that the company
        cannot have this stream."""
        return None

    # -- sending, within QBO's limits, retrying what can succeed -----------------------------

    def send_once(
        self, prepared_request: requests.PreparedRequest, context: Context | None
    ) -> requests.Response:
        """One attempt at a request: authenticated, sent on the company's session, timed and
        validated. Retried around it by :meth:`request_decorator` (see :meth:`sender`)."""
        response = self.requests_session.send(
            self.authenticator(prepared_request),
            timeout=self.timeout,
            allow_redirects=self.allow_redirects,
        )
        self.log_request_duration(response, context)
        self.validate_response(response)
        return response

    @override
    def request_decorator(self, func: t.Callable) -> t.Callable:
        # Each attempt, retries too, waits its turn within QBO's limits and is counted.
        def limited(prepared_request: requests.PreparedRequest, context: Context | None):
            batch = prepared_request.path_url.split("?")[0].endswith("/batch")
            with self.company.limiter.slot(self.request_priority(), "batch" if batch else ""):
                self.company.count_call("requests")
                return func(prepared_request, context)

        return super().request_decorator(limited)

    def sender(self) -> t.Callable[[requests.PreparedRequest, Context | None], requests.Response]:
        """Sends a request: each attempt within QBO's limits, retried as the backoff hooks say."""
        return self.request_decorator(self.send_once)

    def request_priority(self) -> float:
        """The place of this stream's next request among those waiting for QBO's limits
        (lowest first): see RequestLimiter."""
        return -math.inf

    def send(
        self,
        method: str,
        endpoint: str,
        *,
        params: dict | None = None,
        json_body: dict | None = None,
        kind: str,
    ) -> requests.Response:
        """One call to another endpoint of the company (cdc, batch), with the stream's
        authentication, limits, retries and error handling."""
        request = self.build_prepared_request(
            method=method,
            url=f"{self.url_base}/v3/company/{self.company.realm_id}/{endpoint}",
            params={**(params or {}), "minorversion": self.company.minor_version},
            headers=self.http_headers,
            json=json_body,
        )
        response = self.sender()(request, None)
        self.company.count_call(f"metered {kind}")
        return response

    @override
    def validate_response(self, response: requests.Response) -> None:
        status = response.status_code
        if errors.not_authorized_for_company(response):
            # A fresh token QBO will not take for this company: one more candidate, then a
            # sentence naming realm_id (raised by the authenticator), never 8 more refreshes.
            self.authenticator.not_authorized(response.request, errors.describe(response))
            raise RetriableAPIError(errors.describe(response), response)
        if status < HTTPStatus.MULTIPLE_CHOICES:
            self.authenticator.worked(response.request)
        if status == HTTPStatus.UNAUTHORIZED:
            # The access token died early (revoked, or QBO's clock disagrees): refresh, retry.
            self.authenticator.expire()
            raise RetriableAPIError(errors.describe(response), response)
        if status in self.extra_retry_statuses or status >= HTTPStatus.INTERNAL_SERVER_ERROR:
            raise RetriableAPIError(errors.describe(response), response)
        if status >= HTTPStatus.BAD_REQUEST:
            # What the company cannot have, or a refusal of the whole company, is told apart
            # from an error of this one request.
            raise outcomes.refusal(self.name, response) or FatalAPIError(
                f"{self.name}: {errors.describe(response)}"
            )
        # The body is checked here, inside the retried call (the SDK parses pages outside it):
        # a body cut short in transit, or a Fault inside a 200, is asked for again.
        try:
            body = self.read_body(response)
        except ValueError as exc:
            raise RetriableAPIError(f"{self.name}: {errors.describe(response)}", response) from exc
        if problem := self.fault_problem(body, errors.intuit_tid(response), response):
            raise problem
        wire.keep_parsed_body(response, body)  # parsed once
        self.note_time(body)

    def fault_problem(
        self, body: t.Any, tid: str, response: requests.Response | None = None
    ) -> RetriableAPIError | FatalAPIError | None:
        """The error for a Fault inside a 200 answer, if there is one. QBO's own failure may
        pass (retriable); a refusal of what was asked (a ValidationFault, an authorization
        fault) is the same every time: retrying it only waits."""
        if not (fault := errors.fault_of(body)):
            return None
        msg = f"{self.name}: QBO answered 200 with a fault: {errors.fault_text(fault)}"
        if is_transient_fault(fault):
            return RetriableAPIError(msg, response)
        return FatalAPIError(f"{msg} [intuit_tid={tid}]")

    def note_time(self, body: t.Any) -> None:
        """Keep QBO's clock, from an answer that tells it."""
        if isinstance(body, dict) and body.get("time"):
            self.company.note_server_time(body["time"])

    def read_body(self, response: requests.Response) -> t.Any:
        """The response's JSON, parsed (money as Decimal); ValueError if it is not JSON."""
        return json.loads(response.content, parse_float=decimal.Decimal)

    sync_costs: t.Mapping[str, int] = MappingProxyType({})  # the stream's running totals

    @override
    def update_sync_costs(self, request, response, context) -> dict[str, int]:
        self.sync_costs = super().update_sync_costs(request, response, context)
        return self.sync_costs

    @override
    def log_sync_costs(self) -> None:
        super().log_sync_costs()
        self.company.stream_logged()

    @override
    def backoff_max_tries(self) -> int:
        return int(self.config.get("max_retries", 8)) + 1

    @override
    def backoff_wait_generator(self) -> t.Generator[float, t.Any, None]:
        """Exponential waits capped at max_retry_wait; QBO's Retry-After wins; 401 at once."""
        cap = float(self.config.get("max_retry_wait", 120))
        attempt = 0
        exc = yield 0.0
        while True:
            attempt += 1
            wait = min(cap, 2.0**attempt)
            response = getattr(exc, "response", None)
            if response is not None:
                if response.status_code in {HTTPStatus.UNAUTHORIZED, HTTPStatus.FORBIDDEN}:
                    wait = 0.0  # a fresh token is all it needs
                elif (after := _retry_after(response)) is not None:
                    wait = min(cap, after)
            exc = yield wait

    @override
    def backoff_jitter(self, value: float) -> float:
        # Up to a quarter more, so that parallel runs do not retry in lockstep.
        return value + value * 0.25 * self.company.jitter.random()

    @override
    def backoff_handler(self, details: dict) -> None:
        exc = details.get("exception")
        response = getattr(exc, "response", None)
        reason = errors.describe(response) if response is not None else type(exc).__name__
        self.company.count_call("retries")
        self.logger.warning(
            "%s: retry %d/%d in %.1fs after %s",
            self.name,
            details.get("tries", 0),
            self.backoff_max_tries() - 1,
            details.get("wait", 0.0),
            reason,
        )


class QuickBooksStream(QuickBooksTransport):
    """One QBO entity: ``SELECT * FROM <entity>`` through ``/v3/company/{realm}/query``."""

    primary_keys: tuple[str, ...] = ("realm_id", "Id")
    # A STATE message per page at most: a killed run resumes at most one page back.
    STATE_MSG_FREQUENCY = 1000

    def __init__(self, tap: t.Any, entity: Entity, company: Company) -> None:
        self.entity = entity
        self.company = company
        # Set by each page chain in its own thread (a stream may have several).
        self.chain_priority = threading.local()
        super().__init__(tap=tap, name=entity.stream, schema=record_schema(entity))
        self.raw_writer = t.cast(BlockWriter, tap.message_writer)  # the tap's writer class
        self.primary_keys = ("realm_id", *entity.key)
        if entity.incremental:
            self.replication_key = "LastUpdatedTime"
        self.STATE_MSG_FREQUENCY = company.page_size

    @override
    def known_unavailable(self) -> str | None:
        return self.company.run_plan.unavailable.get(self.name)

    def apply_catalog(self, catalog: t.Any) -> None:
        super().apply_catalog(catalog)
        # The SDK believes the catalog's keys and its metadata as written, so a hand-edited
        # catalog could drop a key (records then come without the field that identifies
        # them) or the replication key (the bookmark cannot be read). Those are QBO's, not
        # a choice: they are put back, and kept whatever the selection says.
        keys = ("realm_id", *self.entity.key)
        replication_key = "LastUpdatedTime" if self.entity.incremental else None
        if tuple(self.primary_keys or ()) != keys or self.replication_key != replication_key:
            self.logger.warning(
                "%s: the catalog's key properties or replication key differ from the tap's "
                "(%s; %s); the tap's are used.",
                self.name,
                ", ".join(keys),
                replication_key or "no replication key",
            )
            self.primary_keys, self.replication_key = keys, replication_key
        metadata = self.metadata
        for name in (*keys, *([replication_key] if replication_key else [])):
            entry = metadata.get(("properties", name))
            if entry is None:
                continue
            if entry.selected is False:
                self.logger.warning(
                    "%s: the catalog deselects '%s', which every record needs (a key or the "
                    "replication key): it is kept.",
                    self.name,
                    name,
                )
            entry.inclusion = entry.InclusionType.AUTOMATIC
        self.selected = metadata.root.selected  # the selection mask, worked out again
        vars(self).pop("all_selected", None)

    # -- where and what to ask ---------------------------------------------------------------

    @override
    def calculate_sync_cost(self, request, response, context) -> dict[str, int]:
        # Every successful read is a metered CorePlus call; a batch-served page (a Page
        # value, passed for the response) was paid for by the batch call.
        return {"query": 0 if getattr(response, "batch_served", False) else 1}

    @property
    @override
    def path(self) -> str:  # type: ignore[override]
        return f"/v3/company/{self.company.realm_id}/query"

    @property
    @override
    def is_sorted(self) -> bool:
        # Incremental queries say ORDERBY MetaData.LastUpdatedTime, so the bookmark can
        # advance record by record and a killed run resumes where it stopped.
        return self.entity.incremental

    # QBO's own clock decides order; a resumed run re-reads, never skips, so no sort check.
    check_sorted = False

    @override
    def request_priority(self) -> float:
        return getattr(self.chain_priority, "value", -math.inf)

    def first_token(self) -> t.Any:
        """The paging token of the stream's first request."""
        if not self.entity.incremental:
            return None if self.entity.singleton else 1
        return Window(self.start_time())

    def bookmark_time(self) -> dt.datetime | None:
        """The stream's bookmark in state, if it has one."""
        value = self.company_state.get("replication_key_value") if self.entity.incremental else None
        return query.parse_instant(str(value)) if value else None

    def changes_since(self) -> dt.datetime | None:
        """Since when changes are unseen: the later of the bookmark and the start (by QBO's
        clock) of the last run that finished this stream. A quiet company's bookmark can be
        months old while its last sync was yesterday; CDC reaches back 30 days from the latter.
        """
        times = [self.bookmark_time()]
        if synced := self.company_state.get(SYNCED_AT):
            times.append(query.parse_instant(str(synced)))
        known = [t for t in times if t is not None]
        return max(known) if known and self.bookmark_time() is not None else None

    def start_time(self) -> dt.datetime | None:
        """Where reading starts: the bookmark, or start_date, whichever is later.

        Computed from state and config directly, so the run plan (made before any stream
        starts, when the SDK has not yet worked out starting values) agrees with the paginator.
        """
        starts = [self.bookmark_time()]
        if start_date := self.company.config.get("start_date"):
            starts.append(query.parse_instant(str(start_date)))
        known = [s for s in starts if s is not None]
        return max(known) if known else None

    @override
    def get_records(self, context: Context | None) -> t.Iterable[dict]:
        plan = self.company.run_plan
        changes = plan.changes.get(self.entity.name)
        if changes is not None and (problem := self.changes_problem(changes.rows)):
            self.logger.warning(
                "%s: CDC's answer cannot be right (%s); reading the changes by query instead.",
                self.name,
                problem,
            )
            changes = None
        if changes is None:
            yield from super().get_records(context)
        else:
            self.logger.info(
                "%s: %d changes from CDC since %s, no query needed.",
                self.name,
                len(changes.rows),
                query.utc_text(changes.since),
            )
            yield from changes.rows  # post_process adds the tap's fields, as for query rows
        # Reached only when every record was passed on: the stream is complete up to the
        # moment (by QBO's clock) this run began reading.
        if self.entity.incremental:
            self.company_state[SYNCED_AT] = query.utc_text(self.synced_up_to(changes is not None))
            self.state_manager.is_flushed = False  # the SDK marks state dirty only per record

    def synced_up_to(self, from_cdc: bool) -> dt.datetime:
        """Up to when this stream is now known complete: the run's start, unless CDC said
        nothing at all changed in the company. That answer cannot be told from one lost on the
        way, so it moves synced_at at most to QUIET_CDC_TRUST before the run's start: the
        next runs ask again, from there, for what a single empty answer may have hidden."""
        started = self.company.run_plan.started_at
        if not (from_cdc and self.company.run_plan.cdc_silent):
            return started
        known = self.company_state.get(SYNCED_AT)
        previous = query.parse_instant(str(known)) if known else None
        trusted = started - QUIET_CDC_TRUST
        return min(started, max(previous, trusted) if previous else trusted)

    def changes_problem(self, rows: list[dict]) -> str | None:
        """Why CDC's rows for this entity cannot be right (a row without Id, or stamped in
        the future), if they cannot."""
        if problem := self.key_problem(rows, unique=False):
            return problem
        horizon = dt.datetime.now(dt.UTC) + FUTURE_ALLOWANCE
        for row in rows:
            if (time := record_time(row)) is not None and time > horizon:
                return f"row {row.get('Id')!r} is stamped {query.utc_text(time)}, in the future"
        return None

    @override
    def request_records(self, context: Context | None) -> t.Iterable[dict]:
        """The SDK's page loop, with the pages fetched ahead by a :class:`PageChain`."""
        chains = self.company.page_chains(self, context)
        try:
            with self.get_http_request_counter() as request_counter:
                request_counter.with_context(context)
                for chain in chains:  # slices of history, oldest first
                    for page in chain.pages():
                        request_counter.increment()
                        self.update_sync_costs(page.request, page, context)
                        plan = self.company.plan_made  # not made here: it calls QBO
                        expected = plan.expected_pages.get(self.name) if plan else None
                        self.company.progress.page(self.name, len(page.rows or ()), expected)
                        yield from page.rows or ()
        finally:
            # A consumer that stops early (a dry run's record limit, an error) leaves at most
            # one request per chain in flight: the sync goes on without them.
            for chain in chains:
                chain.stop()

    @override
    def get_new_paginator(self) -> BaseAPIPaginator:
        if self.entity.incremental:
            start, bookmark = self.start_time(), self.bookmark_time()
            # Reading from the bookmark, the first page holds at least the bookmarked row.
            expect = bookmark is not None and start == bookmark
            completed = SYNCED_AT in self.company_state  # some run read it to its end
            size = self.company.page_size
            return KeysetPaginator(
                start,
                size,
                expect_rows=expect,
                first_read=bookmark is None and not completed,
                prove_first=bookmark is not None and not completed,
            )
        if self.entity.singleton:
            return SinglePagePaginator()
        return _FullPagePaginator(start_value=1, page_size=self.company.page_size)

    def statement(self, token: t.Any) -> query.Select:
        """The query for one page."""
        active = (query.ALL_ACTIVE_STATES,) if self.entity.name_list else ()
        size = self.company.page_size
        if not self.entity.incremental:
            if self.entity.singleton:  # one row; QBO does not even page Preferences
                return query.Select(self.entity.name)
            return query.Select(self.entity.name, active, start_position=token, max_results=size)
        window: Window = token
        if window.tie_position is not None:
            assert window.since is not None  # a tie pass reads the rows of one time
            return query.Select(
                self.entity.name,
                (query.compare(query.LAST_UPDATED, "=", window.since), *active),
                order_by=("Id",),
                start_position=window.tie_position,
                max_results=tie_page_size(size),
            )
        bound: tuple[str, ...] = ()
        if window.since is not None:
            op = ">" if window.strict else ">="
            bound = (query.compare(query.LAST_UPDATED, op, window.since),)
        return query.Select(
            self.entity.name,
            (*bound, *active),
            order_by=(query.LAST_UPDATED,),
            start_position=window.position,
            max_results=size,
        )

    @override
    def get_url_params(self, context: Context | None, next_page_token: t.Any) -> dict:
        return {
            "query": str(self.statement(next_page_token)),
            "minorversion": self.company.minor_version,
        }

    # -- what came back --------------------------------------------------------------------

    @cached_property
    def passthrough(self) -> bool:
        """Whether rows can be written as QBO sent them (see passthrough.py): nothing
        downstream needs them as objects."""
        maps = self.stream_maps
        return (
            not self.entity.wrapped
            and self.all_selected
            and sdk_fastpath.ENABLED  # raw records are written by the fast path only
            and not self.get_batch_config(self.config)
            and len(maps) == 1
            and type(maps[0]) is SameRecordTransform
            and not maps[0].flattening_enabled
        )

    @override
    def read_body(self, response: requests.Response) -> t.Any:
        # The stream's own query pages, and batch answers (each item read later by its
        # stream as a page); CDC answers are read whole.
        path = urlsplit(response.url).path
        if path.endswith("/batch"):
            with contextlib.suppress(UnusualPage):  # then read the ordinary way, below
                return read_batch(response.content)
        elif path.endswith(self.path):
            return self.read_page(response.content)
        return super().read_body(response)

    def read_page(self, content: bytes) -> t.Any:
        """A query page's JSON, parsed (its rows raw when they can be: see passthrough);
        ValueError if it is not JSON."""
        if self.passthrough:
            with contextlib.suppress(UnusualPage):  # then read the ordinary way, below
                return read_page(self.entity.name, content)
        return json.loads(content, parse_float=decimal.Decimal)

    @override
    def parse_response(self, response: requests.Response) -> t.Iterable[dict]:
        yield from self.page_rows(wire.parsed_body(response), errors.intuit_tid(response))

    def page_request(
        self, context: Context | None, paginator: BaseAPIPaginator
    ) -> requests.PreparedRequest:
        """The request for the paginator's next page, built by the SDK's public hooks."""
        page = PageContext(stream_context=context, next_page_token=paginator.current_value)
        http = self.get_http_request(page=page)
        body = {"json" if self.payload_as_json else "data": http.data}
        return self.build_prepared_request(
            method=http.method,
            url=http.url,
            params=http.encode_params(),
            headers=http.headers,
            **body,
        )

    def answer(
        self, send: t.Callable, request: requests.PreparedRequest, context: Context | None
    ) -> tuple[t.Any, str, bool]:
        """The parsed answer to a page request, QBO's id for it, and whether it came with the
        run's batch call (then not sent again, unless QBO failed on it there)."""
        body = self.company.take_first_page(self.name, request)
        if body is not None:
            problem = self.fault_problem(body, "-")
            if isinstance(problem, FatalAPIError):
                raise problem
            if problem is None:
                self.note_time(body)
                return body, "-", True
        response = send(request, context)
        return wire.parsed_body(response), errors.intuit_tid(response), False

    def fetch_page(
        self, send: t.Callable, context: Context | None, paginator: BaseAPIPaginator
    ) -> tuple[requests.PreparedRequest, list[dict], bool]:
        """The paginator's next page: its request, its rows not passed on before, and
        whether the run's batch call brought it.

        A page QBO could not have sent for the query (see :meth:`doubt`) is asked for again,
        never taken as the stream's end; if it stays wrong, the stream fails with the reason,
        its bookmark on the last row written, where the next run resumes.
        """
        remaining = None  # rows QBO's COUNT says the window holds, once asked
        counted: dict[End, int | None] = {}  # QBO's COUNT for an apparent end, once asked
        for attempt in range(1, DOUBT_TRIES + 1):
            request = self.page_request(context, paginator)
            body, tid, batch_served = self.answer(send, request, context)
            doubt: Doubt | None
            try:
                rows = self.page_rows(body, tid)
            except FatalAPIError:
                rows, doubt = [], Doubt("an answer without QueryResponse")
            else:
                doubt = self.doubt(body, rows, paginator) or self.end_doubt(
                    rows, paginator, counted
                )
            if doubt is None:
                break
            if doubt.empty:
                if remaining is None:
                    remaining = self.count_window(paginator.current_value)
                if remaining == 0:  # the rows read there were deleted since: a true end
                    break
            if attempt < DOUBT_TRIES:
                self.company.count_call("metered query asked again")
                self.logger.warning(
                    "%s: QBO's answer cannot be right (%s) [%s]; asking again.",
                    self.name,
                    doubt.reason,
                    tid,
                )
        else:
            assert doubt is not None  # every try was doubted: none broke out of the loop
            msg = (
                f"{self.name}: QBO answered {DOUBT_TRIES} times with {doubt.reason} "
                f"[{tid}]. The stream stops before that page; its "
                "bookmark stays on the last row written, where the next run resumes."
            )
            raise FatalAPIError(msg)
        if isinstance(paginator, KeysetPaginator):
            rows = paginator.admit(rows)
        return request, rows, batch_served

    def doubt(self, body: t.Any, rows: list[dict], paginator: BaseAPIPaginator) -> Doubt | None:
        """Why a page cannot be QBO's answer to the query asked, if it cannot."""
        page = body.get("QueryResponse") or {}
        stated = page.get("maxResults")  # QBO's own count of the rows it returned
        if type(stated) is int and stated != len(rows):
            return Doubt(f"a page of {len(rows)} rows that says it holds {stated}")
        if problem := self.key_problem(rows, unique=True):
            return Doubt(problem)
        if isinstance(paginator, KeysetPaginator):
            return paginator.doubt(rows, dt.datetime.now(dt.UTC) + FUTURE_ALLOWANCE)
        return None

    def end_doubt(
        self, rows: list[dict], paginator: BaseAPIPaginator, counted: dict[End, int | None]
    ) -> Doubt | None:
        """Why a short page after a full one cannot be the window's end: QBO counts rows
        after it that were stamped before the run began (see KeysetPaginator.unproven_end)."""
        if not isinstance(paginator, KeysetPaginator):
            return None
        plan = self.company.plan_made  # made before any page chain starts
        started = plan.started_at if plan else dt.datetime.now(dt.UTC) - FUTURE_ALLOWANCE
        end = paginator.unproven_end(rows, started)
        if end is None:
            return None
        if end not in counted:
            counted[end] = self.count_where(
                query.compare(query.LAST_UPDATED, ">=", end.since),
                query.compare(query.LAST_UPDATED, "<", end.before),
            )
        total = counted[end]
        if total is None:
            self.logger.warning(
                "%s: QBO's COUNT held no count; the short page at %s is taken as the end.",
                self.name,
                query.utc_text(end.since),
            )
            return None
        if total <= end.read:
            return None
        return Doubt(
            f"a short page of {len(rows)} rows, ending at {query.utc_text(end.since)}, though "
            f"QBO counts {total - end.read} more rows stamped before {query.utc_text(end.before)}"
        )

    def key_problem(self, rows: list[dict], *, unique: bool) -> str | None:
        """A row without its Id, or (``unique``) an Id twice, among rows of one answer."""
        if self.entity.key != ("Id",):  # the few keyless entities are not read as raw rows
            return None
        seen = set()
        for position, row in enumerate(rows, 1):
            row_id = row.get("Id")
            if row_id is None or row_id == "":
                return f"row {position} without an Id"
            if unique and row_id in seen:
                return f"Id {row_id!r} twice in one page (a row it displaced goes unseen)"
            seen.add(row_id)
        return None

    def count_window(self, window: Window) -> int | None:
        """How many rows QBO counts in a window (from its position, for a tied second), by a
        COUNT query: asked only when a page came back empty where rows were expected. None
        if the answer holds no count."""
        total = self.count_where(*self.statement(window).where, active=False)
        if total is None:
            return None
        return max(0, total - (window.tie_position or 1) + 1)

    def count_where(self, *where: str, active: bool = True) -> int | None:
        """QBO's COUNT of this entity's rows that meet ``where`` (and, for name lists, of
        every Active state unless ``where`` already says so); None if the answer holds none."""
        if active and self.entity.name_list:
            where = (*where, query.ALL_ACTIVE_STATES)
        count = query.Select(self.entity.name, where, count=True)
        response = self.send("GET", "query", params={"query": str(count)}, kind="count")
        total = (wire.parsed_body(response).get("QueryResponse") or {}).get("totalCount")
        return total if type(total) is int else None

    def page_rows(self, body: t.Any, tid: str) -> list[dict]:
        """The entity rows of a query page (validated by validate_response, or from /batch)."""
        page = body.get("QueryResponse") if isinstance(body, dict) else None
        if not isinstance(page, dict):
            msg = f"{self.name}: a response without QueryResponse [{tid}]"
            raise FatalAPIError(msg)
        rows = page.get(self.entity.name, [])
        if isinstance(rows, dict):  # single-row entities may come unwrapped
            rows = [rows]
        if self.entity.wrapped:
            rows = [lift_wrapped(row) for row in rows]
        return rows

    @override
    def post_process(self, row: dict, context: Context | None = None) -> dict | None:
        if isinstance(row, RawRow):
            time_text = row.time_text  # worked out where the page was read
        else:
            time = record_time(row)
            time_text = query.utc_text(time) if time else None
        added = {"realm_id": self.company.realm_id, "LastUpdatedTime": time_text}
        if row.get("status") == "Deleted":
            added["_sdc_deleted_at"] = time_text
        return RawRecord(row, added) if isinstance(row, RawRow) else {**row, **added}


TRANSIENT_FAULT_TYPES = frozenset({"systemfault"})
# Throttled, gateway timeout, service unavailable, "an application error has occurred".
TRANSIENT_FAULT_CODES = frozenset({"3001", "3002", "6002", "6003", "10000"})


def is_transient_fault(fault: dict) -> bool:
    """Whether a Fault inside a 200 may pass if asked again (QBO's side failed), rather than
    refuse the request itself whatever the number of tries."""
    if str(fault.get("type") or "").lower() in TRANSIENT_FAULT_TYPES:
        return True
    found = fault.get("Error") or fault.get("error") or []
    codes = {
        str(e.get("code"))
        for e in (found if isinstance(found, list) else [found])
        if isinstance(e, dict)
    }
    return bool(codes & TRANSIENT_FAULT_CODES)


def _retry_after(response: requests.Response) -> float | None:
    """Seconds from a Retry-After header (delta seconds or an HTTP date), if QBO sent one."""
    value = response.headers.get("Retry-After")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        when = email.utils.parsedate_to_datetime(value)
        return max(0.0, when.timestamp() - time.time()) if when else None


class _FullPagePaginator(OffsetPaginator):
    """STARTPOSITION paging for the small full-table lists: a short page is the last."""

    @override
    def has_more(self, response: t.Any) -> bool:
        # Given the page (readahead.Page), as a value: its rows are the answer's.
        return len(response.rows or ()) >= self.page_size
