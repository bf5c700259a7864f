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


def test_progress_lines_and_a_summary_table(company) -> None:
    config = {**company.tap_config(), "page_size": 25, "progress_interval": 0}
    catalog = select(config, ["invoices", "customers"])
    run = run_tap(config, args=["--catalog", str(catalog)])
    assert run.returncode == 0, run.stderr[-3000:]
    lines = [
        line.split("Progress: ", 1)[1] for line in run.stderr.splitlines() if "Progress: " in line
    ]
    invoices = [line for line in lines if line.startswith("invoices: ")]
    assert len(invoices) >= 3  # one a page, with the interval at 0
    counts = [
        int(line.split(" records")[0].removeprefix("invoices: ").replace(",", ""))
        for line in invoices
    ]
    assert counts == sorted(counts)
    assert "API calls" in invoices[-1]
    assert "waited for rate limits" in invoices[-1]
    table = [
        line.split("Run summary: ", 1)[1]
        for line in run.stderr.splitlines()
        if "Run summary: " in line
    ]
    row = next(line.split() for line in table if line.startswith("invoices "))
    assert int(row[1].replace(",", "")) == len(run.records["invoices"])


def test_a_rough_page_estimate_is_not_shown() -> None:
    """A first page of rows created in one second made the plan estimate 500,308 pages."""
    import logging

    from tap_quickbooks.progress import Progress

    progress = Progress(logging.getLogger("test"), 60, calls=lambda: 3, waited=lambda: 0.0)
    progress.page("customers", 1000, expected_pages=500_308)
    assert "500,308" not in progress.line("customers", 500_308)
    assert "of about 40 pages" in progress.line("customers", 40)


def test_the_plans_estimate_does_not_alarm() -> None:
    from tap_quickbooks.tap import page_estimate

    assert page_estimate(37.2) == "about 38 pages"
    assert "500,308" not in page_estimate(500_308)
    assert "500308" not in page_estimate(500_308)
