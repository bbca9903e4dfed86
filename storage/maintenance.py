"""The SQL of backups and checks, on plain blocking connections (the shell commands
are synchronous and may run while the bot is writing): ``sqlite3`` on a SQLite file, a
blocking psycopg connection (``storage.postgres.SyncPg``) on a PostgreSQL URL.

On PostgreSQL the server keeps its own pages whole (and the tables' foreign keys are
enforced on every write), so ``integrity_problems`` and ``foreign_key_problems`` have
nothing to ask there; the backup is ``pg_dump`` (``bot/ops/maintenance.py``).

``backup`` uses SQLite's online backup API in a single step: it copies the database as
one read transaction sees it, so the copy is consistent, and in WAL mode the bot's
writes go on meanwhile. (Copying page by page in several steps would restart each time
the bot commits, and might never finish under steady traffic.)
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from storage.db import is_postgres_url
from storage.reports import number_of


def connect(path: Path | str, *, read_only: bool = True) -> Any:
    """A connection of its own to an existing database file, or to a PostgreSQL URL."""
    if is_postgres_url(path):
        from storage.postgres import connect_sync

        pg = connect_sync(str(path))
        if read_only:
            pg.execute("SET default_transaction_read_only = on")
        return pg
    mode = "ro" if read_only else "rw"
    conn = sqlite3.connect(f"{Path(path).resolve().as_uri()}?mode={mode}", uri=True)
    conn.execute("PRAGMA busy_timeout=10000")
    return conn


def backup(source: Path, target: Path) -> None:
    """A consistent copy of the database at ``source`` written to ``target`` (new file)."""
    src = connect(source)
    try:
        dst = sqlite3.connect(target)
        try:
            src.backup(dst)
            dst.execute("PRAGMA journal_mode=DELETE")  # one self-contained file
        finally:
            dst.close()
    finally:
        src.close()


def _postgres(conn: Any) -> bool:
    return getattr(conn, "dialect", "sqlite") == "postgresql"


def integrity_problems(conn: Any) -> list[str]:
    """What ``PRAGMA integrity_check`` found (empty when it says ok)."""
    if _postgres(conn):
        return []
    lines = [row[0] for row in conn.execute("PRAGMA integrity_check")]
    return [] if lines == ["ok"] else lines


def foreign_key_problems(conn: Any) -> list[tuple[str, int | None, str]]:
    """Rows whose reference points nowhere: (table, rowid, referenced table)."""
    if _postgres(conn):
        return []
    return [(row[0], row[1], row[2]) for row in conn.execute("PRAGMA foreign_key_check")]


def schema_version(conn: Any) -> int:
    if _postgres(conn):
        if not _has_table(conn, "schema_migration"):
            return 0
        return int(
            conn.execute("SELECT coalesce(max(version), 0) FROM schema_migration").fetchone()[0]
        )
    return int(conn.execute("PRAGMA user_version").fetchone()[0])


def evidence_files(conn: Any) -> Iterator[tuple[str, int]]:
    """Every evidence row: (sha256, size in bytes), in hash order."""
    yield from conn.execute("SELECT sha256, size FROM evidence ORDER BY sha256")


def evidence_count(conn: Any) -> int:
    return int(conn.execute("SELECT count(*) FROM evidence").fetchone()[0])


def evidence_uses(conn: Any, sha256: str) -> list[str]:
    """What refers to a file, for naming it in a problem: report and tip numbers."""
    uses = [
        number_of(row[0])
        for row in conn.execute("SELECT report_id FROM report_photo WHERE sha256 = ?", (sha256,))
    ]
    if _has_table(conn, "tip_photo"):
        uses += [
            row[0]
            for row in conn.execute(
                "SELECT DISTINCT t.number FROM tip_photo p JOIN tip t ON t.id = p.tip_id "
                "WHERE p.sha256 = ?",
                (sha256,),
            )
        ]
    return uses


def _has_table(conn: Any, name: str) -> bool:
    if _postgres(conn):
        return conn.execute("SELECT to_regclass(?)", (name,)).fetchone()[0] is not None
    found = conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (name,))
    return found.fetchone() is not None
