"""Pass-through reading and writing (passthrough.py, output.py) on real recorded QBO pages:
the lines written from QBO's bytes say exactly what the ordinary, parsed path says."""

from __future__ import annotations

import datetime as dt
import decimal
import json
from pathlib import Path

import msgspec
import pytest
from singer_sdk.singerlib import RecordMessage, StateMessage

from tap_quickbooks import timefmt
from tap_quickbooks.output import BlockWriter
from tap_quickbooks.paging import metadata_time
from tap_quickbooks.passthrough import (
    RawRecord,
    RawRow,
    UnusualPage,
    read_page,
    rows_from_json,
    rows_to_json,
)

RECORDED = Path(__file__).parent / "fixtures" / "recorded"
QUERY_PAGES = [
    ("Customer", "Customer__qbo_api_query_page_maxresults1000.json"),
    ("Customer", "Customer__qbo_api_query_escaped_apostrophe.json"),
    ("Employee", "Employee__qbo_api_query_including_inactive.json"),
    ("SalesReceipt", "SalesReceipt__qbo_api_query.json"),
    ("Vendor", "Vendor__qbo_api_query_ampersand.json"),
    ("Vendor", "Vendor__qbo_api_query_lastpage.json"),
]
EXTRACTED = dt.datetime(2026, 11, 23, 12, 0, 1, 250000, tzinfo=dt.UTC)


def parsed(content: bytes | str) -> dict:
    return json.loads(content, parse_float=decimal.Decimal)


def added_fields(time_text: str | None, row: dict) -> dict:
    """What the stream's post_process adds to every row."""
    added = {"realm_id": "9130352620621490", "LastUpdatedTime": time_text}
    if row.get("status") == "Deleted":
        added["_sdc_deleted_at"] = time_text
    return added


def written(writer: BlockWriter, capsysbinary: pytest.CaptureFixture[bytes]) -> list[dict]:
    """Every line the writer has written out, once flushed; each must be one JSON object."""
    writer.flush()
    return [parsed(line) for line in capsysbinary.readouterr().out.splitlines()]


@pytest.mark.parametrize(("entity", "name"), QUERY_PAGES)
def test_a_recorded_page_is_written_as_the_parsed_path_writes_it(
    entity: str, name: str, capsysbinary: pytest.CaptureFixture[bytes]
) -> None:
    content = (RECORDED / name).read_bytes()
    ordinary = parsed(content)["QueryResponse"].get(entity, [])
    raw = read_page(entity, content)["QueryResponse"].get(entity, [])
    assert [row["Id"] for row in raw] == [row["Id"] for row in ordinary]

    writer = BlockWriter()
    for raw_row, row in zip(raw, ordinary, strict=True):
        assert isinstance(raw_row, RawRow)
        assert raw_row.time == metadata_time(row)
        assert raw_row.time_text == timefmt.utc_text(metadata_time(row))
        writer.write_raw_record(
            "customers", RawRecord(raw_row, added_fields(raw_row.time_text, row)), 7, EXTRACTED
        )
    raw_lines = written(writer, capsysbinary)

    for row in ordinary:
        time_text = timefmt.utc_text(metadata_time(row))
        record = {**row, **added_fields(time_text, row)}
        message = RecordMessage("customers", record, version=7, time_extracted=EXTRACTED)
        writer.write_message(message)
    assert raw_lines == written(writer, capsysbinary)
    assert all(line["time_extracted"] == "2026-11-23T12:00:01.250000Z" for line in raw_lines)


@pytest.mark.parametrize(
    ("sent", "utc_text"),
    [
        ("2015-07-24T10:35:08-07:00", "2015-07-24T17:35:08+00:00"),
        ("2015-11-01T01:30:00-08:00", "2015-11-01T09:30:00+00:00"),  # after the DST change
        ("2015-07-24T10:35:08.123-07:00", "2015-07-24T17:35:08+00:00"),
        ("2015-07-24T17:35:08Z", "2015-07-24T17:35:08+00:00"),
        ("2015-07-24T17:35:08", "2015-07-24T17:35:08+00:00"),  # no offset: read as UTC
    ],
)
def test_row_times_are_read_as_the_parsed_path_reads_them(sent: str, utc_text: str) -> None:
    content = json.dumps(
        {"QueryResponse": {"Bill": [{"Id": "5", "MetaData": {"LastUpdatedTime": sent}}]}}
    ).encode()
    (row,) = read_page("Bill", content)["QueryResponse"]["Bill"]
    assert row.time_text == utc_text
    assert row.time == metadata_time({"MetaData": {"LastUpdatedTime": sent}})


@pytest.mark.parametrize(
    "row",
    [
        {"Id": "5", "MetaData": {"LastUpdatedTime": "24/07/2015 10:35"}},  # not RFC 3339
        {"Id": "5", "MetaData": "yesterday"},
        {"Id": "5", "realm_id": "1"},  # a field the tap adds: it would be written twice
        {"Id": "5", "_sdc_deleted_at": None},
    ],
)
def test_rows_the_raw_reading_does_not_cover_are_left_to_the_parsed_path(row: dict) -> None:
    content = json.dumps({"QueryResponse": {"Bill": [row]}}).encode()
    with pytest.raises(UnusualPage):
        read_page("Bill", content)


def test_a_cut_short_page_is_an_error_not_fewer_rows() -> None:
    content = (RECORDED / "Vendor__qbo_api_query_ampersand.json").read_bytes()
    with pytest.raises(msgspec.DecodeError):
        read_page("Vendor", content[: len(content) // 2])


def test_spooled_rows_come_back_as_they_were() -> None:
    content = (RECORDED / "Customer__qbo_api_query_page_maxresults1000.json").read_bytes()
    rows = read_page("Customer", content)["QueryResponse"]["Customer"]
    rows[0]["status"] = "Deleted"  # as CDC stubs and deleted query rows carry it
    data, raw = rows_to_json(rows)
    back = rows_from_json(data, raw=raw)
    assert raw
    assert [dict(r) for r in back] == [dict(r) for r in rows]
    assert [(r.time, r.time_text, bytes(r.body)) for r in back] == [
        (r.time, r.time_text, bytes(r.body)) for r in rows
    ]
    ordinary = parsed(content)["QueryResponse"]["Customer"]
    data, raw = rows_to_json(ordinary)
    assert not raw
    assert rows_from_json(data, raw=raw) == ordinary  # money stays Decimal


def test_an_empty_row_and_state_lines(capsysbinary: pytest.CaptureFixture[bytes]) -> None:
    content = b'{"QueryResponse": {"Bill": [{}]}}'
    (row,) = read_page("Bill", content)["QueryResponse"]["Bill"]
    writer = BlockWriter()
    writer.write_raw_record("bills", RawRecord(row, {"realm_id": "1"}), None, EXTRACTED)
    writer.write_message(StateMessage(value={"bookmarks": {}}))  # written out at once
    assert written(writer, capsysbinary) == [
        {
            "type": "RECORD",
            "stream": "bills",
            "record": {"realm_id": "1"},
            "time_extracted": "2026-11-23T12:00:01.250000Z",
        },
        {"type": "STATE", "value": {"bookmarks": {}}},
    ]
