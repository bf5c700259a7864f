"""Which runs are alive: a shard's step beats in the store while it works; a run whose beats
ran out died with its machine or its daemon, and is failed so that its shard runs again.

Dagster fails a run whose worker process exits while its code server lives (then its step or
run retries sync the shard again), but a run whose whole machine went (a reboot, ``dagster
dev`` killed) stays STARTED for ever: one run per shard being allowed (dagster.yaml), its
shard would never be synced again. The default run launcher has no worker health check for
Dagster's run monitoring to call, hence the beats, kept in the store that every machine's
runs share.
"""

from __future__ import annotations

import datetime as dt
import threading

import dagster as dg

from .store import Store


class Heartbeat:
    """``with Heartbeat(store, run_id, dead_after):`` the run is alive while the block runs
    (a beat every tenth of ``dead_after``); leaving it ends the beats, unless ``hold(s)`` asked
    them to outlast it by ``s`` seconds (a step retry waits that long before it beats again)."""

    def __init__(self, store: Store, run_id: str, dead_after: float, log=None) -> None:
        self.store, self.run_id, self.dead_after, self.log = store, run_id, dead_after, log
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, name="qbo-heartbeat", daemon=True)
        self._held = 0.0
        self._failing = False

    def __enter__(self) -> Heartbeat:
        self.store.beat(self.run_id, self.dead_after)
        self._thread.start()
        return self

    def hold(self, seconds: float) -> None:
        self._held = seconds

    def _beat(self) -> None:
        while not self._stop.wait(self.dead_after / 10):
            try:
                self.store.beat(self.run_id, self.dead_after)
            except Exception as exc:  # any store fault: the next beat tries again
                if not self._failing and self.log is not None:
                    self.log.warning(
                        "Could not record in the store that run %s is alive (%s); if this "
                        "lasts %.0f s, dead_run_sensor takes it for dead.",
                        self.run_id,
                        str(exc).splitlines()[0] if str(exc) else type(exc).__name__,
                        self.dead_after,
                    )
                self._failing = True
            else:
                self._failing = False

    def __exit__(self, *exc_info) -> None:
        self._stop.set()
        self._thread.join()
        if self._held:
            self.store.beat(self.run_id, self._held + self.dead_after)
        else:
            self.store.end_beat(self.run_id)


def fail_dead_runs(instance: dg.DagsterInstance, store: Store, job_name: str) -> dict[str, str]:
    """Fails this job's STARTED runs whose beats ran out, frees their companies' leases and
    returns what was said of each (run_id: message). Dagster's run retries (dagster.yaml)
    then run them again, from their unfinished step."""
    started = instance.get_runs(
        filters=dg.RunsFilter(job_name=job_name, statuses=[dg.DagsterRunStatus.STARTED])
    )
    dead = store.stopped_beating(run.run_id for run in started)
    said = {}
    for run_id, until in sorted(dead.items()):
        run = instance.get_run_by_id(run_id)
        if run is None or run.status != dg.DagsterRunStatus.STARTED:
            continue  # it ended between the two reads
        when = dt.datetime.fromtimestamp(until, dt.UTC).isoformat(timespec="seconds")
        message = (
            f"Run {run_id} stopped showing itself alive (its last beat ran out at {when}: "
            "its machine or the Dagster daemon running it stopped): marked failed, its "
            "companies' leases freed; its run retry, or the next scheduled run, syncs its "
            "shard from its state."
        )
        instance.report_engine_event(message, run)
        instance.report_run_failed(run, message)
        store.release_leases(run_id)
        store.end_beat(run_id)
        said[run_id] = message
    return said
