"""Repository of the audit log: append and read, never update or delete."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, replace
from datetime import datetime

from storage.db import Connection, fetch_all, insert_id
from storage.times import from_text, to_text
from storage.units import subtree_bounds


@dataclass(frozen=True)
class NewEntry:
    at: datetime
    source: str
    actor_id: int | None
    actor_name: str
    telegram_id: int | None
    chat_id: int | None
    action: str
    target: str
    unit_id: int | None
    detail: str | None


@dataclass(frozen=True)
class Entry:
    id: int
    at: datetime
    source: str
    actor_name: str
    telegram_id: int | None
    chat_id: int | None
    action: str
    target: str
    unit_code: str | None
    unit_name: str | None
    detail: str | None


_SELECT = (
    "SELECT a.id, a.at, a.source, a.actor_name, a.telegram_id, a.chat_id, a.action, "
    "a.target, u.code AS unit_code, u.name AS unit_name, a.detail "
    "FROM audit a LEFT JOIN org_unit u ON u.id = a.unit_id"
)


def _entry(row: sqlite3.Row) -> Entry:
    entry = Entry(*tuple(row))  # the columns of _SELECT, in the order of Entry's fields
    return replace(entry, at=from_text(row["at"]))


async def insert(conn: Connection, entry: NewEntry) -> int:
    new_id = await insert_id(
        conn,
        "INSERT INTO audit (at, source, actor_id, actor_name, telegram_id, chat_id, action, "
        "target, unit_id, detail) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            to_text(entry.at),
            entry.source,
            entry.actor_id,
            entry.actor_name,
            entry.telegram_id,
            entry.chat_id,
            entry.action,
            entry.target,
            entry.unit_id,
            entry.detail,
        ),
    )
    return new_id


async def latest_in_subtree(conn: Connection, path: str, limit: int) -> list[Entry]:
    """The newest ``limit`` entries about units in the subtree at ``path``, newest first.
    Entries about no unit (operator commands on the whole database) belong to the root."""
    low, high = subtree_bounds(path)
    return [
        _entry(row)
        for row in await fetch_all(
            conn,
            f"{_SELECT} WHERE (u.path >= ? AND u.path < ?) "
            "OR (a.unit_id IS NULL "
            "AND ? = (SELECT min(path) FROM org_unit WHERE parent_id IS NULL)) "
            "ORDER BY a.id DESC LIMIT ?",
            (low, high, path, limit),
        )
    ]


async def since(conn: Connection, at: datetime) -> list[Entry]:
    """Every entry at or after ``at``, oldest first."""
    return [
        _entry(row)
        for row in await fetch_all(conn, f"{_SELECT} WHERE a.at >= ? ORDER BY a.id", (to_text(at),))
    ]
