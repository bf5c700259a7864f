"""The generator's context: its random streams, ids, records and references, and the
small builders every kind of record uses (addresses, phones, money, a new transaction)."""

from __future__ import annotations

import bisect
import random
from dataclasses import dataclass

from .. import timefmt
from ..entities import CATALOGUE
from ..store import Store, money
from .vocabulary import (
    _BACK_CUM,
    CITIES,
    CURRENCIES,
    CUSTOM_FIELD,
    HISTORY_DAYS,
    STREETS,
    TXN_WEIGHTS,
    USD,
)


def _jaxb(name: str, value: str) -> dict:
    return {
        "name": "{http://schema.intuit.com/finance/v3}NameValue",
        "declaredType": "com.intuit.schema.finance.v3.NameValue",
        "scope": "javax.xml.bind.JAXBElement$GlobalScope",
        "value": {"Name": name, "Value": value},
        "nil": False,
        "globalScope": True,
        "typeSubstituted": False,
    }


def _num(cents: int):
    """A unit price as QBO writes it: an int when whole (``75``), else a float."""
    return cents // 100 if cents % 100 == 0 else cents / 100


def _qty(halves: int):
    return halves // 2 if halves % 2 == 0 else halves / 2


@dataclass
class Rec:
    """A generated object with its timestamps and version, before it goes into the store."""

    entity: str
    key: str
    obj: dict
    ct: int
    lut: int
    sync: int = 0

    def touch(self, when: int) -> None:
        self.sync += 1
        self.lut = max(self.lut, when)


def plan(scale: int) -> dict[str, int]:
    """How many rows each scaled list gets and how many transactions remain."""
    s = max(int(scale), 150)

    def clamp(v: float, lo: int, hi: int) -> int:
        return max(lo, min(hi, int(v)))

    counts = {
        "Customer": clamp(s * 0.03, 24, 60_000),
        "Vendor": clamp(s * 0.008, 12, 20_000),
        "Employee": clamp(s * 0.001, 5, 3_000),
        "Item": clamp(s * 0.002, 20, 8_000),
        "Class": clamp(s * 0.0002, 5, 120),
        "Department": clamp(s * 0.0001, 3, 60),
        "ExtraAccounts": clamp(s * 0.0002, 0, 300),
    }
    fixed = 220 + sum(counts.values())
    counts["txn"] = max(len(TXN_WEIGHTS) * 2, s - fixed)
    return counts


class Core:
    """State shared by every part of the generator; the parts are mixins over it."""

    def __init__(self, store: Store, seed: int, scale: int, anchor: int):
        self.store = store
        self.realm = store.realm_id
        self.rng = random.Random(f"qbo-emulator:{seed}:{store.realm_id}")
        # Calendar-dependent draws (one rate per month) use their own stream, so the main one -
        # ids, names, amounts - does not depend on the day the emulator starts.
        self.rate_rng = random.Random(f"qbo-emulator-rates:{seed}:{store.realm_id}")
        self.scale = scale
        self.anchor = int(anchor)
        self.t0 = self.anchor - HISTORY_DAYS * 86400
        self.recs: list[Rec] = []
        self.by_key: dict[tuple[str, str], Rec] = {}
        self.seq: dict[str, int] = {}
        self.acct: dict[str, dict] = {}  # role -> ref {"value","name"}
        self.addr_seq = 1
        self.doc: dict[str, int] = {}
        self.counts = plan(scale)
        rnd = self.rng.random
        self.pick = lambda seq: seq[int(rnd() * len(seq))]

    def next_id(self, entity: str) -> str:
        seq = CATALOGUE[entity].id_seq or entity
        n = self.seq.get(seq, 5000000000000500000 if seq == "attachable" else 1)
        self.seq[seq] = n + 1
        return str(n)

    def add(self, entity: str, obj: dict, ct: int, lut: int | None = None, key=None) -> Rec:
        key = key if key is not None else obj.get("Id")
        rec = Rec(entity, key, obj, ct, lut if lut is not None else ct)
        self.recs.append(rec)
        self.by_key[(entity, key)] = rec
        return rec

    def base(self, entity: str) -> dict:
        key = self.next_id(entity)
        return {"domain": "QBO", "sparse": False, "Id": key, "SyncToken": "0", "MetaData": None}

    def docnum(self, kind: str, start: int = 1001) -> str:
        n = self.doc.get(kind, start)
        self.doc[kind] = n + 1
        return str(n)

    def address(self, city=None, lines: int = 1, full: bool = False) -> dict:
        rng = self.rng
        c = city or self.pick(CITIES)
        a = {"Id": str(self.addr_seq)}
        self.addr_seq += 1
        a["Line1"] = f"{rng.randint(10, 9999)} {self.pick(STREETS).strip('.')}."
        if lines > 1:
            a["Line2"] = f"Suite {rng.randint(100, 999)}"
        a["City"] = c[0]
        if full or rng.random() < 0.2:
            a["Country"] = "USA"
        a["CountrySubDivisionCode"], a["PostalCode"] = c[1], c[2]
        if rng.random() < 0.15:
            a["Lat"], a["Long"] = "INVALID", "INVALID"
        else:
            a["Lat"] = f"{float(c[3]) + rng.uniform(-0.05, 0.05):.7f}"
            a["Long"] = f"{float(c[4]) + rng.uniform(-0.05, 0.05):.7f}"
        return a

    def txn_addr(self, c: dict) -> dict:
        """A transaction's BillAddr: the customer's address, or QBO's free-form 4-line form."""
        if c["addr"] is None or self.rng.random() < 0.5:
            a = c["addr"] or self.address()
            lines = {"Id": str(self.addr_seq), "Line1": c["ref"]["name"]}
            self.addr_seq += 1
            n = 2
            if c["obj"].get("CompanyName") and c["obj"].get("GivenName"):
                lines["Line1"] = f"{c['obj']['GivenName']} {c['obj'].get('FamilyName', '')}".strip()
                lines["Line2"] = c["obj"]["CompanyName"]
                n = 3
            lines[f"Line{n}"] = a["Line1"]
            lines[f"Line{n + 1}"] = f"{a['City']}, {a['CountrySubDivisionCode']}  {a['PostalCode']}"
            lines["Lat"], lines["Long"] = a.get("Lat", "INVALID"), a.get("Long", "INVALID")
            return lines
        return c["addr"]

    def phone(self) -> dict:
        r = self.rng
        return {"FreeFormNumber": f"({r.randint(200, 989)}) 555-{r.randint(1000, 9999)}"}

    def ref(self, role: str) -> dict:
        return self.acct[role]

    def setup_time(self, minutes: float = 0) -> int:
        return self.t0 + int(minutes * 60)

    def pick_customer(self, t: int) -> dict:
        hi = bisect.bisect_right(self.cust_times, t)
        hi = max(hi, 1)
        for _ in range(6):
            c = self.customers[self.rng.randrange(hi)]
            if c["until"] is None or c["until"] > t:
                return c
        return self.customers[0]

    def pick_vendor(self, t: int) -> dict:
        hi = max(bisect.bisect_right(self.vend_times, t), 1)
        for _ in range(6):
            v = self.vendors[self.rng.randrange(hi)]
            if v["until"] is None or v["until"] > t:
                return v
        return self.vendors[0]

    def currency_fields(self, obj: dict, cur: str | None, day: str, total: int) -> float:
        if cur is None:
            obj["CurrencyRef"] = USD
            return 1.0
        ref, _ = CURRENCIES[cur]
        rate = self.rate_for(cur, day)
        obj["CurrencyRef"] = ref
        obj["ExchangeRate"] = rate
        obj["HomeTotalAmt"] = money(round(total * rate))
        return rate

    def custom_fields(self) -> list[dict]:
        if self.rng.random() < 0.3:
            return [dict(CUSTOM_FIELD, StringValue=str(self.rng.randint(100, 130)))]
        return [CUSTOM_FIELD]

    def txn_date(self, ct: int) -> str:
        back = self.rng.choices((0, 0, 0, 1, 2, 5), cum_weights=_BACK_CUM)[0]
        return timefmt.add_days(timefmt.pacific_date(ct), -back)

    def new_txn(self, entity: str, ct: int) -> tuple[dict, Rec]:
        obj = self.base(entity)
        rec = self.add(entity, obj, ct)
        return obj, rec
