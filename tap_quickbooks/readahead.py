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
import datetime as dt
import functools
import logging
import math
import os
import queue
import tempfile
import threading
import typing as t
from dataclasses import dataclass

from tap_quickbooks.paging import Bound, KeysetPaginator
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
        # Called by the chain's thread after each page but the last, before the next is asked
        # for: the one moment its paginator may be changed (Slicer.split).
        self.between_pages: t.Callable[[BaseAPIPaginator], None] | None = None
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
        self._fetched = threading.Event()  # no request of the chain's is to come
        self._thread = threading.Thread(
            target=self._fetch, name=f"{stream.name}-pages", daemon=True
        )

    @property
    def stopped(self) -> bool:
        return self._stop.is_set()

    @property
    def fetched(self) -> threading.Event:
        """Set once the chain asks for nothing more (its last page, a failure, or a stop)."""
        return self._fetched

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
                if self.between_pages is not None:
                    self.between_pages(paginator)
        except BaseException as exc:  # handed to the consumer, raised there
            self._put(exc)
        finally:
            self._fetched.set()
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
# chain's pages follow each other at QBO's round-trip time, which would bound the run. Each
# slice is a thread and a spool file: a stream gets at most MAX_SLICES (QBO serves 10 at once).
MAX_CHAIN_PAGES = 20
MAX_SLICES = 12
MAX_FIRST_PAGE_TIES = 3  # rows a first page's rows share a second with, on average, to slice
# A slice is cut in two while it is read only with this many pages left (fewer gain less
# time than the rows both halves may share cost: a page at most), and into at most this
# many slices more than MAX_SLICES (kept for the end of the stream).
MIN_SPLIT_PAGES = 6
MAX_SPLIT_SLICES = 6


def next_start(
    start: int, remaining: float, page_size: int, drift: float, slices_left: int = MAX_SLICES
) -> int | None:
    """Where the slice after one beginning at position ``start`` of the stream's query
    begins (STARTPOSITION), ``remaining`` rows being expected from there, and at most
    ``slices_left`` slices (this one too) to read them; None: this slice reads to the end.

    A slice before another stops on its first page that passes the next one's bound
    (paging.Bound): that page's rows after the bound are read twice, and cost a call when
    they tip the last page over. So the next slice begins just before a page of this one
    ends. A chain's pages after its first each begin at the second the page before ended on
    and read its rows again (``drift``), so ``n`` pages reach ``n * page_size - (n - 1) *
    drift`` rows on; the next slice begins a few rows before (more drift than expected
    costs the slice one more page)."""
    if drift >= page_size // 2:  # pages too small to gain rows reliably: one chain
        return None
    pages_left = min(remaining / (page_size - drift), 1e6)
    if pages_left <= MAX_CHAIN_PAGES or slices_left <= 1:
        return None
    pages = math.ceil(pages_left / min(slices_left, math.ceil(pages_left / MAX_CHAIN_PAGES)))
    reach = pages * page_size - (pages - 1) * drift
    return start + int(reach - _slack(pages, page_size, drift))


def split_start(position: int, remaining: float, page_size: int, drift: float) -> int | None:
    """Where a new slice begins that takes the second half of a slice being read, whose
    next page reads on from ``position`` (each of its pages, after the first, re-reading
    ``drift`` rows) with ``remaining`` rows left; None: too few left to be worth a cut.

    As in :func:`next_start`, the new slice begins a few rows before a page of the slice
    being cut ends, so the rows both read do not tip that slice over into one more page."""
    if drift >= page_size // 2:
        return None
    pages_left = remaining / (page_size - drift)
    if pages_left < MIN_SPLIT_PAGES:
        return None
    pages = math.ceil(pages_left / 2)
    reach = pages * (page_size - drift)
    return position + int(reach - _slack(pages, page_size, drift))


def _slack(pages: int, page_size: int, drift: float) -> float:
    """Rows short of where ``pages`` pages are expected to reach that the next slice
    begins: more drift than expected then costs no page."""
    return min(drift + page_size // 100 + pages, (page_size - drift) / 2)


class Slicer:
    """Decides a long stream's slices of history as their first pages arrive, and cuts a
    slice in two while it is read when QBO's limits have room to spare.

    The batch call's first page tells the stream's density, so where the second slice
    begins; each slice's first (offset) page tells where history stands at its position, so
    where the next begins, if any, from the density between the two. A slice is added to
    ``chains`` (the stream's, read in order) before the one before it ends.

    Those cuts are guesses (history grows denser towards now, or not), and the slices are
    served in order, so the last ones would end alone, a chain's round trip a page, while
    QBO could serve more: whenever a slice is between two pages and no request waits for
    the limits (``idle``), it hands the second half of what it has left to a new slice."""

    def __init__(
        self,
        chains: list[PageChain],
        start_chain: t.Callable[[PageChain], PageChain],
        logger: logging.Logger,
        *,
        page_size: int,
        ties: float,
        now: dt.datetime,
        idle: t.Callable[[], bool] = lambda: False,
    ) -> None:
        self.chains = chains
        self.start_chain = start_chain
        self.logger = logger
        self.page_size = page_size
        self.ties = ties  # how the first page's rows share seconds
        self.now = now
        self.idle = idle
        self.since: dt.datetime | None = None
        self.paginators: list[KeysetPaginator] = []
        self._sample: tuple[int, dt.datetime] | None = None  # a position and its time
        self._density: float | None = None  # rows a second, between the last two samples
        self._begins: dict[Bound, int] = {}  # where the slice each bound begins begins
        self._lock = threading.RLock()  # chains' threads add and cut slices

    def begin(self, first: KeysetPaginator, expected_pages: float, first_end: dt.datetime) -> int:
        """Start the second slice, if the first page suggests a long stream: its position,
        or 0 (one chain reads it all)."""
        self.since = first.current_value.since  # every slice reads the first one's query
        self.paginators = [first]
        self._sample = (self.page_size, first_end)
        if self.ties > MAX_FIRST_PAGE_TIES:
            # Rows imported in bulk, a second each: their density says nothing of the rest,
            # and a slice begun past the stream's end costs a call for nothing.
            return 0
        first.read_on = functools.partial(self.read_on, first)
        self.chains[0].between_pages = self.between_pages
        return self._add(first, 1, expected_pages * self.page_size)

    def _add(self, before: KeysetPaginator, start: int, remaining: float) -> int:
        with self._lock:
            left = MAX_SLICES - len(self.chains) + 1
            position = next_start(start, remaining, self.page_size, self.drift(), left)
            if position is None or self.chains[-1].stopped:
                return 0
            before.ends_at = self._start(position, None, len(self.chains), on_start=True)
            return position

    def _start(self, position: int, ends_at: Bound | None, index: int, *, on_start: bool) -> Bound:
        """Start a slice at ``position`` as the stream's ``index``-th chain: its bound."""
        bound = Bound(within=ends_at)
        paginator = KeysetPaginator(
            self.since,
            self.page_size,
            prove_first=True,
            position=position,
            starts_at=bound,
            ends_at=ends_at,
            on_start=self._started if on_start else None,
        )
        paginator.read_on = functools.partial(self.read_on, paginator)
        self._begins[bound] = position
        self.paginators.append(paginator)
        first = self.chains[0]
        chain = PageChain(
            first.stream,
            first.context,
            paginator,
            spool=True,
            priority=first.priority + len(self.chains) / 1000,
        )
        chain.between_pages = self.between_pages
        self.chains.insert(index, chain)  # the consumer has not reached it: see split
        self.start_chain(chain)
        self.logger.info(
            "%s: reading slices of history at once: slice %d from row %s%s.",
            first.stream.name,
            len(self.chains),
            f"{position:,}",
            "" if on_start else " (half of what the slice before it had left)",
        )
        return bound

    def split(self, paginator: BaseAPIPaginator) -> None:
        """Between two pages of a slice (in its chain's thread, so nothing else changes its
        paginator): if no request waits for QBO's limits, cut what it has left in two.

        The slice's next page is not asked for yet, so it has read nothing past its
        position; the consumer reads the chains in order and has not passed this one, so the
        new chain can go right after it. The rows at a position only grow later as others
        are updated (an update moves a row to the end), so the new slice begins past what
        this one read."""
        if not isinstance(paginator, KeysetPaginator) or not self.idle():
            return
        if paginator.current_value.tie_position is not None or paginator.crowded_start:
            # Within a second read by offsets, or past one of unknown rows: a cut placed
            # from ``seen`` could fall among rows this slice has written.
            return
        with self._lock:
            index = next((i for i, c in enumerate(self.chains) if c.paginator is paginator), None)
            full = len(self.chains) >= MAX_SLICES + MAX_SPLIT_SLICES
            # Stopped chains are stopped in order: a new one after a stopped one would run on.
            if index is None or full or self.chains[index].stopped or self.chains[-1].stopped:
                return
            here = (paginator.position or 1) + paginator.seen
            remaining = self._remaining(paginator, here)
            if remaining is None:
                return
            position = split_start(here, remaining, self.page_size, self.drift())
            if position is not None:
                paginator.ends_at = self._start(
                    position, paginator.ends_at, index + 1, on_start=False
                )
                # The consumer stops its chains without this lock: stopped meanwhile, its
                # stop may have passed the new chain's place before it was there.
                if self.chains[index].stopped:
                    self.chains[index + 1].stop()

    def between_pages(self, paginator: BaseAPIPaginator) -> None:
        """Between two pages of a slice, in its chain's thread: cut it in two (:meth:`split`);
        and the stream's last slice, whose next page looks like its last, waits for the
        slices before it first, so that page comes after them and is its end (see
        :meth:`read_on`): one page later, the end would cost a page more."""
        self.split(paginator)
        if not isinstance(paginator, KeysetPaginator) or not paginator.last_slice:
            return
        if paginator.current_value.tie_position is not None:
            return  # the second being read by offsets is not the stream's end
        here = (paginator.position or 1) + paginator.seen
        remaining = self._remaining(paginator, here)
        if remaining is not None and remaining < self.page_size - self.drift():
            self._wait_for_others(paginator)

    def read_on(self, paginator: KeysetPaginator) -> bool:
        """At the apparent end of the stream's last slice (in its chain's thread): wait until
        every other slice has asked for its last page, and whether one had not yet.

        A row that slice had not reached, updated meanwhile, moves to the newest second,
        past this slice's end: read from there once more, it arrives this run, as it would
        with one chain. Once every slice is read, a row updated has been read where it was."""
        if not self._wait_for_others(paginator):
            return False
        self.logger.info(
            "%s: the last slice reads on once more, now that the slices before it are read "
            "(rows they had not reached may have been updated since).",
            self.chains[0].stream.name,
        )
        return True

    def _wait_for_others(self, paginator: KeysetPaginator) -> bool:
        """Wait until every slice but ``paginator``'s has asked for its last page (or its
        own chain is stopped); whether one had not yet, and its own chain goes on."""
        waited = False
        while True:
            with self._lock:
                mine = next((c for c in self.chains if c.paginator is paginator), None)
                others = [c for c in self.chains if c is not mine and not c.fetched.is_set()]
            if mine is None or mine.stopped:
                return False
            if not others:
                return waited
            waited = True
            others[0].fetched.wait(0.5)

    def _remaining(self, paginator: KeysetPaginator, here: int) -> float | None:
        """Rows a slice has left from position ``here``: up to where the next slice begins,
        or, the last, as many as its own density says history holds up to now."""
        if not paginator.last_slice:
            assert paginator.ends_at is not None  # a slice begun after it, with rows
            return self._begins[paginator.ends_at] - here
        first, reached = paginator.first_seen, paginator.reached
        if first is None or reached is None or reached <= first:
            return None
        density = paginator.seen / (reached - first).total_seconds()
        return density * max(0.0, (self.now - reached).total_seconds())

    def drift(self) -> float:
        """Rows a page after a chain's first reads again (those of its first second): as
        the stream's pages so far showed, the first page's ties counting as one page."""
        reread = sum(p.reread for p in self.paginators)
        pages = sum(p.rereading_pages for p in self.paginators)
        return (self.ties + reread) / (1 + pages)

    def _started(self, paginator: KeysetPaginator, time: dt.datetime | None) -> None:
        """A slice's offset page arrived, its first row stamped ``time``: add the next."""
        if time is None or self._sample is None:
            return  # history ends before it: the slice before reads to the end
        position = paginator.position or 1
        known, known_time = self._sample
        seconds = (time - known_time).total_seconds()
        ahead = (self.now - time).total_seconds()
        if paginator.crowded_start and self._density is not None:
            # A position inside one crowded second (a recurring batch's invoices) has that
            # second's time whatever its rows before it: the density before holds better.
            density: float | None = self._density
        else:
            self._sample = (position, time)
            density = (position - known) / seconds if seconds > 0 else None
            self._density = density
        if ahead <= 0:
            return
        # All in one second so far (a bulk import): as many rows again as a guess.
        remaining = density * ahead if density is not None else position
        self._add(paginator, position, remaining)


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
