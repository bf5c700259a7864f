"""Keep a run inside QBO's limits per company, so throttling is the exception, not the rhythm.

QBO allows per realm 500 requests a minute, 10 a second and 10 in flight, and answers more with
429. One limiter per run is shared by every stream and request (token calls excluded: they go to
another host and are not metered).
"""

from __future__ import annotations

import contextlib
import heapq
import itertools
import math
import threading
import time
import typing as t
from collections import deque


class RequestLimiter:
    """Sliding-window limits on starts per second and per minute, and a cap on calls in flight.

    Requests wait their turn in order of priority (lowest first), then of arrival. Page
    chains ask with their stream's place in the order streams are written, so each stream's
    pages are in by the time the writing reaches it.
    """

    # QBO counts requests as they arrive, and arrivals jitter: a start exactly one window
    # after another can land inside QBO's window. A small margin keeps every count under.
    MARGIN = 0.1

    def __init__(self, per_minute: int = 500, per_second: int = 10, in_flight: int = 10) -> None:
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
    def slot(self, priority: float = -math.inf) -> t.Iterator[None]:
        """Hold one request's place within the limits while it is in flight."""
        self._acquire(priority)
        try:
            yield
        finally:
            with self._lock:
                # QBO may count the call as in flight a moment after its answer arrived here.
                self._ending.append(time.monotonic() + self.MARGIN)
                self._wake_first()

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
