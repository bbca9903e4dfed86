"""The SQLite database: connections, pragmas, transactions and migrations.

One write connection, guarded by an asyncio lock so that a transaction owns it until it
ends; a small pool of read connections for queries outside transactions (WAL lets them
read the last commit while a write is under way). A reader belongs to one task at a
time: SQLite gives every statement on a connection the snapshot of a statement still
open there, so one shared reader used by many tasks at once could go on returning an
old snapshot for as long as their statements overlapped — a handler would then not
see the step its own previous update had just committed.

Every statement is a hop to the connection's thread and back, so repositories read with
``fetch_one`` / ``fetch_all`` (one hop: the statement and its rows together) rather than
a cursor (three hops: execute, fetch, close).

Repositories take a connection and never commit: services decide where a unit of work
begins and ends with ``Database.transaction()``, which is ``BEGIN IMMEDIATE`` on the
outside and a ``SAVEPOINT`` when nested.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import itertools
import logging
import sqlite3
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiosqlite

from storage.migrations import MIGRATIONS, Migration

log = logging.getLogger(__name__)

Connection = aiosqlite.Connection

# Read connections: enough for the reads of concurrent updates to rarely wait.
READERS = 4


async def fetch_all(
    conn: Connection, sql: str, parameters: Sequence[Any] = ()
) -> list[sqlite3.Row]:
    """Run a query and return all its rows, in one hop to the connection's thread."""
    return list(await conn.execute_fetchall(sql, parameters))


async def fetch_one(
    conn: Connection, sql: str, parameters: Sequence[Any] = ()
) -> sqlite3.Row | None:
    """The first row of a query (meant for queries of at most a few rows), or None."""
    rows = await conn.execute_fetchall(sql, parameters)
    return next(iter(rows), None)


@dataclass(frozen=True)
class MigrationReport:
    before: int
    after: int
    applied: tuple[str, ...]


class Database:
    """An open gridbot database. Use ``await Database.open(path)`` or ``async with``."""

    def __init__(self, path: Path, writer: Connection, readers: list[Connection]) -> None:
        self.path = path
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

    @classmethod
    async def open(cls, path: Path | str, *, busy_timeout_ms: int = 5000) -> Database:
        """Open (creating if needed) the database file and set the connection pragmas."""
        path = Path(path)
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
                await self._writer.execute(f"ROLLBACK TO {name}")
                await self._writer.execute(f"RELEASE {name}")
                raise
            await self._writer.execute(f"RELEASE {name}")
            return
        async with self._lock:
            token = self._active.set(True)
            try:
                if self._unsettled:
                    await self._settle()
                await self._control("BEGIN IMMEDIATE")
                try:
                    yield self._writer
                except BaseException:
                    # SQLite may have rolled back already (a full disk, an I/O error)
                    if self._writer.in_transaction:
                        await self._control("ROLLBACK")
                    raise
                await self._control("COMMIT")
            finally:
                self._active.reset(token)

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
        """With the lock held: wait until every statement queued on the writer has run
        (its thread runs them in order), then roll back a transaction left open."""
        await fetch_all(self._writer, "SELECT 1")
        if self._writer.in_transaction:
            await self._writer.execute("ROLLBACK")
            log.warning("db.abandoned_transaction_rolled_back")
        self._unsettled = False

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
        async with self._writer.execute("PRAGMA user_version") as cursor:
            row = await cursor.fetchone()
        return int(row[0]) if row else 0

    async def migrate(self) -> MigrationReport:
        """Apply every migration newer than the database, each in its own transaction."""
        before = await self.schema_version()
        latest = MIGRATIONS[-1].version if MIGRATIONS else 0
        if before > latest:
            raise RuntimeError(
                f"database schema {before} is newer than this gridbot knows ({latest}); "
                "upgrade gridbot"
            )
        applied: list[str] = []
        for migration in MIGRATIONS:
            if migration.version <= before:
                continue
            async with self.transaction() as conn:
                await _apply(conn, migration)
            applied.append(f"{migration.version:04d}_{migration.name}")
            log.info("db.migrated version=%s name=%s", migration.version, migration.name)
        return MigrationReport(before, await self.schema_version(), tuple(applied))


async def _connect(path: Path, busy_timeout_ms: int) -> Connection:
    conn = await aiosqlite.connect(path, isolation_level=None)
    conn.row_factory = sqlite3.Row
    await _pragma(conn, f"busy_timeout={int(busy_timeout_ms)}")
    await _pragma(conn, "foreign_keys=ON")
    await _pragma(conn, "synchronous=FULL")
    return conn


async def _pragma(conn: Connection, pragma: str) -> None:
    """Run a PRAGMA and read its answer, so no statement is left holding a lock."""
    await fetch_all(conn, f"PRAGMA {pragma}")


async def _apply(conn: Connection, migration: Migration) -> None:
    for statement in migration.statements:
        await conn.execute(statement)
    await conn.execute(
        "INSERT INTO schema_migration (version, name, applied_at) "
        "VALUES (?, ?, strftime('%Y-%m-%dT%H:%M:%SZ', 'now'))",
        (migration.version, migration.name),
    )
    await conn.execute(f"PRAGMA user_version={int(migration.version)}")
