"""The tap's private singer-sdk surface (sdk_fastpath.py): the fast record path writes what
the SDK's own path writes, and no other module reaches into the SDK's private names."""

from __future__ import annotations

import ast
import collections
import inspect
import json
import os
import types
from pathlib import Path

import pytest
import singer_sdk
from singer_sdk.plugin_base import PluginBase

# The contract remember_partition relies on: the manager's own get_context_state is what
# its increment_state asks.
from singer_sdk.streams._state import StreamStateManager
from singer_sdk.streams.core import Stream

import tap_quickbooks
from qbo_emulator import Emulator
from tap_quickbooks.changes import SYNCED_AT
from tap_quickbooks.client import QuickBooksStream
from tap_quickbooks.company import AUTH_STATE_KEY
from tap_quickbooks.sdk_fastpath import (
    SWITCH,
    VERIFIED_SDK,
    ConfigChecks,
    FailureBoundary,
    remember_partition,
)
from tap_quickbooks.tap import TapQuickBooks
from tests.singer import TapRun, run_tap

SLOW_PATH_LINE = "Records are written the SDK's own way"
PACKAGE = Path(tap_quickbooks.__file__).parent
FASTPATH = "sdk_fastpath.py"
MAX_PRIVATE_NAMES = 6
SDK_VERSION_SITE = Path(__file__).parent / "sdk_version_site"


def comparable(run: TapRun) -> list[dict]:
    """The run's RECORD and STATE messages, without what differs from run to run: the time
    of extraction, the sealed refresh token, when each stream was last synced, and the
    run's own report (sync_status: durations)."""
    out = []
    for message in run.messages:
        if message["type"] == "RECORD" and message["stream"] != "sync_status":
            out.append({k: v for k, v in message.items() if k != "time_extracted"})
        elif message["type"] == "STATE":
            out.append({"STATE": json.loads(json.dumps(message["value"]), object_hook=timeless)})
    return out


def timeless(value: dict) -> dict:
    value.pop(AUTH_STATE_KEY, None)
    if SYNCED_AT in value:
        value[SYNCED_AT] = "..."
    return value


def catalog_deselecting(config: dict, tmp_path: Path, stream: str, field: str) -> Path:
    """The discovered catalog, with one field of one stream deselected."""
    discovered = run_tap(config, args=["--discover"])
    assert discovered.returncode == 0, discovered.stderr[-2000:]
    catalog = json.loads(discovered.stdout)
    for entry in catalog["streams"]:
        if entry["tap_stream_id"] != stream:
            continue
        for meta in entry["metadata"]:
            if meta["breadcrumb"] == ["properties", field]:
                meta["metadata"]["selected"] = False
    path = tmp_path / "catalog.json"
    path.write_text(json.dumps(catalog))
    return path


@pytest.mark.parametrize("deselect", [None, ("customers", "Notes")], ids=["all", "deselected"])
def test_the_fast_path_writes_what_the_sdks_own_path_writes(company, tmp_path, deselect) -> None:
    config = company.tap_config()
    args = []
    if deselect:
        args = ["--catalog", str(catalog_deselecting(config, tmp_path, *deselect))]
    fast = run_tap(config, args=args)
    slow = run_tap(config, args=args, env={SWITCH: "0"})
    assert fast.returncode == 0, fast.stderr[-2000:]
    assert slow.returncode == 0, slow.stderr[-2000:]
    assert SLOW_PATH_LINE in slow.stderr
    assert SLOW_PATH_LINE not in fast.stderr
    assert len(fast.records.get("invoices", [])) > 0
    if deselect:
        stream, field = deselect
        assert fast.records[stream]
        assert all(field not in record for record in fast.records[stream])
    assert comparable(fast) == comparable(slow)


def sdk_private_names() -> set[str]:
    """Every private name (one leading underscore) singer-sdk's sources define: modules,
    functions, classes, attributes and variables."""
    names = set()
    for path in Path(singer_sdk.__path__[0]).rglob("*.py"):
        if private(path.stem):
            names.add(path.stem)
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                names.add(node.name)
            elif isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store):
                names.add(node.attr)
            elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
                names.add(node.id)
    return {name for name in names if private(name)}


def private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__")


def own_names(tree: ast.Module, sdk_imports: set[str]) -> set[str]:
    """Private attributes that classes of the module define themselves, not deriving from
    an SDK class (a name the SDK happens to use too, like ``_state`` on Company)."""
    own = set()
    for node in ast.walk(tree):
        if not isinstance(node, ast.ClassDef):
            continue
        bases = {b.id if isinstance(b, ast.Name) else getattr(b, "attr", "") for b in node.bases}
        if bases & sdk_imports:
            continue
        for inner in ast.walk(node):
            if isinstance(inner, ast.Attribute) and isinstance(inner.ctx, ast.Store):
                own.add(inner.attr)
    return own


def private_sdk_uses(path: Path, sdk_names: set[str]) -> list[tuple[str, int]]:
    """(name, line) of every private SDK name the module reaches: attributes, overrides,
    imports, and names handed to getattr and its kin."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    sdk_imports = {
        alias.asname or alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("singer_sdk")
        for alias in node.names
    }
    ours = own_names(tree, sdk_imports)
    uses = []
    for node in ast.walk(tree):
        names: list[str] = []
        if isinstance(node, ast.Attribute) and node.attr not in ours:
            names = [node.attr]
        elif isinstance(node, ast.ClassDef):
            names = [f.name for f in node.body if isinstance(f, ast.FunctionDef)]
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("singer_sdk"):
            names = [*node.module.split("."), *(a.name for a in node.names)]
        elif isinstance(node, ast.Import):
            names = [
                p for a in node.names if a.name.startswith("singer_sdk") for p in a.name.split(".")
            ]
        elif (
            isinstance(node, ast.Call)
            and getattr(node.func, "id", None) in {"getattr", "setattr", "hasattr", "delattr"}
            and len(node.args) > 1
            and isinstance(node.args[1], ast.Constant)
            and isinstance(node.args[1].value, str)
        ):
            names = [node.args[1].value]
        uses += [(name, node.lineno) for name in names if name in sdk_names]
    return uses


def test_an_sdk_version_the_fast_path_was_not_verified_on_takes_the_sdks_own_way(
    company,
) -> None:
    """After an SDK upgrade (here: the installed SDK tells another version), records go the
    SDK's own way, the run says why once, and writes what the fast path writes."""
    config = company.tap_config()
    assert "0.99.0" not in VERIFIED_SDK
    path = os.pathsep.join(filter(None, [str(SDK_VERSION_SITE), os.environ.get("PYTHONPATH")]))
    upgraded = run_tap(config, env={"PYTHONPATH": path, "SDK_VERSION_AS": "0.99.0"})
    fast = run_tap(config)
    assert upgraded.returncode == 0, upgraded.stderr[-2000:]
    assert fast.returncode == 0, fast.stderr[-2000:]
    said = [line for line in upgraded.stderr.splitlines() if SLOW_PATH_LINE in line]
    assert len(said) == 1, said
    assert "singer-sdk 0.99.0 is not the version the fast path was verified on" in said[0]
    assert SLOW_PATH_LINE not in fast.stderr
    assert len(upgraded.records.get("invoices", [])) > 0
    assert comparable(upgraded) == comparable(fast)


@pytest.mark.parametrize(
    ("ours", "sdk_class", "name", "parameters"),
    [
        (FailureBoundary, Stream, "_sync_records", ["self", "context", "write_messages"]),
        (ConfigChecks, PluginBase, "_validate_config", ["self", "raise_errors"]),
    ],
)
def test_the_two_wrapped_sdk_methods_are_still_the_sdks(ours, sdk_class, name, parameters):
    """The two wrappers apply on any SDK version: if the SDK renamed or reshaped the method
    they wrap, ours would silently stop running (stream failures would end the run; the
    tap's config sentences would not be said). This is the alarm for an upgrade."""
    sdk_method = getattr(sdk_class, name, None)
    assert sdk_method is not None, f"the installed singer-sdk no longer has {name}"
    assert list(inspect.signature(sdk_method).parameters) == parameters
    assert list(inspect.signature(getattr(ours, name)).parameters) == parameters
    user = QuickBooksStream if ours is FailureBoundary else TapQuickBooks
    # The tap's class takes ours, and ours hands on to the SDK's (next in the MRO).
    assert getattr(user, name) is getattr(ours, name)
    mro = user.__mro__
    after = mro[mro.index(ours) + 1 :]
    assert next(c for c in after if name in vars(c)) is sdk_class


def test_private_sdk_names_are_few_and_in_one_module() -> None:
    sdk_names = sdk_private_names()
    assert {"_request", "_prepare_request", "_sync_costs", "_tap"} <= sdk_names  # the scan sees
    found = {path.name: private_sdk_uses(path, sdk_names) for path in PACKAGE.rglob("*.py")}
    elsewhere = {name: uses for name, uses in found.items() if uses and name != FASTPATH}
    assert elsewhere == {}
    names = collections.Counter(name for name, _ in found[FASTPATH])
    assert 0 < len(names) <= MAX_PRIVATE_NAMES, sorted(names)


def test_many_companies_write_the_same_records_and_bookmarks_either_way() -> None:
    # remember_partition: each company's stream keeps its partition of state, where the SDK
    # searches every company's at each record. Bookmarks must move exactly as the SDK's do,
    # from new partitions (a first run) as from partitions already in state (the next).
    with Emulator(seed=31, scale=40, realms=3) as emu:
        shared = {
            k: v for k, v in emu.tap_config().items() if k not in {"realm_id", "refresh_token"}
        }

        def both_ways(state: dict | None) -> dict[str, TapRun]:
            runs = {}
            for way, switch in (("fast", "1"), ("slow", "0")):
                companies = [
                    {"realm_id": r, "refresh_token": emu.refresh_token(r)} for r in emu.realm_ids
                ]
                runs[way] = run_tap({**shared, "companies": companies}, state, env={SWITCH: switch})
                assert runs[way].returncode == 0, runs[way].stderr[-2000:]
            return runs

        first = both_ways(None)
        emu.clock.advance(seconds=5)
        changed = emu.realm_ids[1]
        for row in emu.ground_truth(changed, "Invoice")[:3]:
            emu.store(changed).update("Invoice", row["Id"], {"PrivateNote": "changed"})
        second = both_ways(first["fast"].last_state)

    def records(run: TapRun) -> list[str]:
        return sorted(
            json.dumps(m["record"], sort_keys=True, default=str)
            for m in run.messages
            if m["type"] == "RECORD" and m["stream"] != "sync_status"
        )

    def bookmarks(run: TapRun) -> dict:
        return json.loads(json.dumps(run.last_state, default=str), object_hook=timeless)

    for runs in (first, second):
        assert records(runs["fast"]) == records(runs["slow"])
        assert bookmarks(runs["fast"]) == bookmarks(runs["slow"])
    assert {r["realm_id"] for r in second["fast"].records["invoices"]} == {changed}


def test_a_remembered_partition_is_searched_again_once_state_moved_it() -> None:
    state: dict = {"bookmarks": {}}
    manager = StreamStateManager(stream_name="invoices", tap_state=state, is_sorted=True)
    stream = types.SimpleNamespace(state_manager=manager, name="invoices")
    own, other = {"realm_id": "2"}, {"realm_id": "1"}
    remember_partition(stream, own)
    mine = manager.get_context_state(own)  # created, as the SDK does
    assert state["bookmarks"]["invoices"]["partitions"] == [{"context": own}]
    assert manager.get_context_state(own) is mine
    theirs = manager.get_context_state(other)  # another context: the SDK's own answer
    assert theirs is not mine
    assert theirs["context"] == other
    assert manager.get_context_state(own) is mine
    # Another company's partition put before it: found where it now is.
    state["bookmarks"]["invoices"]["partitions"].insert(0, {"context": {"realm_id": "0"}})
    assert manager.get_context_state(own) is mine
    # State replaced (a reset, a state read again): the new partition, never the old one.
    state["bookmarks"]["invoices"] = {
        "partitions": [{"context": own, "replication_key_value": "b"}]
    }
    again = manager.get_context_state(own)
    assert again is state["bookmarks"]["invoices"]["partitions"][0]
    assert again is not mine
    manager.increment_state(
        {"LastUpdatedTime": "c"}, context=own, replication_key="LastUpdatedTime"
    )
    assert state["bookmarks"]["invoices"]["partitions"][0]["replication_key_value"] == "c"
