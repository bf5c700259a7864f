"""Shards of companies: which shard a company is in, its state split from its shard's and back,
and a retried run syncing only the companies an earlier attempt did not finish (real tap
processes against the emulator)."""

from __future__ import annotations

import collections
import datetime as dt
import json
import logging
import shutil
import sys
import threading
import time

import pytest

from qbo_emulator import Emulator
from quickbooks_orchestrator.partition_state import merged, split
from quickbooks_orchestrator.runner import Settings, ShardFailed, sync_companies
from quickbooks_orchestrator.shards import members, occupied, shard_of
from tap_quickbooks.auth import TokenFile, TokenSealer
from tap_quickbooks.company import AUTH_STATE_KEY
from tests.singer import parse_messages
from tests.test_orchestrator import counting_batch_items, metered_served, usage_since
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
    kept_at = dt.datetime.now(dt.UTC).isoformat()  # after the company was added
    (settings.tokens / f"{realm}.json").write_text(
        json.dumps({"refresh_token": newest, "realm_id": realm, "updated_at": kept_at})
    )
    result = sync_companies(settings, "shard-000", emu.realm_ids, "run-1", LOG)
    assert all(c.finished for c in result.companies.values())
    assert settings.store.token(realm)  # from now on, the store's copy
    # Re-authorized (its chain revoked, say): the file of before shards is not used again.
    emu.oauth.revoke(settings.store.token(realm))
    reauthorized = emu.oauth.issue_initial(realm)
    settings.store.add_company(realm, reauthorized)
    result = sync_companies(settings, "shard-000", emu.realm_ids, "run-2", LOG)
    assert all(c.finished for c in result.companies.values())
    kept = settings.store.token(realm)
    assert emu.oauth.refresh[kept].chain == emu.oauth.refresh[reauthorized].chain


def sealed_state(settings: Settings, realm: str, token: str, stamped: dt.datetime) -> dict:
    """A company's state as runs kept it before the store took their sealed tokens out."""
    sealer = TokenSealer(settings.app_config["client_id"], settings.app_config["client_secret"])
    sealed = {"refresh_token": sealer.seal(token), "updated_at": stamped.isoformat()}
    return {**settings.store.state(realm), AUTH_STATE_KEY: {"companies": {realm: sealed}}}


def test_a_company_added_again_is_synced_on_its_new_token_not_the_chain_it_replaced(shard):
    emu, settings = shard
    realm = emu.realm_ids[0]
    sync_companies(settings, "shard-000", emu.realm_ids, "run-1", LOG)
    old_chain = settings.store.token(realm)
    assert AUTH_STATE_KEY not in settings.store.state(realm), "tokens live in the store alone"
    # A state kept before that, with a sealed copy of the chain, stamped by a machine whose
    # clock is 2 days ahead: later than the re-authorization below all the same.
    ahead = dt.datetime.now(dt.UTC) + dt.timedelta(days=2)
    settings.store.save_state(realm, sealed_state(settings, realm, old_chain, ahead))
    # Re-authorized (new scopes, say): a second chain. The first, in this machine's token
    # file and in the company's state, still works, but is not to be used again (nothing
    # would refresh the new one, which would die unused in 100 days).
    reauthorized = emu.oauth.issue_initial(realm)
    settings.store.add_company(realm, reauthorized)
    emu.clock.advance(seconds=2 * 86_400)  # both chains rotate on their next refresh
    result = sync_companies(settings, "shard-000", emu.realm_ids, "run-2", LOG)
    assert all(c.finished for c in result.companies.values())
    kept = settings.store.token(realm)
    assert kept != reauthorized, "rotated by the run"
    chain = emu.oauth.refresh[kept].chain
    assert chain == emu.oauth.refresh[reauthorized].chain != emu.oauth.refresh[old_chain].chain
    assert TokenFile(settings.token_file, realm, keyed=True).read().token == kept


def test_a_token_file_of_before_shards_beats_the_older_copy_its_state_kept(shard) -> None:
    # A one-company run of before shards rotated its token into its file, then stopped
    # before its state (holding the token before, sealed) was confirmed again.
    emu, settings = shard
    realm = emu.realm_ids[0]
    emu.oauth.revoke(emu.refresh_token(realm))
    before = emu.oauth.issue_initial(realm)
    emu.oauth.revoke(before)
    newest = emu.oauth.issue_initial(realm)
    sealed_at = dt.datetime.now(dt.UTC)  # after the company was added, before the rotation
    settings.store.save_state(realm, sealed_state(settings, realm, before, sealed_at))
    time.sleep(0.01)
    settings.tokens.mkdir(parents=True)
    (settings.tokens / f"{realm}.json").write_text(
        json.dumps(
            {
                "refresh_token": newest,
                "realm_id": realm,
                "updated_at": dt.datetime.now(dt.UTC).isoformat(),
            }
        )
    )
    result = sync_companies(settings, "shard-000", emu.realm_ids, "run-1", LOG)
    assert all(c.finished for c in result.companies.values())
    assert emu.oauth.refresh[settings.store.token(realm)].chain == emu.oauth.refresh[newest].chain


def test_a_state_of_before_never_puts_back_a_token_older_than_the_store_s(shard) -> None:
    emu, settings = shard
    realm = emu.realm_ids[0]
    sync_companies(settings, "shard-000", emu.realm_ids, "run-1", LOG)
    newest = settings.store.token(realm)
    # Kept by a run of before, its sealed token long dead, stamped by a clock 2 days ahead.
    dead = emu.oauth.issue_initial(realm)
    emu.oauth.revoke(dead)
    ahead = dt.datetime.now(dt.UTC) + dt.timedelta(days=2)
    settings.store.save_state(realm, sealed_state(settings, realm, dead, ahead))
    result = sync_companies(settings, "shard-000", emu.realm_ids, "run-2", LOG)
    assert all(c.finished for c in result.companies.values())
    assert settings.store.token(realm) == newest
    assert AUTH_STATE_KEY not in settings.store.state(realm)


def test_a_token_only_a_state_of_before_holds_is_kept_and_used(shard) -> None:
    # A company synced by runs that kept its newest token sealed in its state, on another
    # machine: this one has no token file, and the store's token is dead.
    emu, settings = shard
    realm = emu.realm_ids[0]
    emu.oauth.revoke(emu.refresh_token(realm))
    live = emu.oauth.issue_initial(realm)
    settings.store.save_state(realm, sealed_state(settings, realm, live, dt.datetime.now(dt.UTC)))
    result = sync_companies(settings, "shard-000", emu.realm_ids, "run-1", LOG)
    assert all(c.finished for c in result.companies.values())
    assert emu.oauth.refresh[settings.store.token(realm)].chain == emu.oauth.refresh[live].chain
    assert AUTH_STATE_KEY not in settings.store.state(realm)


def test_an_old_token_left_in_a_machine_s_token_file_never_replaces_the_store_s(shard) -> None:
    emu, settings = shard
    store = settings.store
    sync_companies(settings, "shard-000", emu.realm_ids, "run-1", LOG)
    newest = {realm: store.token(realm) for realm in emu.realm_ids}
    assert all(newest.values())
    # This machine last synced the first company months ago (its runs went to other
    # machines since): its token file still holds the token of then, which Intuit let die.
    stale_realm = emu.realm_ids[0]
    stale = emu.oauth.issue_initial(stale_realm)
    emu.oauth.revoke(stale)
    months_ago = dt.datetime.now(dt.UTC) - dt.timedelta(days=90)
    shared = json.loads(settings.token_file.read_text())
    shared["companies"][stale_realm] = {
        "refresh_token": stale,
        "updated_at": months_ago.isoformat(),
    }
    settings.token_file.write_text(json.dumps(shared))
    # A run stopped before its tap refreshed anything (the step was fenced, say).
    stop = threading.Event()
    stop.set()
    with pytest.raises(ShardFailed):
        sync_companies(settings, "shard-000", emu.realm_ids, "run-2", LOG, stop=stop)
    assert {realm: store.token(realm) for realm in emu.realm_ids} == newest
    # The next run finds the live token: nobody has to re-authorize.
    again = sync_companies(settings, "shard-000", emu.realm_ids, "run-3", LOG)
    assert all(c.finished for c in again.companies.values())


def test_a_run_whose_companies_went_to_another_run_keeps_none_of_their_state(shard, caplog):
    emu, settings = shard
    store = settings.store
    for realm in emu.realm_ids:
        assert store.take_lease(realm, "run-1", 3600) is None
    sync_companies(settings, "shard-000", emu.realm_ids, "run-1", LOG, lease="run-1")
    kept = {realm: store.state(realm) for realm in emu.realm_ids}
    assert all(state["bookmarks"] for state in kept.values())
    for realm in emu.realm_ids:
        store.release_lease(realm, "run-1")
    realm = emu.realm_ids[0]
    customer = emu.store(realm).all("Customer")[0]["Id"]
    emu.clock.advance(seconds=5)
    emu.store(realm).update("Customer", customer, {"Notes": "changed after run-1"})
    # run-2 took its companies, was taken for dead while it synced, and its retry (run-3)
    # holds them now: run-2's bookmarks, older than the retry's, are not kept.
    for r in emu.realm_ids:
        assert store.take_lease(r, "run-3", 3600) is None
    started = dt.datetime.now(dt.UTC)
    before = usage_since(store, started)
    result = sync_companies(settings, "shard-000", emu.realm_ids, "run-2", LOG, lease="run-2")
    assert {r: store.state(r) for r in emu.realm_ids} == kept
    assert not any(c.finished for c in result.companies.values())
    assert store.finished("run-2") == set()  # its retry syncs them
    assert "were handed to another run while this one synced them" in caplog.text
    # What it read is loaded, and its calls are counted all the same.
    rows = (settings.output / realm / "customers.jsonl").read_text().splitlines()
    assert any(json.loads(row).get("Notes") == "changed after run-1" for row in rows)
    assert usage_since(store, started) - before == {
        r: c.metered for r, c in result.companies.items()
    }
    # The retry, holding them, keeps its state.
    result = sync_companies(settings, "shard-000", emu.realm_ids, "run-3", LOG, lease="run-3")
    assert all(c.finished for c in result.companies.values())
    assert {r: store.state(r) for r in emu.realm_ids} != kept


def test_a_run_that_confirmed_no_state_does_not_finish_the_companies_it_lost(shard, caplog):
    emu, settings = shard
    for realm in emu.realm_ids:
        assert settings.store.take_lease(realm, "run-3", 3600) is None
    # Its loader confirmed nothing (no STATE came back), so it had no state to be refused;
    # the tap's statuses all say ok. The companies are run-3's: run-2 finished none.
    settings.loader = [sys.executable, "-c", "import sys; sys.stdin.read()"]
    result = sync_companies(settings, "shard-000", emu.realm_ids, "run-2", LOG, lease="run-2")
    assert all(set(c.statuses.values()) == {"ok"} for c in result.companies.values())
    assert not any(c.finished for c in result.companies.values())
    assert settings.store.finished("run-2") == set()
    assert "2 company(ies) were handed to another run" in caplog.text


def test_a_company_s_part_is_split_from_any_shape_the_tap_writes() -> None:
    # The tap's own settle_state does the split: a part it kept aside (a company not in
    # that run's config) or at the streams' top (a single-company run) is found too.
    state = {
        "bookmarks": {
            "invoices": {
                "partitions": [{"context": {"realm_id": "2"}, "replication_key_value": "b"}]
            },
            "items": {"replication_key_value": "t"},
        },
        "quickbooks_realm_id": "1",
        "quickbooks_auth": {"refresh_token": "sealed-1"},
        "quickbooks_unclaimed": {"3": {"bookmarks": {"items": {"replication_key_value": "u"}}}},
    }
    assert split(state, "1") == {
        "bookmarks": {
            "items": {"partitions": [{"context": {"realm_id": "1"}, "replication_key_value": "t"}]}
        },
        "quickbooks_auth": {"companies": {"1": {"refresh_token": "sealed-1"}}},
    }
    assert split(state, "3") == {
        "bookmarks": {
            "items": {"partitions": [{"context": {"realm_id": "3"}, "replication_key_value": "u"}]}
        }
    }
    assert split(state, "2")["bookmarks"] == {"invoices": state["bookmarks"]["invoices"]}
    assert split(state, "4") == {"bookmarks": {}}
    assert state["quickbooks_realm_id"] == "1"  # the run's state is left as it was


def test_metered_calls_are_read_from_sync_status_not_from_the_log(shard, monkeypatch) -> None:
    # A tap logging only warnings (its usual LOGLEVEL setting) writes no "API calls this run"
    # line: the count comes from the sync_status records, what the tap's schema promises.
    emu, settings = shard
    monkeypatch.setenv("TAP_QUICKBOOKS_LOGLEVEL", "WARNING")
    emu.reset_counts()
    with counting_batch_items() as batch_items:
        result = sync_companies(settings, "shard-000", emu.realm_ids, "run-1", LOG)
    for realm in emu.realm_ids:
        expected = metered_served(emu.request_counts(realm), batch_items[realm])
        assert expected >= 2  # a batch of first pages, each item metered
        assert result.companies[realm].metered == expected
        assert result.companies[realm].finished
    assert settings.store.finished("run-1") == set(emu.realm_ids)
    # sync_status is in the user's catalog: the loader gets it, with the count on each row.
    rows = parse_messages((settings.output / emu.realm_ids[0] / "sync_status.jsonl").read_text())
    assert {r["company_metered_calls"] for r in rows} == {
        result.companies[emu.realm_ids[0]].metered
    }


def test_a_run_whose_calls_no_record_gives_says_so_and_counts_none(shard, caplog) -> None:
    emu, settings = shard
    catalog = json.loads(settings.catalog.read_text())
    for entry in catalog["streams"]:
        if entry["tap_stream_id"] == "sync_status":
            for meta in entry["metadata"]:
                if meta["breadcrumb"] == []:
                    meta["metadata"]["selected"] = False
    with caplog.at_level(logging.WARNING, logger=LOG.name):
        result = sync_companies(settings, "shard-000", emu.realm_ids, "run-1", LOG, catalog=catalog)
    assert all(c.metered is None and not c.finished for c in result.companies.values())
    warned = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warned) == 1
    assert "no sync_status record gave the metered calls of 2 company(ies)" in warned[0]
    assert all(realm in warned[0] for realm in emu.realm_ids)
    assert settings.store.finished("run-1") == set()  # run again: nothing is taken as done
