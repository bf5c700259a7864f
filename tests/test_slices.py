"""A long stream read as slices of history at once costs the calls of its pages, no more.

Each run is the tap as a process against the emulator; the calls it cost are the emulator's
own count of requests served, and the pages it needed are worked out from the emulator's
ground truth: the pages one keyset chain reads with nothing changing (see paging.py), plus
the end proofs (COUNT) that chain needs. No wall time is judged.
"""

from __future__ import annotations

import datetime as dt
import itertools
import re

import pytest

from scripts.bench_backfill import keyset_pages
from tap_quickbooks.catalogue import BY_STREAM
from tap_quickbooks.paging import Bound, record_time
from tap_quickbooks.readahead import MIN_SPLIT_PAGES, next_start, split_start
from tests.singer import run_tap
from tests.test_tap_sync import latest_by_id, select, truth

SLICED = re.compile(r"(\w+): reading slices of history at once: slice \d+ from row ([\d,]+)")
READS_ON = re.compile(r"(\w+): the last slice reads on once more")
COUNTS = re.compile(r"API calls this run: .*\bcount=(\d+)")
RETRIES = re.compile(r"API calls this run: .*, (\d+) retries,")
NOW = "2026-06-01T12:00:00Z"  # the emulator's clock: no test depends on today's date


def sync_and_check(
    emu,
    streams: list[str],
    page_size: int,
    faults: dict[int, str] | None = None,
    shared: int = 1,
    *,
    log: list[str] | None = None,
) -> dict[str, list[int]]:
    """One full sync of ``streams``, every row written once; checks that it cost only the
    pages its slices needed (and, with ``faults`` injected, one retry each). Returns where
    each stream's slices began (and adds the run's log lines to ``log``)."""
    realm = emu.realm_ids[0]
    config = {**emu.tap_config(), "page_size": page_size}
    catalog = select(config, streams)
    emu.reset_counts()
    emu.behaviour.faults = faults
    run = run_tap(config, args=["--catalog", str(catalog)], timeout=300)
    assert run.returncode == 0, run.stderr[-3000:]
    if log is not None:
        log.extend(run.stderr.splitlines())
    served = emu.request_counts()
    retries = int(m.group(1)) if (m := RETRIES.search(run.stderr)) else 0
    assert retries == len(faults or {}), (retries, emu.behaviour.injected)
    served["query"] -= retries  # each fault was a query answered again (see the callers)
    rows = {s: emu.ground_truth(realm, BY_STREAM[s].name) for s in streams}
    for stream in streams:  # every row once, none left out
        assert len(run.records[stream]) == len(rows[stream])
        assert set(latest_by_id(run.records[stream])) == set(truth(emu, realm, stream))
    starts: dict[str, list[int]] = {s: [] for s in streams}
    for match in SLICED.finditer(run.stderr):
        starts[match.group(1)].append(int(match.group(2).replace(",", "")))
    for stream in streams:  # a slice begun past the end costs a call and reads nothing
        assert all(p <= len(rows[stream]) for p in starts[stream]), (starts, len(rows[stream]))
    needed = sum(keyset_pages(rows[s], page_size, starts[s]) for s in streams)
    # The stream's last slice read on once more after the others: a page more (readahead.
    # Slicer.read_on), at most once a sliced stream.
    reads_on = [m.group(1) for m in READS_ON.finditer(run.stderr)]
    assert all(starts[s] for s in reads_on), reads_on
    assert len(reads_on) == len(set(reads_on)), reads_on
    needed += len(reads_on)
    one_chain = sum(keyset_pages(rows[s], page_size) for s in streams)
    # The batch call brings each stream's first page; every other query is a page, or the
    # one COUNT a stream needs to prove its short last page the end (not one a slice).
    counts = int(m.group(1)) if (m := COUNTS.search(run.stderr)) else 0
    assert counts <= len(streams)
    assert served["batch"] == 1
    assert served["query"] - counts + len(streams) == needed, (served, needed, counts)
    # The rows two slices share cost a page at most per slice (``shared`` pages), over one
    # chain's pages.
    assert needed <= one_chain + shared * sum(len(s) for s in starts.values())
    return starts


def test_one_long_stream_read_in_slices_costs_only_its_pages(make_company) -> None:
    emu = make_company(seed=17, scale=3000)
    starts = sync_and_check(emu, ["invoices"], page_size=10)
    assert starts["invoices"], "the stream was not read in slices"


@pytest.mark.full
def test_records_spread_over_several_long_streams_cost_only_their_pages(make_company) -> None:
    # Which of them are sliced depends on how long their first pages make them look.
    emu = make_company(seed=17, scale=3000)
    streams = ["invoices", "payments", "bills", "purchases", "sales_receipts"]
    starts = sync_and_check(emu, streams, page_size=8)
    assert sum(bool(s) for s in starts.values()) >= 2, "too few streams read in slices"


def test_a_slice_starts_just_before_a_page_of_the_slice_before_ends() -> None:
    # 60 pages of 1000 left, one row re-read a page: slices of 20 pages, each reaching
    # 20 * 1000 - 19 rows on; the next starts a few rows before that.
    reach = 20 * 1000 - 19
    start = next_start(1, 60 * 999, 1000, 1)
    assert start is not None
    assert reach - 60 < start - 1 < reach
    assert next_start(1, 20 * 999, 1000, 1) is None  # one chain is enough
    assert next_start(1, 10**9, 4, 2) is None  # pages too small to gain rows reliably
    # 30 pages left: two slices of 15, not one of 20 and one of 10.
    assert next_start(1, 30 * 999, 1000, 1) < 15 * 1000


CUT = "(half of what the slice before it had left)"


def test_a_slice_with_room_to_spare_is_cut_in_two_and_still_costs_only_its_pages(
    make_company,
) -> None:
    # The last slices are read while the others have ended: the tap's limits have room, so
    # a slice hands half of what it has left to a new one (on the code before, the stream
    # was read in 6 slices and none was cut).
    emu = make_company(seed=17, scale=3000)
    log: list[str] = []
    starts = sync_and_check(emu, ["invoices"], page_size=10, log=log)
    cuts = [line for line in log if CUT in line]
    assert cuts, "no slice was cut in two"
    assert len(starts["invoices"]) > len(cuts)


def test_a_slice_is_cut_just_before_a_page_of_it_ends() -> None:
    # The slice's next page reads on from row 1001, each page gaining 999 rows: ten pages
    # left, so five each; the new slice begins a few rows before the fifth page ends.
    fifth_page_ends = 1001 + 5 * 999 - 1
    start = split_start(1001, 10 * 999, 1000, 1)
    assert start is not None
    assert fifth_page_ends - 60 < start <= fifth_page_ends
    assert split_start(1001, (MIN_SPLIT_PAGES - 1) * 999, 1000, 1) is None  # too few left
    assert split_start(1, 10**6, 4, 2) is None  # pages too small to gain rows reliably


def test_a_slice_cut_in_two_ends_at_the_new_slice_or_its_old_end_whichever_is_first() -> None:
    old_end, cut = Bound(), Bound()
    within = Bound(within=old_end)
    noon, one = (
        dt.datetime(2024, 5, 1, 12, tzinfo=dt.UTC),
        dt.datetime(2024, 5, 1, 13, tzinfo=dt.UTC),
    )
    old_end.set(one)
    within.set(noon)
    assert within.time() == noon
    late = Bound(within=old_end)
    late.set(one + dt.timedelta(hours=1))  # rows moved on while it was read
    assert late.time() == one
    empty = Bound(within=old_end)
    empty.set(None)  # the new slice brought nothing, or stopped before its first page
    assert empty.time() == one
    last = Bound(within=cut)
    cut.set(None)
    last.set(None)  # the stream's last slice cut in two: nothing after it either
    assert last.time() is None


def stamped_invoices(make_company, scale: int, rows_a_second: list[int]) -> tuple:
    """A company whose invoices are restamped oldest first: four seconds of one row each
    (the first page, at four rows a page, shares no second), then seconds holding
    ``rows_a_second`` rows in turn, ten seconds a row apart, so the first page's density is
    the stream's; the clock stops just after the newest, most of history lying before QBO's
    last five minutes (where no slice begins). Returns the emulator and the invoices' times,
    in the query's order."""
    emu = make_company(seed=17, scale=scale, now=NOW)
    realm = emu.realm_ids[0]
    ids = sorted((r["Id"] for r in emu.ground_truth(realm, "Invoice")), key=int)
    store = emu.store(realm)
    at = start = emu.clock.seconds() - 10 * len(ids)
    taken = 0
    for size in itertools.chain([1, 1, 1, 1], itertools.cycle(rows_a_second)):
        if taken == len(ids):
            break
        group = ids[taken : taken + size]
        store.touch_many("Invoice", group, when=at)
        taken += len(group)
        at += 10 * len(group)
    emu.clock.freeze(at)
    times = sorted(t for r in emu.ground_truth(realm, "Invoice") if (t := record_time(r)))
    assert len(times) == len(ids)
    assert times[0] == dt.datetime.fromtimestamp(start, dt.UTC)
    return emu, times


@pytest.mark.parametrize("page_size", [1, pytest.param(2, marks=pytest.mark.full), 3])
def test_pages_of_one_to_three_rows_read_a_long_stream_in_one_chain_each_row_once(
    make_company, page_size: int
) -> None:
    # A page after a chain's first begins at the second the one before ended on, so reads at
    # least one row again: pages this small gain too little to slice (readahead.next_start;
    # one row a page cannot even show the stream's density), however long the stream. One
    # chain, then, that ends, each row once, at the pages the ground truth says (seconds of
    # four rows fill more than a page: read by offsets); a row costs two pages at most (its
    # own, and the tie or strict page after its second).
    emu, times = stamped_invoices(make_company, 600, [2, 1, 4, 1])
    assert keyset_pages(emu.ground_truth(emu.realm_ids[0], "Invoice"), page_size) > 20
    starts = sync_and_check(emu, ["invoices"], page_size)
    assert starts == {"invoices": []}
    assert emu.request_counts()["query"] <= 2 * len(times) + 2


def boundary_seconds(times: list[dt.datetime], starts: list[int]) -> list[int]:
    """How many rows share the second each slice begins at (its bound, paging.Bound)."""
    return [times.count(times[p - 1]) for p in starts]


@pytest.mark.parametrize(
    ("rows_a_second", "faults"),
    [
        pytest.param([2, 3], None, id="pairs-and-triples"),
        pytest.param([2, 3], {2: "500"}, id="a-500-on-an-offset-page"),
        pytest.param([2, 3], {14: "500"}, id="a-500-mid-slice"),
        pytest.param([2, 3], {14: "429"}, id="a-429-mid-slice", marks=pytest.mark.full),
        pytest.param([5, 2], None, id="seconds-fuller-than-a-page"),
    ],
)
def test_the_smallest_pages_that_slice_read_a_second_at_a_boundary_once(
    make_company, rows_a_second: list[int], faults: dict[int, str] | None
) -> None:
    # Four rows a page (the smallest that slices) and every second after the first page
    # holding two rows or more (five: more than a page, read by offsets), so each slice
    # begins inside a second whose rows the slice before reads, and the slice itself passes
    # over. Every row once, every slice ending on the pages the ground truth says; a fault
    # (a 500 on slice 2's first, offset page, or one on a page of a slice while the others
    # read) is asked again and costs that call.
    emu, times = stamped_invoices(make_company, 1000, rows_a_second)
    # Seconds fuller than a page are read by offsets, pages that do not reach as far on as
    # readahead.next_start reckons: the slice after then reads again, besides its offset
    # page, the page the slice before ended on (a call more a slice, no row more written).
    shared = 2 if max(rows_a_second) > 4 else 1
    starts = sync_and_check(emu, ["invoices"], 4, faults, shared)["invoices"]
    assert len(starts) >= 1, "the stream was not read in slices"
    assert min(boundary_seconds(times, starts)) >= 2, (starts, boundary_seconds(times, starts))


def test_a_slice_begun_inside_a_crowded_second_is_not_cut_from_a_wrong_position(
    make_company,
) -> None:
    # Seconds of 150 rows (a recurring batch's invoices) after every 60 single ones: a slice
    # whose offset page falls inside one passes over the rest of that second (the slice
    # before's rows, never counted), so where it stands is unknown; cut from its count, the
    # new slice began among rows this one had written, and they were written twice. And
    # that page's time is the crowded second's whatever the rows before it, no measure of
    # the density. Every row once, at the pages the slices' starts need.
    emu, times = stamped_invoices(make_company, 2000, [*[1] * 60, 150])
    starts = sync_and_check(emu, ["invoices"], 4, shared=3)["invoices"]
    assert len(starts) >= 2, "the stream was not read in slices"
    assert max(boundary_seconds(times, starts)) == 150, "no slice began in a crowded second"
