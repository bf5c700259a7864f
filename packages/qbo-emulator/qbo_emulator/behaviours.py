"""Latency, QBO's limits and fault injection; all off by default, all deterministic by seed.

Knobs (plain attributes, settable at any time)::

    latency_ms            sleep before every API response
    per_record_ms         extra sleep per record in a query/CDC response
    rate_limits           True: 500 requests/min, 10/s and 10 in flight per realm, and 40 batch
                          calls/min (``batch_per_minute``; each also counts as a request),
                          answered with the real XML 429 (ThrottleExceeded, code 3001)
    faults                None, a list of (kind, probability) drawn per API request from a
                          seeded RNG, or a schedule {request_number: kind} where 1 is the first
                          API request after ``faults`` was set
    slow_ms               how long the "slow" fault stalls (default 2000)
    strict_rotation       every refresh rotates and the old refresh token dies at once
    access_token_lifetime seconds an access token lives (default 3600)
    shuffle_ties          rows sharing a LastUpdatedTime second come back in a different order
                          on every query (QBO promises no order among ties; off: by Id)

Fault kinds: ``429`` (XML), ``500`` (JSON SystemFault 10000), ``502`` (HTML), ``503`` (HTML),
``504`` (XML GatewayTimeout 6002), ``401`` (the access token is revoked, then the real 401),
``truncated`` (alternately ``truncated_json``: honest Content-Length, JSON cut short, and
``truncated_close``: full Content-Length announced, connection closed mid-body), ``reset``
(TCP reset, no response), ``slow`` (stall ``slow_ms`` then answer normally) and ``fault200``
(HTTP 200 carrying a ``Fault``).

Odd answers (HTTP 200, well-formed, but not what QBO would send; each changes only the answers
it names and leaves others alone): ``empty_page`` (a query answered ``{"QueryResponse": {}}``),
``gzip_empty`` (the same, gzip-encoded), ``no_metadata`` (a query page's rows without
``MetaData``), ``short_page`` (a query page's rows cut to half, ``maxResults`` kept),
``short_honest`` (the same, ``maxResults`` saying so: a page that looks like the last; in a
batch answer, every item's rows cut so),
``batch_empty`` (every batch item's ``QueryResponse`` is ``{}``), ``cdc_empty`` (a CDC answer
saying nothing changed), ``cdc_none`` (a CDC answer without ``CDCResponse``), ``cdc_drop``
(a CDC answer without the first entity that has changes, not even its ``{}``), ``future_row``
(a query page's last row stamped
``9999-12-30T00:00:00-08:00``), ``future_time`` (the answer's ``time`` in 2031), ``no_id`` (a
query page's first row without ``Id``), ``duplicate_id`` (a query page's second row carrying the
first row's ``Id``) and ``disorder`` (a query page's rows in reverse order).
"""

from __future__ import annotations

import gzip
import json
import random
import threading
import time
from collections import deque

FAULT_KINDS = (
    "429",
    "500",
    "502",
    "503",
    "504",
    "401",
    "truncated",
    "truncated_json",
    "truncated_close",
    "reset",
    "slow",
    "fault200",
)
ODD_ANSWERS = (
    "empty_page",
    "gzip_empty",
    "no_metadata",
    "short_page",
    "short_honest",
    "batch_empty",
    "cdc_empty",
    "cdc_none",
    "cdc_drop",
    "future_row",
    "future_time",
    "no_id",
    "duplicate_id",
    "disorder",
)
FAULT_KINDS += ODD_ANSWERS

PER_MINUTE = 500
PER_SECOND = 10
IN_FLIGHT = 10
BATCH_PER_MINUTE = 40


class Behaviour:
    def __init__(self, seed: int = 1):
        self._seed = seed
        self._lock = threading.Lock()
        self.latency_ms: float = 0
        self.per_record_ms: float = 0
        self.rate_limits: bool = False
        self.slow_ms: float = 2000
        self.strict_rotation: bool = False
        self.access_token_lifetime: int = 3600
        self.shuffle_ties: bool = False
        self.per_minute = PER_MINUTE
        self.per_second = PER_SECOND
        self.in_flight_limit = IN_FLIGHT
        self.batch_per_minute = BATCH_PER_MINUTE
        #: per realm, the most requests ever in flight at once (counted with or without limits)
        self.peak_in_flight: dict[str, int] = {}
        self._faults = None
        self._fault_base = 0
        self._api_requests = 0
        self._rng = random.Random(f"faults:{seed}")
        self._trunc_toggle = 0
        self._windows: dict[str, deque] = {}
        self._batch_windows: dict[str, deque] = {}
        self._in_flight: dict[str, int] = {}
        self.injected: list[tuple[int, str]] = []

    # ----- faults ------------------------------------------------------------------------------
    @property
    def faults(self):
        return self._faults

    @faults.setter
    def faults(self, value) -> None:
        if isinstance(value, dict):
            value = {int(k): str(v) for k, v in value.items()}
            bad = [v for v in value.values() if v not in FAULT_KINDS]
        elif value:
            value = [(str(k), float(p)) for k, p in value]
            bad = [k for k, _ in value if k not in FAULT_KINDS]
        else:
            value, bad = None, []
        if bad:
            raise ValueError(f"unknown fault kinds {bad}; known: {FAULT_KINDS}")
        with self._lock:
            self._faults = value
            self._fault_base = self._api_requests
            self._rng = random.Random(f"faults:{self._seed}")

    def next_api_request(self) -> tuple[int, str | None]:
        """Count an API request; return (global request number, fault kind or None)."""
        with self._lock:
            self._api_requests += 1
            number = self._api_requests
            faults = self._faults
            kind = None
            if isinstance(faults, dict):
                kind = faults.get(number - self._fault_base)
            elif faults:
                draw = self._rng.random()
                acc = 0.0
                for k, p in faults:
                    acc += p
                    if draw < acc:
                        kind = k
                        break
            if kind == "truncated":
                self._trunc_toggle ^= 1
                kind = "truncated_json" if self._trunc_toggle else "truncated_close"
            if kind:
                self.injected.append((number, kind))
            return number, kind

    @property
    def api_requests(self) -> int:
        return self._api_requests

    # ----- limits ------------------------------------------------------------------------------
    def admit(self, realm: str, kind: str = "") -> bool:
        """Take a slot for ``realm``; False means answer 429 (and call nothing else). A
        ``batch`` call also takes one of the realm's batch calls a minute."""
        if not self.rate_limits:
            with self._lock:
                self._enter(realm)
            return True
        now = time.monotonic()
        with self._lock:
            window = self._windows.setdefault(realm, deque())
            batches = self._batch_windows.setdefault(realm, deque())
            for w in (window, batches):
                while w and now - w[0] >= 60:
                    w.popleft()
            last_second = 0
            for t in reversed(window):
                if now - t >= 1:
                    break
                last_second += 1
            busy = self._in_flight.get(realm, 0)
            if (
                len(window) >= self.per_minute
                or last_second >= self.per_second
                or busy >= self.in_flight_limit
                or (kind == "batch" and len(batches) >= self.batch_per_minute)
            ):
                return False
            window.append(now)
            if kind == "batch":
                batches.append(now)
            self._enter(realm)
            return True

    def _enter(self, realm: str) -> None:
        busy = self._in_flight[realm] = self._in_flight.get(realm, 0) + 1
        self.peak_in_flight[realm] = max(busy, self.peak_in_flight.get(realm, 0))

    def release(self, realm: str) -> None:
        with self._lock:
            self._in_flight[realm] = max(0, self._in_flight.get(realm, 0) - 1)

    # ----- latency -----------------------------------------------------------------------------
    def delay(self, records: int = 0) -> None:
        ms = float(self.latency_ms or 0) + float(self.per_record_ms or 0) * records
        if ms > 0:
            time.sleep(ms / 1000)

    def stall(self) -> None:
        time.sleep(float(self.slow_ms) / 1000)

    def settings(self) -> dict:
        return {
            "latency_ms": self.latency_ms,
            "per_record_ms": self.per_record_ms,
            "rate_limits": self.rate_limits,
            "faults": self._faults
            if not isinstance(self._faults, dict)
            else {str(k): v for k, v in self._faults.items()},
            "slow_ms": self.slow_ms,
            "strict_rotation": self.strict_rotation,
            "access_token_lifetime": self.access_token_lifetime,
            "shuffle_ties": self.shuffle_ties,
        }

    def configure(self, **knobs) -> None:
        for k, v in knobs.items():
            if k not in (
                "latency_ms",
                "per_record_ms",
                "rate_limits",
                "faults",
                "slow_ms",
                "strict_rotation",
                "access_token_lifetime",
                "shuffle_ties",
                "per_minute",
                "per_second",
                "in_flight_limit",
                "batch_per_minute",
            ):
                raise ValueError(f"unknown behaviour knob {k!r}")
            setattr(self, k, v)


# ----- odd answers -----------------------------------------------------------------------------
def odd_answer(kind: str, request_kind: str, body: bytes) -> tuple[bytes, dict]:  # noqa: C901, PLR0912 - one branch per odd answer kind, each a few lines
    """A 200 answer's body rewritten as the odd answer ``kind`` (see the module's doc), and
    the headers it needs; unchanged when the kind does not apply to this kind of request."""
    try:
        doc = json.loads(body)
    except ValueError:  # not JSON (a PDF, a report in another shape): left as it is
        return body, {}
    if not isinstance(doc, dict):
        return body, {}
    headers: dict = {}
    page = doc.get("QueryResponse") if request_kind == "query" else None
    rows = next((v for v in page.values() if isinstance(v, list)), None) if page else None
    if kind in ("empty_page", "gzip_empty") and request_kind == "query":
        doc = {"QueryResponse": {}, "time": doc.get("time")}
        if kind == "gzip_empty":
            raw = gzip.compress(json.dumps(doc).encode())
            return raw, {"Content-Encoding": "gzip"}
    elif kind == "batch_empty" and request_kind == "batch":
        for item in doc.get("BatchItemResponse") or []:
            if "QueryResponse" in item:
                item["QueryResponse"] = {}
    elif kind == "short_honest" and request_kind == "batch":
        for item in doc.get("BatchItemResponse") or []:
            found = item.get("QueryResponse") or {}
            for value in found.values():
                if isinstance(value, list) and len(value) > 1:
                    del value[len(value) // 2 :]
                    found["maxResults"] = len(value)
    elif kind == "cdc_empty" and request_kind == "cdc":
        doc = {"CDCResponse": [{"QueryResponse": [{}]}], "time": doc.get("time")}
    elif kind == "cdc_none" and request_kind == "cdc":
        doc = {"time": doc.get("time")}
    elif kind == "cdc_drop" and request_kind == "cdc":
        for block in doc.get("CDCResponse") or []:
            pages = block.get("QueryResponse") or []
            dropped = next((p for p in pages if p), None)
            if dropped is not None:
                pages.remove(dropped)
                break
    elif kind == "future_time":
        doc["time"] = "2031-06-01T10:00:00.000-07:00"
    elif rows:
        if kind == "no_metadata":
            for row in rows:
                row.pop("MetaData", None)
        elif kind in ("short_page", "short_honest"):
            del rows[len(rows) // 2 :]
            if kind == "short_honest":
                page["maxResults"] = len(rows)
        elif kind == "future_row":
            rows[-1].setdefault("MetaData", {})["LastUpdatedTime"] = "9999-12-30T00:00:00-08:00"
        elif kind == "no_id":
            rows[0].pop("Id", None)
        elif kind == "duplicate_id" and len(rows) > 1:
            rows[1]["Id"] = rows[0]["Id"]
        elif kind == "disorder":
            rows.reverse()
    return json.dumps(doc, separators=(",", ":")).encode(), headers
