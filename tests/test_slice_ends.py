"""Where a stream read as slices of history at once ends, while rows are updated.

A row a slice has not reached yet, updated, moves to the newest second: past where the
stream's last slice reads, and if that slice has already ended, the run would not bring it
(the next run would). These tests steer which slice asks when, which a run of the tap as a
process cannot: the slices (readahead.Slicer, PageChain, KeysetPaginator, the tap's own) read
a stand-in for QBO's query, in this process. The run as a process, rows changing under it,
is tests/test_tap_sync.py::test_a_long_stream_read_in_slices_while_it_changes.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import typing as t

import pytest

from tap_quickbooks.paging import KeysetPaginator, Window, record_time, tie_page_size
from tap_quickbooks.readahead import PageChain, Slicer

PAGE = 10
ROWS = 400
T0 = dt.datetime(2026, 6, 1, tzinfo=dt.UTC)  # a row a second from here: no test reads today
READS_ON = "the last slice reads on once more"


def stamp(time: dt.datetime) -> str:
    return time.astimezone(dt.timezone(dt.timedelta(hours=-7))).isoformat()


class Stream:
    """A stand-in for QBO's ``LastUpdatedTime`` query over invoices, answering each slice
    as QBO does, and as a PageSource for the tap's page chains. The other slices are
    answered once the first slice's first page is; ``hold`` holds the first slice's pages
    after its first until set; ``on_answer`` sees each answer."""

    name = "invoices"

    def __init__(self, crowded_end: int = 0) -> None:
        # A row a second; the last ``crowded_end`` rows in one second (read by offsets).
        last = ROWS - crowded_end
        self.times = {str(i + 1): T0 + dt.timedelta(seconds=min(i, last)) for i in range(ROWS)}
        self.lock = threading.Lock()
        self.hold = threading.Event()
        self.first_read = threading.Event()
        self.first_admitted = threading.Event()  # the first slice knows where it stands
        self.first: KeysetPaginator | None = None
        self.asked: list[tuple[KeysetPaginator, Window, int]] = []  # in the order answered
        self.on_answer: t.Callable[[KeysetPaginator, list[dict]], None] = lambda p, rows: None
        self.chain_priority = threading.local()

    def sender(self) -> t.Callable:
        return lambda request, context: None

    def rows(self, window: Window, size: int) -> list[dict]:
        with self.lock:
            ordered = sorted(self.times.items(), key=lambda item: (item[1], int(item[0])))
        if window.tie_position is not None:
            tied = [i for i, time in ordered if time == window.since]
            picked = tied[window.tie_position - 1 :][:size]
        else:
            since = window.since
            picked = [
                i
                for i, time in ordered
                if since is None or time > since or (time == since and not window.strict)
            ]
            picked = picked[(window.position or 1) - 1 :][:size]
        return [{"Id": i, "MetaData": {"LastUpdatedTime": stamp(self.times[i])}} for i in picked]

    def fetch_page(self, send: t.Callable, context: t.Any, paginator: KeysetPaginator) -> tuple:
        if paginator is self.first and paginator.count >= 1:
            assert self.hold.wait(30), "the first slice was held for ever"
        elif paginator is not self.first:
            assert self.first_read.wait(30), "the first slice's first page never came"
        window = paginator.current_value
        size = tie_page_size(PAGE) if window.tie_position is not None else PAGE
        rows = self.rows(window, size)
        with self.lock:
            self.asked.append((paginator, window, len(rows)))
        self.on_answer(paginator, rows)
        if paginator is not self.first:
            return object(), paginator.admit(rows), False
        self.first_read.set()  # before it is admitted: that waits for slice 2's bound
        fresh = paginator.admit(rows)
        self.first_admitted.set()
        return object(), fresh, False

    def update(self, row_id: str) -> None:
        """As QBO does on an update: the row is stamped the newest second."""
        with self.lock:
            self.times[row_id] = max(self.times.values()) + dt.timedelta(seconds=1)


def read(stream: Stream, now: dt.datetime) -> tuple[list[PageChain], dict[str, dt.datetime], int]:
    """Read the stream as the tap does a long one: slices of history at once (never cut in
    two here), its rows consumed in the chains' order once every chain has fetched its last
    page. Returns the chains, the rows' times as read (the newest read of each) and how many
    rows were read in all."""
    first = KeysetPaginator(None, PAGE)
    stream.first = first
    chains = [PageChain(t.cast(t.Any, stream), None, first, spool=True)]
    slicer = Slicer(
        chains,
        lambda chain: chain.start(),
        logging.getLogger("tap-quickbooks.invoices"),
        page_size=PAGE,
        ties=1.0,
        now=now,
    )
    first_end = T0 + dt.timedelta(seconds=PAGE - 1)  # as the run's batch call tells it
    assert slicer.begin(first, ROWS / PAGE, first_end) > 0, "the stream was not sliced"
    chains[0].start()
    while not all(chain.fetched.wait(30) for chain in list(chains)):
        pass
    got: dict[str, dt.datetime] = {}
    written = 0
    for chain in list(chains):
        for page in chain.pages():
            for row in page.rows or []:
                time = record_time(row)
                assert time is not None
                got[row["Id"]] = time
                written += 1
    assert len(chains) > 2, "too few slices to test"
    return chains, got, written


def next_unread(stream: Stream) -> str:
    """The first row the first slice has not read: it reads on by key from its newest."""
    assert stream.first_admitted.wait(30)
    assert stream.first is not None
    assert stream.first.reached is not None
    reached = stream.first.reached
    return min((i for i, time in stream.times.items() if time > reached), key=int)


@pytest.mark.parametrize("crowded_end", [0, 25], ids=["a-row-a-second", "a-crowded-last-second"])
def test_a_row_updated_after_the_last_slice_ended_early_arrives_as_it_reads_on(
    caplog, crowded_end: int
) -> None:
    # History seems to go on well past its last row (``now`` a day on): the last slice does
    # not see its end coming, and ends while the first slice is held. A row the first slice
    # had not reached is updated then. The last slice waits for the others, reads on from
    # where it ended, and brings the row: every row, each at its newest, in one run; a page
    # more than the slices' own. Where the stream ends on a second fuller than a page, read
    # by offsets, its end is an empty page of the rows after that second, asked again.
    stream = Stream(crowded_end)
    moved: list[str] = []

    def on_answer(paginator: KeysetPaginator, rows: list[dict]) -> None:
        # (Known once the slice after, if any, has its first page: as admitting waits for.)
        bound = paginator.ends_at
        last = paginator is not stream.first and (bound is None or bound.time() is None)
        # Its short page by key (a slice begun past the end brings none, at an offset).
        window = paginator.current_value
        ends = window.tie_position is None and window.position is None and len(rows) < PAGE
        if last and ends and not moved:
            moved.append(next_unread(stream))
            stream.update(moved[0])
            stream.hold.set()

    stream.on_answer = on_answer
    caplog.set_level(logging.INFO)
    _chains, got, written = read(stream, now=T0 + dt.timedelta(days=1))
    assert moved, "the last slice did not end while the first was held"
    assert got == stream.times  # every row, the moved one at its new second
    assert written == ROWS
    assert sum(READS_ON in r.getMessage() for r in caplog.records) == 1
    again = [p for p, window, _ in stream.asked if window.again]
    assert len(again) == 1
    assert again[0].last_slice
    last = [(window, n) for p, window, n in stream.asked if p is again[0]]
    assert last[-1][0].again
    assert last[-2][1] < PAGE
    # The row moved, and the rows of the second read on from, again (none after a strict end).
    assert last[-1][1] >= (1 if crowded_end else 2)
    assert last[-1][0].strict == bool(crowded_end)
    # The page read on needs no COUNT to prove it the end (rows stamped before the run
    # began were proven read on the page before).
    assert again[0].unproven_end([{"Id": "x"}], T0 + dt.timedelta(days=2)) is None


def test_the_last_slice_asks_for_its_last_page_after_the_others_when_it_sees_it_coming(
    caplog,
) -> None:
    # ``now`` just after the newest row: the last slice sees that its next page is its last
    # and waits for the held first slice before asking for it. A row the first slice had
    # not reached, updated meanwhile, is on that page: no page more.
    stream = Stream()
    moved: list[str] = []

    def release() -> None:
        # Once the last slice has read all but its last page, and the first is held.
        while not any(
            p is not stream.first and p.last_slice and p.seen >= ROWS // 20
            for p, _, _ in list(stream.asked)
        ):
            threading.Event().wait(0.01)
        threading.Event().wait(0.3)  # the last slice is waiting now, or has asked on
        moved.append(next_unread(stream))
        stream.update(moved[0])
        stream.hold.set()

    releaser = threading.Thread(target=release, daemon=True)
    releaser.start()
    caplog.set_level(logging.INFO)
    chains, got, written = read(stream, now=T0 + dt.timedelta(seconds=ROWS))
    releaser.join(5)
    assert moved
    assert got == stream.times
    assert written == ROWS
    assert not any(READS_ON in r.getMessage() for r in caplog.records)
    last = next(c.paginator for c in reversed(chains) if c.paginator.seen)  # with rows
    assert last.last_slice
    order = [p for p, _, _ in stream.asked]
    first_done = max(i for i, p in enumerate(order) if p is stream.first)
    assert max(i for i, p in enumerate(order) if p is last) > first_done


@pytest.mark.parametrize("now_after", [dt.timedelta(seconds=ROWS), dt.timedelta(days=1)])
def test_with_nothing_updated_the_slices_read_each_row_once_and_no_page_more(
    caplog, now_after: dt.timedelta
) -> None:
    # The first slice is not held: whichever slice ends last, each row once; a last slice
    # that ended before the others reads on one page, which brings no row.
    stream = Stream()
    stream.hold.set()
    caplog.set_level(logging.INFO)
    _chains, got, written = read(stream, now=T0 + now_after)
    assert got == stream.times
    assert written == ROWS
    reads_on = [p for p, window, _ in stream.asked if window.again]
    assert len(reads_on) == sum(READS_ON in r.getMessage() for r in caplog.records) <= 1
    assert all(p.last_slice for p in reads_on)
