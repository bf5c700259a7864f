"""A long stream read as slices of history at once costs the calls of its pages, no more.

Each run is the tap as a process against the emulator; the calls it cost are the emulator's
own count of requests served, and the pages it needed are worked out from the emulator's
ground truth: the pages one keyset chain reads with nothing changing (see paging.py), plus
the end proofs (COUNT) that chain needs. No wall time is judged.
"""

from __future__ import annotations

import re

import pytest

from scripts.bench_backfill import keyset_pages
from tap_quickbooks.catalogue import BY_STREAM
from tap_quickbooks.readahead import next_start
from tests.singer import run_tap
from tests.test_tap_sync import latest_by_id, select, truth

SLICED = re.compile(r"(\w+): reading slices of history at once: slice \d+ from row ([\d,]+)")
COUNTS = re.compile(r"API calls this run: .*\bcount=(\d+)")


def sync_and_check(emu, streams: list[str], page_size: int) -> dict[str, list[int]]:
    """One full sync of ``streams``, every row written once; checks that it cost only the
    pages its slices needed. Returns where each stream's slices began."""
    realm = emu.realm_ids[0]
    config = {**emu.tap_config(), "page_size": page_size}
    catalog = select(config, streams)
    emu.reset_counts()
    run = run_tap(config, args=["--catalog", str(catalog)])
    assert run.returncode == 0, run.stderr[-3000:]
    served = emu.request_counts()
    rows = {s: emu.ground_truth(realm, BY_STREAM[s].name) for s in streams}
    for stream in streams:  # every row once, none left out
        assert len(run.records[stream]) == len(rows[stream])
        assert set(latest_by_id(run.records[stream])) == set(truth(emu, realm, stream))
    starts: dict[str, list[int]] = {s: [] for s in streams}
    for match in SLICED.finditer(run.stderr):
        starts[match.group(1)].append(int(match.group(2).replace(",", "")))
    needed = sum(keyset_pages(rows[s], page_size, starts[s]) for s in streams)
    one_chain = sum(keyset_pages(rows[s], page_size) for s in streams)
    # The batch call brings each stream's first page; every other query is a page, or the
    # one COUNT a stream needs to prove its short last page the end (not one a slice).
    counts = int(m.group(1)) if (m := COUNTS.search(run.stderr)) else 0
    assert counts <= len(streams)
    assert served["batch"] == 1
    assert served["query"] - counts + len(streams) == needed, (served, needed, counts)
    # The rows two slices share cost a page at most per slice, over one chain's pages.
    assert needed <= one_chain + sum(len(s) for s in starts.values())
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
