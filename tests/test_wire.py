"""Answers off the wire (wire.py): one deadline for the whole answer, a cap on its size, for
API and token calls alike; a run stopped by either resumes with nothing missed."""

from __future__ import annotations

import time

import pytest
import requests

from tap_quickbooks import wire
from tap_quickbooks.tap import TapQuickBooks
from tests.hostile import HostileProxy, gzip_bomb, nth
from tests.singer import run_tap
from tests.test_resilience import assert_equals_truth, tagged
from tests.test_tap_sync import select


def always(mode: str):
    return lambda method, path: mode


@pytest.mark.parametrize("mode", ["trickle", "trickle_headers"])
def test_an_answer_trickling_in_is_cut_off_at_request_timeout(mode: str) -> None:
    with HostileProxy("http://127.0.0.1:9", always(mode)) as peer:
        started = time.monotonic()
        with pytest.raises(requests.exceptions.ReadTimeout, match=r"within 1s \(request_timeout\)"):
            wire.session().get(f"{peer.url}/v3/company/1/query", timeout=(5, 1))
        assert time.monotonic() - started < 2.5  # not a byte's wait past the deadline


@pytest.mark.parametrize("mode", ["bomb", "flood"])
def test_an_answer_inflating_past_the_cap_is_refused_in_one_sentence(mode: str) -> None:
    with HostileProxy("http://127.0.0.1:9", always(mode)) as peer:
        started = time.monotonic()
        with pytest.raises(wire.AnswerTooLarge) as refused:
            wire.session().get(f"{peer.url}/v3/company/1/query?query=x", timeout=(5, 30))
        assert time.monotonic() - started < 20
    text = str(refused.value)
    assert "GET /v3/company/1/query grew past 64 MiB" in text
    assert "\n" not in text
    assert "query=x" not in text


def test_every_stream_sends_through_one_session_whose_answers_wire_reads(company) -> None:
    tap = TapQuickBooks(config=company.tap_config(), validate_config=True)
    # Every stream that talks to QBO (sync_status only reports how the others went).
    sessions = {
        id(stream.requests_session)
        for stream in tap.streams.values()
        if hasattr(stream, "requests_session")
    }
    assert sessions == {id(tap.company.http_session)}
    for url in (company.base_url, "https://quickbooks.api.intuit.com"):
        assert isinstance(tap.company.http_session.get_adapter(url), wire.AnswerAdapter)
    # And it is the one used: an ordinary answer, read whole.
    stream = tap.streams["terms"]
    request = stream.build_prepared_request(
        method="GET",
        url=f"{company.base_url}/v3/company/{tap.company.realm_id}/query",
        params={"query": "SELECT * FROM Term", "minorversion": 75},
        headers={},
    )
    response = stream.requests_session.send(tap.company.authenticator(request), timeout=(5, 10))
    assert response.status_code == 200
    assert response.json()["QueryResponse"]["Term"]


FAST = {"max_retries": 1, "max_retry_wait": 0.05, "request_timeout": 1, "connect_timeout": 2}
STREAMS = ["invoices", "customers"]


@pytest.mark.parametrize(
    ("mode", "sentence"),
    [
        ("trickle", "no complete answer to GET /v3/company/"),
        ("bomb", "grew past 64 MiB"),
        ("flood", "grew past 64 MiB"),
    ],
)
def test_a_run_meeting_a_hostile_answer_stops_clearly_and_resumes(
    make_company, mode: str, sentence: str
) -> None:
    gzip_bomb()  # made before the run, so that it comes at once
    emu = make_company(seed=53, scale=500)
    clean = {**emu.tap_config(), "page_size": 5, **FAST}
    args = ["--catalog", str(select(clean, STREAMS))]
    # The 4th query and, for the trickle, its retry too.
    plan = nth("/query", 4, mode) if mode != "trickle" else _from_nth("/query", 4, mode)
    with HostileProxy(emu.base_url, plan) as peer:
        config = {**clean, "api_url": peer.url}
        started = time.monotonic()
        failed = run_tap(config, None, args)
        elapsed = time.monotonic() - started
    assert failed.returncode == 1, failed.stderr[-3000:]
    assert sentence in failed.stderr
    assert "Traceback" not in failed.stderr
    assert elapsed < 60
    resumed = run_tap(clean, failed.last_state, args)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert_equals_truth(emu, tagged(failed) + tagged(resumed), STREAMS)


def _from_nth(kind: str, n: int, mode: str):
    seen = {"count": 0}

    def plan(method: str, path: str) -> str | None:
        if kind not in path:
            return None
        seen["count"] += 1
        return mode if seen["count"] >= n else None

    return plan


def test_a_token_endpoint_trickling_in_is_cut_off_too(make_company) -> None:
    emu = make_company(seed=59, scale=50)
    with HostileProxy(emu.base_url, always("trickle")) as peer:
        config = {**emu.tap_config(), "token_url": f"{peer.url}/oauth2/v1/tokens/bearer", **FAST}
        started = time.monotonic()
        run = run_tap(config, None, ["--catalog", str(select(emu.tap_config(), ["terms"]))])
        elapsed = time.monotonic() - started
    assert run.returncode != 0
    assert "Traceback" not in run.stderr
    assert "token endpoint" in run.stderr
    assert elapsed < 30  # a few tries of a second each, not minutes
