"""Per-realm in-memory store: objects, the clock, the change log, deleted stubs, mutations.

Each entity lives in a :class:`Table` that keeps

- ``objs``: Id -> the object exactly as the API serves it (never mutated in place: every
  mutation builds a new dict, so references handed out earlier stay valid);
- ``lut`` / ``ct``: Id -> ``MetaData.LastUpdatedTime`` / ``CreateTime`` as epoch seconds;
- ``index``: a list of ``(lut, numeric id, Id)`` kept sorted, so the query engine can bisect to
  ``LastUpdatedTime >= X`` and slice a page without scanning (ties on the second break by Id);
- a cache of each object's serialized JSON, dropped whenever the object changes.

CDC reads the same index (objects whose LastUpdatedTime is at or after ``changedSince``) plus
the deleted stubs, so it reflects exactly what was changed and when. ``changes`` is an
append-only log of every mutation (epoch, entity, Id, operation) for the admin API.
"""

from __future__ import annotations

import bisect
import copy
import json
import threading
import time
from collections.abc import Iterable
from datetime import datetime

from . import profiles, timefmt
from .entities import CATALOGUE, MERGE_REFS, EntitySpec, spec

_encoder = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False)


def dumps(obj) -> bytes:
    """Compact UTF-8 JSON, as QBO sends it."""
    return _encoder.encode(obj).encode("utf-8")


class Clock:
    """The emulator's clock: real time plus an offset, or frozen.

    ``now()`` returns an aware datetime (Pacific); ``epoch()`` a float. ``advance`` moves the
    clock forward (also while frozen); ``freeze`` stops it, so every mutation lands on the same
    second; ``unfreeze`` resumes ticking from the frozen instant.
    """

    def __init__(self, start: float | None = None):
        self._lock = threading.Lock()
        self._offset = 0.0 if start is None else start - time.time()
        self._frozen: float | None = None

    def epoch(self) -> float:
        with self._lock:
            if self._frozen is not None:
                return self._frozen
            return time.time() + self._offset

    def seconds(self) -> int:
        """Now, truncated to the second as QBO stamps MetaData."""
        return int(self.epoch())

    def now(self) -> datetime:
        return datetime.fromtimestamp(self.epoch(), timefmt.PACIFIC)

    def iso(self) -> str:
        return timefmt.fmt(self.seconds())

    def advance(self, seconds: float = 0, days: float = 0, hours: float = 0) -> datetime:
        delta = seconds + hours * 3600 + days * 86400
        with self._lock:
            if self._frozen is not None:
                self._frozen += delta
            else:
                self._offset += delta
        return self.now()

    def freeze(self, at: float | datetime | str | None = None) -> datetime:
        when = to_epoch(at) if at is not None else self.epoch()
        with self._lock:
            self._frozen = float(when)
        return self.now()

    def unfreeze(self) -> datetime:
        with self._lock:
            if self._frozen is not None:
                self._offset = self._frozen - time.time()
                self._frozen = None
        return self.now()

    @property
    def frozen(self) -> bool:
        return self._frozen is not None


def to_epoch(when: float | int | datetime | str) -> float:
    if isinstance(when, datetime):
        if when.tzinfo is None:
            when = when.replace(tzinfo=timefmt.PACIFIC)
        return when.timestamp()
    if isinstance(when, str):
        return timefmt.parse_datetime(when)
    return float(when)


class MutationError(ValueError):
    """A mutation QBO would refuse (e.g. deleting a customer, voiding a bill)."""


def inner(entity: str, obj: dict) -> dict:
    """The object carrying Id/MetaData: RecurringTransaction wraps its template object."""
    if entity == "RecurringTransaction":
        for v in obj.values():
            if isinstance(v, dict):
                return v
    return obj


class Table:
    def __init__(self, entity_spec: EntitySpec):
        self.spec = entity_spec
        self.objs: dict[str, dict] = {}
        self.lut: dict[str, int] = {}
        self.ct: dict[str, int] = {}
        self.num: dict[str, int] = {}
        self.index: list[tuple[int, int, str]] = []
        self._json: dict[str, bytes] = {}
        self.version = 0
        self._next_num = 1 << 62  # sort keys for non-numeric ids, after numeric ones
        self._known_keys: frozenset[str] | None = None

    def __len__(self) -> int:
        return len(self.objs)

    def _numkey(self, key: str) -> int:
        n = self.num.get(key)
        if n is None:
            if key.isdigit():
                n = int(key)
            else:
                n = self._next_num
                self._next_num += 1
            self.num[key] = n
        return n

    def load(self, key: str, obj: dict, ct: int | None, lut: int | None) -> None:
        """Bulk insert during generation; call :meth:`finish` afterwards."""
        self.objs[key] = obj
        n = self._numkey(key)
        if lut is not None:
            self.lut[key] = lut
            self.ct[key] = ct if ct is not None else lut
            self.index.append((lut, n, key))

    def finish(self) -> None:
        self.index.sort()
        self.version += 1
        self._known_keys = None

    def json(self, key: str) -> bytes:
        cached = self._json.get(key)
        if cached is None:
            cached = dumps(self.objs[key])
            self._json[key] = cached
        return cached

    def put(self, key: str, obj: dict, lut: int | None, ct: int | None = None) -> None:
        """Insert or replace one object, keeping the index sorted."""
        old = self.lut.get(key)
        n = self._numkey(key)
        if old is not None:
            i = bisect.bisect_left(self.index, (old, n, key))
            if i < len(self.index) and self.index[i] == (old, n, key):
                del self.index[i]
        self.objs[key] = obj
        self._json.pop(key, None)
        if lut is not None:
            self.lut[key] = lut
            if ct is not None or key not in self.ct:
                self.ct[key] = ct if ct is not None else lut
            bisect.insort(self.index, (lut, n, key))
        self.version += 1
        self._known_keys = None

    def remove(self, key: str) -> dict:
        obj = self.objs.pop(key)
        self._json.pop(key, None)
        old = self.lut.pop(key, None)
        self.ct.pop(key, None)
        if old is not None:
            n = self.num[key]
            i = bisect.bisect_left(self.index, (old, n, key))
            if i < len(self.index) and self.index[i] == (old, n, key):
                del self.index[i]
        self.version += 1
        return obj

    def known_keys(self) -> frozenset[str]:
        """Top-level property names seen on this entity (for 'not queryable' vs unknown)."""
        if self._known_keys is None:
            keys: set[str] = set()
            for i, obj in enumerate(self.objs.values()):
                keys.update(inner(self.spec.name, obj))
                if i > 2000:
                    break
            self._known_keys = frozenset(keys)
        return self._known_keys

    def prewarm(self) -> None:
        """Serialize every object now, so the first pass is served from the cache."""
        for key in self.objs:
            if key not in self._json:
                self._json[key] = dumps(self.objs[key])

    def sorted_keys(self) -> list[str]:
        return sorted(self.objs, key=self._numkey)


_ID_SEQ_START = {"attachable": 5000000000000500000}


class Store:
    """One company (realm): its tables, deleted stubs, Id sequences and change log."""

    def __init__(self, realm_id: str, clock: Clock):
        self.realm_id = realm_id
        self.clock = clock
        self.lock = threading.RLock()
        self.tables: dict[str, Table] = {name: Table(s) for name, s in CATALOGUE.items()}
        self.deleted: dict[str, dict[str, int]] = {name: {} for name in CATALOGUE}
        self.seq: dict[str, int] = {}
        self.changes: list[tuple[int, str, str, str]] = []
        self.version = 0
        self.meta: dict = {}  # generation facts (home currency, account ids, ...)
        self.profile = profiles.DEFAULT
        self.refused: dict[str, str] = {}  # entity or report name -> QBO's refusal code

    def set_profile(self, profile: profiles.Profile | str) -> None:
        """What the company has from now on (data already generated stays as it is: an
        upgrade makes a feature available, with nothing in it yet)."""
        self.profile = profiles.get(profile)
        self.refused = self.profile.refused()

    def refuse(self, name: str) -> None:
        """Raise QBO's refusal if the company cannot have this entity or report."""
        if code := self.refused.get(name):
            raise profiles.refusal(name, code)

    # ----- Ids ---------------------------------------------------------------------------
    def next_id(self, entity: str) -> str:
        s = spec(entity)
        seq = s.id_seq or s.name
        n = self.seq.get(seq)
        if n is None:
            n = _ID_SEQ_START.get(seq, 1)
        self.seq[seq] = n + 1
        return str(n)

    def bump_seq(self, entity: str, used: int) -> None:
        s = spec(entity)
        seq = s.id_seq or s.name
        self.seq[seq] = max(self.seq.get(seq, 1), used + 1)

    # ----- reads -------------------------------------------------------------------------
    def table(self, entity: str) -> Table:
        return self.tables[spec(entity).name]

    def get(self, entity: str, key: str) -> dict | None:
        t = self.table(entity)
        with self.lock:
            if key not in t.objs:
                return None
            return json.loads(t.json(key))

    def all(self, entity: str) -> list[dict]:
        t = self.table(entity)
        with self.lock:
            return [json.loads(t.json(k)) for k in t.sorted_keys()]

    def deleted_stubs(self, entity: str) -> list[dict]:
        name = spec(entity).name
        with self.lock:
            items = sorted(self.deleted[name].items(), key=lambda kv: (kv[1], kv[0]))
            return [deleted_stub(k, when) for k, when in items]

    # ----- mutation plumbing -------------------------------------------------------------
    def _now(self) -> int:
        return self.clock.seconds()

    def _log(self, when: int, entity: str, key: str, op: str) -> None:
        self.changes.append((when, entity, key, op))
        self.version += 1

    def _require(self, entity: str, key: str) -> tuple[Table, dict]:
        t = self.table(entity)
        key = str(key)
        if key not in t.objs:
            raise KeyError(f"{t.spec.name} {key} not found in realm {self.realm_id}")
        return t, t.objs[key]

    def _save(self, t: Table, key: str, new: dict, when: int, op: str) -> dict:
        """Bump SyncToken and LastUpdatedTime of ``new`` and store it."""
        core = inner(t.spec.name, new)
        if "SyncToken" in core:
            core["SyncToken"] = str(int(core["SyncToken"]) + 1)
        if t.spec.has_metadata and "MetaData" in core:
            md = dict(core["MetaData"])
            md["LastUpdatedTime"] = timefmt.fmt(when)
            core["MetaData"] = md
            t.put(key, new, when)
        else:
            t.put(key, new, None)
        self._log(when, t.spec.name, key, op)
        return new

    # ----- public mutations --------------------------------------------------------------
    def update(self, entity: str, key: str, changes: dict | None = None, *, op: str = "Update"):
        """Replace top-level fields (``None`` removes one); bump SyncToken and timestamp."""
        with self.lock:
            t, obj = self._require(entity, key)
            new = copy.deepcopy(obj)
            target = inner(t.spec.name, new)
            for k, v in (changes or {}).items():
                if k in ("Id", "SyncToken", "MetaData", "domain"):
                    continue
                if v is None:
                    target.pop(k, None)
                else:
                    target[k] = copy.deepcopy(v)
            self._save(t, str(key), new, self._now(), op)
            return copy.deepcopy(new)

    def create(self, entity: str, obj: dict, *, when: int | None = None) -> dict:
        with self.lock:
            s = spec(entity)
            t = self.tables[s.name]
            now = self._now() if when is None else int(when)
            new = copy.deepcopy(obj)
            core = inner(s.name, new)
            for k in ("Id", "SyncToken", "MetaData"):
                core.pop(k, None)
            if s.name == "ExchangeRate":
                key = f"{core.get('SourceCurrencyCode')}:{core.get('AsOfDate')}"
            else:
                key = self.next_id(s.name)
                core["Id"] = key
            if s.name_list or s.name in ("CustomerType", "CompanyCurrency", "JournalCode"):
                core.setdefault("Active", True)
            head = {"domain": "QBO", "sparse": False}
            if s.name != "ExchangeRate":
                head["Id"] = key
            head["SyncToken"] = "0"
            if s.has_metadata:
                stamp = timefmt.fmt(now)
                head["MetaData"] = {"CreateTime": stamp, "LastUpdatedTime": stamp}
            rest = {k: v for k, v in core.items() if k not in head}
            core.clear()
            core.update(head)
            core.update(rest)
            t.put(key, new, now if s.has_metadata else None, now if s.has_metadata else None)
            self._log(now, s.name, key, "Create")
            return copy.deepcopy(new)

    def delete(self, entity: str, key: str, *, force: bool = False) -> dict:
        """Hard delete: the object disappears from queries and becomes a CDC stub."""
        with self.lock:
            t, obj = self._require(entity, key)
            if not (t.spec.deletable or force):
                raise MutationError(f"{t.spec.name} cannot be deleted; deactivate it instead")
            key = str(key)
            now = self._now()
            if t.spec.name == "Payment":
                self._release_payment(obj, now)
            t.remove(key)
            self.deleted[t.spec.name][key] = now
            self._log(now, t.spec.name, key, "Delete")
            return deleted_stub(key, now)

    def void(self, entity: str, key: str) -> dict:
        """Void as QBO does: amounts to zero, links dropped, "Voided" in PrivateNote."""
        with self.lock:
            t, obj = self._require(entity, key)
            if not t.spec.voidable:
                raise MutationError(f"{t.spec.name} cannot be voided")
            key = str(key)
            now = self._now()
            if t.spec.name == "Payment":
                self._release_payment(obj, now)
            new = copy.deepcopy(obj)
            void_object(t.spec.name, new)
            self._save(t, key, new, now, "Void")
            return copy.deepcopy(new)

    def deactivate(self, entity: str, key: str) -> dict:
        """Make a name-list row inactive: ``Active: false`` and " (deleted)" on its names."""
        with self.lock:
            t, obj = self._require(entity, key)
            if not t.spec.deactivatable:
                raise MutationError(f"{t.spec.name} has no Active flag")
            now = self._now()
            result = self._deactivate_one(t, str(key), obj, now)
            if t.spec.name == "Customer":  # jobs go inactive with their parent
                for child_key, child in list(t.objs.items()):
                    ref = child.get("ParentRef")
                    if ref and ref.get("value") == str(key) and child.get("Active", True):
                        self._deactivate_one(t, child_key, child, now)
            return copy.deepcopy(result)

    def _deactivate_one(self, t: Table, key: str, obj: dict, now: int) -> dict:
        new = copy.deepcopy(obj)
        if new.get("Active") is False:
            return new
        new["Active"] = False
        for f in ("DisplayName", "FullyQualifiedName", "Name"):
            v = new.get(f)
            if isinstance(v, str) and not v.endswith(" (deleted)"):
                if f == "Name" and "DisplayName" in new:
                    continue
                new[f] = v + " (deleted)"
        return self._save(t, key, new, now, "Deactivate")

    def reactivate(self, entity: str, key: str) -> dict:
        with self.lock:
            t, obj = self._require(entity, key)
            new = copy.deepcopy(obj)
            new["Active"] = True
            for f in ("DisplayName", "FullyQualifiedName", "Name"):
                v = new.get(f)
                if isinstance(v, str) and v.endswith(" (deleted)"):
                    new[f] = v[: -len(" (deleted)")]
            self._save(t, str(key), new, self._now(), "Update")
            return copy.deepcopy(new)

    def merge(self, entity: str, from_id: str, into_id: str) -> dict:
        """Merge ``from_id`` into ``into_id``: references move, ``from_id`` is deleted."""
        with self.lock:
            t, _src = self._require(entity, from_id)
            _, dst = self._require(entity, into_id)
            if not t.spec.mergeable:
                raise MutationError(f"{t.spec.name} cannot be merged")
            from_id, into_id = str(from_id), str(into_id)
            now = self._now()
            name_field = "DisplayName" if "DisplayName" in dst else "FullyQualifiedName"
            into_name = dst.get(name_field) or dst.get("Name")
            ref_fields = MERGE_REFS.get(t.spec.name, ())
            for other in self.tables.values():
                if other.spec.singleton:
                    continue
                fields = (
                    ref_fields if other is t else tuple(f for f in ref_fields if f != "ParentRef")
                )
                for key in list(other.objs):
                    obj = other.objs[key]
                    if key == from_id and other is t:
                        continue
                    if not _rewrite_refs(obj, fields, t.spec.name, from_id, into_id, None, False):
                        continue
                    new = copy.deepcopy(obj)
                    _rewrite_refs(new, fields, t.spec.name, from_id, into_id, into_name, True)
                    self._save(other, key, new, now, "Update")
            t.remove(from_id)
            self.deleted[t.spec.name][from_id] = now
            self._log(now, t.spec.name, from_id, "Merge")
            merged = copy.deepcopy(t.objs[into_id])
            return copy.deepcopy(self._save(t, into_id, merged, now, "Merge"))

    def touch_many(self, entity: str, ids: Iterable[str], when=None) -> int:
        """Bulk update: every object gets the same LastUpdatedTime (second-level ties)."""
        with self.lock:
            t = self.table(entity)
            stamp_epoch = self._now() if when is None else int(to_epoch(when))
            stamp = timefmt.fmt(stamp_epoch)
            keys = [str(k) for k in ids]
            rebuild = len(keys) > 200
            count = 0
            for key in keys:
                obj = t.objs.get(key)
                if obj is None:
                    continue
                new = copy.copy(obj)
                core = inner(t.spec.name, new)
                if core is not new:
                    core = dict(core)
                    for k, v in new.items():
                        if isinstance(v, dict):
                            new[k] = core
                            break
                if "SyncToken" in core:
                    core["SyncToken"] = str(int(core["SyncToken"]) + 1)
                md = dict(core.get("MetaData") or {})
                md["LastUpdatedTime"] = stamp
                core["MetaData"] = md
                if rebuild:
                    t.objs[key] = new
                    t._json.pop(key, None)
                    t.lut[key] = stamp_epoch
                else:
                    t.put(key, new, stamp_epoch)
                self._log(stamp_epoch, t.spec.name, key, "Update")
                count += 1
            if rebuild:
                t.index = sorted((t.lut[k], t.num[k], k) for k in t.lut)
                t.version += 1
            return count

    # ----- side effects ------------------------------------------------------------------
    def _release_payment(self, payment: dict, now: int) -> None:
        """A deleted or voided payment gives its amounts back to the invoices it paid."""
        inv_table = self.tables["Invoice"]
        for line in payment.get("Line") or []:
            cents = round(float(line.get("Amount") or 0) * 100)
            for link in line.get("LinkedTxn") or []:
                if link.get("TxnType") != "Invoice" or link.get("TxnId") not in inv_table.objs:
                    continue
                inv = copy.deepcopy(inv_table.objs[link["TxnId"]])
                balance = round(float(inv.get("Balance") or 0) * 100) + cents
                inv["Balance"] = money(balance)
                if "HomeBalance" in inv:
                    rate = float(inv.get("ExchangeRate") or 1)
                    inv["HomeBalance"] = money(round(balance * rate))
                inv["LinkedTxn"] = [
                    x
                    for x in inv.get("LinkedTxn") or []
                    if not (x.get("TxnType") == "Payment" and x.get("TxnId") == payment.get("Id"))
                ]
                self._save(inv_table, link["TxnId"], inv, now, "Update")


def money(cents: int):
    """A money value as QBO writes it: ``0`` for zero, else a float with <= 2 decimals."""
    return 0 if cents == 0 else cents / 100


def deleted_stub(key: str, when: int) -> dict:
    return {
        "domain": "QBO",
        "status": "Deleted",
        "Id": key,
        "MetaData": {"LastUpdatedTime": timefmt.fmt(when)},
    }


def void_object(entity: str, obj: dict) -> None:
    for line in obj.get("Line") or []:
        if "Amount" in line:
            line["Amount"] = 0
        for detail_key in ("SalesItemLineDetail", "ItemBasedExpenseLineDetail"):
            detail = line.get(detail_key)
            if isinstance(detail, dict):
                detail.pop("Qty", None)
                detail.pop("UnitPrice", None)
    for k in (
        "TotalAmt",
        "Balance",
        "HomeTotalAmt",
        "HomeBalance",
        "UnappliedAmt",
        "Amount",
        "RemainingCredit",
    ):
        if k in obj:
            obj[k] = 0
    if "TxnTaxDetail" in obj:
        obj["TxnTaxDetail"] = {"TotalTax": 0}
    if "LinkedTxn" in obj:
        obj["LinkedTxn"] = []
    note = obj.get("PrivateNote")
    obj["PrivateNote"] = "Voided" if not note else f"Voided - {note}"


def _rewrite_refs(node, fields, entity, from_id, into_id, into_name, apply: bool) -> bool:  # noqa: C901, PLR0912, PLR0917 - a merge's reference walk over dicts, lists and refs
    """Whether ``node`` references ``from_id``; with ``apply`` also point it at ``into_id``."""
    changed = False
    if isinstance(node, dict):
        for k, v in node.items():
            if isinstance(v, dict):
                is_ref = (k in fields) or (k == "EntityRef" and v.get("type") == entity)
                if is_ref and v.get("value") == from_id:
                    if not apply:
                        return True
                    v["value"] = into_id
                    if "name" in v and into_name:
                        v["name"] = into_name
                    changed = True
                elif _rewrite_refs(v, fields, entity, from_id, into_id, into_name, apply):
                    if not apply:
                        return True
                    changed = True
            elif isinstance(v, list) and _rewrite_refs(
                v, fields, entity, from_id, into_id, into_name, apply
            ):
                if not apply:
                    return True
                changed = True
    elif isinstance(node, list):
        for item in node:
            if _rewrite_refs(item, fields, entity, from_id, into_id, into_name, apply):
                if not apply:
                    return True
                changed = True
    return changed
