"""Nothing silent: what a run is handed (settings, state file, catalog) is used as the user meant
it, or refused with one sentence; never ignored, never a traceback."""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
from pathlib import Path

import pytest

from tests.singer import TapRun, parse_messages, run_tap, strip_tap_fields, tap_command
from tests.test_tap_sync import latest_by_id, select, truth


def run_with_files(config: dict, args: list[str], files: dict[str, str]) -> TapRun:
    """Run the tap with files written as given (state text need not be JSON), named in args
    by their {name}."""
    with tempfile.TemporaryDirectory() as tmp:
        paths = {}
        for name, text in files.items():
            path = Path(tmp) / name
            path.write_text(text)
            paths[name] = str(path)
        command = tap_command(config, None, [a.format(**paths) for a in args], Path(tmp))
        done = subprocess.run(
            command, capture_output=True, text=True, timeout=600, env=dict(os.environ), check=False
        )
    return TapRun(done.returncode, done.stdout, done.stderr, parse_messages(done.stdout))


def discovered(config: dict) -> dict:
    run = run_tap(config, args=["--discover"])
    assert run.returncode == 0, run.stderr[-3000:]
    return json.loads(run.stdout)


def catalog_text(catalog: dict, selected: set[str], renames: dict[str, str] | None = None) -> str:
    """The catalog with only these streams selected, some renamed (a typo, a stale name)."""
    catalog = json.loads(json.dumps(catalog))
    for entry in catalog["streams"]:
        name = (renames or {}).get(entry["tap_stream_id"], entry["tap_stream_id"])
        entry["tap_stream_id"] = entry["stream"] = name
        for meta in entry["metadata"]:
            if meta["breadcrumb"] == []:
                meta["metadata"]["selected"] = name in selected
    return json.dumps(catalog)


# -- the catalog ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def catalog(company) -> dict:
    return discovered(company.tap_config())


def test_a_catalog_selecting_only_streams_the_tap_lacks_fails_with_one_sentence(
    company, catalog
) -> None:
    invoice_lines = {**catalog["streams"][0], "tap_stream_id": "invoice_lines"}
    odd = json.loads(catalog_text(catalog, {"invoice", "invoice_lines"}, {"invoices": "invoice"}))
    odd["streams"].append(invoice_lines)
    text = catalog_text(odd, {"invoice", "invoice_lines"})
    run = run_with_files(company.tap_config(), ["--catalog", "{catalog}"], {"catalog": text})
    assert run.returncode != 0
    assert not run.messages
    assert "Traceback" not in run.stderr
    assert "'invoice' (did you mean 'invoices'?)" in run.stderr
    assert "None of the streams the catalog selects exists" in run.stderr
    assert "stream 'invoice_lines' (selected), which this tap does not have" in run.stderr


def test_unknown_catalog_streams_are_named_and_the_known_ones_run(company, catalog) -> None:
    text = catalog_text(catalog, {"invoice", "customers"}, {"invoices": "invoice"})
    run = run_with_files(company.tap_config(), ["--catalog", "{catalog}"], {"catalog": text})
    assert run.returncode == 0, run.stderr[-3000:]
    assert "stream 'invoice' (selected), which this tap does not have" in run.stderr
    assert "did you mean 'invoices'?" in run.stderr
    realm = company.realm_ids[0]
    got = latest_by_id(run.records["customers"])
    assert {k: strip_tap_fields(v) for k, v in got.items()} == truth(company, realm, "customers")
    assert set(run.records) == {"customers"}


def test_a_catalog_selecting_nothing_says_the_run_extracts_nothing(company, catalog) -> None:
    text = catalog_text(catalog, set())
    run = run_with_files(company.tap_config(), ["--catalog", "{catalog}"], {"catalog": text})
    assert run.returncode == 0, run.stderr[-3000:]
    assert not run.records
    assert "The catalog selects no stream: this run extracts nothing" in run.stderr


# -- the state file ------------------------------------------------------------------------


def state_shapes(first: TapRun) -> dict[str, str]:
    last = [line for line in first.stdout.splitlines() if '"type":"STATE"' in line.replace(" ", "")]
    return {
        "the STATE line": last[-1],
        "the whole output": first.stdout,
        "Meltano's singer_state": json.dumps({"singer_state": first.last_state}),
        "the value": json.dumps(first.last_state),
    }


@pytest.mark.parametrize(
    "shape", ["the STATE line", "the whole output", "Meltano's singer_state", "the value"]
)
def test_state_in_every_shape_users_keep_resumes_from_its_bookmarks(make_company, shape) -> None:
    emu = make_company(seed=21, scale=400)
    realm = emu.realm_ids[0]
    config = emu.tap_config()
    catalog = select(config, ["invoices"])
    first = run_tap(config, args=["--catalog", str(catalog)])
    assert first.returncode == 0, first.stderr[-3000:]
    emu.clock.advance(seconds=5)
    changed = emu.ground_truth(realm, "Invoice")[0]["Id"]
    emu.store(realm).update("Invoice", changed, {"PrivateNote": "changed"})
    second = run_with_files(
        config,
        ["--catalog", str(catalog), "--state", "{state}"],
        {"state": state_shapes(first)[shape]},
    )
    assert second.returncode == 0, second.stderr[-3000:]
    got = latest_by_id(second.records["invoices"])
    # Only the change (and the previous bookmark's boundary rows), not a re-extraction.
    assert (changed, None, None, None) in got
    assert len(second.records["invoices"]) <= 3 < len(first.records["invoices"])
    merged = latest_by_id(first.records["invoices"] + second.records["invoices"])
    assert {k: strip_tap_fields(v) for k, v in merged.items()} == truth(emu, realm, "invoices")


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("garbage\n", "is not JSON"),
        ("", "is empty"),
        ("  \n", "is empty"),
        ("[1, 2]", "holds a list, not a JSON object"),
        ('"bookmarks"', "holds a string, not a JSON object"),
        ('{"type": "RECORD", "stream": "invoices", "record": {}}', "holds a RECORD message"),
        ('{"type":"SCHEMA"}\n{"type":"RECORD"}\n', "holds no STATE message"),
        ('{"type":"STATE","value":{}}\n{"type":"STA', "Line 2 of the state file"),
        ('{"bookmarks": []}', "'bookmarks' that are not an object"),
        (
            '{"bookmarks": {"invoices": {"replication_key_value": "last tuesday"}}}',
            "State bookmark of stream 'invoices' is not a timestamp",
        ),
    ],
)
def test_a_bad_state_file_gets_one_message_naming_it(company, text: str, says: str) -> None:
    run = run_with_files(company.tap_config(), ["--state", "{state}"], {"state": text})
    assert run.returncode == 1
    assert not run.messages
    assert says in run.stderr
    assert "Traceback" not in run.stderr
    assert "Config validation failed" not in run.stderr
    errors = [line for line in run.stderr.splitlines() if "ERROR" in line]
    assert len(errors) == 1, run.stderr
    if "not a timestamp" not in says:
        assert "state file '/" in errors[0]
        assert "leave out --state" in errors[0]


def test_state_for_streams_the_tap_lacks_is_named(company, catalog) -> None:
    state = {
        "bookmarks": {
            "invoice": {"replication_key_value": "2020-01-01T00:00:00Z"},
            "company_info": {},
        },
        "bokmarks": {},
    }
    text = catalog_text(catalog, {"company_info"})
    run = run_with_files(
        company.tap_config(),
        ["--catalog", "{catalog}", "--state", "{state}"],
        {"catalog": text, "state": json.dumps(state)},
    )
    assert run.returncode == 0, run.stderr[-3000:]
    assert "bookmark for stream 'invoice', which this tap does not have" in run.stderr
    assert "did you mean 'invoices'?" in run.stderr
    assert "has a key 'bokmarks' (did you mean 'bookmarks'?)" in run.stderr
    assert "company_info" not in [w for w in run.stderr.splitlines() if "bookmark for" in w]
    assert run.records["company_info"]


# -- settings ------------------------------------------------------------------------------


BAD_SETTINGS = [
    ({"page_size": "abc"}, "config['page_size']"),
    ({"start_date": "yesterday"}, "start_date must be an ISO-8601 date or date-time"),
    ({"request_timeout": "soon"}, "config['request_timeout']"),
    ({"report_lookback_periods": "three"}, "config['report_lookback_periods']"),
]


@pytest.mark.parametrize(("change", "says"), BAD_SETTINGS)
def test_discovery_with_bad_settings_names_each_and_still_lists_the_streams(
    company, change: dict, says: str
) -> None:
    run = run_tap({**company.tap_config(), **change}, args=["--discover"])
    assert "Traceback" not in run.stderr
    assert run.returncode == 0, run.stderr[-3000:]
    problems = [line for line in run.stderr.splitlines() if "Config problem" in line]
    assert len(problems) == 1, run.stderr
    assert says in problems[0]
    assert len(json.loads(run.stdout)["streams"]) >= 40


@pytest.mark.parametrize(("change", "says"), BAD_SETTINGS)
def test_a_sync_with_bad_settings_stops_with_one_message_per_key(
    company, change: dict, says: str
) -> None:
    run = run_tap({**company.tap_config(), **change})
    assert "Traceback" not in run.stderr
    assert run.returncode == 1
    errors = [line for line in run.stderr.splitlines() if "ERROR" in line]
    assert len(errors) == 2, run.stderr  # the problem, then "Config validation failed"
    assert says in errors[0]
    assert not run.messages


@pytest.mark.parametrize("mode", [["--discover"], ["--test"]])
def test_an_unknown_setting_is_named_with_the_close_match(company, mode: list[str]) -> None:
    run = run_tap({**company.tap_config(), "stat_date": "2020-01-01"}, args=mode)
    assert run.returncode == 0, run.stderr[-3000:]
    assert "Unknown setting 'stat_date' (did you mean 'start_date'?)" in run.stderr
