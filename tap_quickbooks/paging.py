"""Keyset paging over ``MetaData.LastUpdatedTime``: why no record is lost.

Offset paging (STARTPOSITION 1, 1001, ...) over ``LastUpdatedTime >= bookmark`` loses records:
a record updated mid-sync leaves its place, every later record shifts one position down, and one
of them falls between two pages unseen. So the tap pages by key instead: each request asks
for ``LastUpdatedTime >= t`` where ``t`` is the newest timestamp already passed on, and drops the
rows it already passed on with exactly that timestamp (QBO timestamps have second precision, so
boundaries are shared). Updated records move to a later timestamp and are met again, never
skipped.

One case needs offsets: more records share one second than fit on a page (a bulk import). Then
the tap pages through that second alone, ordered by Id. That set can only shrink while it is read
(an update moves a record to a later second), which can only shift positions down, so each page
starts a little before the previous one ended and must share an Id with it; where it shares none,
rows shifted past the overlap and the tap steps back. Page one needs no proof.

The proof holds only for answers that follow the query. So, before a page is admitted, the
tap checks what the query promises (see :meth:`KeysetPaginator.doubt`): every row stamped,
within the window, in ORDERBY order, not later than the local clock allows; and a ``>=``
window that starts at a second already read (or at the bookmark) is never empty, since at
least the rows of that second answer it. A page that breaks one of these is asked again,
never taken as the end.

A short page after a full one looks like the end, and the run then marks the stream complete
up to its start (``synced_at``), which later runs trust. So that end is proven first (see
:meth:`KeysetPaginator.unproven_end`): rows stamped before the run began were there when the
page was asked for, so QBO's COUNT of them after the page's last row must find none unread.

A long stream is read as slices at once (see readahead.slice_starts). A slice after the first
begins with one offset page of the first slice's query (STARTPOSITION); the second its first
row is stamped with is that slice's :class:`Bound`. Every row up to and including that
second belongs to the slice before, every row after it to the slice itself. The offset page
needs no proof of its own: one answer, its rows after that second are exactly the first rows
of the ``>`` window at that moment; from there the slice pages by key as above. The slice
before reads by key until a page passes the bound, so it ends on that page (it need not be
short, and needs no COUNT: a row after the bound in ORDERBY order proves nothing before it
was left out).
"""

from __future__ import annotations

import collections
import datetime as dt
import threading
import typing as t
from dataclasses import dataclass

from singer_sdk.pagination import BaseAPIPaginator

from tap_quickbooks.timefmt import read_instant, utc_text

# How far past this machine's clock a timestamp from QBO may lie (clocks disagree a little).
FUTURE_ALLOWANCE = dt.timedelta(minutes=5)


def tie_page_size(page_size: int) -> int:
    """Rows asked for a page of one second read by offsets: at least two, since each such page
    proves it follows the one before by sharing a row with it (one row a page never could,
    and the tap stepped back forever)."""
    return max(2, page_size)


@dataclass(frozen=True)
class Doubt:
    """Why a page cannot be trusted as QBO's answer to the query asked."""

    reason: str
    empty: bool = False
    """The page is empty where rows must be: QBO's COUNT can tell a deletion from a lie."""


@dataclass(frozen=True)
class End:
    """A window's apparent end, to be proven by QBO's COUNT of ``since <= time < before``."""

    since: dt.datetime
    """The page's last row's time."""
    before: dt.datetime
    read: int
    """Rows stamped ``since`` already read: the COUNT finds these at least."""


@dataclass(frozen=True)
class Window:
    """Which slice of the stream the next request asks for."""

    since: dt.datetime | None
    """Lower bound on LastUpdatedTime; None reads from the beginning of history."""
    strict: bool = False
    """``>`` instead of ``>=``: set after every row of ``since`` was read in a tie pass."""
    tie_position: int | None = None
    """When set, the request reads rows stamped exactly ``since``, ordered by Id, from here."""
    position: int | None = None
    """When set, the first page of a slice after the first: the window's rows from this
    position on (STARTPOSITION), ordered by LastUpdatedTime."""
    again: bool = False
    """The window of an apparent end, asked again once the stream's other slices are read
    (see :attr:`KeysetPaginator.read_on`): the same query, a new page."""


class Bound:
    """Where a slice of history after the first begins: the time of the first row of its
    offset page (see the module's docstring). Known once that page is read; None when it
    brought no row or its chain ended first (the slice before then reads to the end).

    A slice cut in two while it is read (readahead.Slicer.split) ends at the new slice's
    bound or at its old end (``within``), whichever comes first: the new slice may bring
    nothing, or begin past that end if rows moved meanwhile."""

    def __init__(self, within: Bound | None = None) -> None:
        self._known = threading.Event()
        self._time: dt.datetime | None = None
        self._within = within

    def set(self, time: dt.datetime | None) -> None:
        if not self._known.is_set():
            self._time = time
            self._known.set()

    def time(self) -> dt.datetime | None:
        """The bound, waiting until the slice's first page is read (one round trip)."""
        self._known.wait()
        outer = self._within.time() if self._within is not None else None
        if self._time is None or outer is None:
            return self._time or outer
        return min(self._time, outer)

    def bounds_nothing(self) -> bool:
        """Known, without waiting, to bound nothing: its slice (and any it lies within)
        brought no row, so the slice before reads to the end."""
        if not self._known.is_set() or self._time is not None:
            return False
        return self._within is None or self._within.bounds_nothing()


def ties(times: t.Iterable[dt.datetime | None]) -> float:
    """How many rows, on average, share a row's second (itself included): what a keyset
    page reads again of the page before, where it begins at the second that page ended on."""
    seconds = collections.Counter(time for time in times if time is not None)
    rows = sum(seconds.values())
    return sum(n * n for n in seconds.values()) / rows if rows else 1.0


class TimedRow(dict):
    """A row that carries its :func:`record_time`, worked out once."""

    __slots__ = ("time",)

    time: dt.datetime | None


def record_time(record: dict) -> dt.datetime | None:
    """The record's MetaData.LastUpdatedTime as an aware UTC datetime, if it has one."""
    if isinstance(record, TimedRow):
        return record.time
    return metadata_time(record)


def metadata_time(record: dict) -> dt.datetime | None:
    """:func:`record_time`, read from the record's MetaData."""
    text = (record.get("MetaData") or {}).get("LastUpdatedTime")
    if not text:
        return None
    return read_instant(text)


class KeysetPaginator(BaseAPIPaginator[Window]):
    """Pages a QBO entity by LastUpdatedTime, de-duplicating at page boundaries.

    The stream hands every page's rows to :meth:`admit` before the SDK asks for the next
    window, so the paginator knows what each page held without parsing the response twice.
    """

    def __init__(
        self,
        since: dt.datetime | None,
        page_size: int,
        *,
        expect_rows: bool = False,
        first_read: bool = False,
        prove_first: bool = False,
        position: int | None = None,
        starts_at: Bound | None = None,
        ends_at: Bound | None = None,
        on_start: t.Callable[[KeysetPaginator, dt.datetime | None], None] | None = None,
    ) -> None:
        super().__init__(Window(since, position=position))
        self.page_size = page_size
        self.expect_rows = expect_rows
        """``since`` is the time of a row already written (the bookmark): the first page
        holds at least that row, unless it was deleted since."""
        self.first_read = first_read
        """The stream was never read before: an empty first page would mark it complete, so
        QBO's COUNT confirms it (once per company and stream; later runs need no proof, as
        a stream without a bookmark is read from the start again)."""
        self.prove_first = prove_first
        """A short first page must prove its end too: a slice of history after the first
        (it starts mid-stream), or a stream resumed that no run has completed yet (its last
        run may have stopped on a page that left rows out)."""
        self.starts_at = starts_at
        """A slice after the first: its bound, set from its first (offset) page."""
        self.ends_at = ends_at
        """A slice before another: the next slice's bound, where this one stops."""
        self.position = position
        """A slice after the first: where it begins in the first one's query."""
        self.on_start = on_start
        """Told this slice's bound, once known, before the slice before is."""
        self.read_on: t.Callable[[], bool] | None = None
        """Asked on the apparent end of a slice with no end of its own (the stream's last):
        whether to read on from there once more. The slices before it may still be reading,
        and a row they have not reached yet, updated meanwhile, moves past where this one
        ended (readahead.Slicer.read_on)."""
        self._pages = 0  # admitted
        self._read_on_page: int | None = None  # the page after which it reads on
        self._start: dt.datetime | None = None  # this slice's bound, once known
        self.reread = 0
        """Rows passed on before that pages after the first brought again (their first
        second's): how far each page falls short of a page of new rows."""
        self.rereading_pages = 0
        self.seen = 0
        """Rows of the query this slice has read from its position on, each counted once
        (with the rows of its first second, the slice before's): where it stands now."""
        self.first_seen: dt.datetime | None = None  # the time of its first row
        self.crowded_start = False
        """A slice's offset page held only rows of its first second (the slice before's):
        the rest of that second, never counted, is passed over, so ``position + seen`` is
        no longer where the slice stands, and the page's time says nothing of the rows'
        density before it."""
        self.tie_size = tie_page_size(page_size)
        # Rows shift at most this far between two tie pages before the proof of contiguity fails.
        self.overlap = max(1, self.tie_size // 10)
        self._boundary: dt.datetime | None = None  # newest timestamp passed on
        self._boundary_ids: set[str] = set()  # Ids passed on with that timestamp
        self._rows_in_page = 0
        self._first_time: dt.datetime | None = None
        self._last_time: dt.datetime | None = None
        self._page_ids: list[str] = []
        self._tie_reference: set[str] = set()  # Ids of the last tie page proven contiguous

    def admit(self, rows: list[dict]) -> list[dict]:
        """Remember what a page held and return the rows not passed on before (nor left
        to another slice)."""
        self._pages += 1
        self._rows_in_page = len(rows)
        self._page_ids = [str(row.get("Id")) for row in rows]
        if self.current_value.position is not None:
            self._take_start(rows)
        end = self._end()
        fresh = []
        first = last = None
        again = 0
        for row, row_id in zip(rows, self._page_ids, strict=True):
            time = record_time(row)
            if time is None:  # no timestamp to page by: pass it on, it cannot recur
                fresh.append(row)
                continue
            first = first or time
            last = time
            if end is not None and time > end:
                continue  # the next slice's
            if time == self._boundary:
                if row_id in self._boundary_ids:
                    again += 1
                    continue
                self._boundary_ids.add(row_id)
            elif self._boundary is None or time > self._boundary:
                self._boundary, self._boundary_ids = time, {row_id}
            fresh.append(row)
        self._first_time, self._last_time = first, last
        window = self.current_value
        self.seen += len(fresh) + (again if window.position is not None else 0)
        self.first_seen = self.first_seen or first
        if self.count and window.tie_position is None and not (window.strict or window.again):
            self.rereading_pages += 1
            self.reread += again
        return fresh

    def _take_start(self, rows: list[dict]) -> None:
        """A slice's offset page: its first row's second is the slice's bound, and the rows
        of that second are the slice before's (passed on there, as if here)."""
        start = next((time for row in rows if (time := record_time(row)) is not None), None)
        self._start = start
        self.crowded_start = len(rows) >= self.page_size and all(
            record_time(row) == start for row in rows
        )
        if start is not None:
            self._boundary = start
            self._boundary_ids = {
                i for row, i in zip(rows, self._page_ids, strict=True) if record_time(row) == start
            }
        if self.on_start is not None and len(rows) >= self.page_size:  # history goes on
            self.on_start(self, start)
        self.release(start)

    def release(self, start: dt.datetime | None = None) -> None:
        """Tell the slice before where this one begins (None: nowhere, its chain ended
        before its first page; the slice before reads to the end)."""
        if self.starts_at is not None:
            self.starts_at.set(start)

    @property
    def reached(self) -> dt.datetime | None:
        """The newest time this slice passed on."""
        return self._boundary

    def _end(self) -> dt.datetime | None:
        return self.ends_at.time() if self.ends_at is not None else None

    @property
    def last_slice(self) -> bool:
        """No slice after this one, as far as is known without waiting: none was begun, or
        those begun brought nothing."""
        return self.ends_at is None or self.ends_at.bounds_nothing()

    def passed_end(self) -> bool:
        """Whether the last page reached past the next slice's bound: this slice is read."""
        end = self._end()
        return end is not None and self._last_time is not None and self._last_time > end

    def doubt(self, rows: list[dict], horizon: dt.datetime) -> Doubt | None:  # noqa: PLR0911 - one return per kind of doubt, in the order the proof checks them
        """What makes this page, the answer to the current window, untrustworthy (None:
        nothing). ``horizon`` is the latest timestamp believable (the local clock plus
        FUTURE_ALLOWANCE)."""
        window = self.current_value
        if not rows:
            # ">=" a second already read: at least the rows read at that second come back.
            seen = self._boundary is not None or self.expect_rows
            if seen and window.since is not None and not window.strict:
                return Doubt(
                    f"an empty page where rows stamped {utc_text(window.since)} or later "
                    "were read before",
                    empty=True,
                )
            if self.first_read and not self.count and not window.strict:
                return Doubt("an empty first page of a stream never read before", empty=True)
            return None
        previous = window.since
        timed = 0
        for row in rows:
            time = record_time(row)
            if time is None:
                if window.since is not None:
                    return Doubt(
                        f"row {row.get('Id')!r} has no MetaData.LastUpdatedTime, though the "
                        "query asked for rows by it"
                    )
                continue
            timed += 1
            if time > horizon:
                return Doubt(
                    f"row {row.get('Id')!r} is stamped {utc_text(time)}, later than this "
                    f"machine's clock allows ({utc_text(horizon)})"
                )
            outside = (window.tie_position is not None and time != window.since) or (
                window.strict and time == window.since
            )
            if outside or (previous is not None and time < previous):
                order = "Id" if window.tie_position else "MetaData.LastUpdatedTime"
                return Doubt(
                    f"rows out of the window or the order asked for (ORDERBY {order}): row "
                    f"{row.get('Id')!r} stamped {utc_text(time)} comes after "
                    f"{utc_text(previous) if previous else 'the window start'}"
                )
            previous = time
        if not timed and len(rows) >= self.page_size:
            return Doubt("a full page of rows without MetaData.LastUpdatedTime: no way to page on")
        return None

    def unproven_end(self, rows: list[dict], started: dt.datetime) -> End | None:
        """What QBO must count to prove that ``rows``, a short page after a full one, end
        the window; None when no proof is needed (a full page, the first page, a tied
        second, or a last row stamped after ``started``, the run's start by QBO's clock).

        The first page goes unproven unless ``prove_first``: a COUNT there would double the
        calls of every small stream on every run."""
        window = self.current_value
        if not rows or len(rows) >= self.page_size or not (self.count or self.prove_first):
            return None
        if window.tie_position is not None or window.again:
            # A window asked again: its rows stamped before the run began were proven read.
            return None
        last = record_time(rows[-1])
        if last is None or last >= started:
            return None
        end = self._end()
        if end is not None and last > end:
            return None  # a row past the next slice's bound: nothing before it left out
        if window.position is not None and last == record_time(rows[0]):
            # An offset page of one second: its earlier rows are the slice before's, so
            # only the rows after it are counted (timestamps have whole seconds).
            return End(last + dt.timedelta(seconds=1), started, 0)
        # Rows of the last second read on earlier pages, as well as on this one.
        read = {str(r.get("Id")) for r in rows if record_time(r) == last}
        if last == self._boundary:
            read |= self._boundary_ids
        return End(last, started, len(read))

    def has_more(self, response: object) -> bool:
        if self.passed_end():
            return False
        if self.current_value.tie_position is not None:
            return True  # the stream goes on after the tied second, with a strict bound
        if self._rows_in_page >= self.page_size:
            return True
        return self._reads_on()

    def _reads_on(self) -> bool:
        """Whether this apparent end is read once more (see :attr:`read_on`): decided once a
        page, though the SDK and the chain may ask more than once."""
        if self._read_on_page == self._pages:
            return True
        if self.read_on is None or not self.last_slice:
            return False
        if self._last_time is None and self.current_value.since is None:
            return False  # nothing read yet: nowhere to read on from
        if not self.read_on():
            return False
        self._read_on_page = self._pages
        return True

    def continue_if_empty(self, response: object) -> bool:
        # A page can be all duplicates (the boundary) and still not be the last.
        return self.has_more(response)

    def get_next(self, response: object) -> Window | None:
        window = self.current_value
        if window.tie_position is not None:
            return self._next_tie_window(window)
        if self._read_on_page == self._pages:
            return self._read_on_window(window)
        if self._last_time is None:
            return None
        if self._first_time == self._last_time:
            if self._last_time == self._start:  # that second is the slice before's
                return Window(self._last_time, strict=True)
            # A whole page of one second: only offsets can get past it.
            self._tie_reference = set()
            return Window(self._last_time, tie_position=1)
        return Window(self._last_time)

    def _read_on_window(self, window: Window) -> Window:
        """The window read on from after an apparent end (see :attr:`read_on`)."""
        if self._last_time is not None:
            return Window(self._last_time, again=True)
        # An empty page (a strict one, after a second read by offsets): asked again.
        return Window(window.since, strict=window.strict, again=True)

    def _next_tie_window(self, window: Window) -> Window:
        position = window.tie_position or 1
        page_ids = set(self._page_ids)
        contiguous = position == 1 or bool(page_ids & self._tie_reference)
        if not contiguous:
            # Rows shifted further than the overlap: step back and read again.
            back = max(1, position - max(1, self.tie_size - self.overlap))
            return Window(window.since, tie_position=back)
        self._tie_reference = page_ids
        if self._rows_in_page < self.tie_size:
            return Window(window.since, strict=True)
        step = max(1, self._rows_in_page - self.overlap)
        return Window(window.since, tie_position=position + step)
