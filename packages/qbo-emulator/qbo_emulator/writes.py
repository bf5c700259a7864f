"""The write side of the emulator: what QBO checks and does when a client creates or changes
objects, and the ways a write can go wrong that a careful client must survive.

``api.py`` holds the mechanics of a write (create, sparse/full update, delete, void, the
SyncToken check, 6240 duplicate names); this module wraps every ``POST`` to an entity and
every ``/batch`` call with:

- ``requestid`` de-duplication as QBO documents it: at most 50 characters (36 on a batch call),
  unique per company; a repeated requestid gets the original answer and writes nothing. Only
  answers to requests that reached the books are remembered (a 503 before commit is not).
- validation faults: 6000 when a company outside the US gets a sales line without a tax code
  (the company's country is ``store.meta["country"]``, default ``US``); 6140 duplicate
  document number; 2500 a reference to an object that does not exist.
- bookkeeping QBO does itself: ``TotalAmt`` (and an invoice's ``Balance``) from the lines,
  a payment lowering the balance of the invoices it pays, stock (``QtyOnHand`` of tracked items
  falls with sales receipts and invoices, moves by ``QtyDiff`` with inventory adjustments, and
  comes back when a sale is voided or deleted).
- switches tests turn on (all off by default; probabilities drawn from a seeded RNG):
  ``lost_after_commit`` (the write is done, the answer never arrives: a TCP reset or a 504),
  ``fail_before_commit`` (an HTML 503, nothing written), ``requestid_dedup`` (False: QBO's
  reported lapses, every request writes), ``edit_between`` (a person edits the object in
  QuickBooks just before an update lands, so it meets a 5010 Stale Object Error once).
"""

from __future__ import annotations

import json
import random
import threading
from dataclasses import dataclass

from . import api
from .entities import lookup
from .responses import JSON_ERR, ApiError
from .store import Store, inner, money

REQUESTID_MAX = 50
BATCH_REQUESTID_MAX = 36

#: Where a person's edit lands for ``edit_between``: a field no sync sends.
_HUMAN_FIELD = {"Customer": "Notes", "Item": "Description"}
HUMAN_NOTE = "Edited in QuickBooks by a person"

_SALES = ("Invoice", "SalesReceipt")
_TAX_SENTENCE = {
    "GB": "Make sure all your transactions have a VAT rate before you save.",
    "UK": "Make sure all your transactions have a VAT rate before you save.",
    "CA": "Make sure all your transactions have a GST/HST rate before you save.",
}


def handles(kind: str, method: str, rest: list[str]) -> bool:
    """Whether a request is a write this module answers (entity POSTs and batch calls)."""
    return (
        method == "POST" and kind in ("write", "batch") and len(rest) == 1
        and rest[0].lower() != "preferences"
    )  # fmt: skip


class LostAnswer(Exception):
    """The write committed; the client must not get its answer (``how``: reset or 504)."""

    def __init__(self, how: str) -> None:
        super().__init__(how)
        self.how = how


class BeforeCommit(Exception):
    """The request is refused before it reaches the books (an HTML 503)."""


@dataclass
class _Remembered:
    status: int
    body: bytes
    content_type: str


class WriteSide:
    """Switches and requestid memory for every realm of one emulator."""

    KNOBS = ("lost_after_commit", "fail_before_commit", "requestid_dedup", "edit_between")

    def __init__(self, seed: int = 1) -> None:
        self.lost_after_commit: float = 0.0
        self.fail_before_commit: float = 0.0
        self.requestid_dedup: bool = True
        self.edit_between: float = 0.0
        self._rng = random.Random(f"writes:{seed}")
        self._lock = threading.Lock()
        self._answers: dict[tuple[str, str], _Remembered] = {}
        self._edited: set[tuple[str, str, str]] = set()
        self._lost_toggle = 0
        #: (realm, kind, outcome) of every write call, for tests: outcome is "ok", "fault",
        #: "replayed", "lost" or "refused".
        self.log: list[tuple[str, str, str]] = []

    def configure(self, **knobs) -> dict:
        for k, v in knobs.items():
            if k not in self.KNOBS:
                raise ValueError(f"unknown write knob {k!r}; known: {self.KNOBS}")
            setattr(self, k, v)
        return self.settings()

    def settings(self) -> dict:
        return {k: getattr(self, k) for k in self.KNOBS}

    # ----- the HTTP entry point ------------------------------------------------------------
    def handle(self, realm: api.Realm, kind: str, resource: str, params: dict, raw: bytes, *,
               now: float, path: str) -> api.Reply:  # fmt: skip
        """Answer a write (``kind`` "write") or batch call, or raise LostAnswer/BeforeCommit."""
        realm_id = realm.store.realm_id
        rid = params.get("requestid") or None  # an empty one is none (a recording sends it)
        if rid is not None:
            limit = BATCH_REQUESTID_MAX if kind == "batch" else REQUESTID_MAX
            if len(rid) > limit:
                raise ApiError(
                    400,
                    "2010",
                    "Request has invalid or unsupported property",
                    f"requestid must be at most {limit} characters, not {len(rid)}",
                    element="requestid",
                )
            with self._lock:
                seen = self._answers.get((realm_id, rid)) if self.requestid_dedup else None
            if seen is not None:
                self.log.append((realm_id, kind, "replayed"))
                return api.Reply(seen.status, seen.body, seen.content_type)
        with self._lock:
            draw = self._rng.random()
        if draw < self.fail_before_commit:
            self.log.append((realm_id, kind, "refused"))
            raise BeforeCommit
        try:
            if kind == "batch":
                reply = api.batch(realm, raw, now, write=self.write_one)
            else:
                reply = self._write(realm, resource, params, raw, now=now, path=path)
        except ApiError as err:
            reply = api.Reply(err.status, err.body(now), JSON_ERR)
        if rid is not None:
            with self._lock:
                self._answers[(realm_id, rid)] = _Remembered(
                    reply.status, reply.body, reply.content_type
                )
        if draw < self.fail_before_commit + self.lost_after_commit:
            self.log.append((realm_id, kind, "lost"))
            with self._lock:
                self._lost_toggle ^= 1
                how = "reset" if self._lost_toggle else "504"
            raise LostAnswer(how)
        self.log.append((realm_id, kind, "ok" if reply.status == 200 else "fault"))
        return reply

    def _write(self, realm, resource, params, raw, *, now, path) -> api.Reply:
        spec = lookup(resource)
        if spec is None or spec.path != resource.lower():
            return api.write(realm, resource, params, raw, now=now, path=path)
        try:
            body = json.loads(raw or b"{}")
        except ValueError:
            return api.write(realm, resource, params, raw, now=now, path=path)
        name, obj_json = self.write_one(realm, spec.name, params, body)
        return api.Reply(200, api._envelope(name, obj_json, now), records=1)

    # ----- one object ----------------------------------------------------------------------
    def write_one(self, realm: api.Realm, entity: str, params: dict, body) -> tuple[str, bytes]:
        """QBO's checks and bookkeeping around api._write (also each item of a batch)."""
        store = realm.store
        op = (params.get("operation") or "").lower()
        if not isinstance(body, dict):
            return api._write(realm, entity, params, body)
        key = str(body["Id"]) if body.get("Id") is not None else None
        with store.lock:  # check, write and book the effects as one step
            t = store.tables[entity]
            before = inner(entity, t.objs[key]) if key in t.objs else None
            if key is not None and before is not None and op not in ("delete", "void"):
                self._maybe_edit(store, entity, key)
            if op not in ("delete", "void") and params.get("include") != "void":
                _validate(store, entity, body, key)
                _compute_totals(entity, body, before)
            name, obj_json = api._write(realm, entity, params, body)
            new_key = key if key is not None else str(json.loads(obj_json).get("Id"))
            after = inner(entity, t.objs[new_key]) if new_key in t.objs else None
            _book_stock(store, _stock_effect(entity, before), _stock_effect(entity, after))
            if entity == "Payment" and key is None and after is not None:
                _apply_payment(store, after)
            return name, obj_json

    def _maybe_edit(self, store: Store, entity: str, key: str) -> None:
        """``edit_between``: a person saves the object first (once per object)."""
        if not self.edit_between:
            return
        mark = (store.realm_id, entity, key)
        with self._lock:
            if mark in self._edited or self._rng.random() >= float(self.edit_between):
                return
            self._edited.add(mark)
        field = _HUMAN_FIELD.get(entity, "PrivateNote")
        store.update(entity, key, {field: HUMAN_NOTE})


# ----- checks ----------------------------------------------------------------------------------


def _fault(code: str, message: str, detail: str, element: str = "") -> ApiError:
    return ApiError(400, code, message, detail, element=element)


def _refs(entity: str, body: dict):  # noqa: C901 - one branch per kind of reference QBO resolves on a write
    """(field, entity referred to, id) of every reference QBO resolves on this write."""
    if isinstance(body.get("CustomerRef"), dict):
        yield "CustomerRef", "Customer", str(body["CustomerRef"].get("value"))
    for field, target in (("DepositToAccountRef", "Account"), ("AdjustAccountRef", "Account")):
        if isinstance(body.get(field), dict):
            yield field, target, str(body[field].get("value"))
    for line in body.get("Line") or []:
        if not isinstance(line, dict):
            continue
        for detail_key in ("SalesItemLineDetail", "ItemAdjustmentLineDetail"):
            detail = line.get(detail_key)
            if isinstance(detail, dict) and isinstance(detail.get("ItemRef"), dict):
                yield "ItemRef", "Item", str(detail["ItemRef"].get("value"))
        if entity == "Payment":
            for link in line.get("LinkedTxn") or []:
                if link.get("TxnType") in ("Invoice", "CreditMemo"):
                    yield "LinkedTxn", link["TxnType"], str(link.get("TxnId"))


def _validate(store: Store, entity: str, body: dict, key: str | None) -> None:
    for field, target, value in _refs(entity, body):
        obj = store.tables[target].objs.get(value)
        if obj is None or obj.get("Active") is False:
            raise _fault(
                "2500",
                "Invalid Reference Id",
                f"Invalid Reference Id : {target} {value} in {field} does not exist or has "
                "been made inactive.",
                element=field,
            )
    if entity in _SALES and body.get("DocNumber"):
        wanted = str(body["DocNumber"])
        for other_key, obj in store.tables[entity].objs.items():
            if other_key != key and obj.get("DocNumber") == wanted:
                raise _fault(
                    "6140",
                    "Duplicate Document Number Error",
                    "Duplicate Document Number Error : You must specify a different number. "
                    f"This number has already been used. DocNumber={wanted} is assigned to "
                    f"TxnType={entity} with TxnId={other_key}",
                )
    country = str(store.meta.get("country") or "US").upper()
    if entity in _SALES and country not in ("US", "USA"):
        for line in body.get("Line") or []:
            detail = line.get("SalesItemLineDetail") if isinstance(line, dict) else None
            if isinstance(detail, dict) and not detail.get("TaxCodeRef"):
                raise _fault(
                    "6000",
                    "A business validation error has occurred while processing your request",
                    "Business Validation Error: "
                    + _TAX_SENTENCE.get(
                        country, "Make sure all your transactions have a tax rate before you save."
                    ),
                )


def _cents(value) -> int:
    return round(float(value or 0) * 100)


def _compute_totals(entity: str, body: dict, before: dict | None) -> None:
    """QBO computes a sale's total from its lines; the client's TotalAmt is not trusted."""
    if entity not in _SALES or "Line" not in body:
        return
    cents = sum(
        _cents(line.get("Amount"))
        for line in body["Line"]
        if isinstance(line, dict) and line.get("DetailType") == "SalesItemLineDetail"
    )
    tax = (body.get("TxnTaxDetail") or (before or {}).get("TxnTaxDetail") or {}).get("TotalTax")
    cents += _cents(tax)
    body["TotalAmt"] = money(cents)
    if entity == "Invoice":
        paid = _cents((before or {}).get("TotalAmt")) - _cents((before or {}).get("Balance"))
        body["Balance"] = money(cents - paid)


def _stock_effect(entity: str, obj: dict | None) -> dict[str, float]:
    """How this object moves QtyOnHand, per item Id."""
    out: dict[str, float] = {}
    if obj is None or entity not in (*_SALES, "InventoryAdjustment"):
        return out
    for line in obj.get("Line") or []:
        if entity == "InventoryAdjustment":
            detail = line.get("ItemAdjustmentLineDetail") or {}
            qty = float(detail.get("QtyDiff") or 0)
        else:
            detail = line.get("SalesItemLineDetail") or {}
            qty = -float(detail.get("Qty") or 0)
        ref = detail.get("ItemRef") or {}
        if ref.get("value") is not None and qty:
            out[str(ref["value"])] = out.get(str(ref["value"]), 0.0) + qty
    return out


def _book_stock(store: Store, before: dict[str, float], after: dict[str, float]) -> None:
    items = store.tables["Item"]
    for item_id in sorted(set(before) | set(after)):
        delta = after.get(item_id, 0.0) - before.get(item_id, 0.0)
        item = items.objs.get(item_id)
        if not delta or item is None or not item.get("TrackQtyOnHand"):
            continue
        qty = float(item.get("QtyOnHand") or 0) + delta
        store.update("Item", item_id, {"QtyOnHand": int(qty) if qty == int(qty) else qty})


def _apply_payment(store: Store, payment: dict) -> None:
    """A new payment lowers the balance of each invoice it pays, and links to it."""
    invoices = store.tables["Invoice"]
    for line in payment.get("Line") or []:
        for link in line.get("LinkedTxn") or []:
            inv = invoices.objs.get(str(link.get("TxnId")))
            if link.get("TxnType") != "Invoice" or inv is None:
                continue
            balance = _cents(inv.get("Balance")) - _cents(line.get("Amount"))
            links = [*(inv.get("LinkedTxn") or []), {"TxnId": payment["Id"], "TxnType": "Payment"}]
            store.update("Invoice", inv["Id"], {"Balance": money(balance), "LinkedTxn": links})


__all__ = ["BeforeCommit", "LostAnswer", "WriteSide"]
