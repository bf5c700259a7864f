"""quickbooks-webhooks as a process: signatures, bodies, sizes, formats, de-dup, registry,
status, the store API the scheduler uses, and the emulator delivering real mutations."""

from __future__ import annotations

import http.client
import json
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlsplit

import pytest

from qbo_emulator import Emulator
from tests.webhook_receiver import BIN, TOKEN, Receiver, cloud_event, sign

REALM = "9130350000000001"


@pytest.fixture
def receiver(tmp_path, store_url):
    with Receiver(
        tmp_path / "rx", companies=[REALM, "9130350000000002"], store_url=store_url
    ) as rx:
        yield rx


def _body(*events) -> bytes:
    return json.dumps(list(events), separators=(",", ":")).encode()


def _flip(text: str) -> str:
    return text[:5] + ("A" if text[5] != "A" else "B") + text[6:]


def test_valid_signature_is_stored(receiver):
    status, answer = receiver.post(_body(cloud_event(REALM, "Invoice", "7")))
    assert (status, answer) == (200, {"stored": 1, "duplicates": 0})
    assert [e[1:6] for e in receiver.events()] == [(REALM, "Invoice", "7", "Update", "invoices")]


@pytest.mark.parametrize(
    "case", ["wrong token", "flipped body byte", "flipped signature", "missing", "garbage",
             "reserialised"]
)  # fmt: skip
def test_bad_signature_is_401_and_nothing_stored(receiver, case):
    doc = [cloud_event(REALM, "Invoice", "7")]
    body = _body(*doc)
    signature = sign(body)
    if case == "wrong token":
        signature = sign(body, "another-token")
    elif case == "flipped body byte":
        body = body.replace(b'"7"', b'"8"')
    elif case == "flipped signature":
        signature = _flip(signature)
    elif case == "missing":
        signature = None
    elif case == "garbage":
        signature = "%%%not base64%%%"
    elif case == "reserialised":
        body = json.dumps(doc, indent=2).encode()  # the same JSON, other bytes
    status, _ = receiver.post(body, signature)
    assert status == 401
    assert receiver.events() == []
    s = receiver.status()
    assert s["received"] == 0
    assert s["rejected"] == {"signature": 1, "body": 0, "size": 0}


@pytest.mark.parametrize(
    "body",
    [b"not json", b"", b"[]", b"{}", b'{"eventNotifications": []}', b'[{"foo": 1}]', b"42"],
)
def test_not_json_or_no_event_is_400(receiver, body):
    status, answer = receiver.post(body)
    assert status == 400
    assert answer["error"]
    assert receiver.events() == []
    assert receiver.status()["rejected"] == {"signature": 0, "body": 1, "size": 0}


def test_over_max_body_bytes_is_413_even_without_content_length(tmp_path):
    with Receiver(tmp_path / "rx", max_body_bytes=4096) as rx:
        big = _body(*(cloud_event(REALM, "Invoice", str(i)) for i in range(100)))
        assert len(big) > 4096
        assert rx.post(big)[0] == 413
        # Chunked: no Content-Length, so the limit must hold while reading.
        parts = urlsplit(rx.url)
        conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
        chunks = (big[i : i + 1000] for i in range(0, len(big), 1000))
        conn.request(
            "POST", parts.path, body=chunks, encode_chunked=True,
            headers={"intuit-signature": sign(big), "content-type": "application/json"},
        )  # fmt: skip
        assert conn.getresponse().status == 413
        conn.close()
        small = _body(cloud_event(REALM, "Invoice", "1"))
        assert rx.post(small)[0] == 200
        s = rx.status()
        assert s["rejected"] == {"signature": 0, "body": 0, "size": 2}
        assert s["received"] == 1


def test_both_formats_and_duplicates(receiver):
    cloud = _body(
        cloud_event(REALM, "Invoice", "1", "created"),
        cloud_event(REALM, "customer", "5", "merged"),
        cloud_event(REALM, "Invoice", "1", "created"),  # the same event twice in one batch
    )
    assert receiver.post(cloud) == (200, {"stored": 2, "duplicates": 1})
    assert receiver.post(cloud) == (200, {"stored": 0, "duplicates": 3})
    legacy = json.dumps(
        {
            "eventNotifications": [
                {
                    "realmId": REALM,
                    "dataChangeEvent": {
                        "entities": [
                            {
                                "name": "Bill",
                                "id": "9",
                                "operation": "Delete",
                                "lastUpdated": "2026-05-20T10:00:00.000Z",
                            },
                            {
                                "name": "Bill",
                                "id": "9",
                                "operation": "Update",
                                "lastUpdated": "2026-05-20T09:00:00.000Z",
                            },
                        ]
                    },
                }
            ]
        }
    ).encode()
    assert receiver.post(legacy) == (200, {"stored": 2, "duplicates": 0})
    assert receiver.post(legacy) == (200, {"stored": 0, "duplicates": 2})
    rows = {e[1:6] for e in receiver.events()}
    assert rows == {
        (REALM, "Invoice", "1", "Create", "invoices"),
        (REALM, "Customer", "5", "Merge", "customers"),
        (REALM, "Bill", "9", "Delete", "bills"),
        (REALM, "Bill", "9", "Update", "bills"),
    }
    s = receiver.status()
    assert (s["received"], s["duplicates"], s["pending"]) == (4, 6, 4)


def test_unknown_realm_and_entity_are_ignored(receiver):
    body = _body(
        cloud_event("123", "Invoice", "1"),
        cloud_event(REALM, "NotAnEntity", "1"),
        cloud_event(REALM, "Vendor", "2"),
    )
    assert receiver.post(body)[0] == 200
    s = receiver.status()
    assert (s["received"], s["ignored"], s["pending"]) == (3, 2, 1)
    assert s["companies"] == {REALM: {"pending": 1, "synced": 0}}
    store = receiver.store()
    assert dict(store.pending_by_company()) == {REALM: {"vendors"}}
    store.close()


def test_status_json_and_the_scheduler_api(receiver):
    other = "9130350000000002"
    events = [cloud_event(REALM, "Invoice", str(i)) for i in range(300)]
    events += [cloud_event(REALM, "Customer", str(i)) for i in range(200)]
    events += [cloud_event(other, "Bill", str(i)) for i in range(10)]
    for i in range(0, len(events), 100):
        assert receiver.post(_body(*events[i : i + 100]))[0] == 200
    store = receiver.store()
    try:
        pending = store.pending_by_company()
        # A burst coalesces into one item per company: the set of its streams.
        assert dict(pending) == {REALM: {"invoices", "customers"}, other: {"bills"}}
        # An event that arrives after the snapshot stays pending after mark_synced.
        assert receiver.post(_body(cloud_event(REALM, "Invoice", "late")))[0] == 200
        assert store.mark_synced(REALM, pending[REALM], up_to=pending.watermark) == 500
        assert dict(store.pending_by_company()) == {REALM: {"invoices"}, other: {"bills"}}
    finally:
        store.close()
    s = receiver.status()
    age = s.pop("oldest_pending_age_s")
    assert isinstance(age, float)
    assert 0 <= age < 600
    assert s == {
        "received": 511,
        "duplicates": 0,
        "pending": 11,
        "synced": 500,
        "ignored": 0,
        "rejected": {"signature": 0, "body": 0, "size": 0},
        "companies": {REALM: {"pending": 1, "synced": 500}, other: {"pending": 10, "synced": 0}},
    }
    metrics = receiver.url.rsplit("/webhooks", 1)[0] + "/metrics"
    import urllib.request

    text = urllib.request.urlopen(metrics, timeout=30).read().decode()  # noqa: S310
    assert "quickbooks_webhooks_events_pending 11" in text


def test_burst_of_5000_events_for_50_companies_all_answered_200(tmp_path, store_url):
    realms = [str(9130350000000100 + n) for n in range(50)]
    with Receiver(tmp_path / "rx", companies=realms, store_url=store_url) as rx:
        events = [
            cloud_event(realms[i % 50], ("Invoice", "Customer", "Payment")[i % 3], str(i))
            for i in range(5000)
        ]
        bodies = [_body(*events[i : i + 20]) for i in range(0, 5000, 20)]

        def send(body):
            started = time.monotonic()
            status, _ = rx.post(body)
            return status, time.monotonic() - started

        with ThreadPoolExecutor(25) as pool:
            results = list(pool.map(send, bodies))
        assert [status for status, _ in results] == [200] * 250
        assert max(took for _, took in results) < 3.0  # Intuit's limit, not a benchmark
        s = rx.status()
        assert (s["received"], s["pending"]) == (5000, 5000)
        store = rx.store()
        pending = store.pending_by_company()
        store.close()
        assert set(pending) == set(realms)
        assert all(streams == {"invoices", "customers", "payments"} for streams in pending.values())


def _mutate(emu: Emulator) -> list[tuple[str, str, str, str]]:
    """A few changes in each company; the emulator's log is the ground truth of what changed."""
    before = {r: len(emu.store(r).changes) for r in emu.realm_ids}
    for realm in emu.realm_ids:
        store = emu.store(realm)
        for entity in ("Customer", "Invoice", "Vendor"):
            for row in emu.ground_truth(realm, entity)[:4]:
                store.update(entity, row["Id"], {"PrivateNote": "changed"})
    return [
        (realm, entity, key, op)
        for realm in emu.realm_ids
        for _t, entity, key, op in emu.store(realm).changes[before[realm] :]
    ]


@pytest.mark.parametrize(
    ("knobs", "complete"),
    [
        ({}, True),
        ({"format": "legacy"}, True),
        ({"duplicate": 1.0, "reorder": True, "extra_delay_s": 0.3, "max_events": 5}, True),
        ({"drop": 0.5, "max_events": 5}, False),
    ],
    ids=["cloudevents", "legacy", "duplicated-reordered-delayed", "dropped"],
)
def test_emulator_mutations_reach_the_receiver(tmp_path, store_url, knobs, complete):
    with (
        Emulator(seed=5, scale=120, realms=2) as emu,
        Receiver(tmp_path / "rx", companies=emu.realm_ids, store_url=store_url) as rx,
    ):
        emu.webhooks.configure(url=rx.url, verifier_token=TOKEN, **knobs)
        changes = _mutate(emu)
        assert emu.webhooks.flush(60)
        stored = rx.events()
        sent = emu.webhooks.settings()["counts"]
    got = {(e[1], e[2], e[3], "Update") for e in stored}
    truth = set(changes)
    assert got <= truth
    assert all(e[6] == "pending" for e in stored)
    if complete:
        assert got == truth
        assert len(stored) == len(changes)  # each event once, however often it came
    else:
        assert sent["dropped"] > 0
        assert len(got) < len(truth)
    if knobs.get("duplicate"):
        assert sent["duplicated"] == sent["deliveries"] > 1


def test_emulator_retries_failed_deliveries(tmp_path):
    with (
        Emulator(seed=5, scale=120, realms=1) as emu,
        Receiver(tmp_path / "rx", companies=emu.realm_ids) as rx,
    ):
        # A wrong token: every attempt is refused (401), retried, then given up.
        emu.webhooks.configure(url=rx.url, verifier_token="wrong", retry_delays_s=[0.05, 0.05])
        _mutate(emu)
        assert emu.webhooks.flush(60)
        counts = emu.webhooks.settings()["counts"]
        assert (counts["attempts"], counts["given_up"]) == (3, 1)
        assert rx.status()["rejected"]["signature"] == 3
        # Refused once, then the receiver takes it: delivered on the retry.
        emu.webhooks.configure(verifier_token=TOKEN, retry_delays_s=[1.0])
        changes = _mutate(emu)
        time.sleep(0.4)  # the first attempt goes out with the right token already
        assert emu.webhooks.flush(60)
        assert len(rx.events()) == len(changes)


def test_emulator_sends_only_to_loopback():
    with (
        Emulator(seed=5, scale=50, realms=1) as emu,
        pytest.raises(ValueError, match="loopback"),
    ):
        emu.webhooks.configure(url="http://example.com/webhooks")


def _run(tmp_path, config: dict | None, env: dict | None = None):
    args = [str(BIN)]
    if config is not None:
        path = tmp_path / "webhooks.json"
        path.write_text(json.dumps(config))
        args += ["--config", str(path)]
    return subprocess.run(
        args,
        check=False,
        capture_output=True,
        text=True,
        timeout=30,
        env={"PATH": "/usr/bin", **(env or {})},
    )


@pytest.mark.parametrize(
    ("config", "needle"),
    [
        ({}, "verifier_token is required"),
        ({"verifier_token": "s3cret-value", "port": "x"}, "port must be a whole number"),
        ({"verifier_token": "s3cret-value", "port": 70000}, "port must be between"),
        ({"verifier_token": "s3cret-value", "max_body_bytes": 10}, "max_body_bytes"),
        ({"verifier_token": "s3cret-value", "colour": 1}, "unknown config key(s) colour"),
        (
            {
                "verifier_token": "s3cret-value",
                "store_url": "postgresql://qbo:s3cret-value@127.0.0.1:1/events",
            },
            "cannot connect to the Postgres store_url postgresql://qbo:***@127.0.0.1:1/events",
        ),
        ({"verifier_token": "s3cret-value", "companies": 5}, "companies must be"),
    ],
)
def test_bad_config_is_one_clear_line(tmp_path, config, needle):
    done = _run(tmp_path, config)
    assert done.returncode == 2
    assert needle in done.stderr
    assert "Traceback" not in done.stderr
    assert "s3cret-value" not in done.stderr + done.stdout
    assert len(done.stderr.strip().splitlines()) == 1


def test_environment_overrides_the_file(tmp_path):
    env = {"QUICKBOOKS_WEBHOOKS_MAX_BODY_BYTES": "12"}
    done = _run(tmp_path, {"verifier_token": "s3cret-value"}, env)
    assert done.returncode == 2
    assert "max_body_bytes must be between 1024" in done.stderr


def test_emulator_admin_api_switches_webhooks_on(tmp_path):
    import urllib.request

    def admin(path: str, doc: dict | None = None) -> dict:
        data = None if doc is None else json.dumps(doc).encode()
        request = urllib.request.Request(emu.base_url + path, data=data)  # noqa: S310
        with urllib.request.urlopen(request, timeout=30) as answer:  # noqa: S310
            return json.loads(answer.read())

    with (
        Emulator(seed=5, scale=60, realms=1) as emu,
        Receiver(tmp_path / "rx", companies=emu.realm_ids) as rx,
    ):
        assert admin("/_emulator/webhooks", {"url": rx.url, "verifier_token": TOKEN})["url"]
        realm = emu.realm_ids[0]
        customer = emu.ground_truth(realm, "Customer")[0]["Id"]
        admin(
            "/_emulator/mutate",
            {"realm": realm, "op": "update", "entity": "Customer", "id": customer,
             "changes": {"Notes": "x"}},
        )  # fmt: skip
        assert admin("/_emulator/webhooks/flush", {"timeout_s": 30}) == {"flushed": True}
        assert admin("/_emulator/webhooks")["counts"]["delivered"] == 1
        assert [e[1:5] for e in rx.events()] == [(realm, "Customer", customer, "Update")]
