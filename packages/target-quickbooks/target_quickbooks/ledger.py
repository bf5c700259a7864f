"""The ledger: a SQLite file that remembers, per company, stream and caller's key, which QBO
object holds the record, its SyncToken, the last requestid sent, and how it ended.

It is written *before* a write goes out (status ``pending``, with the requestid) and after its
answer (``written`` or ``rejected``), so a run that dies between the two leaves a trace the next
run resolves by looking the object up, never by writing blind. It also holds the reconciliation
reports and the newest refresh token (sealed with the client secret, as the tap seals it).
"""

from __future__ import annotations

import datetime as dt
import sqlite3
import threading
from dataclasses import dataclass
from pathlib import Path

PENDING, WRITTEN, REJECTED = "pending", "written", "rejected"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS records (
    realm_id TEXT NOT NULL, stream TEXT NOT NULL, key TEXT NOT NULL,
    qbo_id TEXT, sync_token TEXT, change_hash TEXT, requestid TEXT,
    status TEXT NOT NULL, message TEXT, updated_at TEXT NOT NULL,
    PRIMARY KEY (realm_id, stream, key)
);
CREATE TABLE IF NOT EXISTS reconciliation (
    run_at TEXT NOT NULL, realm_id TEXT NOT NULL, item_key TEXT NOT NULL, item_id TEXT,
    platform_qty TEXT, qbo_qty TEXT, difference TEXT, flagged INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS tokens (
    realm_id TEXT PRIMARY KEY, sealed_refresh_token TEXT NOT NULL, updated_at TEXT NOT NULL
);
"""


@dataclass
class Entry:
    key: str
    qbo_id: str | None
    sync_token: str | None
    change_hash: str | None
    requestid: str | None
    status: str
    message: str | None


def now_text() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


class Ledger:
    def __init__(self, path: str | Path) -> None:
        self.path = Path(path).expanduser()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.executescript(_SCHEMA)
        self._lock = threading.Lock()

    def close(self) -> None:
        self._db.close()

    def get(self, realm_id: str, stream: str, key: str) -> Entry | None:
        with self._lock:
            row = self._db.execute(
                "SELECT key, qbo_id, sync_token, change_hash, requestid, status, message "
                "FROM records WHERE realm_id = ? AND stream = ? AND key = ?",
                (realm_id, stream, key),
            ).fetchone()
        return Entry(*row) if row else None

    def put(self, realm_id: str, stream: str, entry: Entry) -> None:
        with self._lock:
            self._db.execute(
                "INSERT OR REPLACE INTO records VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    realm_id,
                    stream,
                    entry.key,
                    entry.qbo_id,
                    entry.sync_token,
                    entry.change_hash,
                    entry.requestid,
                    entry.status,
                    entry.message,
                    now_text(),
                ),
            )

    def entries(self, realm_id: str, status: str | None = None) -> list[tuple[str, Entry]]:
        sql = (
            "SELECT stream, key, qbo_id, sync_token, change_hash, requestid, status, message "
            "FROM records WHERE realm_id = ?"
        )
        args: tuple = (realm_id,)
        if status:
            sql += " AND status = ?"
            args += (status,)
        with self._lock:
            rows = self._db.execute(sql + " ORDER BY stream, key", args).fetchall()
        return [(row[0], Entry(*row[1:])) for row in rows]

    def add_reconciliation(self, realm_id: str, rows: list[dict]) -> None:
        run_at = now_text()
        with self._lock:
            self._db.executemany(
                "INSERT INTO reconciliation VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    (
                        run_at,
                        realm_id,
                        r["item"],
                        r["item_id"],
                        str(r["platform_qty"]),
                        None if r["qbo_qty"] is None else str(r["qbo_qty"]),
                        None if r["difference"] is None else str(r["difference"]),
                        int(r["flagged"]),
                    )
                    for r in rows
                ],
            )

    def sealed_token(self, realm_id: str) -> tuple[str, str] | None:
        with self._lock:
            row = self._db.execute(
                "SELECT sealed_refresh_token, updated_at FROM tokens WHERE realm_id = ?",
                (realm_id,),
            ).fetchone()
        return (row[0], row[1]) if row else None

    def keep_sealed_token(self, realm_id: str, sealed: str) -> None:
        with self._lock:
            self._db.execute(
                "INSERT OR REPLACE INTO tokens VALUES (?, ?, ?)", (realm_id, sealed, now_text())
            )
