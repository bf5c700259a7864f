"""TapQuickBooks: settings, the streams, and what a run shares (auth, state)."""

from __future__ import annotations

import copy
import datetime as dt
import ipaddress
import logging
import re
import signal
import sys
import threading
import typing as t
from functools import cached_property

import click
import requests
from singer_sdk import PluginBase, Tap
from singer_sdk import typing as th
from singer_sdk.exceptions import (
    AbortedSyncFailedException,
    AbortedSyncPausedException,
    ConfigValidationError,
    FatalAPIError,
    RetriableAPIError,
)
from singer_sdk.helpers.capabilities import PluginCapabilities, TapCapabilities
from urllib3.exceptions import LocationParseError
from urllib3.util import parse_url

from tap_quickbooks import errors, query, stopping, throttle
from tap_quickbooks.auth import REALM_HINT, QuickBooksAuthError
from tap_quickbooks.catalog import catalog_text, discovered, input_catalog
from tap_quickbooks.catalogue import BY_STREAM, ENTITIES
from tap_quickbooks.changes import SYNCED_AT
from tap_quickbooks.client import QuickBooksStream, record_schema
from tap_quickbooks.companies import (
    REALM_STATE_KEY,
    UNCLAIMED_STATE_KEY,
    companies_problems,
    company_configs,
    settle_state,
    sync_companies,
)
from tap_quickbooks.company import (
    API_URLS,
    AUTH_STATE_KEY,
    LOWEST_MINOR_VERSION,
    Company,
    number,
    page_estimate,
)
from tap_quickbooks.inputs import (
    InputError,
    StateFile,
    catalog_problems,
    did_you_mean,
    unknown_bookmarks,
)
from tap_quickbooks.outcomes import SYNC_STATUS, SyncStatusStream
from tap_quickbooks.output import BlockWriter, state_line
from tap_quickbooks.paging import FUTURE_ALLOWANCE
from tap_quickbooks.readahead import keep_memory_flat
from tap_quickbooks.report_periods import REPORT_SETTINGS, report_settings_problems
from tap_quickbooks.reports import report_streams
from tap_quickbooks.sdk_fastpath import ConfigChecks, selected_schema

if t.TYPE_CHECKING:
    from singer_sdk.helpers.types import TapState

try:
    from typing import override  # type: ignore[attr-defined]
except ImportError:  # Python 3.11
    from typing_extensions import override

__all__ = ["API_URLS", "LOWEST_MINOR_VERSION", "TapQuickBooks", "page_estimate"]
# Every log record of the process is redacted (QBO's 401 echoes the token it refused).
errors.install_log_redaction()


class SealingStateWriter:
    """The tap's state writer: like the SDK's, it writes a STATE only when the state changed
    since the last one; it adds the newest rotated refresh token (sealed) to each.

    It compares the encoded line, not a deep copy of the state as the SDK does, and encodes
    it only when it goes out (a STATE the writer holds is encoded once, when released): the
    state holds every company's bookmarks, and a copy or an encoding of it at every
    stream's checkpoint made a run's cost grow with the square of its companies.

    Token refreshes happen in page-fetching threads; they record the token, and the main
    thread's next STATE message carries it: only the main thread writes Singer messages.
    Such a STATE goes out at once; the writer may hold others a while (output.py).
    """

    def __init__(self, tap: TapQuickBooks) -> None:
        self.tap = tap
        self.last_line: bytes | None = None

    def write_state(self, state: TapState, *, soon: bool = False) -> None:
        # A STATE carrying a newly rotated refresh token is never held: the token file may be
        # failing, or on a disk no later run sees (a container's), and then this STATE is the
        # token's only copy. Rotations are rare (a day apart per company): cheap to send now.
        rotated = [company for company in self.tap.companies if company.token_unsealed()]
        for company in rotated:
            company.seal_rotated_token(t.cast(dict, state))
        self.tap.block_writer.write_state(
            lambda: self._changed(state), at_once=bool(rotated), soon=soon
        )

    def _changed(self, state: TapState) -> bytes | None:
        """The STATE line of ``state`` (encoded when it goes out), if not the last one written."""
        line = state_line(state)
        if line == self.last_line:
            return None
        self.last_line = line
        return line


class TapQuickBooks(ConfigChecks, Tap):
    """Singer tap for QuickBooks Online."""

    name = "tap-quickbooks"
    package_name = "tap-quickbooks-online"  # the distribution, for --version and --about
    # msgspec writes Decimal as a plain JSON number, exactly, and faster than simplejson.
    message_writer_class = BlockWriter

    @property
    def block_writer(self) -> BlockWriter:
        """The message writer, as the class it is made of (the SDK types it generically)."""
        return t.cast(BlockWriter, self.message_writer)

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
            title="Realm ID",
            description="The QuickBooks company ID (realmId). Required unless `companies` "
            "lists the companies.",
        ),
        th.Property(
            "companies",
            th.ArrayType(
                th.ObjectType(
                    th.Property("realm_id", th.StringType),
                    th.Property("refresh_token", th.StringType, secret=True),
                    th.Property("start_date", th.DateTimeType),
                    additional_properties=True,  # unknown keys: said by companies_problems
                )
            ),
            description="Many companies in one run: a list of {realm_id, refresh_token, "
            "start_date (optional)}. The other settings are shared; each company keeps its "
            "own bookmarks (state partitions), tokens and rate limits.",
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
            "$XDG_STATE_HOME/tap-quickbooks/<realm_id>.json (~/.local/state/...), one file "
            "per company. With `companies`, this one file keeps every company's token, by "
            "realm_id. It must be writable (checked before any token refresh).",
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
            "emit_activate_version_messages",
            th.BooleanType,
            default=False,
            description="Send an ACTIVATE_VERSION message for each full-table stream, so a "
            "target that honours it drops rows QBO no longer has. With `companies`, one per "
            "stream for all companies, after the last one, and none when a company could not "
            "sync the stream.",
        ),
        throttle.SHARED_LIMITS_SETTING,
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
        catalog = input_catalog(
            catalog, lambda n: record_schema(BY_STREAM[n]) if n in BY_STREAM else None
        )
        super().__init__(*args, catalog=catalog, **kwargs)
        if threading.current_thread() is threading.main_thread():
            # The SDK's handler writes a STATE wherever the signal lands (within a block
            # being written, too) and exits 0; stopping.py stops between lines, and the run
            # ends on a STATE covering exactly what it wrote (sync_all, invoke).
            signal.signal(signal.SIGINT, stopping.on_signal)
            signal.signal(signal.SIGTERM, stopping.on_signal)

    @cached_property
    @override
    def state_writer(self) -> SealingStateWriter:
        return SealingStateWriter(self)

    #: Set when a rotated refresh token could not be saved to the token file: the run exits 1.
    token_store_failed: t.ClassVar[list[str]] = []

    # -- settings ----------------------------------------------------------------------------

    @override
    def config_problems(
        self, schema_check: t.Callable[[], list[str]], *, raise_errors: bool
    ) -> list[str]:
        for name, value in self.config.items():
            if errors.is_secret_setting(name, self.config_jsonschema):
                errors.register_secret(value)
        for entry in self.config.get("companies") or []:  # each company's own token
            if isinstance(entry, dict) and isinstance(entry.get("refresh_token"), str):
                errors.register_secret(entry["refresh_token"])
        try:  # the schema's own problems, without the SDK's bare summary line
            problems = schema_check()
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

    # -- streams, and what they share ---------------------------------------------------------

    @property
    @override
    def catalog_json_text(self) -> str:
        # small enough for Meltano (catalog.py)
        return catalog_text(discovered(self.streams.values()))

    @cached_property
    def companies(self) -> list[Company]:
        """The run's companies: one for a single-company config, one per `companies` entry."""
        return [
            Company(
                config,
                context=context,
                logger=self.logger,
                state=lambda: t.cast(dict, self.state),
                write_state=lambda soon: self.state_writer.write_state(self.state, soon=soon),
                token_store_failed=type(self).token_store_failed,
            )
            for config, context in company_configs(self.config)
        ]

    @property
    def company(self) -> Company:
        """The first company (the only one of a single-company config)."""
        return self.companies[0]

    def company_streams(self, company: Company) -> list:
        """Every entity and report stream of one company, bound to it."""
        entities = [QuickBooksStream(self, entity, company) for entity in ENTITIES]
        reports = report_streams(self, company)
        company.streams, company.report_streams = entities, reports
        company.all_streams = [*entities, *reports]
        return company.all_streams

    def discover_streams(self) -> list:
        # The catalog's streams are the first company's; the others' are built for the sync.
        return [*self.company_streams(self.company), SyncStatusStream(self, self.companies)]

    @cached_property
    def _other_streams(self) -> dict[str, list]:
        """The streams of every company but the first, by realm, with the catalog applied."""
        built = {}
        for company in self.companies[1:]:
            streams = self.company_streams(company)
            if self.input_catalog is not None:
                for stream in streams:
                    stream.apply_catalog(self.input_catalog)
            built[company.realm_id] = streams
        return built

    def streams_of(self, company: Company) -> list:
        if company is self.company:
            return self.company.all_streams
        return self._other_streams[company.realm_id]

    @override  # type: ignore[misc]  # the SDK marks sync_all final: ours adds companies
    def sync_all(self) -> None:
        try:
            if self.company.context is None:
                self._sync_one_company()
            else:
                sync_companies(self)
            self._finish_run()  # exits non-zero if a stream or a company failed
        except stopping.Stopped as stop:
            # Every line so far is whole, and the state covers exactly the records among them
            # (the SDK moves a bookmark only after its record's line): the run ends on it.
            for company in self.companies:
                company.stop_chains()
            if isinstance(status := self.streams.get(SYNC_STATUS), SyncStatusStream):
                try:
                    status.report_stop(str(stop), self.streams_of)
                except Exception as exc:  # the final STATE matters more than the report
                    self.logger.warning("The stopped run's sync_status was not written: %s", exc)
            self.state_writer.write_state(self.state)
            raise
        finally:
            with stopping.whole_lines:  # a signal now waits until the last lines are out
                # No page chain outlives the run: a thread still at work when the interpreter
                # shuts down is one more way to crash there.
                for company in self.companies:
                    company.stop_chains(wait=1.0)
                # A refresh token rotated since the last STATE goes out in a final one.
                if any(company.token_unsealed() for company in self.companies):
                    self.state_writer.write_state(self.state)
                # Lines since the last STATE, and the final STATE if the SDK wrote none after.
                self.block_writer.flush()

    def _sync_one_company(self) -> None:
        self.company.reads_ahead = True  # a whole run: every stream's pages fetched at once
        # Streams are written shortest first (the order of Singer streams is free), and
        # their requests are served in that order: each stream's pages are then mostly
        # in by the time the writing reaches it, and the longest ones (cut into slices
        # read at once, see readahead.py) end about when the writing does.
        expected = self.company.run_plan.expected_pages
        self.company.seal_now()
        # sync_status comes last: it reports how every other stream went.
        order = sorted(
            self.streams.values(),
            key=lambda s: (s.name == SYNC_STATUS, expected.get(s.name, 0)),
        )
        self.streams.clear()
        self.streams.update((s.name, s) for s in order)
        super().sync_all()

    def _finish_run(self) -> None:
        several = self.company.context is not None
        failed = [
            c.outcomes.report_failures(c.realm_id if several else None) for c in self.companies
        ]
        refused = [c for c in self.companies if c.not_authorized]
        stopped = [c for c in self.companies if c.failed]
        if not any(failed) and not refused and not stopped:
            return
        if stopped:
            self.logger.error(
                "%d of %d companies stopped (%s); every other company was synced.",
                len(stopped),
                len(self.companies),
                ", ".join(c.realm_id for c in stopped),
            )
        if refused:
            self.logger.error(
                "%d of %d companies not authorized (%s); every other company was synced.",
                len(refused),
                len(self.companies),
                ", ".join(c.realm_id for c in refused),
            )
        self.block_writer.flush()
        sys.exit(1)

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
        # The SDK registers each stream with the maps from its catalog: every schema through
        # singerlib.Schema and back, then copied twice (most of half a CPU-second each
        # process). The same registration, from the streams (the catalog's schema where one
        # was given).
        PluginBase.setup_mapper(self)
        catalog = self.input_catalog
        for stream in self.streams.values():
            if catalog is None or catalog.get_stream(stream.tap_stream_id) is not None:
                schema = selected_schema(stream)
                self.mapper.register_raw_stream_schema(stream.name, schema, stream.primary_keys)
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
        kept = t.cast(dict, self.state)  # the SDK's TypedDict names only "bookmarks"
        for key in (AUTH_STATE_KEY, REALM_STATE_KEY, UNCLAIMED_STATE_KEY):
            if state.get(key):
                kept[key] = copy.deepcopy(state[key])
        single = self.company.context is None
        top = self.config.get("realm_id") if single or self.config.get("refresh_token") else None
        if top or not single:  # else a config without its company (the config check says so)
            settle_state(
                kept,
                [c.realm_id for c in self.companies],
                single=single,
                owner=str(top) if top else None,
                logger=self.logger,
            )
        for stream_name, bookmark in self.state.get("bookmarks", {}).items():
            if stream_name in BY_STREAM:
                normalise_bookmark(stream_name, bookmark)
                for partition in bookmark.get("partitions") or []:
                    normalise_bookmark(stream_name, partition)

    # -- failing clearly ---------------------------------------------------------------------

    @classmethod
    def invoke(cls, **kwargs: t.Any) -> None:
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
        assert config is not None  # made by the SDK's eager --config callback, even when absent
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

    @override  # type: ignore[misc]  # the SDK marks it final; see the comment below
    def run_sync_dry_run(self, dry_run_record_limit: int | None = 1, streams=None) -> bool:
        # `--test=record`/`schema`: the SDK stops each stream at its record limit by raising,
        # and logs "An unhandled error occurred" on the way: not an error of this test.
        quiet = _StopAtLimitIsNoError()
        loggers = {s.logger for s in (streams or self.streams.values())}
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
        """Refresh each company's token and read its CompanyInfo: one metered call each."""
        verdicts = [connection_verdict(company) for company in self.companies]
        return all(ok for ok, _ in verdicts), "\n".join(text for _, text in verdicts)


def connection_verdict(company: Company) -> tuple[bool, str]:
    """Refresh the company's token and read its CompanyInfo: one metered call."""
    url = f"{company.api_url}/v3/company/{company.realm_id}/companyinfo/{company.realm_id}"
    try:
        request = requests.Request(
            "GET",
            url,
            params={"minorversion": company.minor_version},
            headers={"Accept": "application/json"},
        ).prepare()
        response = company.http_session.send(
            company.authenticator(request),
            timeout=float(company.config.get("request_timeout", 60)),
        )
    except QuickBooksAuthError as exc:
        return False, f"Connection test FAILED: {exc}"
    except requests.RequestException as exc:
        return (
            False,
            f"Connection test FAILED: cannot reach {company.api_url}: {type(exc).__name__}",
        )
    if errors.not_authorized_for_company(response):
        return False, f"Connection test FAILED: {errors.describe(response)}; {REALM_HINT}."
    if response.status_code != 200:
        return False, f"Connection test FAILED: {errors.describe(response)}"
    name = (response.json().get("CompanyInfo") or {}).get("CompanyName", "?")
    return True, f"Connection test OK: realm {company.realm_id} is '{name}'."


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


def settings_problems(config: t.Mapping[str, t.Any]) -> list[str]:  # noqa: C901 - one check per key
    """What is wrong with a config, one sentence per key (the JSON schema checks types)."""
    problems = companies_problems(config)
    realm = str(config.get("realm_id") or "")
    if realm and not realm.isdigit():
        problems.append(f"realm_id must be the company's numeric realmId, not {realm!r}.")
    for key in ("api_url", "token_url"):
        if url := config.get(key):
            problem = _url_problem(url)
            if problem:
                problems.append(f"{key}: {problem}")
    # A value of the wrong type is the schema's problem (reported once, by it): skipped here.
    size = number(config, "page_size")
    if size is not None and not 1 <= size <= query.MAX_RESULTS:
        problems.append(f"page_size must be between 1 and {query.MAX_RESULTS}, not {size}.")
    for key in ("request_timeout", "connect_timeout", "max_retry_wait"):
        if (seconds := number(config, key)) is not None and seconds <= 0:
            problems.append(f"{key} must be a positive number of seconds.")
    if (retries := number(config, "max_retries")) is not None and retries < 0:
        problems.append("max_retries must be 0 or more.")
    if (rate := number(config, "requests_per_minute")) is not None and not 1 <= rate <= 500:
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
_LEADING_KEY = re.compile(r"^([a-z_]+(?:\[\d+\])?(?:\.[a-z_]+)?)")


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
