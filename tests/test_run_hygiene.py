"""What a user sees around a run: no stray warnings, one verdict per --test."""

from __future__ import annotations

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
