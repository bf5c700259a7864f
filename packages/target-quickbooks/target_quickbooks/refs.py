"""References by name: ``{"name": "Acme"}`` without a ``value`` becomes QBO's Id.

A platform knows its customers and products by name, not by QBO Id. A reference (``CustomerRef``,
a line's ``ItemRef``, an ``...AccountRef``, ``TaxCodeRef``) that carries only a ``name`` is
looked up among the company's active objects, one query per entity and 1,000 names, before the
write goes out; the Id found is written into the reference. A name QBO does not have is the
record's rejection, said in one sentence. The change hash is taken before, on the name, so a
replay stays a no-op without any look-up.
"""

from __future__ import annotations

import typing as t

from tap_quickbooks import query

if t.TYPE_CHECKING:
    from .qbo import Qbo

#: Which entity a reference names, by the reference's field, and the field that holds its name.
NAMED: dict[str, tuple[str, str]] = {
    "CustomerRef": ("Customer", "DisplayName"),
    "ItemRef": ("Item", "Name"),
    "TaxCodeRef": ("TaxCode", "Name"),
    "ClassRef": ("Class", "Name"),
    "PaymentMethodRef": ("PaymentMethod", "Name"),
}


def _target(field: str) -> tuple[str, str] | None:
    if field in NAMED:
        return NAMED[field]
    return ("Account", "Name") if field.endswith("AccountRef") else None


def by_name(payload) -> t.Iterator[tuple[str, str, dict]]:
    """(entity, name, the reference) of every reference in the payload that has only a name."""
    stack = [payload]
    while stack:
        node = stack.pop()
        if isinstance(node, list):
            stack.extend(node)
        elif isinstance(node, dict):
            for field, value in node.items():
                where = _target(field)
                if where and isinstance(value, dict) and value.get("value") in (None, ""):
                    if value.get("name"):
                        yield where[0], str(value["name"]), value
                elif isinstance(value, (dict, list)):
                    stack.append(value)


def resolve(qbo: Qbo, payloads: list[dict]) -> dict[int, str]:
    """Fill in the Id of every named reference; returns, by payload index, why one cannot be."""
    wanted: dict[str, set[str]] = {}
    for payload in payloads:
        for entity, name, _ in by_name(payload):
            wanted.setdefault(entity, set()).add(name)
    found: dict[tuple[str, str], str] = {}
    for entity, names in sorted(wanted.items()):
        field = next(f for e, f in [*NAMED.values(), ("Account", "Name")] if e == entity)
        ordered = sorted(names)
        for start in range(0, len(ordered), query.MAX_RESULTS):
            chunk = ordered[start : start + query.MAX_RESULTS]
            rows = qbo.query(
                query.Select(
                    entity, where=(query.one_of(field, chunk),), max_results=query.MAX_RESULTS
                )
            )
            for row in rows:
                found[(entity, str(row.get(field, "")).casefold())] = str(row["Id"])
    problems: dict[int, str] = {}
    for n, payload in enumerate(payloads):
        for entity, name, ref in by_name(payload):
            qbo_id = found.get((entity, name.casefold()))
            if qbo_id is None:
                problems[n] = (
                    f"not sent: no active {entity} is named {name!r} in QuickBooks (a "
                    "reference by name must match exactly; or give its Id as value)"
                )
            else:
                ref["value"] = qbo_id
    return problems
