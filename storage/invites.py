"""Repository of invites. Only a hash of each token is stored: the link lives in chat."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass

from storage.db import Connection, fetch_one

_COLUMNS = "id, token_hash, unit_id, role, max_uses, uses, expires_at, created_by, created_at"


@dataclass(frozen=True)
class Invite:
    id: int
    token_hash: str
    unit_id: int
    role: str
    max_uses: int
    uses: int
    expires_at: str
    created_by: int | None
    created_at: str


def _invite(row: sqlite3.Row) -> Invite:
    return Invite(**dict(row))


async def insert(
    conn: Connection,
    *,
    token_hash: str,
    unit_id: int,
    role: str,
    max_uses: int,
    expires_at: str,
    created_by: int | None,
    now: str,
) -> int:
    cursor = await conn.execute(
        "INSERT INTO invite (token_hash, unit_id, role, max_uses, uses, expires_at, "
        "created_by, created_at) VALUES (?, ?, ?, ?, 0, ?, ?, ?)",
        (token_hash, unit_id, role, max_uses, expires_at, created_by, now),
    )
    assert cursor.lastrowid is not None
    return cursor.lastrowid


async def by_hash(conn: Connection, token_hash: str) -> Invite | None:
    row = await fetch_one(
        conn, f"SELECT {_COLUMNS} FROM invite WHERE token_hash = ?", (token_hash,)
    )
    return _invite(row) if row else None


async def by_id(conn: Connection, invite_id: int) -> Invite | None:
    row = await fetch_one(conn, f"SELECT {_COLUMNS} FROM invite WHERE id = ?", (invite_id,))
    return _invite(row) if row else None


async def count_use(conn: Connection, invite_id: int) -> bool:
    """Count one use; False when the invite was already used up (checked atomically)."""
    cursor = await conn.execute(
        "UPDATE invite SET uses = uses + 1 WHERE id = ? AND uses < max_uses", (invite_id,)
    )
    return cursor.rowcount == 1
