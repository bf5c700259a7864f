"""Shards of companies: which shard a company is in, its state split from its shard's and back,
and a retried run syncing only the companies an earlier attempt did not finish (real tap
processes against the emulator)."""

from __future__ import annotations

import collections
import json
import logging
import shutil
import time

import pytest

from qbo_emulator import Emulator
from quickbooks_orchestrator.partition_state import merged, split
from quickbooks_orchestrator.runner import Settings, ShardFailed, sync_companies
from quickbooks_orchestrator.shards import members, occupied, shard_of
from tests.test_tap_sync import select

LOG = logging.getLogger("test_orchestrator_shards")


def test_a_company_s_shard_is_stable_and_shards_are_even() -> None:
    # sha256, not Python's salted hash: the same shard in every process, on every machine.
    assert shard_of("9130350000000001", 20) == "shard-009"
    realms = [str(9130350000000000 + n) for n in range(2000)]
    sizes = collections.Counter(shard_of(r, 20) for r in realms)
    assert set(sizes) == {f"shard-{n:03d}" for n in range(20)}
    assert max(sizes.values()) < 1.3 * 100
    assert min(sizes.values()) > 0.7 * 100
    assert occupied(realms, 20) == set(sizes)
    assert len(members("shard-003", realms, 20)) == sizes["shard-003"]


def test_a_shard_state_is_its_companies_and_splits_back() -> None:
    one = {  # as a single-company run kept it: bookmarks at the stream's top
        "bookmarks": {"invoices": {"replication_key_value": "2026-01-01T00:00:00Z"}},
        "quickbooks_auth": {"refresh_token": "sealed-1"},
    }
    two = {
        "bookmarks": {
            "invoices": {"partitions": [{"context": {"realm_id": "2"}, "synced_at": "x"}]},
            "items": {"partitions": [{"context": {"realm_id": "2"}, "synced_at": "y"}]},
        },
        "quickbooks_auth": {"companies": {"2": {"refresh_token": "sealed-2"}}},
    }
    state = merged({"1": one, "2": two})
    invoices = state["bookmarks"]["invoices"]["partitions"]
    assert [p["context"]["realm_id"] for p in invoices] == ["1", "2"]
    assert invoices[0]["replication_key_value"] == "2026-01-01T00:00:00Z"
    assert set(state["quickbooks_auth"]["companies"]) == {"1", "2"}
    assert split(state, "2") == two
    assert split(state, "1") == {
        "bookmarks": {
            "invoices": {
                "partitions": [
                    {"context": {"realm_id": "1"}, "replication_key_value": "2026-01-01T00:00:00Z"}
                ]
            }
        },
        "quickbooks_auth": {"companies": {"1": {"refresh_token": "sealed-1"}}},
    }
    assert one["bookmarks"]["invoices"] == {"replication_key_value": "2026-01-01T00:00:00Z"}


@pytest.fixture
def shard(tmp_path):
    with Emulator(seed=24, scale=40, realms=2, now=time.time() - 600) as emu:
        emu.clock.advance(seconds=600)
        app = {k: v for k, v in emu.tap_config().items() if k not in ("realm_id", "refresh_token")}
        catalog = select(emu.tap_config(), ["customers", "items", "sync_status"])
        shutil.copy(catalog, tmp_path / "catalog.json")
        settings = Settings(
            home=tmp_path / "home", app_config=app, catalog=tmp_path / "catalog.json", shards=1
        )
        for realm in emu.realm_ids:
            settings.store.add_company(realm, emu.refresh_token(realm))
        yield emu, settings


def test_a_retry_syncs_only_the_companies_not_finished(shard) -> None:
    emu, settings = shard
    fine, revoked = emu.realm_ids
    emu.oauth.revoke(emu.refresh_token(revoked))
    with pytest.raises(ShardFailed) as failed:
        sync_companies(settings, "shard-000", emu.realm_ids, "run-1", LOG)
    result = failed.value.result
    assert result.companies[fine].finished
    assert not result.companies[revoked].finished
    assert set(result.companies[revoked].statuses.values()) == {"not_authorized"}
    assert not failed.value.retry  # a refused token needs re-authorizing, not a retry
    assert f"1 of 2 company(ies) not finished ({revoked})" in str(failed.value)
    assert settings.store.finished("run-1") == {fine}
    assert (settings.output / fine / "customers.jsonl").exists()
    assert not (settings.output / revoked / "customers.jsonl").exists()  # its sync_status only

    # Re-authorized; the same run tried again reads the company left, and only it.
    settings.store.add_company(revoked, emu.oauth.issue_initial(revoked))
    emu.reset_counts()
    again = sync_companies(settings, "shard-000", emu.realm_ids, "run-1", LOG)
    assert again.skipped == [fine]
    assert list(again.companies) == [revoked]
    assert again.companies[revoked].finished
    assert emu.request_counts(fine) == {}
    assert emu.request_counts(revoked)
    assert (settings.output / revoked / "customers.jsonl").exists()
    # Each company's own bookmarks, kept under its realm_id.
    for realm in emu.realm_ids:
        bookmarks = settings.store.state(realm)["bookmarks"]
        assert {p["context"]["realm_id"] for p in bookmarks["customers"]["partitions"]} == {realm}
    # A new run (not a retry) reads both again, from their bookmarks.
    emu.reset_counts()
    third = sync_companies(settings, "shard-000", emu.realm_ids, "run-2", LOG)
    assert sorted(third.companies) == sorted(emu.realm_ids)
    assert all(c.finished and c.metered for c in third.companies.values())


def test_a_loader_placeholder_it_cannot_fill_is_one_sentence(shard) -> None:
    emu, settings = shard
    settings.loader = ["cat", "{realm_id}"]
    with pytest.raises(Exception, match=r"only \{shard\} and \{output\} are filled in") as raised:
        sync_companies(settings, "shard-000", emu.realm_ids, "run-1", LOG)
    assert not raised.value.retry
    assert json.dumps(emu.request_counts()) == "{}"


def test_a_token_kept_by_a_run_before_shards_is_used(shard) -> None:
    emu, settings = shard
    realm = emu.realm_ids[0]
    # The registry's first token is dead; the newest is where a one-company run kept it.
    emu.oauth.revoke(emu.refresh_token(realm))
    settings.tokens.mkdir(parents=True)
    newest = emu.oauth.issue_initial(realm)
    (settings.tokens / f"{realm}.json").write_text(
        json.dumps(
            {"refresh_token": newest, "realm_id": realm, "updated_at": "2026-01-01T00:00:00Z"}
        )
    )
    result = sync_companies(settings, "shard-000", emu.realm_ids, "run-1", LOG)
    assert all(c.finished for c in result.companies.values())
    assert settings.store.token(realm)  # from now on, the store's copy
