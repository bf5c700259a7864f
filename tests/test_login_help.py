"""The login helper as a newcomer first meets it: against the emulator, with no hidden option."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import requests

from tests.singer import run_tap


def login_config(emu, tmp_path: Path) -> Path:
    path = tmp_path / "config.json"
    config = {"client_id": emu.client_id, "client_secret": emu.client_secret,
              "token_url": emu.token_url, "api_url": emu.base_url}  # fmt: skip
    path.write_text(json.dumps(config))
    return path


def login(config_path: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "tap_quickbooks.login", "--config", str(config_path), "--headless"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_a_loopback_token_url_brings_its_own_consent_page(make_company, tmp_path) -> None:
    emu = make_company(seed=2, scale=100)
    config_path = login_config(emu, tmp_path)
    helper = login(config_path)
    assert helper.stdout is not None
    url = next(line.strip() for line in helper.stdout if line.startswith("http"))
    assert url.startswith(emu.authorize_url + "?")  # not Intuit's page: no --authorize-url
    consent = requests.get(url, allow_redirects=False, timeout=10)
    assert consent.status_code == 302
    _, err = helper.communicate(consent.headers["Location"] + "\n", timeout=30)
    assert helper.returncode == 0, err
    written = json.loads(config_path.read_text())
    assert written["realm_id"] in emu.realm_ids
    assert run_tap(written, args=["--test"]).returncode == 0


def test_an_empty_paste_says_nothing_was_pasted(make_company, tmp_path) -> None:
    emu = make_company(seed=2, scale=100)
    config_path = login_config(emu, tmp_path)
    helper = login(config_path)
    _, err = helper.communicate("\n", timeout=30)
    assert helper.returncode == 1
    assert "Nothing was pasted" in err
    assert "CSRF" not in err
    assert "Traceback" not in err
