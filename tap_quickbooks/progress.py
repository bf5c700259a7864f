"""Progress a person can read while a long run goes on, and a table when it ends.

The SDK's METRIC lines are for machines. Every `interval` seconds (on the writing thread, at
a page boundary: no thread of its own, nothing written to stdout) the run logs one line for
the stream being written: records so far, pages done of about how many, the run's API calls
and its waits for QBO's rate limits. At the end, one line per stream.
"""

from __future__ import annotations

import logging
import math
import time
import typing as t
from dataclasses import dataclass


@dataclass
class StreamCounts:
    records: int = 0
    pages: int = 0
    started: float = 0.0
    ended: float = 0.0


class Progress:
    def __init__(
        self,
        logger: logging.Logger,
        interval: float,
        calls: t.Callable[[], int],
        waited: t.Callable[[], float],
        clock: t.Callable[[], float] = time.monotonic,
    ) -> None:
        self.logger = logger
        self.interval = interval
        self.calls = calls  # the run's requests so far
        self.waited = waited  # seconds waited for rate limits so far
        self.clock = clock
        self.streams: dict[str, StreamCounts] = {}
        self._last = clock()

    def page(self, stream: str, rows: int, expected_pages: float | None) -> None:
        now = self.clock()
        counts = self.streams.setdefault(stream, StreamCounts(started=now))
        counts.records += rows
        counts.pages += 1
        counts.ended = now
        if self.interval <= 0 or now - self._last >= self.interval:
            self._last = now
            self.logger.info("Progress: %s", self.line(stream, expected_pages))

    def line(self, stream: str, expected_pages: float | None) -> str:
        counts = self.streams[stream]
        pages = f"{counts.pages:,} pages"
        # An estimate from the first page's time span is rough (rows created in bulk share
        # a second): shown only while it is plausible, never as a count that cannot be.
        if expected_pages and counts.pages < expected_pages <= 100 * max(counts.pages, 10):
            pages = f"{counts.pages:,} of about {math.ceil(expected_pages):,} pages"
        return (
            f"{stream}: {counts.records:,} records, {pages}; run so far: "
            f"{self.calls():,} API calls, {self.waited():.1f}s waited for rate limits"
        )

    def summary(self) -> list[str]:
        """The end-of-run table, one line per stream that read pages, widest first."""
        if not self.streams:
            return []
        width = max(len(name) for name in self.streams)
        lines = [f"{'stream':<{width}}  {'records':>10}  {'pages':>7}  {'seconds':>8}"]
        for name, counts in sorted(self.streams.items()):
            seconds = counts.ended - counts.started
            lines.append(
                f"{name:<{width}}  {counts.records:>10,}  {counts.pages:>7,}  {seconds:>8.1f}"
            )
        total = sum(c.records for c in self.streams.values())
        pages = sum(c.pages for c in self.streams.values())
        lines.append(f"{'total':<{width}}  {total:>10,}  {pages:>7,}")
        return lines
