"""One company's sync: ``tap-quickbooks | loader``, its state and token kept by the store.

Kept free of Dagster so a later "shard of companies" (the tap's ``companies`` key) changes
only what goes into the tap's config here, not the scheduling around it.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import subprocess
import sys
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path

from .store import Store

# The tap's last log line of a run (tap_quickbooks/tap.py, stream_costs_logged).
METERED = re.compile(r"API calls this run: (\d+) metered")
TAP = Path(sys.executable).parent / "tap-quickbooks"


@dataclass
class Settings:
    """Where everything lives and what a run calls; ``from_env`` reads ``QBO_ORCH_*``."""

    home: Path
    app_config: dict  # client_id, client_secret, api_url, token_url, start_date, ...
    catalog: Path | None = None
    # argv of the loader; "{realm_id}" and "{output}" are filled in. Default: jsonl_loader.
    loader: list[str] = field(default_factory=list)
    tap: list[str] = field(default_factory=lambda: [str(TAP)])
    monthly_budget: int = 500_000
    # Reads stop being scheduled once this share of the budget is spent: the runs in flight
    # and the rest of the month's writes-then-reads keep a margin before Intuit blocks the app.
    budget_stop_at: float = 0.95
    lease_seconds: float = 3600
    timeout: float = 3600
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
        return Store(self.home / "orchestrator.sqlite")

    @property
    def budget_stop(self) -> int:
        return int(self.monthly_budget * self.budget_stop_at)

    def loader_argv(self, realm_id: str) -> list[str]:
        argv = self.loader or [
            sys.executable,
            "-m",
            "quickbooks_orchestrator.jsonl_loader",
            "{output}/{realm_id}",
        ]
        return [a.format(realm_id=realm_id, output=self.output) for a in argv]

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
        )

    @property
    def app_config_missing(self) -> list[str]:
        return [k for k in ("client_id", "client_secret") if not self.app_config.get(k)]


class SyncError(Exception):
    """A run that failed; the message is safe to log (the tap never logs secrets).
    ``retry``: whether trying again can help (not for a setup that is missing)."""

    def __init__(self, message: str, retry: bool = True) -> None:
        super().__init__(message)
        self.retry = retry


@dataclass
class SyncResult:
    realm_id: str
    metered: int | None
    state: dict


def _tail_errors(log: str, limit: int = 12) -> str:
    lines = [ln for ln in log.splitlines() if " ERROR " in ln or "CRITICAL" in ln]
    return "\n".join((lines or log.splitlines())[-limit:])


def sync_company(  # noqa: C901, PLR0915 - one company's run, its steps in order
    settings: Settings, realm_id: str, run_id: str, log, catalog: dict | None = None
) -> SyncResult:
    """Run the tap for one company into the loader; record its metered calls and state.
    ``catalog``: this run's own selection (a webhook run's streams), else the configured one."""
    store = settings.store
    company = store.company(realm_id)
    if company is None:
        raise SyncError(
            f"Company {realm_id} is not in the registry ({store.path}); add it with "
            f"`python -m quickbooks_orchestrator add {realm_id}` (refresh token on stdin).",
            retry=False,
        )
    if missing := settings.app_config_missing:
        raise SyncError(
            f"The app config lacks {', '.join(missing)}: set QBO_ORCH_APP_CONFIG to a JSON "
            "file holding client_id, client_secret (and api_url, token_url for a sandbox).",
            retry=False,
        )
    settings.tokens.mkdir(parents=True, exist_ok=True, mode=0o700)
    config = {
        **settings.app_config,
        "realm_id": realm_id,
        # The first token; the tap prefers the newest one its token file holds.
        "refresh_token": company.refresh_token,
        "token_store_path": str(settings.tokens / f"{realm_id}.json"),
    }
    with tempfile.TemporaryDirectory(prefix="qbo-run-") as tmp:
        work = Path(tmp)  # 0700: the config holds the client secret
        (work / "config.json").write_text(json.dumps(config))
        (work / "state.json").write_text(json.dumps(store.state(realm_id)))
        tap = [*settings.tap, "--config", str(work / "config.json")]
        tap += ["--state", str(work / "state.json")]
        if catalog is not None:
            (work / "catalog.json").write_text(json.dumps(catalog))
            tap += ["--catalog", str(work / "catalog.json")]
        elif settings.catalog:
            tap += ["--catalog", str(settings.catalog)]
        log.info(
            "Syncing company %s: %s | %s",
            realm_id,
            tap[0],
            " ".join(settings.loader_argv(realm_id)),
        )
        with (work / "tap.log").open("w+") as tap_log:
            tap_proc = subprocess.Popen(tap, stdout=subprocess.PIPE, stderr=tap_log)
            loader = subprocess.Popen(
                settings.loader_argv(realm_id),
                stdin=tap_proc.stdout,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            tap_proc.stdout.close()  # the loader alone reads it: its exit stops the tap
            errors: list[str] = []
            reader = threading.Thread(target=lambda: errors.append(loader.stderr.read()))
            reader.start()
            try:
                out, _ = loader.communicate(timeout=settings.timeout)
                tap_rc = tap_proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                tap_proc.kill()
                loader.kill()
                raise SyncError(
                    f"Company {realm_id}: the sync ran past {settings.timeout:.0f}s and was "
                    "stopped; its state is unchanged, the next run resumes from it."
                ) from None
            finally:
                reader.join()
            tap_log.seek(0)
            tap_text = tap_log.read()
    states = [ln for ln in out.splitlines() if ln.strip()]
    state = json.loads(states[-1]) if states else None
    if state is not None:
        # What the loader confirmed is kept even when the run fails: the next one resumes.
        store.save_state(realm_id, state)
    found = METERED.findall(tap_text)
    metered = int(found[-1]) if found else None
    if metered is not None:
        store.record_usage(run_id, realm_id, metered, dt.datetime.now(dt.UTC))
    if tap_rc != 0:
        if metered is None:
            log.warning(
                "Company %s: the tap stopped before counting its metered calls; this run's "
                "calls are not in the budget.",
                realm_id,
            )
        raise SyncError(
            f"Company {realm_id}: tap-quickbooks exited {tap_rc}:\n{_tail_errors(tap_text)}"
        )
    if loader.returncode != 0:
        raise SyncError(
            f"Company {realm_id}: the loader exited {loader.returncode}:\n"
            + "\n".join("".join(errors).splitlines()[-12:])
        )
    return SyncResult(realm_id, metered, state or {})
