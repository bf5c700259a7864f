"""Financial reports (ProfitAndLoss, BalanceSheet, ...) as typed, keyed streams.

A report stream asks for its report once per period and accounting method, in order, and
bookmarks each period as it ends; a window QBO cannot answer whole is read in halves and put
back together. The periods are asked for by a page chain of their own (readahead.py), one
answer a page: in a whole run every company's reports are read at once, from the start, not
one company's after another's as the main thread writes them. Its parts have rooms of their
own: which reports (``report_catalogue``), which periods (``report_periods``), reading QBO's
table (``report_table``), its lines as records (``report_records``), merging split windows
(``report_merge``), the schemas (``report_schema``).
"""

from __future__ import annotations

import datetime as dt
import decimal
import json
import threading
import typing as t
from http import HTTPStatus

from singer_sdk.exceptions import ConfigValidationError, FatalAPIError, RetriableAPIError
from singer_sdk.pagination import BaseAPIPaginator

from tap_quickbooks import errors, wire
from tap_quickbooks.client import QuickBooksTransport
from tap_quickbooks.report_catalogue import DEFAULT_BASIS, REPORTS, Kind, Report
from tap_quickbooks.report_merge import Merger
from tap_quickbooks.report_periods import (
    Period,
    ReportSettings,
    period_of,
    periods_back,
    periods_from,
)
from tap_quickbooks.report_records import Reader
from tap_quickbooks.report_schema import PRIMARY_KEYS, report_schema
from tap_quickbooks.report_table import columns_of, day, is_truncated

if t.TYPE_CHECKING:
    import requests
    from singer_sdk.helpers.types import Context

    from tap_quickbooks.company import Company

try:
    from typing import override  # type: ignore[attr-defined]
except ImportError:  # Python 3.11
    from typing_extensions import override


class ReportTooLarge(Exception):
    """QBO could not answer a report for this window in one piece."""


Ask = tuple[Period, str | None]  # one request of a report: a period and accounting method


class PeriodPaginator(BaseAPIPaginator[Ask | None]):
    """A report's requests in order, one a page; an empty answer does not end them. None
    to begin with: there is nothing to ask."""

    def __init__(self, asks: list[Ask]) -> None:
        super().__init__(asks[0] if asks else None)
        self.asks = asks

    @override
    def get_next(self, response: t.Any) -> Ask | None:
        return self.asks[self.count] if self.count < len(self.asks) else None

    @override
    def continue_if_empty(self, response: t.Any) -> bool:
        return True


class ReportStream(QuickBooksTransport):
    """One QBO report: a record per line, per period and accounting method."""

    primary_keys = PRIMARY_KEYS
    replication_key = "period_start"
    # Periods are read in order, so the bookmark advances period by period and a killed run
    # resumes from the last one. The look-back moves it back at a run's start: no sort check.
    is_sorted = True
    check_sorted = False
    # Every period and method is a metered call: reports are chosen, not extracted by default.
    selected_by_default = False

    def __init__(
        self, tap: t.Any, report: Report, settings: ReportSettings, company: Company
    ) -> None:
        self.company = company
        self.report = report
        self.settings = settings
        self.reader = Reader(report)
        self._window = threading.local()  # whether the window being asked for can split
        # Set by its page chain (readahead.py), unread: a report's requests go before the
        # entity streams' (request_priority), as they are written first.
        self.chain_priority = threading.local()
        super().__init__(tap=tap, name=report.stream, schema=report_schema(report))

    @property
    @override
    def path(self) -> str:  # type: ignore[override]
        return f"/v3/company/{self.company.realm_id}/reports/{self.report.name}"

    # -- what to read ----------------------------------------------------------------------

    def bookmark(self) -> dt.date | None:
        """The period start of the last period read, from state (whatever its text form)."""
        state = self.company_state
        value = state.get("replication_key_value")
        if not value or state.get("replication_key") != self.replication_key:
            return None
        return day(str(value)[:10])

    def periods(self) -> list[Period]:
        unit = self.settings.unit
        first = period_of(self.settings.start, unit)
        if (mark := self.bookmark()) is not None:
            resume = periods_back(period_of(mark, unit), self.settings.lookback, unit)
            first = max(first, resume, key=lambda p: p.start)
        return periods_from(first, period_of(self.settings.end, unit), unit)

    def methods(self) -> tuple[str | None, ...]:
        return self.settings.methods if self.report.takes_method else (None,)

    def params(self, window: Period, method: str | None) -> dict:
        if self.report.kind is Kind.AGING:  # open balances as of a day
            params: dict[str, t.Any] = {"report_date": window.end.isoformat()}
        else:
            params = {"start_date": window.start.isoformat(), "end_date": window.end.isoformat()}
        if method:
            params["accounting_method"] = method
        params["minorversion"] = self.company.minor_version
        return params

    def asks(self) -> list[Ask]:
        """Every request of the run, in order: each period, with each accounting method."""
        return [(period, method) for period in self.periods() for method in self.methods()]

    @override
    def get_new_paginator(self) -> PeriodPaginator:
        return PeriodPaginator(self.asks())

    def fetch_page(
        self, send: t.Callable, context: Context | None, paginator: BaseAPIPaginator
    ) -> tuple[requests.PreparedRequest, list[dict], bool]:
        """The paginator's next answer (in a page chain's thread): the request for its whole
        window (a chain's page names one; its own may be halves), and its records. Sent by
        :meth:`ask`, with the retries every request of the tap has, not by ``send``."""
        period, method = t.cast(Ask, paginator.current_value)
        return self.request_for(period, method), self.records(period, method), False

    def records(self, period: Period, method: str | None) -> list[dict]:
        """The report's lines for one period and accounting method, as records."""
        answer = self.fetch(period, method)
        basis = method or (answer.get("Header") or {}).get("ReportBasis") or DEFAULT_BASIS
        return [
            {
                "realm_id": self.company.realm_id,
                "report": self.report.name,
                "accounting_method": basis,
                "period_start": period.start.isoformat(),
                "period_end": period.end.isoformat(),
                **record,
            }
            for record in self.reader.records(answer)
        ]

    @override
    def get_records(self, context: Context | None) -> t.Iterable[dict]:
        periods = self.periods()
        if not periods:
            return
        self.logger.info(
            "%s: %d %s period(s) %s to %s, %s.",
            self.name,
            len(periods),
            self.settings.unit,
            periods[0].start,
            periods[-1].end,
            ", ".join(m or "no accounting method in QBO" for m in self.methods()),
        )
        if not self.company.reads_ahead:
            # A dry run, or a stream synced alone: asked for one by one as written, so a run
            # that stops early (--test) asks no period it does not write (each is metered).
            asks = self.asks()
            yield from self.written(asks, (self.records(*ask) for ask in asks))
            return
        chains = self.company.page_chains(self, context)
        try:
            for chain in chains:  # one
                asks = t.cast(PeriodPaginator, chain.paginator).asks
                yield from self.written(asks, (page.rows or [] for page in chain.pages()))
        finally:
            for chain in chains:
                chain.stop()

    def written(self, asks: list[Ask], answers: t.Iterable[list[dict]]) -> t.Iterator[dict]:
        """Each ask's records, its period bookmarked once the period's last ask is written."""
        for n, records in enumerate(answers):
            yield from records
            period = asks[n][0]
            if n + 1 == len(asks) or asks[n + 1][0] != period:
                self.checkpoint(period)

    def checkpoint(self, period: Period) -> None:
        """Bookmark a finished period, empty ones too, in a STATE message: a killed run
        resumes there, and a quiet company does not re-read ever more empty periods. Out
        with the first line written a second after the last STATE (output.py): a report's
        period is a slow, metered call, not to be asked again after a kill."""
        state = self.company_state
        state["replication_key"] = self.replication_key
        state["replication_key_value"] = period.start.isoformat()
        self.company.write_state(soon=True)
        self.state_manager.is_flushed = True

    # -- reading a window, in pieces if QBO cannot answer it whole ---------------------------

    def fetch(self, window: Period, method: str | None) -> dict:
        """The report for a window; halved, down to single days, while QBO cannot answer."""
        try:
            return self.ask(window, method)
        except ReportTooLarge as exc:
            if not (self.report.splittable and window.days > 1):
                msg = (
                    f"{self.name}: QBO cannot answer {self.report.name} for {window} "
                    f"({method or 'no basis'}) in one piece ({exc}), and it cannot be split "
                    "further; the report cannot be extracted completely."
                )
                raise FatalAPIError(msg) from exc
            left, right = window.halves()
            self.logger.warning(
                "%s: QBO could not answer %s (%s) in one piece (%s); reading it as %s and %s.",
                self.name,
                window,
                method or "no basis",
                exc,
                left,
                right,
            )
            parts = [self.fetch(left, method), self.fetch(right, method)]
            return Merger(self.report, columns_of(parts[0])).merge(parts)

    def request_for(self, window: Period, method: str | None) -> requests.PreparedRequest:
        return self.build_prepared_request(
            method="GET",
            url=f"{self.url_base}{self.path}",
            params=self.params(window, method),
            headers=self.http_headers,
        )

    def ask(self, window: Period, method: str | None) -> dict:
        """One request for one window, retried as the entity streams retry."""
        request = self.request_for(window, method)
        self._window.can_split = self.report.splittable and window.days > 1
        # The SDK types its retrying decorator for functions answering a Response; it retries
        # any function, and this one answers the parsed report.
        retried = self.request_decorator(t.cast(t.Any, self._answer))
        answer = t.cast(dict, retried(request, None))
        if is_truncated(answer):
            raise ReportTooLarge("QBO: 'Unable to display more data'")
        self.check_header(answer, window, method)
        return answer

    def check_header(self, answer: dict, window: Period, method: str | None) -> None:
        """Warn when QBO says it answered for other dates or another basis than asked:
        the rows are then labelled with what was asked, which would not be what they are."""
        header = answer.get("Header") or {}
        said = {"EndPeriod": header.get("EndPeriod"), "ReportBasis": header.get("ReportBasis")}
        asked = {"EndPeriod": window.end.isoformat(), "ReportBasis": method}
        if self.report.kind is not Kind.AGING:
            said["StartPeriod"] = header.get("StartPeriod")
            asked["StartPeriod"] = window.start.isoformat()
        for name, value in said.items():
            if value and asked[name] and value != asked[name]:
                self.logger.warning(
                    "%s: asked QBO for %s %s, it answered %s.", self.name, name, asked[name], value
                )

    def _answer(self, request: requests.PreparedRequest, context: Context | None) -> dict:
        response = self.send_once(request, context)
        self.update_sync_costs(request, response, context)
        answer = wire.parsed_body_if_any(response)  # parsed by validate_response, if it did
        try:
            if answer is None:
                answer = json.loads(response.content, parse_float=decimal.Decimal)
        except ValueError as exc:  # a body cut short in transit: asked for again
            raise RetriableAPIError(f"{self.name}: {errors.describe(response)}", response) from exc
        # A Fault inside a 200 was judged by validate_response (retried or fatal), as for
        # every request of the tap.
        if not isinstance(answer, dict) or "Header" not in answer:
            msg = f"{self.name}: an answer that is no report [{errors.intuit_tid(response)}]"
            raise RetriableAPIError(msg, response)
        return answer

    @override
    def validate_response(self, response: requests.Response) -> None:
        # A gateway timeout on a report is mostly its size: a smaller window beats a retry.
        can_split = getattr(self._window, "can_split", False)
        if response.status_code == HTTPStatus.GATEWAY_TIMEOUT and can_split:
            raise ReportTooLarge(f"HTTP 504 [intuit_tid={errors.intuit_tid(response)}]")
        super().validate_response(response)

    @override
    def calculate_sync_cost(self, request, response, context) -> dict[str, int]:
        return {"report": 1}


def report_streams(tap: t.Any, company: Company) -> list[ReportStream]:
    """The report streams of one company."""
    today = dt.datetime.now(dt.UTC).date()
    try:
        settings = ReportSettings.from_config(company.config, today)
    except ConfigValidationError:
        # Only where config is not validated (discovery, which has logged the problems):
        # the streams' catalog does not depend on these settings.
        settings = ReportSettings.from_config({}, today)
    return [ReportStream(tap, report, settings, company) for report in REPORTS]
