"""python-quickbooks, a client written against the real API, works against the emulator."""

from __future__ import annotations

import pytest
from intuitlib.client import AuthClient
from quickbooks import QuickBooks
from quickbooks.cdc import change_data_capture
from quickbooks.exceptions import ObjectNotFoundException, ValidationException
from quickbooks.objects.customer import Customer
from quickbooks.objects.invoice import Invoice
from quickbooks.objects.item import Item
from quickbooks.objects.vendor import Vendor

from qbo_emulator import timefmt


@pytest.fixture
def qb(emu_ro, monkeypatch):
    monkeypatch.setenv("OAUTHLIB_INSECURE_TRANSPORT", "1")  # the emulator speaks plain http
    realm = emu_ro.realm_ids[0]
    auth = AuthClient(
        client_id=emu_ro.client_id,
        client_secret=emu_ro.client_secret,
        redirect_uri="http://localhost/cb",
        environment=f"{emu_ro.base_url}/.well-known/openid_configuration",  # discovery doc URL
    )
    # No access token yet: python-quickbooks refreshes through intuitlib at the emulator.
    client = QuickBooks(
        auth_client=auth,
        refresh_token=emu_ro.refresh_token(realm),
        company_id=realm,
        minorversion=75,
    )
    client.api_url_v3 = f"{emu_ro.base_url}/v3"
    assert auth.access_token
    return client


def test_query_count_and_filters(qb, emu_ro):
    realm = emu_ro.realm_ids[0]
    customers = Customer.all(max_results=1000, qb=qb)
    active = [c for c in emu_ro.ground_truth(realm, "Customer") if c["Active"]]
    assert len(customers) == len(active)
    assert Customer.count(qb=qb) == len(active)
    assert Customer.count("Active IN (true, false)", qb=qb) == len(
        emu_ro.ground_truth(realm, "Customer")
    )
    name = active[0]["DisplayName"]
    found = Customer.filter(DisplayName=name, qb=qb)  # python-quickbooks escapes quotes itself
    assert [c.Id for c in found] == [active[0]["Id"]]
    items = Item.all(qb=qb)  # sends "SELECT *, Sku FROM Item"
    assert items
    assert all(i.Name for i in items)


def test_filter_on_last_updated_time_and_paging(qb, emu_ro):
    realm = emu_ro.realm_ids[0]
    invoices = emu_ro.ground_truth(realm, "Invoice")
    cut = sorted(i["MetaData"]["LastUpdatedTime"] for i in invoices)[len(invoices) // 2]
    expect = {
        i["Id"]
        for i in invoices
        if timefmt.parse_datetime(i["MetaData"]["LastUpdatedTime"]) >= timefmt.parse_datetime(cut)
    }
    got, start = [], 1
    while True:
        page = Invoice.where(
            f"MetaData.LastUpdatedTime >= '{cut}'",
            order_by="MetaData.LastUpdatedTime",
            start_position=start,
            max_results=100,
            qb=qb,
        )
        got += page
        if len(page) < 100:
            break
        start += 100
    assert {i.Id for i in got} == expect
    assert len(got) == len(expect)


def test_read_by_id_and_not_found(qb, emu_ro):
    vendor = emu_ro.ground_truth(emu_ro.realm_ids[0], "Vendor")[0]
    v = Vendor.get(vendor["Id"], qb=qb)
    assert v.DisplayName == vendor["DisplayName"]
    with pytest.raises(ObjectNotFoundException):
        Vendor.get("987654", qb=qb)


def test_change_data_capture(qb, emu_ro):
    since = timefmt.fmt(int(emu_ro.clock.epoch() - 25 * 86400))
    resp = change_data_capture([Customer, Invoice], since, qb=qb)
    invoices = list(resp.Invoice)
    assert invoices
    assert all(
        timefmt.parse_datetime(i.MetaData.LastUpdatedTime) >= timefmt.parse_datetime(since)
        for i in invoices
    )


def test_query_errors_surface_as_validation_exceptions(qb):
    with pytest.raises(ValidationException) as err:
        qb.query("SELECT * FROM Custmoer")
    assert "invalid context declaration" in str(err.value.detail)
