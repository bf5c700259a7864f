"""The Accounting API endpoints behind ``/v3/company/{realmId}/...``: query, batch, CDC, read
by id, writes (create, sparse/full update, delete, void), CompanyInfo, Preferences, reports.

Each function takes a :class:`Realm` (store + query engine) and returns a :class:`Reply`; the
HTTP front in ``server.py`` only routes and applies behaviours. Envelopes are byte-exact to
the recordings: ``{"QueryResponse":{...},"time":...}``, ``{"Customer":{...},"time":...}``,
``{"BatchItemResponse":[...],"time":...}``, ``{"CDCResponse":[{"QueryResponse":[...]}],...}``.

CDC: ``changedSince`` more than 30 days back is refused (400, "Operation cdc with changedSince
date ... which is older than fixed days is not supported."), entities QBO leaves out of CDC
are refused (400), and a response holds at most 1000 objects in all: entities are filled in
the order requested, each oldest change first with deleted stubs last, and whatever does not
fit is silently left out (the documented "may contain fewer objects than the total"); a
client must narrow the window or re-ask from the newest time it saw.
"""

from __future__ import annotations

import bisect
import copy
import json
from dataclasses import dataclass, field

from . import reports, timefmt
from .entities import CATALOGUE, lookup, writable_properties
from .query import Engine, render_query_response
from .responses import JSON_OK, ApiError, invalid_id, object_not_found, unsupported_operation
from .store import MutationError, Store, deleted_stub, dumps, inner

CDC_MAX_OBJECTS = 1000
CDC_MAX_DAYS = 30
BATCH_MAX_ITEMS = 30


@dataclass
class Reply:
    status: int
    body: bytes
    content_type: str = JSON_OK
    headers: dict = field(default_factory=dict)
    records: int = 0


@dataclass
class Realm:
    store: Store
    engine: Engine


def _time(now: float) -> bytes:
    return timefmt.fmt_ms(now).encode()


def _envelope(key: str, inner_json: bytes, now: float) -> bytes:
    return b'{"%s":%s,"time":"%s"}' % (key.encode(), inner_json, _time(now))


# ----- query -----------------------------------------------------------------------------------


def query(realm: Realm, text: str, now: float, tie_salt: int | None = None) -> Reply:
    if not text or not text.strip():
        raise ApiError(
            400,
            "4000",
            "Error parsing query",
            'QueryParserError: Encountered "<EOF>" at line 1, column 1.',
        )
    with realm.store.lock:  # evaluate and render against the same state
        res = realm.engine.run(text, tie_salt)
        qr, n = render_query_response(realm.store, res)
    return Reply(200, _envelope("QueryResponse", qr, now), records=n)


# ----- batch -----------------------------------------------------------------------------------


def batch(realm: Realm, raw: bytes, now: float, write=None) -> Reply:
    """``write``: the writer of one item (writes.WriteSide.write_one adds QBO's checks)."""
    write = write or _write
    try:
        doc = json.loads(raw or b"{}")
        items = doc["BatchItemRequest"]
        if not isinstance(items, list):
            raise TypeError
    except (ValueError, KeyError, TypeError) as exc:
        raise ApiError(
            400,
            "2010",
            "Request has invalid or unsupported property",
            "BatchItemRequest is required",
        ) from exc
    if len(items) > BATCH_MAX_ITEMS:
        raise ApiError(
            400,
            "1001",
            "Batch size exceeds limit",
            f"The batch request contains {len(items)} items; the maximum is {BATCH_MAX_ITEMS}",
        )
    out: list[bytes] = []
    records = 0
    for item in items:
        bid = str(item.get("bId", ""))
        bid_json = json.dumps(bid).encode()
        try:
            if "Query" in item:
                with realm.store.lock:
                    res = realm.engine.run(item["Query"])
                    qr, n = render_query_response(realm.store, res)
                records += n
                out.append(b'{"QueryResponse":%s,"bId":%s}' % (qr, bid_json))
                continue
            op = (item.get("operation") or "create").lower()
            entity_key = next(
                (k for k in item if lookup(k) is not None and isinstance(item[k], dict)), None
            )
            if entity_key is None:
                raise ApiError(
                    400,
                    "2010",
                    "Request has invalid or unsupported property",
                    "No entity in batch item",
                )
            spec = lookup(entity_key)
            body = item[entity_key]
            params = {"operation": op} if op in ("delete", "void") else {}
            if item.get("optionsData") == "void":
                params = {"operation": "void"}
            key, obj_json = write(realm, spec.name, params, body)
            out.append(b'{"%s":%s,"bId":%s}' % (key.encode(), obj_json, bid_json))
        except ApiError as err:
            fault = err.fault()
            for e in fault["Error"]:
                e.setdefault("element", "")
            out.append(b'{"Fault":%s,"bId":%s}' % (dumps(fault), bid_json))
    body = b'{"BatchItemResponse":[%s],"time":"%s"}' % (b",".join(out), _time(now))
    return Reply(200, body, records=records)


# ----- CDC -------------------------------------------------------------------------------------


def cdc(realm: Realm, params: dict, now: float) -> Reply:  # noqa: C901, PLR0912 - each of QBO's CDC refusals checked in the order QBO checks them
    names = [n.strip() for n in (params.get("entities") or "").split(",") if n.strip()]
    since_text = params.get("changedSince") or ""
    path = f"/v3/company/{realm.store.realm_id}/cdc"
    if not names or not since_text:
        raise ApiError(
            400,
            "2020",
            "Required param missing, need to supply the required value for the API",
            "Required parameter entities and changedSince are missing",
        )
    try:
        since = timefmt.parse_datetime(since_text)
    except ValueError as exc:
        raise ApiError(
            400,
            "2040",
            "Invalid Date Format",
            f"Invalid date format for changedSince: {since_text}",
        ) from exc
    if since < now - CDC_MAX_DAYS * 86400:
        raise ApiError(
            400,
            "500",
            "Unsupported Operation",
            f"Operation cdc with changedSince date {since_text} which is older than fixed days "
            "is not supported.",
        )
    specs = []
    for n in names:
        spec = lookup(n)
        if spec is None:
            raise unsupported_operation(path).__class__(
                400,
                "500",
                "Unsupported Operation",
                f"Operation cdc is not supported for entity {n}.",
            )
        realm.store.refuse(spec.name)
        if not spec.cdc:
            raise ApiError(
                400,
                "500",
                "Unsupported Operation",
                f"Operation cdc is not supported for entity {spec.name}.",
            )
        if spec not in specs:
            specs.append(spec)
    store = realm.store
    first = int(since) if since == int(since) else int(since) + 1
    budget = CDC_MAX_OBJECTS
    parts: list[bytes] = []
    total = 0
    with store.lock:
        for spec in specs:
            t = store.tables[spec.name]
            rows: list[bytes] = []
            i = bisect.bisect_left(t.index, (first,))
            for entry in t.index[i:]:
                if budget <= 0:
                    break
                rows.append(t.json(entry[2]))
                budget -= 1
            for key, when in sorted(
                store.deleted[spec.name].items(), key=lambda kv: (kv[1], kv[0])
            ):
                if when >= first and budget > 0:
                    rows.append(dumps(deleted_stub(key, when)))
                    budget -= 1
            if rows:
                parts.append(
                    b'{"%s":[%s],"startPosition":1,"maxResults":%d}'
                    % (spec.name.encode(), b",".join(rows), len(rows))
                )
                total += len(rows)
            else:
                parts.append(b"{}")
    body = b'{"CDCResponse":[{"QueryResponse":[%s]}],"time":"%s"}' % (b",".join(parts), _time(now))
    return Reply(200, body, records=total)


# ----- reads -----------------------------------------------------------------------------------


def read(realm: Realm, resource: str, key: str, now: float, path: str) -> Reply:
    spec = lookup(resource)
    if spec is None or spec.path != resource.lower():
        raise unsupported_operation(path)
    store = realm.store
    store.refuse(spec.name)
    if spec.name == "CompanyInfo" and key == store.realm_id:
        key = "1"
    if spec.name not in ("TaxCode", "TaxClassification", "ExchangeRate") and not key.isdigit():
        raise invalid_id(key)
    t = store.tables[spec.name]
    with store.lock:
        if key not in t.objs:
            raise object_not_found("")
        obj_json = t.json(key)
    return Reply(200, _envelope(spec.name, obj_json, now), records=1)


def preferences(realm: Realm, now: float) -> Reply:
    t = realm.store.tables["Preferences"]
    with realm.store.lock:
        key = next(iter(t.objs))
        return Reply(200, _envelope("Preferences", t.json(key), now), records=1)


# ----- writes ----------------------------------------------------------------------------------

_ALWAYS_OK = {"sparse", "Id", "SyncToken", "domain", "MetaData", "status"}


def _check_properties(store: Store, entity: str, body: dict) -> None:
    t = store.tables[entity]
    allowed = set(t.known_keys()) | writable_properties(entity) | _ALWAYS_OK
    for k in body:
        if k not in allowed:
            known = ", ".join(f'"{x}"' for x in sorted(t.known_keys())[:60])
            raise ApiError(
                400,
                "2010",
                "Request has invalid or unsupported property",
                f'Property Name:Unrecognized field "{k}" '
                f"(class com.intuit.schema.finance.v3.{entity}), not marked as ignorable "
                f"({len(t.known_keys())} known properties: {known} [truncated]])\n"
                " specified is unsupported or invalid",
            )


def _stale(store: Store) -> ApiError:
    return ApiError(
        400,
        "5010",
        "Stale Object Error",
        "Stale Object Error : You and QuickBooks Emulator were working on this at the same time. "
        "QuickBooks Emulator finished before you did, so your work was not saved.",
        element="",
    )


_NAME_FIELD = {"Customer": "DisplayName", "Vendor": "DisplayName", "Employee": "DisplayName"}


def _check_duplicate(store: Store, entity: str, body: dict, own_key: str | None) -> None:
    field_name = _NAME_FIELD.get(entity) or (
        "Name"
        if entity in ("Account", "Item", "Class", "Department", "Term", "PaymentMethod")
        else None
    )
    if not field_name or field_name not in body:
        return
    wanted = str(body[field_name]).casefold()
    tables = ("Customer", "Vendor", "Employee") if entity in _NAME_FIELD else (entity,)
    for name in tables:
        for k, obj in store.tables[name].objs.items():
            if (name != entity or k != own_key) and str(
                obj.get(field_name, "")
            ).casefold() == wanted:
                raise ApiError(
                    400,
                    "6240",
                    "Duplicate Name Exists Error",
                    "The name supplied already exists. : null",
                )


_USD = {"value": "USD", "name": "United States Dollar"}


def _with_defaults(store: Store, entity: str, body: dict) -> dict:
    """Fields QBO fills in on create."""
    out = dict(body)
    if entity in ("Customer", "Vendor"):
        out.setdefault("Balance", 0)
        out.setdefault("CurrencyRef", _USD)
        if "DisplayName" in out:
            out.setdefault("PrintOnCheckName", out["DisplayName"])
    if entity == "Vendor":
        out.setdefault("Vendor1099", False)
    if entity == "Customer":
        out.setdefault("Taxable", True)  # sales tax is on in the emulated company
        if out["Taxable"]:
            codes = [k for k in store.tables["TaxCode"].objs if k.isdigit()]
            if codes:
                out.setdefault("DefaultTaxCodeRef", {"value": min(codes, key=int)})
        out.setdefault("Job", "ParentRef" in out)
        out.setdefault("BillWithParent", False)
        out.setdefault("BalanceWithJobs", 0)
        out.setdefault("PreferredDeliveryMethod", "Print")
        if "DisplayName" in out:
            out.setdefault("FullyQualifiedName", out["DisplayName"])
    if entity == "Employee":
        out.setdefault("BillableTime", False)
    if CATALOGUE[entity].is_txn and entity not in ("TimeActivity", "TaxPayment"):
        out.setdefault("CurrencyRef", _USD)
    return out


def _write(realm: Realm, entity: str, params: dict, body: dict) -> tuple[str, bytes]:  # noqa: C901, PLR0912 - create, update, sparse update, delete and void share one path
    """Create/update/delete/void one object; returns (entity name, object or stub JSON)."""
    store = realm.store
    store.refuse(entity)
    spec = CATALOGUE[entity]
    op = (params.get("operation") or "").lower()
    include = (params.get("include") or "").lower()
    if not isinstance(body, dict):
        raise ApiError(
            400,
            "2010",
            "Request has invalid or unsupported property",
            "Request body must be an object",
        )
    key = str(body.get("Id")) if body.get("Id") is not None else None
    try:
        with store.lock:
            t = store.tables[entity]
            if op in ("delete", "void") or include == "void" or key is not None:
                if key is None or key not in t.objs:
                    raise object_not_found("")
                current = inner(entity, t.objs[key])
                if str(body.get("SyncToken", current.get("SyncToken"))) != current.get("SyncToken"):
                    raise _stale(store)
            if op == "delete":
                if not spec.deletable:
                    raise ApiError(
                        400,
                        "6000",
                        "A business validation error has occurred while processing your request",
                        f"Business Validation Error: {entity} cannot be deleted. "
                        "Make it inactive instead.",
                    )
                stub = store.delete(entity, key)
                return entity, dumps({"domain": "QBO", "status": "Deleted", "Id": stub["Id"]})
            if op == "void" or include == "void":
                if not spec.voidable:
                    raise ApiError(
                        400,
                        "6000",
                        "A business validation error has occurred while processing your request",
                        f"Business Validation Error: {entity} cannot be voided.",
                    )
                store.void(entity, key)
                return entity, t.json(key)
            _check_properties(store, entity, body)
            if key is None:
                _check_duplicate(store, entity, body, None)
                created = store.create(entity, _with_defaults(store, entity, body))
                new_key = inner(entity, created).get("Id") or next(reversed(t.objs))
                return entity, t.json(new_key)
            _check_duplicate(store, entity, body, key)
            changes = {k: v for k, v in body.items() if k not in _ALWAYS_OK}
            if not body.get("sparse"):
                # Full update: writable fields left out are cleared.
                current = inner(entity, t.objs[key])
                for k in current:
                    if (
                        k not in changes
                        and k not in _ALWAYS_OK
                        and k not in ("Balance", "TotalAmt", "FullyQualifiedName", "CurrencyRef")
                    ):
                        changes[k] = None
            was_active = inner(entity, t.objs[key]).get("Active", True)
            if spec.deactivatable and changes.get("Active") is False and was_active is not False:
                rest = {k: v for k, v in changes.items() if k != "Active"}
                if rest:
                    store.update(entity, key, rest)
                store.deactivate(entity, key)
            else:
                store.update(entity, key, changes)
            return entity, t.json(key)
    except MutationError as exc:
        raise ApiError(
            400,
            "6000",
            "A business validation error has occurred while processing your request",
            f"Business Validation Error: {exc}",
        ) from exc


def write(realm: Realm, resource: str, params: dict, raw: bytes, *, now: float, path: str) -> Reply:
    spec = lookup(resource)
    if spec is None or spec.path != resource.lower():
        raise unsupported_operation(path)
    try:
        body = json.loads(raw or b"{}")
    except ValueError as exc:
        raise ApiError(
            400,
            "2010",
            "Request has invalid or unsupported property",
            "Request body is not valid JSON",
        ) from exc
    name, obj_json = _write(realm, spec.name, params, copy.deepcopy(body))
    return Reply(200, _envelope(name, obj_json, now), records=1)


# ----- reports ---------------------------------------------------------------------------------


def report(realm: Realm, name: str, params: dict, now: float) -> Reply:
    canonical = {n.lower(): n for n in reports.SUPPORTED}.get(name.lower())
    if canonical:
        realm.store.refuse(canonical)
    with realm.store.lock:
        doc = reports.run_report(realm.store, name, params, now)
    return Reply(200, dumps(doc))


def exchange_rate(realm: Realm, params: dict, now: float) -> Reply:
    """``GET /exchangerate?sourcecurrencycode=EUR[&asofdate=YYYY-MM-DD]``: the latest rate set
    on or before the date (today by default)."""
    code = (params.get("sourcecurrencycode") or "").upper()
    day = params.get("asofdate") or timefmt.pacific_date(int(now))
    t = realm.store.tables["ExchangeRate"]
    with realm.store.lock:
        candidates = [
            (obj["AsOfDate"], key)
            for key, obj in t.objs.items()
            if obj.get("SourceCurrencyCode") == code and obj.get("AsOfDate", "") <= day
        ]
        best = max(candidates)[1] if candidates else None
        if best is None:
            raise object_not_found("")
        return Reply(200, _envelope("ExchangeRate", t.json(best), now), records=1)
