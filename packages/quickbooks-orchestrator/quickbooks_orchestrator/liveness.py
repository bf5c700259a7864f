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

import json
import threading
import time
from collections.abc import Callable

import dagster as dg

from .runner import SyncError
from .store import Store

# A step whose beats have not reached the store for this share of QBO_ORCH_DEAD_AFTER stops
# its tap: the sensor (which may reach the store) can fail the run at the whole of it, and
# the rest is the tap's time to end on its final state.
FENCE = 0.8


class Fenced(SyncError):
    """The step stopped itself: its beats could not reach the store (retried)."""

    def __init__(self, dead_after: float) -> None:
        super().__init__(
            f"The store could not be reached for {FENCE * dead_after:.0f} s ({FENCE} of "
            "QBO_ORCH_DEAD_AFTER): this run stopped its tap, on its final state, before "
            "dead_run_sensor could give its companies to another run."
        )


class Heartbeat:
    """``with Heartbeat(store, run_id, dead_after):`` the run is alive while the block runs
    (a beat every tenth of ``dead_after``), and ``dead_after`` past its end: long enough for
    Dagster to record how the run ended. ``hold(s)``: ``s`` more (a step retry waits that
    long), as does an error a retry policy retries (``retried_after``). Should the run be
    found dead all the same (the store unreachable for ``dead_after``), ``dead`` is set;
    so it is, and ``fenced`` too, once no beat got through for ``FENCE`` of ``dead_after``
    (by this machine's monotonic clock): the run stops before the sensor, which may reach
    the store, gives its companies to another run. A timer of its own keeps that time, so a
    store call that hangs (a network cut mid-call) cannot hold the fence back; nor does it
    hold back the block's end by more than a beat."""

    def __init__(
        self,
        store: Store,
        run_id: str,
        dead_after: float,
        log=None,
        retried_after: float = 0,
    ) -> None:
        self.store, self.run_id, self.dead_after, self.log = store, run_id, dead_after, log
        self.retried_after = retried_after
        self.dead = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, name="qbo-heartbeat", daemon=True)
        self._fence = threading.Thread(target=self._watch, name="qbo-fence", daemon=True)
        self._held = 0.0
        self._failing = False
        self.fenced = False
        self._alive_at = time.monotonic()

    def __enter__(self) -> Heartbeat:
        if self.store.beat(self.run_id, self.dead_after):
            self._alive_at = time.monotonic()
            self._thread.start()
            self._fence.start()
        else:  # found dead before it began: a step retry of a run failed meanwhile
            self.dead.set()
        return self

    def hold(self, seconds: float) -> None:
        self._held = seconds

    def _beat(self) -> None:
        while not self._stop.wait(self.dead_after / 10) and not self.fenced:
            try:
                alive = self.store.renew_beat(self.run_id, self.dead_after)
            except Exception as exc:  # any store fault: the next beat tries again
                if not self.fenced:  # else said, and the beat that hung is over
                    self._warn_once(exc)
                continue
            self._failing = False
            self._alive_at = time.monotonic()
            if not alive:
                self.dead.set()
                return

    def _watch(self) -> None:
        """Fence the run once no beat got through for FENCE of dead_after, however long the
        beat in flight takes."""
        while not self.dead.is_set():
            left = self._alive_at + FENCE * self.dead_after - time.monotonic()
            if left <= 0:
                self.fenced = True
                self.dead.set()
                if self.log is not None:
                    self.log.warning(
                        "No beat of run %s reached the store for %.0f s: it stops its tap "
                        "(on its final state) before dead_run_sensor could take it for dead.",
                        self.run_id,
                        FENCE * self.dead_after,
                    )
                return
            if self._stop.wait(left):
                return

    def _warn_once(self, exc: Exception) -> None:
        if not self._failing and self.log is not None:
            self.log.warning(
                "Could not record in the store that run %s is alive (%s); if this lasts "
                "%.0f s, the run stops its tap (dead_run_sensor takes it for dead at %.0f s).",
                self.run_id,
                str(exc).splitlines()[0] if str(exc) else type(exc).__name__,
                FENCE * self.dead_after,
                self.dead_after,
            )
        self._failing = True

    def __exit__(self, exc_type, exc, tb) -> None:
        self._stop.set()
        if self._thread.ident is not None:
            self._thread.join(self.dead_after / 10)  # a beat stuck on the store is left
        outlast = self._held
        if not outlast and exc is not None and getattr(exc, "allow_retries", True):
            outlast = self.retried_after  # a dg.Failure refusing retries is the end
        if self._thread.is_alive():
            return  # the store hangs: the sensor finds the run dead, and its retry syncs
        try:
            self.store.beat(self.run_id, outlast + self.dead_after)
        except Exception as error:  # how the step ended matters more than its last beat
            self._warn_once(error)


# A run that never beat is dead once neither it nor its event log has shown life for this
# long at least: a step waiting for a pool slot logs every 5 minutes, and one waiting for a
# retry policy's next attempt (before its first beat) up to 4 minutes.
NEVER_BEAT_QUIET = 600


def fail_dead_runs(
    instance: dg.DagsterInstance,
    store: Store,
    dead_after: float,
    beats_unseen: Callable[[dg.DagsterRun], bool],
) -> dict[str, str]:
    """Fails the STARTED runs found dead, frees their companies' leases and returns what was
    said of each (run_id: message). Dead: its last beat ran out; or it never beat, is one
    ``beats_unseen`` says would have (a run of the shard asset), and neither it nor its event
    log has shown life for twice ``dead_after`` (``NEVER_BEAT_QUIET`` at least). Dagster's
    run retries (dagster.yaml) then run them again, from their step."""
    records = instance.get_run_records(
        filters=dg.RunsFilter(statuses=[dg.DagsterRunStatus.STARTED])
    )
    # Beats are judged by the store's clock (machines' clocks may disagree by minutes); a
    # run's start and events are times its own machine wrote, which the never-beat rule's
    # 10 minutes leave room for.
    now = time.time()
    left = store.beats_left(r.dagster_run.run_id for r in records)
    said = {}
    for record in records:
        run = record.dagster_run
        if run.run_id in left:
            if left[run.run_id] > 0:
                continue
            why = f"its last beat ran out {-left[run.run_id]:.0f} s ago"
        else:
            quiet = max(2 * dead_after, NEVER_BEAT_QUIET)
            started = record.start_time or record.create_timestamp.timestamp()
            if not beats_unseen(run) or started > now - quiet:
                continue
            last = instance.get_records_for_run(run.run_id, limit=1, ascending=False).records
            if last and last[0].timestamp > now - quiet:
                continue
            why = f"it has not beaten nor logged anything for {quiet:.0f} s"
        fresh = instance.get_run_by_id(run.run_id)
        if fresh is None or fresh.status != dg.DagsterRunStatus.STARTED:
            continue  # it ended between the two reads
        # Marked dead first, in one statement, even one that never beat: alive after all, it
        # learns at its next beat (or its first) and stops before its retry takes the leases.
        if not store.claim_dead(run.run_id):
            continue  # it beat since (or began to): alive
        message = (
            f"Run {run.run_id} stopped showing itself alive ({why}: its machine or the "
            "Dagster daemon running it stopped): marked failed, its companies' leases freed; "
            "its run retry, or the next scheduled run, syncs its shard from its state."
        )
        # Leases next: its retry, started once it is failed, finds its companies free.
        store.release_leases(run.run_id)
        instance.report_engine_event(message, run)
        instance.report_run_failed(run, message)
        said[run.run_id] = message
    store.forget_beats(86_400)
    return said


def resumed_cursor(
    cursor: str | None, dead_after: float, now: float, every: float
) -> tuple[str, bool]:
    """The sensor's cursor, and whether it may judge this tick (it ticks ``every`` seconds).
    After a gap in its ticks longer than half ``dead_after``, and than 4 ticks (the machine
    slept, or the daemon was down), the runs still alive get two beats' time to show it."""
    last, resumed = (json.loads(cursor) if cursor else {}).get("ticks", (None, None))
    if last is None or now - last > max(dead_after / 2, 4 * every):
        resumed = now
    judge = now - resumed >= 2 * dead_after / 10
    return json.dumps({"ticks": [now, resumed]}), judge
