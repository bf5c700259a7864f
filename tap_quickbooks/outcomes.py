"""How each stream of a run ended, and the ``sync_status`` stream that reports it.

Companies differ (edition, country, features): QBO refuses what a company cannot have with
HTTP 400 and code 4001 "Metadata not found for Entity", 5020 "Permission Denied Error" or
120 "Authorization Failure". Such a stream is skipped for the run, with one warning, its
state left as it was. Any other error that ends one stream is kept and the other streams
go on; the run then exits non-zero naming each. Errors about the whole company (a refused
refresh token, a company the app may not read) still stop the run at once.
"""

from __future__ import annotations

import collections
import copy
import datetime as dt
import json
import logging
import typing as t
from dataclasses import dataclass

from singer_sdk import Stream
from singer_sdk import typing as th
from singer_sdk.exceptions import FatalAPIError, RetriableAPIError

from tap_quickbooks import errors

if t.TYPE_CHECKING:
    import requests
    from singer_sdk.helpers.types import Context

logger = logging.getLogger("tap_quickbooks.outcomes")

SYNC_STATUS = "sync_status"
OK, UNAVAILABLE, FAILED = "ok", "unavailable", "failed"
NOT_AUTHORIZED = "not_authorized"  # the company's refresh token was refused: nothing read
STOPPED = "stopped"  # the run was stopped (SIGTERM, SIGINT) before the stream ended
MAX_ERROR = 1000
# QBO's codes for "this company cannot have that" (see module doc).
UNAVAILABLE_CODES = {"4001", "5020", "120"}
# Codes that concern the whole company, not one stream: 6190 subscription ended,
# 3100 the app may not read this company.
COMPANY_CODES = {"6190", "3100", "003100"}


class StreamUnavailable(FatalAPIError):
    """QBO says the company cannot have what the stream reads."""


class CompanyRefused(FatalAPIError):
    """QBO refuses the whole company: no stream can be read."""


def fault_errors(fault: dict | None) -> list[dict]:
    found = (fault or {}).get("Error") or (fault or {}).get("error") or []
    return [e for e in (found if isinstance(found, list) else [found]) if isinstance(e, dict)]


def is_unavailable_fault(fault: dict | None) -> bool:
    """Whether a QBO fault says the entity or report is not part of this company."""
    for error in fault_errors(fault):
        code = str(error.get("code") or "")
        detail = str(error.get("Detail") or error.get("detail") or "")
        if code == "4001" and "Metadata not found" not in detail:
            continue  # 4001 also means a bad query (a field that is not queryable)
        if code in UNAVAILABLE_CODES:
            return True
    return False


def is_company_fault(fault: dict | None) -> bool:
    return any(str(e.get("code") or "") in COMPANY_CODES for e in fault_errors(fault))


def fault_of_response(response: requests.Response) -> dict | None:
    try:
        return errors.fault_of(json.loads(response.content or b"null"))
    except ValueError:
        return None


def refusal(name: str, response: requests.Response) -> FatalAPIError | None:
    """The error to raise for a 4xx answer that is about the company, not the request."""
    if response.status_code == 403:  # AuthorizationFailed: the app may not read this realm
        return CompanyRefused(f"{name}: {errors.describe(response)}")
    fault = fault_of_response(response)
    if is_company_fault(fault):
        return CompanyRefused(f"{name}: {errors.describe(response)}")
    if is_unavailable_fault(fault):
        return StreamUnavailable(f"{name}: {errors.describe(response)}")
    return None


def company_wide(exc: BaseException) -> bool:
    """Whether an error stops the whole run rather than one stream."""
    if isinstance(exc, CompanyRefused):
        return True
    response = getattr(exc, "response", None)
    return isinstance(exc, RetriableAPIError) and getattr(response, "status_code", 0) == 401


def now_text() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass
class Outcome:
    stream: str
    started_at: str
    status: str = OK
    finished_at: str | None = None
    records: int = 0
    metered_calls: int = 0
    bookmark: str | None = None
    error: str | None = None


class ReportingStream(t.Protocol):
    """What an outcome needs of its stream (client.QuickBooksTransport is one)."""

    @property
    def name(self) -> str: ...

    @property
    def logger(self) -> logging.Logger: ...

    @property
    def company_state(self) -> dict: ...


class RunOutcomes:
    """Every stream's outcome in this run, in the order they were synced."""

    def __init__(self, log: logging.Logger) -> None:
        self.logger = log
        self.by_stream: dict[str, Outcome] = {}
        self._snapshots: dict[str, dict] = {}

    def begin(self, stream: ReportingStream) -> Outcome:
        self._snapshots[stream.name] = copy.deepcopy(dict(stream.company_state))
        outcome = Outcome(stream.name, now_text())
        self.by_stream[stream.name] = outcome
        return outcome

    def unavailable(self, stream: ReportingStream, reason: str) -> None:
        """Skip the stream this run; its state goes back to what it was."""
        outcome = self.by_stream[stream.name]
        outcome.status, outcome.error, outcome.records = UNAVAILABLE, _short(reason), 0
        state = stream.company_state
        state.clear()
        state.update(self._snapshots.get(stream.name, {}))
        stream.logger.warning(
            "%s: not available in this company, skipped this run (QBO: %s). It is read "
            "again on every run, from when the company has it.",
            stream.name,
            reason.removeprefix(f"{stream.name}: "),
        )

    def failed(self, stream: ReportingStream, exc: BaseException) -> None:
        outcome = self.by_stream[stream.name]
        text = str(exc).removeprefix(f"{stream.name}: ")
        if isinstance(exc, RetriableAPIError):
            text = f"Retries exhausted: {text}"
        outcome.status, outcome.error = FAILED, _short(f"{stream.name}: {text}")
        stream.logger.error(
            "%s. The other streams go on; this one resumes from its last STATE next run.",
            outcome.error,
        )

    def end(self, stream: ReportingStream, records: int) -> None:
        outcome = self.by_stream[stream.name]
        outcome.finished_at = now_text()
        if outcome.status != UNAVAILABLE:
            outcome.records = records
        outcome.metered_calls = sum((getattr(stream, "sync_costs", None) or {}).values())
        value = stream.company_state.get("replication_key_value")
        outcome.bookmark = str(value) if value is not None else None

    def not_authorized(self, streams: t.Iterable[Stream], reason: str) -> None:
        """The company's token was refused: none of its streams was read this run."""
        for stream in streams:
            if stream.name not in self.by_stream:
                self.by_stream[stream.name] = Outcome(stream.name, now_text())
            outcome = self.by_stream[stream.name]
            outcome.status, outcome.error, outcome.records = NOT_AUTHORIZED, _short(reason), 0
            outcome.finished_at = outcome.finished_at or now_text()

    def failed_all(self, streams: t.Iterable[Stream], reason: str) -> None:
        """The whole company stopped: its streams not yet finished failed this run."""
        for stream in streams:
            if stream.name not in self.by_stream:
                self.by_stream[stream.name] = Outcome(stream.name, now_text())
            outcome = self.by_stream[stream.name]
            outcome.status, outcome.error = FAILED, _short(reason)
            outcome.finished_at = outcome.finished_at or now_text()

    def stopped(self, streams: t.Iterable[Stream], reason: str) -> None:
        """The run was stopped: the streams not ended yet (begun or not) resume from their
        STATE next run."""
        for stream in streams:
            outcome = self.by_stream.get(stream.name)
            if outcome is None:
                outcome = self.by_stream[stream.name] = Outcome(stream.name, now_text())
            elif outcome.finished_at is not None:
                continue
            else:  # cut short: what it wrote and spent until then
                outcome.records = getattr(stream, "records_synced", 0)
                outcome.metered_calls = sum((getattr(stream, "sync_costs", None) or {}).values())
            outcome.status, outcome.error = STOPPED, reason
            outcome.finished_at = now_text()

    def failures(self) -> list[Outcome]:
        return [o for o in self.by_stream.values() if o.status in {FAILED, NOT_AUTHORIZED}]

    def report_failures(self, realm: str | None = None) -> list[Outcome]:
        """Log each failed stream (of ``realm``, in a run of several); return them."""
        failed = [o for o in self.by_stream.values() if o.status == FAILED]
        of = f" of realm {realm}" if realm else ""
        for outcome in failed:
            self.logger.error("Stream %s%s failed: %s", outcome.stream, of, outcome.error)
        if failed:
            self.logger.error(
                "%d stream(s)%s failed (%s); every other stream was synced and its STATE "
                "written. Hand the last STATE to the next run: the failed streams resume "
                "from theirs.",
                len(failed),
                of,
                ", ".join(o.stream for o in failed),
            )
        return failed


def _short(text: str) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= MAX_ERROR else text[:MAX_ERROR] + " ..."


class ReportedCompany(t.Protocol):
    """What the sync_status stream needs of a company (company.Company is one, and imports
    this module)."""

    @property
    def context(self) -> dict | None: ...

    @property
    def realm_id(self) -> str: ...

    @property
    def outcomes(self) -> RunOutcomes: ...

    def metered_calls(self) -> collections.Counter: ...

    def stream_logged(self) -> None: ...


class SyncStatusStream(Stream):
    """One record per stream per run: how it went. Synced last, after every other stream."""

    name = SYNC_STATUS
    primary_keys = ("realm_id", "stream")
    schema = th.PropertiesList(
        th.Property("realm_id", th.StringType, required=True),
        th.Property("stream", th.StringType, required=True),
        th.Property(
            "status",
            th.StringType,
            allowed_values=[OK, UNAVAILABLE, FAILED, NOT_AUTHORIZED, STOPPED],
        ),
        th.Property("started_at", th.DateTimeType),
        th.Property("finished_at", th.DateTimeType),
        th.Property("records", th.IntegerType),
        th.Property("metered_calls", th.IntegerType),
        th.Property("bookmark", th.StringType),
        th.Property("error", th.StringType),
        th.Property("consecutive_failures", th.IntegerType),
        th.Property(
            "company_metered_calls",
            th.IntegerType,
            description=(
                "The company's metered calls this run, every stream's and those shared by "
                "several (CDC, each batch item): the same on each of its records."
            ),
        ),
    ).to_dict()

    def __init__(self, tap: t.Any, companies: t.Sequence[ReportedCompany]) -> None:
        self.companies = companies  # every company of the run, each reported on
        self.begun = False
        super().__init__(tap)

    @property
    def partitions(self) -> list[dict] | None:
        # One sync for all companies: their counters are partitions, read in get_records.
        return None

    def get_records(self, context: Context | None) -> t.Iterable[dict]:
        self.begun = True
        for company in self.companies:
            yield from self.company_records(company)

    def company_records(self, company: ReportedCompany) -> t.Iterator[dict]:
        # Counters are kept per company (in its state partition, when the run has several).
        state = self.get_context_state(company.context)
        kept = dict(state.get("consecutive_failures") or {})
        # Every other stream of the company has ended: its count is final.
        metered = sum(company.metered_calls().values())
        for outcome in company.outcomes.by_stream.values():
            if outcome.stream == self.name:
                continue
            failed = outcome.status in {FAILED, NOT_AUTHORIZED}
            failures = kept.get(outcome.stream, 0) + 1 if failed else 0
            if outcome.status == STOPPED:  # neither a failure nor a success of the stream
                failures = kept.get(outcome.stream, 0)
            kept[outcome.stream] = failures
            yield {
                "realm_id": company.realm_id,
                "stream": outcome.stream,
                "status": outcome.status,
                "started_at": outcome.started_at,
                "finished_at": outcome.finished_at,
                "records": outcome.records,
                "metered_calls": outcome.metered_calls,
                "bookmark": outcome.bookmark,
                "error": outcome.error,
                "consecutive_failures": failures,
                "company_metered_calls": metered,
            }
        state["consecutive_failures"] = kept
        self.state_manager.is_flushed = False  # the SDK flags a change only on a record

    def report_stop(self, signal_name: str, streams_of: t.Callable[[t.Any], list]) -> None:
        """A stopped run's records: each company that spent a call says which of its streams
        ended and which did not, with what it spent (a budget counts them). Not again if the
        stop came while they were being written."""
        if not self.selected or self.begun:
            return
        reason = f"The run was stopped by {signal_name}; the stream resumes from its STATE."
        for company in self.companies:
            if company.outcomes.by_stream or sum(company.metered_calls().values()):
                wanted = [s for s in streams_of(company) if s.selected and s.name != self.name]
                company.outcomes.stopped(wanted, reason)
        self.sync()
        self.finalize_state_progress_markers()

    def log_sync_costs(self) -> None:
        super().log_sync_costs()
        for company in self.companies:
            company.stream_logged()
