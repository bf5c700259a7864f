"""What every process and every company costs before any record: the work done once, not again
per company or per STATE, and the same results as the SDK's slower way."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys

import pendulum
import pytest
from singer_sdk import singerlib

from tap_quickbooks import timefmt
from tap_quickbooks.catalog import ConvertedOnce, inline_definitions, input_catalog
from tap_quickbooks.catalogue import BY_STREAM
from tap_quickbooks.client import record_schema
from tap_quickbooks.output import state_line
from tap_quickbooks.report_periods import _year_before
from tap_quickbooks.schemas import entity_schema


def test_discovery_and_about_import_neither_pendulum_nor_cryptography() -> None:
    """Each is needed only to read an odd time or a report period, or to seal a token."""
    code = (
        "import sys, tap_quickbooks.tap; "
        "print([m for m in ('pendulum', 'cryptography.fernet') if m in sys.modules])"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


def pendulums_reading(text: str) -> dt.datetime:
    """parse_instant as it was: pendulum for every text."""
    parsed = pendulum.parse(text, exact=True)
    if not isinstance(parsed, dt.datetime):
        parsed = pendulum.datetime(parsed.year, parsed.month, parsed.day, tz="UTC")
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=dt.UTC)
    return dt.datetime.fromtimestamp(parsed.timestamp(), tz=dt.UTC)


@pytest.mark.parametrize(
    "text",
    [
        "2024-01-01",
        "2024-02-29",
        "2024-01-01T00:00:00Z",
        "2024-06-01T12:34:56",
        "2024-06-01T12:34:56-07:00",
        "2024-06-01T12:34:56+05:30",
        "2024-06-01T12:34:56.123Z",
        "2024-06-01T12:34:56.123456+00:00",
        "2024-06-01T12:34:56.5-08:00",
        "2024-06-01T12:34",  # not a plain shape: pendulum reads it
        "20240601T123456Z",
    ],
)
def test_plain_times_read_without_pendulum_as_pendulum_reads_them(text: str) -> None:
    assert timefmt.parse_instant(text) == pendulums_reading(text)
    assert timefmt.parse_instant(text).tzinfo is dt.UTC


@pytest.mark.parametrize("text", ["2023-02-29", "2024-13-01", "2024-06-01T25:00:00Z", "now"])
def test_impossible_times_are_still_refused(text: str) -> None:
    with pytest.raises(ValueError):  # noqa: PT011 - pendulum's ParserError is a ValueError
        timefmt.parse_instant(text)


@pytest.mark.parametrize(
    "day", [dt.date(2024, 2, 29), dt.date(2024, 3, 31), dt.date(2025, 1, 1), dt.date(2023, 2, 28)]
)
def test_a_year_before_is_pendulums_twelve_months_before(day: dt.date) -> None:
    expected = pendulum.Date(day.year, day.month, day.day).subtract(months=12)
    assert _year_before(day) == dt.date(expected.year, expected.month, expected.day)


def test_every_companys_stream_of_an_entity_shares_one_schema() -> None:
    entity = BY_STREAM["invoices"]
    assert record_schema(entity) is record_schema(entity)
    added = {"realm_id", "LastUpdatedTime", "_sdc_deleted_at"}
    assert record_schema(entity)["properties"].keys() == (
        added | entity_schema("Invoice")["properties"].keys()
    )


def test_an_input_catalogs_schemas_are_converted_once_as_the_sdk_converts_them() -> None:
    schema = {
        "type": "object",
        "properties": {
            "Id": {"type": ["string"]},
            "Line": {"type": ["array", "null"], "items": {"$ref": "#/definitions/Line"}},
        },
        "x-not-standard": True,  # dropped by the SDK's conversion: dropped here too
    }
    catalog = {
        "streams": [{"tap_stream_id": "invoices", "schema": schema, "metadata": []}],
        "definitions": {"Line": {"type": "object", "properties": {"Amount": {"type": "number"}}}},
    }
    parsed = input_catalog(catalog, lambda _: None)
    assert isinstance(parsed, singerlib.Catalog)
    entry = parsed.get_stream("invoices")
    assert entry is not None
    assert isinstance(entry.schema, ConvertedOnce)
    sdk = singerlib.Catalog.from_dict(inline_definitions(catalog)).get_stream("invoices")
    assert sdk is not None
    assert entry.schema.to_dict() == sdk.schema.to_dict()
    assert entry.schema.to_dict() is entry.schema.to_dict()  # once, for every company
    assert "x-not-standard" not in entry.schema.to_dict()


def test_what_is_not_a_catalog_is_left_for_the_sdk_to_refuse() -> None:
    assert input_catalog(None, lambda _: None) is None
    odd = {"streams": [{"schema": {}}]}  # no tap_stream_id
    assert input_catalog(odd, lambda _: None) == odd


def test_a_state_line_is_the_state_message_as_json() -> None:
    line = state_line({"bookmarks": {"invoices": {"replication_key_value": "2024-01-01"}}})
    assert line == (
        b'{"type":"STATE","value":{"bookmarks":{"invoices":'
        b'{"replication_key_value":"2024-01-01"}}}}'
    )


def test_a_catalog_schema_equal_to_the_taps_is_taken_as_the_taps_own() -> None:
    """Meltano hands the discovered catalog back: its schemas are the tap's, which the SDK's
    conversion leaves as they are, so the tap's own dict serves for them."""
    for entity in BY_STREAM.values():
        schema = record_schema(entity)
        assert singerlib.Schema.from_dict(schema).to_dict() == schema
    invoices = record_schema(BY_STREAM["invoices"])
    streams = [
        {"tap_stream_id": "invoices", "schema": json.loads(json.dumps(invoices)), "metadata": []}
    ]
    own = {"invoices": invoices}.get
    entry = input_catalog({"streams": streams}, own).get_stream("invoices")
    assert entry.schema.to_dict() is invoices
    changed = json.loads(json.dumps(invoices))
    changed["properties"]["Extra"] = {"type": ["string", "null"]}
    streams[0]["schema"] = changed
    entry = input_catalog({"streams": streams}, own).get_stream("invoices")
    assert "Extra" in entry.schema.to_dict()["properties"]
