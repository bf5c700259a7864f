"""Webhooks into syncs (issue 22), offline: the emulator's mutations reach the warehouse
through quickbooks-webhooks and the Dagster ``webhook_sensor``, one run per company and burst;
lost, duplicated and reordered notifications never lose or revert a record."""

from __future__ import annotations

import datetime as dt

import pytest

from quickbooks_orchestrator import definitions as D
from quickbooks_orchestrator.webhook_runs import plan_runs
from tests.webhook_pipeline import WebhookPipeline, change_to_warehouse
from tests.webhook_receiver import cloud_event

STREAMS = ["customers", "invoices", "vendors"]


def test_a_change_reaches_the_warehouse_within_a_minute(tmp_path) -> None:
    with WebhookPipeline(tmp_path, realms=2, scale=40, streams=STREAMS) as pipe:
        assert pipe.differences() == {}  # the backfill
        realm = pipe.emu.realm_ids[1]
        took = change_to_warehouse(pipe, realm, 0)
        print(f"\nwebhook end to end: mutation -> warehouse in {took:.2f} s")
        assert took <= 60
        assert pipe.webhook_runs == {realm: 1}
        assert pipe.failed == []
        assert pipe.differences() == {}
        status = pipe.rx.status()
        assert (status["pending"], status["synced"]) == (0, 1)
