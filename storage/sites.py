"""Repository of sites: the wells and hazard points that reports are about."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from datetime import datetime

from storage.db import Connection, fetch_all, fetch_one
from storage.times import from_text, to_text
from storage.units import subtree_bounds

_COLUMNS = (
    "s.id, s.category, s.code, s.unit_id, s.status, s.last_report_id, s.report_count, "
    "s.created_at, s.updated_at, u.code AS unit_code, u.name AS unit_name, u.path AS unit_path, "
    "s.name, s.address, s.latitude, s.longitude, s.tags, s.registered"
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
    name: str | None = None
    address: str | None = None
    latitude: float | None = None
    longitude: float | None = None
    tags: str = ""
    registered: bool = False

    @property
    def tag_list(self) -> list[str]:
        """The site's tags, in the order written."""
        return [tag for tag in self.tags.split(";") if tag]


def code_key(code: str) -> str:
    """The form codes are compared in: case-folded, runs of spaces made one."""
    return " ".join(code.split()).casefold()


def _site(row: sqlite3.Row) -> Site:
    data = dict(row)
    data["created_at"] = from_text(data["created_at"])
    data["updated_at"] = from_text(data["updated_at"])
    data["registered"] = bool(data["registered"])
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
    cur = await conn.execute(
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
    assert cur.lastrowid is not None
    return cur.lastrowid


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
            "GROUP BY s.unit_id, s.category, s.status",
            (low, high),
        )
    ]


# ---------------------------------------------------------------------- the registry


@dataclass(frozen=True)
class RegistryRow:
    """One site of an imported list, checked: unit and category resolved."""

    category: str
    code: str
    name: str | None
    address: str | None
    unit_id: int
    latitude: float | None
    longitude: float | None
    tags: tuple[str, ...]
    status: str | None


@dataclass(frozen=True)
class Known:
    """What the registry holds for a code, to compare an imported row against."""

    id: int
    unit_id: int
    name: str | None
    address: str | None
    latitude: float | None
    longitude: float | None
    tags: str


async def known(conn: Connection, category: str, keys: list[str]) -> dict[str, Known]:
    """The sites of ``category`` with these code keys, by key."""
    found: dict[str, Known] = {}
    for start in range(0, len(keys), 500):
        chunk = keys[start : start + 500]
        marks = ",".join("?" * len(chunk))
        for row in await fetch_all(
            conn,
            "SELECT code_key, id, unit_id, name, address, latitude, longitude, tags FROM site "
            f"WHERE category = ? AND code_key IN ({marks})",
            (category, *chunk),
        ):
            found[row[0]] = Known(row[1], row[2], row[3], row[4], row[5], row[6], row[7])
    return found


async def set_tags(conn: Connection, site_id: int, tags: tuple[str, ...] | list[str]) -> None:
    """The site's tags become exactly ``tags``."""
    await conn.execute("DELETE FROM site_tag WHERE site_id = ?", (site_id,))
    await conn.executemany(
        "INSERT OR IGNORE INTO site_tag (tag, site_id) VALUES (?, ?)",
        [(tag, site_id) for tag in tags],
    )
    await conn.execute("UPDATE site SET tags = ? WHERE id = ?", (";".join(tags), site_id))


async def registered_codes(conn: Connection) -> list[tuple[int, str, str]]:
    """(id, category, code key) of every registered site."""
    return [
        (r[0], r[1], r[2])
        for r in await fetch_all(
            conn, "SELECT id, category, code_key FROM site WHERE registered = 1 ORDER BY id"
        )
    ]


async def code_of(conn: Connection, site_id: int) -> tuple[str, str] | None:
    row = await fetch_one(conn, "SELECT category, code FROM site WHERE id = ?", (site_id,))
    return (row[0], row[1]) if row else None


async def tag_count(conn: Connection, tag: str) -> int:
    row = await fetch_one(conn, "SELECT COUNT(*) FROM site_tag WHERE tag = ?", (tag,))
    return int(row[0]) if row else 0


async def add_many(conn: Connection, rows: list[RegistryRow], now: datetime) -> None:
    """New sites from the registry, with their tags, in two statements."""
    if not rows:
        return
    stamp = to_text(now)
    await conn.executemany(
        "INSERT INTO site (category, code, code_key, unit_id, status, name, address, latitude, "
        "longitude, tags, registered, created_at, updated_at) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 1, ?, ?)",
        [
            (
                r.category,
                r.code,
                code_key(r.code),
                r.unit_id,
                r.status,
                r.name,
                r.address,
                r.latitude,
                r.longitude,
                ";".join(r.tags),
                stamp,
                stamp,
            )
            for r in rows
        ],
    )
    await _tag_many(conn, rows)


async def _tag_many(conn: Connection, rows: list[RegistryRow]) -> None:
    await conn.executemany(
        "INSERT OR IGNORE INTO site_tag (tag, site_id) "
        "SELECT ?, id FROM site WHERE category = ? AND code_key = ?",
        [(tag, r.category, code_key(r.code)) for r in rows for tag in r.tags],
    )


async def update_many(
    conn: Connection, changed: list[tuple[int, RegistryRow]], now: datetime
) -> None:
    """Registry rows for sites already known: the file's names, unit, tags, coordinates."""
    if not changed:
        return
    stamp = to_text(now)
    await conn.executemany(
        "UPDATE site SET name = ?, address = ?, unit_id = ?, latitude = ?, longitude = ?, "
        "tags = ?, registered = 1, updated_at = ? WHERE id = ?",
        [
            (r.name, r.address, r.unit_id, r.latitude, r.longitude, ";".join(r.tags), stamp, i)
            for i, r in changed
        ],
    )
    await conn.executemany(
        "DELETE FROM site_tag WHERE site_id = ?", [(site_id,) for site_id, _ in changed]
    )
    await _tag_many(conn, [r for _, r in changed])
