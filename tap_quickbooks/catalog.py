"""The catalog as Meltano and other Singer runners handle it: small, still complete.

QBO's objects nest deeply (a transaction's ``Line`` carries every detail type; a recurring
transaction wraps one of eleven transactions). Written out in full, the SDK's catalog was
10 MB with 7,000+ metadata entries, and Meltano walks every property node of it (adding
metadata for each) on every run: ~14 s. So the catalog this tap writes:

- gives metadata only to top-level properties: those are what a user selects, and a nested
  property without an entry follows its parent (the Singer rule the SDK applies);
- keeps each stream's schema complete, but writes every nested object once, under the
  schema's ``definitions``, referred to by ``$ref`` (the same object, ``Ref`` or a line detail,
  recurs dozens of times in a stream). Meltano does not walk ``definitions``;
- is written without indentation, one value a line: Meltano reads a tap's discovery output
  line by line and waits forever on a line longer than 64 KiB.

A catalog handed back to the tap (``--catalog``) has its references put back in place
(:func:`inline_definitions`) before the SDK reads it, so the streams, the SCHEMA messages and
the targets see whole schemas as before.
"""

from __future__ import annotations

import collections.abc
import copy
import json
import typing as t

from singer_sdk.singerlib import MetadataMapping

REF_PREFIX = "#/definitions/"


def top_level_only(metadata: MetadataMapping) -> MetadataMapping:
    """The stream's entry and one per top-level property; deeper ones inherit their parent."""
    for breadcrumb in [b for b in metadata if len(b) > 2]:
        del metadata[breadcrumb]
    return metadata


def _fresh_name(name: str, taken: t.Container[str]) -> str:
    """``name``, or ``name_2``, ``name_3``, ... : the first not yet taken."""
    unique, n = name, 1
    while unique in taken:
        n += 1
        unique = f"{name}_{n}"
    return unique


def with_definitions(schema: dict) -> dict:
    """`schema` with every object below its top-level properties moved into `definitions`
    (identical objects once), each place referring to it by `$ref`."""
    names: dict[str, str] = {}  # canonical JSON of an object -> its definition's name
    definitions: dict[str, dict] = {}

    def hoist(node: t.Any, name: str, depth: int) -> t.Any:
        if isinstance(node, list):
            return [hoist(item, name, depth) for item in node]
        if not isinstance(node, dict):
            return node
        out = {}
        for key, value in node.items():
            if key == "properties" and isinstance(value, dict):
                out[key] = {p: hoist(v, p, depth + 1) for p, v in value.items()}
            elif key in ("items", "anyOf", "oneOf", "allOf"):
                out[key] = hoist(value, name, depth)
            else:
                out[key] = value
        if depth < 2 or "properties" not in out:
            return out
        text = json.dumps(out, sort_keys=True, default=str)
        if text not in names:
            unique = _fresh_name(name, definitions)
            names[text] = unique
            definitions[unique] = out
        return {"$ref": REF_PREFIX + names[text]}

    result = hoist(schema, "", 0)
    if definitions:
        result["definitions"] = definitions
    return result


def inline_definitions(catalog: t.Any) -> t.Any:
    """A catalog given as a mapping, with each stream's `$ref`s replaced by their definitions
    (local references only; anything else is returned as it came)."""
    if not isinstance(catalog, collections.abc.Mapping) or not catalog.get("streams"):
        return catalog
    catalog = copy.deepcopy(dict(catalog))
    for stream in catalog["streams"]:
        schema = stream.get("schema")
        if isinstance(schema, dict) and "definitions" in schema:
            definitions = schema.pop("definitions")
            stream["schema"] = _resolve(schema, definitions, ())
    return catalog


def _resolve(node: t.Any, definitions: dict, seen: tuple[str, ...]) -> t.Any:
    if isinstance(node, list):
        return [_resolve(item, definitions, seen) for item in node]
    if not isinstance(node, dict):
        return node
    ref = node.get("$ref")
    if isinstance(ref, str) and ref.startswith(REF_PREFIX) and len(node) == 1:
        name = ref.removeprefix(REF_PREFIX)
        if name in definitions and name not in seen:
            return _resolve(definitions[name], definitions, (*seen, name))
    return {key: _resolve(value, definitions, seen) for key, value in node.items()}


def catalog_text(catalog: dict) -> str:
    streams = [
        {**s, "schema": with_definitions(s["schema"])} if "schema" in s else s
        for s in catalog.get("streams", [])
    ]
    return json.dumps({**catalog, "streams": streams}, indent=0, separators=(",", ":"), default=str)
