"""What a user sees around a run: no stray warnings, one verdict per --test."""

from __future__ import annotations

import json

from tests.singer import run_tap
from tests.test_tap_sync import select


def test_spool_files_are_closed(company) -> None:
    """Pages that wait for their stream's turn go to spool files; each is closed when its
    stream is done (Meltano showed one `ResourceWarning: unclosed file` per spool)."""
    config = {**company.tap_config(), "page_size": 20}
    catalog = select(config, ["invoices", "customers", "items", "payments", "bills"])
    run = run_tap(
        config, args=["--catalog", str(catalog)], env={"PYTHONWARNINGS": "always::ResourceWarning"}
    )
    assert run.returncode == 0, run.stderr[-3000:]
    assert sum(len(r) for r in run.records.values()) > 200
    assert "unclosed file" not in run.stderr
    assert "ResourceWarning" not in run.stderr


def test_connection_test_gives_its_verdict_once(company) -> None:
    run = run_tap(company.tap_config(), args=["--test"])
    assert run.returncode == 0, run.stderr[-2000:]
    assert (run.stdout + run.stderr).count("Connection test OK") == 1


def test_record_test_logs_no_error_for_its_own_limit(company) -> None:
    """`--test=record` syncs one record of each stream; the SDK stops a stream there by
    raising, which is not an error and must not be logged as one."""
    run = run_tap(company.tap_config(), args=["--test=record"])
    assert run.returncode == 0, run.stderr[-2000:]
    assert "An unhandled error occurred" not in run.stderr
    assert " ERROR " not in run.stderr
    assert len(run.records) >= 41
    assert "Test sync OK" in run.stderr


def request_metrics(stderr: str) -> list[dict]:
    points = []
    for line in stderr.splitlines():
        if "METRIC: " in line and "http_request_duration" in line:
            points.append(json.loads(line.split("METRIC: ", 1)[1]))
    return points


def test_plan_calls_are_the_runs_and_name_their_endpoint(company) -> None:
    """The run plan's batch and CDC calls were logged under the stream `accounts` with its
    `/query` endpoint. A run after one with nothing changed makes just those two calls."""
    first = run_tap(company.tap_config())
    assert first.returncode == 0, first.stderr[-2000:]
    tags = [(p["tags"]["stream"], p["tags"]["endpoint"]) for p in request_metrics(first.stderr)]
    assert ("run plan", "/batch") in tags
    assert all(endpoint in ("/batch", "/cdc") for stream, endpoint in tags if stream == "run plan")
    second = run_tap(company.tap_config(), state=first.last_state)
    assert second.returncode == 0, second.stderr[-2000:]
    tags = [(p["tags"]["stream"], p["tags"]["endpoint"]) for p in request_metrics(second.stderr)]
    assert sorted(tags) == [("run plan", "/batch"), ("run plan", "/cdc")]
