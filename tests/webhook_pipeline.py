"""The whole webhook path, offline, for tests and ``scripts/bench_webhooks.py``:

emulator mutation -> signed webhook -> ``quickbooks-webhooks`` (a process) stores it ->
``webhook_sensor`` evaluated in-process -> each run request executed in-process by Dagster
(the real tap and loader processes) -> the JSONL "warehouse" of each company.
"""

from __future__ import annotations

import collections
import datetime as dt
import json
import shutil
import time
from pathlib import Path

import dagster as dg

from qbo_emulator import Emulator
from quickbooks_orchestrator import definitions as D
from tests import pipelines as P
from tests.singer import parse_messages, strip_tap_fields
from tests.test_tap_sync import select, truth
from tests.webhook_receiver import TOKEN, Receiver, wait_for


class WebhookPipeline:
    def __init__(
        self,
        workdir: Path,
        *,
        realms: int,
        scale: int,
        streams: list[str],
        seed: int = 31,
        store_url: str | None = None,
        backfill: bool = True,
        log_level: str = "DEBUG",
        **knobs,
    ) -> None:
        self.streams = streams
        # Dagster's console log of each run (the bench wants only its figures).
        self.run_config = {"loggers": {"console": {"config": {"log_level": log_level}}}}
        # History 10 minutes back, caught up with this machine's clock (as test_orchestrator).
        self.emu = Emulator(seed=seed, scale=scale, realms=realms, now=time.time() - 600).start()
        self.emu.clock.advance(seconds=600)
        self.rx = None
        try:
            self.rx = Receiver(workdir / "rx", companies=self.emu.realm_ids, store_url=store_url)
            self.home = workdir / "orchestrator"
            self.home.mkdir(parents=True)
            config = self.emu.tap_config()
            app = {k: v for k, v in config.items() if k not in ("realm_id", "refresh_token")}
            (self.home / "app.json").write_text(json.dumps(app))
            shutil.copy(select(config, streams), self.home / "catalog.json")
            self.resource = D.QuickBooksOrchestrator(
                home=str(self.home),
                app_config=str(self.home / "app.json"),
                catalog=str(self.home / "catalog.json"),
                webhook_store=self.rx.store_path,
            )
            self.settings = self.resource.settings()
            for realm in self.emu.realm_ids:
                self.settings.store.add_company(realm, self.emu.refresh_token(realm))
            (self.home / "dagster").mkdir()
            self.instance = dg.DagsterInstance.local_temp(str(self.home / "dagster"))
            D.sync_partitions(self.instance, self.settings)
            self.webhook_runs: collections.Counter = collections.Counter()
            self.failed: list[str] = []
            if backfill:
                self.scheduled_round()
            self.emu.webhooks.configure(url=self.rx.url, verifier_token=TOKEN, **knobs)
        except BaseException:
            self.close()
            raise

    # ----- what the orchestrator does ---------------------------------------------------------
    def _execute(self, request: dg.RunRequest) -> dg.ExecuteInProcessResult:
        result = dg.materialize(
            [D.quickbooks_shard],
            partition_key=request.partition_key,
            tags=request.tags,
            instance=self.instance,
            resources={"orchestrator": self.resource},
            run_config=self.run_config,
            raise_on_error=False,
        )
        if not result.success:
            # A webhook run names its company; a scheduled one is its shard's.
            self.failed.append(request.tags.get(D.REALM_TAG) or request.partition_key)
        return result

    def sensor_round(self) -> list[dg.RunRequest]:
        """One evaluation of the webhook sensor, and its run requests executed."""
        # Closed after use: an unclosed context leaves Dagster's per-thread "current instance"
        # pointing at it, and a later run in this thread fails to load its definitions.
        with dg.build_sensor_context(
            instance=self.instance, resources={"orchestrator": self.resource}
        ) as context:
            result = D.webhook_sensor(context)
        requests = list(getattr(result, "run_requests", None) or [])
        for add in getattr(result, "dynamic_partitions_requests", None) or []:
            self.instance.add_dynamic_partitions(D.PARTITIONS, list(add.partition_keys))
        for request in requests:
            self.webhook_runs[request.tags[D.REALM_TAG]] += 1
            self._execute(request)
        return requests

    def scheduled_round(self, when: dt.datetime | None = None) -> list[dg.RunRequest]:
        """One tick of the safety-net schedule, every company's run executed."""
        with dg.build_schedule_context(
            instance=self.instance,
            resources={"orchestrator": self.resource},
            scheduled_execution_time=when or dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
            repository_def=D.defs.get_repository_def(),
        ) as context:
            tick = D.every_15_minutes.evaluate_tick(context)
        for request in tick.run_requests:
            self._execute(request)
        return list(tick.run_requests)

    # ----- what the test looks at -------------------------------------------------------------
    def pending(self) -> dict[str, set[str]]:
        store = self.rx.store()
        try:
            return dict(store.pending_by_company())
        finally:
            store.close()

    def wait_pending(self, realm: str, timeout: float = 30) -> bool:
        return bool(wait_for(lambda: realm in self.pending(), timeout=timeout, step=0.02))

    def raw(self, realm: str, stream: str) -> list[dict]:
        """Every row the loader appended for the company and stream, in order."""
        path = self.home / "output" / realm / f"{stream}.jsonl"
        return parse_messages(path.read_text()) if path.exists() else []

    def loaded(self, realm: str, stream: str) -> dict[tuple, dict]:
        """What an upserting warehouse table holds: the last row of each key."""
        return {P.loaded_key(stream, r): strip_tap_fields(r) for r in self.raw(realm, stream)}

    def truth(self, realm: str, stream: str) -> dict[tuple, dict]:
        return {P.truth_key(stream, r, realm): r for r in truth(self.emu, realm, stream).values()}

    def differences(self) -> dict[tuple[str, str], int]:
        """(realm, stream) -> how many keys differ between the warehouse and the ground truth."""
        out = {}
        for realm in self.emu.realm_ids:
            for stream in self.streams:
                got, want = self.loaded(realm, stream), self.truth(realm, stream)
                n = sum(1 for k in set(got) | set(want) if got.get(k) != want.get(k))
                if n:
                    out[(realm, stream)] = n
        return out

    def close(self) -> None:
        if self.rx is not None:
            self.rx.stop()
        self.emu.stop()

    def __enter__(self) -> WebhookPipeline:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def change_to_warehouse(pipe: WebhookPipeline, realm: str, n: int) -> float:
    """Seconds from one customer's change in QBO to its new version in the warehouse table."""
    customer = pipe.emu.ground_truth(realm, "Customer")[n % 5]["Id"]
    key = (realm, str(customer))
    started = time.monotonic()
    pipe.emu.store(realm).update("Customer", customer, {"Notes": f"webhook change {n}"})
    want = pipe.truth(realm, "customers")[key]
    assert pipe.wait_pending(realm, timeout=60), "the webhook never reached the receiver"
    while pipe.loaded(realm, "customers").get(key) != want:
        if time.monotonic() - started > 120:
            raise AssertionError(f"change {n} of {realm} never reached the warehouse")
        pipe.sensor_round() or time.sleep(0.05)
    return time.monotonic() - started
