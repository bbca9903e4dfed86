"""Repository of sites: the wells and hazard points that reports are about."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from datetime import datetime

from storage.db import Connection, fetch_all, fetch_one, insert_id
from storage.times import from_text, to_text
from storage.units import subtree_bounds

_COLUMNS = (
    "s.id, s.category, s.code, s.unit_id, s.status, s.last_report_id, s.report_count, "
    "s.created_at, s.updated_at, u.code AS unit_code, u.name AS unit_name, u.path AS unit_path"
)
_FROM = "FROM site s JOIN org_unit u ON u.id = s.unit_id"


@dataclass(frozen=True)
class Site:
    id: int
    category: str
    code: str
    unit_id: int
    status: str | None
    last_report_id: int | None
    report_count: int
    created_at: datetime
    updated_at: datetime
    unit_code: str
    unit_name: str
    unit_path: str


def code_key(code: str) -> str:
    """The form codes are compared in: case-folded, runs of spaces made one."""
    return " ".join(code.split()).casefold()


def _site(row: sqlite3.Row) -> Site:
    data = dict(row)
    data["created_at"] = from_text(data["created_at"])
    data["updated_at"] = from_text(data["updated_at"])
    return Site(**data)


async def by_id(conn: Connection, site_id: int) -> Site | None:
    row = await fetch_one(conn, f"SELECT {_COLUMNS} {_FROM} WHERE s.id = ?", (site_id,))
    return _site(row) if row else None


async def by_code(conn: Connection, category: str, code: str) -> Site | None:
    row = await fetch_one(
        conn,
        f"SELECT {_COLUMNS} {_FROM} WHERE s.category = ? AND s.code_key = ?",
        (category, code_key(code)),
    )
    return _site(row) if row else None


async def with_code_in_subtree(conn: Connection, code: str, path: str) -> list[Site]:
    """Sites of any category with this code, within the subtree at ``path``."""
    low, high = subtree_bounds(path)
    return [
        _site(row)
        for row in await fetch_all(
            conn,
            f"SELECT {_COLUMNS} {_FROM} WHERE s.code_key = ? AND u.path >= ? AND u.path < ? "
            "ORDER BY s.category",
            (code_key(code), low, high),
        )
    ]


async def search(conn: Connection, category: str, text: str, path: str, limit: int) -> list[Site]:
    """Sites of ``category`` in the subtree whose code contains ``text`` (any case)."""
    low, high = subtree_bounds(path)
    pattern = "%" + code_key(text).replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return [
        _site(row)
        for row in await fetch_all(
            conn,
            f"SELECT {_COLUMNS} {_FROM} WHERE s.category = ? AND u.path >= ? AND u.path < ? "
            "AND s.code_key LIKE ? ESCAPE '\\' ORDER BY s.updated_at DESC, s.id DESC LIMIT ?",
            (category, low, high, pattern + "%", limit),
        )
    ]


async def recent_for_member(
    conn: Connection, member_id: int, category: str, limit: int
) -> list[Site]:
    """The sites this member reported on most recently, newest first."""
    return [
        _site(row)
        for row in await fetch_all(
            conn,
            f"SELECT {_COLUMNS} {_FROM} JOIN (SELECT site_id, MAX(id) AS last FROM report "
            "WHERE member_id = ? AND category = ? GROUP BY site_id) r ON r.site_id = s.id "
            "ORDER BY r.last DESC LIMIT ?",
            (member_id, category, limit),
        )
    ]


async def insert(
    conn: Connection, category: str, code: str, unit_id: int, member_id: int, now: datetime
) -> int:
    new_id = await insert_id(
        conn,
        "INSERT INTO site (category, code, code_key, unit_id, created_by, created_at, "
        "updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
        (
            category,
            " ".join(code.split()),
            code_key(code),
            unit_id,
            member_id,
            to_text(now),
            to_text(now),
        ),
    )
    return new_id


async def record_report(
    conn: Connection, site_id: int, report_id: int, status: str, now: datetime
) -> None:
    """The site's current status becomes the status of its latest report."""
    await conn.execute(
        "UPDATE site SET status = ?, last_report_id = ?, report_count = report_count + 1, "
        "updated_at = ? WHERE id = ?",
        (status, report_id, to_text(now), site_id),
    )


async def status_counts(conn: Connection, path: str) -> list[tuple[str, str, str | None, int]]:
    """(unit path, category, current status, sites) for the sites of a subtree."""
    low, high = subtree_bounds(path)
    return [
        (r[0], r[1], r[2], r[3])
        for r in await fetch_all(
            conn,
            "SELECT u.path, s.category, s.status, COUNT(*) AS n FROM site s "
            "JOIN org_unit u ON u.id = s.unit_id WHERE u.path >= ? AND u.path < ? "
            "GROUP BY s.unit_id, u.path, s.category, s.status",
            (low, high),
        )
    ]
