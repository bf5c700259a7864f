"""The orchestrator's own durable store: connected companies, their state, leases, usage.

One SQLite file (``<home>/orchestrator.sqlite``) on one machine. Each table is small and keyed
by ``realm_id``, so a PostgreSQL implementation is the same SQL behind the same methods
(``CompanyRegistry`` is the interface the assets use); it is not built here because psycopg
is not in this project's environment. A shard's run reads and writes each of its companies'
rows as its own: the store knows companies, never shards.
"""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

SCHEMA = """
create table if not exists companies (
    realm_id text primary key,
    refresh_token text not null,  -- the first token only: the newest lives in the token file
    added_at text not null
);
create table if not exists state (
    realm_id text primary key,
    state text not null,
    updated_at text not null
);
create table if not exists usage (
    run_id text not null,
    realm_id text not null,
    month text not null,  -- Intuit meters per calendar month (UTC)
    metered integer not null,
    at text not null,
    primary key (run_id, realm_id)
);
create table if not exists tokens (
    realm_id text primary key,
    refresh_token text not null,  -- the newest a run left in its token file
    updated_at text not null
);
create table if not exists finished (
    run_id text not null,  -- the root run: its retries skip the companies it finished
    realm_id text not null,
    primary key (run_id, realm_id)
);
create table if not exists leases (
    realm_id text primary key,
    run_id text not null,
    until real not null
);
"""


@dataclass(frozen=True)
class Company:
    realm_id: str
    refresh_token: str

    def __repr__(self) -> str:  # the token never reaches a log
        return f"Company(realm_id={self.realm_id!r})"


class CompanyRegistry(Protocol):
    """Connected companies; a PostgreSQL table can implement it."""

    def companies(self) -> list[Company]: ...

    def company(self, realm_id: str) -> Company | None: ...

    def add_company(self, realm_id: str, refresh_token: str) -> None: ...

    def remove_company(self, realm_id: str) -> None: ...


def month_of(when: dt.datetime) -> str:
    return when.astimezone(dt.UTC).strftime("%Y-%m")


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


class Store:
    """Registry, state, leases and usage in one SQLite file (WAL: runs in parallel processes)."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        with self._db() as db:
            db.execute("pragma journal_mode=wal")
            db.executescript(SCHEMA)
        # Refresh tokens are in it: owner only.
        self.path.chmod(0o600)

    @contextmanager
    def _db(self) -> Iterator[sqlite3.Connection]:
        db = sqlite3.connect(self.path, timeout=60, isolation_level=None)
        try:
            yield db
        finally:
            db.close()

    # -- registry ------------------------------------------------------------------------------

    def companies(self) -> list[Company]:
        with self._db() as db:
            rows = db.execute("select realm_id, refresh_token from companies order by realm_id")
            return [Company(*row) for row in rows]

    def company(self, realm_id: str) -> Company | None:
        with self._db() as db:
            row = db.execute(
                "select realm_id, refresh_token from companies where realm_id = ?", (realm_id,)
            ).fetchone()
        return Company(*row) if row else None

    def add_company(self, realm_id: str, refresh_token: str) -> None:
        if not realm_id.strip() or not refresh_token.strip():
            raise ValueError("A company needs a realm_id and a refresh token.")
        with self._db() as db:
            db.execute(
                "insert into companies values (?, ?, ?) on conflict (realm_id) do update set "
                "refresh_token = excluded.refresh_token",
                (realm_id, refresh_token, _now()),
            )
            # A company added again was re-authorized: its new token, not an older rotation.
            db.execute("delete from tokens where realm_id = ?", (realm_id,))

    def remove_company(self, realm_id: str) -> None:
        with self._db() as db:
            db.execute("delete from companies where realm_id = ?", (realm_id,))

    # -- state ---------------------------------------------------------------------------------

    def state(self, realm_id: str) -> dict:
        with self._db() as db:
            row = db.execute("select state from state where realm_id = ?", (realm_id,)).fetchone()
        return json.loads(row[0]) if row else {}

    def save_state(self, realm_id: str, state: dict) -> None:
        with self._db() as db:
            db.execute(
                "insert into state values (?, ?, ?) on conflict (realm_id) do update set "
                "state = excluded.state, updated_at = excluded.updated_at",
                (realm_id, json.dumps(state), _now()),
            )

    # -- the newest refresh token (the shard's token file is copied here after each run) -----

    def token(self, realm_id: str) -> str | None:
        with self._db() as db:
            row = db.execute(
                "select refresh_token from tokens where realm_id = ?", (realm_id,)
            ).fetchone()
        return row[0] if row else None

    def save_token(self, realm_id: str, refresh_token: str) -> None:
        with self._db() as db:
            db.execute(
                "insert into tokens values (?, ?, ?) on conflict (realm_id) do update set "
                "refresh_token = excluded.refresh_token, updated_at = excluded.updated_at",
                (realm_id, refresh_token, _now()),
            )

    # -- what a run (and its retries) finished -------------------------------------------------

    def finished(self, run_id: str) -> set[str]:
        with self._db() as db:
            rows = db.execute("select realm_id from finished where run_id = ?", (run_id,))
            return {row[0] for row in rows}

    def mark_finished(self, run_id: str, realm_ids: list[str]) -> None:
        with self._db() as db:
            db.executemany(
                "insert into finished values (?, ?) on conflict do nothing",
                [(run_id, r) for r in realm_ids],
            )

    # -- one run per company -------------------------------------------------------------------

    def take_lease(self, realm_id: str, run_id: str, seconds: float) -> str | None:
        """Hold the company for this run; the run_id holding it instead, if another does.
        A lease ends when released or after ``seconds`` (a run killed without cleanup)."""
        now = time.time()
        with self._db() as db:
            db.execute("begin immediate")
            row = db.execute(
                "select run_id, until from leases where realm_id = ?", (realm_id,)
            ).fetchone()
            if row and row[0] != run_id and row[1] > now:
                db.execute("rollback")
                return row[0]
            db.execute(
                "insert into leases values (?, ?, ?) on conflict (realm_id) do update set "
                "run_id = excluded.run_id, until = excluded.until",
                (realm_id, run_id, now + seconds),
            )
            db.execute("commit")
        return None

    def release_lease(self, realm_id: str, run_id: str) -> None:
        with self._db() as db:
            db.execute("delete from leases where realm_id = ? and run_id = ?", (realm_id, run_id))

    # -- metered calls -------------------------------------------------------------------------

    def record_usage(self, run_id: str, realm_id: str, metered: int, when: dt.datetime) -> None:
        with self._db() as db:
            # A retried step adds to its run's count: every attempt spent its calls.
            db.execute(
                "insert into usage values (?, ?, ?, ?, ?) on conflict (run_id, realm_id) do "
                "update set metered = usage.metered + excluded.metered",
                (run_id, realm_id, month_of(when), metered, when.isoformat()),
            )

    def usage(self, month: str, realm_id: str | None = None) -> int:
        with self._db() as db:
            if realm_id is None:
                row = db.execute("select sum(metered) from usage where month = ?", (month,))
            else:
                row = db.execute(
                    "select sum(metered) from usage where month = ? and realm_id = ?",
                    (month, realm_id),
                )
            return int(row.fetchone()[0] or 0)

    def usage_by_company(self, month: str) -> dict[str, int]:
        with self._db() as db:
            rows = db.execute(
                "select realm_id, sum(metered) from usage where month = ? group by realm_id",
                (month,),
            )
            return {realm: int(n) for realm, n in rows}
