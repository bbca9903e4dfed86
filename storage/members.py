"""Repository of members: Telegram users bound to one unit with one role."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from datetime import datetime

from storage.db import Connection, fetch_all, fetch_one, insert_id
from storage.times import from_text, to_text
from storage.units import subtree_bounds

_COLUMNS = (
    "m.id, m.telegram_id, m.name, m.unit_id, m.role, m.active, m.username, m.joined_at, "
    "u.code AS unit_code, u.name AS unit_name, u.path AS unit_path"
)
_FROM = "FROM member m JOIN org_unit u ON u.id = m.unit_id"


@dataclass(frozen=True)
class Member:
    id: int
    telegram_id: int
    name: str
    unit_id: int
    role: str
    active: bool
    username: str | None
    joined_at: datetime
    unit_code: str
    unit_name: str
    unit_path: str


def _member(row: sqlite3.Row) -> Member:
    return Member(
        id=row["id"],
        telegram_id=row["telegram_id"],
        name=row["name"],
        unit_id=row["unit_id"],
        role=row["role"],
        active=bool(row["active"]),
        username=row["username"],
        joined_at=from_text(row["joined_at"]),
        unit_code=row["unit_code"],
        unit_name=row["unit_name"],
        unit_path=row["unit_path"],
    )


async def by_telegram_id(conn: Connection, telegram_id: int) -> Member | None:
    row = await fetch_one(
        conn, f"SELECT {_COLUMNS} {_FROM} WHERE m.telegram_id = ?", (telegram_id,)
    )
    return _member(row) if row else None


async def insert(
    conn: Connection,
    *,
    telegram_id: int,
    name: str,
    unit_id: int,
    role: str,
    username: str | None,
    invite_id: int | None,
    now: datetime,
) -> int:
    new_id = await insert_id(
        conn,
        "INSERT INTO member (telegram_id, name, unit_id, role, active, username, invite_id, "
        "joined_at, updated_at) VALUES (?, ?, ?, ?, 1, ?, ?, ?, ?)",
        (telegram_id, name, unit_id, role, username, invite_id, to_text(now), to_text(now)),
    )
    return new_id


async def update_placement(
    conn: Connection,
    member_id: int,
    *,
    name: str,
    unit_id: int,
    role: str,
    invite_id: int | None,
    now: datetime,
) -> None:
    await conn.execute(
        "UPDATE member SET name = ?, unit_id = ?, role = ?, invite_id = ?, updated_at = ? "
        "WHERE id = ?",
        (name, unit_id, role, invite_id, to_text(now), member_id),
    )


async def set_active(conn: Connection, member_id: int, active: bool, now: datetime) -> None:
    await conn.execute(
        "UPDATE member SET active = ?, updated_at = ? WHERE id = ?",
        (int(active), to_text(now), member_id),
    )


async def count_in_subtree(conn: Connection, unit_path: str) -> int:
    low, high = subtree_bounds(unit_path)
    row = await fetch_one(
        conn, f"SELECT count(*) {_FROM} WHERE u.path >= ? AND u.path < ?", (low, high)
    )
    return int(row[0]) if row else 0


async def page_in_subtree(
    conn: Connection, unit_path: str, *, offset: int, limit: int
) -> list[Member]:
    """Members of a subtree in tree order of their units (``sort_order`` is the unit's
    place in the depth-first org file), then by role, then by name."""
    low, high = subtree_bounds(unit_path)
    return [
        _member(row)
        for row in await fetch_all(
            conn,
            f"SELECT {_COLUMNS} {_FROM} WHERE u.path >= ? AND u.path < ? "
            "ORDER BY u.sort_order, u.code, "
            "CASE m.role WHEN 'admin' THEN 0 WHEN 'lead' THEN 1 ELSE 2 END, m.name, m.id "
            "LIMIT ? OFFSET ?",
            (low, high, limit, offset),
        )
    ]


async def with_roles(conn: Connection, roles: tuple[str, ...]) -> list[Member]:
    marks = ",".join("?" * len(roles))
    return [
        _member(row)
        for row in await fetch_all(
            conn, f"SELECT {_COLUMNS} {_FROM} WHERE m.role IN ({marks}) ORDER BY m.id", roles
        )
    ]


async def active_counts_by_unit(conn: Connection, unit_path: str) -> dict[int, int]:
    """Active members per unit, for every unit of a subtree that has any."""
    low, high = subtree_bounds(unit_path)
    return {
        row["unit_id"]: row["n"]
        for row in await fetch_all(
            conn,
            f"SELECT m.unit_id, count(*) AS n {_FROM} WHERE u.path >= ? AND u.path < ? "
            "AND m.active = 1 GROUP BY m.unit_id",
            (low, high),
        )
    }


async def by_id(conn: Connection, member_id: int) -> Member | None:
    row = await fetch_one(conn, f"SELECT {_COLUMNS} {_FROM} WHERE m.id = ?", (member_id,))
    return _member(row) if row else None


async def active_over(conn: Connection, unit_path: str, roles: tuple[str, ...]) -> list[Member]:
    """Active members with one of ``roles`` whose scope covers the unit at ``unit_path``
    (their unit is it or one of its ancestors)."""
    marks = ",".join("?" * len(roles))
    return [
        _member(row)
        for row in await fetch_all(
            conn,
            f"SELECT {_COLUMNS} {_FROM} WHERE m.active = 1 AND m.role IN ({marks}) "
            "AND substr(?, 1, length(u.path)) = u.path ORDER BY u.path, m.id",
            (*roles, unit_path),
        )
    ]


async def active_in_unit(conn: Connection, unit_id: int, roles: tuple[str, ...]) -> list[Member]:
    """Active members of exactly this unit with one of ``roles``."""
    marks = ",".join("?" * len(roles))
    return [
        _member(row)
        for row in await fetch_all(
            conn,
            f"SELECT {_COLUMNS} {_FROM} WHERE m.unit_id = ? AND m.active = 1 "
            f"AND m.role IN ({marks}) ORDER BY m.id",
            (unit_id, *roles),
        )
    ]


async def active_by_path(conn: Connection, unit_path: str) -> list[tuple[str, int]]:
    """(unit path, active members) for every unit of a subtree that has any."""
    low, high = subtree_bounds(unit_path)
    return [
        (r[0], r[1])
        for r in await fetch_all(
            conn,
            f"SELECT u.path, COUNT(*) AS n {_FROM} WHERE m.active = 1 AND u.path >= ? "
            "AND u.path < ? GROUP BY u.path",
            (low, high),
        )
    ]
