"""Behaviours: latency, QBO's limits, faults, hooks; several realms."""

from __future__ import annotations

import http.client
import json
import threading
import time
from urllib.parse import quote, urlsplit

import pytest
import requests

from .conftest import Api

Q = "/query?query=" + quote("SELECT * FROM Term") + "&minorversion=75"


def raw_get(emu, api: Api, path: str = Q):
    """One request on a fresh connection: (status, headers, body) or the exception raised."""
    u = urlsplit(emu.base_url)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=10)
    try:
        conn.request(
            "GET",
            f"/v3/company/{api.realm}{path}",
            headers={"Authorization": f"Bearer {api.token}"},
        )
        resp = conn.getresponse()
        return resp.status, dict(resp.getheaders()), resp.read()
    except Exception as exc:
        return exc
    finally:
        conn.close()


def test_latency_per_request_and_per_record(fresh):
    emu = fresh()
    api = Api(emu)
    emu.behaviour.latency_ms = 150
    t = time.perf_counter()
    api.query("SELECT COUNT(*) FROM Term")
    assert time.perf_counter() - t >= 0.15
    emu.behaviour.latency_ms = 0
    emu.behaviour.per_record_ms = 20
    t = time.perf_counter()
    rows = api.rows("SELECT * FROM Term", "Term")
    assert time.perf_counter() - t >= 0.02 * len(rows) > 0


def test_scheduled_faults_answer_like_qbo(fresh):
    emu = fresh()
    api = Api(emu)
    kinds = [
        "500",
        "502",
        "503",
        "504",
        "429",
        "truncated_json",
        "truncated_close",
        "reset",
        "fault200",
        "401",
    ]
    emu.behaviour.faults = {i + 1: k for i, k in enumerate(kinds)}
    got = {k: raw_get(emu, api) for k in kinds}

    status, headers, body = got["500"]
    assert status == 500
    assert json.loads(body)["Fault"]["type"] == "SystemFault"
    status, headers, body = got["502"]
    assert status == 502
    assert headers["Content-Type"] == "text/html"
    status, headers, body = got["503"]
    assert status == 503
    assert headers["Content-Type"] == "text/html"
    assert b"503 Service Unavailable" in body
    status, headers, body = got["504"]
    assert status == 504
    assert headers["Content-Type"] == "application/xml"
    assert b'<Error code="6002">' in body
    assert b"GatewayTimeout" in body
    status, headers, body = got["429"]
    assert status == 429
    assert headers["Content-Type"] == "application/xml"
    assert b'<Fault type="SERVICE"><Error code="3001"><Message>message=ThrottleExceeded' in body
    status, headers, body = got["truncated_json"]
    assert status == 200
    assert int(headers["Content-Length"]) == len(body)
    with pytest.raises(json.JSONDecodeError):
        json.loads(body)
    assert isinstance(got["truncated_close"], http.client.IncompleteRead)
    assert isinstance(got["reset"], (ConnectionError, http.client.RemoteDisconnected))
    status, headers, body = got["fault200"]
    assert status == 200
    assert "Fault" in json.loads(body)
    status, headers, body = got["401"]
    assert status == 401
    assert headers["WWW-Authenticate"] == 'Bearer realm="Intuit", error="invalid_token"'
    # The revoked token stays dead; a refresh gives a working one.
    assert raw_get(emu, api)[0] == 401
    api.token = api.refresh()["access_token"]
    assert raw_get(emu, api)[0] == 200
    assert [k for _, k in emu.behaviour.injected] == kinds


def test_slow_fault(fresh):
    emu = fresh()
    api = Api(emu)
    emu.behaviour.slow_ms = 300
    emu.behaviour.faults = {1: "slow"}
    t = time.perf_counter()
    assert raw_get(emu, api)[0] == 200
    assert time.perf_counter() - t >= 0.3


def test_truncated_alternates_between_both_forms(fresh):
    emu = fresh()
    api = Api(emu)
    emu.behaviour.faults = {1: "truncated", 2: "truncated"}
    first, second = raw_get(emu, api), raw_get(emu, api)
    assert isinstance(first, tuple)
    assert first[0] == 200
    assert isinstance(second, http.client.IncompleteRead)


def test_probabilistic_faults_are_deterministic_by_seed(fresh):
    def run(emu):
        api = Api(emu)
        emu.behaviour.faults = [("503", 0.3), ("500", 0.2)]
        return [raw_get(emu, api)[0] for _ in range(40)]

    a, b = run(fresh(seed=9)), run(fresh(seed=9))
    assert a == b
    assert {200, 500, 503} <= set(a)


def test_rate_limit_per_second_gives_the_xml_429(fresh):
    emu = fresh()
    api = Api(emu)
    emu.behaviour.rate_limits = True
    statuses = [api.query("SELECT COUNT(*) FROM Term").status_code for _ in range(14)]
    assert statuses[:10] == [200] * 10
    assert 429 in statuses[10:]
    r = api.query("SELECT COUNT(*) FROM Term")
    assert r.status_code == 429
    assert r.headers["Content-Type"] == "application/xml"
    time.sleep(1.05)
    assert api.query("SELECT COUNT(*) FROM Term").status_code == 200
    assert emu.request_counts()["throttled"] >= 2


def test_rate_limit_concurrency_and_per_minute(fresh):
    emu = fresh()
    api = Api(emu)
    emu.behaviour.rate_limits = True
    emu.behaviour.latency_ms = 400
    emu.behaviour.per_second = 1000  # isolate the in-flight limit
    results = []

    def call():
        results.append(
            requests.get(
                api.base + "/query",
                params={"query": "select * from Term"},
                headers=api.headers(),
                timeout=10,
            ).status_code
        )

    threads = [threading.Thread(target=call) for _ in range(14)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results.count(200) == 10
    assert results.count(429) == 4
    emu.behaviour.latency_ms = 0
    emu.behaviour.per_minute = 15
    statuses = [api.query("SELECT COUNT(*) FROM Term").status_code for _ in range(6)]
    assert statuses.count(429) == 1  # 10 + 4 refused (not counted) + 5 more = 15 per minute


def test_hooks_see_every_api_request_and_can_change_data_mid_sync(fresh):
    emu = fresh(scale=600)
    api = Api(emu)
    seen = []
    store = emu.store()
    ids = [i["Id"] for i in emu.ground_truth(api.realm, "Invoice")]

    def hook(realm, kind, number):
        seen.append((realm, kind, number))
        if len(seen) == 2:
            emu.clock.freeze()
            store.touch_many("Invoice", ids[:50])  # one timestamp for 50 invoices
            emu.clock.unfreeze()

    emu.add_hook(hook)
    q = (
        "SELECT * FROM Invoice WHERE MetaData.LastUpdatedTime >= '2000-01-01' "
        "ORDERBY MetaData.LastUpdatedTime STARTPOSITION {} MAXRESULTS 1000"
    )
    first = api.rows(q.format(1), "Invoice")
    second = api.rows(q.format(1), "Invoice")
    assert [s[1] for s in seen] == ["query", "query"]
    assert seen[0][0] == api.realm
    assert seen[1][2] == seen[0][2] + 1
    stamps = {i["MetaData"]["LastUpdatedTime"] for i in second[-50:]}
    assert len(stamps) == 1  # a second-level tie of 50 records
    assert {i["Id"] for i in second[-50:]} == set(ids[:50])
    assert first != second
    emu.remove_hook(hook)


def test_request_counts_by_kind_and_reset(fresh):
    emu = fresh()
    api = Api(emu)
    emu.reset_counts()
    api.query("select * from Term")
    api.get("/term/1")
    api.get("/reports/TrialBalance")
    api.get("/cdc", {"entities": "Term", "changedSince": emu.clock.iso()})
    counts = emu.request_counts(api.realm)
    assert counts == {"query": 1, "read": 1, "report": 1, "cdc": 1}
    emu.reset_counts()
    assert emu.request_counts() == {}


def test_several_realms_have_their_own_data_and_tokens(fresh):
    emu = fresh(realms=3)
    assert len(set(emu.realm_ids)) == 3
    names = []
    for realm in emu.realm_ids:
        api = Api(emu, realm)
        names.append(api.rows("SELECT * FROM CompanyInfo", "CompanyInfo")[0]["CompanyName"])
        assert emu.tap_config(realm)["realm_id"] == realm
    customers = [
        tuple(c["DisplayName"] for c in emu.ground_truth(r, "Customer")) for r in emu.realm_ids
    ]
    assert len(set(customers)) == 3
    emu.store(emu.realm_ids[0]).update("Term", "1", {"Name": "Changed"})
    assert emu.ground_truth(emu.realm_ids[1], "Term")[0]["Name"] != "Changed"


def test_shuffle_ties_reorders_same_second_rows_between_requests(fresh):
    emu = fresh(scale=600)
    api = Api(emu)
    ids = [i["Id"] for i in emu.ground_truth(api.realm, "Invoice")][:60]
    emu.clock.advance(seconds=100)
    emu.store().touch_many("Invoice", ids)  # the 60 newest rows, all in one second
    since = emu.clock.iso()
    q = (
        "SELECT * FROM Invoice WHERE MetaData.LastUpdatedTime >= '{}' "
        "ORDERBY MetaData.LastUpdatedTime STARTPOSITION {} MAXRESULTS 25"
    )

    def pages() -> list[str]:
        out: list[str] = []
        for start in (1, 26, 51):
            out += [r["Id"] for r in api.rows(q.format(since, start), "Invoice")]
        return out

    stable = pages()
    assert stable == sorted(ids, key=int)  # ties by Id: repeatable
    assert stable == pages()
    emu.behaviour.shuffle_ties = True
    runs = [pages() for _ in range(4)]
    assert all(len(r) == 60 for r in runs)
    assert len({tuple(r) for r in runs}) == 4
    # Paging through a tie group whose order changes between pages skips and repeats rows.
    assert any(len(set(r)) < 60 for r in runs)


def test_concurrent_paging_while_data_changes_never_breaks(fresh):
    emu = fresh(scale=1500)
    api = Api(emu)
    store = emu.store()
    ids = [i["Id"] for i in emu.ground_truth(api.realm, "Invoice")]
    stop = threading.Event()
    statuses: list[int] = []

    def churn():
        n = 0
        while not stop.is_set():
            store.update("Invoice", ids[n % len(ids)], {"PrivateNote": f"edit {n}"})
            if n % 7 == 0 and len(ids) > 50:
                store.delete("Invoice", ids.pop())
            if n % 11 == 0:
                store.touch_many("Invoice", ids[:40])
            n += 1

    def reader():
        q = (
            "SELECT * FROM Invoice WHERE MetaData.LastUpdatedTime >= '2000-01-01' "
            "ORDERBY MetaData.LastUpdatedTime STARTPOSITION {} MAXRESULTS 100"
        )
        for start in range(1, 400, 100):
            statuses.append(api.query(q.format(start)).status_code)
            statuses.append(
                api.get(
                    "/cdc", {"entities": "Invoice", "changedSince": emu.clock.iso()}
                ).status_code
            )
            statuses.append(api.get("/reports/AgedReceivables").status_code)

    mutator = threading.Thread(target=churn)
    mutator.start()
    readers = [threading.Thread(target=reader) for _ in range(4)]
    for t in readers:
        t.start()
    for t in readers:
        t.join()
    stop.set()
    mutator.join()
    assert statuses
    assert set(statuses) == {200}


def test_odd_answers_rewrite_only_the_answers_they_name(fresh):
    emu = fresh()
    api = Api(emu)
    text = "SELECT * FROM Invoice ORDERBY MetaData.LastUpdatedTime MAXRESULTS 20"
    clean = api.query(text).json()["QueryResponse"]["Invoice"]
    kinds = ["cdc_empty", "empty_page", "gzip_empty", "no_metadata", "short_page", "future_row"]
    kinds += ["no_id", "duplicate_id", "disorder", "future_time"]
    emu.behaviour.faults = dict(enumerate(kinds, 1))
    # A query is not a CDC answer: cdc_empty leaves it alone.
    assert api.query(text).json()["QueryResponse"]["Invoice"] == clean
    assert api.query(text).json()["QueryResponse"] == {}
    gzipped = api.query(text)
    assert gzipped.headers["Content-Encoding"] == "gzip"
    assert gzipped.json()["QueryResponse"] == {}
    assert all("MetaData" not in r for r in api.query(text).json()["QueryResponse"]["Invoice"])
    short = api.query(text).json()["QueryResponse"]
    assert len(short["Invoice"]) == 10
    assert short["maxResults"] == 20
    future = api.query(text).json()["QueryResponse"]["Invoice"]
    assert future[-1]["MetaData"]["LastUpdatedTime"] == "9999-12-30T00:00:00-08:00"
    assert "Id" not in api.query(text).json()["QueryResponse"]["Invoice"][0]
    twice = api.query(text).json()["QueryResponse"]["Invoice"]
    assert twice[1]["Id"] == twice[0]["Id"] == clean[0]["Id"]
    assert api.query(text).json()["QueryResponse"]["Invoice"] == clean[::-1]
    assert api.query(text).json()["time"].startswith("2031-")
    assert [k for _, k in emu.behaviour.injected] == kinds


def test_short_honest_and_cdc_drop_look_like_answers_qbo_could_send(fresh):
    emu = fresh()
    api = Api(emu)
    realm = emu.realm_ids[0]
    text = "SELECT * FROM Invoice ORDERBY MetaData.LastUpdatedTime MAXRESULTS 20"
    asked = {"entities": "Customer,Invoice,Vendor", "changedSince": emu.clock.iso()}
    emu.clock.advance(seconds=1)
    for entity in ("Customer", "Invoice"):  # Vendor: no changes, answered {}
        row = emu.ground_truth(realm, entity)[0]
        emu.store(realm).update(entity, row["Id"], {"PrivateNote": "changed"})
    clean = api.get("/cdc", asked).json()["CDCResponse"][0]["QueryResponse"]
    assert [next(iter(p), None) for p in clean] == ["Customer", "Invoice", None]
    emu.behaviour.faults = {1: "short_honest", 2: "cdc_drop"}
    short = api.query(text).json()["QueryResponse"]
    assert len(short["Invoice"]) == 10
    assert short["maxResults"] == 10
    dropped = api.get("/cdc", asked).json()["CDCResponse"][0]["QueryResponse"]
    assert [next(iter(p), None) for p in dropped] == ["Invoice", None]
