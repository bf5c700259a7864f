"""Pure logic: query text, error envelopes (real recorded ones), token sealing and storage."""

from __future__ import annotations

import datetime as dt
import json
import stat
import threading
import time
from pathlib import Path

import pytest
import requests

from tap_quickbooks import errors, query, timefmt
from tap_quickbooks.auth import RefreshTokenCandidate, TokenFile, TokenSealer, newest_first
from tap_quickbooks.changes import _left_out
from tap_quickbooks.paging import Bound, KeysetPaginator, Window
from tap_quickbooks.throttle import RequestLimiter

RECORDED = Path(__file__).parent / "fixtures" / "recorded"


def test_incremental_statement_for_a_name_list() -> None:
    since = dt.datetime(2024, 3, 10, 9, 59, 59, tzinfo=dt.UTC)
    statement = query.Select(
        "Customer",
        (query.compare(query.LAST_UPDATED, ">=", since), query.ALL_ACTIVE_STATES),
        order_by=(query.LAST_UPDATED,),
        max_results=1000,
    )
    assert str(statement) == (
        "SELECT * FROM Customer WHERE MetaData.LastUpdatedTime >= '2024-03-10T09:59:59+00:00'"
        " AND Active IN (true, false) ORDERBY MetaData.LastUpdatedTime MAXRESULTS 1000"
    )


def test_literals_escape_quotes_and_backslashes() -> None:
    assert query.literal("Adam's \\ Co") == "'Adam\\'s \\\\ Co'"
    assert query.one_of("Id", ["1", "2"]) == "Id IN ('1', '2')"
    assert query.literal(True) == "true"


@pytest.mark.parametrize("text", ["12:00:00", "now", ""])
def test_only_dates_and_timestamps_read_as_instants(text: str) -> None:
    # pendulum also reads a time of day (as today's) and words; they are no instant.
    for parse in (timefmt.parse_instant, timefmt.read_instant):
        with pytest.raises(ValueError, match="not an ISO-8601 timestamp"):
            parse(text)
        assert parse("2026-02-28") == dt.datetime(2026, 2, 28, tzinfo=dt.UTC)
        assert parse("2026-02-28T16:00:00-08:00") == dt.datetime(2026, 3, 1, tzinfo=dt.UTC)


@pytest.mark.parametrize(
    "text",
    [
        "2026-02-28T16:00:00-08:00",
        "2026-03-08T01:59:59-08:00",
        "2026-11-01T01:30:00-07:00",
        "2026-02-28T16:00:00Z",
        "2026-02-28T16:00:00.123456+00:00",
        "2026-02-28T16:00:00",
        "2026-02-28",
        "20260228T160000-0800",
    ],
)
def test_the_fast_time_reader_equals_the_full_parser(text: str) -> None:
    """read_instant (fromisoformat first, once a record) reads every shape as parse_instant."""
    fast = timefmt.read_instant(text)
    assert fast == timefmt.parse_instant(text)
    assert fast.utcoffset() == dt.timedelta(0)


def test_paging_limits_are_refused_before_qbo_refuses_them() -> None:
    with pytest.raises(ValueError, match="MAXRESULTS"):
        query.Select("Invoice", max_results=1001)
    with pytest.raises(ValueError, match="1-based"):
        query.Select("Invoice", start_position=0)
    with pytest.raises(ValueError, match="operator"):
        query.compare("Id", "!=", "1")


def test_statements_the_stream_sends(company) -> None:
    from tap_quickbooks.catalogue import BY_STREAM
    from tap_quickbooks.client import QuickBooksStream
    from tap_quickbooks.tap import TapQuickBooks

    tap = TapQuickBooks(config=company.tap_config(), validate_config=True)
    invoices = QuickBooksStream(tap, BY_STREAM["invoices"], tap.company)
    t0 = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
    assert str(invoices.statement(Window(None))) == (
        "SELECT * FROM Invoice ORDERBY MetaData.LastUpdatedTime MAXRESULTS 1000"
    )
    assert "LastUpdatedTime > '2024-01-01T00:00:00+00:00'" in str(
        invoices.statement(Window(t0, strict=True))
    )
    tie = str(invoices.statement(Window(t0, tie_position=901)))
    assert "LastUpdatedTime = '2024-01-01T00:00:00+00:00' ORDERBY Id STARTPOSITION 901" in tie
    tax_codes = QuickBooksStream(tap, BY_STREAM["tax_codes"], tap.company)
    assert str(tax_codes.statement(1)) == (
        "SELECT * FROM TaxCode WHERE Active IN (true, false) STARTPOSITION 1 MAXRESULTS 1000"
    )
    assert str(QuickBooksStream(tap, BY_STREAM["preferences"], tap.company).statement(None)) == (
        "SELECT * FROM Preferences"
    )


def fake_response(
    status: int, body: str, content_type: str, tid: str = "tid-1"
) -> requests.Response:
    response = requests.Response()
    response.status_code = status
    response._content = body.encode()
    response.headers["Content-Type"] = content_type
    response.headers["intuit_tid"] = "tid-1"
    response.request = requests.Request(
        "GET", "https://qbo.test/v3/company/1/query?query=x"
    ).prepare()
    return response


@pytest.mark.parametrize(
    ("name", "status", "expect"),
    [
        ("Error_401_token_expired__qbo_api.json", 401, "code 3200"),
        ("Error_400_query_invalid_entity__qbo_api.json", 400, "invalid context declaration"),
        ("Error_400_unrecognized_property__qbo_api.json", 400, "code 2010"),
        ("Error_400_duplicate_name__qbo_api.json", 400, "code 6240"),
    ],
)
def test_recorded_json_faults_read_as_one_line(name: str, status: int, expect: str) -> None:
    body = (RECORDED / name).read_text()
    line = errors.describe(fake_response(status, body, "application/json"))
    assert expect in line
    assert "intuit_tid=tid-1" in line
    assert "\n" not in line


def test_throttle_xml_and_gateway_html_read_as_one_line() -> None:
    xml = (
        '<?xml version="1.0"?><IntuitResponse xmlns="http://schema.intuit.com/finance/v3">'
        '<Fault type="SERVICE"><Error code="3001"><Message>message=ThrottleExceeded; '
        "errorCode=003001; statusCode=429</Message><Detail>The request limit was reached."
        "</Detail></Error></Fault></IntuitResponse>"
    )
    assert "code 3001" in errors.describe(fake_response(429, xml, "application/xml"))
    html = "<html><head><title>503 Service Unavailable</title></head><body>down</body></html>"
    assert "503 Service Unavailable" in errors.describe(fake_response(503, html, "text/html"))
    cut = errors.describe(fake_response(200, '{"QueryResponse": {"Inv', "application/json"))
    assert "not valid JSON" in cut


def test_redaction_takes_tokens_and_keeps_what_a_reader_needs() -> None:
    errors.register_secret("98765432109876")
    access = "eyJlbmMiOiJBMTI4Q0JDLUhTMjU2IiwiYWxnIjoiZGlyIn0..Qx7kP2mZ9aB4cD8e.Rt5Yu7Io9Pa1Sd3F"
    cases = {
        f"Token expired: {access}": "Token expired: [redacted]",
        "refresh RT1-12-H0-1700000000abcdefghij01234 died": "refresh [redacted] died",
        "client_secret 98765432109876 is wrong": "client_secret [redacted] is wrong",
        "Authorization: Basic QUJDOmRlZg==": "Authorization: Basic [redacted]",
        "POST grant_type=refresh_token&refresh_token=abc&x=1": (
            "POST grant_type=refresh_token&refresh_token=[redacted]&x=1"
        ),
        '{"access_token": "abc", "expires_in": 3600}': (
            '{"access_token": "[redacted]", "expires_in": 3600}'
        ),
    }
    for text, expected in cases.items():
        assert errors.redact(text) == expected
    # What support and users need stays: tids, paths, realm ids, timestamps, stream names.
    for text in (
        "[intuit_tid=1-5f7330f0-039c1234567890abcdef]",
        "QBO rotated the refresh token: saved to /tmp/pytest-3/test_x0/token.json",
        "HTTP 401 from /v3/company/9130351234567890/query at 2026-12-01T00:00:00+00:00",
        "tap_quickbooks.streams.journal_entries",
    ):
        assert errors.redact(text) == text


def test_a_secret_setting_of_the_wrong_type_is_named_not_shown() -> None:
    message = "98765432109876 is not of type 'string' in config['client_secret']"
    hidden = errors.hide_secret_values([message], {"client_secret": 98765432109876})
    assert hidden == ["[redacted] is not of type 'string' in config['client_secret']"]
    assert errors.is_secret_setting("refresh_token")
    assert not errors.is_secret_setting("token_store_path")


def test_sealed_token_opens_only_with_the_same_credentials() -> None:
    sealed = TokenSealer("client", "secret").seal("RT-123")
    assert "RT-123" not in sealed
    assert TokenSealer("client", "secret").open(sealed) == "RT-123"
    assert TokenSealer("client", "other-secret").open(sealed) is None
    assert TokenSealer("client", "secret").open("garbage") is None


def test_token_file_is_atomic_and_private(tmp_path: Path) -> None:
    store = TokenFile(tmp_path / "sub" / "token.json", "42")
    assert store.read() is None
    store.write("RT-1")
    store.write("RT-2")
    assert stat.S_IMODE((tmp_path / "sub" / "token.json").stat().st_mode) == 0o600
    stored = store.read()
    assert stored is not None
    assert stored.token == "RT-2"
    assert json.loads((tmp_path / "sub" / "token.json").read_text())["realm_id"] == "42"
    # No temporary copy is left; the lock file (runs sharing the file wait on it) stays.
    assert sorted(p.name for p in (tmp_path / "sub").iterdir()) == ["token.json", "token.json.lock"]


def test_candidates_newest_first_config_last() -> None:
    old = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
    new = dt.datetime(2024, 6, 1, tzinfo=dt.UTC)
    ordered = newest_first(
        [
            RefreshTokenCandidate("config", "A"),
            RefreshTokenCandidate("token file", "B", old),
            RefreshTokenCandidate("state", "C", new),
            RefreshTokenCandidate("state", "A", new),
        ]
    )
    assert [c.token for c in ordered] == ["C", "A", "B"]


def test_limiter_serves_waiting_requests_by_priority_then_arrival() -> None:
    limiter = RequestLimiter(per_minute=10**6, per_second=10**6, in_flight=1)
    limiter.MARGIN = 0.0
    served: list[str] = []

    def ask(name: str, priority: float) -> None:
        with limiter.slot(priority):
            served.append(name)

    with limiter.slot(0):  # the one slot is taken: everyone below waits
        waiting = [("late", 3.0), ("first", 1.0), ("second", 2.0), ("also second", 2.0)]
        threads = []
        for name, priority in waiting:
            threads.append(threading.Thread(target=ask, args=(name, priority)))
            threads[-1].start()
            time.sleep(0.05)  # arrival order
    for thread in threads:
        thread.join(timeout=5)
    assert served == ["first", "second", "also second", "late"]


def _row(row_id: str, second: int) -> dict:
    stamp = dt.datetime(2024, 3, 10, 9, 0, second, tzinfo=dt.UTC).isoformat()
    return {"Id": row_id, "MetaData": {"LastUpdatedTime": stamp}}


def test_only_a_short_page_after_a_full_one_older_than_the_run_needs_proof() -> None:
    started = dt.datetime(2024, 3, 10, 10, 0, tzinfo=dt.UTC)
    paginator = KeysetPaginator(None, 3)
    full = [_row("1", 1), _row("2", 2), _row("3", 3)]
    assert paginator.unproven_end(full[:2], started) is None  # the first page
    paginator.admit(full)
    paginator.advance(None)
    assert paginator.unproven_end(full, started) is None  # a full page
    short = [_row("3", 3), _row("4", 4)]
    end = paginator.unproven_end(short, started)
    assert end is not None
    assert (end.since, end.before, end.read) == (
        dt.datetime(2024, 3, 10, 9, 0, 4, tzinfo=dt.UTC),
        started,
        1,
    )
    assert paginator.unproven_end(short, dt.datetime(2024, 3, 10, 9, 0, 4, tzinfo=dt.UTC)) is None
    # The boundary's rows read on the page before count as read.
    end = paginator.unproven_end([_row("5", 3)], started)
    assert end is not None
    assert end.read == 2


def test_a_cdc_answer_must_account_for_every_entity_asked() -> None:
    asked = ["Customer", "Invoice", "Vendor"]
    assert _left_out(asked, {"Invoice": [{}]}, 3) == []  # Customer and Vendor: {}
    assert _left_out(asked, {}, 1) == []  # QBO's single {}: nothing changed at all
    assert _left_out(asked, {"Invoice": [{}]}, 2) == ["Customer", "Vendor"]
    assert _left_out(asked, {}, 0) == asked


def test_a_slice_or_an_unfinished_stream_proves_its_short_first_page() -> None:
    """A short first page is believed only where a stream starts from scratch or from a
    completed run: a slice of history starting mid-stream, or a resumed stream that no run
    completed, must prove its end by QBO's COUNT; a slice whose page reached past the next
    slice's bound needs none (the next slice reads on from there)."""
    since = dt.datetime(2024, 2, 29, 23, 0, tzinfo=dt.UTC)
    started = dt.datetime(2024, 12, 31, 23, 59, tzinfo=dt.UTC)
    rows = [
        {"Id": str(n), "MetaData": {"LastUpdatedTime": f"2024-03-0{n}T10:00:00Z"}}
        for n in range(1, 6)
    ]
    for prove_first, proof_needed in [(False, False), (True, True)]:
        paginator = KeysetPaginator(since, 50, prove_first=prove_first)
        end = paginator.unproven_end(rows, started)
        assert (end is not None) == proof_needed
    end = KeysetPaginator(since, 50, prove_first=True).unproven_end(rows, started)
    assert end is not None
    assert end.since == dt.datetime(2024, 3, 5, 10, tzinfo=dt.UTC)  # the page's last row
    assert end.before == started  # counted up to the run's start, by QBO's clock
    assert end.read == 1
    # The next slice begins on 3 March: this page's rows went past it, so nothing before it
    # can have been left out.
    bound = Bound()
    bound.set(dt.datetime(2024, 3, 3, 10, tzinfo=dt.UTC))
    passed = KeysetPaginator(since, 50, prove_first=True, ends_at=bound)
    assert passed.unproven_end(rows, started) is None
    # It begins after the page's last row: the short page is proven like any other.
    later = Bound()
    later.set(dt.datetime(2024, 3, 20, tzinfo=dt.UTC))
    short = KeysetPaginator(since, 50, prove_first=True, ends_at=later)
    assert short.unproven_end(rows, started) is not None
