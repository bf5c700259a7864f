"""A stream's pages, fetched by a thread of their own ahead of the rows being written.

QBO lets a company have 10 requests in flight, but a stream's pages form a chain (each
query starts where the last page ended) and the SDK writes one stream after another. So,
in a full run, every stream's chain starts at once and runs as fast as QBO's limits allow;
pages that arrive before their stream's turn wait in a spool file on disk, so memory stays
flat however far ahead the chains get. Otherwise (a dry run, a stream synced alone) a chain
keeps one page ready in memory while the previous one is written.

Either way rows reach the SDK in page order, so state still follows the rows written; a
failure reaches the SDK where its own loop would have met it, after every earlier row.
"""

from __future__ import annotations

import ctypes
import math
import os
import queue
import tempfile
import threading
import typing as t
from dataclasses import dataclass

from tap_quickbooks.paging import KeysetPaginator
from tap_quickbooks.passthrough import rows_from_json, rows_to_json

if t.TYPE_CHECKING:
    import requests
    from singer_sdk.helpers.types import Context
    from singer_sdk.pagination import BaseAPIPaginator

_END = object()


class PageSource(t.Protocol):
    """What a page chain needs of its stream (client.QuickBooksStream is one): a Protocol,
    so this module does not import the stream's."""

    @property
    def name(self) -> str: ...

    @property
    def chain_priority(self) -> threading.local: ...

    def sender(self) -> t.Callable[[requests.PreparedRequest, Context | None], t.Any]: ...

    def fetch_page(
        self, send: t.Callable, context: Context | None, paginator: BaseAPIPaginator
    ) -> tuple[requests.PreparedRequest, list[dict], bool]: ...


@dataclass
class Page:
    """One answered request of a chain and the rows it brought (or where they wait): what
    the paginator and the stream's cost count are given, in place of a response."""

    request: requests.PreparedRequest
    rows: list[dict] | None = None
    batch_served: bool = False  # brought by the run's batch call, not sent on its own
    spooled: tuple[int, int, bool] | None = None  # offset, length, raw rows


class PageChain:
    """Fetches one stream's pages in order, in a thread, ahead of the consumer."""

    def __init__(
        self,
        stream: PageSource,
        context: Context | None,
        paginator: BaseAPIPaginator,
        *,
        spool: bool,
        priority: float = -math.inf,
    ) -> None:
        self.stream = stream
        self.context = context
        self.paginator = paginator
        self.priority = priority  # the chain's place among requests waiting for QBO's limits
        # In memory, one page waits while the next is fetched; spooled, any number.
        self._pages: queue.Queue = queue.Queue(maxsize=0 if spool else 1)
        self._spooling = spool
        self._spool: t.IO[bytes] | None = None  # opened when a page first has to wait
        self._spooled_bytes = 0
        self._consumed = False  # whether the writing has reached this chain
        self._ends = 0  # of the fetching thread and of the consumer: the spool closes at 2
        self._ends_lock = threading.Lock()
        self._consumer_ended = False
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._fetch, name=f"{stream.name}-pages", daemon=True
        )

    def start(self) -> PageChain:
        self._thread.start()
        return self

    def pages(self) -> t.Iterator[Page]:
        """The chain's pages in order, rows loaded; raises the chain's failure in its place."""
        self._consumed = True  # from now on, pages that find the consumer waiting stay in memory
        try:
            while (item := self._pages.get()) is not _END:
                if isinstance(item, BaseException):
                    raise item
                if item.spooled is not None:
                    offset, length, raw = item.spooled
                    assert self._spool is not None  # a spooled page was written to it
                    data = os.pread(self._spool.fileno(), length, offset)
                    item.rows = rows_from_json(data, raw=raw)
                yield item
        finally:
            self._consumer_end()

    def stop(self) -> None:
        """Stop fetching: the consumer stopped early, or is done."""
        self._stop.set()
        self._consumer_end()

    def _consumer_end(self) -> None:
        if not self._consumer_ended:
            self._consumer_ended = True
            self._end()

    def _end(self) -> None:
        """One side is done with the spool (a file with no name); closed when both are, so
        neither reads nor writes a closed file."""
        with self._ends_lock:
            self._ends += 1
            if self._ends == 2 and self._spool is not None:
                self._spool.close()

    def join(self, timeout: float) -> None:
        """Wait up to ``timeout`` seconds for the chain's thread to end (after :meth:`stop`)."""
        if self._thread.is_alive():
            self._thread.join(timeout)

    def _fetch(self) -> None:
        stream, context, paginator = self.stream, self.context, self.paginator
        stream.chain_priority.value = self.priority  # for this thread's requests
        try:
            send = stream.sender()
            while not self._stop.is_set():
                request, rows, batch_served = stream.fetch_page(send, context, paginator)
                page = Page(request, rows, batch_served)
                # The paginators are given the page, a value, where the SDK's take a response.
                answer = t.cast(t.Any, page)
                last = not rows and not paginator.continue_if_empty(answer)
                if not last:
                    paginator.advance(answer)
                    last = paginator.finished
                self._put(self._keep(page))
                if last:
                    break
        except BaseException as exc:  # handed to the consumer, raised there
            self._put(exc)
        finally:
            # A slice that ends before its first page: the slice before must not wait for it.
            if isinstance(paginator, KeysetPaginator):
                paginator.release()
        self._put(_END)
        self._end()

    def _keep(self, page: Page) -> Page:
        """Move a page's rows to the spool, unless the consumer is waiting for it (there is
        no spool, or its stream's turn has come and no page is queued)."""
        if not self._spooling or (self._consumed and self._pages.empty()):
            return page
        if self._spool is None:
            self._spool = tempfile.TemporaryFile(prefix=f"tap-quickbooks-{self.stream.name}-")  # noqa: SIM115 - lives as long as the chain
        data, raw = rows_to_json(page.rows or [])
        os.pwrite(self._spool.fileno(), data, self._spooled_bytes)
        page.spooled = (self._spooled_bytes, len(data), raw)
        self._spooled_bytes += len(data)
        page.rows = None
        return page

    def _put(self, item: object) -> None:
        while not self._stop.is_set():
            try:
                self._pages.put(item, timeout=0.5)
                return
            except queue.Full:
                continue


# A chain longer than this many pages is split into slices of history read at once: one
# chain's pages follow each other at QBO's round-trip time, which would bound the run. The
# first page can misjudge a stream (a bulk import packs it into seconds), so a stream gets at
# most MAX_SLICES.
MAX_CHAIN_PAGES = 20
MAX_SLICES = 3
# Rows of overlap kept between slices beyond the drift expected: a slice whose pages fall
# short of the next one's start costs one more page, an overlap one more only if it tips the
# last page over (about SLACK_ROWS in page_size).
SLACK_ROWS = 8


def slice_starts(expected_pages: float, page_size: int, rows_per_second: float) -> list[int]:
    """Where the slices after a stream's first begin: positions in its first page's query
    (STARTPOSITION; empty: one chain is enough).

    Each slice before the last is read for a whole number of pages and stops on the page
    that passes the next slice's bound (paging.Bound), so none ends on a short page: the
    next slice starts a little before where that page will end. A chain's pages after its
    first each begin at the second the page before ended on and read its rows again (the
    drift: one row, plus the rows stamped alike, by the first page's density), so a slice of
    ``n`` pages reaches ``n * page_size - (n - 1) * drift`` rows on."""
    slices = min(MAX_SLICES, math.ceil(min(expected_pages, 1e9) / MAX_CHAIN_PAGES))
    if slices <= 1:
        return []
    pages = math.ceil(min(expected_pages, 1e9) / slices)
    drift = 1 + int(rows_per_second)
    reach = pages * page_size - (pages - 1) * drift
    slack = drift + SLACK_ROWS + (pages - 1) * drift  # twice the drift expected, and more
    if reach - slack <= page_size:  # pages too small to overlap safely: one chain
        return []
    starts, start = [], 1
    for _ in range(1, slices):
        start += reach - slack
        starts.append(start)
    return starts


def keep_memory_flat() -> None:
    """Cap glibc's malloc arenas before the chains start.

    glibc gives threads that allocate their own heap arenas: page bodies of a few MB
    passing through dozens of chain threads then stay in fragmented arenas, and the process
    grows with the company instead of staying flat. Elsewhere (another C library) this
    does nothing.
    """
    try:
        mallopt = ctypes.CDLL("libc.so.6").mallopt
    except (OSError, AttributeError):
        return
    mallopt(_M_ARENA_MAX, 2)


_M_ARENA_MAX = -8  # from glibc's malloc.h
