"""The Singer SDK's standard tap tests, run against the emulator, plus a primary-key check of
our own: the SDK's `primary_keys` test collects generator objects, so it can never fail."""

from __future__ import annotations

import pytest
from singer_sdk.testing import SuiteConfig, get_tap_test_class

from tap_quickbooks.catalogue import ENTITIES
from tap_quickbooks.tap import TapQuickBooks
from tests.singer import run_tap
from tests.test_tap_sync import truth

# QBO leaves empty fields out of an object, so no record carries every declared column.
pytestmark = pytest.mark.filterwarnings("ignore:Fields in transformed catalog but not in records")

# The SDK builds the test class at import and keeps this very dict; the fixture below points it
# at the shared emulated company before the class's first sync.
CONFIG: dict = {
    "client_id": "set-by-emulator",
    "client_secret": "set-by-emulator",
    "refresh_token": "set-by-emulator",
    "realm_id": "0",
    "api_url": "http://127.0.0.1:9",
    "token_url": "http://127.0.0.1:9/oauth2/v1/tokens/bearer",
}


def everything_selected() -> dict:
    """The discovered catalog with every stream selected: reports are off by default, and the
    SDK's tests read a stream's columns from the selection."""
    catalog = TapQuickBooks(config=CONFIG, parse_env_config=False).catalog_dict
    for entry in catalog["streams"]:
        for meta in entry["metadata"]:
            if meta["breadcrumb"] == []:
                meta["metadata"]["selected"] = True
    return catalog


StandardTests = get_tap_test_class(
    TapQuickBooks,
    config=CONFIG,
    catalog=everything_selected(),
    suite_config=SuiteConfig(max_records_limit=60),
)


class TestTapQuickBooks(StandardTests):
    @pytest.fixture(scope="class", autouse=True)
    @classmethod
    def emulated_company(cls, company) -> None:
        CONFIG.update(company.tap_config())


def test_every_record_has_a_unique_primary_key(company) -> None:
    """A whole sync of every entity: the key (realm_id plus the entity's key) is never empty,
    and two records with the same key are the same record read twice (a page boundary
    re-read), never two different objects; every object of the company arrives under its key."""
    realm = company.realm_ids[0]
    run = run_tap(company.tap_config())
    assert run.returncode == 0, run.stderr[-3000:]
    for entity in ENTITIES:
        seen: dict[tuple, dict] = {}
        for record in run.records[entity.stream]:
            key = tuple(record.get(k) for k in ("realm_id", *entity.key))
            assert all(v not in (None, "") for v in key), (entity.stream, key)
            assert seen.setdefault(key, record) == record, (entity.stream, key)
        assert len(seen) == len(truth(company, realm, entity.stream)), entity.stream
