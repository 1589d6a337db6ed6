"""One database for the class: SQLite in a folder (one server), or PostgreSQL (many replicas).

``open_database()`` picks by the environment: ``FPE_DATABASE_URL`` (a ``postgresql://`` URL)
or a SQLite file under ``FPE_DATA_DIR`` (``./data``). Both offer the same three calls:

* ``db.read()``: a connection for reads;
* ``db.write()``: one transaction, committed whole or rolled back; writes queue up behind each
  other (SQLite: ``BEGIN IMMEDIATE``; PostgreSQL: a transaction-scoped advisory lock, so two
  replicas' writes queue the same way);
* ``conn.execute(sql, params) -> rows``, with ``?`` placeholders in both dialects (the
  PostgreSQL side passes them to psycopg as ``%s``: parameters are never spliced into SQL).

Migrations are numbered SQL files under ``migrations/<dialect>/``; the ones a database has not
seen run when it is opened, inside the write lock, so replicas starting together apply each
once. Every failure of the database itself becomes a ``StoreError`` whose text names no server
path or password: students read these messages.
"""

from __future__ import annotations

import os
import re
import sqlite3
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Protocol

DATA_DIR_ENV = "FPE_DATA_DIR"
DATABASE_URL_ENV = "FPE_DATABASE_URL"
DB_NAME = "networks.sqlite3"  # the name the shelf of networks always had
BUSY_TIMEOUT_S = 30.0  # how long a write waits for another session's write (SQLite)
CONNECT_TIMEOUT_S = 3  # PostgreSQL: how long a page waits for a database that has gone away
MIGRATIONS = Path(__file__).resolve().parent / "migrations"
RECONNECT_TIMEOUT_S = 15.0  # the pool's back-off after the database went away stays short
RETRY_AFTER_S = 3.0  # after the database failed to answer, calls fail fast for this long
_UNREACHABLE = (
    "the class's database cannot be reached; ask whoever runs the server to check "
    "it (nothing was changed)"
)
_WRITE_LOCK = 0x46504531  # "FPE1": the advisory lock every PostgreSQL write takes


class StoreError(ValueError):
    """The database itself failed (unreachable, busy for too long, disk full, damaged)."""


class Conn(Protocol):
    rowcount: int

    def execute(self, sql: str, params: Sequence[Any] = ()) -> list[tuple]: ...


class Database(Protocol):
    dialect: str  # "sqlite" or "postgresql"

    def read(self) -> Any: ...  # a context manager giving a Conn

    def write(self) -> Any: ...  # a context manager giving a Conn in one transaction

    def close(self) -> None: ...


def default_data_dir() -> Path:
    """``$FPE_DATA_DIR`` if set, else ``./data``."""
    return Path(os.environ.get(DATA_DIR_ENV) or "data")


def open_database(url: str | None = None, directory: str | os.PathLike | None = None) -> Database:
    """PostgreSQL when ``url`` (default ``$FPE_DATABASE_URL``) is set, else SQLite in
    ``directory`` (default ``$FPE_DATA_DIR`` or ``./data``); migrated to the newest schema."""
    url = url if url is not None else os.environ.get(DATABASE_URL_ENV) or None
    if url:
        return PostgresDatabase(url)
    return SQLiteDatabase(directory if directory is not None else default_data_dir())


def migrations(dialect: str) -> list[tuple[int, str, str]]:
    """(number, name, sql) of every migration for ``dialect``, in order."""
    found = []
    for path in sorted((MIGRATIONS / dialect).glob("*.sql")):
        number = int(path.name.split("_", 1)[0])
        found.append((number, path.stem, path.read_text()))
    return found


def _statements(sql: str) -> list[str]:
    """A migration's statements (they end with ';' at the end of a line; comments dropped)."""
    body = "\n".join(line for line in sql.splitlines() if not line.lstrip().startswith("--"))
    return [s.strip() for s in re.split(r";\s*$", body, flags=re.M) if s.strip()]


def _migrate(con: Conn, dialect: str) -> None:
    con.execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, "
        "name TEXT NOT NULL, applied_at DOUBLE PRECISION NOT NULL)"
    )
    done = {row[0] for row in con.execute("SELECT version FROM schema_migrations")}
    for number, name, sql in migrations(dialect):
        if number in done:
            continue
        for statement in _statements(sql):
            con.execute(statement)
        con.execute("INSERT INTO schema_migrations VALUES (?, ?, ?)", (number, name, time.time()))


# --- SQLite ----------------------------------------------------------------------------------


class _SQLiteConn:
    def __init__(self, con: sqlite3.Connection) -> None:
        self._con = con
        self.rowcount = 0

    def execute(self, sql: str, params: Sequence[Any] = ()) -> list[tuple]:
        cur = self._con.execute(sql, tuple(params))
        rows = cur.fetchall()
        self.rowcount = cur.rowcount
        return rows


class SQLiteDatabase:
    """One file, WAL mode; each call opens its own connection, so threads and processes share it."""

    dialect = "sqlite"

    def __init__(self, directory: str | os.PathLike) -> None:
        self.directory = Path(directory)
        try:
            # The server user's alone: students' code run as another user cannot read it.
            self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        except OSError as e:  # students read this: the server's paths stay in the log
            raise StoreError(
                "the folder for the class's saved networks cannot be created "
                f"({e.strerror}); ask whoever runs the server to check "
                f"{DATA_DIR_ENV}"
            ) from e
        self.path = self.directory / DB_NAME
        with self._connect() as con:
            # WAL: readers never block the one writer, and a crash mid-write leaves the last
            # committed state. The mode is stored in the file, so this only matters once.
            con.execute("PRAGMA journal_mode=WAL")
        with self.write() as con:
            _migrate(con, self.dialect)

    @contextmanager
    def _connect(self) -> Iterator[_SQLiteConn]:
        try:
            # isolation_level=None: BEGIN/COMMIT are written out in write()
            raw = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_S, isolation_level=None)
        except sqlite3.Error as e:
            raise StoreError(
                f"the class's saved networks cannot be opened ({e}); ask whoever "
                f"runs the server to check {DATA_DIR_ENV}"
            ) from e
        try:
            yield _SQLiteConn(raw)
        except sqlite3.Error as e:
            raise StoreError(
                f"the class's saved networks could not be read or written ({e}); "
                "nothing was changed, try again"
            ) from e
        finally:
            raw.close()

    def read(self):
        return self._connect()

    @contextmanager
    def write(self) -> Iterator[_SQLiteConn]:
        """One write transaction: taken at once (IMMEDIATE), committed whole or rolled back."""
        with self._connect() as con:
            con.execute("BEGIN IMMEDIATE")
            try:
                yield con
            except BaseException:
                con.execute("ROLLBACK")
                raise
            con.execute("COMMIT")

    def close(self) -> None:
        pass


# --- PostgreSQL ------------------------------------------------------------------------------


class _PostgresConn:
    def __init__(self, con: Any) -> None:
        self._con = con
        self.rowcount = 0

    def execute(self, sql: str, params: Sequence[Any] = ()) -> list[tuple]:
        # Our SQL holds no literal '?' or '%': every '?' is a parameter.
        cur = self._con.execute(sql.replace("?", "%s"), tuple(params))
        self.rowcount = cur.rowcount
        return cur.fetchall() if cur.description is not None else []


class PostgresDatabase:
    """A small connection pool per process; every replica of the app points at one server."""

    dialect = "postgresql"

    def __init__(self, url: str, *, pool_size: int = 8) -> None:
        import psycopg
        from psycopg_pool import ConnectionPool, PoolTimeout

        self._errors = (psycopg.Error,)
        self._down_until = 0.0
        self._lost = (psycopg.OperationalError, OSError)
        self._pool_errors = (PoolTimeout,)
        self._pool = ConnectionPool(
            url,
            min_size=1,
            max_size=pool_size,
            timeout=CONNECT_TIMEOUT_S + 1,
            kwargs={"autocommit": True, "connect_timeout": CONNECT_TIMEOUT_S},
            check=ConnectionPool.check_connection,
            open=False,
            name="fpe",
            reconnect_timeout=RECONNECT_TIMEOUT_S,
        )
        self._pool.open(wait=False)
        with self.write() as con:
            _migrate(con, self.dialect)

    @contextmanager
    def _connect(self) -> Iterator[Any]:
        # A database that has gone away costs the first caller the pool's timeout; the calls
        # of the next few seconds fail at once, so pages go on serving everyone alone.
        if time.monotonic() < self._down_until:
            raise StoreError(_UNREACHABLE)
        try:
            with self._pool.connection() as raw:
                yield raw
        except self._pool_errors as e:
            self._down_until = time.monotonic() + RETRY_AFTER_S
            raise StoreError(_UNREACHABLE) from e
        except self._lost as e:  # the server went away mid-call
            self._down_until = time.monotonic() + RETRY_AFTER_S
            raise StoreError(_UNREACHABLE) from e
        except self._errors as e:
            raise StoreError(
                f"the class's database failed ({type(e).__name__}); nothing was changed, try again"
            ) from e

    @contextmanager
    def read(self) -> Iterator[_PostgresConn]:
        with self._connect() as raw:
            yield _PostgresConn(raw)

    @contextmanager
    def write(self) -> Iterator[_PostgresConn]:
        with self._connect() as raw, raw.transaction():
            con = _PostgresConn(raw)
            con.execute("SELECT pg_advisory_xact_lock(?)", (_WRITE_LOCK,))
            yield con

    def close(self) -> None:
        self._pool.close()
