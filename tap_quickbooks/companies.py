"""Many companies in one run: each one's config, its state as an SDK partition, and the sync.

A config with ``companies`` gives every company its own :class:`~tap_quickbooks.company.Company`
(token chain, rate limiter, run plan) and its own state partition, context
``{"realm_id": ...}``. Companies' pages are fetched at once, a few companies ahead of the one
being written (worker threads fetch; only the main thread writes). A company whose refresh
token QBO refuses, or that QBO refuses whole, is skipped and named; so is one that fails in
any other way (its own failure, never the run's); the others are synced in full, and the run
then exits non-zero. Each run settles the state it is handed into its own shape, each
company's part moving, never copied (:func:`settle_state`).
"""

from __future__ import annotations

import concurrent.futures
import os
import resource
import time
import typing as t

from singer_sdk.mapper import RemoveRecordTransform
from singer_sdk.singerlib import ActivateVersionMessage

from tap_quickbooks import query
from tap_quickbooks.auth import QuickBooksAuthError, TokenStoreError
from tap_quickbooks.company import AUTH_STATE_KEY
from tap_quickbooks.outcomes import OK, SYNC_STATUS, UNAVAILABLE, company_wide
from tap_quickbooks.sdk_fastpath import set_stream_version

if t.TYPE_CHECKING:
    from tap_quickbooks.company import Company

COMPANY_KEYS = ("realm_id", "refresh_token", "start_date")
REAUTHORIZE = (
    "re-authorize it (`tap-quickbooks-auth`, or Intuit's OAuth Playground) and put its new "
    "refresh_token in its `companies` entry; the next run catches it up from its own bookmarks"
)


def company_configs(config: t.Mapping[str, t.Any]) -> list[tuple[dict, dict | None]]:
    """(config as the company sees it, its state partition) for each company of the run.

    Without ``companies`` the config is the one company's, and its state has no partition
    (as it always had). With it, a top-level realm_id/refresh_token counts as one more
    company, listed first (the one an older single-company state belongs to).
    """
    entries = config.get("companies")
    if not isinstance(entries, list) or not entries:
        return [(dict(config), None)]
    shared = {k: v for k, v in config.items() if k not in {"companies", *COMPANY_KEYS}}
    listed = [e for e in entries if isinstance(e, dict)]
    if config.get("realm_id") and config.get("refresh_token"):
        listed.insert(0, {k: config[k] for k in ("realm_id", "refresh_token")})
    out: list[tuple[dict, dict | None]] = []
    seen: set[str] = set()
    for entry in listed:
        realm = str(entry.get("realm_id") or "")
        if not realm or realm in seen:
            continue  # said by companies_problems
        seen.add(realm)
        own = {"realm_id": realm, "refresh_token": str(entry.get("refresh_token") or "")}
        if start := entry.get("start_date") or config.get("start_date"):
            own["start_date"] = start
        out.append(({**shared, **own}, {"realm_id": realm}))
    return out or [(dict(config), None)]


def companies_problems(config: t.Mapping[str, t.Any]) -> list[str]:  # noqa: C901 - a check per key
    """What is wrong with the companies of a config, one sentence each."""
    entries = config.get("companies")
    if entries is None:
        return [
            f"{key} is required (or list every company in `companies`)."
            for key in ("realm_id", "refresh_token")
            if not config.get(key)
        ]
    if not isinstance(entries, list) or not entries:
        return ['companies must be a list of {"realm_id", "refresh_token"} objects.']
    problems: list[str] = []
    top = str(config.get("realm_id") or "")
    seen = {top} if top and config.get("refresh_token") else set()
    for place, entry in enumerate(entries, 1):
        where = f"companies[{place}]"
        if not isinstance(entry, dict):
            problems.append(f'{where} must be an object {{"realm_id", "refresh_token"}}.')
            continue
        if unknown := sorted(set(entry) - set(COMPANY_KEYS)):
            problems.append(
                f"{where} has unknown key(s) {', '.join(unknown)}: a company takes only "
                f"{', '.join(COMPANY_KEYS)} (the other settings are shared, at the top level)."
            )
        realm = str(entry.get("realm_id") or "")
        if not realm.isdigit():
            problems.append(f"{where}.realm_id must be the company's numeric realmId.")
        elif realm in seen:
            problems.append(f"{where}.realm_id {realm} is listed twice.")
        seen.add(realm)
        if not entry.get("refresh_token") or not isinstance(entry["refresh_token"], str):
            problems.append(f"{where}.refresh_token is required (the company's own token).")
        if (start := entry.get("start_date")) is not None:
            try:
                query.parse_instant(str(start))
            except (ValueError, TypeError):
                problems.append(f"{where}.start_date must be an ISO-8601 date or date-time.")
    return problems


#: Whose the streams' unpartitioned bookmarks and the unkeyed sealed token are (a single-
#: company run's), so that a later run of many companies credits them to that company alone.
REALM_STATE_KEY = "quickbooks_realm_id"
#: The parts of companies this run's config does not list, kept untouched for a later run:
#: ``{realm_id: {"bookmarks": {stream: ...}, "quickbooks_auth": sealed}}``. Bookmarks of an
#: older state that named no company wait here under ``"?"``.
UNCLAIMED_STATE_KEY = "quickbooks_unclaimed"
NO_REALM = "?"


def settle_state(
    state: dict, realms: list[str], *, single: bool, owner: str | None, logger: t.Any
) -> None:
    """Give each company of the run its own part of ``state``, in place, in this run's shape.

    A company's part (its bookmarks and sealed token) *moves*, never copies: a single-company
    run (``single``, ``realms`` its one realm) keeps its part at the streams' top level, a
    many-company run in partitions; every other company's part waits in
    ``quickbooks_unclaimed``. Unpartitioned bookmarks belong to the realm the state names
    (``quickbooks_realm_id``), else to ``owner`` (the config's top-level realm_id); with
    neither, an older state's bookmarks are credited to no company (said, and kept).
    """
    parts = _parts_by_realm(state)
    _credit_unnamed(parts, owner, logger)
    # Every stream the state knows stays (the SDK keeps an entry for each).
    bookmarks: dict[str, dict] = {stream: {} for stream in state.get("bookmarks") or {}}
    auth: dict = {}
    unclaimed = {realm: part for realm, part in parts.items() if realm not in realms}
    for realm in realms:
        part = parts.get(realm) or {"bookmarks": {}}
        for stream, bookmark in part["bookmarks"].items():
            mine = bookmarks.setdefault(stream, {})
            if single:
                mine.update(bookmark)
            else:
                mine.setdefault("partitions", []).append(
                    {"context": {"realm_id": realm}, **bookmark}
                )
        if sealed := part.get(AUTH_STATE_KEY):
            auth = (
                dict(sealed)
                if single
                else {"companies": {**auth.get("companies", {}), realm: sealed}}
            )
    state.setdefault("bookmarks", {}).clear()  # in place: the SDK's object, kept
    state["bookmarks"].update(bookmarks)
    for key, value in ((AUTH_STATE_KEY, auth), (UNCLAIMED_STATE_KEY, unclaimed)):
        state[key] = value
        if not value:
            del state[key]
    state[REALM_STATE_KEY] = realms[0]
    if not single:
        del state[REALM_STATE_KEY]


def _credit_unnamed(parts: dict[str, dict], owner: str | None, logger: t.Any) -> None:
    """Bookmarks no state named the company of go to ``owner``; with none, they wait, said."""
    unnamed = parts.get(NO_REALM)
    if unnamed is None:
        return
    if not owner:
        if unnamed["bookmarks"]:
            logger.warning(
                "The state's bookmarks of streams %s name no company (a single-company run "
                "of an older version wrote them): they are credited to none, so every "
                "company reads from its start_date. To resume one company from them, give "
                "its realm_id and refresh_token at the top level of the config (beside "
                "`companies`).",
                ", ".join(sorted(unnamed["bookmarks"])),
            )
        return
    del parts[NO_REALM]
    mine = parts.setdefault(owner, {"bookmarks": {}})
    for stream, bookmark in unnamed["bookmarks"].items():
        mine["bookmarks"].setdefault(stream, bookmark)
    if unnamed.get(AUTH_STATE_KEY):
        mine.setdefault(AUTH_STATE_KEY, unnamed[AUTH_STATE_KEY])


def _sealed_of(kept: dict) -> dict:
    return {AUTH_STATE_KEY: kept[AUTH_STATE_KEY]} if kept.get(AUTH_STATE_KEY) else {}


def _parts_by_realm(state: dict) -> dict[str, dict]:
    """Every company's part of a state of any shape this tap wrote: ``{realm: {"bookmarks":
    {stream: bookmark}, "quickbooks_auth": sealed}}`` (``"?"``: named by no one)."""
    unclaimed = state.get(UNCLAIMED_STATE_KEY)
    parts: dict[str, dict] = {
        str(realm): {"bookmarks": dict(kept.get("bookmarks") or {}), **_sealed_of(kept)}
        for realm, kept in (unclaimed if isinstance(unclaimed, dict) else {}).items()
        if isinstance(kept, dict)
    }

    def part(realm: object) -> dict:
        return parts.setdefault(str(realm), {"bookmarks": {}})

    top_owner = state.get(REALM_STATE_KEY) or NO_REALM
    for stream, bookmark in (state.get("bookmarks") or {}).items():
        if not isinstance(bookmark, dict):
            continue
        for partition in bookmark.get("partitions") or []:
            if (realm := (partition.get("context") or {}).get("realm_id")) is not None:
                own = {k: v for k, v in partition.items() if k != "context"}
                part(realm)["bookmarks"][stream] = own
        if own := {k: v for k, v in bookmark.items() if k != "partitions"}:
            part(top_owner)["bookmarks"][stream] = own
    kept = state.get(AUTH_STATE_KEY)
    kept = kept if isinstance(kept, dict) else {}
    for realm, sealed in (kept.get("companies") or {}).items():
        if isinstance(sealed, dict):
            part(realm)[AUTH_STATE_KEY] = sealed
    if kept.get("refresh_token"):
        part(top_owner)[AUTH_STATE_KEY] = {k: v for k, v in kept.items() if k != "companies"}
    return parts


def ahead() -> int:
    """How many companies are fetched at once to begin with: the CPU bounds it (parsing
    pages costs it)."""
    return max(2, 2 * (os.cpu_count() or 1))


FDS_A_COMPANY = 80  # its spool files (a stream's pages waiting, a slice's) and sockets


def most_ahead(base: int) -> int:
    """The most companies fetched at once: 8 times the start, within the files a process
    may open (each company fetching keeps spool files and sockets open)."""
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    by_files = (soft - 128) // FDS_A_COMPANY if soft != resource.RLIM_INFINITY else 8 * base
    return max(base, min(8 * base, by_files))


def resize(size: int, busy: float, most: int) -> int:
    """The window's next size, from the CPU-seconds a second the process spent since the
    last look (its threads share one interpreter lock: it keeps about one CPU busy at most):
    doubled while it mostly idles (its companies then wait on QBO's limits, which are each
    company's own). Never made smaller: a busy process's companies wait their turn to be
    written, their pages in files, costing no CPU."""
    return min(most, 2 * size) if busy < 0.5 else size


class Window:
    """How many companies are planned and fetched at once, ahead of the one being written.

    Parsing pages costs CPU, so the window starts at :func:`ahead`; but a company is often
    waiting on QBO (its 10 requests a second, its 500 a minute: a report's periods, a long
    backfill), then costing none, and the others' requests are not held by its limits. So
    the window grows while the process mostly idles."""

    def __init__(self, logger: t.Any, base: int | None = None, most: int | None = None) -> None:
        self.logger = logger
        self.base = base or ahead()
        self.most = most or most_ahead(self.base)
        self.size = self.base
        self._since = (time.process_time(), time.monotonic())

    def look(self) -> int:
        """The size now, judged again when a second or more has passed since the last look."""
        cpu, wall = time.process_time(), time.monotonic()
        if wall - self._since[1] >= 1.0:
            busy = (cpu - self._since[0]) / (wall - self._since[1])
            size = resize(self.size, busy, self.most)
            if size != self.size:
                self.logger.info(
                    "Companies fetched at once: %d (was %d; %d%% of a CPU busy).",
                    size,
                    self.size,
                    round(100 * busy),
                )
                self.size = size
            self._since = (cpu, wall)
        return self.size


def _plan(company: Company) -> BaseException | None:
    """A worker's job: the company's token and run plan (CDC, batch), and its page chains
    started; the failure that stops the company, if any."""
    try:
        company.run_plan  # noqa: B018  (made and kept here, off the main thread)
        company.reads_ahead = True
        company.start_reading()
    except Exception as exc:
        company.stop_chains()  # those it started before failing read on otherwise
        return exc
    return None


def ends_the_run(exc: Exception) -> bool:
    """Whether a failure met while writing one company concerns the run, not the company:
    the output is gone, so no company can be written."""
    return isinstance(exc, BrokenPipeError)


def refused_whole(exc: BaseException) -> bool:
    """Whether a failure concerns the whole company (its token, or QBO refusing it)."""
    if isinstance(exc, TokenStoreError):
        return False  # the token file's fault, not the company's
    return isinstance(exc, QuickBooksAuthError) or company_wide(exc)


def sync_companies(tap: t.Any) -> None:  # noqa: C901 - the run's order, told once
    """Sync every company: each one's streams shortest first, then one sync_status for all.

    Worker threads plan a window of companies at once (their pages then fetched ahead);
    the main thread writes the company planned longest ago of those planned, so a slow
    company does not hold up the others' data, and each is written when its pages have had
    the longest to arrive.
    """
    # As the SDK's sync_all, less its reset of progress markers: every stream of this tap
    # is sorted (or full-table), so none is ever left in state.
    if tap.state:
        tap.state_writer.write_state(tap.state)
    companies: list[Company] = tap.companies
    check_token_files(companies)
    for company in companies:
        # Built, given the catalog and their state partitions made, on the main thread:
        # the workers only read state.
        for stream in tap.streams_of(company):
            stream.company_state  # noqa: B018
    full_tables = full_table_versions(tap, companies)
    waiting = list(companies)
    window = Window(tap.logger)
    pool = concurrent.futures.ThreadPoolExecutor(window.most, thread_name_prefix="company")
    try:
        planning: dict[concurrent.futures.Future, Company] = {}  # in the order planned
        while waiting or planning:
            while waiting and len(planning) < window.look():
                company = waiting.pop(0)
                planning[pool.submit(_plan, company)] = company
            done = first_planned(planning)
            company = planning.pop(done)
            if (failure := done.result()) is not None:
                skip_company(company, tap.streams_of(company), failure)
            else:
                sync_company(tap, company)
                company.stop_chains()  # done: its threads and spools go
            # A STATE put off (the company wrote no record since the last: output.py) goes
            # out now: each company's progress is out by the time it ends.
            tap.block_writer.flush()
    finally:
        # A stopped run plans no further company (those in flight end with their request).
        pool.shutdown(wait=False, cancel_futures=True)
    activate_versions(tap, companies, full_tables)
    status = tap.streams.get(SYNC_STATUS)
    if status is not None and status.selected:
        status.sync()
        status.finalize_state_progress_markers()
    for company in companies:
        for stream in tap.streams_of(company):
            stream.log_sync_costs()
    if status is not None:
        status.log_sync_costs()


def first_planned(
    planning: dict[concurrent.futures.Future, Company],
) -> concurrent.futures.Future:
    """The earliest started of the plans that are done, once one is."""
    while True:
        for future in planning:
            if future.done():
                return future
        concurrent.futures.wait(planning, return_when=concurrent.futures.FIRST_COMPLETED)


def full_table_versions(tap: t.Any, companies: list[Company]) -> dict[str, int]:
    """With ``emit_activate_version_messages``: one table version per full-table stream for
    every company of the run, set on each company's stream (its records carry it)."""
    if not tap.config.get("emit_activate_version_messages"):
        return {}
    version = int(time.time())  # the SDK's unit: seconds
    versions = {}
    for company in companies:
        for stream in tap.streams_of(company):
            if stream.selected and stream.replication_method == "FULL_TABLE":
                set_stream_version(stream, version)
                versions[stream.name] = version
    return versions


def activate_versions(tap: t.Any, companies: list[Company], versions: dict[str, int]) -> None:
    """One ACTIVATE_VERSION per full-table stream, once every company synced it whole: a
    target honouring it drops the rows of older versions, so none is sent when a company
    failed the stream (its rows are in no newer version)."""
    for name, version in versions.items():
        outcomes = [c.outcomes.by_stream.get(name) for c in companies]
        if not all(o is not None and o.status in {OK, UNAVAILABLE} for o in outcomes):
            tap.logger.warning(
                "%s: no ACTIVATE_VERSION sent, as not every company synced it whole this "
                "run (a target would drop the others' rows); the next complete run sends it.",
                name,
            )
            continue
        stream = next(s for s in tap.streams_of(companies[0]) if s.name == name)
        for stream_map in stream.stream_maps:
            if not isinstance(stream_map, RemoveRecordTransform):  # as the SDK does
                tap.write_message(
                    ActivateVersionMessage(stream=stream_map.stream_alias, version=version)
                )


def check_token_files(companies: list[Company]) -> None:
    """One setup error, before any refresh, if a token file cannot be written: said once for
    the file, not as every company's refused token."""
    checked = set()
    for company in companies:
        token_file = company.tokens.file
        if token_file.path in checked:
            continue
        checked.add(token_file.path)
        if problem := token_file.problem():
            raise TokenStoreError(problem)


def sync_company(tap: t.Any, company: Company) -> None:
    """The company's streams, shortest first; a failure of the whole company ends them."""
    expected = company.run_plan.expected_pages
    company.seal_now()
    for stream in sorted(tap.streams_of(company), key=lambda s: expected.get(s.name, 0)):
        if not stream.selected:
            continue
        try:
            stream.sync(company.context)
        except Exception as exc:
            # A limiter's SQLite error, a spool's OSError...: this company stops, named;
            # the others go on.
            if ends_the_run(exc):
                raise
            company.stop_chains()
            skip_company(company, tap.streams_of(company), exc)
            return
        stream.finalize_state_progress_markers()


def skip_company(company: Company, streams: list, exc: BaseException) -> None:
    """Name the company that could not be synced, and what brings it back; mark its streams
    not yet finished (not_authorized when QBO refused its token or the company)."""
    finished = {o.stream for o in company.outcomes.by_stream.values() if o.finished_at}
    left = [s for s in streams if s.selected and s.name not in finished]
    if refused_whole(exc):
        company.not_authorized = str(exc)
        company.outcomes.not_authorized(left, str(exc))
        company.logger.error(
            "Company realm %s was not synced: %s. To sync it again, %s.",
            company.realm_id,
            exc,
            REAUTHORIZE,
        )
        return
    company.failed = f"{type(exc).__name__}: {exc}"
    company.outcomes.failed_all(left, company.failed)
    company.logger.error(
        "Company realm %s stopped: %s. The other companies go on; it resumes from its own "
        "bookmarks next run.",
        company.realm_id,
        company.failed,
    )
