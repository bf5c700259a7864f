"""Talking to QBO for the target: one call at a time, each answer sorted into what it means.

The tap's pieces are reused, not copied: its authenticator and token keeping
(``tap_quickbooks.auth``), its limiter (``throttle.RequestLimiter``), its query builder and its
fault sentences (``errors``). What is the target's own is the *reading* of an answer: a write
whose answer is lost may still have happened, so every call ends in one of

- ``ok``        QBO answered 200 with no Fault;
- ``rejected``  QBO refused it (a 4xx Fault): it did not happen and will not by retrying;
- ``throttled`` 429: not done, try again after a pause;
- ``unknown``   a timeout, a reset, a 5xx, a body cut short: it may or may not have happened.

A circuit breaker stops sending for a cool-down after repeated ``unknown``/``throttled``
answers instead of hammering a QBO that is struggling, and gives up after several cool-downs
in a row with no success.
"""

from __future__ import annotations

import json
import logging
import random
import threading
import time
import typing as t
from dataclasses import dataclass

import requests

from tap_quickbooks import errors
from tap_quickbooks.auth import QuickBooksAuthenticator
from tap_quickbooks.query import Select
from tap_quickbooks.throttle import BATCH_PER_MINUTE, RequestLimiter, SharedLimiter

logger = logging.getLogger("target_quickbooks")

#: QBO's batch limits: 30 items a call, 40 batch calls a minute per company and app.
BATCH_ITEMS = 30


class TargetStop(Exception):
    """The run cannot go on (QBO keeps failing, or refuses our credentials). Message only."""


class ReadRefused(TargetStop):
    """QBO refused a read (e.g. the object is gone): the record's problem, not the run's."""


@dataclass
class Answer:
    kind: str  # ok | rejected | throttled | unknown
    status: int | None
    doc: dict | None
    text: str  # one line for logs and the ledger; never a secret

    @property
    def fault_codes(self) -> list[str]:
        fault = errors.fault_of(self.doc) or {}
        found = fault.get("Error") or fault.get("error") or []
        return [str(e.get("code")) for e in found if isinstance(e, dict)]


class Breaker:
    """Open after ``threshold`` failures in a row: wait ``cooldown`` seconds, then try again."""

    def __init__(self, threshold: int, cooldown: float, max_opens: int) -> None:
        self.threshold = threshold
        self.cooldown = cooldown
        self.max_opens = max_opens
        self.failures = 0
        self.opens_in_a_row = 0
        self.opened = 0  # times opened this run, for the summary
        self._lock = threading.Lock()

    def success(self) -> None:
        with self._lock:
            self.failures = 0
            self.opens_in_a_row = 0

    def failure(self, what: str) -> None:
        with self._lock:
            self.failures += 1
            if self.failures < self.threshold:
                return
            self.failures = self.threshold - 1  # half-open: one more failure opens it again
            self.opens_in_a_row += 1
            self.opened += 1
            opens = self.opens_in_a_row
        if opens > self.max_opens:
            msg = (
                f"QuickBooks failed {self.threshold} requests in a row after {self.max_opens} "
                f"cool-downs (last: {what}). Stopping; everything written so far is in the "
                "ledger, and running the target again with the same input resumes without "
                "writing anything twice."
            )
            raise TargetStop(msg)
        logger.warning(
            "Circuit breaker open: %d failed requests in a row (last: %s). Sending nothing "
            "for %.0f s.",
            self.threshold,
            what,
            self.cooldown,
        )
        time.sleep(self.cooldown)


class Qbo:
    """One company's API, for writes, batch calls, reads and queries."""

    def __init__(
        self,
        *,
        api_url: str,
        realm_id: str,
        minor_version: int,
        authenticator: QuickBooksAuthenticator,
        timeout: float = 120,
        limiter: RequestLimiter | SharedLimiter | None = None,
        max_retries: int = 8,
        retry_base: float = 1.0,
        max_retry_wait: float = 60,
        breaker: Breaker | None = None,
    ) -> None:
        self.base = f"{api_url.rstrip('/')}/v3/company/{realm_id}"
        self.realm_id = realm_id
        self.minor_version = minor_version
        self.authenticator = authenticator
        self.timeout = timeout
        # QBO's limits per company (batch calls count against both of theirs), shared with
        # other processes on the company when the config names a shared_limits_path.
        self.limiter = limiter or RequestLimiter(batch_per_minute=BATCH_PER_MINUTE)
        self.max_retries = max_retries
        self.retry_base = retry_base
        self.max_retry_wait = max_retry_wait
        self.breaker = breaker or Breaker(threshold=5, cooldown=60, max_opens=3)
        self.session = requests.Session()
        self.calls: dict[str, int] = {}
        self._rng = random.Random()

    # ----- one attempt -------------------------------------------------------------------
    def call(self, method: str, path: str, *, params: dict | None = None, body=None,
             kind: str = "write") -> Answer:  # fmt: skip
        """Send once (a 401 refreshes the token and sends again); sort the answer."""
        self.calls[kind] = self.calls.get(kind, 0) + 1
        query = {"minorversion": self.minor_version, **(params or {})}
        data = None
        headers = {"Accept": "application/json"}
        if isinstance(body, str):
            data, headers["Content-Type"] = body.encode(), "application/text"
        elif body is not None:
            data, headers["Content-Type"] = json.dumps(body).encode(), "application/json"
        for attempt in (1, 2):
            request = requests.Request(
                method, self.base + path, params=query, data=data, headers=headers
            ).prepare()
            try:
                with self.limiter.slot(kind=kind):
                    response = self._send(request)
            except requests.RequestException as exc:
                answer = Answer("unknown", None, None, f"{type(exc).__name__} on {path}")
                self.breaker.failure(answer.text)
                return answer
            if response.status_code == 401 and attempt == 1:
                self.authenticator.expire()
                continue
            if response.status_code in (401, 403):
                # Not the record's fault, and no retry fixes it. (A 401's detail can echo the
                # token, so only the status and intuit_tid are told.)
                msg = (
                    f"QuickBooks refused access (HTTP {response.status_code}, intuit_tid="
                    f"{errors.intuit_tid(response)}) to company {self.realm_id}: check that "
                    "realm_id is the company the refresh token was issued for, or re-authorize."
                )
                raise TargetStop(msg)
            answer = _sort(response)
            if answer.kind in ("unknown", "throttled"):
                self.breaker.failure(answer.text)
            else:
                self.breaker.success()
            return answer
        return answer

    def _send(self, request: requests.PreparedRequest) -> requests.Response:
        return self.session.send(self.authenticator(request), timeout=self.timeout)

    def pause(self, attempt: int, answer: Answer) -> None:
        """Back off before another try: exponential with jitter; 429 waits longer."""
        base = self.retry_base * (4 if answer.kind == "throttled" else 1)
        wait = min(self.max_retry_wait, base * 2 ** (attempt - 1))
        time.sleep(wait * (0.5 + self._rng.random() / 2))

    # ----- reads: retried until they answer -----------------------------------------------
    def read(self, method: str, path: str, *, params=None, body=None, kind="query") -> dict:
        answer = None
        for attempt in range(1, self.max_retries + 2):
            answer = self.call(method, path, params=params, body=body, kind=kind)
            if answer.kind == "ok":
                return answer.doc or {}
            if answer.kind == "rejected":
                msg = f"QuickBooks refused a read: {answer.text}"
                raise ReadRefused(msg)
            self.pause(attempt, answer)
        msg = f"QuickBooks did not answer a read after {self.max_retries + 1} tries: {answer.text}"
        raise TargetStop(msg)

    def query(self, select: Select) -> list[dict]:
        doc = self.read("POST", "/query", body=str(select))
        return (doc.get("QueryResponse") or {}).get(select.entity, [])

    def get(self, entity: str, qbo_id: str) -> dict:
        doc = self.read("GET", f"/{entity.lower()}/{qbo_id}", kind="read")
        return doc.get(entity) or {}


def _sort(response: requests.Response) -> Answer:
    status = response.status_code
    doc = None
    try:
        parsed = response.json()
        doc = parsed if isinstance(parsed, dict) else None
    except ValueError:
        doc = None
    if status == 429:
        return Answer("throttled", status, doc, errors.describe(response))
    if status >= 500:
        return Answer("unknown", status, doc, errors.describe(response))
    if status == 200 and doc is not None and errors.fault_of(doc) is None:
        return Answer("ok", status, doc, "")
    if status == 200 and doc is None:  # a body cut short: it may have been written
        return Answer("unknown", status, None, errors.describe(response))
    fault = errors.fault_of(doc) if doc is not None else None
    if fault is not None and fault.get("type") == "SystemFault":
        return Answer("unknown", status, doc, errors.describe(response))
    return Answer("rejected", status, doc, errors.describe(response))


def fault_sentence(item: t.Mapping) -> str:
    """One item's Fault (inside a batch answer) as a sentence."""
    return errors.fault_text(item.get("Fault") or {})
