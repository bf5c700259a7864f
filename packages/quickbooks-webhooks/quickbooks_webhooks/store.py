"""The durable event store: every event once, by id, with its state pending, synced or ignored.

SQLite now (``store_url`` a path or ``sqlite:///path``); the interface is what a scheduler needs:
``pending_by_company()`` coalesces any number of events into one item per company (the set of
streams to sync), and ``mark_synced(realm, streams, up_to=...)`` closes only the events that
snapshot saw, so an event that arrives during the sync stays pending for the next run.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterable
from pathlib import Path

from .events import Event
from .registry import AnyCompany, CompanyRegistry

DEFAULT_STORE = "quickbooks-webhooks.sqlite3"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    event_id TEXT NOT NULL UNIQUE,
    realm TEXT NOT NULL,
    entity TEXT NOT NULL,
    entity_id TEXT NOT NULL,
    operation TEXT NOT NULL,
    occurred TEXT NOT NULL,
    stream TEXT,
    status TEXT NOT NULL,          -- pending | synced | ignored
    reason TEXT,                   -- why ignored: unknown_realm | unknown_entity
    received_at REAL NOT NULL,
    synced_at REAL
);
CREATE INDEX IF NOT EXISTS events_status_realm ON events (status, realm);
CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, n INTEGER NOT NULL);
"""

REJECTIONS = ("signature", "body", "size")


class Pending(dict):
    """``{realm: set of stream names}``, plus the ``watermark`` (last event seq) it was read at."""

    watermark: int = 0


class EventStore:
    def __init__(self, path: str | Path, registry: CompanyRegistry | None = None) -> None:
        self.path = str(path)
        self.registry: CompanyRegistry = registry or AnyCompany()
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        # One connection behind a lock: writes are a few hundred microseconds in WAL mode.
        self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        self._lock = threading.Lock()
        with self._lock:
            self._db.execute("PRAGMA journal_mode=WAL")
            # NORMAL in WAL mode: a committed event survives a crash of this process.
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.execute("PRAGMA busy_timeout=5000")
            self._db.executescript(_SCHEMA)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    # ----- the receiver's side ---------------------------------------------------------------
    def add(self, events: Iterable[Event], now: float | None = None) -> tuple[int, int]:
        """Store new events; (new, duplicates). Unknown realms and entities: stored as ignored."""
        now = time.time() if now is None else now
        rows = []
        for e in events:
            if not self.registry.knows(e.realm):
                status, reason = "ignored", "unknown_realm"
            elif e.stream is None:
                status, reason = "ignored", "unknown_entity"
            else:
                status, reason = "pending", None
            rows.append(
                (e.event_id, e.realm, e.entity, e.entity_id, e.operation, e.occurred, e.stream,
                 status, reason, now)
            )  # fmt: skip
        new = 0
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                for row in rows:
                    cur = self._db.execute(
                        "INSERT OR IGNORE INTO events (event_id, realm, entity, entity_id,"
                        " operation, occurred, stream, status, reason, received_at)"
                        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                        row,
                    )
                    new += cur.rowcount
                if len(rows) - new:
                    self._bump("duplicates", len(rows) - new)
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
        return new, len(rows) - new

    def reject(self, why: str) -> None:
        """Count a refused delivery (signature, body or size)."""
        with self._lock:
            self._bump(f"rejected.{why}", 1)

    def _bump(self, name: str, n: int) -> None:
        self._db.execute(
            "INSERT INTO counters (name, n) VALUES (?, ?)"
            " ON CONFLICT (name) DO UPDATE SET n = n + excluded.n",
            (name, n),
        )

    # ----- the scheduler's side --------------------------------------------------------------
    def pending_by_company(self) -> Pending:
        """One item per company with pending events: the set of its streams to sync."""
        pending = Pending()
        with self._lock:
            self._db.execute("BEGIN")
            try:
                (pending.watermark,) = self._db.execute(
                    "SELECT COALESCE(MAX(seq), 0) FROM events"
                ).fetchone()
                for realm, stream in self._db.execute(
                    "SELECT realm, stream FROM events WHERE status = 'pending'"
                    " GROUP BY realm, stream ORDER BY realm, stream"
                ):
                    pending.setdefault(realm, set()).add(stream)
            finally:
                self._db.execute("COMMIT")
        return pending

    def mark_synced(
        self,
        realm: str,
        streams: Iterable[str] | None = None,
        *,
        up_to: int | None = None,
        now: float | None = None,
    ) -> int:
        """Close a company's pending events (of ``streams``, up to seq ``up_to``): how many."""
        now = time.time() if now is None else now
        sql = "UPDATE events SET status = 'synced', synced_at = ? WHERE status = 'pending'"
        sql += " AND realm = ?"
        args: list = [now, str(realm)]
        if up_to is not None:
            sql += " AND seq <= ?"
            args.append(int(up_to))
        if streams is not None:
            names = sorted(set(streams))
            sql += f" AND stream IN ({', '.join('?' * len(names))})"
            args.extend(names)
        with self._lock:
            return self._db.execute(sql, args).rowcount

    # ----- status -----------------------------------------------------------------------------
    def status(self, now: float | None = None) -> dict:
        now = time.time() if now is None else now
        with self._lock:
            self._db.execute("BEGIN")
            try:
                counts = dict(
                    self._db.execute("SELECT status, COUNT(*) FROM events GROUP BY status")
                )
                counters = dict(self._db.execute("SELECT name, n FROM counters"))
                (oldest,) = self._db.execute(
                    "SELECT MIN(received_at) FROM events WHERE status = 'pending'"
                ).fetchone()
                companies: dict[str, dict[str, int]] = {}
                for realm, status, n in self._db.execute(
                    "SELECT realm, status, COUNT(*) FROM events"
                    " WHERE status IN ('pending', 'synced') GROUP BY realm, status"
                    " ORDER BY realm"
                ):
                    companies.setdefault(realm, {"pending": 0, "synced": 0})[status] = n
            finally:
                self._db.execute("COMMIT")
        return {
            "received": sum(counts.values()),
            "duplicates": counters.get("duplicates", 0),
            "pending": counts.get("pending", 0),
            "synced": counts.get("synced", 0),
            "ignored": counts.get("ignored", 0),
            "rejected": {why: counters.get(f"rejected.{why}", 0) for why in REJECTIONS},
            "oldest_pending_age_s": round(max(0.0, now - oldest), 3) if oldest else 0.0,
            "companies": companies,
        }


def open_store(store_url: str, registry: CompanyRegistry | None = None) -> EventStore:
    """The store a ``store_url`` names: a SQLite path or ``sqlite:///path``."""
    if store_url.startswith(("postgres://", "postgresql://")):
        raise ValueError(
            "store_url: a Postgres store is not built yet; use a SQLite path "
            "(e.g. quickbooks-webhooks.sqlite3) for now"
        )
    path = store_url.removeprefix("sqlite:///") if store_url.startswith("sqlite:") else store_url
    return EventStore(path, registry)
