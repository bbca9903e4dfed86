"""``gridbot db copy``: a SQLite deployment copied into an empty PostgreSQL database,
then verified table by table (row count and a checksum of the rows).

The target is first migrated to the same schema as the source (by the caller, through
``Database.migrate``), so the copy moves rows only. It runs in one transaction: the
foreign keys are dropped, every table is copied with ``COPY`` in the source's column
order, the foreign keys are added back (PostgreSQL checks every row as it does), and the
identity sequences are moved past the copied ids. A failure leaves the target as
migrated and empty.

The checksum of a table is order-free: the SHA-256 of the sorted SHA-256s of its rows,
each row's values written with their kind (``None``, integer, float, text), so both
sides are hashed by the same Python over the values each backend returns.
"""

from __future__ import annotations

import hashlib
import sqlite3
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg

from storage.postgres import SyncPg, connect_sync

# Not copied: the target's own migrations wrote it.
SKIPPED = ("schema_migration",)


DATABASE_ERRORS = (psycopg.Error, sqlite3.Error)


@dataclass(frozen=True)
class TableCheck:
    table: str
    source_rows: int
    target_rows: int
    source_sum: str
    target_sum: str

    @property
    def ok(self) -> bool:
        return self.source_rows == self.target_rows and self.source_sum == self.target_sum


def tables(source: sqlite3.Connection) -> list[str]:
    """The source's tables in the order their migrations created them."""
    return [
        row[0]
        for row in source.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' "
            "AND name NOT LIKE 'sqlite_%' ORDER BY rowid"
        )
        if row[0] not in SKIPPED
    ]


def tables_of(path: Path) -> list[str]:
    source = open_source(path)
    try:
        return tables(source)
    finally:
        source.close()


def columns(source: sqlite3.Connection, table: str) -> list[str]:
    return [row[1] for row in source.execute(f'PRAGMA table_info("{table}")')]


def open_source(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(f"{Path(path).resolve().as_uri()}?mode=ro", uri=True)
    conn.execute("PRAGMA busy_timeout=10000")
    return conn


def target_rows(url: str, names: Iterable[str]) -> dict[str, int]:
    """Rows already in the target's tables (that exist there)."""
    found: dict[str, int] = {}
    with connect_sync(url) as pg:
        for table in names:
            if pg.execute("SELECT to_regclass(?)", (table,)).fetchone()[0] is not None:
                found[table] = int(pg.execute(f'SELECT count(*) FROM "{table}"').fetchone()[0])
    return found


def copy(
    source_path: Path, url: str, progress: Callable[[str, int], None] | None = None
) -> list[TableCheck]:
    """Copy every row of the SQLite file into the (migrated, empty) PostgreSQL database
    at ``url`` in one transaction; then verify. Returns the check of every table."""
    source = open_source(source_path)
    try:
        names = tables(source)
        pg = connect_sync(url, autocommit=False)
        try:
            _copy_rows(source, pg, names, progress)
            pg.raw.commit()
        except BaseException:
            pg.raw.rollback()
            raise
        finally:
            pg.close()
        return verify(source, url, names)
    finally:
        source.close()


def _copy_rows(
    source: sqlite3.Connection,
    pg: SyncPg,
    names: list[str],
    progress: Callable[[str, int], None] | None,
) -> None:
    keys = pg.execute(
        "SELECT c.conrelid::regclass::text, c.conname, pg_get_constraintdef(c.oid) "
        "FROM pg_constraint c JOIN pg_namespace n ON n.oid = c.connamespace "
        "WHERE c.contype = 'f' AND n.nspname = current_schema()"
    ).fetchall()
    for table, name, _ in keys:
        pg.execute(f'ALTER TABLE {table} DROP CONSTRAINT "{name}"')
    for table in names:
        names_of = columns(source, table)
        listed = ", ".join(f'"{c}"' for c in names_of)
        count = 0
        with pg.raw.cursor().copy(f'COPY "{table}" ({listed}) FROM STDIN') as out:
            for row in source.execute(f'SELECT {listed} FROM "{table}"'):
                out.write_row(row)
                count += 1
        if progress:
            progress(table, count)
    for table, name, definition in keys:
        pg.execute(f'ALTER TABLE {table} ADD CONSTRAINT "{name}" {definition}')
    identities = pg.execute(
        "SELECT table_name, column_name FROM information_schema.columns "
        "WHERE table_schema = current_schema() AND is_identity = 'YES'"
    ).fetchall()
    # AUTOINCREMENT tables never reuse an id, even of a deleted row (a draft's id names
    # its buttons): sqlite_sequence remembers the highest ever given
    given = dict(source.execute("SELECT name, seq FROM sqlite_sequence").fetchall())
    for table, column in identities:
        highest = pg.execute(f'SELECT max("{column}") FROM "{table}"').fetchone()[0]
        highest = max(highest or 0, int(given.get(table) or 0))
        if highest:
            pg.execute(
                f"SELECT setval(pg_get_serial_sequence('\"{table}\"', '{column}'), ?)",
                (highest,),
            )


def _value(value: Any) -> bytes:
    if value is None:
        return b"N"
    if isinstance(value, bool | int):
        return b"i" + str(int(value)).encode()
    if isinstance(value, float):
        return b"f" + repr(value).encode()
    if isinstance(value, bytes | memoryview):
        return b"b" + bytes(value).hex().encode()
    return b"s" + str(value).encode("utf-8", "surrogatepass")


def checksum(rows: Iterable[Iterable[Any]]) -> tuple[int, str]:
    """(rows, order-free checksum) of a table's rows."""
    digests = sorted(hashlib.sha256(b"\x1f".join(_value(v) for v in row)).digest() for row in rows)
    return len(digests), hashlib.sha256(b"".join(digests)).hexdigest()


def verify(source: sqlite3.Connection, url: str, names: list[str]) -> list[TableCheck]:
    checks: list[TableCheck] = []
    with connect_sync(url) as pg:
        for table in names:
            listed = ", ".join(f'"{c}"' for c in columns(source, table))
            sql = f'SELECT {listed} FROM "{table}"'
            source_rows, source_sum = checksum(source.execute(sql))
            target_rows_, target_sum = checksum(pg.execute(sql))
            checks.append(TableCheck(table, source_rows, target_rows_, source_sum, target_sum))
    return checks
