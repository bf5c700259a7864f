"""Run ``quickbooks-webhooks`` as a process on a free port for tests and the bench."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

from quickbooks_webhooks.store import EventStore, open_store

BIN = Path(sys.executable).parent / "quickbooks-webhooks"
TOKEN = "test-verifier-token-3f9a"


def sign(body: bytes, token: str = TOKEN) -> str:
    return base64.b64encode(hmac.new(token.encode(), body, hashlib.sha256).digest()).decode()


class Receiver:
    def __init__(self, workdir: Path, **config) -> None:
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        # A SQLite file of its own unless the test names a store (a Postgres URL).
        self.store_path = config.pop("store_url", None) or str(self.workdir / "events.sqlite3")
        config = {"verifier_token": TOKEN, "port": 0, "store_url": self.store_path, **config}
        self.config_path = self.workdir / "webhooks.json"
        self.config_path.write_text(json.dumps(config))
        self.proc = subprocess.Popen(
            [str(BIN), "--config", str(self.config_path)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={k: v for k, v in os.environ.items() if not k.startswith("QUICKBOOKS_WEBHOOKS_")},
        )
        line: list[str] = []
        reader = threading.Thread(target=lambda: line.append(self.proc.stdout.readline()))
        reader.start()
        reader.join(timeout=30)
        if not line or not line[0].startswith("LISTENING http://"):
            self.proc.kill()
            raise RuntimeError(f"receiver did not start: {line} {self.proc.stderr.read()}")
        self.base = line[0].split()[1]
        self.url = self.base + "/webhooks/quickbooks"

    def post(self, body: bytes, signature: str | None = "sign", headers: dict | None = None):
        """(status, JSON answer) of one delivery; ``signature="sign"`` signs it properly."""
        hdrs = {"content-type": "application/json", **(headers or {})}
        if signature == "sign":
            hdrs["intuit-signature"] = sign(body)
        elif signature is not None:
            hdrs["intuit-signature"] = signature
        request = urllib.request.Request(self.url, data=body, method="POST", headers=hdrs)  # noqa: S310
        try:
            with urllib.request.urlopen(request, timeout=30) as answer:  # noqa: S310
                return answer.status, json.loads(answer.read())
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read() or b"null")

    def status(self) -> dict:
        with urllib.request.urlopen(self.url + "/status", timeout=30) as answer:  # noqa: S310
            return json.loads(answer.read())

    def events(self) -> list[tuple]:
        store = self.store()
        try:
            return store.events()
        finally:
            store.close()

    def store(self) -> EventStore:
        """The receiver's store, opened as the scheduler opens it."""
        return open_store(self.store_path)

    def stop(self) -> str:
        self.proc.terminate()
        try:
            _out, err = self.proc.communicate(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            _out, err = self.proc.communicate()
        return err

    def __enter__(self) -> Receiver:
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


def cloud_event(realm: str, entity: str, entity_id: str, verb: str = "updated", **extra) -> dict:
    return {
        "specversion": "1.0",
        "id": extra.pop("id", f"{realm}-{entity}-{entity_id}-{verb}"),
        "source": "intuit.test",
        "type": f"qbo.{entity.lower()}.{verb}.v1",
        "time": "2026-05-20T10:00:00.000Z",
        "intuitentityid": entity_id,
        "intuitaccountid": realm,
        "data": {},
        **extra,
    }


def wait_for(check, timeout: float = 30.0, step: float = 0.05):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = check()
        if result:
            return result
        time.sleep(step)
    return check()
