"""Stock levels: bring QBO's QtyOnHand to the platform's number, then check that it holds.

A record ``{"sku": ..., "QtyOnHand": n}`` (or ``{"Id": ..., "QtyOnHand": n}``) asks for
quantity ``n``. The target reads the items (one metered query per 1,000), and writes one
``InventoryAdjustment`` per 100 items whose quantity differs, with ``QtyDiff`` lines: an audit
trail, where overwriting ``Item.QtyOnHand`` would leave none. Each adjustment carries a
DocNumber and a requestid derived from the company and its lines, so after a lost answer the
target finds it by DocNumber instead of adjusting twice.

Reconciliation reads back every item it touched and reports, per item: the platform's
quantity, QBO's, the difference, and ``flagged`` when the difference exceeds the tolerance
(percent of the platform's quantity). The report goes to the ledger, to a CSV beside it, and
its summary to the log.
"""

from __future__ import annotations

import csv
import logging
from decimal import Decimal
from pathlib import Path

from tap_quickbooks import query

from .ledger import REJECTED, WRITTEN, Entry, Ledger
from .push import digest
from .qbo import Qbo, TargetStop

logger = logging.getLogger("target_quickbooks")

STREAM = "item_quantities"
LINES_PER_ADJUSTMENT = 100
_QUERY_IDS = 1000  # items per read-back query: one metered call per 1,000 items


def number(value) -> Decimal:
    return Decimal(str(value))


def _plain(value: Decimal):
    return int(value) if value == value.to_integral_value() else float(value)


class Quantities:
    def __init__(self, qbo: Qbo, ledger: Ledger, tally, *, tolerance_pct: float,
                 adjust_account_id: str | None, report_path: Path) -> None:  # fmt: skip
        self.qbo = qbo
        self.ledger = ledger
        self.tally = tally
        self.tolerance_pct = Decimal(str(tolerance_pct))
        self.adjust_account_id = adjust_account_id
        self.report_path = report_path
        self.adjustments = 0
        self.flagged = 0

    # ----- reading items -----------------------------------------------------------------
    def items(self, field: str, values: list[str]) -> dict[str, dict]:
        """Items by ``field`` (Sku or Id), one query per 1,000 values."""
        found: dict[str, dict] = {}
        for start in range(0, len(values), _QUERY_IDS):
            part = values[start : start + _QUERY_IDS]
            rows = self.qbo.query(
                query.Select(
                    "Item",
                    where=(query.one_of(field, part), query.ALL_ACTIVE_STATES),
                    max_results=query.MAX_RESULTS,
                )
            )
            for row in rows:
                found[str(row.get(field))] = row
        return found

    def _resolve(self, targets: dict[tuple[str, str], Decimal]) -> dict[tuple[str, str], dict]:
        out = {}
        for field in ("Sku", "Id"):
            wanted = sorted({value for f, value in targets if f == field})
            if wanted:
                for value, row in self.items(field, wanted).items():
                    out[(field, value)] = row
        return out

    # ----- writing -------------------------------------------------------------------------
    def push(self, records: list[tuple[str, dict]]) -> None:
        targets: dict[tuple[str, str], Decimal] = {}
        keys: dict[tuple[str, str], str] = {}
        for key, record in records:
            ident = ("Sku", str(record["sku"])) if record.get("sku") else ("Id", str(record["Id"]))
            targets[ident] = number(record["QtyOnHand"])  # the last record of a key wins
            keys[ident] = key
        items = self._resolve(targets)
        changes: list[tuple[tuple[str, str], dict, Decimal]] = []
        for ident, target in targets.items():
            item = items.get(ident)
            why = None
            if item is None:
                why = f"no item with {ident[0]} {ident[1]!r} in QuickBooks"
            elif not item.get("TrackQtyOnHand"):
                why = f"item {item.get('Name')!r} does not track quantity on hand"
            if why:
                self.tally.rejected += 1
                self._note(keys[ident], None, target, REJECTED, why)
                logger.warning("%s %s rejected: %s", STREAM, keys[ident], why)
                continue
            diff = target - number(item.get("QtyOnHand") or 0)
            if diff:
                changes.append((ident, item, diff))
            else:
                self.tally.unchanged += 1
                self._note(keys[ident], item, target, WRITTEN, "already at this quantity")
        for start in range(0, len(changes), LINES_PER_ADJUSTMENT):
            self._adjust(changes[start : start + LINES_PER_ADJUSTMENT], keys, targets)
        self.reconcile({keys[i]: (i, t) for i, t in targets.items()}, write_report=True)

    def _account(self) -> str:
        if self.adjust_account_id:
            return self.adjust_account_id
        for where in ("Name = 'Inventory Shrinkage'", "AccountType = 'Cost of Goods Sold'"):
            rows = self.qbo.query(query.Select("Account", where=(where,), max_results=1))
            if rows:
                self.adjust_account_id = str(rows[0]["Id"])
                return self.adjust_account_id
        msg = (
            "No account to book inventory adjustments to: set adjust_account_id in the config "
            "(an account of type Cost of Goods Sold, such as Inventory Shrinkage)."
        )
        raise TargetStop(msg)

    def _adjust(self, changes, keys, targets) -> None:
        lines = [
            {
                "DetailType": "ItemAdjustmentLineDetail",
                "ItemAdjustmentLineDetail": {
                    "ItemRef": {"value": str(item["Id"])},
                    "QtyDiff": _plain(diff),
                },
            }
            for _ident, item, diff in changes
        ]
        plan = "|".join(f"{item['Id']}:{item.get('SyncToken')}:{diff}" for _, item, diff in changes)
        tag = digest(self.qbo.realm_id, STREAM, plan)
        doc_number = "TQ-" + tag[:18]  # QBO's DocNumber holds 21 characters
        body = {
            "DocNumber": doc_number,
            "AdjustAccountRef": {"value": self._account()},
            "PrivateNote": "target-quickbooks: quantities set from the platform",
            "Line": lines,
        }
        answer = None
        for attempt in range(1, self.qbo.max_retries + 2):
            answer = self.qbo.call(
                "POST", "/inventoryadjustment", params={"requestid": tag[:36]}, body=body
            )
            if answer.kind in ("ok", "rejected"):
                break
            if answer.kind == "unknown":  # written after all? then never a second adjustment
                rows = self.qbo.query(
                    query.Select(
                        "InventoryAdjustment",
                        where=(query.compare("DocNumber", "=", doc_number),),
                        max_results=1,
                    )
                )
                if rows:
                    answer = type(answer)("ok", 200, {"InventoryAdjustment": rows[0]}, "")
                    break
            self.qbo.pause(attempt, answer)
        for ident, item, _diff in changes:
            if answer.kind == "ok":
                adj = answer.doc["InventoryAdjustment"]
                self.tally.updated += 1
                self._note(keys[ident], item, targets[ident], WRITTEN,
                           f"InventoryAdjustment {adj.get('Id')} ({doc_number})")  # fmt: skip
            else:
                state = REJECTED if answer.kind == "rejected" else "pending"
                if state == REJECTED:
                    self.tally.rejected += 1
                else:
                    self.tally.unresolved += 1
                self._note(keys[ident], item, targets[ident], state, answer.text)
        if answer.kind == "ok":
            self.adjustments += 1

    def _note(self, key, item, target, status, message) -> None:
        self.ledger.put(
            self.qbo.realm_id,
            STREAM,
            Entry(
                key,
                str(item["Id"]) if item else None,
                None,
                digest(str(target)),
                None,
                status,
                message,
            ),
        )

    # ----- reconciliation ----------------------------------------------------------------
    def reconcile(self, platform: dict[str, tuple[tuple[str, str], Decimal]], *,
                  write_report: bool) -> list[dict]:  # fmt: skip
        """Compare QBO's quantities with the platform's; report to ledger, CSV and log."""
        items = self._resolve(dict(platform.values()))
        rows = []
        for key, (ident, qty) in sorted(platform.items()):
            item = items.get(ident)
            qbo_qty = number(item.get("QtyOnHand") or 0) if item else None
            diff = None if qbo_qty is None else qbo_qty - qty
            allowed = abs(qty) * self.tolerance_pct / 100
            flagged = diff is None or abs(diff) > allowed
            rows.append(
                {
                    "item": key,
                    "item_id": str(item["Id"]) if item else None,
                    "platform_qty": qty,
                    "qbo_qty": qbo_qty,
                    "difference": diff,
                    "flagged": flagged,
                }
            )
        if not write_report:
            return rows
        self.ledger.add_reconciliation(self.qbo.realm_id, rows)
        new = not self.report_path.exists()
        with self.report_path.open("a", newline="") as handle:
            out = csv.DictWriter(handle, fieldnames=list(rows[0]) if rows else ["item"])
            if new:
                out.writeheader()
            out.writerows(rows)
        self.flagged += sum(r["flagged"] for r in rows)
        logger.info(
            "Reconciliation: %d items compared, %d within %s%%, %d flagged for review "
            "(report: %s).",
            len(rows),
            sum(not r["flagged"] for r in rows),
            self.tolerance_pct,
            sum(r["flagged"] for r in rows),
            self.report_path,
        )
        return rows


def read_platform_csv(path: Path) -> dict[str, tuple[tuple[str, str], Decimal]]:
    """A platform's stock file: a ``QtyOnHand`` column and a ``sku`` (or ``Id``) column."""
    try:
        handle = path.open(newline="")
    except OSError as exc:
        msg = f"Cannot read the platform file {path}: {exc.strerror}."
        raise TargetStop(msg) from exc
    with handle:
        reader = csv.DictReader(handle)
        columns = set(reader.fieldnames or [])
        if "QtyOnHand" not in columns or not ({"sku", "Id"} & columns):
            msg = (
                f"{path} needs a header with QtyOnHand and sku (or Id) columns; "
                f"it has {sorted(columns)}."
            )
            raise TargetStop(msg)
        out = {}
        for line, row in enumerate(reader, start=2):
            ident = ("Sku", row["sku"]) if row.get("sku") else ("Id", row.get("Id") or "")
            try:
                out[ident[1]] = (ident, number(row["QtyOnHand"]))
            except ArithmeticError as exc:
                msg = f"{path} line {line}: QtyOnHand {row['QtyOnHand']!r} is not a number."
                raise TargetStop(msg) from exc
        return out
