"""Writes the tap's plugin definition in meltano.yml from the tap itself.

`python -m scripts.meltano_settings` rewrites the `settings`, `settings_group_validation` and
`select` of the `tap-quickbooks` extractor; `--check` only says whether meltano.yml agrees
(tests/test_packaging.py runs it). One source, the tap's `config_jsonschema` with the SDK's
own settings added, instead of a second list to keep in step by hand.
"""

from __future__ import annotations

import copy
import sys
from pathlib import Path

import yaml

from tap_quickbooks.catalogue import ENTITIES
from tap_quickbooks.outcomes import SYNC_STATUS
from tap_quickbooks.tap import TapQuickBooks

ROOT = Path(__file__).resolve().parent.parent
MELTANO_YML = ROOT / "meltano.yml"
EXTRACTOR = "tap-quickbooks"

# Meltano's kind for a JSON type (first non-null type of the property).
KINDS = {
    "integer": "integer",
    "number": "decimal",
    "boolean": "boolean",
    "object": "object",
    "array": "array",
}


def config_schema() -> dict:
    """The settings the tap accepts: its own and the SDK's (stream maps, flattening, batch)."""
    schema = copy.deepcopy(TapQuickBooks.config_jsonschema)
    TapQuickBooks.append_builtin_config(schema)
    return schema


def label_of(name: str, prop: dict) -> str:
    return prop.get("title") or name.replace("_", " ").capitalize()


def kind_of(prop: dict) -> str:
    types = prop.get("type", "string")
    types = [types] if isinstance(types, str) else types
    json_type = next((t for t in types if t != "null"), "string")
    if "enum" in prop:
        return "options"
    if json_type == "string" and prop.get("format") in ("date", "date-time"):
        return "date_iso8601"
    return KINDS.get(json_type, "string")


def setting(name: str, prop: dict) -> dict:
    out: dict = {"name": name, "label": label_of(name, prop), "kind": kind_of(prop)}
    if prop.get("secret"):
        out["sensitive"] = True
    if "default" in prop:
        out["value"] = prop["default"]
    if "enum" in prop:
        out["options"] = [
            {"label": str(v).capitalize(), "value": v} for v in prop["enum"] if v is not None
        ]
    if prop.get("description"):
        out["description"] = " ".join(prop["description"].split())
    return out


def settings() -> list[dict]:
    return [setting(name, prop) for name, prop in config_schema()["properties"].items()]


def group_validation() -> list[list[str]]:
    """One company (realm_id and its refresh_token), or many (`companies`)."""
    required = list(config_schema().get("required", []))
    return [[*required, "refresh_token", "realm_id"], [*required, "companies"]]


def selection() -> list[str]:
    """Every entity stream and sync_status, no report stream: each period of a report is a
    metered call, and Meltano's default selection would take them all. `meltano select`
    adds reports."""
    return [*(f"{e.stream}.*" for e in ENTITIES), f"{SYNC_STATUS}.*"]


def expected_extractor(current: dict) -> dict:
    updated = dict(current)
    updated["settings_group_validation"] = group_validation()
    updated["settings"] = settings()
    updated["select"] = selection()
    return updated


def load() -> dict:
    return yaml.safe_load(MELTANO_YML.read_text())


def extractor_of(project: dict) -> dict:
    return next(p for p in project["plugins"]["extractors"] if p["name"] == EXTRACTOR)


def differences(project: dict) -> list[str]:
    """What meltano.yml's definition lacks or has wrong, one line each (empty: it agrees).
    Reports may be added to `select` (README: turning reports on)."""
    current = extractor_of(project)
    problems = []
    if current.get("settings_group_validation") != group_validation():
        problems.append("settings_group_validation differs from the tap's required settings")
    have = {s["name"]: s for s in current.get("settings", [])}
    for want in settings():
        if have.get(want["name"]) != want:
            problems.append(f"setting {want['name']}: {have.get(want['name'])} != {want}")
    for extra in sorted(set(have) - {s["name"] for s in settings()}):
        problems.append(f"setting {extra} is not a setting of the tap")
    missing = [s for s in selection() if s not in current.get("select", [])]
    if missing:
        problems.append(f"select lacks {missing}")
    return problems


def write() -> None:
    project = load()
    extractors = project["plugins"]["extractors"]
    index = next(i for i, p in enumerate(extractors) if p["name"] == EXTRACTOR)
    extractors[index] = expected_extractor(extractors[index])
    MELTANO_YML.write_text(yaml.safe_dump(project, sort_keys=False, width=100))


def main(argv: list[str]) -> int:
    if argv == ["--check"]:
        problems = differences(load())
        for line in problems:
            print(line)
        if problems:
            print("meltano.yml disagrees with the tap: run `python -m scripts.meltano_settings`")
        return 1 if problems else 0
    if argv:
        print("usage: python -m scripts.meltano_settings [--check]")
        return 2
    write()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
