"""The emulator sends webhooks, as Intuit does: signed batches of change events, at least once.

Switched on by configuring a ``url`` (loopback only: the emulator never calls out). A thread
watches every company's mutation log; ``delay_s`` after the first unsent change it sends the
changes in batches of up to ``max_events`` (CloudEvents array, or the legacy
``eventNotifications``), signed with ``verifier_token``. A delivery that fails (no answer, or not
2xx) is retried after each of ``retry_delays_s``, then given up. The switches that imitate a
careless network: ``duplicate`` and ``drop`` (probabilities per delivery), ``reorder`` (batches
and the events in them shuffled), ``extra_delay_s`` (each delivery held back that long).

    POST /_emulator/webhooks        {"url", "verifier_token", "format", "delay_s", ...}
    GET  /_emulator/webhooks        settings and counts
    POST /_emulator/webhooks/flush  {"timeout_s"}: wait until nothing is left to send
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import random
import threading
import time
import urllib.error
import urllib.request
import uuid
from ipaddress import ip_address
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from . import timefmt

if TYPE_CHECKING:
    from .hosting import Host

#: The emulator's log names to CloudEvents verbs; deactivation is an update in QBO.
VERBS = {
    "Create": "created",
    "Update": "updated",
    "Deactivate": "updated",
    "Delete": "deleted",
    "Merge": "merged",
    "Void": "voided",
}
LEGACY_OPS = {"Deactivate": "Update"}

DEFAULTS = {
    "url": None,
    "verifier_token": "emulator-verifier-token",
    "format": "cloudevents",
    "delay_s": 0.2,
    "max_events": 100,
    "retry_delays_s": [0.2, 0.5, 1.0, 2.0],
    "timeout_s": 3.0,
    "duplicate": 0.0,
    "drop": 0.0,
    "reorder": False,
    "extra_delay_s": 0.0,
}


def _loopback(url: str) -> None:
    parts = urlsplit(url)
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        raise ValueError(f"webhook url must be http://127.0.0.1:PORT/..., got {url!r}")
    host = parts.hostname
    if host != "localhost":
        try:
            loop = ip_address(host).is_loopback
        except ValueError:
            loop = False
        if not loop:
            raise ValueError(f"webhook url must be on loopback (127.0.0.1, ::1), got {host!r}")


class WebhookSender:
    def __init__(self, emu: Host, seed: int = 1) -> None:
        self.emu = emu
        self.settings_ = dict(DEFAULTS)
        self._rng = random.Random(f"webhooks:{seed}")
        self._seed = seed
        self._lock = threading.Condition()
        self._seen: dict[str, int] = {}
        self._waiting: list[tuple[str, int, tuple]] = []  # (realm, log index, change)
        self._first_wait = 0.0
        self._outbox: list[tuple[float, int, bytes]] = []  # (due, attempt, body)
        self._busy = False
        self.counts = dict.fromkeys(
            ("events", "deliveries", "attempts", "delivered", "failed_attempts", "given_up",
             "dropped", "duplicated"), 0
        )  # fmt: skip
        self.slowest_ack_s = 0.0  # the longest wait for an answer: Intuit gives up at 3 s
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()

    # ----- control ----------------------------------------------------------------------------
    def configure(self, **knobs) -> dict:
        unknown = set(knobs) - set(DEFAULTS)
        if unknown:
            raise ValueError(
                f"unknown webhook knob(s): {sorted(unknown)}; known: {sorted(DEFAULTS)}"
            )
        if knobs.get("url"):
            _loopback(str(knobs["url"]))
        if knobs.get("format", "cloudevents") not in {"cloudevents", "legacy"}:
            raise ValueError("webhook format must be 'cloudevents' or 'legacy'")
        with self._lock:
            starting = not self.settings_["url"] and knobs.get("url")
            self.settings_.update(knobs)
            if starting:
                # Only changes from now on: the generated company is not news.
                self._seen = {r: len(self.emu.store(r).changes) for r in self.emu.realm_ids}
        if starting and self._thread is None:
            self._thread = threading.Thread(target=self._run, name="qbo-webhooks", daemon=True)
            self._thread.start()
        return self.settings()

    def settings(self) -> dict:
        with self._lock:
            return {
                **self.settings_,
                "counts": dict(self.counts),
                "queued": len(self._outbox),
                "slowest_ack_s": round(self.slowest_ack_s, 4),
            }

    def flush(self, timeout_s: float = 30.0) -> bool:
        """Wait until every change seen so far has been delivered, dropped or given up."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            with self._lock:
                self._collect()
                if not self._waiting and not self._outbox and not self._busy:
                    return True
            time.sleep(0.02)
        return False

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    # ----- the thread -------------------------------------------------------------------------
    def _run(self) -> None:
        while not self._stop.wait(0.02):
            with self._lock:
                self._collect()
                now = time.monotonic()
                if self._waiting and now - self._first_wait >= self.settings_["delay_s"]:
                    self._batch(now)
                due = [d for d in self._outbox if d[0] <= now]
                if not due:
                    continue
                item = min(due)
                self._outbox.remove(item)
                self._busy = True
                url, token, timeout = (
                    self.settings_[k] for k in ("url", "verifier_token", "timeout_s")
                )
            started = time.monotonic()
            try:
                ok = self._post(url, token, item[2], timeout)
            finally:
                with self._lock:
                    self._busy = False
                    self.slowest_ack_s = max(self.slowest_ack_s, time.monotonic() - started)
                    self._after(item, ok)

    def _collect(self) -> None:
        """Move new entries of every company's mutation log to the waiting list."""
        if not self.settings_["url"]:
            return
        for realm in self.emu.realm_ids:
            log = self.emu.store(realm).changes
            start = self._seen.get(realm, 0)
            end = len(log)
            if end > start:
                if not self._waiting:
                    self._first_wait = time.monotonic()
                self._waiting.extend((realm, i, log[i]) for i in range(start, end))
                self._seen[realm] = end

    def _batch(self, now: float) -> None:
        s = self.settings_
        waiting, self._waiting = self._waiting, []
        if s["reorder"]:
            self._rng.shuffle(waiting)
        size = max(1, int(s["max_events"]))
        self.counts["events"] += len(waiting)
        bodies = [self._body(waiting[i : i + size]) for i in range(0, len(waiting), size)]
        if s["reorder"]:
            self._rng.shuffle(bodies)
        for n, body in enumerate(bodies):
            self.counts["deliveries"] += 1
            if self._rng.random() < float(s["drop"]):
                self.counts["dropped"] += 1
                continue
            # Reordered batches are due in shuffled order; otherwise in log order.
            due = now + float(s["extra_delay_s"]) + n * 1e-6
            self._outbox.append((due, 0, body))
            if self._rng.random() < float(s["duplicate"]):
                self.counts["duplicated"] += 1
                self._outbox.append((due + 0.01, 0, body))

    def _body(self, changes: list) -> bytes:
        if self.settings_["format"] == "legacy":
            by_realm: dict[str, list] = {}
            for realm, _i, (when, entity, key, op) in changes:
                by_realm.setdefault(realm, []).append(
                    {"name": entity, "id": key, "operation": LEGACY_OPS.get(op, op),
                     "lastUpdated": timefmt.fmt(when)}
                )  # fmt: skip
            doc: object = {
                "eventNotifications": [
                    {"realmId": r, "dataChangeEvent": {"entities": ents}}
                    for r, ents in by_realm.items()
                ]
            }
        else:
            doc = [
                {
                    "specversion": "1.0",
                    # The same change always has the same id: duplicates are recognisable.
                    "id": str(
                        uuid.uuid5(uuid.NAMESPACE_URL, f"qbo-emulator:{self._seed}:{realm}:{i}")
                    ),
                    "source": "intuit.emulator",
                    "type": f"qbo.{entity.lower()}.{VERBS.get(op, op.lower())}.v1",
                    "datacontenttype": "application/json",
                    "time": timefmt.fmt(when),
                    "intuitentityid": key,
                    "intuitaccountid": realm,
                    "data": {},
                }
                for realm, i, (when, entity, key, op) in changes
            ]
        return json.dumps(doc, separators=(",", ":")).encode()

    def _post(self, url: str, token: str, body: bytes, timeout: float) -> bool:
        signature = base64.b64encode(
            hmac.new(token.encode(), body, hashlib.sha256).digest()
        ).decode()
        request = urllib.request.Request(  # noqa: S310 (configure() allows loopback only)
            url,
            data=body,
            method="POST",
            headers={
                "content-type": "application/json",
                "intuit-signature": signature,
                "user-agent": "intuit_notification_server/0.1",
            },
        )
        try:
            with urllib.request.urlopen(request, timeout=timeout) as answer:  # noqa: S310
                return 200 <= answer.status < 300
        except (urllib.error.URLError, OSError, ValueError):
            return False

    def _after(self, item: tuple[float, int, bytes], ok: bool) -> None:
        self.counts["attempts"] += 1
        if ok:
            self.counts["delivered"] += 1
            return
        self.counts["failed_attempts"] += 1
        delays = list(self.settings_["retry_delays_s"])
        attempt = item[1]
        if attempt < len(delays):
            self._outbox.append((time.monotonic() + float(delays[attempt]), attempt + 1, item[2]))
        else:
            self.counts["given_up"] += 1
