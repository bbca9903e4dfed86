"""Repository of group chats bound to units (the digest audience)."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from datetime import datetime

from storage.db import Connection, fetch_all, fetch_one
from storage.times import from_text, from_text_or_none, to_text
from storage.units import subtree_bounds

_COLUMNS = (
    "g.id, g.chat_id, g.unit_id, g.title, g.bound_by, g.bound_at, g.active, g.ended_at, "
    "g.ended_reason, u.code AS unit_code, u.name AS unit_name, u.path AS unit_path"
)
_FROM = "FROM group_chat g JOIN org_unit u ON u.id = g.unit_id"


@dataclass(frozen=True)
class Group:
    id: int
    chat_id: int
    unit_id: int
    title: str
    bound_by: int | None
    bound_at: datetime
    active: bool
    ended_at: datetime | None
    ended_reason: str | None
    unit_code: str
    unit_name: str
    unit_path: str


def _group(row: sqlite3.Row) -> Group:
    data = dict(row)
    data["active"] = bool(data["active"])
    data["bound_at"] = from_text(data["bound_at"])
    data["ended_at"] = from_text_or_none(data["ended_at"])
    return Group(**data)


async def by_chat(conn: Connection, chat_id: int) -> Group | None:
    row = await fetch_one(conn, f"SELECT {_COLUMNS} {_FROM} WHERE g.chat_id = ?", (chat_id,))
    return _group(row) if row else None


async def bind(
    conn: Connection, chat_id: int, unit_id: int, title: str, member_id: int, now: datetime
) -> None:
    """Bind (or re-bind) a chat to a unit, making it active again."""
    await conn.execute(
        "INSERT INTO group_chat (chat_id, unit_id, title, bound_by, bound_at) "
        "VALUES (?, ?, ?, ?, ?) ON CONFLICT (chat_id) DO UPDATE SET "
        "unit_id = excluded.unit_id, title = excluded.title, bound_by = excluded.bound_by, "
        "bound_at = excluded.bound_at, active = 1, ended_at = NULL, ended_reason = NULL",
        (chat_id, unit_id, title, member_id, to_text(now)),
    )


async def end(conn: Connection, chat_id: int, reason: str, now: datetime) -> bool:
    """Stop sending to a chat; False when it was not an active bound group."""
    cur = await conn.execute(
        "UPDATE group_chat SET active = 0, ended_at = ?, ended_reason = ? "
        "WHERE chat_id = ? AND active = 1",
        (to_text(now), reason, chat_id),
    )
    return cur.rowcount == 1


async def move_chat(conn: Connection, old_chat_id: int, new_chat_id: int) -> bool:
    """The group became a supergroup with a new chat id; False if it was not bound."""
    cur = await conn.execute(
        "UPDATE group_chat SET chat_id = ? WHERE chat_id = ? "
        "AND NOT EXISTS (SELECT 1 FROM group_chat WHERE chat_id = ?)",
        (new_chat_id, old_chat_id, new_chat_id),
    )
    return cur.rowcount == 1


async def in_subtree(conn: Connection, path: str) -> list[Group]:
    """Bound groups (active or not) whose unit lies in the subtree at ``path``."""
    low, high = subtree_bounds(path)
    return [
        _group(row)
        for row in await fetch_all(
            conn,
            f"SELECT {_COLUMNS} {_FROM} WHERE u.path >= ? AND u.path < ? "
            "ORDER BY g.active DESC, u.path, g.id",
            (low, high),
        )
    ]


async def active(conn: Connection) -> list[Group]:
    return [
        _group(row)
        for row in await fetch_all(
            conn, f"SELECT {_COLUMNS} {_FROM} WHERE g.active = 1 ORDER BY g.id"
        )
    ]
