"""TapQuickBooks: settings, the streams, and what a run shares (auth, state)."""

from __future__ import annotations

import collections
import contextlib
import datetime as dt
import ipaddress
import logging
import math
import random
import re
import sys
import threading
import time
import typing as t
from functools import cached_property
from urllib.parse import parse_qs, urlparse

import click
import requests
from singer_sdk import Tap
from singer_sdk import typing as th
from singer_sdk.exceptions import (
    AbortedSyncFailedException,
    AbortedSyncPausedException,
    ConfigValidationError,
    FatalAPIError,
    RetriableAPIError,
)
from singer_sdk.helpers._state import StateWriter
from singer_sdk.helpers.capabilities import PluginCapabilities, TapCapabilities
from urllib3.exceptions import LocationParseError
from urllib3.util import parse_url

from tap_quickbooks import errors, query, stopping, throttle, wire
from tap_quickbooks.auth import (
    PRODUCTION_TOKEN_URL,
    REALM_HINT,
    QuickBooksAuthenticator,
    QuickBooksAuthError,
    TokenKeeper,
)
from tap_quickbooks.catalog import catalog_text, discovered, inline_definitions
from tap_quickbooks.catalogue import BY_STREAM, ENTITIES
from tap_quickbooks.changes import FROM_BATCH_HEADER, SYNCED_AT, RunPlan, plan_run
from tap_quickbooks.client import QuickBooksStream
from tap_quickbooks.inputs import (
    InputError,
    StateFile,
    catalog_problems,
    did_you_mean,
    unknown_bookmarks,
)
from tap_quickbooks.outcomes import SYNC_STATUS, RunOutcomes, SyncStatusStream
from tap_quickbooks.output import BlockWriter
from tap_quickbooks.paging import FUTURE_ALLOWANCE, KeysetPaginator
from tap_quickbooks.progress import Progress
from tap_quickbooks.readahead import PageChain, keep_memory_flat, slice_bounds
from tap_quickbooks.reports import REPORT_SETTINGS, report_settings_problems, report_streams

try:
    from typing import override  # type: ignore[attr-defined]
except ImportError:  # Python 3.11
    from typing_extensions import override

API_URLS = {
    "production": "https://quickbooks.api.intuit.com",
    "sandbox": "https://sandbox-quickbooks.api.intuit.com",
}
AUTH_STATE_KEY = "quickbooks_auth"
# Every log record of the process is redacted (QBO's 401 echoes the token it refused).
errors.install_log_redaction()


class _SealingStateWriter(StateWriter):
    """The SDK's state writer, adding the newest rotated refresh token (sealed) to each STATE.

    Token refreshes happen in page-fetching threads; they record the token, and the main
    thread's next STATE message carries it: only the main thread writes Singer messages.
    """

    def __init__(self, tap: TapQuickBooks) -> None:
        super().__init__(tap.message_writer)
        self._tap = tap

    def write_state(self, state: dict) -> None:
        self._tap.seal_rotated_token(state)
        super().write_state(state)


LOWEST_MINOR_VERSION = 75  # QBO serves anything lower as 75 since 2025-08-01


class TapQuickBooks(Tap):
    """Singer tap for QuickBooks Online."""

    name = "tap-quickbooks"
    package_name = "tap-quickbooks-online"  # the distribution, for --version and --about
    # msgspec writes Decimal as a plain JSON number, exactly, and faster than simplejson.
    message_writer_class = BlockWriter
    capabilities: t.ClassVar = [
        TapCapabilities.CATALOG,
        TapCapabilities.DISCOVER,
        TapCapabilities.STATE,
        PluginCapabilities.ABOUT,
        TapCapabilities.TEST,
        PluginCapabilities.STREAM_MAPS,
        PluginCapabilities.FLATTENING,
        PluginCapabilities.BATCH,
    ]

    config_jsonschema = th.PropertiesList(
        th.Property(
            "client_id",
            th.StringType(nullable=False),
            required=True,
            title="Client ID",
            description="OAuth client ID of your Intuit app (Keys & credentials).",
        ),
        th.Property(
            "client_secret",
            th.StringType(nullable=False),
            required=True,
            secret=True,
            title="Client secret",
            description="OAuth client secret of your Intuit app.",
        ),
        th.Property(
            "refresh_token",
            th.StringType(nullable=False),
            required=True,
            secret=True,
            title="Refresh token",
            description=(
                "OAuth refresh token for the company (from `tap-quickbooks-auth` or the "
                "OAuth Playground). Newer tokens that QBO rotates in are kept in state and "
                "in `token_store_path`; this one is the fallback."
            ),
        ),
        th.Property(
            "realm_id",
            th.StringType(nullable=False),
            required=True,
            title="Realm ID",
            description="The QuickBooks company ID (realmId).",
        ),
        th.Property(
            "start_date",
            th.DateTimeType,
            description="Only extract records updated at or after this instant. "
            "Default: all history.",
        ),
        th.Property(
            "environment",
            th.StringType,
            default="production",
            allowed_values=["production", "sandbox"],
            description="Which Intuit API to call: `production` or `sandbox`.",
        ),
        th.Property(
            "api_url",
            th.StringType,
            description="Override of the API base URL (a proxy, or the bundled emulator). "
            "Must be https, except for loopback hosts.",
        ),
        th.Property(
            "token_url",
            th.StringType,
            description="Override of Intuit's OAuth token endpoint. Must be https, except for "
            "loopback hosts.",
        ),
        th.Property(
            "minor_version",
            th.IntegerType,
            default=LOWEST_MINOR_VERSION,
            description="QBO API minor version sent on every call.",
        ),
        th.Property(
            "page_size",
            th.IntegerType,
            default=query.MAX_RESULTS,
            description="Rows per query page (1 to 1000). Every page is a metered API call.",
        ),
        th.Property(
            "token_store_path",
            th.StringType,
            description="File in which every rotated refresh token is saved (atomically, mode "
            "0600) before it is used, so that no command (--test, meltano invoke, a run whose "
            "state is lost) strands the next one. Default: "
            "$XDG_STATE_HOME/tap-quickbooks/<realm_id>.json (~/.local/state/...). One file "
            "per company; it must be writable (checked before any token refresh).",
        ),
        th.Property(
            "request_timeout",
            th.NumberType,
            default=300,
            description="Seconds to wait for QBO to answer a request.",
        ),
        th.Property(
            "connect_timeout",
            th.NumberType,
            default=30,
            description="Seconds to wait for a connection to QBO.",
        ),
        th.Property(
            "max_retries",
            th.IntegerType,
            default=8,
            description="Retries of a request that failed in a way that can pass (429, 5xx, "
            "timeouts, resets, bodies cut short), with exponential backoff and jitter.",
        ),
        th.Property(
            "max_retry_wait",
            th.NumberType,
            default=120,
            description="Longest wait between two retries, in seconds (QBO's Retry-After "
            "is honoured up to this).",
        ),
        th.Property(
            "requests_per_minute",
            th.IntegerType,
            default=500,
            description="Requests per minute this run allows itself against the company "
            "(QBO's limit is 500; lower it when other apps share the company).",
        ),
        th.Property(
            "shared_limits_path",
            th.StringType,
            description="SQLite file through which every tap and target run naming it shares "
            "QBO's limits per company (500 calls and 40 batch calls a minute, 10 a second, 10 "
            "in flight). Default: this run counts only its own calls.",
        ),
        th.Property(
            "user_agent",
            th.StringType,
            description="User-Agent header sent to QBO.",
        ),
        th.Property(
            "progress_interval",
            th.NumberType,
            default=5,
            description="Seconds between two progress lines in the log (records, pages, API "
            "calls, rate-limit waits of the stream being written); 0 logs every page.",
        ),
        *REPORT_SETTINGS,
    ).to_dict()

    def __init__(self, *args: t.Any, catalog: t.Any = None, **kwargs: t.Any) -> None:
        # A catalog this tap wrote refers to shared definitions: put them back first.
        super().__init__(*args, catalog=inline_definitions(catalog), **kwargs)
        self._state_writer = _SealingStateWriter(self)

    #: Set when a rotated refresh token could not be saved to the token file: the run exits 1.
    token_store_failed: t.ClassVar[list[str]] = []

    # -- settings ----------------------------------------------------------------------------

    def _validate_config(self, *, raise_errors: bool = True) -> list[str]:
        for name, value in self.config.items():
            if errors.is_secret_setting(name, self.config_jsonschema):
                errors.register_secret(value)
        try:  # the schema's own problems, without the SDK's bare summary line
            problems = super()._validate_config(raise_errors=True)
        except ConfigValidationError as exc:
            problems = list(exc.errors or [])
        problems = one_per_key([*problems, *settings_problems(self.config)])
        # The SDK's schema messages quote the value: never that of a secret setting.
        problems = self.hide_secrets(problems)
        known = self.config_jsonschema["properties"]  # builtin settings added by super()
        for key in sorted(set(self.config) - set(known)):
            self.logger.warning(
                "Unknown setting '%s'%s: it is ignored.", key, did_you_mean(key, known)
            )
        if problems and raise_errors:
            raise ConfigValidationError(
                "Config validation failed", errors=problems, schema=self.config_jsonschema
            )
        # Discovery does not validate (its catalog does not depend on settings, and
        # `meltano select --list` works before credentials are set), but says what a sync
        # with these settings would stop on, one sentence per key.
        for problem in problems:
            self.logger.warning("Config problem: %s", problem)
        return problems

    def hide_secrets(self, messages: list[str]) -> list[str]:
        """Config messages without the values of secret settings (call on any such message)."""
        return errors.hide_secret_values(messages, self.config, self.config_jsonschema)

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
        return int(_number(self.config, "page_size") or query.MAX_RESULTS)

    @property
    def minor_version(self) -> int:
        return max(LOWEST_MINOR_VERSION, int(_number(self.config, "minor_version") or 0))

    # -- streams, and what they share ---------------------------------------------------------

    @property
    @override
    def catalog_json_text(self) -> str:
        # small enough for Meltano (catalog.py)
        return catalog_text(discovered(self.streams.values()))

    def discover_streams(self) -> list:
        entities = [QuickBooksStream(self, entity) for entity in ENTITIES]
        return [*entities, *report_streams(self), SyncStatusStream(self)]

    @cached_property
    def outcomes(self) -> RunOutcomes:
        """How each stream of this run ended (read by the sync_status stream, last)."""
        return RunOutcomes(self)

    @cached_property
    def http_session(self) -> requests.Session:
        """The run's one HTTP session (see wire.py), shared by every stream."""
        return wire.session()

    @cached_property
    def limiter(self) -> throttle.RequestLimiter | throttle.SharedLimiter:
        return throttle.limiter(self.config, self.realm_id)

    @cached_property
    def run_plan(self) -> RunPlan:
        """CDC and batch answers, fetched once before the first stream reads anything."""
        streams = [s for s in self.streams.values() if isinstance(s, QuickBooksStream)]
        local_now = dt.datetime.now(dt.UTC)
        plan = plan_run(streams, local_now)
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

    def note_server_time(self, text: str) -> None:
        """Keep the first time QBO reported, so the run can bookmark by QBO's clock."""
        if self.server_time is None:
            with contextlib.suppress(ValueError, TypeError):
                self.server_time = query.parse_instant(text)

    def take_first_page(self, stream: str, request: requests.PreparedRequest) -> t.Any:
        """The batch-fetched first page of a stream, as a response, if this is its request."""
        if "run_plan" not in vars(self):  # the plan's own calls are being made
            return None
        prefetched = self.run_plan.first_pages.get(stream)
        if not prefetched:
            return None
        sent = parse_qs(urlparse(request.url or "").query).get("query", [None])[0]
        if sent != prefetched[0]:
            return None
        del self.run_plan.first_pages[stream]
        response = requests.Response()
        response.status_code = 200
        response._content = prefetched[1]  # read by the stream as any page of its own
        response.headers["Content-Type"] = "application/json"
        response.headers[FROM_BATCH_HEADER] = "1"  # already counted as part of the batch call
        response.request = request
        response.url = request.url or ""
        return response

    @override
    def sync_all(self) -> None:
        self.reads_ahead = True  # a whole run: every stream's pages are fetched from the start
        try:
            # Streams are written shortest first (the order of Singer streams is free), and
            # their requests are served in that order: each stream's pages are then mostly
            # in by the time the writing reaches it, and the longest ones (cut into slices
            # read at once, see readahead.py) end about when the writing does.
            expected = self.run_plan.expected_pages
            # sync_status comes last: it reports how every other stream went.
            order = sorted(
                self.streams.values(),
                key=lambda s: (s.name == SYNC_STATUS, expected.get(s.name, 0)),
            )
            self.streams.clear()
            self.streams.update((s.name, s) for s in order)
            super().sync_all()
            self.outcomes.finish_run()  # exits non-zero if a stream failed
        except stopping.Stopped:
            # Every line so far is whole, and the state covers exactly the records among them
            # (the SDK moves a bookmark only after its record's line): the run ends on it.
            self.stop_chains()
            self.state_writer.write_state(self.state)
            raise
        finally:
            with stopping.whole_lines:  # a signal now waits until the last lines are out
                # No page chain outlives the run: a thread still at work when the interpreter
                # shuts down is one more way to crash there.
                self.stop_chains(wait=1.0)
                # A refresh token rotated since the last STATE goes out in a final one.
                if self._pending_token is not None or self._forgotten is not None:
                    self.state_writer.write_state(self.state)
                # Lines since the last STATE, and the final STATE if the SDK wrote none after.
                self.message_writer.flush()

    def stop_chains(self, wait: float = 0.0) -> None:
        """Stop every page chain of the run; wait up to ``wait`` seconds in all for their
        threads (one inside a request ends with it, within request_timeout)."""
        for chain in self._started_chains:
            chain.stop()
        deadline = time.monotonic() + wait
        for chain in self._started_chains:
            chain.join(max(0.0, deadline - time.monotonic()))

    reads_ahead = False
    _chains: dict[str, list[PageChain]] | None = None

    @cached_property
    def _started_chains(self) -> list[PageChain]:
        return []

    def _chain(self, chain: PageChain) -> PageChain:
        self._started_chains.append(chain)
        return chain.start()

    def page_chains(self, stream: QuickBooksStream, context: dict | None) -> list[PageChain]:
        """The stream's page chains, oldest slice of history first. The first stream to ask,
        in a whole run, starts every selected stream's chains (the run plan is made by then:
        CDC-served streams need none)."""
        if self.reads_ahead and self._chains is None:
            self._chains = self._start_chains()
        chains = (self._chains or {}).pop(stream.name, None)
        if chains is not None and context is None:
            return chains
        for chain in chains or []:
            chain.stop()
        return [self._chain(PageChain(stream, context, stream.get_new_paginator(), spool=False))]

    def _start_chains(self) -> dict[str, list[PageChain]]:
        plan = self.run_plan
        chains = {}
        # The streams are written in this order: their requests are served in it too.
        order = [
            s
            for s in self.streams.values()
            if isinstance(s, QuickBooksStream)
            and s.selected
            and s.entity.name not in plan.changes
            and s.name not in plan.unavailable  # skipped: QBO said the company has none
        ]
        for place, stream in enumerate(order):
            first = stream.get_new_paginator()
            paginators = [first]
            if isinstance(first, KeysetPaginator) and stream.name in plan.first_page_end:
                cuts = slice_bounds(
                    plan.first_page_end[stream.name],
                    plan.expected_pages[stream.name],
                    plan.started_at,
                )
                # The first chain starts with the batch-read page, unbounded; its next
                # windows, and every later slice, end where the next slice begins.
                first.until = cuts[0] if cuts else None
                for since, until in zip(cuts, [*cuts[1:], None][: len(cuts)], strict=True):
                    paginators.append(KeysetPaginator(since, self.page_size, until))
                if cuts:
                    stream.logger.info(
                        "%s: %s; reading %d slices of history at once (from %s).",
                        stream.name,
                        page_estimate(plan.expected_pages[stream.name]),
                        len(paginators),
                        ", ".join(query.utc_text(cut) for cut in cuts),
                    )
            chains[stream.name] = [
                self._chain(PageChain(stream, None, p, spool=True, priority=place + n / 1000))
                for n, p in enumerate(paginators)
            ]
        return chains

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

    _count_lock = threading.Lock()

    @cached_property
    def api_calls(self) -> collections.Counter:
        return collections.Counter()

    @cached_property
    def jitter(self) -> random.Random:
        return random.Random()

    def stream_costs_logged(self, costs: dict[str, int]) -> None:
        """Sum the streams' metered calls; after the last stream, log the run's total."""
        self.api_calls.update({f"metered {k}": v for k, v in costs.items()})
        self.api_calls["streams logged"] += 1
        if self.api_calls["streams logged"] == len(self.streams):
            refreshes = self.authenticator.refresh_count if "authenticator" in vars(self) else 0
            self.logger.info(
                "API calls this run: %d metered (%s), %d requests sent, %d retries, "
                "%d token refreshes, %.1fs waited for rate limits.",
                sum(v for k, v in self.api_calls.items() if k.startswith("metered")),
                ", ".join(
                    f"{k.removeprefix('metered ')}={v}"
                    for k, v in sorted(self.api_calls.items())
                    if k.startswith("metered")
                )
                or "none",
                self.api_calls["requests"],
                self.api_calls["retries"],
                refreshes,
                self.limiter.waited,
            )
            for line in self.progress.summary():
                self.logger.info("Run summary: %s", line)

    # -- auth and state ----------------------------------------------------------------------

    @classmethod
    def get_singer_command(cls) -> click.Command:
        command = super().get_singer_command()
        for param in command.params:
            if param.name == "state":  # read in any shape users keep it, or one clear error
                param.type = StateFile()
        return command

    @override
    def setup_mapper(self) -> None:
        super().setup_mapper()
        # Where a sync (not discovery) first applies its catalog: check it there.
        self._check_catalog()

    def _check_catalog(self) -> None:
        catalog = self.input_catalog
        if catalog is None:
            return
        entries = [
            (entry.tap_stream_id, bool(entry.metadata.root.selected)) for entry in catalog.streams
        ]
        selected = [s.name for s in self.streams.values() if s.selected]
        warnings, fatal = catalog_problems(entries, selected, self.streams)
        for warning in warnings:
            self.logger.warning(warning)
        if fatal:
            raise InputError(fatal)
        if not selected:
            self.logger.warning(
                "The catalog selects no stream: this run extracts nothing. Mark streams "
                '"selected": true in it (or `meltano select tap-quickbooks <stream>`).'
            )

    def load_state(self, state: dict[str, t.Any]) -> None:
        if state.get("bookmarks"):
            for warning in unknown_bookmarks(state, self.streams):
                self.logger.warning(warning)
        super().load_state(state)
        if isinstance(state.get(AUTH_STATE_KEY), dict):
            self.state[AUTH_STATE_KEY] = dict(state[AUTH_STATE_KEY])
        for stream_name, bookmark in self.state.get("bookmarks", {}).items():
            if stream_name in BY_STREAM:
                normalise_bookmark(stream_name, bookmark)

    @cached_property
    def _tokens(self) -> TokenKeeper:
        return TokenKeeper(self.config, self.realm_id)

    _pending_token: str | None = None  # rotated, not yet in a STATE message
    _kept_token: str | None = None  # the one the last STATE message carries
    _forgotten: str | None = None  # another company's: out of the next STATE message
    _auth_lock = threading.Lock()

    @cached_property
    def authenticator(self) -> QuickBooksAuthenticator:
        """The one authenticator of the run: streams share it, so one refresh serves all."""
        sealed = self.state.get(AUTH_STATE_KEY)
        candidates = self._tokens.candidates(sealed)
        if opened := self._tokens.open_sealed(sealed):
            self._kept_token = opened.token
        return QuickBooksAuthenticator(
            client_id=self.config["client_id"],
            client_secret=self.config["client_secret"],
            token_url=self.token_url,
            candidates=candidates,
            on_refresh_token=self._keep_refresh_token,
            timeout=float(self.config.get("request_timeout", 300)),
            reread=self._tokens.file.read,
            on_wrong_company=self._forget_token,
            realm_id=self.realm_id,
        )

    def _keep_refresh_token(self, token: str) -> str:
        """Save the newest refresh token where the next run looks, before it is used; say where.

        Called by whichever thread refreshed: it writes the token file at once, and leaves
        the STATE message to the main thread (:meth:`seal_rotated_token`).
        """
        kept = []
        path = self._tokens.file.path
        if (failure := self._tokens.save(token)) is None:
            kept.append(f"saved to {path}")
        else:
            type(self).token_store_failed.append(str(path))
            self.logger.error(
                "The rotated refresh token could NOT be saved to %s (%s): only this run's "
                "STATE messages carry it now. Hand the last STATE to the next run, fix "
                "token_store_path; this run will exit with an error.",
                path,
                failure,
            )
        with self._auth_lock:
            self._pending_token = token
        if threading.current_thread() is threading.main_thread():
            self.state_writer.write_state(self.state)
            kept.append("written in a STATE message")
        else:
            kept.append("the next STATE message carries it")
        return "; ".join(kept)

    def seal_rotated_token(self, state: dict) -> None:
        """Put the token rotated since the last STATE message into ``state`` (main thread)."""
        with self._auth_lock:
            token, self._pending_token = self._pending_token, None
            forget, self._forgotten = self._forgotten, None
        if forget is not None and forget == self._kept_token:
            state.pop(AUTH_STATE_KEY, None)
            self._kept_token = None
        if token is not None and token != self._kept_token:
            state[AUTH_STATE_KEY] = self._tokens.sealed(token)
            self._kept_token = token

    def _forget_token(self, token: str) -> None:
        """A refresh token proved to be another company's: neither sealed nor offered again."""
        with self._auth_lock:  # the main thread's next STATE drops it (seal_rotated_token)
            if self._pending_token == token:
                self._pending_token = None
            self._forgotten = token
        with contextlib.suppress(OSError):
            self._tokens.file.disown(token)

    # -- failing clearly ---------------------------------------------------------------------

    @override
    def _handle_termination(self, signum: int, frame: t.Any) -> None:
        # The SDK's handler writes a STATE wherever the signal lands (within a block being
        # written, too) and exits 0; stopping.py stops between lines, and the run ends on a
        # STATE covering exactly what it wrote (sync_all, invoke).
        stopping.on_signal(signum, frame)

    @classmethod
    def invoke(cls, **kwargs: t.Any) -> None:  # type: ignore[override]
        """Run the sync; a failure the tap understands ends with its message, not a traceback."""
        # Process-wide settings, here at the process's entry rather than in a library method.
        # Page chains wait on the network, the writing holds the GIL: hand it over within a
        # millisecond (not Python's 5), so an answer that arrived is read and the chain's
        # next request sent without waiting for the writer's time slice to end.
        sys.setswitchinterval(0.001)
        keep_memory_flat()  # before any thread starts
        stopping.install()  # until the tap installs its own handler, the same one
        try:
            super().invoke(**kwargs)
            if cls.token_store_failed:
                cls.logger.error(
                    "A rotated refresh token could not be saved to %s: the last STATE message "
                    "carries it (sealed). Fix token_store_path and hand that state to the next "
                    "run.",
                    cls.token_store_failed[-1],
                )
                sys.exit(1)
        except stopping.Stopped as stop:
            cls.logger.warning(
                "Stopped by %s. The last STATE message covers every record written: hand it "
                "to the next run and it resumes there, missing nothing.",
                stop,
            )
            sys.exit(stop.exit_code)
        except (
            QuickBooksAuthError,
            FatalAPIError,
            RetriableAPIError,
            requests.RequestException,
        ) as exc:
            retried = isinstance(exc, RetriableAPIError | requests.RequestException)
            cause = "Retries exhausted: " if retried else ""
            if isinstance(exc, requests.RequestException):
                cause += f"{type(exc).__name__}: "
            cls.logger.error("%s%s", cause, exc)
            cls.logger.error(
                "The run stopped. Its last STATE message covers every record written before "
                "it: hand that state to the next run (Meltano does) and nothing is missed."
            )
            sys.exit(1)

    # -- --test: one cheap call and a verdict --------------------------------------------------

    @classmethod
    def cb_test(cls, ctx: click.Context, param: click.Option, value: str) -> None:
        # `--test` (value "all") would sync a record of every stream: 41+ metered calls.
        # One call proves the same: the token refreshes and the company answers.
        if value != "all":
            super().cb_test(ctx, param, value)
            return
        config = ctx.params.get("config")
        try:
            tap = cls(config=config.config, parse_env_config=config.parse_env, validate_config=True)
        except ConfigValidationError as exc:  # the sync's own way of saying it, not a traceback
            for problem in exc.errors:
                cls.logger.error("%s", problem)
            cls.logger.error("Config validation failed")
            ctx.exit(1)
        ok, verdict = tap.check_connection()
        (cls.logger.info if ok else cls.logger.error)(verdict)  # once: the log is on stderr
        ctx.exit(0 if ok else 1)

    @override
    def run_sync_dry_run(self, dry_run_record_limit: int | None = 1, streams=None) -> bool:
        # `--test=record`/`schema`: the SDK stops each stream at its record limit by raising,
        # and logs "An unhandled error occurred" on the way: not an error of this test.
        quiet = _StopAtLimitIsNoError()
        loggers = {s._logger for s in (streams or self.streams.values())}
        for logger in loggers:
            logger.addFilter(quiet)
        try:
            done = super().run_sync_dry_run(dry_run_record_limit, streams)
        finally:
            for logger in loggers:
                logger.removeFilter(quiet)
        self.logger.info("Test sync OK: up to %s record(s) of each stream.", dry_run_record_limit)
        return done

    def check_connection(self) -> tuple[bool, str]:
        """Refresh the token and read CompanyInfo: one metered call."""
        url = f"{self.api_url}/v3/company/{self.realm_id}/companyinfo/{self.realm_id}"
        try:
            request = requests.Request(
                "GET",
                url,
                params={"minorversion": self.minor_version},
                headers={"Accept": "application/json"},
            ).prepare()
            response = self.http_session.send(
                self.authenticator(request), timeout=float(self.config.get("request_timeout", 60))
            )
        except QuickBooksAuthError as exc:
            return False, f"Connection test FAILED: {exc}"
        except requests.RequestException as exc:
            return (
                False,
                f"Connection test FAILED: cannot reach {self.api_url}: {type(exc).__name__}",
            )
        if errors.not_authorized_for_company(response):
            return False, f"Connection test FAILED: {errors.describe(response)}; {REALM_HINT}."
        if response.status_code != 200:
            return False, f"Connection test FAILED: {errors.describe(response)}"
        name = (response.json().get("CompanyInfo") or {}).get("CompanyName", "?")
        return True, f"Connection test OK: realm {self.realm_id} is '{name}'."


def page_estimate(pages: float) -> str:
    """The plan's estimate, from the time span of a stream's first page, in words that do not
    alarm: rows created in bulk share a second, and made it read "about 500,308 pages"."""
    if pages <= 10_000:
        return f"about {math.ceil(pages):,} pages"
    return "many pages (its first page spans little of its history)"


class _StopAtLimitIsNoError(logging.Filter):
    """Drops the SDK's "unhandled error" line while the error in flight is its own stop at a
    test's record limit (the line is logged inside that exception's handler)."""

    def filter(self, record: logging.LogRecord) -> bool:
        error = sys.exc_info()[1]
        stopped = isinstance(error, (AbortedSyncPausedException, AbortedSyncFailedException))
        return not (stopped and record.getMessage().startswith("An unhandled error occurred"))


def normalise_bookmark(stream_name: str, bookmark: dict) -> None:
    """Make an entity stream's bookmark one the SDK resumes from, as UTC text.

    Accepts the SDK's own shape and singer-io tap-quickbooks' ``{"LastUpdatedTime": ...}``, so
    users can switch taps without a full re-sync. Offset text (another tap's, or QBO's own)
    would compare wrongly as a string, so every bookmark becomes UTC text of one shape.
    """
    value = bookmark.get("replication_key_value", bookmark.get("LastUpdatedTime"))
    if value is None:
        return
    try:
        text = query.utc_text(query.parse_instant(str(value)))
    except (ValueError, TypeError) as exc:
        msg = (
            f"State bookmark of stream '{stream_name}' is not a timestamp: {value!r}. "
            "Fix or remove that bookmark (the stream then re-reads from start_date)."
        )
        raise InputError(msg) from exc
    for key, when in (("bookmark", value), ("synced_at", bookmark.get(SYNCED_AT))):
        if when and _in_the_future(str(when)):
            msg = (
                f"State {key} of stream '{stream_name}' is {when}, later than this machine's "
                "clock: a run from it would skip every change until then. Fix this machine's "
                "clock, or remove that bookmark (the stream then re-reads from start_date)."
            )
            raise InputError(msg)
    bookmark.pop("LastUpdatedTime", None)
    bookmark["replication_key"] = "LastUpdatedTime"
    bookmark["replication_key_value"] = text


def _in_the_future(text: str) -> bool:
    try:
        when = query.parse_instant(text)
    except (ValueError, TypeError):
        return False  # not a time at all: said where it is read
    return when > dt.datetime.now(dt.UTC) + FUTURE_ALLOWANCE


def settings_problems(config: t.Mapping[str, t.Any]) -> list[str]:
    """What is wrong with a config, one sentence per key (the JSON schema checks types)."""
    problems = []
    realm = str(config.get("realm_id") or "")
    if realm and not realm.isdigit():
        problems.append(f"realm_id must be the company's numeric realmId, not {realm!r}.")
    for key in ("api_url", "token_url"):
        if url := config.get(key):
            problem = _url_problem(url)
            if problem:
                problems.append(f"{key}: {problem}")
    # A value of the wrong type is the schema's problem (reported once, by it): skipped here.
    size = _number(config, "page_size")
    if size is not None and not 1 <= size <= query.MAX_RESULTS:
        problems.append(f"page_size must be between 1 and {query.MAX_RESULTS}, not {size}.")
    for key in ("request_timeout", "connect_timeout", "max_retry_wait"):
        if (seconds := _number(config, key)) is not None and seconds <= 0:
            problems.append(f"{key} must be a positive number of seconds.")
    if (retries := _number(config, "max_retries")) is not None and retries < 0:
        problems.append("max_retries must be 0 or more.")
    if (rate := _number(config, "requests_per_minute")) is not None and not 1 <= rate <= 500:
        problems.append("requests_per_minute must be between 1 and 500 (QBO's limit).")
    if start := config.get("start_date"):
        try:
            query.parse_instant(str(start))
        except (ValueError, TypeError):
            problems.append(f"start_date must be an ISO-8601 date or date-time, not {start!r}.")
            # Said once: the report settings, which also read start_date, need not repeat it.
            config = {k: v for k, v in config.items() if k != "start_date"}
    return problems + report_settings_problems(config)


_SCHEMA_KEY = re.compile(r"in config\['([^']+)'\]$")
_LEADING_KEY = re.compile(r"^([a-z_]+)\b")


def one_per_key(problems: list[str]) -> list[str]:
    """The first problem of each setting: the schema's (type, enum) come first, and a value of
    the wrong type needs no second sentence about its range."""
    seen: set[str] = set()
    out = []
    for problem in problems:
        match = _SCHEMA_KEY.search(problem) or _LEADING_KEY.match(problem)
        key = match.group(1) if match else problem
        if key not in seen:
            seen.add(key)
            out.append(problem)
    return out


def _number(config: t.Mapping[str, t.Any], key: str) -> float | None:
    value = config.get(key)
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return value


def _url_problem(url: str) -> str | None:
    # Read as the HTTP client reads it (urllib3), not as urllib.parse does: the two disagree
    # on e.g. "http://example.com\\@127.0.0.1/", which would send tokens to example.com.
    if "\\" in url:
        return "a backslash is refused in a URL (HTTP clients disagree on where its host is)."
    try:
        parsed = parse_url(url)
    except LocationParseError:
        parsed = None
    if parsed is None or parsed.scheme not in {"http", "https"} or not parsed.host:
        return f"{url!r} is not an http(s) URL."
    if parsed.auth is not None:
        return "user:password@ is refused in a URL (credentials belong in client_id/secret)."
    if parsed.fragment is not None:
        return "a #fragment is refused in a URL."
    host = parsed.host.strip("[]")
    if parsed.scheme == "http" and not _is_loopback(host):
        return (
            f"plain http is refused for {host!r}: tokens would cross the network "
            "unencrypted. Use https (http is allowed for loopback hosts only)."
        )
    return None


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


if __name__ == "__main__":
    TapQuickBooks.cli()
    sys.exit(0)
