"""Many companies in one run: the tap as a process with a `companies` config against an
emulator serving several realms. Each company's records equal its own ground truth, carry its
own realm_id, and keep their own bookmarks; a revoked company is named and skipped, the others
synced in full; once re-authorized it catches up from its own bookmarks."""

from __future__ import annotations

import concurrent.futures
import datetime as dt
import json
import logging
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from qbo_emulator import Emulator
from tap_quickbooks import companies
from tap_quickbooks.auth import TokenFile
from tap_quickbooks.catalogue import ENTITIES
from tap_quickbooks.companies import (
    Window,
    companies_problems,
    company_configs,
    first_planned,
    most_ahead,
    resize,
    settle_state,
)
from tap_quickbooks.tap import one_per_key, settings_problems
from tests.singer import run_tap, strip_tap_fields, tap_command
from tests.test_auth_trust import DISK_FAULT_SITE
from tests.test_tap_sync import latest_by_id, select, truth

ENTITY_STREAMS = {e.stream for e in ENTITIES}


def many_config(emu: Emulator, tokens: dict[str, str]) -> dict:
    """Shared settings at the top, one entry per company."""
    shared = {k: v for k, v in emu.tap_config().items() if k not in {"realm_id", "refresh_token"}}
    companies = [{"realm_id": realm, "refresh_token": token} for realm, token in tokens.items()]
    return {**shared, "companies": companies}


def records_of(run, realm: str) -> dict[str, list[dict]]:
    """Each stream's records of one company."""
    return {
        stream: [r for r in records if r["realm_id"] == realm]
        for stream, records in run.records.items()
        if stream != "sync_status"
    }


def realms_in(run) -> set[str]:
    """The realm_ids the data records carry."""
    return {r["realm_id"] for realm_records in records_of_all(run) for r in realm_records}


def records_of_all(run) -> list[list[dict]]:
    return [records for stream, records in run.records.items() if stream != "sync_status"]


def status_of(run) -> dict[tuple[str, str], dict]:
    return {(r["realm_id"], r["stream"]): r for r in run.records.get("sync_status", [])}


def check_complete(emu: Emulator, run, realm: str) -> None:
    """The company's tables equal its ground truth; what it cannot have is skipped."""
    refused = emu.profile(realm).refused()
    mine = records_of(run, realm)
    status = status_of(run)
    for entity in ENTITIES:
        row = status[(realm, entity.stream)]
        if entity.name in refused:
            assert row["status"] == "unavailable", row
            assert not mine.get(entity.stream), entity.stream
            continue
        assert row["status"] == "ok", row
        expected = truth(emu, realm, entity.stream)
        got = latest_by_id(mine.get(entity.stream, []))
        assert set(got) == set(expected), (realm, entity.stream)
        for key, record in got.items():
            assert strip_tap_fields(record) == expected[key], (realm, entity.stream, key)


def test_a_revoked_company_is_skipped_and_caught_up_once_reauthorized() -> None:
    profiles = ["default", "us_simple_start", "default"]
    with Emulator(seed=21, scale=120, profiles=profiles) as emu:
        plus, simple, revoked = emu.realm_ids
        assert emu.profile(simple).refused()  # a company missing entities
        tokens = {realm: emu.refresh_token(realm) for realm in emu.realm_ids}
        catalog = select(emu.tap_config(), {*ENTITY_STREAMS, "sync_status"})

        # A first run of all three: each company whole, bookmarks per company.
        first = run_tap(many_config(emu, tokens), args=["--catalog", str(catalog)])
        assert first.returncode == 0, first.stderr[-3000:]
        for realm in emu.realm_ids:
            check_complete(emu, first, realm)
        assert realms_in(first) == set(emu.realm_ids)
        state = first.last_state
        partitions = state["bookmarks"]["invoices"]["partitions"]
        assert {p["context"]["realm_id"] for p in partitions} == set(emu.realm_ids)

        # The third company's access is revoked, and all three change meanwhile.
        changed = {}
        for realm in emu.realm_ids:
            made = emu.store(realm).create("Customer", {"DisplayName": f"New of {realm}"})
            changed[realm] = made["Id"]
        emu.oauth.revoke(emu.refresh_token(revoked))
        second = run_tap(many_config(emu, tokens), state, ["--catalog", str(catalog)])
        assert second.returncode != 0
        assert "Traceback" not in second.stderr
        errors = [line for line in second.stderr.splitlines() if "ERROR" in line]
        assert any(revoked in line and "re-authorize" in line for line in errors), errors
        assert realms_in(second) == {plus, simple}
        for realm in (plus, simple):
            ids = {r["Id"] for r in records_of(second, realm)["customers"]}
            assert changed[realm] in ids
            assert len(ids) < len(truth(emu, realm, "customers"))  # from its bookmark
        status = status_of(second)
        assert {row["status"] for (realm, _), row in status.items() if realm == revoked} == {
            "not_authorized"
        }
        others = {row["status"] for (realm, _), row in status.items() if realm != revoked}
        assert others <= {"ok", "unavailable"}
        assert len(status) == len(second.records["sync_status"])  # one per company and stream

        # Re-authorized: a new refresh token in its entry; it resumes from its own bookmarks.
        tokens[revoked] = emu.oauth.issue_initial(revoked)
        third = run_tap(many_config(emu, tokens), second.last_state, ["--catalog", str(catalog)])
        assert third.returncode == 0, third.stderr[-3000:]
        caught_up = records_of(third, revoked)["customers"]
        assert changed[revoked] in {r["Id"] for r in caught_up}
        assert len(caught_up) < len(truth(emu, revoked, "customers"))  # not a full re-read
        assert realms_in(third) <= set(emu.realm_ids)
        assert {row["status"] for row in status_of(third).values()} <= {"ok", "unavailable"}


def start_tap(config: dict, args: list[str], workdir: Path) -> subprocess.Popen:
    command = tap_command(config, None, args, workdir)
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_one_token_file_keeps_every_company_and_two_runs_share_it(tmp_path: Path) -> None:
    with Emulator(seed=22, scale=60, realms=4) as emu:
        emu.behaviour.strict_rotation = True  # every refresh rotates; the old token dies
        store = tmp_path / "tokens.json"
        first_tokens = {realm: emu.refresh_token(realm) for realm in emu.realm_ids}
        config = {**many_config(emu, first_tokens), "token_store_path": str(store)}
        catalog = select(emu.tap_config(), ["terms"])
        halves = [emu.realm_ids[:2], emu.realm_ids[2:]]
        runs = []
        for place, realms in enumerate(halves):
            mine = {
                **config,
                "companies": [c for c in config["companies"] if c["realm_id"] in realms],
            }
            (tmp_path / str(place)).mkdir()
            runs.append(start_tap(mine, ["--catalog", str(catalog)], tmp_path / str(place)))
        for run in runs:  # both at once, each rotating its companies' tokens into the file
            out, err = run.communicate(timeout=600)
            assert run.returncode == 0, err[-3000:]
            assert out
        assert store.stat().st_mode & 0o777 == 0o600
        kept = json.loads(store.read_text())["companies"]
        assert set(kept) == set(emu.realm_ids)
        for realm in emu.realm_ids:
            assert kept[realm]["refresh_token"] == emu.refresh_token(realm)  # the live one
            assert kept[realm]["refresh_token"] != first_tokens[realm]
        # The config's tokens are all dead now: the one file carries every company on.
        again = run_tap(config, None, ["--catalog", str(catalog)])
        assert again.returncode == 0, again.stderr[-3000:]
        assert realms_in(again) == set(emu.realm_ids)
        assert not any(token in again.stderr for token in first_tokens.values())
        # Each company's rotated token is sealed into the state too, under its realm_id.
        sealed = again.last_state["quickbooks_auth"]["companies"]
        assert set(sealed) == set(emu.realm_ids)
        live = [emu.refresh_token(realm) for realm in emu.realm_ids]
        assert not any(token in json.dumps(again.last_state) for token in live)  # sealed


def test_a_single_company_setup_moves_to_companies_without_loss(tmp_path: Path) -> None:
    with Emulator(seed=23, scale=80, realms=2) as emu:
        emu.behaviour.strict_rotation = True
        old, new = emu.realm_ids
        store = tmp_path / "qbo.json"
        single = {**emu.tap_config(old), "token_store_path": str(store)}
        catalog = select(single, ["customers", "terms"])
        before = run_tap(single, None, ["--catalog", str(catalog)])
        assert before.returncode == 0, before.stderr[-3000:]
        assert json.loads(store.read_text())["realm_id"] == old  # one company's file
        made = emu.store(old).create("Customer", {"DisplayName": "After the move"})
        # Same file, same state; the old company stays at the top level, a second is listed.
        many = {**single, "companies": [{"realm_id": new, "refresh_token": emu.refresh_token(new)}]}
        after = run_tap(many, before.last_state, ["--catalog", str(catalog)])
        assert after.returncode == 0, after.stderr[-3000:]
        resumed = records_of(after, old)["customers"]
        assert made["Id"] in {r["Id"] for r in resumed}
        assert len(resumed) < len(truth(emu, old, "customers"))  # from the old bookmark
        check = latest_by_id(records_of(after, new)["customers"])
        assert set(check) == set(truth(emu, new, "customers"))
        assert set(json.loads(store.read_text())["companies"]) == {old, new}
        partitions = after.last_state["bookmarks"]["customers"]["partitions"]
        assert {p["context"]["realm_id"] for p in partitions} == {old, new}
        assert "replication_key_value" not in after.last_state["bookmarks"]["customers"]


WRITER = """
import sys
import time
from tap_quickbooks.auth import TokenFile
path, realm = sys.argv[1], sys.argv[2]
for n in range(40):
    TokenFile(path, realm, keyed=True).write(f"token-{realm}-{n:03d}-Abc123xyz")
"""


def test_writers_of_one_token_file_never_drop_each_others_tokens(tmp_path: Path) -> None:
    store = tmp_path / "tokens.json"
    realms = ["1001", "1002", "1003"]
    writers = [
        subprocess.Popen([sys.executable, "-c", WRITER, str(store), realm]) for realm in realms
    ]
    assert [w.wait(timeout=300) for w in writers] == [0, 0, 0]
    kept = json.loads(store.read_text())["companies"]
    assert {realm: kept[realm]["refresh_token"] for realm in realms} == {
        realm: f"token-{realm}-039-Abc123xyz" for realm in realms
    }
    assert store.stat().st_mode & 0o777 == 0o600
    assert TokenFile(store, "1002").read().token == "token-1002-039-Abc123xyz"


def test_a_token_file_entry_is_replaced_only_while_it_is_the_one_read(tmp_path: Path) -> None:
    # The orchestrator puts the store's newer token in a machine's file this way: never over
    # a token a run rotated since it read the file, nor over one the company refused.
    path = tmp_path / "companies.json"
    mine, other = TokenFile(path, "1", keyed=True), TokenFile(path, "2", keyed=True)
    received = dt.datetime(2028, 2, 29, 23, 59, 59, 500, tzinfo=dt.UTC)
    assert mine.replace(None, "t1", received)
    assert (mine.read().token, mine.read().updated_at) == ("t1", received)
    other.write("theirs")
    assert not mine.replace(None, "t2", received), "it holds t1, not nothing"
    assert mine.replace("t1", "t2", received + dt.timedelta(hours=1))
    mine.write("rotated")  # a run of it rotated it meanwhile
    assert not mine.replace("t2", "t3", received + dt.timedelta(hours=2))
    assert mine.read().token == "rotated"
    mine.disown("rotated")  # another company's: kept for its owner
    assert not mine.replace("rotated", "t4", received + dt.timedelta(hours=3))
    kept = json.loads(path.read_text())["companies"]
    assert (kept["1"]["refresh_token"], kept["1"]["refused_by"]) == ("rotated", ["1"])
    assert other.read().token == "theirs"
    assert path.stat().st_mode & 0o777 == 0o600


def test_companies_config_and_its_problems() -> None:
    shared = {"client_id": "id", "client_secret": "s", "start_date": "2024-01-01"}
    config = {
        **shared,
        "realm_id": "1",
        "refresh_token": "top",
        "companies": [
            {"realm_id": "2", "refresh_token": "two", "start_date": "2025-06-01"},
            {"realm_id": "1", "refresh_token": "again"},
        ],
    }
    got = company_configs(config)
    assert [(c["realm_id"], c["refresh_token"], c["start_date"]) for c, _ in got] == [
        ("1", "top", "2024-01-01"),
        ("2", "two", "2025-06-01"),
    ]
    assert [context for _, context in got] == [{"realm_id": "1"}, {"realm_id": "2"}]
    assert all("companies" not in c for c, _ in got)
    single = {**shared, "realm_id": "1", "refresh_token": "top"}
    assert company_configs(single) == [(single, None)]  # state without partitions, as before
    assert companies_problems(config) == ["companies[2].realm_id 1 is listed twice."]
    problems = companies_problems(
        {
            "companies": [
                {"realm_id": "abc", "refresh_token": "x"},
                {"realm_id": "3"},
                {"realm_id": "4", "refresh_token": "y", "client_secret": "z"},
                "5",
            ]
        }
    )
    assert problems == [
        "companies[1].realm_id must be the company's numeric realmId.",
        "companies[2].refresh_token is required (the company's own token).",
        "companies[3] has unknown key(s) client_secret: a company takes only realm_id, "
        "refresh_token, start_date (the other settings are shared, at the top level).",
        'companies[4] must be an object {"realm_id", "refresh_token"}.',
    ]
    assert companies_problems({"client_id": "id"}) == [
        "realm_id is required (or list every company in `companies`).",
        "refresh_token is required (or list every company in `companies`).",
    ]


def test_an_old_state_becomes_the_partition_of_the_company_it_names() -> None:
    sealed = {"refresh_token": "sealed", "updated_at": "2026-01-01T00:00:00Z"}
    state = {
        "bookmarks": {
            "invoices": {"replication_key": "LastUpdatedTime", "replication_key_value": "X"},
            "terms": {},
        },
        "quickbooks_auth": sealed,
    }
    settle_state(state, ["7", "8"], single=False, owner="7", logger=logging.getLogger())
    assert state["bookmarks"]["invoices"] == {
        "partitions": [
            {
                "context": {"realm_id": "7"},
                "replication_key": "LastUpdatedTime",
                "replication_key_value": "X",
            }
        ]
    }
    assert state["bookmarks"]["terms"] == {}
    assert state["quickbooks_auth"] == {"companies": {"7": sealed}}
    assert "quickbooks_unclaimed" not in state


def test_one_company_state_moves_between_shapes_and_the_others_wait() -> None:
    many = {
        "bookmarks": {
            "invoices": {
                "partitions": [
                    {"context": {"realm_id": "7"}, "replication_key_value": "A"},
                    {"context": {"realm_id": "8"}, "replication_key_value": "B"},
                ]
            }
        },
        "quickbooks_auth": {
            "companies": {"7": {"refresh_token": "sealed-7"}, "8": {"refresh_token": "sealed-8"}}
        },
    }
    state = json.loads(json.dumps(many))
    settle_state(state, ["8"], single=True, owner="8", logger=logging.getLogger())
    assert state["bookmarks"]["invoices"] == {"replication_key_value": "B"}  # moved, not mixed
    assert state["quickbooks_auth"] == {"refresh_token": "sealed-8"}
    assert state["quickbooks_realm_id"] == "8"
    assert state["quickbooks_unclaimed"] == {
        "7": {
            "bookmarks": {"invoices": {"replication_key_value": "A"}},
            "quickbooks_auth": {"refresh_token": "sealed-7"},
        }
    }
    # And back: the same state of both companies, whichever was listed first.
    settle_state(state, ["8", "7"], single=False, owner=None, logger=logging.getLogger())
    by_realm = {p["context"]["realm_id"]: p for p in state["bookmarks"]["invoices"]["partitions"]}
    assert {r: p["replication_key_value"] for r, p in by_realm.items()} == {"7": "A", "8": "B"}
    assert state["quickbooks_auth"] == many["quickbooks_auth"]
    assert not {"quickbooks_unclaimed", "quickbooks_realm_id"} & set(state)


def test_a_slow_company_does_not_hold_up_the_others() -> None:
    with Emulator(seed=24, scale=60, realms=3) as emu:
        slow = emu.realm_ids[0]  # listed first, its answers take seconds each

        def stall(realm: str, kind: str, number: int) -> None:
            if realm == slow:
                time.sleep(3)

        tokens = {realm: emu.refresh_token(realm) for realm in emu.realm_ids}
        catalog = select(emu.tap_config(), ["terms", "customers"])
        emu.add_hook(stall)
        run = run_tap(many_config(emu, tokens), args=["--catalog", str(catalog)])
        assert run.returncode == 0, run.stderr[-3000:]
        order = [
            m["record"]["realm_id"]
            for m in run.messages
            if m["type"] == "RECORD" and m["stream"] != "sync_status"
        ]
        first_slow = order.index(slow)
        assert set(order[:first_slow]) == set(emu.realm_ids) - {slow}  # theirs came first
        assert slow not in order[:first_slow]
        for realm in emu.realm_ids:  # and everyone's whole
            got = latest_by_id(records_of(run, realm)["customers"])
            assert set(got) == set(truth(emu, realm, "customers"))


def test_every_company_problem_is_said_not_only_the_first() -> None:
    bad = {
        "client_id": "id",
        "client_secret": "s",
        "companies": [{"realm_id": "x1", "refresh_token": "t", "foo": 1}, {"realm_id": "2"}],
    }
    assert one_per_key(settings_problems(bad)) == [
        "companies[1] has unknown key(s) foo: a company takes only realm_id, refresh_token, "
        "start_date (the other settings are shared, at the top level).",
        "companies[1].realm_id must be the company's numeric realmId.",
        "companies[2].refresh_token is required (the company's own token).",
    ]


COMPANY_FAULT_SITE = Path(__file__).parent / "company_fault_site"


def company_fault(realm: str, at: str) -> dict:
    """The environment of a tap process in which one company fails at ``at`` in a way the
    tap knows no name for (see company_fault_site)."""
    path = os.pathsep.join([str(COMPANY_FAULT_SITE), os.environ.get("PYTHONPATH", "")])
    return {"PYTHONPATH": path, "COMPANY_FAULT_REALM": realm, "COMPANY_FAULT_AT": at}


@pytest.mark.parametrize("at", ["plan", "sync"])
def test_an_unexpected_error_stops_only_its_company(at: str) -> None:
    with Emulator(seed=25, scale=60, realms=3) as emu:
        broken = emu.realm_ids[1]
        tokens = {realm: emu.refresh_token(realm) for realm in emu.realm_ids}
        catalog = select(emu.tap_config(), ["customers", "terms", "sync_status"])
        run = run_tap(
            many_config(emu, tokens),
            args=["--catalog", str(catalog)],
            env=company_fault(broken, at),
        )
        assert run.returncode != 0
        assert "Traceback" not in run.stderr
        errors = [line for line in run.stderr.splitlines() if "ERROR" in line]
        said = "database is locked" if at == "plan" else "No space left on device"
        assert any(broken in line and said in line for line in errors), errors
        assert realms_in(run) == set(emu.realm_ids) - {broken}
        for realm in set(emu.realm_ids) - {broken}:
            got = latest_by_id(records_of(run, realm)["customers"])
            assert set(got) == set(truth(emu, realm, "customers"))
        status = status_of(run)
        assert {status[(broken, s)]["status"] for s in ("customers", "terms")} == {"failed"}


@pytest.mark.parametrize("page_size", [2, 1])
def test_a_company_whose_planning_fails_stops_the_chains_it_started(page_size: int) -> None:
    with Emulator(seed=26, scale=200, realms=2) as emu:
        broken, slow = emu.realm_ids

        def stall(realm: str, kind: str, number: int) -> None:
            if realm == slow:
                time.sleep(0.5)  # the run lasts: a chain left running reads on meanwhile

        tokens = {realm: emu.refresh_token(realm) for realm in emu.realm_ids}
        # Two records a page (or one): the first stream's chain has a dozen pages to read,
        # and the second stream's chain is the one that cannot start.
        config = {**many_config(emu, tokens), "page_size": page_size}
        catalog = select(emu.tap_config(), ["customers", "items"])
        assert min(len(truth(emu, broken, s)) for s in ("customers", "items")) > 20
        emu.add_hook(stall)
        emu.reset_counts()
        run = run_tap(
            config,
            args=["--catalog", str(catalog)],
            env=company_fault(broken, "chains"),
            timeout=300,
        )
        emu.remove_hook(stall)
        assert run.returncode != 0
        assert "Traceback" not in run.stderr
        assert realms_in(run) == {slow}
        # The chain that started before the failure was stopped with it: a page or two, not
        # the whole stream read for a company that is not written.
        assert emu.request_counts(broken).get("query", 0) <= 3, emu.request_counts(broken)
        # The other company is read whole, each row once, in at most two pages a row (its
        # own, and the tie or strict page after its second, at one row a page).
        rows = 0
        for stream in ("customers", "items"):
            got = records_of(run, slow)[stream]
            assert len(got) == len(truth(emu, slow, stream)), stream
            assert set(latest_by_id(got)) == set(truth(emu, slow, stream)), stream
            rows += len(got)
        assert emu.request_counts(slow).get("query", 0) <= 2 * rows + 4, emu.request_counts(slow)


def test_an_unwritable_shared_token_file_is_one_setup_error(tmp_path: Path) -> None:
    with Emulator(seed=27, scale=40, realms=3) as emu:
        tokens = {realm: emu.refresh_token(realm) for realm in emu.realm_ids}
        config = {**many_config(emu, tokens), "token_store_path": str(tmp_path / "tokens.json")}
        catalog = select(emu.tap_config(), ["terms", "sync_status"])
        site = os.pathsep.join([str(DISK_FAULT_SITE), os.environ.get("PYTHONPATH", "")])
        env = {"PYTHONPATH": site, "DISK_FAULT_DIR": str(tmp_path), "DISK_FAULT_PROBE": "fail"}
        emu.reset_counts()
        run = run_tap(config, None, ["--catalog", str(catalog)], env=env)
        assert run.returncode != 0
        assert "Traceback" not in run.stderr
        errors = [line for line in run.stderr.splitlines() if "ERROR" in line]
        named = [line for line in errors if "token_store_path" in line]
        assert len(named) == 1, errors
        assert str(tmp_path / "tokens.json") in named[0]
        assert not any("re-authorize" in line.lower() for line in errors), errors
        assert not run.records.get("sync_status")  # no company called not_authorized
        assert emu.request_counts().get("token", 0) == 0


READER = """
import sys
from tap_quickbooks.auth import TokenFile
path, realm, rounds = sys.argv[1], sys.argv[2], int(sys.argv[3])
seen = 0
for _ in range(rounds):
    seen += sum("leftover" in c.source for c in TokenFile(path, realm, keyed=True).read_all())
print(seen)
"""


def test_readers_of_a_token_file_never_read_a_temporary_being_written(tmp_path: Path) -> None:
    store = tmp_path / "tokens.json"
    TokenFile(store, "1001", keyed=True).write("token-1001-first-Abc123xyz")
    writers = [
        subprocess.Popen([sys.executable, "-c", WRITER, str(store), realm])
        for realm in ("1001", "1002")
    ]
    readers = [
        subprocess.Popen(
            [sys.executable, "-c", READER, str(store), realm, "400"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for realm in ("1001", "1002")
    ]
    assert [w.wait(timeout=300) for w in writers] == [0, 0]
    for reader in readers:
        out, err = reader.communicate(timeout=300)
        assert reader.returncode == 0, err
        assert "unreadable token file" not in err
        assert int(out) == 0  # no writer's temporary taken for a killed writer's leftover


def test_a_single_company_run_between_many_company_runs_drops_no_company(tmp_path: Path) -> None:
    with Emulator(seed=28, scale=60, realms=2) as emu:
        emu.behaviour.strict_rotation = True  # every refresh rotates; the old token dies
        mine, other = emu.realm_ids
        tokens = {realm: emu.refresh_token(realm) for realm in emu.realm_ids}
        catalog = select(emu.tap_config(), ["customers"])
        many = many_config(emu, tokens)
        first = run_tap(
            {**many, "token_store_path": str(tmp_path / "a.json")},
            None,
            ["--catalog", str(catalog)],
        )
        assert first.returncode == 0, first.stderr[-3000:]
        # One company alone, with the many-company state (and a token file of its own).
        single = {**emu.tap_config(mine), "token_store_path": str(tmp_path / "b.json")}
        alone = run_tap(single, first.last_state, ["--catalog", str(catalog)])
        assert alone.returncode == 0, alone.stderr[-3000:]
        assert "partitions" not in alone.last_state["bookmarks"]["customers"]  # one shape
        assert alone.last_state["quickbooks_realm_id"] == mine
        assert other in alone.last_state["quickbooks_unclaimed"]
        # Both again, from that state alone: the token files are gone, the config's tokens
        # dead. Each company's sealed token and bookmarks came through the single run.
        made = {r: emu.store(r).create("Customer", {"DisplayName": f"Later {r}"}) for r in tokens}
        again = run_tap(
            {**many, "token_store_path": str(tmp_path / "c.json")},
            alone.last_state,
            ["--catalog", str(catalog)],
        )
        assert again.returncode == 0, again.stderr[-3000:]
        for realm in emu.realm_ids:
            ids = {r["Id"] for r in records_of(again, realm)["customers"]}
            assert made[realm]["Id"] in ids
            assert len(ids) < len(truth(emu, realm, "customers"))  # from its own bookmark
        sealed = again.last_state["quickbooks_auth"]["companies"]
        assert set(sealed) == set(emu.realm_ids)


def test_old_bookmarks_naming_no_company_are_credited_to_none() -> None:
    with Emulator(seed=29, scale=60, realms=2) as emu:
        first_realm = emu.realm_ids[0]
        catalog = select(emu.tap_config(), ["customers"])
        old = run_tap(emu.tap_config(first_realm), None, ["--catalog", str(catalog)])
        assert old.returncode == 0, old.stderr[-3000:]
        state = old.last_state
        state.pop("quickbooks_realm_id", None)  # as an older version wrote it
        tokens = {realm: emu.refresh_token(realm) for realm in emu.realm_ids}
        run = run_tap(many_config(emu, tokens), state, ["--catalog", str(catalog)])
        assert run.returncode == 0, run.stderr[-3000:]
        warnings = [line for line in run.stderr.splitlines() if "WARNING" in line]
        assert any("credited to none" in line and "customers" in line for line in warnings)
        for realm in emu.realm_ids:  # neither company resumed from another's bookmark
            got = latest_by_id(records_of(run, realm)["customers"])
            assert set(got) == set(truth(emu, realm, "customers"))
        # Kept for a later run that names their company.
        assert "?" in run.last_state["quickbooks_unclaimed"]


def test_a_full_table_stream_is_activated_once_for_every_company() -> None:
    with Emulator(seed=30, scale=40, realms=3) as emu:
        tokens = {realm: emu.refresh_token(realm) for realm in emu.realm_ids}
        config = {**many_config(emu, tokens), "emit_activate_version_messages": True}
        catalog = select(emu.tap_config(), ["tax_codes", "customers"])
        run = run_tap(config, args=["--catalog", str(catalog)])
        assert run.returncode == 0, run.stderr[-3000:]
        assert "Unknown setting" not in run.stderr
        kinds = [(m["type"], m.get("stream")) for m in run.messages]
        activations = [m for m in run.messages if m["type"] == "ACTIVATE_VERSION"]
        assert [m["stream"] for m in activations] == ["tax_codes"]  # one, for all companies
        version = activations[0]["version"]
        records = [m for m in run.messages if m["type"] == "RECORD" and m["stream"] == "tax_codes"]
        assert {m["record"]["realm_id"] for m in records} == set(emu.realm_ids)
        assert {m["version"] for m in records} == {version}
        last_record = max(i for i, kind in enumerate(kinds) if kind == ("RECORD", "tax_codes"))
        assert kinds.index(("ACTIVATE_VERSION", "tax_codes")) > last_record  # after them all

        # One company cannot sync it: no activation (a target would drop that one's rows).
        emu.oauth.revoke(emu.refresh_token(emu.realm_ids[1]))
        refused = run_tap(config, args=["--catalog", str(catalog)])
        assert refused.returncode != 0
        assert not [m for m in refused.messages if m["type"] == "ACTIVATE_VERSION"]
        assert "no ACTIVATE_VERSION sent" in refused.stderr


def test_the_window_doubles_while_the_process_idles_and_never_past_its_most() -> None:
    assert resize(4, 0.2, most=32) == 8  # waiting on QBO: twice as many companies at once
    assert resize(16, 0.1, most=20) == 20
    assert resize(4, 0.5, most=32) == 4  # half a CPU busy or more: as it is
    assert resize(8, 1.1, most=32) == 8  # busy: kept (the companies wait, in files)


def test_the_window_is_judged_a_second_at_a_time_from_the_processs_cpu(monkeypatch) -> None:
    clock = {"cpu": 0.0, "wall": 0.0}
    monkeypatch.setattr(companies.time, "process_time", lambda: clock["cpu"])
    monkeypatch.setattr(companies.time, "monotonic", lambda: clock["wall"])
    window = Window(logging.getLogger("test"), base=4, most=16)
    clock.update(cpu=0.1, wall=0.5)
    assert window.look() == 4  # under a second: not judged yet
    clock.update(cpu=0.3, wall=1.5)
    assert window.look() == 8  # 0.3 CPU-s in 1.5 s
    clock.update(cpu=1.2, wall=2.5)
    assert window.look() == 8  # 0.9 CPU-s in the last second
    clock.update(cpu=1.4, wall=4.5)
    assert window.look() == 16
    clock.update(cpu=1.4, wall=9.0)
    assert window.look() == 16  # its most


def test_the_most_companies_at_once_fit_the_files_a_process_may_open(monkeypatch) -> None:
    def limit(soft: int):
        monkeypatch.setattr(companies.resource, "getrlimit", lambda _: (soft, soft))

    limit(1024)
    assert most_ahead(4) == (1024 - 128) // companies.FDS_A_COMPANY  # 11
    limit(1 << 20)
    assert most_ahead(4) == 32  # eight times the start
    limit(256)
    assert most_ahead(4) == 4  # never less than the start
    limit(companies.resource.RLIM_INFINITY)
    assert most_ahead(2) == 16


def test_the_company_written_next_is_the_first_planned_of_those_planned() -> None:
    early, late, pending = (concurrent.futures.Future() for _ in range(3))
    planning = {pending: "a", early: "b", late: "c"}  # in the order they were started
    late.set_result(None)
    assert first_planned(planning) is late  # the only one planned
    early.set_result(None)
    assert first_planned(planning) is early  # started before late: its pages had longer
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        slow = pool.submit(time.sleep, 0.05)
        assert first_planned({slow: "d"}) is slow  # waits for one to be done
