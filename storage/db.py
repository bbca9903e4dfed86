"""The database: connections, transactions and migrations, on SQLite or PostgreSQL.

Repositories see one backend-neutral ``Connection``: ``execute`` (a ``Result`` with
``rowcount`` and, awaited in ``async with``, its rows), ``executemany``, and the module
functions ``fetch_all`` / ``fetch_one``. SQL is written once with ``?`` placeholders and
portable syntax (``ON CONFLICT``, ``RETURNING``); the PostgreSQL connection turns the
placeholders into psycopg's, loads booleans as 0/1 and whole numerics as ``int`` like
SQLite does, and the few dialect differences a repository cannot avoid are asked of
``conn.dialect`` here in ``storage/`` only.

**SQLite** (``sqlite:///PATH``, the default): one write connection, guarded by an
asyncio lock so that a transaction owns it until it ends; a small pool of read
connections for queries outside transactions (WAL lets them read the last commit while
a write is under way). A reader belongs to one task at a time: SQLite gives every
statement on a connection the snapshot of a statement still open there, so one shared
reader used by many tasks at once could go on returning an old snapshot for as long as
their statements overlapped — a handler would then not see the step its own previous
update had just committed. Every statement is a hop to the connection's thread and
back, so repositories read with ``fetch_one`` / ``fetch_all`` (one hop: the statement
and its rows together) rather than a cursor (three hops: execute, fetch, close).

**PostgreSQL** (``postgresql://…``, psycopg 3): the same shape — one write connection
per process, a pool of autocommit read connections. What SQLite's single writer gave
for free is made explicit: every write transaction first takes the deployment's *writer*
advisory lock (``pg_advisory_xact_lock``, released by COMMIT or ROLLBACK), so the write
transactions of every process run one at a time exactly as ``BEGIN IMMEDIATE`` makes
them on SQLite, and a read-modify-write in a service never interleaves with another
process's. Reads run in parallel on the pool. Uniqueness is the tables' UNIQUE
constraints, as on SQLite. Other advisory locks (the scheduler's leader, a chat's
claim) are session locks taken by the runtime through ``Database.session_lock``. Lock
keys are scoped by the schema (``current_schema()``), so deployments sharing one
PostgreSQL database in different schemas never block each other.

Repositories take a connection and never commit: services decide where a unit of work
begins and ends with ``Database.transaction()``, which is ``BEGIN IMMEDIATE`` (SQLite)
or ``BEGIN`` + the writer lock (PostgreSQL) on the outside and a ``SAVEPOINT`` when
nested.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import itertools
import logging
import sqlite3
from collections.abc import AsyncIterator, Awaitable, Generator, Iterable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import aiosqlite

from storage.migrations import MIGRATIONS, Migration

log = logging.getLogger(__name__)

# Read connections: enough for the reads of concurrent updates to rarely wait.
READERS = 4

SQLITE = "sqlite"
POSTGRESQL = "postgresql"

# Advisory lock keys (the second half of the two-key form; the first is the schema's).
WRITER_LOCK = 1
SCHEDULER_LOCK = 2


def is_postgres_url(target: str | Path) -> bool:
    return isinstance(target, str) and target.split("://", 1)[0] in ("postgresql", "postgres")


def sqlite_path(target: str | Path) -> Path:
    """The file of ``sqlite:///PATH`` (or of a plain path)."""
    if isinstance(target, Path):
        return target
    if target.startswith("sqlite://"):
        parts = urlsplit(target)
        return Path(unquote(parts.path if not parts.netloc else f"/{parts.netloc}{parts.path}"))
    return Path(target)


def redact_url(url: str) -> str:
    """A database URL fit for logs and messages: the password left out."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
    return parts._replace(netloc=netloc).geturl()


# ---------------------------------------------------------------------- connections


class Result:
    """What ``execute`` gives: the rows changed and, for a query, its rows."""

    __slots__ = ("_cursor", "_rows", "lastrowid", "rowcount")

    def __init__(
        self, rowcount: int, lastrowid: int | None, rows: list[Any] | None, cursor: Any = None
    ) -> None:
        self.rowcount = rowcount
        self.lastrowid = lastrowid
        self._rows = rows
        self._cursor = cursor

    async def fetchall(self) -> list[Any]:
        if self._cursor is not None:
            return list(await self._cursor.fetchall())
        rows, self._rows = self._rows or [], []
        return rows

    async def fetchone(self) -> Any:
        if self._cursor is not None:
            return await self._cursor.fetchone()
        if not self._rows:
            return None
        return self._rows.pop(0)


class _Pending:
    """``conn.execute(...)``: awaited, the ``Result``; or ``async with … as result``."""

    __slots__ = ("_coroutine",)

    def __init__(self, coroutine: Awaitable[Result]) -> None:
        self._coroutine = coroutine

    def __await__(self) -> Generator[Any, None, Result]:
        return self._coroutine.__await__()

    async def __aenter__(self) -> Result:
        return await self._coroutine

    async def __aexit__(self, *exc: object) -> None:
        return None


class Connection:
    """One database connection as repositories see it, on either backend."""

    dialect: str = SQLITE

    def execute(self, sql: str, parameters: Sequence[Any] = ()) -> _Pending:
        return _Pending(self._execute(sql, parameters))

    async def _execute(self, sql: str, parameters: Sequence[Any]) -> Result:
        raise NotImplementedError

    async def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        raise NotImplementedError

    async def fetch_all(self, sql: str, parameters: Sequence[Any] = ()) -> list[Any]:
        raise NotImplementedError

    async def execute_fetchall(self, sql: str, parameters: Sequence[Any] = ()) -> list[Any]:
        """``fetch_all`` under aiosqlite's name."""
        return await self.fetch_all(sql, parameters)

    async def close(self) -> None:
        raise NotImplementedError

    @asynccontextmanager
    async def atomic(self) -> AsyncIterator[None]:
        """A statement (or a few) that may fail without spoiling the transaction around
        it: SQLite undoes just the failed statement; PostgreSQL aborts the whole
        transaction, so there the block runs inside a savepoint."""
        yield


class SqliteConnection(Connection):
    dialect = SQLITE

    def __init__(self, raw: aiosqlite.Connection) -> None:
        self.raw = raw

    async def _execute(self, sql: str, parameters: Sequence[Any]) -> Result:
        cursor = await self.raw.execute(sql, parameters)
        return Result(cursor.rowcount, cursor.lastrowid, None, cursor)

    async def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        await self.raw.executemany(sql, rows)

    async def fetch_all(self, sql: str, parameters: Sequence[Any] = ()) -> list[Any]:
        return list(await self.raw.execute_fetchall(sql, parameters))

    @property
    def in_transaction(self) -> bool:
        return self.raw.in_transaction

    async def set_trace_callback(self, callback: Any) -> None:
        await self.raw.set_trace_callback(callback)

    async def close(self) -> None:
        await self.raw.close()


def _value_errors() -> tuple[type[BaseException], ...]:
    """The database errors that say a value cannot be stored (text it cannot encode, a
    number out of its range, a constraint), on either backend."""
    errors: list[type[BaseException]] = [
        sqlite3.InterfaceError,
        sqlite3.ProgrammingError,
        sqlite3.IntegrityError,
        sqlite3.DataError,
    ]
    try:
        import psycopg
    except ImportError:  # pragma: no cover - psycopg is a dependency
        pass
    else:
        errors += [psycopg.DataError, psycopg.IntegrityError, psycopg.ProgrammingError]
    return tuple(errors)


VALUE_ERRORS = _value_errors()


async def fetch_all(conn: Connection, sql: str, parameters: Sequence[Any] = ()) -> list[Any]:
    """Run a query and return all its rows (on SQLite in one hop to the connection's
    thread). A row reads by position and by column name, and ``dict(row)`` works."""
    return await conn.fetch_all(sql, parameters)


async def fetch_one(conn: Connection, sql: str, parameters: Sequence[Any] = ()) -> Any:
    """The first row of a query (meant for queries of at most a few rows), or None."""
    rows = await conn.fetch_all(sql, parameters)
    return rows[0] if rows else None


async def insert_id(conn: Connection, sql: str, parameters: Sequence[Any] = ()) -> int:
    """Run an INSERT and return the new row's id (``RETURNING id``, on both backends)."""
    rows = await conn.fetch_all(f"{sql} RETURNING id", parameters)
    return int(rows[0][0])


async def table_names(conn: Connection) -> list[str]:
    """The database's tables (of the current schema on PostgreSQL)."""
    if conn.dialect == POSTGRESQL:
        sql = (
            "SELECT table_name FROM information_schema.tables "
            "WHERE table_schema = current_schema() AND table_type = 'BASE TABLE' ORDER BY 1"
        )
    else:
        sql = (
            "SELECT name FROM sqlite_master WHERE type = 'table' "
            "AND name NOT LIKE 'sqlite_%' ORDER BY 1"
        )
    return [row[0] for row in await conn.fetch_all(sql)]


def only_digits(conn: Connection, expression: str) -> str:
    """SQL true when ``expression`` (text) has no character other than 0-9."""
    if conn.dialect == POSTGRESQL:
        return f"{expression} !~ '[^0-9]'"
    return f"{expression} NOT GLOB '*[^0-9]*'"


class SessionLock:
    """An advisory lock held (or not) by ``Database.session_lock``."""

    def __init__(self, taken: bool, conn: Connection | None) -> None:
        self.taken = taken
        self._conn = conn

    def __bool__(self) -> bool:
        return self.taken

    async def check(self) -> None:
        """Raise if the lock's connection (and so the lock) is lost."""
        if self._conn is not None:
            await self._conn.fetch_all("SELECT 1")


@dataclass(frozen=True)
class MigrationReport:
    before: int
    after: int
    applied: tuple[str, ...]


# ---------------------------------------------------------------------- databases


class Database:
    """An open gridbot database: ``await Database.open(target)`` or ``async with``.

    ``target`` is ``sqlite:///PATH``, a path, or ``postgresql://…``.
    """

    dialect: str = SQLITE
    url: str

    def __init__(self, writer: Connection, readers: list[Connection]) -> None:
        self._writer = writer
        self._all_readers = readers
        self._readers: asyncio.Queue[Connection] = asyncio.Queue()
        for reader in readers:
            self._readers.put_nowait(reader)
        self._reading: contextvars.ContextVar[Connection | None] = contextvars.ContextVar(
            f"gridbot_read_{id(self)}", default=None
        )
        self._lock = asyncio.Lock()
        self._savepoints = itertools.count(1)
        self._active: contextvars.ContextVar[bool] = contextvars.ContextVar(
            f"gridbot_tx_{id(self)}", default=False
        )
        # Set when BEGIN, COMMIT or ROLLBACK was cancelled or failed: the writer may be
        # left inside a transaction until ``_settle`` has run.
        self._unsettled = False
        self._settling: asyncio.Task[None] | None = None
        self._closed = False

    @staticmethod
    async def open(target: Path | str, *, busy_timeout_ms: int = 5000) -> Database:
        """Open (creating if needed) the database: a SQLite file or a PostgreSQL URL."""
        if is_postgres_url(target):
            from storage.postgres import PostgresDatabase

            return await PostgresDatabase.connect(str(target))
        return await SqliteDatabase.connect(sqlite_path(target), busy_timeout_ms)

    async def close(self) -> None:
        if self._settling is not None and not self._settling.done():
            self._settling.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._settling
        async with self._lock:
            self._closed = True
            for reader in self._all_readers:
                await reader.close()
            await self._writer.close()

    async def __aenter__(self) -> Database:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    def in_transaction(self) -> bool:
        """Whether the current task is inside ``transaction()``."""
        return self._active.get()

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Connection]:
        """A unit of work: commits on success, rolls back on any exception.

        Nested calls in the same task become savepoints, so a service can call another
        service inside its own transaction and a failure in the inner one rolls back only
        its own part.
        """
        if self._active.get():
            name = f"sp{next(self._savepoints)}"
            await self._writer.execute(f"SAVEPOINT {name}")
            try:
                yield self._writer
            except BaseException:
                await self._writer.execute(f"ROLLBACK TO SAVEPOINT {name}")
                await self._writer.execute(f"RELEASE SAVEPOINT {name}")
                raise
            await self._writer.execute(f"RELEASE SAVEPOINT {name}")
            return
        async with self._lock:
            token = self._active.set(True)
            try:
                if self._unsettled:
                    await self._settle()
                await self._begin()
                try:
                    yield self._writer
                except BaseException:
                    # SQLite may have rolled back already (a full disk, an I/O error)
                    if self._writer_in_transaction():
                        await self._control("ROLLBACK")
                    raise
                await self._control("COMMIT")
            finally:
                self._active.reset(token)

    async def _begin(self) -> None:
        raise NotImplementedError

    def _writer_in_transaction(self) -> bool:
        raise NotImplementedError

    async def _control(self, statement: str) -> None:
        """Run BEGIN, COMMIT or ROLLBACK on the writer. If waiting for it is cancelled (the
        polling watchdog, shutdown) or it fails, the statement may still run in the
        connection's thread afterwards — a BEGIN that waited on another process's lock
        begins a transaction nobody will end — so the writer is settled before its next
        transaction, and as soon as the lock is free."""
        try:
            await self._writer.execute(statement)
        except BaseException:
            self._unsettled = True
            if self._settling is None or self._settling.done():
                self._settling = asyncio.create_task(
                    self._settle_when_free(), name="gridbot-db-settle"
                )
            raise

    async def _settle_when_free(self) -> None:
        try:
            async with self._lock:
                if self._unsettled and not self._closed:
                    await self._settle()
        except Exception:  # the next transaction settles it
            log.exception("db.settle_failed")

    async def _settle(self) -> None:
        raise NotImplementedError

    @asynccontextmanager
    async def read(self) -> AsyncIterator[Connection]:
        """A connection for reads; inside a transaction, the transaction's own connection;
        inside another read of the same task, that read's connection."""
        if self._active.get():
            yield self._writer
            return
        held = self._reading.get()
        if held is not None:
            yield held
            return
        reader = await self._readers.get()
        token = self._reading.set(reader)
        try:
            yield reader
        finally:
            self._reading.reset(token)
            self._readers.put_nowait(reader)

    async def schema_version(self) -> int:
        raise NotImplementedError

    def _migrations(self) -> Sequence[Migration]:
        return MIGRATIONS

    async def migrate(self) -> MigrationReport:
        """Apply every migration newer than the database, each in its own transaction."""
        before = await self.schema_version()
        migrations = self._migrations()
        latest = migrations[-1].version if migrations else 0
        if before > latest:
            raise RuntimeError(
                f"database schema {before} is newer than this gridbot knows ({latest}); "
                "upgrade gridbot"
            )
        applied: list[str] = []
        for migration in migrations:
            if migration.version <= before:
                continue
            async with self.transaction() as conn:
                # another process may have applied it while this one waited for the lock
                if await self._version_in(conn) >= migration.version:
                    continue
                await self._apply(conn, migration)
            applied.append(f"{migration.version:04d}_{migration.name}")
            log.info("db.migrated version=%s name=%s", migration.version, migration.name)
        return MigrationReport(before, await self.schema_version(), tuple(applied))

    async def _version_in(self, conn: Connection) -> int:
        raise NotImplementedError

    async def _apply(self, conn: Connection, migration: Migration) -> None:
        raise NotImplementedError

    @asynccontextmanager
    async def session_lock(self, key: int, *, wait: bool) -> AsyncIterator[SessionLock]:
        """Hold the deployment's advisory lock ``key`` across processes for the block;
        yields a ``SessionLock``, true if it was taken (``wait=False`` gives up at once).
        On SQLite one process owns the file's writer anyway: the lock is always taken."""
        yield SessionLock(True, None)

    @property
    def shared(self) -> bool:
        """Whether several processes may share this database (PostgreSQL): then a chat's
        updates are claimed with ``chat_lock`` across them."""
        return False

    @asynccontextmanager
    async def chat_lock(self, chat_id: int) -> AsyncIterator[None]:
        """Hold one chat's lock across the deployment's processes for the block (waiting
        for it): one process at a time handles a chat. On SQLite (one process) a no-op."""
        yield


class SqliteDatabase(Database):
    dialect = SQLITE

    def __init__(self, path: Path, writer: SqliteConnection, readers: list[Connection]) -> None:
        super().__init__(writer, readers)
        self.path = path
        self.url = f"sqlite:///{path}"
        self._sqlite_writer = writer

    @classmethod
    async def connect(cls, path: Path, busy_timeout_ms: int = 5000) -> SqliteDatabase:
        """Open (creating if needed) the database file and set the connection pragmas."""
        path.parent.mkdir(parents=True, exist_ok=True)
        writer = await _connect(path, busy_timeout_ms)
        await _pragma(writer, "journal_mode=WAL")
        readers: list[Connection] = []
        try:
            for _ in range(READERS):
                reader = await _connect(path, busy_timeout_ms)
                readers.append(reader)
                await _pragma(reader, "query_only=ON")
        except BaseException:
            for reader in readers:
                await reader.close()
            await writer.close()
            raise
        return cls(path, writer, readers)

    async def _begin(self) -> None:
        await self._control("BEGIN IMMEDIATE")

    def _writer_in_transaction(self) -> bool:
        return self._sqlite_writer.in_transaction

    async def _settle(self) -> None:
        """With the lock held: wait until every statement queued on the writer has run
        (its thread runs them in order), then roll back a transaction left open."""
        await fetch_all(self._writer, "SELECT 1")
        if self._sqlite_writer.in_transaction:
            await self._writer.execute("ROLLBACK")
            log.warning("db.abandoned_transaction_rolled_back")
        self._unsettled = False

    async def schema_version(self) -> int:
        return await self._version_in(self._writer)

    async def _version_in(self, conn: Connection) -> int:
        row = await fetch_one(conn, "PRAGMA user_version")
        return int(row[0]) if row else 0

    async def _apply(self, conn: Connection, migration: Migration) -> None:
        for statement in migration.statements:
            await conn.execute(statement)
        await conn.execute(
            "INSERT INTO schema_migration (version, name, applied_at) "
            "VALUES (?, ?, strftime('%Y-%m-%dT%H:%M:%SZ', 'now'))",
            (migration.version, migration.name),
        )
        await conn.execute(f"PRAGMA user_version={int(migration.version)}")


async def _connect(path: Path, busy_timeout_ms: int) -> SqliteConnection:
    raw = await aiosqlite.connect(path, isolation_level=None)
    raw.row_factory = sqlite3.Row
    conn = SqliteConnection(raw)
    await _pragma(conn, f"busy_timeout={int(busy_timeout_ms)}")
    await _pragma(conn, "foreign_keys=ON")
    await _pragma(conn, "synchronous=FULL")
    return conn


async def _pragma(conn: Connection, pragma: str) -> None:
    """Run a PRAGMA and read its answer, so no statement is left holding a lock."""
    await fetch_all(conn, f"PRAGMA {pragma}")
