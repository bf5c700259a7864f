"""The query language: grammar, errors, filters, ordering, paging, inactive rows."""

from __future__ import annotations

import pytest

from qbo_emulator import timefmt
from qbo_emulator.query import Engine

from .conftest import Api


def fault(r) -> tuple[int, str, str]:
    err = r.json()["Fault"]["Error"][0]
    return r.status_code, err["code"], err["Detail"]


def lut(obj) -> float:
    return timefmt.parse_datetime(obj["MetaData"]["LastUpdatedTime"])


def test_keywords_entities_and_properties_are_case_insensitive(api_ro: Api):
    a = api_ro.rows(
        "SELECT * FROM Invoice WHERE MetaData.LastUpdatedTime >= '2020-01-01' "
        "ORDERBY MetaData.LastUpdatedTime MAXRESULTS 5",
        "Invoice",
    )
    b = api_ro.rows(
        "select * from invoice where metadata.lastupdatedtime >= '2020-01-01' "
        "order by Metadata.LastUpdatedTime maxresults 5",
        "Invoice",
    )
    assert [x["Id"] for x in a] == [x["Id"] for x in b]
    assert len(a) == 5


def test_post_query_with_application_text_body(api_ro: Api):
    r = api_ro.post("/query", "SELECT COUNT(*) FROM Vendor", content_type="application/text")
    assert r.status_code == 200
    assert r.json()["QueryResponse"]["totalCount"] > 0


def test_count_star_and_select_star_with_extra_columns(api_ro: Api):
    r = api_ro.query("SELECT COUNT(*) FROM Item")
    assert set(r.json()["QueryResponse"]) == {"totalCount"}
    rows = api_ro.rows(
        "SELECT *, Sku FROM Item MAXRESULTS 3", "Item"
    )  # python-quickbooks sends this
    assert len(rows) == 3


def test_default_and_max_page_sizes(api_ro: Api):
    total = api_ro.query("SELECT COUNT(*) FROM Payment").json()["QueryResponse"]["totalCount"]
    assert total > 100
    assert len(api_ro.rows("SELECT * FROM Payment", "Payment")) == 100
    assert len(api_ro.rows("SELECT * FROM Payment MAXRESULTS 1000", "Payment")) == min(total, 1000)
    r = api_ro.query("SELECT * FROM Invoice MAXRESULTS 1001")
    assert fault(r) == (
        400,
        "4001",
        "QueryValidationError: value 1001 is too large. Max allowed value is 1000",
    )


def test_paging_covers_everything_once_and_ends_with_empty_response(api_ro: Api):
    total = api_ro.query("SELECT COUNT(*) FROM Bill").json()["QueryResponse"]["totalCount"]
    seen, start = [], 1
    while True:
        r = api_ro.query(f"SELECT * FROM Bill ORDERBY Id STARTPOSITION {start} MAXRESULTS 37")
        qr = r.json()["QueryResponse"]
        if not qr:
            break
        assert qr["startPosition"] == start
        assert qr["maxResults"] == len(qr["Bill"]) <= 37
        seen += [b["Id"] for b in qr["Bill"]]
        start += 37
    assert len(seen) == len(set(seen)) == total
    assert r.json() == {"QueryResponse": {}, "time": r.json()["time"]}


def test_inactive_name_list_rows_hidden_unless_where_names_active(api_ro: Api):
    for entity in (
        "Customer",
        "Vendor",
        "Employee",
        "Account",
        "Item",
        "Term",
        "PaymentMethod",
        "Class",
        "TaxCode",
        "Budget",
    ):
        everyone = api_ro.rows(
            f"SELECT * FROM {entity} WHERE Active IN (true, false) MAXRESULTS 1000", entity
        )
        default = api_ro.rows(f"SELECT * FROM {entity} MAXRESULTS 1000", entity)
        inactive = [x for x in everyone if x.get("Active") is False]
        assert inactive, entity
        assert len(default) == len(everyone) - len(inactive), entity
        assert all(x.get("Active", True) for x in default)
        only_inactive = api_ro.rows(
            f"SELECT * FROM {entity} WHERE Active = false MAXRESULTS 1000", entity
        )
        assert {x["Id"] for x in only_inactive} == {x["Id"] for x in inactive}
        for x in inactive:
            label = x.get("DisplayName") or x.get("Name")
            assert label.endswith(" (deleted)"), (entity, label)


def test_default_order_name_lists_by_name_transactions_newest_first(api_ro: Api):
    vendors = api_ro.rows("SELECT * FROM Vendor MAXRESULTS 1000", "Vendor")
    names = [v["DisplayName"] for v in vendors]
    assert names == sorted(names)
    customers = api_ro.rows("SELECT * FROM Customer MAXRESULTS 1000", "Customer")
    fq = [c["FullyQualifiedName"] for c in customers]
    assert fq == sorted(fq)
    invoices = api_ro.rows("SELECT * FROM Invoice MAXRESULTS 1000", "Invoice")
    times = [lut(i) for i in invoices]
    assert times == sorted(times, reverse=True)


def test_orderby_several_fields_and_directions(api_ro: Api):
    rows = api_ro.rows(
        "SELECT * FROM Invoice ORDER BY TxnDate DESC, DocNumber ASC MAXRESULTS 1000", "Invoice"
    )
    keys = [(r["TxnDate"], r["DocNumber"]) for r in rows]
    expect = sorted(keys, key=lambda k: k[1])
    expect = sorted(expect, key=lambda k: k[0], reverse=True)
    assert keys == expect


def test_lastupdatedtime_index_agrees_with_ground_truth(api_ro: Api):
    truth = api_ro.emu.ground_truth(api_ro.realm, "Payment")
    cut = sorted(lut(p) for p in truth)[len(truth) // 2]
    literal = timefmt.fmt(int(cut))
    expect = sorted((p for p in truth if lut(p) >= cut), key=lambda p: (lut(p), int(p["Id"])))
    got, start = [], 1
    while True:
        page = api_ro.rows(
            f"SELECT * FROM Payment WHERE MetaData.LastUpdatedTime >= '{literal}' "
            f"ORDERBY MetaData.LastUpdatedTime STARTPOSITION {start} MAXRESULTS 50",
            "Payment",
        )
        got += page
        if len(page) < 50:
            break
        start += 50
    assert [p["Id"] for p in got] == [p["Id"] for p in expect]
    assert got == expect


@pytest.mark.parametrize("form", ["pacific", "utc_z", "utc_offset", "compact_offset", "no_offset"])
def test_datetime_literals_compare_as_instants(api_ro: Api, form):
    inv = api_ro.rows("SELECT * FROM Invoice MAXRESULTS 1", "Invoice")[0]
    stamp = inv["MetaData"]["LastUpdatedTime"]
    epoch = int(timefmt.parse_datetime(stamp))
    import time as _t

    utc = _t.strftime("%Y-%m-%dT%H:%M:%S", _t.gmtime(epoch))
    literal = {
        "pacific": stamp,
        "utc_z": utc + "Z",
        "utc_offset": utc + "+00:00",
        "compact_offset": stamp[:19] + stamp[19:].replace(":", ""),
        "no_offset": stamp[:19],  # company (Pacific) wall clock
    }[form]
    rows = api_ro.rows(
        f"SELECT * FROM Invoice WHERE MetaData.LastUpdatedTime = '{literal}' MAXRESULTS 1000",
        "Invoice",
    )
    assert inv["Id"] in [r["Id"] for r in rows]
    later = api_ro.rows(
        f"SELECT * FROM Invoice WHERE MetaData.LastUpdatedTime > '{literal}' MAXRESULTS 1000",
        "Invoice",
    )
    assert inv["Id"] not in [r["Id"] for r in later]


def test_date_only_literal_and_txndate_filters(api_ro: Api):
    rows = api_ro.rows(
        "SELECT * FROM Invoice WHERE TxnDate >= '2025-01-01' AND TxnDate <= '2025-01-31' "
        "MAXRESULTS 1000",
        "Invoice",
    )
    assert rows
    assert all("2025-01-01" <= r["TxnDate"] <= "2025-01-31" for r in rows)
    created = api_ro.rows(
        "SELECT * FROM Invoice WHERE MetaData.CreateTime >= '2025-01-01' MAXRESULTS 1000", "Invoice"
    )
    start = timefmt.parse_datetime("2025-01-01")
    assert all(timefmt.parse_datetime(r["MetaData"]["CreateTime"]) >= start for r in created)


def test_like_supports_percent_and_escaped_quotes(api_ro: Api):
    truth = api_ro.emu.ground_truth(api_ro.realm, "Customer")
    apos = next(c for c in truth if "'" in c["DisplayName"] and c["Active"])
    prefix = apos["DisplayName"].split("'")[0]
    rows = api_ro.rows(f"SELECT * FROM Customer WHERE DisplayName LIKE '{prefix}\\'%'", "Customer")
    assert apos["Id"] in [r["Id"] for r in rows]
    assert all(r["DisplayName"].lower().startswith(prefix.lower() + "'") for r in rows)
    contains = api_ro.rows(
        "SELECT * FROM Vendor WHERE DisplayName LIKE '%&%' MAXRESULTS 1000", "Vendor"
    )
    assert contains
    assert all("&" in v["DisplayName"] for v in contains)


def test_string_equality_ignores_case(api_ro: Api):
    v = api_ro.rows("SELECT * FROM Vendor MAXRESULTS 1", "Vendor")[0]
    rows = api_ro.rows(
        "SELECT * FROM Vendor WHERE DisplayName = '{}'".format(
            v["DisplayName"].upper().replace("'", "\\'")
        ),
        "Vendor",
    )
    assert [r["Id"] for r in rows] == [v["Id"]]


def test_ref_properties_compare_on_their_value(api_ro: Api):
    inv = api_ro.rows("SELECT * FROM Invoice MAXRESULTS 1", "Invoice")[0]
    cid = inv["CustomerRef"]["value"]
    rows = api_ro.rows(
        f"SELECT * FROM Invoice WHERE CustomerRef = '{cid}' MAXRESULTS 1000", "Invoice"
    )
    assert rows
    assert all(r["CustomerRef"]["value"] == cid for r in rows)


def test_id_supports_only_equals_and_in(api_ro: Api):
    a, b = [c["Id"] for c in api_ro.emu.ground_truth(api_ro.realm, "Customer") if c["Active"]][:2]
    assert [
        r["Id"] for r in api_ro.rows(f"SELECT * FROM Customer WHERE Id = '{a}'", "Customer")
    ] == [a]
    got = api_ro.rows(f"SELECT * FROM Customer WHERE Id IN ('{a}', '{b}', '999999')", "Customer")
    assert sorted(r["Id"] for r in got) == sorted([a, b])
    r = api_ro.query("SELECT * FROM Customer WHERE Id > '3'")
    assert fault(r)[:2] == (400, "4001")


def test_parser_errors_are_4000_with_javacc_message(api_ro: Api):
    for q in (
        "SELECT * FROM Customer WHERE",
        "SELECT * FORM Customer",
        "SELECT * FROM Customer ORDERBY",
        "SELECT * FROM Customer WHERE Balance != 0",
        "SELECT * FROM Customer MAXRESULTS ten",
    ):
        r = api_ro.query(q)
        status, code, detail = fault(r)
        assert (status, code) == (400, "4000"), q
        assert detail.startswith(
            ("QueryParserError: Encountered", "QueryParserError: Lexical error")
        ), detail
        assert "Was expecting one of:" in detail or "Lexical error" in detail
        assert r.json()["Fault"]["Error"][0]["Message"] == "Error parsing query"
    r = api_ro.query("SELECT * FROM Customer foo")
    assert '" <IDENTIFIER> "foo "" at line 1, column 24.' in fault(r)[2]
    assert "<EOF>" in fault(r)[2]
    assert '"startposition"' in fault(r)[2]


def test_validation_errors_are_4001(api_ro: Api):
    assert fault(api_ro.query("SELECT * FROM Custmoer")) == (
        400,
        "4001",
        "QueryValidationError: invalid context declaration: Custmoer",
    )
    assert fault(api_ro.query("SELECT * FROM Customer WHERE PrimaryEmailAddr = 'a@b.c'")) == (
        400,
        "4001",
        "QueryValidationError: property 'PrimaryEmailAddr' is not queryable",
    )
    assert (
        fault(api_ro.query("SELECT * FROM Customer WHERE NoSuchField = 'x'"))[2]
        == "QueryValidationError: Property NoSuchField not found for Entity Customer"
    )
    for entity in ("ExchangeRate", "TaxClassification"):
        for prop in ("MetaData.LastUpdatedTime", "MetaData.CreateTime"):
            status, code, detail = fault(
                api_ro.query(f"SELECT * FROM {entity} WHERE {prop} >= '2024-01-01'")
            )
            assert (status, code) == (400, "4001")
            assert "is not queryable" in detail


def test_or_is_refused(api_ro: Api):
    assert fault(api_ro.query("SELECT * FROM Customer WHERE Id = '1' OR Id = '2'"))[:2] == (
        400,
        "4001",
    )


def test_taxcode_pseudo_rows_and_singletons(api_ro: Api):
    codes = api_ro.rows("SELECT * FROM TaxCode MAXRESULTS 1000", "TaxCode")
    pseudo = [c for c in codes if c["Id"] in ("TAX", "NON")]
    assert len(pseudo) == 2
    for c in pseudo:
        assert not {"MetaData", "SyncToken", "domain"} & set(c)
    for entity in ("CompanyInfo", "Preferences"):
        for start in (1, 2, 50):
            r = api_ro.query(f"SELECT * FROM {entity} STARTPOSITION {start} MAXRESULTS 10")
            assert len(r.json()["QueryResponse"][entity]) == 1  # paging is ignored


def test_every_entity_is_queryable_and_has_data(api_ro: Api):
    from qbo_emulator.entities import ENTITY_NAMES

    assert len(ENTITY_NAMES) == 41
    for entity in ENTITY_NAMES:
        r = api_ro.query(f"SELECT COUNT(*) FROM {entity}")
        assert r.status_code == 200, (entity, r.text)
        assert r.json()["QueryResponse"]["totalCount"] > 0, entity


def test_every_page_is_evaluated_against_current_data(fresh):
    emu = fresh(scale=600)
    api = Api(emu)
    q = (
        "SELECT * FROM Invoice WHERE MetaData.LastUpdatedTime >= '2000-01-01' "
        "ORDERBY MetaData.LastUpdatedTime STARTPOSITION {} MAXRESULTS 20"
    )
    first = api.rows(q.format(1), "Invoice")
    mover = first[0]
    emu.store().update("Invoice", mover["Id"], {"PrivateNote": "edited"})
    second = api.rows(q.format(21), "Invoice")
    # The edited invoice moved to the end; everything after it shifted back by one: row 21
    # (which the second page would have started with) was pushed onto the first page.
    assert second[0]["Id"] != first[-1]["Id"]
    everything = api.rows(q.format(1).replace("MAXRESULTS 20", "MAXRESULTS 1000"), "Invoice")
    assert everything[-1]["Id"] == mover["Id"]
    assert everything[-1]["PrivateNote"] == "edited"


def test_minorversion_is_accepted_on_every_call(api_ro: Api):
    for mv in ("4", "8", "65", "75", "999"):
        r = api_ro.session.get(
            api_ro.base + "/query",
            params={"query": "SELECT COUNT(*) FROM Term", "minorversion": mv},
            headers=api_ro.headers(),
            timeout=10,
        )
        assert r.status_code == 200


def test_one_crowded_second_by_id_is_read_from_the_time_index(fresh, monkeypatch):
    # The tap reads a second fuller than a page by offsets, ordered by Id: the answer is the
    # scan's (the rows of that second by numeric Id), without scanning the table.
    emu = fresh()
    realm = emu.realm_ids[0]
    store = emu.store(realm)
    ids = [row["Id"] for row in emu.ground_truth(realm, "Invoice")][:40]
    store.touch_many("Invoice", ids, when="2025-03-04T05:06:07Z")
    second = timefmt.fmt(int(timefmt.parse_datetime("2025-03-04T05:06:07Z")))
    text = (
        f"SELECT * FROM Invoice WHERE MetaData.LastUpdatedTime = '{second}' "
        "ORDERBY Id STARTPOSITION 5 MAXRESULTS 10"
    )
    expected = sorted(ids, key=int)[4:14]
    monkeypatch.setattr(Engine, "_scan", lambda *a, **k: pytest.fail("the whole table was scanned"))
    assert Engine(store).run(text).keys == expected
