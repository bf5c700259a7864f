"""The keyset paginator against a small model of QBO paging, with data changing between pages.

The model answers each window the way QBO's query endpoint does (every page evaluated afresh,
ties at one second in arbitrary order); between pages, records are updated (moving to the
newest second), deleted, or bulk-stamped with one second. Whatever happens, every record that
existed throughout must be passed on, and every record changed during the sync either arrives
in that sync or lies at or after the final bookmark, where the next run starts.
"""

from __future__ import annotations

import datetime as dt
import random

import pytest

from tap_quickbooks.paging import Bound, KeysetPaginator, Window, record_time
from tap_quickbooks.timefmt import utc_text

T0 = dt.datetime(2024, 3, 9, 12, 0, tzinfo=dt.UTC)
PACIFIC = [dt.timezone(dt.timedelta(hours=-8)), dt.timezone(dt.timedelta(hours=-7))]


class Model:
    """Records as {Id: second}, served as QBO would serve the paginator's windows."""

    def __init__(self, rng: random.Random, size: int, spread: int) -> None:
        self.rng = rng
        self.times = {str(i): rng.randrange(spread) for i in range(1, size + 1)}
        self.now = spread + 1

    def row(self, record_id: str) -> dict:
        instant = T0 + dt.timedelta(seconds=self.times[record_id])
        # QBO writes Pacific offsets, both -08:00 and -07:00 in one page.
        text = instant.astimezone(self.rng.choice(PACIFIC)).isoformat()
        return {"Id": record_id, "MetaData": {"LastUpdatedTime": text}, "v": self.times[record_id]}

    def serve(self, window: Window, size: int) -> list[dict]:
        since = None if window.since is None else int((window.since - T0).total_seconds())
        if window.tie_position is not None:
            ids = sorted((i for i, s in self.times.items() if s == since), key=int)
            start = window.tie_position - 1
            return [self.row(i) for i in ids[start : start + size]]
        ids = [
            i
            for i, s in self.times.items()
            if since is None or s > since or (s == since and not window.strict)
        ]
        # Ties come in an order of QBO's choosing: shuffle within each second.
        ids.sort(key=lambda i: (self.times[i], self.rng.random()))
        start = (window.position or 1) - 1
        return [self.row(i) for i in ids[start : start + size]]

    def mutate(self) -> None:
        roll = self.rng.random()
        if not self.times:
            return
        if roll < 0.5:
            self.times[self.rng.choice(list(self.times))] = self.now
        elif roll < 0.6:
            del self.times[self.rng.choice(list(self.times))]
        elif roll < 0.65:
            for record_id in self.rng.sample(list(self.times), min(len(self.times), 40)):
                self.times[record_id] = self.now
        self.now += self.rng.choice([0, 0, 1])


def sync(model: Model, size: int, since: dt.datetime | None, churn: float) -> tuple[dict, str]:
    """Run one sync; returns {Id: {version: times passed on}} and the final bookmark."""
    paginator = KeysetPaginator(since, size)
    emitted: dict[str, dict[int, int]] = {}
    bookmark = ""
    requests = 0
    while not paginator.finished:
        rows = model.serve(paginator.current_value, size)
        requests += 1
        assert requests < 10_000, "paging did not terminate"
        for row in paginator.admit(rows):
            versions = emitted.setdefault(row["Id"], {})
            versions[row["v"]] = versions.get(row["v"], 0) + 1
            bookmark = max(bookmark, utc_text(record_time(row)))
        paginator.advance(None)
        if model.rng.random() < churn:
            model.mutate()
    return emitted, bookmark


def sliced_sync(model: Model, size: int, starts: list[int], churn: float) -> tuple[dict, str]:
    """One sync read as several chains at once, their pages interleaved, their rows passed
    on chain by chain as the tap writes them: each slice after the first begins with an
    offset page (STARTPOSITION) of the first's query, and the one before stops at its bound."""
    bounds = [Bound() for _ in starts]
    first = KeysetPaginator(None, size, ends_at=bounds[0] if bounds else None)
    first_page = model.serve(first.current_value, size)  # the batch call's, read first
    chains = [first] + [
        KeysetPaginator(None, size, position=start, starts_at=bound, ends_at=[*bounds, None][n + 1])
        for n, (start, bound) in enumerate(zip(starts, bounds, strict=True))
    ]
    pages: list[list[dict]] = [[] for _ in chains]
    # Each slice takes a page in only once the next slice's bound is known (in the tap it
    # waits for it): the offset pages are read last slice first.
    for paginator, rows in reversed(list(zip(chains[1:], pages[1:], strict=True))):
        rows.extend(paginator.admit(model.serve(paginator.current_value, size)))
        paginator.advance(None)
        if model.rng.random() < churn:
            model.mutate()
    pages[0].extend(first.admit(first_page))
    first.advance(None)
    requests = 0
    while not all(p.finished for p in chains):
        for paginator, rows in zip(chains, pages, strict=True):
            if paginator.finished:
                continue
            rows.extend(paginator.admit(model.serve(paginator.current_value, size)))
            paginator.advance(None)
            requests += 1
            assert requests < 10_000, "paging did not terminate"
            if model.rng.random() < churn:
                model.mutate()
    emitted: dict[str, dict[int, int]] = {}
    bookmark = ""
    for row in (row for rows in pages for row in rows):
        versions = emitted.setdefault(row["Id"], {})
        versions[row["v"]] = versions.get(row["v"], 0) + 1
        time = utc_text(record_time(row))
        # The bookmark advances row by row: the slices must come out in time order.
        assert time >= bookmark, f"row {row['Id']} at {time} after {bookmark}"
        bookmark = time
    return emitted, bookmark


def run_and_check(seed: int, sliced: bool) -> None:
    rng = random.Random(seed)
    size = rng.choice([2, 3, 5, 10, 50])
    spread = rng.choice([1, 5, 40, 1000])
    model = Model(rng, size=rng.randrange(0, 300), spread=spread)
    before = dict(model.times)
    churn = rng.choice([0.0, 0.3, 1.0])
    if sliced:
        starts = sorted({rng.randrange(2, len(before) + 5) for _ in range(rng.randrange(1, 5))})
        emitted, bookmark = sliced_sync(model, size, starts, churn)
    else:
        emitted, bookmark = sync(model, size, None, churn)
    after = model.times
    for record_id, second in before.items():
        if record_id not in after:
            continue  # deleted during the sync: CDC's job
        if after[record_id] == second:
            assert second in emitted.get(record_id, {}), f"record {record_id} was skipped"
        else:
            # Changed mid-sync: this run may pass it on, else the next run must find it.
            final = utc_text(T0 + dt.timedelta(seconds=after[record_id]))
            assert emitted.get(record_id) or final >= bookmark, f"{record_id} lost"
    # The same version twice happens only at a page boundary of a changing result.
    repeats = sum(n - 1 for versions in emitted.values() for n in versions.values())
    assert repeats <= max(5, len(before) // 10), f"{repeats} repeats"


@pytest.mark.parametrize("seed", range(60))
def test_nothing_is_lost_while_data_changes(seed: int) -> None:
    run_and_check(seed, sliced=False)


@pytest.mark.parametrize("seed", range(60))
def test_history_read_in_slices_at_once_loses_nothing(seed: int) -> None:
    run_and_check(seed, sliced=True)


def test_a_quiet_sync_passes_each_record_on_once() -> None:
    rng = random.Random(7)
    model = Model(rng, size=500, spread=30)  # ~17 records per second, pages of 10
    emitted, _ = sync(model, 10, None, churn=0.0)
    assert sorted(emitted, key=int) == sorted(model.times, key=int)
    assert all(versions == {model.times[i]: 1} for i, versions in emitted.items())


def test_a_second_shared_by_more_records_than_a_page() -> None:
    rng = random.Random(3)
    model = Model(rng, size=0, spread=1)
    model.times = {str(i): 5 for i in range(1, 2501)}  # a bulk import: 2,500 in one second
    model.times.update({str(i): 9 for i in range(2501, 2511)})
    emitted, bookmark = sync(model, 1000, None, churn=0.0)
    assert len(emitted) == 2510
    assert bookmark == utc_text(T0 + dt.timedelta(seconds=9))


def test_resume_from_bookmark_misses_nothing() -> None:
    rng = random.Random(11)
    model = Model(rng, size=400, spread=100)
    first, bookmark = sync(model, 25, None, churn=0.0)
    for record_id in rng.sample(list(model.times), 30):
        model.times[record_id] = model.now
    resumed = dt.datetime.fromisoformat(bookmark)
    second, _ = sync(model, 25, resumed, churn=0.0)
    for record_id, sec in model.times.items():
        assert sec in first.get(record_id, {}) or sec in second.get(record_id, {})


def page_of(*seconds: int, ids: list[str] | None = None) -> list[dict]:
    ids = ids or [str(n) for n in range(1, len(seconds) + 1)]
    return [
        {"Id": i, "MetaData": {"LastUpdatedTime": (T0 + dt.timedelta(seconds=s)).isoformat()}}
        for i, s in zip(ids, seconds, strict=True)
    ]


def test_pages_the_query_could_not_have_answered_are_doubted() -> None:
    horizon = T0 + dt.timedelta(days=1)
    fresh = KeysetPaginator(None, 3)
    assert fresh.doubt([], horizon) is None  # an empty stream
    assert fresh.doubt(page_of(1, 2, 3), horizon) is None
    assert "out of the window or the order" in fresh.doubt(page_of(1, 3, 2), horizon).reason
    assert "no way to page on" in fresh.doubt([{"Id": "1"}] * 3, horizon).reason
    future = page_of(1, 2, 86400 * 2)
    assert "later than this machine's clock allows" in fresh.doubt(future, horizon).reason
    # After a full page, the next ">=" window holds at least the rows of its first second.
    fresh.admit(page_of(1, 2, 3))
    fresh.advance(None)
    empty = fresh.doubt([], horizon)
    assert empty is not None
    assert empty.empty
    assert "no MetaData" in fresh.doubt([{"Id": "9"}], horizon).reason
    assert "out of the window" in fresh.doubt(page_of(2, ids=["7"]), horizon).reason
    # From a bookmark, the bookmarked row answers the first page; from start_date, nothing must.
    assert KeysetPaginator(T0, 3, expect_rows=True).doubt([], horizon).empty
    assert KeysetPaginator(T0, 3).doubt([], horizon) is None
    # A strict window (after a tie pass) may well be empty; a tie window holds only its second.
    assert KeysetPaginator(T0, 3).doubt(page_of(0), horizon) is None
    tie = Window(T0 + dt.timedelta(seconds=1), tie_position=1)
    paginator = KeysetPaginator(T0, 3)
    paginator._value = tie
    assert "out of the window" in paginator.doubt(page_of(1, 2), horizon).reason
    paginator._value = Window(T0, strict=True)
    assert paginator.doubt([], horizon) is None
    assert "out of the window" in paginator.doubt(page_of(0), horizon).reason
