"""TapQuickBooks: settings, the streams, and what a run shares (auth, state)."""

from __future__ import annotations

import collections
import contextlib
import datetime as dt
import ipaddress
import random
import sys
import threading
import typing as t
from functools import cached_property
from urllib.parse import parse_qs, urlparse

import click
import requests
from singer_sdk import Tap
from singer_sdk import typing as th
from singer_sdk.exceptions import ConfigValidationError, FatalAPIError, RetriableAPIError
from singer_sdk.helpers._state import StateWriter
from singer_sdk.helpers.capabilities import PluginCapabilities, TapCapabilities
from urllib3.exceptions import LocationParseError
from urllib3.util import parse_url

from tap_quickbooks import errors, query
from tap_quickbooks.auth import (
    PRODUCTION_TOKEN_URL,
    REALM_HINT,
    QuickBooksAuthenticator,
    QuickBooksAuthError,
    RefreshTokenCandidate,
    TokenFile,
    TokenSealer,
    default_token_store,
    newest_first,
)
from tap_quickbooks.catalogue import BY_STREAM, ENTITIES
from tap_quickbooks.changes import FROM_BATCH_HEADER, RunPlan, plan_run
from tap_quickbooks.client import QuickBooksStream
from tap_quickbooks.outcomes import SYNC_STATUS, RunOutcomes, SyncStatusStream
from tap_quickbooks.output import BlockWriter
from tap_quickbooks.paging import KeysetPaginator
from tap_quickbooks.readahead import PageChain, keep_memory_flat, slice_bounds
from tap_quickbooks.reports import REPORT_SETTINGS, report_settings_problems, report_streams
from tap_quickbooks.throttle import RequestLimiter

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
    package_name = "tap-quickbooks"
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
            "user_agent",
            th.StringType,
            description="User-Agent header sent to QBO.",
        ),
        *REPORT_SETTINGS,
    ).to_dict()

    def __init__(self, *args: t.Any, **kwargs: t.Any) -> None:
        super().__init__(*args, **kwargs)
        self._state_writer = _SealingStateWriter(self)

    #: Set when a rotated refresh token could not be saved to the token file: the run exits 1.
    token_store_failed: t.ClassVar[list[str]] = []

    # -- settings ----------------------------------------------------------------------------

    def _validate_config(self, *, raise_errors: bool = True) -> list[str]:
        for name, value in self.config.items():
            if errors.is_secret_setting(name, self.config_jsonschema):
                errors.register_secret(value)
        try:
            problems = super()._validate_config(raise_errors=raise_errors)
        except ConfigValidationError as exc:
            # The SDK's schema messages quote the value: never that of a secret setting.
            raise ConfigValidationError(
                str(exc),
                errors=self.hide_secrets(exc.errors),
                schema=self.config_jsonschema,
            ) from None
        problems += settings_problems(self.config)
        problems = self.hide_secrets(problems)
        if problems and raise_errors:
            raise ConfigValidationError(
                "Config validation failed", errors=problems, schema=self.config_jsonschema
            )
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

    @property
    def page_size(self) -> int:
        return int(self.config.get("page_size") or query.MAX_RESULTS)

    @property
    def minor_version(self) -> int:
        return max(LOWEST_MINOR_VERSION, int(self.config.get("minor_version") or 0))

    # -- streams, and what they share ---------------------------------------------------------

    def discover_streams(self) -> list:
        entities = [QuickBooksStream(self, entity) for entity in ENTITIES]
        return [*entities, *report_streams(self), SyncStatusStream(self)]

    @cached_property
    def outcomes(self) -> RunOutcomes:
        """How each stream of this run ended (read by the sync_status stream, last)."""
        return RunOutcomes(self)

    @cached_property
    def limiter(self) -> RequestLimiter:
        per_minute = int(self.config.get("requests_per_minute") or 500)
        return RequestLimiter(per_minute=per_minute, per_second=10, in_flight=10)

    @cached_property
    def run_plan(self) -> RunPlan:
        """CDC and batch answers, fetched once before the first stream reads anything."""
        streams = [s for s in self.streams.values() if isinstance(s, QuickBooksStream)]
        local_now = dt.datetime.now(dt.UTC)
        plan = plan_run(streams, local_now)
        # Streams are complete up to when this run began reading, by QBO's clock if it told us
        # (a few minutes earlier, for clocks that disagree within QBO).
        plan.started_at = (self.server_time or local_now) - dt.timedelta(minutes=5)
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
        # Page chains wait on the network, the writing holds the GIL: hand it over within a
        # millisecond (not Python's 5), so an answer that arrived is read and the chain's
        # next request sent without waiting for the writer's time slice to end.
        sys.setswitchinterval(0.001)
        keep_memory_flat()
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
        finally:
            # A refresh token rotated since the last STATE goes out in a final one.
            if self._pending_token is not None or self._forgotten is not None:
                self.state_writer.write_state(self.state)
            # Lines since the last STATE, and the final STATE if the SDK wrote none after them.
            self.message_writer.flush()

    reads_ahead = False
    _chains: dict[str, list[PageChain]] | None = None

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
        return [PageChain(stream, context, stream.get_new_paginator(), spool=False).start()]

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
                        "%s: about %.0f pages; reading %d slices of history at once (from %s).",
                        stream.name,
                        plan.expected_pages[stream.name],
                        len(paginators),
                        ", ".join(query.utc_text(cut) for cut in cuts),
                    )
            chains[stream.name] = [
                PageChain(stream, None, p, spool=True, priority=place + n / 1000).start()
                for n, p in enumerate(paginators)
            ]
        return chains

    def count_call(self, kind: str) -> None:
        """Count a request, a metered call or a retry; page chains count at once."""
        with self._count_lock:
            self.api_calls[kind] += 1

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

    # -- auth and state ----------------------------------------------------------------------

    def load_state(self, state: dict[str, t.Any]) -> None:
        super().load_state(state)
        if isinstance(state.get(AUTH_STATE_KEY), dict):
            self.state[AUTH_STATE_KEY] = dict(state[AUTH_STATE_KEY])
        for stream_name, bookmark in self.state.get("bookmarks", {}).items():
            if stream_name in BY_STREAM:
                normalise_bookmark(stream_name, bookmark)

    @cached_property
    def _sealer(self) -> TokenSealer:
        return TokenSealer(self.config["client_id"], self.config["client_secret"])

    @cached_property
    def _token_file(self) -> TokenFile:
        path = self.config.get("token_store_path") or default_token_store(self.realm_id)
        return TokenFile(path, self.realm_id)

    _pending_token: str | None = None  # rotated, not yet in a STATE message
    _kept_token: str | None = None  # the one the last STATE message carries
    _forgotten: str | None = None  # another company's: out of the next STATE message
    _auth_lock = threading.Lock()

    @cached_property
    def authenticator(self) -> QuickBooksAuthenticator:
        """The one authenticator of the run: streams share it, so one refresh serves all."""
        # Before any refresh: a token QBO rotates must have somewhere to go.
        if problem := self._token_file.problem():
            raise QuickBooksAuthError(problem)
        candidates = [RefreshTokenCandidate("config", self.config["refresh_token"])]
        candidates += self._token_file.read_all()
        sealed = self.state.get(AUTH_STATE_KEY) or {}
        if sealed.get("refresh_token"):
            token = self._sealer.open(sealed["refresh_token"])
            if token:
                updated = query.parse_instant(sealed.get("updated_at") or "1970-01-01")
                candidates.append(RefreshTokenCandidate("state", token, updated))
                self._kept_token = token
            else:
                self.logger.warning(
                    "The refresh token in state was sealed under another client_id or "
                    "client_secret (changed since that state was written), so it cannot be "
                    "read; using the token file %s and the config's refresh_token instead. If "
                    "the run then fails with invalid_grant, run once with the previous "
                    "client_secret, or re-authorize with `tap-quickbooks-auth`.",
                    self._token_file.path,
                )
        return QuickBooksAuthenticator(
            client_id=self.config["client_id"],
            client_secret=self.config["client_secret"],
            token_url=self.token_url,
            candidates=newest_first(candidates),
            on_refresh_token=self._keep_refresh_token,
            timeout=float(self.config.get("request_timeout", 300)),
            reread=self._token_file.read,
            on_wrong_company=self._forget_token,
            realm_id=self.realm_id,
        )

    def _keep_refresh_token(self, token: str) -> str:
        """Save the newest refresh token where the next run looks, before it is used; say where.

        Called by whichever thread refreshed: it writes the token file at once, and leaves
        the STATE message to the main thread (:meth:`seal_rotated_token`).
        """
        kept = []
        path = self._token_file.path
        try:
            stored = self._token_file.read()
            if not stored or stored.token != token:
                self._token_file.write(token)
            kept.append(f"saved to {path}")
        except OSError as exc:
            type(self).token_store_failed.append(str(path))
            self.logger.error(
                "The rotated refresh token could NOT be saved to %s (%s): only this run's "
                "STATE messages carry it now. Hand the last STATE to the next run, fix "
                "token_store_path; this run will exit with an error.",
                path,
                exc.strerror or type(exc).__name__,
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
            state[AUTH_STATE_KEY] = {
                "refresh_token": self._sealer.seal(token),
                "updated_at": query.utc_text(dt.datetime.now(dt.UTC)),
            }
            self._kept_token = token

    def _forget_token(self, token: str) -> None:
        """A refresh token proved to be another company's: neither sealed nor offered again."""
        with self._auth_lock:  # the main thread's next STATE drops it (seal_rotated_token)
            if self._pending_token == token:
                self._pending_token = None
            self._forgotten = token
        with contextlib.suppress(OSError):
            self._token_file.disown(token)

    # -- failing clearly ---------------------------------------------------------------------

    @classmethod
    def invoke(cls, **kwargs: t.Any) -> None:  # type: ignore[override]
        """Run the sync; a failure the tap understands ends with its message, not a traceback."""
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
        except (QuickBooksAuthError, FatalAPIError, RetriableAPIError) as exc:
            cause = "Retries exhausted: " if isinstance(exc, RetriableAPIError) else ""
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
        (cls.logger.info if ok else cls.logger.error)(verdict)
        click.echo(verdict, err=True)
        ctx.exit(0 if ok else 1)

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
            response = requests.Session().send(
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
        raise ConfigValidationError(msg, errors=[msg]) from exc
    bookmark.pop("LastUpdatedTime", None)
    bookmark["replication_key"] = "LastUpdatedTime"
    bookmark["replication_key_value"] = text


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
    size = config.get("page_size")
    if size is not None and not 1 <= int(size) <= query.MAX_RESULTS:
        problems.append(f"page_size must be between 1 and {query.MAX_RESULTS}, not {size}.")
    for key in ("request_timeout", "connect_timeout", "max_retry_wait"):
        if (seconds := config.get(key)) is not None and float(seconds) <= 0:
            problems.append(f"{key} must be a positive number of seconds.")
    if (retries := config.get("max_retries")) is not None and int(retries) < 0:
        problems.append("max_retries must be 0 or more.")
    if (rate := config.get("requests_per_minute")) is not None and not 1 <= int(rate) <= 500:
        problems.append("requests_per_minute must be between 1 and 500 (QBO's limit).")
    if start := config.get("start_date"):
        try:
            query.parse_instant(str(start))
        except (ValueError, TypeError):
            problems.append(f"start_date must be an ISO-8601 date or date-time, not {start!r}.")
    return problems + report_settings_problems(config)


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
