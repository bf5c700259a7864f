"""The orchestrator's own durable store: connected companies, their state, leases, usage.

One SQLite file (``<home>/orchestrator.sqlite``) on one machine, or a PostgreSQL database
(``QBO_ORCH_STORE_URL=postgresql://...``) shared by runs on many: the same tables and SQL
(``?`` placeholders become psycopg's ``%s``). A shard's run reads and writes each of its
companies' rows as its own: the store knows companies, never shards.
"""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
import typing as t
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from tap_quickbooks.company import AUTH_STATE_KEY

SCHEMA = """
create table if not exists companies (
    realm_id text primary key,
    refresh_token text not null,  -- the first token only: the newest lives in the token file
    added_at text not null  -- or last re-authorized (added again): older tokens are not kept
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
    updated_at text not null  -- when the tap received it (its token file says)
);
create table if not exists finished (
    run_id text not null,  -- the root run: its retries skip the companies it finished
    realm_id text not null,
    primary key (run_id, realm_id)
);
create table if not exists leases (
    realm_id text primary key,
    run_id text not null,
    until double precision not null  -- epoch seconds (PostgreSQL's real is 4 bytes)
);
create table if not exists beats (
    run_id text primary key,
    -- epoch seconds: past it, the run's worker is dead (below 0: minus when found dead)
    until double precision not null
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
    return _time_text(dt.datetime.now(dt.UTC))


def _time_text(when: dt.datetime) -> str:
    # Every time in the store is UTC ISO 8601, so that times compare as text (bytewise: see
    # Store._bytewise). Rows written before microseconds sort first within their second.
    return when.astimezone(dt.UTC).isoformat(timespec="microseconds")


# Leases and beats are judged by the store's clock, never a machine's: machines sharing a
# PostgreSQL store may disagree by minutes, which would end a live run's lease (two runs on
# one company's token chain) or take a live run for dead. Epoch seconds, as `until` holds.
POSTGRES_CLOCK = "extract(epoch from now())::double precision"
SQLITE_CLOCK = "((julianday('now') - 2440587.5) * 86400.0)"


_SAME_CLOCK = dt.timedelta(seconds=1)

LIBPQ_TIMEOUTS = {
    "connect_timeout": 10,
    "keepalives": 1,
    "keepalives_idle": 10,
    "keepalives_interval": 5,
    "keepalives_count": 3,
    "tcp_user_timeout": 30_000,  # ms that sent data may go unacknowledged
}


def is_postgres(url: str | Path) -> bool:
    return str(url).startswith(("postgres://", "postgresql://"))


class _Postgres:
    """A psycopg connection that takes the SQLite SQL of this module."""

    def __init__(self, url: str) -> None:
        import psycopg  # noqa: PLC0415 - only a Postgres store needs it
        from psycopg.conninfo import conninfo_to_dict  # noqa: PLC0415

        # A call cut off by the network fails within about half a minute, not the kernel's
        # quarter of an hour; a URL's own settings win.
        options = {**LIBPQ_TIMEOUTS, **conninfo_to_dict(url)}
        try:
            self._db = psycopg.connect(autocommit=True, **options)
        except psycopg.Error as exc:
            # The message names host and database, never the password (psycopg hides it).
            raise ValueError(
                f"The orchestrator's store (QBO_ORCH_STORE_URL) cannot be reached: "
                f"{str(exc).strip().splitlines()[0]}"
            ) from None

    def execute(self, sql: str, args: tuple = ()):
        return self._db.execute(sql.replace("?", "%s"), args)

    def executemany(self, sql: str, rows: list[tuple]) -> None:
        with self._db.cursor() as cur:
            cur.executemany(sql.replace("?", "%s"), rows)

    def close(self) -> None:
        self._db.close()


class Store:
    """Registry, state, tokens, leases and usage: a SQLite file (WAL: runs in parallel
    processes) or a PostgreSQL URL (runs on many machines)."""

    def __init__(self, path: Path | str) -> None:
        self.postgres = is_postgres(path)
        self._clock = POSTGRES_CLOCK if self.postgres else SQLITE_CLOCK
        # Text compared byte by byte: a PostgreSQL database's collation may not (SQLite's does).
        self._bytewise = ' collate "C"' if self.postgres else ""
        self.path: Path | str = str(path) if self.postgres else Path(path)
        if isinstance(self.path, Path):
            self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        with self._db() as db:
            if not self.postgres:
                db.execute("pragma journal_mode=wal")
            for statement in SCHEMA.split(";"):
                if statement.strip():
                    db.execute(statement)
        if isinstance(self.path, Path):
            # Refresh tokens are in it: owner only.
            self.path.chmod(0o600)

    def __repr__(self) -> str:  # a URL may hold a password
        return "Store(postgresql)" if self.postgres else f"Store({self.path})"

    @contextmanager
    def _db(self) -> Iterator[t.Any]:
        if self.postgres:
            db: t.Any = _Postgres(str(self.path))
        else:
            db = sqlite3.connect(self.path, timeout=60, isolation_level=None)
        try:
            yield db
        finally:
            db.close()

    def _store_now(self, db: t.Any) -> dt.datetime:
        return dt.datetime.fromtimestamp(db.execute(f"select {self._clock}").fetchone()[0], dt.UTC)

    def _ahead(self, db: t.Any) -> tuple[dt.datetime, dt.timedelta]:
        """The store's now, and how far its clock is ahead of this machine's (under a second
        is the round trip, or SQLite's milliseconds: none)."""
        now = self._store_now(db)
        ahead = now - dt.datetime.now(dt.UTC)
        return now, ahead if abs(ahead) >= _SAME_CLOCK else dt.timedelta()

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
            # A company added again was re-authorized: its new token, not an older rotation,
            # and no token received before now (the store's) is kept for it (save_token).
            db.execute(
                "insert into companies values (?, ?, ?) on conflict (realm_id) do update set "
                "refresh_token = excluded.refresh_token, added_at = excluded.added_at",
                (realm_id, refresh_token, _time_text(self._store_now(db))),
            )
            db.execute("delete from tokens where realm_id = ?", (realm_id,))
            # Nor its state's sealed copy of the chain it replaced (a state kept before the
            # runner took those out; see runner.keep_sealed).
            row = db.execute("select state from state where realm_id = ?", (realm_id,)).fetchone()
            if row and AUTH_STATE_KEY in (state := json.loads(row[0])):
                del state[AUTH_STATE_KEY]
                db.execute(
                    "update state set state = ? where realm_id = ?", (json.dumps(state), realm_id)
                )

    def remove_company(self, realm_id: str) -> None:
        with self._db() as db:
            db.execute("delete from companies where realm_id = ?", (realm_id,))

    # -- state ---------------------------------------------------------------------------------

    def state(self, realm_id: str) -> dict:
        with self._db() as db:
            row = db.execute("select state from state where realm_id = ?", (realm_id,)).fetchone()
        return json.loads(row[0]) if row else {}

    def save_state(self, realm_id: str, state: dict, lease: str | None = None) -> bool:
        """Keep the company's state; with ``lease`` (a run's id), only while that run holds
        the company (``take_lease``). False: not kept, the company having been handed to
        another run (its run found dead, say), whose state is newer."""
        row = (realm_id, json.dumps(state), _now())
        held = ""
        if lease is not None:
            held = " where exists (select 1 from leases where realm_id = ? and run_id = ?)"
            row += (realm_id, lease)
        with self._db() as db:
            kept = db.execute(
                f"insert into state select ?, ?, ?{held or ' where true'} on conflict (realm_id) "
                "do update set state = excluded.state, updated_at = excluded.updated_at "
                "returning realm_id",
                row,
            ).fetchone()
        return kept is not None

    # -- the newest refresh token (the shard's token file is copied here after each run) -----

    def token(self, realm_id: str) -> str | None:
        with self._db() as db:
            row = db.execute(
                "select refresh_token from tokens where realm_id = ?", (realm_id,)
            ).fetchone()
        return row[0] if row else None

    def newest_token(self, realm_id: str) -> tuple[str, dt.datetime] | None:
        """The company's newest refresh token and when it came, on this machine's clock: the
        last one kept (save_token), else the one it was added with. None: not registered."""
        with self._db() as db:
            row = db.execute(
                "select coalesce(t.refresh_token, c.refresh_token), coalesce(t.updated_at, "
                "c.added_at) from companies c left join tokens t on t.realm_id = c.realm_id "
                "where c.realm_id = ?",
                (realm_id,),
            ).fetchone()
            _, ahead = self._ahead(db)
        return (row[0], dt.datetime.fromisoformat(row[1]) - ahead) if row else None

    def save_token(
        self, realm_id: str, refresh_token: str, received: dt.datetime | None = None
    ) -> bool:
        """Keep a refresh token the tap ``received`` then (default: now), unless the store
        has one received later, or the company was re-authorized since. False: not kept.

        The newest wins, whichever run writes last: a run found dead that reaches the store
        again, or a machine whose token file holds a company's token of months ago (its run
        stopped before refreshing), must not put back a token Intuit is about to let die.
        ``received`` is by this machine's clock, and is moved onto the store's (which every
        machine shares) by how far the two are apart now: a machine a day ahead would
        otherwise hold back every later token for a day, and one a day behind would never
        have its tokens kept. No later than the store's now (the clock was set back since)."""
        c = self._bytewise
        with self._db() as db:
            now, ahead = self._ahead(db)
            when = _time_text(now if received is None else min(now, received + ahead))
            kept = db.execute(
                f"insert into tokens select ?, ?, ? where ?{c} >= coalesce((select added_at "
                "from companies where realm_id = ?), '') on conflict (realm_id) do update set "
                "refresh_token = excluded.refresh_token, updated_at = excluded.updated_at "
                f"where tokens.updated_at{c} <= excluded.updated_at{c} returning realm_id",
                (realm_id, refresh_token, when, when, realm_id),
            ).fetchone()
            if kept is not None:
                # PostgreSQL read added_at as the statement began: an `add` committed since
                # (it deletes the company's token, then this one lands) leaves no token of
                # before it either.
                kept = not db.execute(
                    f"delete from tokens where realm_id = ? and updated_at{c} < (select "
                    f"added_at{c} from companies where realm_id = ?) returning realm_id",
                    (realm_id, realm_id),
                ).fetchone()
        return bool(kept)

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
        with self._db() as db:
            # One statement, atomic in SQLite and PostgreSQL alike: taken unless another
            # run's lease is still running, by the store's clock.
            taken = db.execute(
                f"insert into leases values (?, ?, {self._clock} + ?) on conflict (realm_id) "
                "do update set run_id = excluded.run_id, until = excluded.until "
                f"where leases.run_id = excluded.run_id or leases.until <= {self._clock} "
                "returning run_id",
                (realm_id, run_id, seconds),
            ).fetchone()
            if taken:
                return None
            row = db.execute("select run_id from leases where realm_id = ?", (realm_id,))
            holder = row.fetchone()
        return holder[0] if holder else None

    def held(self, run_id: str, realm_ids: list[str]) -> set[str]:
        """Which of these companies the run still holds (no other run took them)."""
        with self._db() as db:
            rows = db.execute("select realm_id from leases where run_id = ?", (run_id,))
            return {row[0] for row in rows} & set(realm_ids)

    def release_lease(self, realm_id: str, run_id: str) -> None:
        with self._db() as db:
            db.execute("delete from leases where realm_id = ? and run_id = ?", (realm_id, run_id))

    def release_leases(self, run_id: str) -> None:
        """Every lease of a run found dead: its retry takes its companies at once."""
        with self._db() as db:
            db.execute("delete from leases where run_id = ?", (run_id,))

    # -- runs alive: a run's step beats while it works; one whose machine died stops -----------

    # A run found dead keeps its row, as ``until = -(when it was claimed)``: a step retry of
    # it (its process killed, the retry waiting longer than its beat) cannot beat it alive
    # again and so never takes leases the sensor is freeing for the run's retry.

    def beat(self, run_id: str, seconds: float) -> bool:
        """The run is alive for ``seconds`` more; False if it was found dead."""
        with self._db() as db:
            alive = db.execute(
                f"insert into beats values (?, {self._clock} + ?) on conflict (run_id) do update "
                "set until = excluded.until where beats.until >= 0 returning run_id",
                (run_id, seconds),
            ).fetchone()
            return alive is not None

    def renew_beat(self, run_id: str, seconds: float) -> bool:
        """Alive for ``seconds`` more; False if the run was found dead."""
        with self._db() as db:
            cursor = db.execute(
                f"update beats set until = {self._clock} + ? where run_id = ? and until >= 0",
                (seconds, run_id),
            )
            return cursor.rowcount > 0

    def claim_dead(self, run_id: str, ahead: float = 0) -> bool:
        """Marks dead a run whose last beat ran out, or that never beat (as if the store's
        clock were ``ahead`` seconds on); False if it is alive (it beat since). True again
        for a run already marked: a sensor stopped between marking and failing it goes on."""
        with self._db() as db:
            claimed = db.execute(
                f"insert into beats values (?, -{self._clock}) on conflict (run_id) do update "
                "set until = case when beats.until >= 0 then excluded.until else beats.until end "
                f"where beats.until <= {self._clock} + ? returning run_id",
                (run_id, ahead),
            ).fetchone()
            return claimed is not None

    def beats_left(self, run_ids: t.Iterable[str]) -> dict[str, float]:
        """The seconds each of these runs' last beat has left (0 or less: it ran out, or
        since it was found dead), for those that beat."""
        wanted = sorted(set(run_ids))
        if not wanted:
            return {}
        with self._db() as db:
            rows = db.execute(
                f"select run_id, case when until >= 0 then until - {self._clock} "
                f"else -until - {self._clock} end from beats "
                f"where run_id in ({', '.join('?' * len(wanted))})",
                tuple(wanted),
            )
            return {run_id: float(left) for run_id, left in rows}

    def forget_beats(self, after: float) -> None:
        """Rows of runs long ended: their last beat ran out (or they were found dead) over
        ``after`` seconds ago."""
        with self._db() as db:
            db.execute(f"delete from beats where abs(until) < {self._clock} - ?", (after,))

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
