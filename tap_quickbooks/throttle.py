"""Keep a run inside QBO's limits per company, so throttling is the exception, not the rhythm.

QBO allows per realm 500 requests a minute, 10 a second and 10 in flight, and answers more with
429. One limiter per run is shared by every stream and request (token calls excluded: they go to
another host and are not metered).
"""

from __future__ import annotations

import threading
import time
from collections import deque


class RequestLimiter:
    """Sliding-window limits on starts per second and per minute, and a cap on calls in flight."""

    # QBO counts requests as they arrive, and arrivals jitter: a start exactly one window
    # after another can land inside QBO's window. A small margin keeps every count under.
    MARGIN = 0.1

    def __init__(self, per_minute: int = 500, per_second: int = 10, in_flight: int = 10) -> None:
        self.windows = ((60.0 + self.MARGIN, per_minute), (1.0 + self.MARGIN, per_second))
        self._starts: deque[float] = deque()
        self._lock = threading.Lock()
        self._slots = threading.BoundedSemaphore(in_flight)
        self.waited = 0.0  # seconds spent waiting, for the end-of-run summary

    def __enter__(self) -> RequestLimiter:
        self._slots.acquire()
        while True:
            with self._lock:
                now = time.monotonic()
                while self._starts and now - self._starts[0] >= self.windows[0][0]:
                    self._starts.popleft()
                delay = self._delay(now)
                if delay <= 0:
                    self._starts.append(now)
                    return self
            self.waited += delay
            time.sleep(delay)

    def __exit__(self, *exc: object) -> None:
        self._slots.release()

    def _delay(self, now: float) -> float:
        """How long until one more start fits every window."""
        delay = 0.0
        for span, limit in self.windows:
            # The start `limit` places back must have left the window.
            if len(self._starts) >= limit:
                oldest_in_limit = self._starts[-limit]
                delay = max(delay, oldest_in_limit + span - now)
        return delay
