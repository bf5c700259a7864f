"""Exactly once: every record becomes one QBO object, however often QBO loses its answers.

For each record, keyed by the caller's key (the SCHEMA's ``key_properties``):

1. Only QBO's own, writable fields are kept (the tap's schema of the entity names them; Id,
   SyncToken, MetaData and what QBO computes are dropped), and hashed.
2. The ledger decides: no entry -> create; written with the same hash -> nothing to do (a
   replay); written with another hash -> a sparse update of the same object; pending (an
   earlier run never learnt the outcome) -> look the object up first.
3. The ledger says ``pending`` with the requestid *before* the write goes out. The requestid is
   derived from (company, stream, key, operation, SyncToken, hash), so a retry of the same
   write reuses it and a different write never does.
4. Creates go out 30 to a batch call. An answer that may have been lost (timeout, reset, 5xx)
   makes every create in it a suspect: before sending it again the target looks it up by its
   natural key (DocNumber, DisplayName, Name, PaymentRefNum) and adopts what it finds, because
   QBO's requestid de-duplication is reported not to hold every time. Updates are resent as
   they are: a sparse update applied twice leaves the same fields.
5. 5010 Stale Object (someone edited the object meanwhile): re-read it, re-apply only the
   caller's fields on the current SyncToken. Their edit is kept.
6. Any other Fault (6000, 6140, 6240, 2500 unknown reference, ...) is stored in the ledger with
   QBO's message and the record is skipped. Nothing is ever deleted to compensate.
"""

from __future__ import annotations

import datetime as dt
import decimal
import functools
import hashlib
import json
import logging
from dataclasses import dataclass, field

from tap_quickbooks import query
from tap_quickbooks.schemas import entity_schema

from . import refs
from .ledger import PENDING, REJECTED, WRITTEN, Entry, Ledger
from .qbo import BATCH_ITEMS, Answer, Qbo, ReadRefused, fault_sentence

logger = logging.getLogger("target_quickbooks")


@dataclass(frozen=True)
class Kind:
    entity: str
    lookup: str  # the natural key QBO can be searched by after an unknown outcome
    name_list: bool = False


STREAMS: dict[str, Kind] = {
    "customers": Kind("Customer", "DisplayName", name_list=True),
    "items": Kind("Item", "Name", name_list=True),
    "invoices": Kind("Invoice", "DocNumber"),
    "sales_receipts": Kind("SalesReceipt", "DocNumber"),
    "payments": Kind("Payment", "PaymentRefNum"),
}

#: Fields a client never sends: QBO assigns or computes them. QtyOnHand moves only through
#: inventory adjustments (the item_quantities stream), which leave an audit trail.
READ_ONLY = frozenset(
    (
        *("Id", "SyncToken", "MetaData", "domain", "sparse", "status"),
        *("Balance", "HomeBalance", "HomeTotalAmt", "UnappliedAmt"),
        *("FullyQualifiedName", "BalanceWithJobs", "Level", "QtyOnHand"),
    )
)
#: A sale's total is the sum of its lines, computed by QBO; a payment's is what was paid.
COMPUTED_TOTAL = frozenset(("Invoice", "SalesReceipt"))


def plain(value):
    """JSON-ready: Decimals become the shortest number that reads back the same; the SDK's
    parsed dates and times go back to the ISO text QBO reads."""
    if isinstance(value, decimal.Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    raise TypeError(type(value).__name__)


def canonical(value) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=plain)


@functools.cache
def writable_fields(entity: str) -> frozenset[str]:
    """QBO's own top-level fields of the entity (the tap's schema) that a client may send."""
    skip = READ_ONLY | {"TotalAmt"} if entity in COMPUTED_TOTAL else READ_ONLY
    return frozenset(entity_schema(entity)["properties"]) - skip


def _kinds(prop: dict) -> frozenset[str]:
    kinds = prop.get("type") or []
    return frozenset([kinds] if isinstance(kinds, str) else kinds)


def typed_text(label: str, prop: dict, value):
    """A CSV cell (tap-csv emits every column as text) as the JSON type its schema gives:
    an object or array written as JSON text, a number, a boolean; an empty cell is no value."""
    if not isinstance(value, str):
        return value
    kinds = _kinds(prop)
    if value.strip() == "" and "string" not in kinds:
        return None
    try:
        if kinds & {"object", "array"}:
            return json.loads(value)
        if kinds & {"number", "integer"}:
            return plain(decimal.Decimal(value.strip()))
    except (ValueError, ArithmeticError) as exc:
        wanted = "JSON text" if kinds & {"object", "array"} else "a number"
        msg = f"{label} must be {wanted}, not {value[:60]!r}"
        raise ValueError(msg) from exc
    if "boolean" in kinds and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    return value


def from_text(entity: str, name: str, value):
    """A top-level cell of the entity as QBO's type (see typed_text)."""
    prop = entity_schema(entity)["properties"].get(name, {})
    return typed_text(f"{entity}.{name}", prop, value)


#: The Singer SDK's flattening separator: a flat row's ``CustomerRef__value`` column is the
#: record's ``CustomerRef.value`` (arrays stay JSON text, as the SDK's flattening writes them).
FLAT_SEPARATOR = "__"


def unflatten(entity: str, record: dict) -> dict:
    """A flat record (a CSV row, or any flattened stream) nested back into QBO's objects:
    ``CustomerRef__value`` becomes ``CustomerRef: {value: ...}``, each cell typed by the
    schema of the field it lands in. Columns that are not a QBO object's path stay as they
    are (and are not sent)."""
    props = entity_schema(entity)["properties"]
    out = dict(record)
    for column, value in record.items():
        path = column.split(FLAT_SEPARATOR)
        if len(path) < 2 or "object" not in _kinds(props.get(path[0], {})):
            continue
        prop, node = props[path[0]], out.setdefault(path[0], {})
        if not isinstance(node, dict):
            continue  # the column itself holds the object: it wins
        for part in path[1:-1]:
            prop = (prop.get("properties") or {}).get(part, {})
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                break
        else:
            leaf = (prop.get("properties") or {}).get(path[-1], {})
            typed = typed_text(f"{entity}.{'.'.join(path)}", leaf, value)
            if typed is not None and typed != "":  # an empty cell gives nothing
                node[path[-1]] = typed
        del out[column]
    return out


def qbo_fields(entity: str, record: dict) -> dict:
    """The record's fields that are QBO's and writable, in plain JSON."""
    known = writable_fields(entity)
    flat = unflatten(entity, record)
    kept = {k: from_text(entity, k, v) for k, v in flat.items() if k in known}
    return json.loads(canonical({k: v for k, v in kept.items() if v is not None and v != {}}))


def digest(*parts: str) -> str:
    return hashlib.sha256("|".join(parts).encode()).hexdigest()


def record_key(record: dict, key_properties: list[str]) -> str:
    values = [record.get(k) for k in key_properties]
    return str(values[0]) if len(values) == 1 else canonical(values)


@dataclass
class Write:
    key: str
    payload: dict
    change_hash: str
    qbo_id: str | None = None
    sync_token: str | None = None
    suspect: bool = False  # an earlier try may have been written: look it up before resending
    tries: int = 0
    last: str = ""

    @property
    def op(self) -> str:
        return "update" if self.qbo_id else "create"


@dataclass
class Tally:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    adopted: int = 0  # found in QBO after a lost answer, not written again
    rejected: int = 0
    unresolved: int = 0
    stale_retries: int = 0
    by_stream: dict[str, int] = field(default_factory=dict)


class Pusher:
    def __init__(self, qbo: Qbo, ledger: Ledger, tally: Tally) -> None:
        self.qbo = qbo
        self.ledger = ledger
        self.tally = tally

    # ----- planning --------------------------------------------------------------------------
    def push(self, stream: str, records: list[tuple[str, dict]]) -> None:
        """Write the records of one stream; a key seen twice is written in order."""
        kind = STREAMS[stream]
        rounds: list[dict[str, dict]] = []
        for key, record in records:  # each round holds a key at most once, order kept
            for batch in rounds:
                if key not in batch:
                    batch[key] = record
                    break
            else:
                rounds.append({key: record})
        for batch in rounds:
            writes = [w for key, rec in batch.items() if (w := self._plan(stream, kind, key, rec))]
            self._send_all(stream, kind, self._resolve_names(stream, writes))

    def _resolve_names(self, stream: str, writes: list[Write]) -> list[Write]:
        """References given by name get their QBO Id; a name QBO lacks rejects its record."""
        problems = refs.resolve(self.qbo, [w.payload for w in writes])
        for n, why in problems.items():
            self.tally.rejected += 1
            self._record(stream, writes[n], REJECTED, why)
            logger.warning("%s %s rejected before sending: %s", stream, writes[n].key, why)
        return [w for n, w in enumerate(writes) if n not in problems]

    def _plan(self, stream: str, kind: Kind, key: str, record: dict) -> Write | None:
        try:
            payload = qbo_fields(kind.entity, record)
        except ValueError as exc:  # a cell that cannot be QBO's type: this record only
            self.tally.rejected += 1
            self._record(stream, Write(key, {}, ""), REJECTED, f"not sent: {exc}")
            logger.warning("%s %s rejected before sending: %s", stream, key, exc)
            return None
        change = digest(canonical(payload))
        entry = self.ledger.get(self.qbo.realm_id, stream, key)
        if entry and entry.status == WRITTEN and entry.change_hash == change:
            self.tally.unchanged += 1
            return None
        w = Write(key, payload, change)
        if entry and entry.qbo_id:
            w.qbo_id, w.sync_token = entry.qbo_id, entry.sync_token
        elif entry and entry.status == PENDING:
            w.suspect = True  # a run died, or gave up, without learning the outcome
        return w

    def requestid(self, stream: str, w: Write) -> str:
        # 36 characters: fits both QBO limits (50 for a call, 36 for a batch call).
        return digest(self.qbo.realm_id, stream, w.key, w.op, w.sync_token or "", w.change_hash)[
            :36
        ]

    # ----- sending ---------------------------------------------------------------------------
    def _send_all(self, stream: str, kind: Kind, queue: list[Write]) -> None:
        attempt = 0
        while queue:
            attempt += 1
            suspects = [w for w in queue if w.suspect and w.op == "create"]
            if suspects:
                found = self._look_up(kind, suspects)
                queue = [w for w in queue if w not in found]
            again: list[Write] = []
            for start in range(0, len(queue), BATCH_ITEMS):
                again += self._send(stream, kind, queue[start : start + BATCH_ITEMS])
            for w in again:
                w.tries += 1
            give_up = [w for w in again if w.tries > self.qbo.max_retries]
            for w in give_up:
                self.tally.unresolved += 1
                self._record(stream, w, PENDING, f"outcome unknown after {w.tries} tries: {w.last}")
                logger.error("%s %s: %s", stream, w.key, f"outcome unknown ({w.last})")
            queue = [w for w in again if w not in give_up]
            if queue and any(w.suspect for w in queue):
                self.qbo.pause(min(attempt, 6), Answer("unknown", None, None, ""))

    def _send(self, stream: str, kind: Kind, chunk: list[Write]) -> list[Write]:  # noqa: C901, PLR0912 - the ledger's states of a chunk: single or batch, pending, done, failed, retried
        """Send a chunk; return the writes to try again."""
        rids = {self.requestid(stream, w): w for w in chunk}
        for rid, w in rids.items():  # written ahead: a crash from here on leaves a trace
            self._record(stream, w, PENDING, None, rid)
        if len(chunk) == 1:
            rid, w = next(iter(rids.items()))
            body = self._body(kind, w)
            answer = self.qbo.call(
                "POST", f"/{kind.entity.lower()}", params={"requestid": rid}, body=body
            )
            items = {rid: answer.doc or {}} if answer.kind in ("ok", "rejected") else None
        else:
            batch_rid = digest(*sorted(rids))[:36]
            request = [
                {"bId": rid, "operation": w.op, kind.entity: self._body(kind, w)}
                for rid, w in rids.items()
            ]
            answer = self.qbo.call(
                "POST",
                "/batch",
                params={"requestid": batch_rid},
                body={"BatchItemRequest": request},
                kind="batch",
            )
            items = None
            if answer.kind == "ok":
                items = {
                    str(i.get("bId")): i for i in (answer.doc or {}).get("BatchItemResponse", [])
                }
            elif answer.kind == "rejected":  # the call as a whole: every item shares its fate
                items = {rid: answer.doc or {} for rid in rids}
        if items is None:  # throttled or unknown: nothing learnt about any of them
            for w in chunk:
                w.suspect = w.suspect or answer.kind == "unknown"
                w.last = answer.text
            if answer.kind == "throttled":
                self.qbo.pause(1, answer)
            return list(chunk)
        again = []
        for rid, w in rids.items():
            item = items.get(rid)
            if item is None:
                w.suspect, w.last = True, "no answer for this item in the batch answer"
                again.append(w)
            elif kind.entity in item:
                self._written(stream, w, item[kind.entity], rid)
            elif "5010" in (codes := Answer("rejected", None, item, "").fault_codes) and w.qbo_id:
                try:
                    self._restale(kind, w)
                except ReadRefused as exc:  # deleted in QBO meanwhile: never re-created
                    self.tally.rejected += 1
                    self._record(stream, w, REJECTED, str(exc), rid)
                    logger.warning("%s %s rejected: %s", stream, w.key, exc)
                else:
                    again.append(w)
            elif "10000" in codes:  # QBO's own failure on this item: it may have been saved
                w.suspect, w.last = True, fault_sentence(item)
                again.append(w)
            else:
                text = fault_sentence(item) if item.get("Fault") else answer.text
                self.tally.rejected += 1
                self._record(stream, w, REJECTED, text, rid)
                logger.warning("%s %s rejected by QuickBooks: %s", stream, w.key, text)
        return again

    def _body(self, kind: Kind, w: Write) -> dict:
        if w.op == "create":
            return dict(w.payload)
        return {**w.payload, "Id": w.qbo_id, "SyncToken": w.sync_token, "sparse": True}

    def _restale(self, kind: Kind, w: Write) -> None:
        """5010: someone saved the object since our SyncToken; take theirs, re-apply ours."""
        current = self.qbo.get(kind.entity, str(w.qbo_id))
        w.sync_token = str(current.get("SyncToken") or w.sync_token)
        w.last = "5010 Stale Object: re-read and re-applied"
        self.tally.stale_retries += 1

    def _look_up(self, kind: Kind, suspects: list[Write]) -> list[Write]:
        """Find suspects QBO has after all; record them as written. Returns those found."""
        found: list[Write] = []
        by_value: dict[str, Write] = {}
        for w in suspects:
            value = w.payload.get(kind.lookup)
            if value is None:
                logger.warning(
                    "%s %s has no %s to look up: relying on the requestid alone.",
                    kind.entity,
                    w.key,
                    kind.lookup,
                )
            else:
                by_value[str(value).casefold()] = w
        values = sorted({str(w.payload[kind.lookup]) for w in by_value.values()})
        for start in range(0, len(values), 50):
            where = [query.one_of(kind.lookup, values[start : start + 50])]
            if kind.name_list:
                where.append(query.ALL_ACTIVE_STATES)
            rows = self.qbo.query(
                query.Select(kind.entity, where=tuple(where), max_results=query.MAX_RESULTS)
            )
            for obj in rows:
                w = by_value.get(str(obj.get(kind.lookup, "")).casefold())
                if w is not None and w not in found and _is_ours(w.payload, obj):
                    found.append(w)
                    self.tally.adopted += 1
                    self._written(self._stream_of(kind), w, obj, None, adopted=True)
        for w in suspects:
            w.suspect = False  # looked up: if absent, it was never written
        return found

    def _stream_of(self, kind: Kind) -> str:
        return next(name for name, k in STREAMS.items() if k is kind)

    # ----- ledger ----------------------------------------------------------------------------
    def _written(self, stream: str, w: Write, obj: dict, rid: str | None, *, adopted=False):
        if not adopted:
            if w.op == "create":
                self.tally.created += 1
            else:
                self.tally.updated += 1
        self.tally.by_stream[stream] = self.tally.by_stream.get(stream, 0) + 1
        w.qbo_id, w.sync_token = str(obj.get("Id")), str(obj.get("SyncToken"))
        note = "found in QuickBooks after a lost answer" if adopted else None
        self._record(stream, w, WRITTEN, note, rid)

    def _record(self, stream, w: Write, status, message, rid=None) -> None:
        self.ledger.put(
            self.qbo.realm_id,
            stream,
            Entry(w.key, w.qbo_id, w.sync_token, w.change_hash, rid, status, message),
        )


def _is_ours(payload: dict, obj: dict) -> bool:
    """Whether an object QBO holds is the one we sent: every plain field and reference agree."""
    for k, v in payload.items():
        if isinstance(v, dict) and "value" in v:
            if str((obj.get(k) or {}).get("value")) != str(v["value"]):
                return False
        elif isinstance(v, (str, bool)) or v is None:
            if obj.get(k) != v:
                return False
        elif isinstance(v, (int, float)) and (
            obj.get(k) is None or abs(float(obj[k]) - float(v)) > 0.005
        ):
            return False
    return True
