"""The durable event store: every event once, by id, with its state pending, synced or ignored.

``store_url`` is a SQLite path (or ``sqlite:///path``) or a Postgres URL (``postgresql://``);
both hold the same two tables behind the same SQL. The interface is what a scheduler needs:
``pending_by_company()`` coalesces any number of events into one item per company (the set of
streams to sync), and ``mark_synced(realm, streams, up_to=...)`` closes only the events that
snapshot saw, so an event that arrives during the sync stays pending for the next run.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit

import psycopg

from .events import Event
from .registry import AnyCompany, CompanyRegistry

DEFAULT_STORE = "quickbooks-webhooks.sqlite3"

_COLUMNS = """
    event_id TEXT NOT NULL UNIQUE,
    realm TEXT NOT NULL,
    entity TEXT NOT NULL,
    entity_id TEXT NOT NULL,
    operation TEXT NOT NULL,
    occurred TEXT NOT NULL,
    stream TEXT,
    status TEXT NOT NULL,          -- pending | synced | ignored
    reason TEXT,                   -- why ignored: unknown_realm | unknown_entity | ...
    received_at DOUBLE PRECISION NOT NULL,
    synced_at DOUBLE PRECISION
"""
_TAIL = """
CREATE INDEX IF NOT EXISTS events_status_realm ON events (status, realm);
CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, n BIGINT NOT NULL);
"""
_SQLITE_SCHEMA = (
    f"CREATE TABLE IF NOT EXISTS events (seq INTEGER PRIMARY KEY AUTOINCREMENT,{_COLUMNS});{_TAIL}"
)
_POSTGRES_SCHEMA = (
    f"CREATE TABLE IF NOT EXISTS events (seq BIGSERIAL PRIMARY KEY,{_COLUMNS});{_TAIL}"
)
# Writers (every receiver process) and the scheduler's snapshot take this transaction lock in
# Postgres, so sequence numbers commit in order and a watermark never passes an uncommitted seq.
_PG_LOCK = 7_202_622

REJECTIONS = ("signature", "body", "size")


class Pending(dict):
    """``{realm: set of stream names}``, plus the ``watermark`` (last event seq) it was read at
    and ``latest`` (each company's newest pending seq: a key for one run per burst)."""

    watermark: int = 0
    latest: dict[str, int]


def is_postgres(store_url: str) -> bool:
    return str(store_url).startswith(("postgres://", "postgresql://"))


def safe_url(store_url: str) -> str:
    """The URL without its password, for messages."""
    if not is_postgres(store_url):
        return str(store_url)
    parts = urlsplit(store_url)
    if parts.password is None:
        return store_url
    netloc = parts.netloc.rsplit("@", 1)[1]
    return parts._replace(netloc=f"{parts.username}:***@{netloc}").geturl()


class EventStore:
    def __init__(self, path: str | Path, registry: CompanyRegistry | None = None) -> None:
        self.path = str(path)
        self.registry: CompanyRegistry = registry or AnyCompany()
        self.postgres = is_postgres(self.path)
        self._lock = threading.Lock()
        self._db = self._connect()

    def _connect(self):
        if self.postgres:
            try:
                db = psycopg.connect(self.path, autocommit=True, connect_timeout=10)
            except psycopg.Error as exc:
                reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc)
                raise ValueError(
                    f"cannot connect to the Postgres store_url {safe_url(self.path)}: {reason}"
                ) from None
            db.execute(f"SELECT pg_advisory_lock({_PG_LOCK})")  # one schema creator at a time
            try:
                db.execute(_POSTGRES_SCHEMA)
            finally:
                db.execute(f"SELECT pg_advisory_unlock({_PG_LOCK})")
            return db
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        # One connection behind a lock: writes are a few hundred microseconds in WAL mode.
        db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        db.execute("PRAGMA journal_mode=WAL")
        # NORMAL in WAL mode: a committed event survives a crash of this process.
        db.execute("PRAGMA synchronous=NORMAL")
        db.execute("PRAGMA busy_timeout=5000")
        db.executescript(_SQLITE_SCHEMA)
        return db

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def _x(self, sql: str, args: Iterable = ()):
        return self._db.execute(sql.replace("?", "%s") if self.postgres else sql, tuple(args))

    @contextmanager
    def _transaction(self, ordered: bool = False) -> Iterator[None]:
        """One transaction; ``ordered`` ones (writes, snapshots) are serialised across processes."""
        with self._lock:
            if self.postgres:
                if self._db.closed or self._db.broken:
                    self._db = self._connect()  # a restarted server: reconnect once
                with self._db.transaction():
                    if ordered:
                        self._x(f"SELECT pg_advisory_xact_lock({_PG_LOCK})")
                    yield
                return
            self._db.execute("BEGIN IMMEDIATE" if ordered else "BEGIN")
            try:
                yield
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

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
        with self._transaction(ordered=True):
            for row in rows:
                cur = self._x(
                    "INSERT INTO events (event_id, realm, entity, entity_id, operation, occurred,"
                    " stream, status, reason, received_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
                    " ON CONFLICT (event_id) DO NOTHING",
                    row,
                )
                new += cur.rowcount
            if len(rows) - new:
                self._bump("duplicates", len(rows) - new)
        return new, len(rows) - new

    def reject(self, why: str) -> None:
        """Count a refused delivery (signature, body or size)."""
        with self._transaction():
            self._bump(f"rejected.{why}", 1)

    def _bump(self, name: str, n: int) -> None:
        self._x(
            "INSERT INTO counters (name, n) VALUES (?, ?)"
            " ON CONFLICT (name) DO UPDATE SET n = counters.n + excluded.n",
            (name, n),
        )

    # ----- the scheduler's side --------------------------------------------------------------
    def pending_by_company(self) -> Pending:
        """One item per company with pending events: the set of its streams to sync."""
        pending = Pending()
        pending.latest = {}
        with self._transaction(ordered=True):
            (pending.watermark,) = self._x("SELECT COALESCE(MAX(seq), 0) FROM events").fetchone()
            for realm, stream, latest in self._x(
                "SELECT realm, stream, MAX(seq) FROM events WHERE status = 'pending'"
                " GROUP BY realm, stream ORDER BY realm, stream"
            ).fetchall():
                pending.setdefault(realm, set()).add(stream)
                pending.latest[realm] = max(pending.latest.get(realm, 0), int(latest))
        return pending

    def watermark(self) -> int:
        """The newest event's seq now: what a sync starting now will have covered."""
        with self._transaction(ordered=True):
            return int(self._x("SELECT COALESCE(MAX(seq), 0) FROM events").fetchone()[0])

    def mark_synced(
        self,
        realm: str,
        streams: Iterable[str] | None = None,
        *,
        up_to: int | None = None,
        now: float | None = None,
    ) -> int:
        """Close a company's pending events (of ``streams``, up to seq ``up_to``): how many."""
        return self._close(realm, "synced", streams=streams, up_to=up_to, now=now)

    def mark_ignored(
        self, realm: str, reason: str, streams: Iterable[str] | None = None, *, up_to=None
    ) -> int:
        """Pending events the scheduler will never sync (a company it does not know, a stream
        not selected), kept with the reason: how many."""
        return self._close(realm, "ignored", reason=reason, streams=streams, up_to=up_to)

    def _close(self, realm, status, *, reason=None, streams=None, up_to=None, now=None) -> int:
        now = time.time() if now is None else now
        sql = "UPDATE events SET status = ?, reason = ?, synced_at = ?"
        sql += " WHERE status = 'pending' AND realm = ?"
        args: list = [status, reason, now if status == "synced" else None, str(realm)]
        if up_to is not None:
            sql += " AND seq <= ?"
            args.append(int(up_to))
        if streams is not None:
            names = sorted(set(streams))
            if not names:
                return 0
            sql += f" AND stream IN ({', '.join('?' * len(names))})"
            args.extend(names)
        with self._transaction():
            return self._x(sql, args).rowcount

    # ----- status -----------------------------------------------------------------------------
    def status(self, now: float | None = None) -> dict:
        now = time.time() if now is None else now
        with self._transaction():
            counts = dict(self._x("SELECT status, COUNT(*) FROM events GROUP BY status").fetchall())
            counters = dict(self._x("SELECT name, n FROM counters").fetchall())
            (oldest,) = self._x(
                "SELECT MIN(received_at) FROM events WHERE status = 'pending'"
            ).fetchone()
            companies: dict[str, dict[str, int]] = {}
            for realm, status, n in self._x(
                "SELECT realm, status, COUNT(*) FROM events"
                " WHERE status IN ('pending', 'synced') GROUP BY realm, status ORDER BY realm"
            ).fetchall():
                companies.setdefault(realm, {"pending": 0, "synced": 0})[status] = int(n)
        return {
            "received": int(sum(counts.values())),
            "duplicates": int(counters.get("duplicates", 0)),
            "pending": int(counts.get("pending", 0)),
            "synced": int(counts.get("synced", 0)),
            "ignored": int(counts.get("ignored", 0)),
            "rejected": {why: int(counters.get(f"rejected.{why}", 0)) for why in REJECTIONS},
            "oldest_pending_age_s": round(max(0.0, now - oldest), 3) if oldest else 0.0,
            "companies": companies,
        }

    def events(self) -> list[tuple]:
        """Every event in arrival order: (event_id, realm, entity, entity_id, operation, stream,
        status), for tests and inspection."""
        with self._transaction():
            return [
                tuple(row)
                for row in self._x(
                    "SELECT event_id, realm, entity, entity_id, operation, stream, status"
                    " FROM events ORDER BY seq"
                ).fetchall()
            ]


def open_store(store_url: str, registry: CompanyRegistry | None = None) -> EventStore:
    """The store a ``store_url`` names: a SQLite path, ``sqlite:///path`` or a Postgres URL."""
    if is_postgres(store_url):
        return EventStore(store_url, registry)
    path = store_url.removeprefix("sqlite:///") if store_url.startswith("sqlite:") else store_url
    return EventStore(path, registry)
