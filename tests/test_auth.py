"""OAuth that never strands a user, proven against the emulator's strict rotation."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import requests

from tests.singer import run_tap, run_tap_until_killed
from tests.test_tap_sync import select


def strict_company(make_company, lifetime: int = 3600):
    emu = make_company(seed=17, scale=300)
    emu.behaviour.strict_rotation = True
    emu.behaviour.access_token_lifetime = lifetime
    return emu


def login_config(emu, tmp_path: Path, **extra: str) -> Path:
    """A config holding only the app's credentials, as before a first authorization."""
    path = tmp_path / "config.json"
    config = {"client_id": emu.client_id, "client_secret": emu.client_secret,
              "token_url": emu.token_url, **extra}  # fmt: skip
    path.write_text(json.dumps(config))
    return path


def assert_no_secret_logged(run, secrets: list[str]) -> None:
    for secret in secrets:
        assert secret not in run.stderr, "a secret reached the log"


def test_three_runs_in_a_row_with_strict_rotation_and_expiring_tokens(make_company) -> None:
    emu = strict_company(make_company, lifetime=2)  # access tokens die mid-run
    config = emu.tap_config()
    catalog = select(config, ["invoices", "customers", "payments"])
    state = None
    for _ in range(3):
        run = run_tap(config, state, ["--catalog", str(catalog)])
        assert run.returncode == 0, run.stderr[-2000:]
        state = run.last_state
        assert "quickbooks_auth" in state
        # State alone grants nothing: the token in it is sealed.
        assert config["refresh_token"] not in json.dumps(state)
        assert_no_secret_logged(run, [config["client_secret"], config["refresh_token"]])
        emu.clock.advance(days=2)  # past the 24-hour window: QBO rotates on the next refresh


def test_a_run_killed_right_after_a_refresh_strands_nothing(make_company) -> None:
    emu = strict_company(make_company)
    config = emu.tap_config()
    args = ["--catalog", str(select(config, ["invoices"]))]
    emu.clock.advance(days=2)
    killed = run_tap_until_killed(config, None, 1, args)
    # The refresh rotated the token (the config's is now dead) and the state line came first.
    assert killed.last_state
    assert "quickbooks_auth" in killed.last_state
    resumed = run_tap(config, killed.last_state, args)
    assert resumed.returncode == 0, resumed.stderr[-2000:]


def test_the_token_file_alone_carries_rotation(make_company, tmp_path: Path) -> None:
    emu = strict_company(make_company)
    token_file = tmp_path / "tokens" / "qbo.json"
    config = {**emu.tap_config(), "token_store_path": str(token_file)}
    args = ["--catalog", str(select(config, ["terms"]))]
    for _ in range(3):
        emu.clock.advance(days=2)
        run = run_tap(config, None, args)  # no state handed on
        assert run.returncode == 0, run.stderr[-2000:]
        assert token_file.stat().st_mode & 0o777 == 0o600
    assert json.loads(token_file.read_text())["refresh_token"] != config["refresh_token"]


def test_unrecoverable_invalid_grant_says_how_to_reauthorize(make_company) -> None:
    emu = strict_company(make_company)
    config = {**emu.tap_config(), "refresh_token": "revoked-refresh-token-value"}
    run = run_tap(config, None, ["--catalog", str(select(config, ["terms"]))])
    assert run.returncode != 0
    assert "invalid_grant" in run.stderr
    assert "tap-quickbooks-auth" in run.stderr
    assert "revoked-refresh-token-value" not in run.stderr
    assert "Traceback" not in run.stderr


def test_a_stale_state_token_falls_back_to_the_config(make_company) -> None:
    emu = strict_company(make_company)
    config = emu.tap_config()
    args = ["--catalog", str(select(config, ["terms"]))]
    emu.clock.advance(days=2)
    first = run_tap(config, None, args)
    assert first.returncode == 0
    stale_state = first.last_state
    emu.clock.advance(days=2)
    assert run_tap(config, stale_state, args).returncode == 0  # rotates the state's token away
    # The user re-authorized: the config holds a new token, the state an old dead one.
    fresh = {**config, "refresh_token": emu.oauth.issue_initial(emu.realm_ids[0])}
    second = run_tap(fresh, stale_state, args)
    assert second.returncode == 0, second.stderr[-2000:]


def test_login_helper_headless_flow_writes_the_config(make_company, tmp_path: Path) -> None:
    emu = make_company(seed=2, scale=100)
    config_path = login_config(emu, tmp_path, api_url=emu.base_url)
    login = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tap_quickbooks.login",
            "--config",
            str(config_path),
            "--headless",
            "--authorize-url",
            emu.authorize_url,
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert login.stdout is not None
    url = next(line.strip() for line in login.stdout if line.startswith("http"))
    # The user consents in a browser; the emulator redirects with code, state and realmId.
    consent = requests.get(url, allow_redirects=False, timeout=10)
    assert consent.status_code == 302
    out, err = login.communicate(consent.headers["Location"] + "\n", timeout=30)
    assert login.returncode == 0, err
    written = json.loads(config_path.read_text())
    assert written["realm_id"] in emu.realm_ids
    assert written["refresh_token"]
    assert config_path.stat().st_mode & 0o777 == 0o600
    assert written["refresh_token"] not in out + err
    # The written config works.
    check = run_tap(written, args=["--test"])
    assert check.returncode == 0, check.stderr


def test_login_helper_refuses_a_forged_state(make_company, tmp_path: Path) -> None:
    emu = make_company(seed=2, scale=100)
    config_path = login_config(emu, tmp_path)
    login = subprocess.run(
        [
            sys.executable,
            "-m",
            "tap_quickbooks.login",
            "--config",
            str(config_path),
            "--headless",
            "--authorize-url",
            emu.authorize_url,
        ],
        input="http://localhost:8765/callback?code=abc&state=forged&realmId=1\n",
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert login.returncode == 1
    assert "CSRF" in login.stderr
    assert "refresh_token" not in json.loads(config_path.read_text())


def test_login_helper_listener_flow(make_company, tmp_path: Path) -> None:
    emu = make_company(seed=2, scale=100)
    config_path = login_config(emu, tmp_path)
    redirect = "http://127.0.0.1:18765/callback"
    login = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tap_quickbooks.login",
            "--config",
            str(config_path),
            "--authorize-url",
            emu.authorize_url,
            "--redirect-uri",
            redirect,
            "--no-browser",
            "--timeout",
            "30",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert login.stdout is not None
    url = next(line.strip() for line in login.stdout if line.startswith("http"))
    # The browser follows the redirect to the tap's localhost listener.
    landed = requests.get(url, timeout=30)
    assert landed.status_code == 200
    assert login.wait(timeout=30) == 0
    assert json.loads(config_path.read_text())["refresh_token"]
