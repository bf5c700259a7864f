"""Answers QBO could not have sent: asked again, refused with a sentence, never taken as an end.

The emulator rewrites one answer (see qbo_emulator.behaviours, "odd answers"); the tap must
still write every record, or stop with one sentence and a state from which the next clean run
misses nothing. The request numbers count from the run's start: with one stream selected and no
state, request 1 is the run plan's batch call (the first page) and 2, 3, ... the next pages.
"""

from __future__ import annotations

import datetime as dt
import json
import time
from pathlib import Path

import pytest

from tap_quickbooks.timefmt import parse_instant
from tests.singer import run_tap, strip_tap_fields
from tests.test_tap_sync import latest_by_id, select, truth

PAGE = {"page_size": 50}


def equals_truth(emu, records: list[dict], stream: str) -> bool:
    got = {k: strip_tap_fields(v) for k, v in latest_by_id(records).items()}
    return got == truth(emu, emu.realm_ids[0], stream)


def invoices_company(make_company, **emulator):
    emu = make_company(seed=11, scale=1000, **emulator)  # 192 invoices: 4 pages of 50
    config = {**emu.tap_config(), **PAGE}
    return emu, config, ["--catalog", str(select(config, ["invoices"]))]


def edit(emu, entity: str, count: int) -> set[str]:
    """Edit ``count`` rows a few seconds later; their Ids."""
    emu.clock.advance(seconds=5)
    realm = emu.realm_ids[0]
    ids = [r["Id"] for r in emu.ground_truth(realm, entity)][:count]
    for row_id in ids:
        emu.store(realm).update(entity, row_id, {"PrivateNote": "edited after the sync"})
    return set(ids)


def edited(run, stream: str, ids: set[str]) -> set[str]:
    return {
        r["Id"]
        for r in run.records.get(stream, [])
        if r["Id"] in ids and r.get("PrivateNote") == "edited after the sync"
    }


@pytest.mark.parametrize(
    "kind",
    [
        "empty_page",
        "gzip_empty",
        "no_metadata",
        "short_page",
        "future_row",
        "disorder",
        "no_id",
        "duplicate_id",
    ],
)
def test_an_odd_page_mid_stream_is_asked_again(make_company, kind: str) -> None:
    emu, config, catalog = invoices_company(make_company)
    emu.behaviour.faults = {3: kind}  # the third page
    run = run_tap(config, None, catalog)
    assert run.returncode == 0, run.stderr[-3000:]
    assert emu.behaviour.injected, "no odd answer was sent"
    assert "QBO's answer cannot be right" in run.stderr
    assert "asking again" in run.stderr
    records = run.records["invoices"]
    assert all(r.get("Id") for r in records)
    assert equals_truth(emu, records, "invoices")
    bookmark = run.last_state["bookmarks"]["invoices"]["replication_key_value"]
    assert parse_instant(bookmark) <= dt.datetime.now(dt.UTC)


def test_an_odd_page_that_persists_stops_the_stream_with_a_sentence(make_company) -> None:
    emu, config, catalog = invoices_company(make_company)
    emu.behaviour.faults = {3: "future_row", 4: "future_row", 5: "future_row"}
    run = run_tap(config, None, catalog)
    assert run.returncode == 1
    assert "Traceback" not in run.stderr
    assert "QBO answered 3 times with row" in run.stderr
    assert "9999-12-30T08:00:00+00:00, later than this machine's clock allows" in run.stderr
    state = run.last_state
    assert "synced_at" not in state["bookmarks"]["invoices"]
    assert not state["bookmarks"]["invoices"]["replication_key_value"].startswith("9999")
    # The next clean run, from that state, brings what the first could not.
    again = run_tap(config, state, catalog)
    assert again.returncode == 0, again.stderr[-3000:]
    assert equals_truth(emu, run.records["invoices"] + again.records["invoices"], "invoices")


def test_an_empty_batch_item_on_a_run_by_query_is_asked_again(make_company) -> None:
    """A stream read by query from an old bookmark (beyond CDC's 30 days): an empty first page
    would end it, and synced_at would then send later runs to CDC from this run's start."""
    emu, config, catalog = invoices_company(make_company)
    first = run_tap(config, None, catalog)
    assert first.returncode == 0, first.stderr[-3000:]
    realm = emu.realm_ids[0]
    old = dt.datetime.now(dt.UTC) - dt.timedelta(days=35)
    times = sorted(
        parse_instant(r["MetaData"]["LastUpdatedTime"]) for r in emu.ground_truth(realm, "Invoice")
    )
    since = max(t for t in times if t < old)  # the bookmark is a row's own time
    unread = sum(1 for t in times if t > since)
    assert unread >= 10, "the test needs rows past the bookmark"
    state = {
        "bookmarks": {
            "invoices": {"replication_key": "LastUpdatedTime", "replication_key_value": str(since)}
        }
    }
    emu.reset_counts()
    emu.behaviour.faults = {1: "batch_empty"}
    second = run_tap(config, state, catalog)
    assert second.returncode == 0, second.stderr[-3000:]
    assert emu.behaviour.injected == [(emu.behaviour.injected[0][0], "batch_empty")]
    assert "asking again" in second.stderr
    merged = first.records["invoices"] + second.records["invoices"]
    assert equals_truth(emu, merged, "invoices")
    assert len({r["Id"] for r in second.records["invoices"]}) >= unread
    # One COUNT told the empty page from a deletion: no more than that was spent on it.
    assert emu.request_counts()["query"] <= -(-unread // 50) + 2


def test_an_empty_page_where_the_bookmarked_row_was_deleted_ends_after_one_count(
    make_company,
) -> None:
    emu = make_company(seed=11, scale=1000)
    config = {**emu.tap_config(), **PAGE}
    # TimeActivity has no CDC: every incremental run reads it by query, from its bookmark.
    catalog = ["--catalog", str(select(config, ["time_activities"]))]
    first = run_tap(config, None, catalog)
    assert first.returncode == 0, first.stderr[-3000:]
    realm = emu.realm_ids[0]
    state = first.last_state["bookmarks"]["time_activities"]
    bookmark = parse_instant(state["replication_key_value"])
    for row in emu.ground_truth(realm, "TimeActivity"):
        if parse_instant(row["MetaData"]["LastUpdatedTime"]) >= bookmark:
            emu.store(realm).delete("TimeActivity", row["Id"])
    emu.reset_counts()
    second = run_tap(config, first.last_state, catalog)
    assert second.returncode == 0, second.stderr[-3000:]
    assert not second.records.get("time_activities")
    counts = emu.request_counts()
    assert counts.get("batch") == 1
    assert counts.get("query") == 1  # the COUNT, and nothing asked again


def test_an_empty_cdc_answer_does_not_hide_changes_from_later_runs(make_company) -> None:
    # QBO's clock an hour behind this machine's, so that the run's start is by QBO's clock.
    emu, config, catalog = invoices_company(make_company, now=time.time() - 3600)
    first = run_tap(config, None, catalog)
    assert first.returncode == 0, first.stderr[-3000:]
    ids = edit(emu, "Invoice", 10)
    emu.clock.advance(seconds=600)  # beyond the run start's margin: edits well before the run
    emu.behaviour.faults = {1: "cdc_empty"}
    second = run_tap(config, first.last_state, catalog)
    assert second.returncode == 0, second.stderr[-3000:]
    assert emu.behaviour.injected, "no odd answer was sent"
    assert not edited(second, "invoices", ids)  # the empty answer looked like a quiet company
    emu.reset_counts()
    third = run_tap(config, second.last_state, catalog)
    assert third.returncode == 0, third.stderr[-3000:]
    assert edited(third, "invoices", ids) == ids
    assert emu.request_counts().get("cdc") == 1


def test_a_cdc_answer_without_cdcresponse_is_not_taken_for_no_changes(make_company) -> None:
    emu, config, catalog = invoices_company(make_company)
    first = run_tap(config, None, catalog)
    assert first.returncode == 0, first.stderr[-3000:]
    ids = edit(emu, "Invoice", 10)
    emu.behaviour.faults = {1: "cdc_none"}
    second = run_tap(config, first.last_state, catalog)
    assert second.returncode == 0, second.stderr[-3000:]
    assert "CDC answered without a CDCResponse" in second.stderr
    assert edited(second, "invoices", ids) == ids  # read by query instead, in the same run


def test_a_server_time_in_the_future_does_not_mark_unread_changes_read(make_company) -> None:
    emu, config, catalog = invoices_company(make_company)
    emu.behaviour.faults = {1: "future_time"}  # the batch answer's time reads 2031
    first = run_tap(config, None, catalog)
    assert first.returncode == 0, first.stderr[-3000:]
    assert "later than this machine's clock" in first.stderr
    synced = parse_instant(first.last_state["bookmarks"]["invoices"]["synced_at"])
    assert synced <= dt.datetime.now(dt.UTC)
    ids = edit(emu, "Invoice", 10)
    second = run_tap(config, first.last_state, catalog)
    assert second.returncode == 0, second.stderr[-3000:]
    assert edited(second, "invoices", ids) == ids


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("replication_key_value", "9999-12-30T00:00:00-08:00"),
        ("replication_key_value", "now"),
        ("synced_at", "2031-06-01T10:00:00+00:00"),
    ],
)
def test_a_bookmark_in_the_future_is_refused_with_a_sentence(
    make_company, field: str, value: str
) -> None:
    _, config, catalog = invoices_company(make_company)
    first = run_tap(config, None, catalog)
    assert first.returncode == 0, first.stderr[-3000:]
    state = json.loads(json.dumps(first.last_state))
    state["bookmarks"]["invoices"][field] = value
    run = run_tap(config, state, catalog)
    assert run.returncode != 0
    assert "Traceback" not in run.stderr
    assert "invoices" in run.stderr
    assert value in run.stderr
    assert not run.records


@pytest.mark.parametrize("field", ["Id", "LastUpdatedTime"])
def test_a_catalog_cannot_deselect_a_key(make_company, field: str) -> None:
    emu, config, catalog = invoices_company(make_company)
    path = Path(catalog[1])
    data = json.loads(path.read_text())
    for entry in data["streams"]:
        for meta in entry["metadata"]:
            if meta["breadcrumb"] == ["properties", field]:
                meta["metadata"] = {"inclusion": "available", "selected": False}
    path.write_text(json.dumps(data))
    run = run_tap(config, None, catalog)
    assert run.returncode == 0, run.stderr[-3000:]
    assert f"the catalog deselects '{field}'" in run.stderr
    records = run.records["invoices"]
    assert all(r.get(field) for r in records)
    assert equals_truth(emu, records, "invoices")
    assert run.last_state["bookmarks"]["invoices"]["replication_key_value"]


def test_a_short_page_mid_stream_is_not_taken_as_the_end(make_company) -> None:
    """A page cut short whose maxResults agrees looks like the last: QBO's COUNT of the rows
    after it tells the lie from the end, and it is asked again."""
    emu, config, catalog = invoices_company(make_company)
    emu.reset_counts()
    emu.behaviour.faults = {3: "short_honest"}  # the third page: 25 of 50 rows
    run = run_tap(config, None, catalog)
    assert run.returncode == 0, run.stderr[-3000:]
    assert emu.behaviour.injected, "no odd answer was sent"
    assert "a short page of 25 rows" in run.stderr
    assert "asking again" in run.stderr
    assert equals_truth(emu, run.records["invoices"], "invoices")
    # Pages 2-4 (the first came in the batch), the short one again, and its COUNT. The true
    # last page needs none: its last row is stamped after the run began (as the company's
    # newest invoice is).
    assert emu.request_counts()["query"] == 3 + 1 + 1
    # synced_at was earned: changes made after it reach the next run (through CDC).
    ids = edit(emu, "Invoice", 10)
    second = run_tap(config, run.last_state, catalog)
    assert second.returncode == 0, second.stderr[-3000:]
    assert edited(second, "invoices", ids) == ids


def test_a_short_page_that_persists_stops_the_stream_and_the_next_run_reads_on(
    make_company,
) -> None:
    emu, config, catalog = invoices_company(make_company)
    # Request 4 is the COUNT, asked once; 5 and 6 ask for the third page again.
    emu.behaviour.faults = {3: "short_honest", 5: "short_honest", 6: "short_honest"}
    run = run_tap(config, None, catalog)
    assert run.returncode == 1
    assert "Traceback" not in run.stderr
    assert "QBO answered 3 times with a short page of 25 rows" in run.stderr
    state = run.last_state
    assert "synced_at" not in state["bookmarks"]["invoices"]
    again = run_tap(config, state, catalog)
    assert again.returncode == 0, again.stderr[-3000:]
    assert equals_truth(emu, run.records["invoices"] + again.records["invoices"], "invoices")


def test_a_short_first_page_of_a_stream_no_run_completed_is_proven_too(make_company) -> None:
    """A run stopped on a short page leaves a bookmark and no synced_at; the next run's first
    page (from the batch) cut short the same way must not end the stream either."""
    emu, config, catalog = invoices_company(make_company)
    emu.behaviour.faults = {3: "short_honest", 5: "short_honest", 6: "short_honest"}
    run = run_tap(config, None, catalog)
    assert run.returncode == 1
    state = run.last_state
    assert "synced_at" not in state["bookmarks"]["invoices"]
    emu.behaviour.faults = {1: "short_honest"}  # the resumed run's batch call
    emu.behaviour.injected = []
    again = run_tap(config, state, catalog)
    assert again.returncode == 0, again.stderr[-3000:]
    assert emu.behaviour.injected, "no odd answer was sent"
    assert "a short page of" in again.stderr
    assert equals_truth(emu, run.records["invoices"] + again.records["invoices"], "invoices")


@pytest.mark.parametrize(("idle_days", "counts"), [(0, 0), (3, 1)])
def test_a_clean_full_read_counts_only_an_end_older_than_the_run(
    make_company, idle_days: int, counts: int
) -> None:
    # QBO's clock a few days behind this machine's, then that many days without an edit.
    emu, config, catalog = invoices_company(make_company, now=time.time() - 4 * 86400)
    emu.clock.advance(days=idle_days)
    emu.reset_counts()
    run = run_tap(config, None, catalog)
    assert run.returncode == 0, run.stderr[-3000:]
    assert "asking again" not in run.stderr
    assert equals_truth(emu, run.records["invoices"], "invoices")
    assert emu.request_counts()["query"] == 3 + counts  # pages 2-4, and the COUNT if any
    assert f"count={counts}" in run.stderr if counts else "count=" not in run.stderr


@pytest.mark.parametrize("times", [1, 2])
def test_a_cdc_answer_that_leaves_out_an_entity_is_asked_again_or_read_by_query(
    make_company, times: int
) -> None:
    emu = make_company(seed=11, scale=1000)
    config = {**emu.tap_config(), **PAGE}
    catalog = ["--catalog", str(select(config, ["customers", "invoices"]))]
    first = run_tap(config, None, catalog)
    assert first.returncode == 0, first.stderr[-3000:]
    customers, invoices = edit(emu, "Customer", 5), edit(emu, "Invoice", 10)
    # CDC's answer without Customer (not even its {}); asked again, it is left out again.
    emu.behaviour.faults = dict.fromkeys(range(1, times + 1), "cdc_drop")
    second = run_tap(config, first.last_state, catalog)
    assert second.returncode == 0, second.stderr[-3000:]
    assert len(emu.behaviour.injected) == times
    assert "CDC's answer cannot be right: it leaves out Customer" in second.stderr
    follow = "asking again for them" if times == 1 else "reading them by query this run"
    assert follow in second.stderr
    assert edited(second, "customers", customers) == customers
    assert edited(second, "invoices", invoices) == invoices
    # Nothing marked read that was not: the next run's CDC finds the next edits.
    later = edit(emu, "Customer", 3)
    third = run_tap(config, second.last_state, catalog)
    assert third.returncode == 0, third.stderr[-3000:]
    assert edited(third, "customers", later) == later


def test_an_empty_batch_item_on_a_first_run_is_counted_and_asked_again(make_company) -> None:
    """Never read before, the stream has no bookmark to expect rows from: QBO's COUNT (once)
    tells an empty company from an empty answer."""
    emu, config, catalog = invoices_company(make_company)
    emu.reset_counts()
    emu.behaviour.faults = {1: "batch_empty"}
    run = run_tap(config, None, catalog)
    assert run.returncode == 0, run.stderr[-3000:]
    assert emu.behaviour.injected, "no odd answer was sent"
    assert "an empty first page of a stream never read before" in run.stderr
    assert equals_truth(emu, run.records["invoices"], "invoices")
    assert emu.request_counts()["query"] == 1 + 4  # the COUNT, then the 4 pages by query


def test_a_stream_with_no_rows_costs_one_count_on_its_first_run_only(make_company) -> None:
    emu = make_company(seed=11, scale=1000)
    realm = emu.realm_ids[0]
    for row in emu.ground_truth(realm, "TimeActivity"):
        emu.store(realm).delete("TimeActivity", row["Id"])
    config = {**emu.tap_config(), **PAGE}
    catalog = ["--catalog", str(select(config, ["time_activities"]))]
    emu.reset_counts()
    first = run_tap(config, None, catalog)
    assert first.returncode == 0, first.stderr[-3000:]
    assert not first.records.get("time_activities")
    assert emu.request_counts()["query"] == 1  # the COUNT
    emu.reset_counts()
    second = run_tap(config, first.last_state, catalog)
    assert second.returncode == 0, second.stderr[-3000:]
    assert emu.request_counts().get("query", 0) == 0  # no COUNT: the batch page alone
