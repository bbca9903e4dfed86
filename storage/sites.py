"""Repository of sites: the wells and hazard points that reports are about."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from datetime import datetime

from storage.db import POSTGRESQL, Connection, fetch_all, fetch_one, insert_id
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
    key: str = ""  # the code as compared (``code_key``); computed when not given

    def __post_init__(self) -> None:
        if not self.key:
            object.__setattr__(self, "key", code_key(self.code))


def _staging(conn: Connection) -> dict[str, str]:
    """The staging tables' dialect: the temporary schema's name, and on PostgreSQL text
    compared byte by byte as the tables' columns are (``COLLATE "C"``), 8-byte numbers
    and no ``WITHOUT ROWID``; ``IS NOT`` between values that may be NULL."""
    if conn.dialect == POSTGRESQL:
        return {
            "tmp": "pg_temp",
            "text": 'TEXT COLLATE "C"',
            "int": "BIGINT",
            "real": "DOUBLE PRECISION",
            "rowid": "",
            "isnot": "IS DISTINCT FROM",
        }
    return {
        "tmp": "temp",
        "text": "TEXT",
        "int": "INTEGER",
        "real": "REAL",
        "rowid": " WITHOUT ROWID",
        "isnot": "IS NOT",
    }


async def stage_begin(conn: Connection) -> None:
    """Inside a transaction: empty staging tables for an import (this connection's own)."""
    d = _staging(conn)
    for table in ("site_import", "site_import_tag", "site_touch"):
        await conn.execute(f"DROP TABLE IF EXISTS {d['tmp']}.{table}")
    text = d["text"]
    await conn.execute(
        f"CREATE TEMP TABLE site_import (category {text} NOT NULL, code {text} NOT NULL, "
        f"code_key {text} NOT NULL, name {text}, address {text}, unit_id {d['int']} NOT NULL, "
        f"latitude {d['real']}, longitude {d['real']}, tags {text} NOT NULL, status {text}, "
        f"PRIMARY KEY (category, code_key)){d['rowid']}"
    )
    await conn.execute(
        f"CREATE TEMP TABLE site_import_tag (category {text}, code_key {text}, tag {text})"
    )
    await conn.execute(f"CREATE TEMP TABLE site_touch (site_id {d['int']} PRIMARY KEY)")


async def stage_rows(conn: Connection, rows: list[RegistryRow]) -> None:
    """Checked rows of the file into the staging tables."""
    tmp = _staging(conn)["tmp"]
    await conn.executemany(
        f"INSERT INTO {tmp}.site_import VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            (
                r.category,
                r.code,
                r.key,
                r.name,
                r.address,
                r.unit_id,
                r.latitude,
                r.longitude,
                ";".join(r.tags),
                r.status,
            )
            for r in rows
        ],
    )
    await conn.executemany(
        f"INSERT INTO {tmp}.site_import_tag VALUES (?, ?, ?)",
        [(r.category, r.key, tag) for r in rows for tag in r.tags],
    )


async def stage_apply(conn: Connection, now: datetime) -> tuple[int, int, list[str]]:
    """The staged file applied as set operations: known sites whose name, address, unit,
    coordinates or tags differ are updated (a worker's site becomes registered); new
    ones are added with their starting status; their tags follow. Returns (added,
    updated, the registered sites missing from the file as 'category:code')."""
    stamp = to_text(now)
    d = _staging(conn)
    tmp, isnot = d["tmp"], d["isnot"]
    await conn.execute(
        f"INSERT INTO {tmp}.site_touch (site_id) SELECT s.id FROM {tmp}.site_import i "
        "JOIN site s ON s.category = i.category AND s.code_key = i.code_key "
        f"WHERE s.name {isnot} i.name OR s.address {isnot} i.address OR s.unit_id <> i.unit_id "
        f"OR s.latitude {isnot} i.latitude OR s.longitude {isnot} i.longitude "
        "OR s.tags <> i.tags OR s.registered = 0"
    )
    updated = (await fetch_one(conn, f"SELECT COUNT(*) FROM {tmp}.site_touch"))[0]
    await conn.execute(
        "UPDATE site SET name = i.name, address = i.address, unit_id = i.unit_id, "
        "latitude = i.latitude, longitude = i.longitude, tags = i.tags, registered = 1, "
        f"updated_at = ? FROM {tmp}.site_touch x, {tmp}.site_import i WHERE x.site_id = site.id "
        "AND site.category = i.category AND site.code_key = i.code_key",
        (stamp,),
    )
    before = (await fetch_one(conn, "SELECT coalesce(MAX(id), 0) FROM site"))[0]
    cur = await conn.execute(
        "INSERT INTO site (category, code, code_key, unit_id, status, name, address, latitude, "
        "longitude, tags, registered, created_at, updated_at) "
        "SELECT category, code, code_key, unit_id, status, name, address, latitude, longitude, "
        f"tags, 1, ?, ? FROM {tmp}.site_import i WHERE NOT EXISTS (SELECT 1 FROM site s "
        "WHERE s.category = i.category AND s.code_key = i.code_key)",
        (stamp, stamp),
    )
    added = cur.rowcount
    await conn.execute(
        f"INSERT INTO {tmp}.site_touch (site_id) SELECT id FROM site WHERE id > ?", (before,)
    )
    await conn.execute(
        f"DELETE FROM site_tag WHERE site_id IN (SELECT site_id FROM {tmp}.site_touch)"
    )
    # (the WHERE tells SQLite's parser the ON CONFLICT is the INSERT's, not the join's)
    await conn.execute(
        "INSERT INTO site_tag (tag, site_id) SELECT t.tag, s.id "
        f"FROM {tmp}.site_import_tag t JOIN site s ON s.category = t.category "
        f"AND s.code_key = t.code_key JOIN {tmp}.site_touch x ON x.site_id = s.id "
        "WHERE true ON CONFLICT DO NOTHING"
    )
    missing = [
        f"{r[0]}:{r[1]}"
        for r in await fetch_all(
            conn,
            "SELECT s.category, s.code FROM site s WHERE s.registered = 1 AND NOT EXISTS "
            f"(SELECT 1 FROM {tmp}.site_import i WHERE i.category = s.category "
            "AND i.code_key = s.code_key) ORDER BY s.id",
        )
    ]
    for table in ("site_import", "site_import_tag", "site_touch"):
        await conn.execute(f"DROP TABLE {tmp}.{table}")
    return added, updated, missing


async def set_tags(conn: Connection, site_id: int, tags: tuple[str, ...] | list[str]) -> None:
    """The site's tags become exactly ``tags``."""
    await conn.execute("DELETE FROM site_tag WHERE site_id = ?", (site_id,))
    await conn.executemany(
        "INSERT INTO site_tag (tag, site_id) VALUES (?, ?) ON CONFLICT DO NOTHING",
        [(tag, site_id) for tag in tags],
    )
    await conn.execute("UPDATE site SET tags = ? WHERE id = ?", (";".join(tags), site_id))
