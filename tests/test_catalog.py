"""The discovered catalog: small enough for Meltano's walk, complete, and selectable."""

from __future__ import annotations

import json
from pathlib import Path

from tap_quickbooks.catalog import catalog_text, discovered, inline_definitions, with_definitions
from tap_quickbooks.catalogue import ENTITIES
from tap_quickbooks.schemas import entity_schema
from tap_quickbooks.tap import TapQuickBooks
from tests.singer import run_tap

ONE_MB = 1_000_000


def discover(config: dict) -> str:
    run = run_tap(config, args=["--discover"])
    assert run.returncode == 0, run.stderr[-2000:]
    return run.stdout


def test_catalog_is_small_and_readable_line_by_line(company) -> None:
    text = discover(company.tap_config())
    assert len(text.encode()) <= ONE_MB  # it was 10.2 MB
    # Meltano reads discovery output a line at a time and hangs on a line over 64 KiB.
    assert max(len(line) for line in text.splitlines()) < 64 * 1024
    catalog = json.loads(text)
    crumbs = [m["breadcrumb"] for s in catalog["streams"] for m in s["metadata"]]
    assert all(len(b) <= 2 for b in crumbs)  # the stream and its top-level properties
    assert len(crumbs) < 2_500  # it was 7,380


def test_catalog_schemas_are_complete(company) -> None:
    catalog = inline_definitions(json.loads(discover(company.tap_config())))
    by_id = {s["tap_stream_id"]: s for s in catalog["streams"]}
    for entity in ENTITIES:
        declared = by_id[entity.stream]["schema"]["properties"]
        # Every field the schema module declares, at every depth, is in the catalog.
        for name, prop in entity_schema(entity.name)["properties"].items():
            assert declared[name] == prop, (entity.stream, name)


def test_the_discovered_catalog_is_the_sdks(company) -> None:
    """The tap builds its catalog without the SDK's Schema round trip: same catalog."""
    tap = TapQuickBooks(config=company.tap_config(), validate_config=False)
    assert discovered(tap.streams.values()) == tap.catalog_dict


def test_definitions_round_trip_exactly() -> None:
    schema = entity_schema("RecurringTransaction")
    compact = with_definitions(schema)
    assert len(json.dumps(compact)) < len(json.dumps(schema)) / 5
    catalog = {"streams": [{"tap_stream_id": "x", "schema": compact, "metadata": []}]}
    assert inline_definitions(catalog)["streams"][0]["schema"] == schema


def test_streams_share_one_set_of_definitions() -> None:
    """Objects recur across streams (Ref, MetaData, whole transactions inside recurring ones):
    the catalog holds each once, and every stream's schema comes back exactly."""
    names = ["Invoice", "Estimate", "RecurringTransaction"]
    streams = [{"tap_stream_id": n, "schema": entity_schema(n), "metadata": []} for n in names]
    text = catalog_text({"streams": streams})
    written = json.loads(text)
    assert all("definitions" not in s["schema"] for s in written["streams"])
    assert "MetaData" in written["definitions"]
    one_by_one = sum(len(json.dumps(with_definitions(entity_schema(n)))) for n in names)
    assert len(json.dumps(written)) < one_by_one * 0.7
    back = inline_definitions(written)
    assert [s["schema"] for s in back["streams"]] == [entity_schema(n) for n in names]
    assert "definitions" not in back


def test_a_runners_override_beside_a_reference_wins() -> None:
    """Meltano's `schema:` extra on a nested field adds `properties` beside the `$ref` (and
    replaces a top-level property whole): the field takes the override, its siblings stay."""
    schema = entity_schema("Invoice")
    written = json.loads(catalog_text({"streams": [{"tap_stream_id": "i", "schema": schema}]}))
    meta = written["streams"][0]["schema"]["properties"]["MetaData"]
    assert set(meta) == {"$ref"}
    meta["properties"] = {"CreateTime": {"type": ["string", "null"]}}
    back = inline_definitions(written)["streams"][0]["schema"]["properties"]["MetaData"]
    want = schema["properties"]["MetaData"]
    assert back["properties"]["CreateTime"] == {"type": ["string", "null"]}
    assert back["properties"]["LastUpdatedTime"] == want["properties"]["LastUpdatedTime"]
    assert set(back["properties"]) == set(want["properties"])


def test_a_discovered_catalog_selects_streams_and_fields(company, tmp_path: Path) -> None:
    """Discover, select invoices without one field, run with that catalog: the SCHEMA message
    is the whole schema (references resolved) minus that field, and so are the records."""
    config = company.tap_config()
    catalog = json.loads(discover(config))
    for entry in catalog["streams"]:
        for meta in entry["metadata"]:
            if meta["breadcrumb"] == []:
                meta["metadata"]["selected"] = entry["tap_stream_id"] == "invoices"
            if entry["tap_stream_id"] == "invoices" and meta["breadcrumb"] == [
                "properties",
                "CustomerMemo",
            ]:
                meta["metadata"]["selected"] = False
    path = tmp_path / "catalog.json"
    path.write_text(json.dumps(catalog))
    run = run_tap(config, args=["--catalog", str(path)])
    assert run.returncode == 0, run.stderr[-3000:]
    assert set(run.records) == {"invoices"}
    schema = run.schemas["invoices"]["schema"]
    assert "$ref" not in json.dumps(schema)
    want = entity_schema("Invoice")["properties"]
    assert schema["properties"]["Line"] == want["Line"]
    assert "CustomerMemo" not in schema["properties"]
    assert all("CustomerMemo" not in r for r in run.records["invoices"])
    assert len(run.records["invoices"]) == len(
        company.ground_truth(company.realm_ids[0], "Invoice")
    )
