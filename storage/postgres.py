"""The PostgreSQL backend (psycopg 3): connections, the writer lock, advisory locks.

See ``storage.db`` for the model. Why psycopg 3 rather than asyncpg: it has both an
asyncio and a blocking API with the same adaptation rules — the exports and the shell
commands (check, copy) read in worker threads with plain blocking connections, as they
do with ``sqlite3`` — its ``%s`` placeholders map one to one onto the ``?`` the
repositories are written with (asyncpg wants ``$1``…), and it sends ``str`` parameters
untyped so the server infers their type as SQLite's loose typing lets the repositories
expect (asyncpg's strict binary typing would need a cast at every text-into-integer
place). asyncpg is faster per statement, but a gridbot update costs a few statements and
the figures in the README show the database is not the bottleneck.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import re
from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import asynccontextmanager
from decimal import Decimal
from typing import Any

import psycopg
from psycopg.adapt import Dumper, Loader

from storage.db import (
    POSTGRESQL,
    READERS,
    WRITER_LOCK,
    Connection,
    Database,
    Result,
    SessionLock,
    fetch_one,
    redact_url,
)
from storage.migrations import Migration
from storage.migrations_pg import POSTGRES_MIGRATIONS

log = logging.getLogger(__name__)

# Idle chat-lock connections kept for reuse (more are opened while more chats are busy).
LOCK_POOL = 16


class PgRow(tuple):
    """A row that reads by position and by column name, like ``sqlite3.Row``."""

    _names: tuple[str, ...] = ()
    _index: dict[str, int] = {}  # noqa: RUF012  (set per query shape)

    def __getitem__(self, key: Any) -> Any:  # type: ignore[override]
        if isinstance(key, str):
            return tuple.__getitem__(self, self._index[key])
        return tuple.__getitem__(self, key)

    def keys(self) -> list[str]:
        return list(self._names)


@functools.lru_cache(maxsize=2048)
def _row_class(names: tuple[str, ...]) -> type[PgRow]:
    return type("Row", (PgRow,), {"_names": names, "_index": {n: i for i, n in enumerate(names)}})


def _row_factory(cursor: Any) -> Any:
    description = cursor.description
    if description is None:
        return tuple
    cls = _row_class(tuple(column.name for column in description))
    return cls


class _IntBool(Loader):
    """Booleans come back as 0/1, as SQLite gives them."""

    def load(self, data: Any) -> int:
        return 1 if bytes(data) == b"t" else 0


class _Numeric(Loader):
    """sum() of integers is ``numeric`` on PostgreSQL; SQLite gives an int (a float
    when it has a fraction)."""

    def load(self, data: Any) -> int | float:
        value = Decimal(bytes(data).decode())
        return int(value) if value == value.to_integral_value() else float(value)


class _BoolAsInt(Dumper):
    """A Python bool is stored as 0/1 (the tables' flags are integers, as on SQLite)."""

    oid = psycopg.postgres.types["int8"].oid

    def dump(self, obj: Any) -> bytes:
        return b"1" if obj else b"0"


def configure(conn: psycopg.Connection[Any] | psycopg.AsyncConnection[Any]) -> None:
    """Adaptation that makes a PostgreSQL connection answer like a SQLite one."""
    conn.adapters.register_loader("bool", _IntBool)
    conn.adapters.register_loader("numeric", _Numeric)
    conn.adapters.register_dumper(bool, _BoolAsInt)
    conn.row_factory = _row_factory  # type: ignore[assignment]


@functools.lru_cache(maxsize=4096)
def _translate(sql: str) -> tuple[str, bool]:
    """``?`` placeholders (outside quotes) as ``%s`` and ``?N`` as ``%(pN)s`` (then the
    parameters go by name: see ``_bind``), ``%`` escaped as ``%%``."""
    out: list[str] = []
    quote = ""
    numbered = False
    i = 0
    while i < len(sql):
        char = sql[i]
        i += 1
        if quote:
            if char == quote:
                quote = ""
            out.append("%%" if char == "%" else char)
        elif char in "'\"":
            quote = char
            out.append(char)
        elif char == "?":
            digits = ""
            while i < len(sql) and sql[i].isdigit():
                digits += sql[i]
                i += 1
            if digits:
                numbered = True
                out.append(f"%(p{digits})s")
            else:
                out.append("%s")
        elif char == "%":
            out.append("%%")
        else:
            out.append(char)
    return "".join(out), numbered


def pg_sql(sql: str) -> str:
    return _translate(sql)[0]


def _bind(sql: str, parameters: Any) -> tuple[str, Any]:
    """A statement and its parameters as psycopg takes them."""
    if not parameters:
        return sql, None
    translated, numbered = _translate(sql)
    if numbered:
        return translated, {f"p{n}": value for n, value in enumerate(parameters, start=1)}
    return translated, parameters


class PgConnection(Connection):
    dialect = POSTGRESQL

    def __init__(self, raw: psycopg.AsyncConnection[Any]) -> None:
        self.raw = raw

    async def _execute(self, sql: str, parameters: Sequence[Any]) -> Result:
        cursor = await self.raw.execute(*_bind(sql, parameters))
        rows = await cursor.fetchall() if cursor.description is not None else None
        return Result(cursor.rowcount, None, rows)

    async def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        rows = list(rows)
        if not rows:
            return
        async with self.raw.cursor() as cursor:
            await cursor.executemany(pg_sql(sql), rows)

    async def fetch_all(self, sql: str, parameters: Sequence[Any] = ()) -> list[Any]:
        cursor = await self.raw.execute(*_bind(sql, parameters))
        return await cursor.fetchall() if cursor.description is not None else []

    @property
    def in_transaction(self) -> bool:
        return self.raw.info.transaction_status != psycopg.pq.TransactionStatus.IDLE

    @asynccontextmanager
    async def atomic(self) -> AsyncIterator[None]:
        if not self.in_transaction:
            yield
            return
        await self.raw.execute("SAVEPOINT gridbot_atomic")
        try:
            yield
        except BaseException:
            await self.raw.execute("ROLLBACK TO SAVEPOINT gridbot_atomic")
            await self.raw.execute("RELEASE SAVEPOINT gridbot_atomic")
            raise
        await self.raw.execute("RELEASE SAVEPOINT gridbot_atomic")

    async def close(self) -> None:
        await self.raw.close()


async def connect(url: str) -> PgConnection:
    raw = await psycopg.AsyncConnection.connect(url, autocommit=True)
    configure(raw)
    return PgConnection(raw)


class PostgresDatabase(Database):
    dialect = POSTGRESQL

    def __init__(self, url: str, writer: PgConnection, readers: list[Connection], space: int):
        super().__init__(writer, readers)
        self.url = url
        self.path = None
        self.space = space  # the first advisory-lock key: this schema's
        self._pg_writer = writer
        # Idle connections for chat locks (``chat_lock``): one per chat being handled.
        self._lock_conns: list[PgConnection] = []

    @classmethod
    async def connect(cls, url: str) -> PostgresDatabase:
        writer = await connect(url)
        readers: list[Connection] = []
        try:
            for _ in range(READERS):
                readers.append(await connect(url))
            row = await fetch_one(writer, "SELECT hashtext(current_schema())")
            space = int(row[0])
        except BaseException:
            for reader in readers:
                await reader.close()
            await writer.close()
            raise
        log.info("db.postgres url=%s", redact_url(url))
        return cls(url, writer, readers, space)

    async def _begin(self) -> None:
        await self._control("BEGIN")
        try:
            await self._writer.execute(
                "SELECT pg_advisory_xact_lock(?, ?)", (self.space, WRITER_LOCK)
            )
        except BaseException:
            self._unsettled = True
            raise

    def _writer_in_transaction(self) -> bool:
        return not self._pg_writer.raw.closed and self._pg_writer.in_transaction

    async def _settle(self) -> None:
        """With the lock held: roll back a transaction left open; a connection broken
        by a cancelled statement is replaced."""
        raw = self._pg_writer.raw
        try:
            if raw.closed or raw.broken:
                raise psycopg.OperationalError("connection lost")
            if self._pg_writer.in_transaction:
                await raw.execute("ROLLBACK")
                log.warning("db.abandoned_transaction_rolled_back")
        except psycopg.Error:
            with_closed = raw
            self._pg_writer = await connect(self.url)
            self._writer = self._pg_writer
            await with_closed.close()
            log.warning("db.writer_reconnected")
        self._unsettled = False

    async def schema_version(self) -> int:
        async with self.read() as conn:
            return await self._version_in(conn)

    async def _version_in(self, conn: Connection) -> int:
        row = await fetch_one(
            conn,
            "SELECT CASE WHEN to_regclass('schema_migration') IS NULL THEN 0 ELSE 1 END",
        )
        if not row or not row[0]:
            return 0
        row = await fetch_one(conn, "SELECT coalesce(max(version), 0) FROM schema_migration")
        return int(row[0]) if row else 0

    def _migrations(self) -> Sequence[Migration]:
        return POSTGRES_MIGRATIONS

    async def _apply(self, conn: Connection, migration: Migration) -> None:
        for statement in migration.statements:
            await conn.execute(statement)
        await conn.execute(
            "INSERT INTO schema_migration (version, name, applied_at) VALUES "
            "(?, ?, to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'))",
            (migration.version, migration.name),
        )

    @property
    def shared(self) -> bool:
        return True

    @asynccontextmanager
    async def chat_lock(self, chat_id: int) -> AsyncIterator[None]:
        """A session advisory lock for the chat, on a connection of the lock pool, waited
        for and held for the block. Its key is the single 64-bit form (a space apart from
        the two-key form of the writer and scheduler locks), hashed from the schema's key
        and the chat. If the process dies, its connections drop and the server frees the
        lock. A connection whose wait was cancelled or failed is closed, not reused."""
        key = f"gridbot:{self.space}:chat:{int(chat_id)}"
        conn = self._lock_conns.pop() if self._lock_conns else await connect(self.url)
        reusable = False
        try:
            await conn.execute("SELECT pg_advisory_lock(hashtextextended(?, 0))", (key,))
            try:
                yield
            finally:
                await asyncio.shield(
                    conn.execute("SELECT pg_advisory_unlock(hashtextextended(?, 0))", (key,))
                )
            reusable = True
        finally:
            if reusable and not self._closed and len(self._lock_conns) < LOCK_POOL:
                self._lock_conns.append(conn)
            else:
                await asyncio.shield(conn.close())

    async def close(self) -> None:
        while self._lock_conns:
            await self._lock_conns.pop().close()
        await super().close()

    @asynccontextmanager
    async def session_lock(self, key: int, *, wait: bool) -> AsyncIterator[SessionLock]:
        """A session advisory lock on a connection of its own, held for the block (and
        released by the server if this process dies, when its connection drops)."""
        conn = await connect(self.url)
        try:
            if wait:
                await conn.execute("SELECT pg_advisory_lock(?, ?)", (self.space, key))
                taken = True
            else:
                row = await fetch_one(conn, "SELECT pg_try_advisory_lock(?, ?)", (self.space, key))
                taken = bool(row and row[0])
            yield SessionLock(taken, conn)
        finally:
            await asyncio.shield(conn.close())


# ---------------------------------------------------------------------- blocking


_NAMED = re.compile(r"(?<![:\w]):([A-Za-z_]\w*)")


class SyncPg:
    """A blocking PostgreSQL connection that takes SQLite-style statements (``?`` or
    ``:name`` placeholders), for the worker threads of exports and the shell commands."""

    dialect = POSTGRESQL

    def __init__(self, raw: psycopg.Connection[Any]) -> None:
        self.raw = raw

    def execute(self, sql: str, parameters: Any = ()) -> Any:
        if isinstance(parameters, dict):
            sql = _NAMED.sub(r"%(\1)s", sql.replace("%", "%%"))
            return self.raw.execute(sql, parameters)  # type: ignore[arg-type]
        return self.raw.execute(*_bind(sql, parameters))  # type: ignore[arg-type]

    def close(self) -> None:
        self.raw.close()

    def __enter__(self) -> SyncPg:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def connect_sync(url: str, *, autocommit: bool = True) -> SyncPg:
    raw = psycopg.Connection.connect(url, autocommit=autocommit)
    configure(raw)
    return SyncPg(raw)
