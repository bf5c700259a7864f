"""Fixtures for the emulator's own tests."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import requests

from qbo_emulator import Emulator

RECORDED = Path(__file__).resolve().parents[1] / "fixtures" / "recorded"
READ_ONLY_TODAY = "2026-06-17T10:30:00-07:00"


class Api:
    """A thin client of one realm: a fresh access token from the token endpoint, JSON helpers."""

    def __init__(self, emu: Emulator, realm: str | None = None):
        self.emu = emu
        self.realm = realm or emu.realm_ids[0]
        self.session = requests.Session()
        self.token = self.refresh()["access_token"]

    def refresh(self, refresh_token: str | None = None) -> dict:
        r = requests.post(
            self.emu.token_url,
            auth=(self.emu.client_id, self.emu.client_secret),
            data={
                "grant_type": "refresh_token",
                "refresh_token": refresh_token or self.emu.refresh_token(self.realm),
            },
            timeout=10,
        )
        assert r.status_code == 200, r.text
        return r.json()

    @property
    def base(self) -> str:
        return f"{self.emu.base_url}/v3/company/{self.realm}"

    def headers(self, **extra) -> dict:
        return {"Authorization": f"Bearer {self.token}", "Accept": "application/json", **extra}

    def get(self, path: str, params: dict | None = None, **kw) -> requests.Response:
        params = {**(params or {}), "minorversion": "75"}
        return self.session.get(
            self.base + path, params=params, headers=self.headers(), timeout=30, **kw
        )

    def post(
        self, path: str, body, params: dict | None = None, content_type="application/json"
    ) -> requests.Response:
        data = body if isinstance(body, (str, bytes)) else json.dumps(body)
        return self.session.post(
            self.base + path,
            params={**(params or {}), "minorversion": "75"},
            data=data,
            headers=self.headers(**{"Content-Type": content_type}),
            timeout=30,
        )

    def query(self, q: str) -> requests.Response:
        return self.get("/query", {"query": q})

    def rows(self, q: str, entity: str) -> list[dict]:
        r = self.query(q)
        assert r.status_code == 200, r.text
        return r.json()["QueryResponse"].get(entity, [])


@pytest.fixture(scope="session")
def emu_ro():
    """A shared two-realm company for tests that only read. Do not mutate it.

    Its clock starts on a fixed mid-month day, so month-to-date reports hold transactions whatever
    today is (on the 1st of a month they have none, and recorded shapes would not compare).
    """
    with Emulator(seed=3, scale=1500, realms=2, now=READ_ONLY_TODAY) as emu:
        yield emu


@pytest.fixture(scope="session")
def api_ro(emu_ro) -> Api:
    return Api(emu_ro)


@pytest.fixture
def fresh():
    """Factory of private, started emulators for tests that mutate data or switch behaviours."""
    made: list[Emulator] = []

    def make(**kw) -> Emulator:
        kw.setdefault("seed", 5)
        kw.setdefault("scale", 400)
        emu = Emulator(**kw).start()
        made.append(emu)
        return emu

    yield make
    for emu in made:
        emu.stop()


def recorded(name: str):
    return json.loads((RECORDED / name).read_text())


def recorded_index() -> dict[str, dict]:
    rows = json.loads((RECORDED / "_index_qbo_api.json").read_text())
    return {r["file"]: r for r in rows}
