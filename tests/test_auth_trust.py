"""Tokens that rotate mid-run, refused, echoed or stored badly: nothing lost, leaked or stranded.

Every test runs the tap as a process against the emulator and judges by the emulator's own
record of what it holds and what it was sent.
"""

from __future__ import annotations

import errno
import json
import os
import re
import shutil
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import requests

from tap_quickbooks.auth import (
    QuickBooksAuthenticator,
    QuickBooksAuthError,
    RefreshTokenCandidate,
    TokenSealer,
)
from tap_quickbooks.tap import settings_problems
from tests.singer import run_tap
from tests.test_tap_sync import key_of, select, truth

ROTATING_STREAMS = [
    "invoices", "customers", "payments", "bills", "estimates",
    "items", "vendors", "purchases", "journal_entries", "sales_receipts",
]  # fmt: skip


def rotating_company(make_company, seed: int, scale: int):
    """Strict rotation (each refresh kills the old refresh token), 1-second access tokens and
    QBO-like latency: a run refreshes dozens of times, from its page-fetching threads."""
    emu = make_company(seed=seed, scale=scale)
    emu.behaviour.strict_rotation = True
    emu.behaviour.access_token_lifetime = 1
    emu.behaviour.latency_ms = 80
    return emu


def every_secret(emu) -> list[str]:
    """Every token the emulator ever issued, and the client secret."""
    return [emu.client_secret, *emu.oauth.refresh, *emu.oauth.access, *emu.oauth.codes]


def assert_nothing_leaked(emu, text: str) -> None:
    for secret in every_secret(emu):
        assert secret not in text, "a token or the client secret reached the output"
        # QBO's 401 echoes (part of) the token: no long piece of one may show either.
        for piece in (secret[:24], secret[-24:]):
            if len(secret) >= 40:
                assert piece not in text, "a piece of a token reached the output"


def assert_every_record(emu, run, streams: list[str]) -> None:
    realm = emu.realm_ids[0]
    for stream in streams:
        expected = truth(emu, realm, stream)
        got = {key_of(r) for r in run.records.get(stream, [])}
        missing = set(expected) - got
        assert not missing, f"{stream}: {len(missing)} of {len(expected)} records missing"


def run_count(run, pattern: str) -> int:
    return len(re.findall(pattern, run.stderr))


def long_rotating_run(make_company, seed: int) -> None:
    """About 20 s of sync, 15 token refreshes from page threads, every record counted."""
    emu = rotating_company(make_company, seed, scale=15000)
    config = {**emu.tap_config(), "page_size": 100}
    catalog = select(config, ROTATING_STREAMS)
    run = run_tap(config, None, ["--catalog", str(catalog)])
    assert run.returncode == 0, run.stderr[-3000:]
    # Every line whole, and every record of every stream there.
    lines = [line for line in run.stdout.splitlines() if line.strip()]
    assert len(run.messages) == len(lines), "a broken Singer line"
    assert_every_record(emu, run, ROTATING_STREAMS)
    assert run_count(run, "Access token refreshed") >= 5  # rotation really happened mid-run
    # The last STATE carries the live refresh token: the next run starts from it alone.
    sealed = run.last_state["quickbooks_auth"]["refresh_token"]
    token = TokenSealer(config["client_id"], config["client_secret"]).open(sealed)
    live = emu.oauth.refresh[token]
    assert not live.dead
    assert_nothing_leaked(emu, run.stdout + run.stderr)


# Before the fix, about one run in three lost a page or more (or broke a line), exit 0. One seed
# in `make test`; more under `make test-full` (seeds 5 and 20-31).
@pytest.mark.parametrize("seed", [3, pytest.param(5, marks=pytest.mark.full)])
def test_tokens_rotating_in_page_threads_lose_no_record(make_company, seed: int) -> None:
    long_rotating_run(make_company, seed)


@pytest.mark.full
@pytest.mark.parametrize("seed", range(20, 32))
def test_tokens_rotating_in_page_threads_lose_no_record_many_times(make_company, seed) -> None:
    long_rotating_run(make_company, seed)


# -- secrets never shown ---------------------------------------------------------------------


def expire_on(emu, numbers: set[int] | None):
    """A hook that holds chosen API requests past the 1-second access token's death, so QBO's
    401 "Token expired: <token>" answers them (every request when ``numbers`` is None)."""
    emu.behaviour.access_token_lifetime = 1

    def hold(realm: str, kind: str, number: int) -> None:
        if numbers is None or number in numbers:
            time.sleep(1.2)

    emu.add_hook(hold)


def test_the_echoed_token_of_a_401_never_reaches_the_output(make_company) -> None:
    emu = make_company(seed=4, scale=300)
    config = emu.tap_config()
    catalog = select(config, ["invoices", "customers", "terms"])
    expire_on(emu, {1, 2})  # the batch of first pages, then the next request
    run = run_tap(config, None, ["--catalog", str(catalog)])
    assert run.returncode == 0, run.stderr[-3000:]
    assert "Token expired: [redacted]" in run.stderr  # the retry was logged, redacted
    assert_nothing_leaked(emu, run.stdout + run.stderr)
    assert_every_record(emu, run, ["invoices", "customers", "terms"])


def test_the_final_error_of_a_401_run_holds_no_token(make_company) -> None:
    emu = make_company(seed=4, scale=300)
    config = {**emu.tap_config(), "max_retries": 2}
    catalog = select(config, ["terms"])
    expire_on(emu, None)
    run = run_tap(config, None, ["--catalog", str(catalog)])
    assert run.returncode != 0
    assert "Token expired" in run.stderr
    assert "Traceback" not in run.stderr
    assert_nothing_leaked(emu, run.stdout + run.stderr)


def test_a_secret_of_the_wrong_type_is_not_echoed(make_company) -> None:
    emu = make_company(seed=4, scale=100)
    config = {**emu.tap_config(), "client_secret": 98765432109876}
    run = run_tap(config)
    assert run.returncode != 0
    assert "client_secret" in run.stderr
    assert "98765432109876" not in run.stdout + run.stderr


# -- no command strands the only live refresh token -----------------------------------------


def test_test_runs_keep_the_rotated_token_for_the_next_run(make_company, tmp_path) -> None:
    emu = make_company(seed=6, scale=200)
    emu.behaviour.strict_rotation = True
    config = emu.tap_config()
    for _ in range(2):  # each --test rotates the token; nobody keeps --test's stdout
        check = run_tap(config, None, ["--test"])
        assert check.returncode == 0, check.stderr[-2000:]
        assert "QBO rotated the refresh token: saved to " in check.stderr
        assert "tap-quickbooks" in check.stderr.split("saved to ", 1)[1].split()[0]
    run = run_tap(config, None, ["--catalog", str(select(config, ["terms"]))])
    assert run.returncode == 0, run.stderr[-2000:]
    assert_nothing_leaked(emu, run.stdout + run.stderr)


# -- a token for another company -------------------------------------------------------------


def test_a_wrong_numeric_realm_id_says_check_realm_id_after_one_retry(make_company) -> None:
    emu = make_company(seed=9, scale=100)
    config = {**emu.tap_config(), "realm_id": "9130350000000001"}
    catalog = select(config, ["terms"])
    emu.reset_counts()
    run = run_tap(config, None, ["--catalog", str(catalog)])
    assert run.returncode != 0
    assert "check realm_id" in run.stderr
    assert "Traceback" not in run.stderr
    assert emu.request_counts().get("token", 0) == 2  # one retry, with a fresh token
    check = run_tap(config, None, ["--test"])
    assert check.returncode != 0
    assert "check realm_id" in check.stderr


def test_a_token_file_of_another_company_is_neither_used_nor_sealed(
    make_company, tmp_path: Path
) -> None:
    emu = make_company(seed=10, scale=150, realms=2)
    emu.behaviour.strict_rotation = True
    shared = tmp_path / "shared-token.json"
    first, second = (
        {**emu.tap_config(realm), "token_store_path": str(shared)} for realm in emu.realm_ids
    )
    catalog = select(first, ["terms"])
    assert run_tap(first, None, ["--catalog", str(catalog)]).returncode == 0
    run = run_tap(second, None, ["--catalog", str(catalog)])
    assert run.returncode == 0, run.stderr[-2000:]
    assert "not of this run's realm" in run.stderr
    sealer = TokenSealer(second["client_id"], second["client_secret"])
    kept = sealer.open(run.last_state["quickbooks_auth"]["refresh_token"])
    assert emu.oauth.realm_of_refresh(kept) == emu.realm_ids[1]


def test_an_unlabelled_token_of_another_company_moves_on_to_the_next(
    make_company, tmp_path: Path
) -> None:
    emu = make_company(seed=10, scale=150, realms=2)
    other = emu.oauth.issue_initial(emu.realm_ids[0])
    store = tmp_path / "token.json"
    # A token file of an older version: no realm_id, and newer than the config's token.
    store.write_text(json.dumps({"refresh_token": other, "updated_at": "2030-01-01T00:00:00"}))
    config = {**emu.tap_config(emu.realm_ids[1]), "token_store_path": str(store)}
    run = run_tap(config, None, ["--catalog", str(select(config, ["terms"]))])
    assert run.returncode == 0, run.stderr[-2000:]
    assert "refused a fresh access token" in run.stderr
    assert_every_record_of(emu, emu.realm_ids[1], run, ["terms"])
    sealer = TokenSealer(config["client_id"], config["client_secret"])
    kept = sealer.open(run.last_state["quickbooks_auth"]["refresh_token"])
    assert emu.oauth.realm_of_refresh(kept) == emu.realm_ids[1]


def assert_every_record_of(emu, realm: str, run, streams: list[str]) -> None:
    for stream in streams:
        expected = truth(emu, realm, stream)
        assert expected
        assert set(expected) <= {key_of(r) for r in run.records.get(stream, [])}


# -- the token store -------------------------------------------------------------------------


DISK_FAULT_SITE = Path(__file__).parent / "disk_fault_site"


def disk_fault(folder: Path, *, after: int = 0, code: str = "ENOSPC", probe: bool = False):
    """The environment of a tap process whose token folder fails as a full (or read-only)
    disk does: after ``after`` token writes, or (``probe``) from the start."""
    path = os.pathsep.join([str(DISK_FAULT_SITE), os.environ.get("PYTHONPATH", "")])
    env = {"PYTHONPATH": path, "DISK_FAULT_DIR": str(folder), "DISK_FAULT_ERRNO": code}
    return {**env, "DISK_FAULT_AFTER": str(after), "DISK_FAULT_PROBE": "fail" if probe else ""}


@pytest.mark.parametrize("kind", ["a directory", "under a file", "a full disk", "a read-only disk"])
def test_an_unwritable_token_store_stops_before_any_refresh(
    make_company, tmp_path: Path, kind: str
) -> None:
    emu = make_company(seed=12, scale=100)
    (tmp_path / "plain-file").write_text("x")
    path = {
        "a directory": tmp_path,
        "under a file": tmp_path / "plain-file" / "token.json",
    }.get(kind, tmp_path / "qbo.json")
    code = {"a full disk": "ENOSPC", "a read-only disk": "EROFS"}.get(kind)
    env = disk_fault(tmp_path, code=code, probe=True) if code else None
    config = {**emu.tap_config(), "token_store_path": str(path)}
    catalog = select({**config, "token_store_path": str(tmp_path / "ok.json")}, ["terms"])
    emu.reset_counts()
    run = run_tap(config, None, ["--catalog", str(catalog)], env=env)
    assert run.returncode != 0
    assert "token_store_path" in run.stderr
    if code:
        assert "cannot be written (" + os.strerror(getattr(errno, code)) in run.stderr
    assert "Traceback" not in run.stderr
    assert emu.request_counts().get("token", 0) == 0  # the config's token is still live


def test_a_token_store_failing_mid_run_still_puts_the_token_in_state(
    make_company, tmp_path: Path
) -> None:
    emu = make_company(seed=12, scale=1500)
    emu.behaviour.strict_rotation = True
    emu.behaviour.access_token_lifetime = 1
    emu.behaviour.latency_ms = 100
    folder = tmp_path / "tokens"
    config = {**emu.tap_config(), "token_store_path": str(folder / "qbo.json"), "page_size": 20}
    streams = ["invoices", "customers", "payments"]
    catalog = select(config, streams)

    def break_the_store(realm: str, kind: str, number: int) -> None:
        if number == 3 and folder.is_dir():  # the disk goes away after the first refresh
            shutil.rmtree(folder)
            folder.write_text("not a directory any more")

    emu.add_hook(break_the_store)
    run = run_tap(config, None, ["--catalog", str(catalog)])
    emu.remove_hook(break_the_store)
    assert run.returncode != 0
    assert "could NOT be saved" in run.stderr
    assert "Traceback" not in run.stderr
    assert_every_record(emu, run, streams)
    # The state alone carries the live token: the next run (store fixed) misses nothing.
    fixed = {**config, "token_store_path": str(tmp_path / "fixed.json")}
    again = run_tap(fixed, run.last_state, ["--catalog", str(catalog)])
    assert again.returncode == 0, again.stderr[-2000:]


def refresh_at_emulator(emu, token: str) -> str:
    """Refresh as another process would: with strict rotation, ``token`` dies."""
    answer = requests.post(
        emu.token_url,
        auth=(emu.client_id, emu.client_secret),
        data={"grant_type": "refresh_token", "refresh_token": token},
        timeout=10,
    )
    assert answer.status_code == 200
    return answer.json()["refresh_token"]


def test_a_token_left_in_a_temporary_by_a_kill_is_found(make_company, tmp_path: Path) -> None:
    emu = make_company(seed=13, scale=100)
    emu.behaviour.strict_rotation = True
    store = tmp_path / "qbo.json"
    config = {**emu.tap_config(), "token_store_path": str(store)}
    catalog = select(config, ["terms"])
    assert run_tap(config, None, ["--catalog", str(catalog)]).returncode == 0
    saved = json.loads(store.read_text())
    # Killed after writing the temporary copy and before renaming it over the file.
    newer = {**saved, "refresh_token": refresh_at_emulator(emu, saved["refresh_token"])}
    # Stamped as the file (a clock step, or within its precision): each copy is still tried.
    newer["updated_at"] = saved["updated_at"]
    (tmp_path / ".qbo.json.k1ll3d").write_text(json.dumps(newer))
    run = run_tap(config, None, ["--catalog", str(catalog)])
    assert run.returncode == 0, run.stderr[-2000:]


def test_the_loser_of_a_refresh_race_rereads_the_token_file(make_company) -> None:
    emu = make_company(seed=13, scale=100)
    emu.behaviour.strict_rotation = True
    start = emu.refresh_token()
    live = refresh_at_emulator(emu, start)  # the other run won: ``start`` is dead

    def authenticator(reread_token: str) -> QuickBooksAuthenticator:
        return QuickBooksAuthenticator(
            client_id=emu.client_id,
            client_secret=emu.client_secret,
            token_url=emu.token_url,
            candidates=[RefreshTokenCandidate("token file", start)],
            on_refresh_token=lambda token: "kept",
            reread=lambda: RefreshTokenCandidate("token file", reread_token),
        )

    winner = authenticator(live)
    winner.update_access_token()
    assert winner.access_token
    with pytest.raises(QuickBooksAuthError, match="another run of this company rotated it"):
        authenticator(start).update_access_token()


def test_a_changed_client_secret_keeps_the_run_going(make_company) -> None:
    emu = make_company(seed=14, scale=100)
    emu.behaviour.strict_rotation = True
    config = emu.tap_config()
    catalog = select(config, ["terms"])
    first = run_tap(config, None, ["--catalog", str(catalog)])
    assert first.returncode == 0
    emu.oauth.client_secret = "a-new-secret-0123456789abcdefABCDEF"  # rotated in the app
    changed = {**config, "client_secret": emu.oauth.client_secret}
    run = run_tap(changed, first.last_state, ["--catalog", str(catalog)])
    assert run.returncode == 0, run.stderr[-2000:]
    assert "previous client_secret" in run.stderr


# -- where tokens may go ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "http://example.com\\@127.0.0.1:9/",
        "https://user:pass@quickbooks.example.com/",
        "https://quickbooks.example.com/#x",
        "http://example.com/",
    ],
)
def test_urls_are_read_as_the_http_client_reads_them(url: str) -> None:
    for key in ("api_url", "token_url"):
        assert any(p.startswith(f"{key}:") for p in settings_problems({key: url})), url


def test_a_backslash_url_is_refused_before_anything_is_sent(make_company) -> None:
    emu = make_company(seed=15, scale=100)
    port = emu.base_url.rsplit(":", 1)[1]
    config = {**emu.tap_config(), "token_url": f"http://example.com\\@127.0.0.1:{port}/x"}
    run = run_tap(config, None, ["--test"])
    assert run.returncode != 0
    assert "backslash" in run.stderr


class _Redirect(BaseHTTPRequestHandler):
    target = ""

    def do_POST(self) -> None:
        self.send_response(307)
        self.send_header("Location", self.target)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


def test_token_calls_never_follow_a_redirect(make_company) -> None:
    emu = make_company(seed=15, scale=100)
    handler = type("Redirect", (_Redirect,), {"target": emu.token_url})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        config = {**emu.tap_config(), "token_url": f"http://127.0.0.1:{server.server_port}/t"}
        emu.reset_counts()
        run = run_tap(config, None, ["--test"])
    finally:
        server.shutdown()
    assert run.returncode != 0
    assert "redirect" in run.stderr
    assert emu.request_counts().get("token", 0) == 0  # the refresh token went nowhere else


def test_the_discovery_document_answers_with_a_trailing_slash(make_company) -> None:
    emu = make_company(seed=15, scale=100)
    for path in ("/.well-known/openid_configuration", "/.well-known/openid_configuration/"):
        answer = requests.get(emu.base_url + path, timeout=10)
        assert answer.status_code == 200, path
        assert answer.json()["token_endpoint"] == emu.token_url


def test_a_full_disk_mid_run_keeps_the_token_in_state_and_the_next_run_misses_nothing(
    make_company, tmp_path: Path
) -> None:
    emu = make_company(seed=12, scale=1500)
    emu.behaviour.strict_rotation = True
    emu.behaviour.access_token_lifetime = 1
    emu.behaviour.latency_ms = 100
    folder = tmp_path / "tokens"
    store = folder / "qbo.json"
    config = {**emu.tap_config(), "token_store_path": str(store), "page_size": 20}
    streams = ["invoices", "customers", "payments"]
    catalog = ["--catalog", str(select(config, streams))]
    # The first rotated token reaches the file; the disk is full for every later one.
    run = run_tap(config, None, catalog, env=disk_fault(folder, after=1))
    assert run.returncode != 0
    assert "could NOT be saved" in run.stderr
    assert "No space left on device" in run.stderr
    assert "Traceback" not in run.stderr
    assert run_count(run, "Access token refreshed") >= 2  # rotations after the disk filled
    assert_every_record(emu, run, streams)
    assert_nothing_leaked(emu, run.stdout + run.stderr)
    # The file holds a token QBO has since killed; the last STATE holds the live one.
    kept = json.loads(store.read_text())["refresh_token"]
    assert emu.oauth.refresh[kept].dead
    sealed = run.last_state["quickbooks_auth"]["refresh_token"]
    live = TokenSealer(config["client_id"], config["client_secret"]).open(sealed)
    assert not emu.oauth.refresh[live].dead
    # The disk freed, the next run (same token file, the last STATE) is not stranded, and
    # brings what changed since.
    emu.clock.advance(seconds=5)
    invoice = emu.ground_truth(emu.realm_ids[0], "Invoice")[0]["Id"]
    emu.store(emu.realm_ids[0]).update("Invoice", invoice, {"PrivateNote": "after the full disk"})
    again = run_tap(config, run.last_state, catalog)
    assert again.returncode == 0, again.stderr[-2000:]
    assert any(
        r["Id"] == invoice and r.get("PrivateNote") == "after the full disk"
        for r in again.records["invoices"]
    )
    assert json.loads(store.read_text())["refresh_token"] != kept  # the file caught up
