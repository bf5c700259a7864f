"""The admin HTTP API and the ``qbo-emulator`` command."""

from __future__ import annotations

import json
import signal
import subprocess
import sys

import requests

from .conftest import Api


def test_admin_api(fresh):
    emu = fresh()
    base = f"{emu.base_url}/_emulator"
    info = requests.get(f"{base}/info", timeout=10).json()
    assert info["realm_ids"] == emu.realm_ids
    assert info["client_id"] == emu.client_id
    assert info["refresh_tokens"][emu.realm_ids[0]] == emu.refresh_token()
    assert len(info["entities"]) == 41
    cfg = requests.get(f"{base}/tap_config", timeout=10).json()
    assert cfg == emu.tap_config()
    realm = emu.realm_ids[0]
    terms = requests.get(f"{base}/ground_truth/{realm}/Term", timeout=10).json()
    assert terms == emu.ground_truth(realm, "Term")
    r = requests.post(
        f"{base}/mutate",
        json={
            "realm": realm,
            "op": "update",
            "entity": "Term",
            "id": terms[0]["Id"],
            "changes": {"DueDays": 77},
        },
        timeout=10,
    )
    assert r.json()["DueDays"] == 77
    assert r.json()["SyncToken"] == str(int(terms[0]["SyncToken"]) + 1)
    inv = emu.ground_truth(realm, "Invoice")[0]["Id"]
    requests.post(
        f"{base}/mutate",
        json={"realm": realm, "op": "delete", "entity": "Invoice", "id": inv},
        timeout=10,
    )
    assert requests.get(f"{base}/deleted/{realm}/Invoice", timeout=10).json()[0]["Id"] == inv
    bad = requests.post(
        f"{base}/mutate",
        json={"realm": realm, "op": "delete", "entity": "Customer", "id": "1"},
        timeout=10,
    )
    assert bad.status_code == 400
    changes = requests.get(f"{base}/changes/{realm}", timeout=10).json()
    assert [c["op"] for c in changes] == ["Update", "Delete"]
    before = emu.clock.epoch()
    requests.post(f"{base}/clock", json={"advance_days": 2}, timeout=10)
    assert emu.clock.epoch() - before >= 2 * 86400
    requests.post(f"{base}/behaviour", json={"latency_ms": 5, "faults": {"1": "503"}}, timeout=10)
    assert emu.behaviour.latency_ms == 5
    api = Api(emu)
    assert api.query("select * from Term").status_code == 503
    counts = requests.get(f"{base}/counts", timeout=10).json()
    assert counts["query"] == 1
    requests.post(f"{base}/counts/reset", timeout=10)
    assert requests.get(f"{base}/counts", timeout=10).json() == {}


def test_cli_serves_and_writes_the_tap_config(tmp_path):
    cfg_path = tmp_path / "config.json"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "qbo_emulator.cli",
            "--port",
            "0",
            "--seed",
            "2",
            "--scale",
            "300",
            "--write-config",
            str(cfg_path),
            "--latency-ms",
            "1",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        base_url = proc.stdout.readline().strip()
        assert base_url.startswith("http://127.0.0.1:")
        cfg = json.loads(cfg_path.read_text())
        assert set(cfg) == {
            "client_id",
            "client_secret",
            "refresh_token",
            "realm_id",
            "api_url",
            "token_url",
        }
        assert cfg["api_url"] == base_url
        assert cfg["token_url"] == f"{base_url}/oauth2/v1/tokens/bearer"
        tok = requests.post(
            cfg["token_url"],
            auth=(cfg["client_id"], cfg["client_secret"]),
            data={"grant_type": "refresh_token", "refresh_token": cfg["refresh_token"]},
            timeout=10,
        )
        access = tok.json()["access_token"]
        r = requests.get(
            f"{base_url}/v3/company/{cfg['realm_id']}/query",
            params={"query": "select count(*) from Invoice"},
            headers={"Authorization": f"Bearer {access}"},
            timeout=10,
        )
        assert r.status_code == 200
        assert r.json()["QueryResponse"]["totalCount"] > 0
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
