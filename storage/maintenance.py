"""The SQL of backups and checks, on plain ``sqlite3`` connections (the shell commands
are synchronous and may run while the bot is writing).

``backup`` uses SQLite's online backup API in a single step: it copies the database as
one read transaction sees it, so the copy is consistent, and in WAL mode the bot's
writes go on meanwhile. (Copying page by page in several steps would restart each time
the bot commits, and might never finish under steady traffic.)
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

from storage.reports import number_of


def connect(path: Path, *, read_only: bool = True) -> sqlite3.Connection:
    """A connection of its own to an existing database file."""
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


def integrity_problems(conn: sqlite3.Connection) -> list[str]:
    """What ``PRAGMA integrity_check`` found (empty when it says ok)."""
    lines = [row[0] for row in conn.execute("PRAGMA integrity_check")]
    return [] if lines == ["ok"] else lines


def foreign_key_problems(conn: sqlite3.Connection) -> list[tuple[str, int | None, str]]:
    """Rows whose reference points nowhere: (table, rowid, referenced table)."""
    return [(row[0], row[1], row[2]) for row in conn.execute("PRAGMA foreign_key_check")]


def schema_version(conn: sqlite3.Connection) -> int:
    return int(conn.execute("PRAGMA user_version").fetchone()[0])


def evidence_files(conn: sqlite3.Connection) -> Iterator[tuple[str, int]]:
    """Every evidence row: (sha256, size in bytes), in hash order."""
    yield from conn.execute("SELECT sha256, size FROM evidence ORDER BY sha256")


def evidence_count(conn: sqlite3.Connection) -> int:
    return int(conn.execute("SELECT count(*) FROM evidence").fetchone()[0])


def evidence_uses(conn: sqlite3.Connection, sha256: str) -> list[str]:
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


def _has_table(conn: sqlite3.Connection, name: str) -> bool:
    found = conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (name,))
    return found.fetchone() is not None
