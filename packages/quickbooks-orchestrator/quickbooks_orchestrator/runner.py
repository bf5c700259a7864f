"""One shard's sync: ``tap-quickbooks | loader`` over its companies, each one's state, token,
metered calls and outcome kept by the store under its realm_id. Free of Dagster.

What each company did is read from what the tap writes for machines: its ``sync_status``
records (one per company and stream, seen on their way to the loader), whose schema promises
``status`` and ``company_metered_calls``, the count Intuit meters (each batch item one).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import subprocess
import sys
import tempfile
import threading
import typing as t
from dataclasses import dataclass, field
from pathlib import Path

from tap_quickbooks.auth import RefreshTokenCandidate, TokenFile, TokenSealer
from tap_quickbooks.timefmt import read_instant

from .partition_state import merged, split, take_sealed
from .shards import DEFAULT_SHARDS
from .store import Company, Store

SYNC_STATUS = b'"sync_status"'
# sync_status outcomes that leave nothing to do until the next run.
DONE = {"ok", "unavailable"}
TAP = Path(sys.executable).parent / "tap-quickbooks"


@dataclass
class Settings:
    """Where everything lives and what a run calls; ``from_env`` reads ``QBO_ORCH_*``."""

    home: Path
    app_config: dict  # client_id, client_secret, api_url, token_url, start_date, ...
    catalog: Path | None = None
    # argv of the loader; "{shard}" and "{output}" are filled in. Default: jsonl_loader,
    # writing each company's records under {output}/<realm_id>/.
    loader: list[str] = field(default_factory=list)
    tap: list[str] = field(default_factory=lambda: [str(TAP)])
    monthly_budget: int = 500_000
    # Reads stop being scheduled once this share of the budget is spent: the runs in flight
    # and the rest of the month's writes-then-reads keep a margin before Intuit blocks the app.
    budget_stop_at: float = 0.95
    lease_seconds: float = 3600
    shards: int = DEFAULT_SHARDS
    # A PostgreSQL URL: the registry, state and usage shared by runs on many machines.
    store_url: str = ""
    timeout: float = 3600
    # Seconds before a failed sync's first retry (then twice, four times that).
    retry_delay: float = 30
    # A run whose step has not beaten for this long died with its machine (or daemon):
    # dead_run_sensor fails it, and the daemon's run retry syncs its shard again.
    dead_after: float = 300
    # The webhook receiver's store_url (quickbooks-webhooks): set, the webhook sensor runs.
    webhook_store: str = ""

    @property
    def tokens(self) -> Path:
        return self.home / "tokens"

    @property
    def output(self) -> Path:
        return self.home / "output"

    @property
    def store(self) -> Store:
        return Store(self.store_url or self.home / "orchestrator.sqlite")

    @property
    def budget_stop(self) -> int:
        return int(self.monthly_budget * self.budget_stop_at)

    @property
    def token_file(self) -> Path:
        # One file for every shard: the tap locks it and each run changes only its companies.
        return self.tokens / "companies.json"

    def loader_argv(self, shard: str) -> list[str]:
        argv = self.loader or [sys.executable, "-m", "quickbooks_orchestrator.jsonl_loader"]
        argv = argv if self.loader else [*argv, "{output}"]
        try:
            return [a.format(shard=shard, output=self.output) for a in argv]
        except (KeyError, IndexError, ValueError) as exc:
            raise SyncError(
                f"QBO_ORCH_LOADER names a placeholder it cannot have ({exc}): only {{shard}} "
                "and {output} are filled in (each record carries its realm_id).",
                retry=False,
            ) from None

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        home = Path(env.get("QBO_ORCH_HOME", ".quickbooks_orchestrator")).resolve()
        config_path = Path(env.get("QBO_ORCH_APP_CONFIG", home / "app_config.json"))
        try:
            app_config = json.loads(config_path.read_text())
        except FileNotFoundError:
            app_config = {}  # a run names the missing file; the UI still starts
        except ValueError as exc:
            raise ValueError(f"{config_path} is not valid JSON: {exc}") from None
        catalog = env.get("QBO_ORCH_CATALOG")
        loader = env.get("QBO_ORCH_LOADER")
        return cls(
            home=home,
            app_config=app_config,
            catalog=Path(catalog) if catalog else None,
            loader=json.loads(loader) if loader else [],
            monthly_budget=int(env.get("QBO_ORCH_MONTHLY_BUDGET", 500_000)),
            budget_stop_at=float(env.get("QBO_ORCH_BUDGET_STOP_AT", 0.95)),
            webhook_store=env.get("QBO_ORCH_WEBHOOK_STORE", ""),
            shards=_shards(env.get("QBO_ORCH_SHARDS", "")),
            store_url=env.get("QBO_ORCH_STORE_URL", ""),
            retry_delay=_seconds(env, "QBO_ORCH_RETRY_DELAY", 30),
            dead_after=_seconds(env, "QBO_ORCH_DEAD_AFTER", 300, least=1),
        )

    @property
    def app_config_missing(self) -> list[str]:
        return [k for k in ("client_id", "client_secret") if not self.app_config.get(k)]


def _seconds(env: t.Mapping[str, str], name: str, default: float, least: float = 0) -> float:
    text = env.get(name, "")
    try:
        seconds = float(text or default)
    except ValueError:
        seconds = -1
    if not least <= seconds < float("inf"):
        raise ValueError(f"{name} must be a number of seconds ({least} or more), not {text!r}.")
    return seconds


def _shards(text: str) -> int:
    if not text:
        return DEFAULT_SHARDS
    if not text.isdigit() or int(text) < 1:
        raise ValueError(f"QBO_ORCH_SHARDS must be a whole number of 1 or more, not {text!r}.")
    return int(text)


class SyncError(Exception):
    """A run that failed; the message is safe to log (the tap never logs secrets).
    ``retry``: whether trying again can help (not for a setup that is missing)."""

    def __init__(self, message: str, retry: bool = True) -> None:
        super().__init__(message)
        self.retry = retry


@dataclass
class CompanyResult:
    realm_id: str
    metered: int | None  # None: the tap stopped before counting this company's calls
    finished: bool  # every stream ok (or unavailable to this company)
    statuses: dict[str, str] = field(default_factory=dict)  # stream -> sync_status status


@dataclass
class ShardResult:
    companies: dict[str, CompanyResult]
    skipped: list[str]  # finished by an earlier attempt of this run, or held by another run
    tap_rc: int


def _tail_errors(log: str, limit: int = 12) -> str:
    lines = [ln for ln in log.splitlines() if " ERROR " in ln or "CRITICAL" in ln]
    return "\n".join((lines or log.splitlines())[-limit:])


def _status_message(line: bytes) -> dict | None:
    """The sync_status message a line holds, if it is one (the loader judges the line)."""
    try:
        message = json.loads(line)
    except ValueError:
        return None
    if isinstance(message, dict) and message.get("stream") == "sync_status":
        return message
    return None


def _pump(tap_out, loader_in, statuses: list[dict], forward_status: bool) -> None:
    """Tap stdout to the loader, line by line, keeping the sync_status records seen (and
    passing them on only if the user's catalog selects them)."""
    try:
        for line in tap_out:
            if SYNC_STATUS in line and (message := _status_message(line)) is not None:
                if message.get("type") == "RECORD":
                    statuses.append(message["record"])
                if not forward_status:
                    continue
            loader_in.write(line)
    except (BrokenPipeError, ValueError):
        pass  # the loader stopped (its pipe broken or closed): its exit code says why
    finally:
        tap_out.close()  # the tap's next write fails: it stops
        with contextlib.suppress(BrokenPipeError):
            loader_in.close()


def sync_companies(  # noqa: C901, PLR0912, PLR0915 - one shard's run, its steps in order
    settings: Settings,
    shard: str,
    realm_ids: list[str],
    run_id: str,
    log,
    *,
    catalog: dict | None = None,
    forward_status: bool = True,
    stop: threading.Event | None = None,
    lease: str | None = None,
) -> ShardResult:
    """Run the tap for these companies (one shard) into the loader; record each company's
    metered calls, state and newest token. ``run_id``: the run's root, so that a retry skips
    the companies an earlier attempt finished. ``catalog``: this run's own selection
    (selection.run_catalog: sync_status always in), else the configured one.
    ``forward_status``: whether the loader gets the sync_status stream (the user chose it).
    ``stop``: once set, the tap is stopped (SIGTERM: it ends on its final state).
    ``lease``: the id the companies' leases were taken under: a company's state is kept only
    while they are still this run's (else another run has it, from newer state)."""
    store = settings.store
    if missing := settings.app_config_missing:
        raise SyncError(
            f"The app config lacks {', '.join(missing)}: set QBO_ORCH_APP_CONFIG to a JSON "
            "file holding client_id, client_secret (and api_url, token_url for a sandbox).",
            retry=False,
        )
    done = store.finished(run_id)
    skipped = [r for r in realm_ids if r in done]
    companies = []
    for realm in realm_ids:
        if realm in done:
            continue
        company = store.company(realm)
        if company is None:
            log.warning("Company %s left the registry; it is not synced.", realm)
            continue
        companies.append(company)
    settings.tokens.mkdir(parents=True, exist_ok=True, mode=0o700)
    sealer = _Sealer(settings.app_config)
    states = {c.realm_id: store.state(c.realm_id) for c in companies}
    for realm, stored in states.items():
        # Where the store has no token kept, runs of before kept it elsewhere: a one-company
        # run's file, a state's sealed copy; offered both, the store keeps the newest. A
        # state's copy was otherwise kept with the store's token or before it (on some
        # machine's clock, unknown here): dropped.
        sealed = take_sealed(stored, realm)
        if store.token(realm) is None:
            if old := _token_of_old_runs(settings, realm):
                store.save_token(realm, old.token, old.updated_at or _UNDATED)
            keep_sealed(sealer, store, realm, sealed, log)
    tokens = _tokens_for_the_tap(settings, store, shard, companies, log)
    if not tokens:
        return ShardResult({}, skipped, 0)
    todo = list(tokens)
    entries = [{"realm_id": realm, "refresh_token": tokens[realm]} for realm in todo]
    config = {
        **{k: v for k, v in settings.app_config.items() if k not in ("realm_id", "refresh_token")},
        "companies": entries,
        "token_store_path": str(settings.token_file),
    }
    statuses: list[dict] = []
    with tempfile.TemporaryDirectory(prefix="qbo-run-") as tmp:
        work = Path(tmp)  # 0700: the config holds the client secret and refresh tokens
        (work / "config.json").write_text(json.dumps(config))
        state_in = merged({r: states[r] for r in todo})
        (work / "state.json").write_text(json.dumps(state_in))
        tap = [*settings.tap, "--config", str(work / "config.json")]
        tap += ["--state", str(work / "state.json")]
        if catalog is not None:
            (work / "catalog.json").write_text(json.dumps(catalog))
            tap += ["--catalog", str(work / "catalog.json")]
        elif settings.catalog:
            tap += ["--catalog", str(settings.catalog)]
        loader_argv = settings.loader_argv(shard)
        log.info(
            "Syncing %s (%d companies%s): %s | %s",
            shard,
            len(todo),
            f", {len(skipped)} finished before" if skipped else "",
            tap[0],
            " ".join(loader_argv),
        )
        with (work / "tap.log").open("w+") as tap_log:
            tap_proc = subprocess.Popen(tap, stdout=subprocess.PIPE, stderr=tap_log)
            loader = subprocess.Popen(
                loader_argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE
            )
            outs: list[bytes] = []
            errors: list[bytes] = []
            threads = [
                threading.Thread(
                    target=_pump, args=(tap_proc.stdout, loader.stdin, statuses, forward_status)
                ),
                threading.Thread(target=lambda: outs.append(loader.stdout.read())),
                threading.Thread(target=lambda: errors.append(loader.stderr.read())),
            ]
            if stop is not None:
                threads.append(threading.Thread(target=_stop_when, args=(stop, tap_proc)))
            for thread in threads:
                thread.start()
            try:
                loader.wait(timeout=settings.timeout)
                tap_rc = tap_proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                tap_proc.kill()
                loader.kill()
                raise SyncError(
                    f"{shard}: the sync ran past {settings.timeout:.0f}s and was stopped; its "
                    "companies' state is unchanged, the next run resumes from it."
                ) from None
            finally:
                for thread in threads:
                    thread.join()
                _keep_tokens(settings, store, todo, log)
            tap_log.seek(0)
            tap_text = tap_log.read()
    states = [ln for ln in b"".join(outs).decode().splitlines() if ln.strip()]
    state = json.loads(states[-1]) if states else None
    lost: list[str] = []  # companies handed to another run meanwhile: their state not kept
    if state is not None:
        # What the loader confirmed is kept even when the run fails: the next one resumes.
        for realm in todo:
            own = split(state, realm)
            sealed = take_sealed(own, realm)
            # Nothing of it confirmed: its own kept.
            if (len(own) > 1 or own["bookmarks"]) and not store.save_state(realm, own, lease):
                lost.append(realm)
            keep_sealed(sealer, store, realm, sealed, log)
    if lease is not None:  # those it had nothing to keep for are the other run's all the same
        held = store.held(lease, todo)
        lost += [r for r in todo if r not in held and r not in lost]
    if lost:
        log.warning(
            "%s: %d company(ies) were handed to another run while this one synced them (%s): "
            "this run was taken for dead, or held them past its lease. Their state is not "
            "kept, the other run's is; what this run loaded stays loaded, and anything after "
            "the other run's bookmarks is read again by the next run.",
            shard,
            len(lost),
            ", ".join(lost[:5]) + (", ..." if len(lost) > 5 else ""),
        )
    now = dt.datetime.now(dt.UTC)
    by_realm: dict[str, dict[str, str]] = {r: {} for r in todo}
    metered: dict[str, int] = {}
    for record in statuses:
        if (realm := record.get("realm_id")) in by_realm:
            by_realm[realm][str(record.get("stream"))] = str(record.get("status"))
            if isinstance(count := record.get("company_metered_calls"), int):
                metered[realm] = count
    results = {}
    for realm in todo:
        if realm in metered:
            store.record_usage(run_id, realm, metered[realm], now)
        seen = by_realm[realm]
        # Without sync_status selected, a clean exit is all the tap says.
        finished = all(s in DONE for s in seen.values()) if seen else (tap_rc == 0 and not statuses)
        finished = finished and realm in metered and realm not in lost
        results[realm] = CompanyResult(realm, metered.get(realm), finished, seen)
    store.mark_finished(run_id, [r for r, c in results.items() if c.finished])
    if uncounted := [r for r in todo if r not in metered]:
        log.warning(
            "%s: no sync_status record gave the metered calls of %d company(ies) (%s): the "
            "tap stopped before reporting them, or sync_status is not selected; their calls "
            "this run are not in the monthly budget.",
            shard,
            len(uncounted),
            ", ".join(uncounted[:5]) + (", ..." if len(uncounted) > 5 else ""),
        )
    if loader.returncode != 0:
        raise SyncError(
            f"{shard}: the loader exited {loader.returncode}:\n"
            + "\n".join(b"".join(errors).decode(errors="replace").splitlines()[-12:])
        )
    result = ShardResult(results, skipped, tap_rc)
    if tap_rc != 0:
        failed = [r for r, c in results.items() if not c.finished]
        # A company whose token QBO refused needs re-authorizing: trying again cannot help.
        refused = all(
            c.statuses and set(c.statuses.values()) <= {*DONE, "not_authorized"}
            for r, c in results.items()
            if r in failed
        )
        raise ShardFailed(
            f"{shard}: tap-quickbooks exited {tap_rc}; {len(failed)} of {len(todo)} "
            f"company(ies) not finished ({', '.join(failed[:5])}"
            f"{', ...' if len(failed) > 5 else ''}); a retry of this run syncs only those:\n"
            f"{_tail_errors(tap_text)}",
            result,
            retry=not refused,
        )
    return result


def _stop_when(stop: threading.Event, tap: subprocess.Popen) -> None:
    while tap.poll() is None:
        if stop.wait(0.5):
            tap.terminate()
            return


class ShardFailed(SyncError):
    """The tap exited non-zero; ``result`` says which companies did finish."""

    def __init__(self, message: str, result: ShardResult, *, retry: bool = True) -> None:
        super().__init__(message, retry)
        self.result = result


_UNDATED = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)  # older than any company's registration


def _token_of_old_runs(settings: Settings, realm_id: str) -> RefreshTokenCandidate | None:
    """The token a run of one company kept in ``tokens/<realm_id>.json`` before shards."""
    old = settings.tokens / f"{realm_id}.json"
    return TokenFile(old, realm_id).read() if old.exists() else None


def _tokens_for_the_tap(
    settings: Settings, store: Store, shard: str, companies: list[Company], log
) -> dict[str, str]:
    """Each company's newest refresh token, put in this machine's token file too, which the
    tap tries before its config: the file's own if it came last (it goes to the store), else
    the store's (received on another machine since, or the company's re-authorization). The
    tap then never starts from a token older than one another run received, nor from the
    chain a re-authorization replaced."""
    _keep_tokens(settings, store, [c.realm_id for c in companies], log)
    tokens: dict[str, str] = {}
    for company in companies:
        realm = company.realm_id
        if (newest := store.newest_token(realm)) is None:
            log.warning("Company %s left the registry; it is not synced.", realm)
            continue
        token, received = newest
        file = TokenFile(settings.token_file, realm, keyed=True)
        found = file.read()
        # Not over a token the file received since (a run of it rotated it meanwhile).
        if found is None or (found.token != token and (found.updated_at or received) <= received):
            try:
                file.replace(found.token if found else None, token, received)
            except OSError as exc:
                raise SyncError(
                    f"{shard}: the token file {settings.token_file} cannot be written "
                    f"({exc.strerror or exc}): a rotated refresh token would have no home. "
                    "Make QBO_ORCH_HOME/tokens writable.",
                    retry=False,
                ) from None
        tokens[realm] = token
    return tokens


class _Sealer:
    """The tap's sealer of refresh tokens in state (its key from the app's secret), made
    only once a state holds one."""

    def __init__(self, app_config: dict) -> None:
        self._app = app_config
        self._sealer: TokenSealer | None = None

    def open(self, sealed: str) -> str | None:
        if self._sealer is None:
            app = self._app
            self._sealer = TokenSealer(str(app.get("client_id")), str(app.get("client_secret")))
        return self._sealer.open(sealed)


def keep_sealed(sealer: _Sealer, store: Store, realm: str, sealed: dict | None, log) -> None:
    """A sealed refresh token taken out of a company's state (partition_state.take_sealed)
    goes to the store, kept there if it is the newest. A company's state in the store holds
    its bookmarks only: its tokens live in the store and the machines' token files, judged
    by when they came. A copy travelling with the state would outlive a re-authorization
    (the tap tries it before the config's token, by a stamp of whichever machine's clock)."""
    if not sealed:
        return
    if (token := sealer.open(str(sealed["refresh_token"]))) is None:
        log.warning(
            "Company %s: the refresh token sealed in its state was sealed under another "
            "client_id or client_secret and cannot be read; it is dropped, the store's and "
            "the token file's are used. If the run fails with invalid_grant, re-authorize "
            "the company and add it again.",
            realm,
        )
        return
    try:
        received = read_instant(str(sealed.get("updated_at")))
    except ValueError:
        received = _UNDATED
    store.save_token(realm, token, received)


def _keep_tokens(settings: Settings, store: Store, realm_ids: list[str], log) -> None:
    """Each company's newest refresh token, copied from the shared token file to the store
    (which another machine's runs read first), unless the store's is newer."""
    for realm in realm_ids:
        found = TokenFile(settings.token_file, realm, keyed=True).read()
        newest = store.newest_token(realm)  # the one it was added with, if none kept since
        if found is None or newest is None or found.token == newest[0]:
            continue
        if not store.save_token(realm, found.token, found.updated_at):
            log.info(
                "Company %s: the token file's refresh token (received %s) is older than the "
                "store's, or than the company's re-authorization; the store's is kept.",
                realm,
                found.updated_at.isoformat() if found.updated_at else "at an unknown time",
            )
