"""Keep a run inside QBO's limits per company, so throttling is the exception, not the rhythm.

QBO allows per realm 500 requests a minute, 10 a second and 10 in flight, and answers more with
429. One limiter per run is shared by every stream and request (token calls excluded: they go to
another host and are not metered). ``SharedLimiter`` extends the count across processes on one
machine (opt-in, ``shared_limits_path``): QBO's count is per company, not per process.
"""

from __future__ import annotations

import contextlib
import heapq
import itertools
import math
import os
import sqlite3
import threading
import time
import typing as t
from collections import deque
from pathlib import Path

from singer_sdk import typing as th

# The setting, declared once for the tap and the target (both read it through `limiter`).
SHARED_LIMITS_SETTING = th.Property(
    "shared_limits_path",
    th.StringType,
    description="SQLite file through which every tap and target run naming it shares "
    "QBO's limits per company (500 calls and 40 batch calls a minute, 10 a second, 10 "
    "in flight). Default: this run counts only its own calls.",
)


class RequestLimiter:
    """Sliding-window limits on starts per second and per minute, and a cap on calls in flight.

    Requests wait their turn in order of priority (lowest first), then of arrival. Page
    chains ask with their stream's place in the order streams are written, so each stream's
    pages are in by the time the writing reaches it.
    """

    # QBO counts requests as they arrive, and arrivals jitter: a start exactly one window
    # after another can land inside QBO's window. A small margin keeps every count under.
    MARGIN = 0.1

    def __init__(
        self,
        per_minute: int = 500,
        per_second: int = 10,
        in_flight: int = 10,
        batch_per_minute: int | None = None,
    ) -> None:
        # Batch calls count against both: QBO's requests a minute and its batch calls a minute.
        self._batch = RequestLimiter(batch_per_minute, per_second) if batch_per_minute else None
        self.windows = ((60.0 + self.MARGIN, per_minute), (1.0 + self.MARGIN, per_second))
        self._starts: deque[float] = deque()
        self._max_in_flight = in_flight
        self._in_flight = 0  # started and not yet ended, by QBO's count
        self._ending: deque[float] = deque()  # when calls that came back stop counting
        self._queue: list[tuple[float, int, threading.Condition]] = []  # a heap
        self._tickets = itertools.count()
        self._lock = threading.Lock()
        self.waited = 0.0  # seconds spent waiting, for the end-of-run summary

    @contextlib.contextmanager
    def slot(self, priority: float = -math.inf, kind: str = "") -> t.Iterator[None]:
        """Hold one request's place within the limits while it is in flight."""
        self._acquire(priority)
        try:
            if kind == "batch" and self._batch is not None:
                with self._batch.slot():
                    yield
            else:
                yield
        finally:
            with self._lock:
                # QBO may count the call as in flight a moment after its answer arrived here.
                self._ending.append(time.monotonic() + self.MARGIN)
                self._wake_first()

    def waiting(self) -> int:
        """Requests waiting their turn now: none means the limits have room to spare."""
        with self._lock:
            return len(self._queue)

    def _acquire(self, priority: float) -> None:
        asked = time.monotonic()
        with self._lock:
            # Only the first in line is ever woken, so waiting callers cost nothing.
            turn = threading.Condition(self._lock)
            entry = (priority, next(self._tickets), turn)
            heapq.heappush(self._queue, entry)
            try:
                while True:
                    delay = None  # until woken
                    if self._queue[0] is entry:
                        now = time.monotonic()
                        delay = self._delay(now)
                        if delay is not None and delay <= 0:
                            heapq.heappop(self._queue)
                            self._starts.append(now)
                            self._in_flight += 1
                            self.waited += now - asked
                            self._wake_first()  # the next in line may start too
                            return
                    turn.wait(delay)
            except BaseException:
                self._queue.remove(entry)
                heapq.heapify(self._queue)
                self._wake_first()
                raise

    def _wake_first(self) -> None:
        if self._queue:
            self._queue[0][2].notify()

    def _delay(self, now: float) -> float | None:
        """How long until one more start fits every window and the cap in flight (None:
        until a call in flight comes back)."""
        while self._ending and self._ending[0] <= now:
            self._ending.popleft()
            self._in_flight -= 1
        if self._in_flight >= self._max_in_flight:
            return self._ending[0] - now if self._ending else None
        while self._starts and now - self._starts[0] >= self.windows[0][0]:
            self._starts.popleft()
        # Starts are spread evenly rather than sent in bursts of 10: a request that arrives
        # just after a burst would otherwise wait most of a second.
        spacing = min(span / limit for span, limit in self.windows)
        delay = self._starts[-1] + spacing - now if self._starts else 0.0
        for span, limit in self.windows:
            # The start `limit` places back must have left the window.
            if len(self._starts) >= limit:
                oldest_in_limit = self._starts[-limit]
                delay = max(delay, oldest_in_limit + span - now)
        return delay


class SharedLimiter:
    """QBO's limits for one company shared by every process that names the same file.

    QBO counts per company and app, whichever process asks: a tap and a target (or two runs)
    on one company must share one count. Each start and each call in flight is a row of a
    SQLite file (``BEGIN IMMEDIATE`` serialises the processes; the file may serve many
    companies, keyed by realm). Inside a process a ``RequestLimiter`` still orders the threads
    by priority; the file decides when the first in line may go.
    """

    POLL = 0.5  # longest sleep between two looks at the file
    STALE = 900.0  # a call "in flight" this long belonged to a process that died

    def __init__(
        self,
        path: str | Path,
        realm_id: str,
        *,
        per_minute: int = 500,
        per_second: int = 10,
        in_flight: int = 10,
        batch_per_minute: int = 40,
    ) -> None:
        self.path = Path(path)
        self.realm_id = str(realm_id)
        self.local = RequestLimiter(per_minute, per_second, in_flight, batch_per_minute)
        self.windows = self.local.windows
        self.in_flight = in_flight
        self.batch_window = (60.0 + RequestLimiter.MARGIN, batch_per_minute)
        self._tokens = itertools.count()
        self._tag = f"{os.getpid()}-{id(self)}"
        with contextlib.closing(self._db()) as db:
            db.executescript(
                "CREATE TABLE IF NOT EXISTS starts (realm TEXT, at REAL, batch INTEGER);"
                "CREATE INDEX IF NOT EXISTS starts_realm ON starts (realm, at);"
                "CREATE TABLE IF NOT EXISTS flight (token TEXT PRIMARY KEY, realm TEXT, "
                "pid INTEGER, since REAL, until REAL);"
            )

    @property
    def waited(self) -> float:
        return self.local.waited

    def waiting(self) -> int:
        return self.local.waiting()

    def _db(self) -> sqlite3.Connection:
        db = sqlite3.connect(self.path, timeout=60, isolation_level=None)
        # Rows that live a minute: a power cut losing the last ones costs nothing, an fsync
        # on every call would.
        db.execute("PRAGMA synchronous = OFF")
        return db

    @contextlib.contextmanager
    def slot(self, priority: float = -math.inf, kind: str = "") -> t.Iterator[None]:
        with self.local.slot(priority, kind):
            asked = time.monotonic()
            token = self._admit(kind == "batch")
            self.local.waited += time.monotonic() - asked
            try:
                yield
            finally:
                with contextlib.closing(self._db()) as db:
                    db.execute(
                        "UPDATE flight SET until = ? WHERE token = ?",
                        (time.time() + RequestLimiter.MARGIN, token),
                    )

    def _admit(self, batch: bool) -> str:
        token = f"{self._tag}-{next(self._tokens)}"
        with contextlib.closing(self._db()) as db:
            while True:
                db.execute("BEGIN IMMEDIATE")
                try:
                    now = time.time()
                    delay = self._delay(db, now, batch)
                    if delay <= 0:
                        db.execute(
                            "INSERT INTO starts VALUES (?, ?, ?)", (self.realm_id, now, int(batch))
                        )
                        db.execute(
                            "INSERT INTO flight VALUES (?, ?, ?, ?, NULL)",
                            (token, self.realm_id, os.getpid(), now),
                        )
                finally:
                    db.execute("COMMIT")
                if delay <= 0:
                    return token
                time.sleep(min(delay, self.POLL))

    def _delay(self, db: sqlite3.Connection, now: float, batch: bool) -> float:
        """Seconds until one more start fits every window and the cap in flight (> 0: wait)."""
        realm = self.realm_id
        db.execute(
            "DELETE FROM starts WHERE realm = ? AND at < ?", (realm, now - self.windows[0][0])
        )
        db.execute("DELETE FROM flight WHERE until IS NOT NULL AND until <= ?", (now,))
        flying = db.execute(
            "SELECT token, pid, since, until FROM flight WHERE realm = ?", (realm,)
        ).fetchall()
        dead = [tok for tok, pid, since, until in flying if until is None and _gone(pid, since)]
        db.executemany("DELETE FROM flight WHERE token = ?", [(tok,) for tok in dead])
        live = [row for row in flying if row[0] not in dead]
        if len(live) >= self.in_flight:
            ending = [until for *_, until in live if until is not None]
            return min(ending) - now if ending else self.POLL
        starts = [at for (at,) in db.execute(
            "SELECT at FROM starts WHERE realm = ? ORDER BY at", (realm,)
        )]  # fmt: skip
        spacing = min(span / limit for span, limit in self.windows)
        delay = starts[-1] + spacing - now if starts else 0.0
        limits = [(span, limit, starts) for span, limit in self.windows]
        if batch:
            batches = [at for (at,) in db.execute(
                "SELECT at FROM starts WHERE realm = ? AND batch = 1 ORDER BY at", (realm,)
            )]  # fmt: skip
            limits.append((*self.batch_window, batches))
        for span, limit, seen in limits:
            recent = [at for at in seen if now - at < span]
            if len(recent) >= limit:
                delay = max(delay, recent[-limit] + span - now)
        return delay


def _gone(pid: int, since: float) -> bool:
    """Whether a call in flight was left by a process that is gone (or stuck for ages)."""
    if time.time() - since > SharedLimiter.STALE:
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


BATCH_PER_MINUTE = 40  # QBO's batch calls a minute per company (30 items each)


def limiter(config: t.Mapping, realm_id: str) -> RequestLimiter | SharedLimiter:
    """The run's limiter: its own, or, when ``shared_limits_path`` names a file, the one every
    process naming that file shares for this company."""
    per_minute = int(config.get("requests_per_minute") or 500)
    if shared := config.get("shared_limits_path"):
        return SharedLimiter(
            shared, realm_id, per_minute=per_minute, batch_per_minute=BATCH_PER_MINUTE
        )
    return RequestLimiter(per_minute, 10, 10, batch_per_minute=BATCH_PER_MINUTE)
