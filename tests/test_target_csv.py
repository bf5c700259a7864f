"""`meltano run tap-csv target-quickbooks`, as a user runs it from this repository's meltano.yml:
sales receipts in a CSV file, pushed to the emulator while it loses answers, read back by the
tap; every check compares with the emulator's ground truth."""

from __future__ import annotations

import csv
import json
import os
import subprocess
from collections import Counter
from decimal import Decimal

import pytest

from scripts import demo
from tests.singer import run_tap
from tests.test_tap_sync import select
from tests.test_target import _ours, ledger_rows, receipts_input, stock_items

RECEIPTS = 300


def csv_rows(records: list[dict], names: dict[str, str]) -> list[dict]:
    """A shop's export: one flat row per receipt, the customer by QBO Id
    (`CustomerRef__value`) or, every third row, by name (`CustomerRef__name`), the lines as
    JSON text, and a column of the shop's own that QBO has no field for."""
    return [
        {
            "DocNumber": r["DocNumber"],
            "TxnDate": r["TxnDate"],
            "CustomerRef__value": "" if n % 3 == 0 else r["CustomerRef"]["value"],
            "CustomerRef__name": names[r["CustomerRef"]["value"]] if n % 3 == 0 else "",
            "Line": json.dumps(r["Line"]),
            "shop_order_id": r["shop_order_id"],
        }
        for n, r in enumerate(records)
    ]


def meltano(*args: str, env: dict) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(demo.MELTANO), "--log-level=info", *args],
        cwd=demo.ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=1200,
        check=False,
    )


@pytest.mark.slow
def test_meltano_runs_tap_csv_into_target_quickbooks_exactly_once(make_company, tmp_path):  # noqa: PLR0915 - one pipeline, told in order
    demo.ensure_meltano()
    emu = make_company()
    emu.writes.configure(lost_after_commit=0.10, fail_before_commit=0.05, requestid_dedup=False)
    records, totals = receipts_input(emu, RECEIPTS)
    qty_before = {i["Id"]: i["QtyOnHand"] for i in stock_items(emu)}
    names = {c["Id"]: c["DisplayName"] for c in emu.ground_truth(None, "Customer")}
    rows = csv_rows(records, names)
    folder = tmp_path / "input"
    folder.mkdir()
    with (folder / "receipts.csv").open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)

    config = {
        **emu.tap_config(),
        "ledger_path": str(tmp_path / "ledger.sqlite"),
        "token_store_path": str(tmp_path / "token.json"),
    }  # the retry settings keep their defaults: Meltano 4.4.1 cannot pass a decimal set by env
    env = {k: v for k, v in os.environ.items() if k != "VIRTUAL_ENV"}
    env |= {"MELTANO_SEND_ANONYMOUS_USAGE_STATS": "false"}
    env["MELTANO_DATABASE_URI"] = f"sqlite:///{tmp_path / 'system.db'}"
    env["TAP_CSV_PATH"] = str(folder)  # the rest of tap-csv's config is meltano.yml's
    env |= {f"TARGET_QUICKBOOKS_{k.upper()}": str(v) for k, v in config.items()}

    installed = meltano("install", "tap-csv", "target-quickbooks", env=env)
    assert installed.returncode == 0, installed.stderr[-3000:]
    run = meltano("run", "tap-csv", "target-quickbooks", env=env)
    assert run.returncode == 0, run.stderr[-3000:]

    outcomes = Counter(outcome for _, _, outcome in emu.writes.log)
    assert outcomes["lost"] >= 1, outcomes  # answers lost after the write committed
    assert outcomes["refused"] >= 1, outcomes  # 503s before it
    ours = _ours(emu)
    assert Counter(r["DocNumber"] for r in ours) == Counter(list(totals))  # each once, all there
    for r in ours:
        assert round(r["TotalAmt"] * 100) == totals[r["DocNumber"]], r["DocNumber"]
        assert "shop_order_id" not in r
        assert "CustomerRef__value" not in r
        assert "CustomerRef__name" not in r
    by_doc = {r["DocNumber"]: r for r in records}
    for r in ours:
        assert r["CustomerRef"]["value"] == by_doc[r["DocNumber"]]["CustomerRef"]["value"]
    sold = Counter()
    for rec in records:
        for line in rec["Line"]:
            detail = line["SalesItemLineDetail"]
            sold[detail["ItemRef"]["value"]] += detail["Qty"]
    for item in stock_items(emu):
        assert item["QtyOnHand"] == qty_before[item["Id"]] - sold[item["Id"]], item["Id"]
    assert len(ledger_rows(config, "written")) == RECEIPTS

    # The tap reads them back: once each, to the cent.
    tap_config = dict(config)
    read = run_tap(tap_config, args=["--catalog", str(select(tap_config, ["sales_receipts"]))])
    assert read.returncode == 0, read.stderr[-2000:]
    back = [r for r in read.records["sales_receipts"] if str(r["DocNumber"]).startswith("WEB-")]
    assert sorted(r["DocNumber"] for r in back) == sorted(totals)
    for r in back:
        assert r["TotalAmt"] == Decimal(totals[r["DocNumber"]]) / 100

    # The same file again: nothing is written, nothing is sent but reads.
    before = emu.request_counts()
    replay = meltano("run", "tap-csv", "target-quickbooks", env=env)
    assert replay.returncode == 0, replay.stderr[-3000:]
    assert f"{RECEIPTS} unchanged" in replay.stderr
    after = emu.request_counts()
    for kind in ("write", "batch"):
        assert after.get(kind, 0) == before.get(kind, 0), kind
    assert Counter(r["DocNumber"] for r in _ours(emu)) == Counter(list(totals))
