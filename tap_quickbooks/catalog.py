"""The catalog as Meltano and other Singer runners handle it: small, still complete.

QBO's objects nest deeply (a transaction's ``Line`` carries every detail type; a recurring
transaction wraps one of eleven transactions). Written out in full, the SDK's catalog was
10 MB with 7,000+ metadata entries. Meltano walks every property node of a catalog on every
run, adds a metadata entry to each nested one, and writes the result back indented by two
spaces (tap.properties.json), so every byte and node of it costs time and space per run.
So the catalog this tap writes:

- gives metadata only to top-level properties: those are what a user selects, and a nested
  property without an entry follows its parent (the Singer rule the SDK applies);
- keeps each stream's schema complete, but writes every object below a stream's top level
  once for the whole catalog, under the catalog's own ``definitions``, referred to by
  ``$ref`` (``#/definitions/...``: a pointer into the catalog document). The same objects
  (``Ref``, ``MetaData``, the line details, whole transactions inside recurring ones) recur
  across streams hundreds of times. Meltano walks no ``$ref`` and adds no metadata there;
- is written without indentation, one value a line: Meltano reads a tap's discovery output
  line by line and waits forever on a line longer than 64 KiB.

A catalog handed back to the tap (``--catalog``) has its references put back in place
(:func:`inline_definitions`) before the SDK reads it, so the streams, the SCHEMA messages and
the targets see whole schemas as before; a stream schema's own ``definitions`` (as 0.2.0
wrote them) are read too.
"""

from __future__ import annotations

import collections.abc
import json
import typing as t

import msgspec
from singer_sdk import singerlib

if t.TYPE_CHECKING:
    from singer_sdk import Stream

REF_PREFIX = "#/definitions/"


def top_level_only(metadata: singerlib.MetadataMapping) -> singerlib.MetadataMapping:
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


class Definitions:
    """Objects moved out of schemas, each once (identical objects share one name)."""

    def __init__(self) -> None:
        self.names: dict[bytes, str] = {}  # canonical JSON of an object -> its name
        self.schemas: dict[str, dict] = {}  # name -> the object

    def hoist(self, schema: dict) -> dict:
        """`schema` with every object property, and every array's object items, replaced
        by a `$ref` to its definition (the schema's own top level stays in place)."""
        return self._hoist(schema, "", top=True)

    def _hoist(self, node: t.Any, name: str, *, top: bool = False) -> t.Any:
        if isinstance(node, list):
            return [self._hoist(item, name) for item in node]
        if not isinstance(node, dict):
            return node
        out = {}
        for key, value in node.items():
            if key == "properties" and isinstance(value, dict):
                out[key] = {p: self._hoist(v, p) for p, v in value.items()}
            elif key in ("items", "anyOf", "oneOf", "allOf"):
                out[key] = self._hoist(value, name)
            else:
                out[key] = value
        if top or "properties" not in out:
            return out
        # Canonical text, as the object's identity (msgspec: a seventh of json's time).
        text = msgspec.json.encode(out, order="sorted", enc_hook=str)
        if text not in self.names:
            unique = _fresh_name(name, self.schemas)
            self.names[text] = unique
            self.schemas[unique] = out
        return {"$ref": REF_PREFIX + self.names[text]}


def with_definitions(schema: dict) -> dict:
    """One schema on its own: its objects moved into its own `definitions`."""
    definitions = Definitions()
    result = definitions.hoist(schema)
    if definitions.schemas:
        result["definitions"] = definitions.schemas
    return result


def inline_definitions(catalog: t.Any) -> t.Any:
    """A catalog given as a mapping, with each stream's `$ref`s replaced by their definitions:
    the stream schema's own, else the catalog's (local references only; anything else is
    returned as it came)."""
    if not isinstance(catalog, collections.abc.Mapping) or not catalog.get("streams"):
        return catalog
    # Copies of what changes only (the caller's catalog stays as it was): _resolve makes
    # new nodes, and a deep copy of the whole catalog first cost as much again.
    catalog = dict(catalog)
    shared = catalog.pop("definitions", None)
    shared = shared if isinstance(shared, dict) else {}
    streams = []
    for stream in catalog["streams"]:
        schema = stream.get("schema") if isinstance(stream, dict) else None
        if not isinstance(schema, dict):
            streams.append(stream)
            continue
        schema = dict(schema)
        own = schema.pop("definitions", None)
        definitions = {**shared, **own} if isinstance(own, dict) else shared
        resolved = _resolve(schema, definitions, ()) if definitions else schema
        streams.append({**stream, "schema": resolved})
    catalog["streams"] = streams
    return catalog


class ConvertedOnce(singerlib.Schema):
    """A schema of the input catalog that is converted to a dict once, not by every stream
    bound to its entry: the SDK converts an entry's schema for each stream it applies the
    catalog to (each company's), a tenth of a CPU-second each for QBO's schemas. Nothing
    changes the dict in place (the SDK copies a schema before it selects or flattens)."""

    __slots__ = ("converted",)
    converted: dict

    def to_dict(self) -> t.Any:
        try:
            return self.converted
        except AttributeError:
            self.converted = super().to_dict()
            return self.converted


def input_catalog(catalog: t.Any, own_schema: t.Callable[[str], dict | None]) -> t.Any:
    """The catalog handed to the tap, its references put back, as the SDK's
    ``singerlib.Catalog`` with schemas converted once (anything not shaped as a catalog is
    returned for the SDK to read and say what is wrong).

    A stream's schema equal to the tap's own (``own_schema(tap_stream_id)``, as Meltano hands
    a discovered catalog back) is taken as that one dict: it converts to itself (the tap's
    schemas survive the SDK's conversion unchanged, tests/test_catalog.py), and its shared
    parts make every later copy cheaper than a copy of the catalog's own.
    """
    catalog = inline_definitions(catalog)
    streams = catalog.get("streams") if isinstance(catalog, collections.abc.Mapping) else None
    if not isinstance(streams, list) or not all(
        isinstance(s, dict) and "tap_stream_id" in s and isinstance(s.get("schema", {}), dict)
        for s in streams
    ):
        return catalog
    # Each schema parsed once, into the class that keeps its conversion.
    bare = [{**s, "schema": {}} for s in streams]
    parsed = singerlib.Catalog.from_dict({**catalog, "streams": bare})
    for stream in streams:
        schema = stream.get("schema", {})
        own = own_schema(stream["tap_stream_id"])
        if own is not None and own == schema:
            kept = ConvertedOnce()
            kept.converted = own
        else:
            kept = t.cast(ConvertedOnce, ConvertedOnce.from_dict(schema))
        parsed[stream["tap_stream_id"]].schema = kept
    return parsed


def _resolve(node: t.Any, definitions: dict, seen: tuple[str, ...]) -> t.Any:
    if isinstance(node, list):
        return [_resolve(item, definitions, seen) for item in node]
    if not isinstance(node, dict):
        return node
    ref = node.get("$ref")
    if isinstance(ref, str) and ref.startswith(REF_PREFIX):
        name = ref.removeprefix(REF_PREFIX)
        if name in definitions and name not in seen:
            resolved = _resolve(definitions[name], definitions, (*seen, name))
            # Keys beside the reference were added by a runner (Meltano's `schema:` extra
            # makes `properties` of an overridden nested field there): they win.
            for key, extra in node.items():
                if key == "$ref":
                    continue
                added = _resolve(extra, definitions, seen)
                if key == "properties" and isinstance(added, dict):
                    added = {**resolved.get("properties", {}), **added}
                resolved[key] = added
            return resolved
    return {key: _resolve(value, definitions, seen) for key, value in node.items()}


def discovered(streams: t.Iterable[Stream]) -> dict:
    """The catalog of `streams`, equal to the SDK's `Tap.catalog_dict`, without its trip of
    every schema through `singerlib.Schema` and back (half a CPU-second of each discovery, so
    of each `meltano run`, for QBO's 37,000 schema nodes; the schemas come out unchanged)."""
    entries = []
    for stream in streams:
        entry = singerlib.CatalogEntry(
            tap_stream_id=stream.tap_stream_id,
            stream=stream.name,
            schema=singerlib.Schema(),
            metadata=stream.metadata,
            key_properties=stream.primary_keys or [],
            replication_key=stream.replication_key,
            replication_method=stream.replication_method,
        ).to_dict()
        entries.append({**entry, "schema": stream.schema})
    return {"streams": entries}


def catalog_text(catalog: dict) -> str:
    """The catalog as this tap writes it: objects shared across streams, no indentation."""
    definitions = Definitions()
    streams = [
        {**s, "schema": definitions.hoist(s["schema"])} if "schema" in s else s
        for s in catalog.get("streams", [])
    ]
    out = {**catalog, "streams": streams}
    if definitions.schemas:
        out["definitions"] = definitions.schemas
    return json.dumps(out, indent=0, separators=(",", ":"), default=str)
