"""Repository of invites. Only a hash of each token is stored: the link lives in chat."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from datetime import datetime

from storage.db import Connection, fetch_all, fetch_one, insert_id
from storage.times import from_text, from_text_or_none, to_text
from storage.units import subtree_bounds

_COLUMNS = (
    "id, token_hash, unit_id, role, max_uses, uses, expires_at, created_by, created_at, "
    "maker_unit_id, revoked_at"
)
_QUALIFIED = ", ".join(f"i.{column.strip()}" for column in _COLUMNS.split(","))


@dataclass(frozen=True)
class Invite:
    id: int
    token_hash: str
    unit_id: int
    role: str
    max_uses: int
    uses: int
    expires_at: datetime
    created_by: int | None
    created_at: datetime
    maker_unit_id: int | None = None
    """The unit its maker was in when they made it; the link dies when they move."""
    revoked_at: datetime | None = None


def _invite(row: sqlite3.Row) -> Invite:
    data = dict(row)
    data["expires_at"] = from_text(data["expires_at"])
    data["created_at"] = from_text(data["created_at"])
    data["revoked_at"] = from_text_or_none(data["revoked_at"])
    return Invite(**data)


async def insert(
    conn: Connection,
    *,
    token_hash: str,
    unit_id: int,
    role: str,
    max_uses: int,
    expires_at: datetime,
    created_by: int | None,
    maker_unit_id: int | None,
    now: datetime,
) -> int:
    new_id = await insert_id(
        conn,
        "INSERT INTO invite (token_hash, unit_id, role, max_uses, uses, expires_at, "
        "created_by, created_at, maker_unit_id) VALUES (?, ?, ?, ?, 0, ?, ?, ?, ?)",
        (
            token_hash,
            unit_id,
            role,
            max_uses,
            to_text(expires_at),
            created_by,
            to_text(now),
            maker_unit_id,
        ),
    )
    return new_id


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


async def open_in_subtree(conn: Connection, unit_path: str, now: datetime) -> list[Invite]:
    """Links into a subtree that are not revoked, expired or used up, newest first."""
    low, high = subtree_bounds(unit_path)
    rows = await fetch_all(
        conn,
        f"SELECT {_QUALIFIED} FROM invite i "
        "JOIN org_unit u ON u.id = i.unit_id WHERE u.path >= ? AND u.path < ? "
        "AND i.revoked_at IS NULL AND i.expires_at > ? AND i.uses < i.max_uses "
        "ORDER BY i.id DESC",
        (low, high, to_text(now)),
    )
    return [_invite(row) for row in rows]


async def revoke(conn: Connection, invite_id: int, by: int | None, now: datetime) -> bool:
    """Revoke one link; False when it was revoked already."""
    cursor = await conn.execute(
        "UPDATE invite SET revoked_at = ?, revoked_by = ? WHERE id = ? AND revoked_at IS NULL",
        (to_text(now), by, invite_id),
    )
    return cursor.rowcount == 1


async def revoke_made_by(conn: Connection, member_id: int, now: datetime) -> int:
    """Revoke every link a member made that is still open (they were disabled)."""
    cursor = await conn.execute(
        "UPDATE invite SET revoked_at = ? WHERE created_by = ? AND revoked_at IS NULL "
        "AND uses < max_uses AND expires_at > ?",
        (to_text(now), member_id, to_text(now)),
    )
    return cursor.rowcount
