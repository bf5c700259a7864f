"""Many companies in one run: each one's config, its state as an SDK partition, and the sync.

A config with ``companies`` gives every company its own :class:`~tap_quickbooks.company.Company`
(token chain, rate limiter, run plan) and its own state partition, context
``{"realm_id": ...}``. Companies' pages are fetched at once, a few companies ahead of the one
being written (worker threads fetch; only the main thread writes). A company whose refresh
token QBO refuses, or that QBO refuses whole, is skipped and named; the others are synced in
full, and the run then exits non-zero.
"""

from __future__ import annotations

import concurrent.futures
import os
import typing as t

from tap_quickbooks import query
from tap_quickbooks.auth import QuickBooksAuthError, TokenStoreError
from tap_quickbooks.company import AUTH_STATE_KEY
from tap_quickbooks.outcomes import SYNC_STATUS, company_wide

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


def migrate_to_partitions(state: dict, context: dict) -> None:
    """Move an older single-company state into the first company's partition, in place:
    bookmarks kept at the stream's top become that company's, as does its sealed token."""
    for bookmark in (state.get("bookmarks") or {}).values():
        if not isinstance(bookmark, dict):
            continue
        own = {k: v for k, v in bookmark.items() if k != "partitions"}
        if not own:
            continue
        partitions = bookmark.setdefault("partitions", [])
        if not any(p.get("context") == context for p in partitions):
            partitions.append({"context": dict(context), **own})
        for key in own:
            del bookmark[key]
    kept = state.get(AUTH_STATE_KEY)
    if isinstance(kept, dict) and "refresh_token" in kept:
        state[AUTH_STATE_KEY] = {"companies": {context["realm_id"]: kept}}


def migrate_from_partitions(state: dict, realm_id: str) -> None:
    """The reverse, for a single-company config given a state of many companies: this
    company's partitions become the streams' bookmarks (the others are left as they are)."""
    for bookmark in (state.get("bookmarks") or {}).values():
        partitions = bookmark.get("partitions") if isinstance(bookmark, dict) else None
        for partition in partitions or []:
            if (partition.get("context") or {}).get("realm_id") == realm_id:
                own = {k: v for k, v in partition.items() if k != "context"}
                for key, value in own.items():
                    bookmark.setdefault(key, value)
    kept = state.get(AUTH_STATE_KEY)
    by_realm = kept.get("companies") if isinstance(kept, dict) else None
    if (
        isinstance(kept, dict)
        and isinstance(by_realm, dict)
        and isinstance(sealed := by_realm.get(realm_id), dict)
    ):
        state[AUTH_STATE_KEY] = {**kept, **sealed}


def ahead() -> int:
    """How many companies are fetched at once: the CPU bounds it (parsing pages costs it)."""
    return max(2, 2 * (os.cpu_count() or 1))


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


def ends_the_run(exc: BaseException) -> bool:
    """Whether a failure met while syncing one company concerns the run, not the company:
    the output is gone (no company can be written), or the run was stopped."""
    return isinstance(exc, BrokenPipeError) or not isinstance(exc, Exception)


def refused_whole(exc: BaseException) -> bool:
    """Whether a failure concerns the whole company (its token, or QBO refusing it)."""
    if isinstance(exc, TokenStoreError):
        return False  # the token file's fault, not the company's
    return isinstance(exc, QuickBooksAuthError) or company_wide(exc)


def sync_companies(tap: t.Any) -> None:  # noqa: C901 - the run's order, told once
    """Sync every company: each one's streams shortest first, then one sync_status for all.

    Worker threads plan a window of companies at once (their pages then fetched ahead);
    the main thread writes whichever company is ready first, so a slow company does not hold
    up the others' data.
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
    waiting = list(companies)
    bound = ahead()
    pool = concurrent.futures.ThreadPoolExecutor(bound, thread_name_prefix="company")
    try:
        planning: dict[concurrent.futures.Future, Company] = {}
        while waiting or planning:
            while waiting and len(planning) < bound:
                company = waiting.pop(0)
                planning[pool.submit(_plan, company)] = company
            done = next(concurrent.futures.as_completed(planning))
            company = planning.pop(done)
            if (failure := done.result()) is not None:
                if ends_the_run(failure):
                    raise failure
                skip_company(company, tap.streams_of(company), failure)
                continue
            sync_company(tap, company)
            company.stop_chains()  # done: its threads and spools go
    finally:
        # A stopped run plans no further company (those in flight end with their request).
        pool.shutdown(wait=False, cancel_futures=True)
    status = tap.streams.get(SYNC_STATUS)
    if status is not None and status.selected:
        status.sync()
        status.finalize_state_progress_markers()
    for company in companies:
        for stream in tap.streams_of(company):
            stream.log_sync_costs()
    if status is not None:
        status.log_sync_costs()


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
