"""Many companies into a target that honours ACTIVATE_VERSION (issue 20): the tap with three
companies and `emit_activate_version_messages`, its output loaded by target-postgres, which
on ACTIVATE_VERSION deletes (`hard_delete`) or flags (`_sdc_deleted_at`) every row of an older
table version. One version for all companies, activated once after the last, keeps every
company's rows; a version per company would drop the rows of the companies before it, and of
any company that failed the run."""

from __future__ import annotations

import time

import pytest

from qbo_emulator import Emulator
from tap_quickbooks.catalogue import BY_STREAM
from tests import pipelines as P
from tests.singer import run_tap
from tests.test_companies import many_config
from tests.test_pipelines import SCHEMA, mismatches
from tests.test_tap_sync import select, truth

pytestmark = pytest.mark.slow

STREAM = "tax_codes"  # synced FULL_TABLE: QBO has no change feed for it


def ground_truth(emu: Emulator) -> dict[str, dict[tuple, dict]]:
    """Every company's rows of the stream by (realm_id, *key), as mismatches() takes them."""
    return {
        STREAM: {
            P.truth_key(STREAM, row, realm): row
            for realm in emu.realm_ids
            for row in truth(emu, realm, STREAM).values()
        }
    }


def activations(run) -> list[dict]:
    return [m for m in run.messages if m["type"] == "ACTIVATE_VERSION"]


def versions(run) -> set[int]:
    """The table versions the run's records of the stream carry."""
    return {m["version"] for m in run.messages if m["type"] == "RECORD" and m["stream"] == STREAM}


@pytest.mark.parametrize(
    "hard_delete",
    [
        pytest.param(True, id="hard-delete"),
        pytest.param(False, id="soft-delete", marks=pytest.mark.full),
    ],
)
def test_no_company_loses_its_rows_to_another_companys_activate_version(
    hard_delete: bool, postgres, meltano_project
) -> None:
    assert not BY_STREAM[STREAM].incremental
    database = f"activate_{'hard' if hard_delete else 'soft'}"
    postgres.create_database(database)
    with Emulator(seed=30, scale=40, realms=3) as emu:
        tokens = {realm: emu.refresh_token(realm) for realm in emu.realm_ids}
        catalog = select(emu.tap_config(), [STREAM])

        def pipeline():
            config = {**many_config(emu, tokens), "emit_activate_version_messages": True}
            run = run_tap(config, args=["--catalog", str(catalog)])
            postgres.load(database, SCHEMA, run.stdout, hard_delete=hard_delete)
            return run, postgres.tables(database, SCHEMA)

        # Every company synced: one activation, and every company's rows as QBO has them.
        first, tables = pipeline()
        assert first.returncode == 0, first.stderr[-3000:]
        expected = ground_truth(emu)
        assert {key[0] for key in expected[STREAM]} == set(emu.realm_ids)
        assert mismatches(tables, expected) == []
        assert len(activations(first)) == 1

        # One company cannot sync (its access revoked): the others' rows come again, and no
        # company's rows are deleted, the failed one's kept as the first run left them.
        failing = emu.realm_ids[1]
        emu.oauth.revoke(emu.refresh_token(failing))
        second, tables = pipeline()
        assert second.returncode != 0
        assert {r["realm_id"] for r in second.records[STREAM]} == set(emu.realm_ids) - {failing}
        assert mismatches(tables, expected) == []
        assert activations(second) == []

        # Re-authorized, and a tax code gone from another company: the activation now drops
        # exactly that row (the target does act on ACTIVATE_VERSION), every other row stays.
        tokens[failing] = emu.oauth.issue_initial(failing)
        owner = emu.realm_ids[0]
        gone = next(iter(truth(emu, owner, STREAM).values()))
        # force: QBO never deletes a tax code; here it stands for any row QBO no longer has.
        emu.store(owner).delete("TaxCode", gone["Id"], force=True)
        gone_key = P.truth_key(STREAM, gone, owner)
        # Versions are the run's start in seconds: the row the second run wrote must be of an
        # older one than the third run activates.
        while int(time.time()) <= max(versions(second)):
            time.sleep(0.1)
        third, tables = pipeline()
        assert third.returncode == 0, third.stderr[-3000:]
        expected = ground_truth(emu)
        assert gone_key not in expected[STREAM]
        assert mismatches(tables, expected) == []
        assert len(activations(third)) == 1
        kept = [r for r in tables[STREAM] if P.loaded_key(STREAM, r) == gone_key]
        if hard_delete:
            assert kept == []
        else:
            assert len(kept) == 1  # flagged, not deleted
            assert kept[0]["_sdc_deleted_at"]
