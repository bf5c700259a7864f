"""`make bench`: one company's backfill spends no call beyond the pages it needs (issue 20).

Two shapes of company, BENCH_BACKFILL_SHAPE_SCALE records (default 200,000) each, every request
answered after 250 ms plus 0.05 ms per record, QBO's limits on, the tap run as a process:
- spread: the emulator's usual company, its records over many entities;
- dominant: most records are invoices (the generator's mix weighted to them).

For each: the requests the emulator served, against the requests needed (the pages one keyset
chain per stream reads, from the emulator's ground truth, the batch and report requests, and
the COUNTs that prove a chain's short last page its end); the wall time against QBO's floor for
the requests needed (500 a minute). Limit: 1.15 times that floor.
"""

from __future__ import annotations

import bisect
import contextlib
import json
import math
import os
import re
import tempfile
import time
import typing as t
from pathlib import Path

from qbo_emulator import Emulator
from qbo_emulator.datagen import vocabulary
from scripts.bench import LATENCY_MS, PER_RECORD_MS, QBO_REQUESTS_PER_MINUTE, run_tap
from tap_quickbooks.catalogue import ENTITIES
from tap_quickbooks.paging import record_time, tie_page_size

LIMIT = 1.15  # times the floor
PAGE_SIZE = 1000
COUNTS = re.compile(r"\bcount=(\d+)")
SLICED = re.compile(r"(\w+): reading slices of history at once: slice \d+ from row ([\d,]+)")


def keyset_pages(rows: list[dict], size: int = PAGE_SIZE, starts: t.Sequence[int] = ()) -> int:
    """The pages keyset chains read for these rows, nothing changing while they read: one
    chain, or (``starts``) slices of history beginning at those positions (see paging.py).

    Each page begins at the second the one before ended on; a second fuller than a page is
    read by offsets (pages of paging.tie_page_size rows, stepping back a tenth of one each
    time), then ``>`` that second. A
    slice after the first begins with an offset page; one before another stops on its first
    page that passes the next one's first second."""
    times = sorted(t for r in rows if (t := record_time(r)) is not None)
    # Slices are logged as they start, not in order: a slice cut in two while read is too.
    begins = [0] + [start - 1 for start in sorted(starts) if start - 1 < len(times)]
    ends = [times[b] for b in begins[1:]] + [None]
    return sum(
        _chain_pages(times, size, begin, end, offset=n > 0)
        for n, (begin, end) in enumerate(zip(begins, ends, strict=True))
    )


def _chain_pages(times: list, size: int, start: int, end: t.Any, *, offset: bool) -> int:
    tie = tie_page_size(size)  # as the tap reads a second by offsets (one row a page never ends)
    overlap = max(1, tie // 10)
    pages = 0
    own = times[start] if offset else None  # an offset page's first second: the slice before's
    while True:
        page = times[start : start + size]
        pages += 1
        if end is not None and page and page[-1] > end:
            return pages
        if len(page) < size:
            return pages
        if page[0] == page[-1]:
            if page[0] != own:
                second = bisect.bisect_right(times, page[0]) - bisect.bisect_left(times, page[0])
                position = 1
                while min(tie, second - position + 1) >= tie:
                    pages += 1
                    position += tie - overlap
                pages += 1  # the short page that ends the second
            start = bisect.bisect_right(times, page[0])
            continue
        start = bisect.bisect_left(times, page[-1])


def pages_needed(emu: Emulator, starts: dict[str, list[int]] | None = None) -> int:
    """Every entity stream's pages, read by one chain each (the first of them in the batch),
    or (``starts``, by stream) by the slices that began there."""
    realm = emu.realm_ids[0]
    total = 0
    for entity in ENTITIES:
        with contextlib.suppress(Exception):  # an entity this company cannot have
            rows = emu.ground_truth(realm, entity.name)
            if entity.incremental:
                total += keyset_pages(rows, PAGE_SIZE, (starts or {}).get(entity.stream, ()))
            elif entity.singleton:
                total += 1
            else:  # offsets: a short page is the last
                total += len(rows) // PAGE_SIZE + 1
    return total


@contextlib.contextmanager
def mix(weights: dict[str, float]) -> t.Iterator[None]:
    """The generator's transaction mix, reweighted while a company is generated."""
    saved = dict(vocabulary.TXN_WEIGHTS)
    vocabulary.TXN_WEIGHTS.update(weights)
    try:
        yield
    finally:
        vocabulary.TXN_WEIGHTS.update(saved)


SHAPES = {
    "spread": {},
    "dominant": {"Invoice": 600.0},  # about nine records in ten are invoices
}


def measure(shape: str, scale: int, workdir: Path) -> None:
    print(f"Generating a '{shape}' company of ~{scale:,} records ...", flush=True)
    with mix(SHAPES[shape]):
        emu = Emulator(seed=1, scale=scale, realms=1).start()
    try:
        needed_pages = pages_needed(emu)
        emu.behaviour.latency_ms = LATENCY_MS
        emu.behaviour.per_record_ms = PER_RECORD_MS
        emu.behaviour.rate_limits = True
        emu.reset_counts()
        run = run_tap(emu.tap_config(), None, workdir)
        served = emu.request_counts()
        starts: dict[str, list[int]] = {}
        for stream, row in SLICED.findall((workdir / "err.log").read_text()):
            starts.setdefault(stream, []).append(int(row.replace(",", "")))
        sliced_pages = pages_needed(emu, starts)
    finally:
        emu.stop()
    metered = json.dumps({k: v for k, v in served.items() if k != "token"})
    calls = run["calls"]
    counts = int(m.group(1)) if (m := COUNTS.search(calls)) else 0
    batch_items = int(m.group(1)) if (m := re.search(r"\bbatch=(\d+)", calls)) else 0
    # Requests needed: the pages, the batch call standing for its items, the end proofs and
    # the report requests (one per report, as served).
    needed = needed_pages - batch_items + served.get("batch", 0) + counts + served.get("report", 0)
    sent = sum(n for kind, n in served.items() if kind not in ("token", "throttled"))
    floor = needed / (QBO_REQUESTS_PER_MINUTE / 60)
    ratio = run["seconds"] / floor
    print(f"\n{shape}: {run['records']:,} records, {LATENCY_MS} ms + {PER_RECORD_MS} ms/record")
    print(f"  requests needed    {needed:>10,}  ({needed_pages:,} pages, {counts} COUNTs)")
    print(f"  requests served    {sent:>10,}  (emulator: {metered}) = +{sent - needed} beyond")
    print(f"  tap's count        {calls}")
    cuts = sum(len(v) for v in starts.values())
    print(
        f"  slices             {cuts} after the first, in {len(starts)} streams: their pages "
        f"{sliced_pages:,} (+{sliced_pages - needed_pages} for the rows they share)"
    )
    print(f"  floor              {floor:>10.1f} s  (requests needed / 500 a minute)")
    print(f"  wall time          {run['seconds']:>10.1f} s  = {ratio:.2f} x floor")
    verdict = "within the limit" if ratio <= LIMIT and sent <= needed else "NOT within the limit"
    print(f"  limit              {LIMIT:>10.2f} x floor, no call beyond: {verdict}", flush=True)


def main() -> None:
    scale = int(os.environ.get("BENCH_BACKFILL_SHAPE_SCALE", "200000"))
    shapes = os.environ.get("BENCH_BACKFILL_SHAPES", ",".join(SHAPES)).split(",")
    started = time.monotonic()
    with tempfile.TemporaryDirectory() as tmp:
        for shape in shapes:
            measure(shape, scale, Path(tmp))
    print(f"\n({math.ceil(time.monotonic() - started)} s in all)")


if __name__ == "__main__":
    main()
