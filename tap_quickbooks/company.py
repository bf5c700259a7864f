"""Company: what one company's run shares, handed down to each of its streams.

Typed settings, one HTTP session, the authenticator and token keeping, the rate limiter (QBO's
limits are per company and app), the call ledger, QBO's clock, the run plan with its
prefetched first pages, the page chains and the progress log. A run of many companies has one
of these per company; nothing in it belongs to another company.
"""

from __future__ import annotations

import collections
import contextlib
import datetime as dt
import logging
import math
import random
import threading
import time
import typing as t
from functools import cached_property
from urllib.parse import parse_qs, urlparse

import requests

from tap_quickbooks import query, throttle, wire
from tap_quickbooks.auth import PRODUCTION_TOKEN_URL, QuickBooksAuthenticator, TokenKeeper
from tap_quickbooks.changes import PlannedStream, RunPlan, plan_run
from tap_quickbooks.outcomes import RunOutcomes
from tap_quickbooks.paging import FUTURE_ALLOWANCE, KeysetPaginator
from tap_quickbooks.progress import Progress
from tap_quickbooks.readahead import PageChain, PageSource, Slicer

if t.TYPE_CHECKING:
    from singer_sdk.pagination import BaseAPIPaginator

API_URLS = {
    "production": "https://quickbooks.api.intuit.com",
    "sandbox": "https://sandbox-quickbooks.api.intuit.com",
}
LOWEST_MINOR_VERSION = 75  # QBO serves anything lower as 75 since 2025-08-01
AUTH_STATE_KEY = "quickbooks_auth"


def number(config: t.Mapping[str, t.Any], key: str) -> float | None:
    """A numeric setting, or None when absent or not a number (the schema says so)."""
    value = config.get(key)
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return value


def page_estimate(pages: float) -> str:
    """The plan's estimate, from the time span of a stream's first page, in words that do not
    alarm: rows created in bulk share a second, and made it read "about 500,308 pages"."""
    if pages <= 10_000:
        return f"about {math.ceil(pages):,} pages"
    return "many pages (its first page spans little of its history)"


class ChainedStream(PageSource, t.Protocol):
    """A stream read by page chains: an entity's (client.py) or a report's (reports.py)."""

    @property
    def selected(self) -> bool: ...

    def get_new_paginator(self) -> BaseAPIPaginator: ...


class CompanyStream(PlannedStream, ChainedStream, t.Protocol):
    """What a company needs of its entity streams (client.CompanyStream is one): planned,
    and read by page chains."""


class Company:
    """One company of the run and the services its streams share.

    ``config`` is the tap's config as this company sees it: the shared settings with its own
    ``realm_id``, ``refresh_token`` and ``start_date``. ``context`` is its state partition:
    None for a single-company config (state as it always was), else ``{"realm_id": ...}``.
    """

    def __init__(
        self,
        config: t.Mapping[str, t.Any],
        *,
        context: dict | None,
        logger: logging.Logger,
        state: t.Callable[[], dict],
        write_state: t.Callable[[bool], None],
        token_store_failed: list[str],
    ) -> None:
        self.config = config
        self.context = context
        self.logger = logger
        self._state = state  # the tap's Singer state (written by the main thread only)
        self._write_state = write_state
        self._token_store_failed = token_store_failed
        self.streams: t.Sequence[CompanyStream] = []  # its entity streams, set by the tap
        self.report_streams: t.Sequence[ChainedStream] = []  # and its report streams
        self.all_streams: list[t.Any] = []  # every stream reporting its costs for it
        self.not_authorized: str | None = None  # why QBO refused its token (or it), if it did
        self.failed: str | None = None  # what else stopped the whole company, if anything

    # -- settings ------------------------------------------------------------------------------

    @cached_property  # read for every record; the config does not change during a run
    def realm_id(self) -> str:
        return str(self.config["realm_id"])

    @property
    def api_url(self) -> str:
        url = self.config.get("api_url") or API_URLS[self.config.get("environment", "production")]
        return url.rstrip("/")

    @property
    def token_url(self) -> str:
        return self.config.get("token_url") or PRODUCTION_TOKEN_URL

    # A value of the wrong type reaches these only in discovery (a sync validates first):
    # the default then serves, the problem having been logged.
    @property
    def page_size(self) -> int:
        return int(number(self.config, "page_size") or query.MAX_RESULTS)

    @property
    def minor_version(self) -> int:
        return max(LOWEST_MINOR_VERSION, int(number(self.config, "minor_version") or 0))

    # -- what its streams share ------------------------------------------------------------------

    @cached_property
    def outcomes(self) -> RunOutcomes:
        """How each of its streams ended this run (read by the sync_status stream, last)."""
        return RunOutcomes(self.logger)

    @cached_property
    def http_session(self) -> requests.Session:
        """The company's one HTTP session (see wire.py), shared by its streams."""
        return wire.session()

    @cached_property
    def limiter(self) -> throttle.RequestLimiter | throttle.SharedLimiter:
        return throttle.limiter(self.config, self.realm_id)

    _run_plan: RunPlan | None = None

    @property
    def run_plan(self) -> RunPlan:
        """CDC and batch answers, fetched once before its first stream reads anything."""
        # Not a cached_property: before Python 3.12 it holds one lock for every instance,
        # and companies plan at once, each waiting on QBO.
        with self._plan_lock:
            if self._run_plan is None:
                self._run_plan = self._make_plan()
            return self._run_plan

    @property
    def plan_made(self) -> RunPlan | None:
        """The run plan if made (reading it must not make it: that calls QBO)."""
        return self._run_plan

    @cached_property
    def _plan_lock(self) -> threading.Lock:
        return threading.Lock()

    def _make_plan(self) -> RunPlan:
        local_now = dt.datetime.now(dt.UTC)
        plan = plan_run(self.streams, local_now)
        # Streams are complete up to when this run began reading, by QBO's clock if it told us
        # (a few minutes earlier, for clocks that disagree within QBO). Whichever clock is
        # behind wins: an answer's time ahead of this machine (a QBO clock gone wrong, or a
        # time changed on the way) would mark changes not yet read as read.
        server = self.server_time
        if server is not None and server > local_now + FUTURE_ALLOWANCE:
            self.logger.warning(
                "QBO's answer reads %s, later than this machine's clock (%s): the run counts "
                "by this machine's clock instead. If this machine's clock is behind, fix it.",
                query.utc_text(server),
                query.utc_text(local_now),
            )
        plan.started_at = min(server or local_now, local_now) - dt.timedelta(minutes=5)
        return plan

    server_time: dt.datetime | None = None

    def write_state(self, *, soon: bool = False) -> None:
        """Write the run's state in a STATE message (main thread only); the writer may hold
        it a while (output.py), under a second if asked for ``soon``."""
        self._write_state(soon)

    def note_server_time(self, text: str) -> None:
        """Keep the first time QBO reported, so the run can bookmark by QBO's clock."""
        if self.server_time is None:
            with contextlib.suppress(ValueError, TypeError):
                self.server_time = query.parse_instant(text)

    def take_first_page(self, stream: str, request: requests.PreparedRequest) -> t.Any:
        """The batch-fetched first page of a stream (read as its pages are), if this is its
        request: once. None otherwise."""
        if self._run_plan is None:  # the plan's own calls are being made
            return None
        prefetched = self._run_plan.first_pages.get(stream)
        if not prefetched:
            return None
        sent = parse_qs(urlparse(request.url or "").query).get("query", [None])[0]
        if sent != prefetched[0]:
            return None
        del self._run_plan.first_pages[stream]
        return prefetched[1]

    # -- page chains: its streams' pages, fetched ahead -------------------------------------

    reads_ahead = False  # a whole run: every stream's pages are fetched from the start
    _chains: dict[str, list[PageChain]] | None = None

    @cached_property
    def _started_chains(self) -> list[PageChain]:
        return []

    def _chain(self, chain: PageChain) -> PageChain:
        self._started_chains.append(chain)
        return chain.start()

    def stop_chains(self, wait: float = 0.0) -> None:
        """Stop every page chain of the company; wait up to ``wait`` seconds in all for their
        threads (one inside a request ends with it, within request_timeout)."""
        for chain in self._started_chains:
            chain.stop()
        deadline = time.monotonic() + wait
        for chain in self._started_chains:
            chain.join(max(0.0, deadline - time.monotonic()))

    def start_reading(self) -> None:
        """Start every selected stream's page chains now (a whole run), if not yet started."""
        if self.reads_ahead and self._chains is None:
            self._chains = self._start_chains()

    def page_chains(
        self, stream: ChainedStream, context: t.Mapping[str, t.Any] | None
    ) -> list[PageChain]:
        """The stream's page chains, oldest slice of history first. The first stream to ask,
        in a whole run, starts every selected stream's chains (the run plan is made by then:
        CDC-served streams need none)."""
        self.start_reading()
        chains = (self._chains or {}).pop(stream.name, None)
        if chains is not None and context == self.context:
            return chains
        for chain in chains or []:
            chain.stop()
        return [self._chain(PageChain(stream, context, stream.get_new_paginator(), spool=False))]

    def _start_chains(self) -> dict[str, list[PageChain]]:
        plan = self.run_plan
        chains = {}
        # Reports' chains first: their requests go before the entity streams' (the highest
        # priority: client.request_priority), as they are written before any stream that
        # expects pages (sync_company writes the fewest expected pages first).
        for report in self.report_streams:
            if report.selected and (asks := report.get_new_paginator()).current_value:
                chains[report.name] = [
                    self._chain(PageChain(report, self.context, asks, spool=True))
                ]
        # The streams are written in this order: their requests are served in it too.
        order = [
            s
            for s in self.streams
            if s.selected
            and s.entity.name not in plan.changes
            and s.name not in plan.unavailable  # skipped: QBO said the company has none
        ]
        order.sort(key=lambda s: plan.expected_pages.get(s.name, 0))
        for place, stream in enumerate(order):
            first = stream.get_new_paginator()
            chain = PageChain(stream, self.context, first, spool=True, priority=place)
            chains[stream.name] = [chain]
            if isinstance(first, KeysetPaginator) and stream.name in plan.first_page_ties:
                # Before the first chain starts: it must know where the second begins.
                self._slice(stream, first, chains[stream.name])
            self._chain(chain)
        return chains

    def _slice(
        self, stream: CompanyStream, first: KeysetPaginator, chains: list[PageChain]
    ) -> None:
        """Read a long stream as slices of history at once (see readahead.Slicer)."""
        plan = self.run_plan
        slicer = Slicer(
            chains,
            self._chain,
            stream.logger,
            page_size=self.page_size,
            ties=plan.first_page_ties[stream.name],
            now=plan.started_at,
            idle=lambda: self.limiter.waiting() == 0,
        )
        slicer.begin(first, plan.expected_pages[stream.name], plan.first_page_end[stream.name])

    # -- the call ledger -------------------------------------------------------------------

    @cached_property
    def progress(self) -> Progress:
        return Progress(
            self.logger,
            float(self.config.get("progress_interval", 5) or 0),
            calls=lambda: self.api_calls["requests"],
            waited=lambda: self.limiter.waited,
        )

    def count_call(self, kind: str, n: int = 1) -> None:
        """Count requests, metered calls or retries; page chains count at once."""
        with self._count_lock:
            self.api_calls[kind] += n

    @cached_property
    def _count_lock(self) -> threading.Lock:
        return threading.Lock()

    @cached_property
    def api_calls(self) -> collections.Counter:
        return collections.Counter()

    @cached_property
    def jitter(self) -> random.Random:
        return random.Random()

    def metered_calls(self) -> collections.Counter:
        """This run's metered calls so far, by kind: its streams' own (query pages, report
        periods) and those made for several streams (cdc, each batch item, a query asked
        again). The sync_status records and the run's last log line both say this."""
        with self._count_lock:
            metered = collections.Counter(
                {
                    k.removeprefix("metered "): v
                    for k, v in self.api_calls.items()
                    if k.startswith("metered ")
                }
            )
        for stream in self.all_streams:
            metered.update(getattr(stream, "sync_costs", None) or {})
        return metered

    def stream_logged(self) -> None:
        """After the last stream (sync_status) has logged its costs, log the company's."""
        self.api_calls["streams logged"] += 1
        if self.api_calls["streams logged"] != len(self.all_streams) + 1:
            return
        refreshes = self.authenticator.refresh_count if "authenticator" in vars(self) else 0
        metered = self.metered_calls()
        self.logger.info(
            "API calls this run%s: %d metered (%s), %d requests sent, %d retries, "
            "%d token refreshes, %.1fs waited for rate limits.",
            f" (realm {self.realm_id})" if self.context else "",
            sum(metered.values()),
            ", ".join(f"{k}={v}" for k, v in sorted(metered.items())) or "none",
            self.api_calls["requests"],
            self.api_calls["retries"],
            refreshes,
            self.limiter.waited,
        )
        for line in self.progress.summary():
            self.logger.info("Run summary: %s", line)

    # -- tokens: kept before use, sealed into the main thread's next STATE --------------------

    @cached_property
    def tokens(self) -> TokenKeeper:
        return TokenKeeper(self.config, self.realm_id, keyed=self.context is not None)

    _pending_token: str | None = None  # rotated, not yet in a STATE message
    _kept_token: str | None = None  # the one the last STATE message carries
    _forgotten: str | None = None  # another company's: out of the next STATE message

    @cached_property
    def _auth_lock(self) -> threading.Lock:
        return threading.Lock()

    def sealed_in(self, state: dict) -> dict | None:
        """This company's sealed refresh token in ``state``, if any."""
        kept = state.get(AUTH_STATE_KEY)
        if not isinstance(kept, dict):
            return None
        if self.context is None:
            return kept
        sealed = (kept.get("companies") or {}).get(self.realm_id)
        return sealed if isinstance(sealed, dict) else None

    def _set_sealed(self, state: dict, sealed: dict | None) -> None:
        if self.context is None:
            if sealed is None:
                state.pop(AUTH_STATE_KEY, None)
            else:
                state[AUTH_STATE_KEY] = sealed
            return
        kept = state.setdefault(AUTH_STATE_KEY, {})
        by_realm = kept.setdefault("companies", {})
        if sealed is None:
            by_realm.pop(self.realm_id, None)
        else:
            by_realm[self.realm_id] = sealed

    @cached_property
    def authenticator(self) -> QuickBooksAuthenticator:
        """The company's one authenticator: its streams share it, so one refresh serves all."""
        sealed = self.sealed_in(self._state())
        candidates = self.tokens.candidates(sealed)
        if opened := self.tokens.open_sealed(sealed):
            self._kept_token = opened.token
        return QuickBooksAuthenticator(
            client_id=self.config["client_id"],
            client_secret=self.config["client_secret"],
            token_url=self.token_url,
            candidates=candidates,
            on_refresh_token=self._keep_refresh_token,
            timeout=float(self.config.get("request_timeout", 300)),
            reread=self.tokens.file.read,
            on_wrong_company=self._forget_token,
            realm_id=self.realm_id,
        )

    def _keep_refresh_token(self, token: str) -> str:
        """Save the newest refresh token where the next run looks, before it is used; say where.

        Called by whichever thread refreshed: it writes the token file at once, and leaves
        the STATE message to the main thread (:meth:`seal_rotated_token`).
        """
        kept = []
        path = self.tokens.file.path
        if (failure := self.tokens.save(token)) is None:
            kept.append(f"saved to {path}")
        else:
            self._token_store_failed.append(str(path))
            self.logger.error(
                "The rotated refresh token of realm %s could NOT be saved to %s (%s): only "
                "this run's STATE messages carry it now. Hand the last STATE to the next run, "
                "fix token_store_path; this run will exit with an error.",
                self.realm_id,
                path,
                failure,
            )
        with self._auth_lock:
            self._pending_token = token
        if threading.current_thread() is threading.main_thread():
            self._write_state(False)  # not "soon": a rotated token's STATE goes out at once
            kept.append("written in a STATE message")
        else:
            kept.append("the next STATE message carries it")
        return "; ".join(kept)

    def seal_now(self) -> None:
        """Before the company's first record (main thread): a token its plan rotated (the
        plan's batch calls go out at once, off the main thread) goes out in a STATE now."""
        if self.token_unsealed():
            self._write_state(False)

    def token_unsealed(self) -> bool:
        """Whether a rotation or a forgotten token awaits the next STATE message."""
        return self._pending_token is not None or self._forgotten is not None

    def seal_rotated_token(self, state: dict) -> None:
        """Put the token rotated since the last STATE message into ``state`` (main thread)."""
        with self._auth_lock:
            token, self._pending_token = self._pending_token, None
            forget, self._forgotten = self._forgotten, None
        if forget is not None and forget == self._kept_token:
            self._set_sealed(state, None)
            self._kept_token = None
        if token is not None and token != self._kept_token:
            self._set_sealed(state, self.tokens.sealed(token))
            self._kept_token = token

    def _forget_token(self, token: str) -> None:
        """A refresh token proved to be another company's: neither sealed nor offered again."""
        with self._auth_lock:  # the main thread's next STATE drops it (seal_rotated_token)
            if self._pending_token == token:
                self._pending_token = None
            self._forgotten = token
        with contextlib.suppress(OSError):
            self.tokens.file.disown(token)
