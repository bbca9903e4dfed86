"""Repository of submitted reports, their photos and their flags."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from datetime import datetime

from storage.db import Connection, fetch_all, fetch_one, insert_id
from storage.times import from_text, to_text
from storage.units import subtree_bounds

_COLUMNS = (
    "r.id, r.site_id, r.category, r.status, r.unit_id, r.member_id, r.latitude, "
    "r.longitude, r.note, r.recheck, r.created_at, s.code AS site_code, "
    "m.name AS member_name, u.code AS unit_code, u.name AS unit_name, "
    "(SELECT COUNT(*) FROM report_photo p WHERE p.report_id = r.id) AS photo_count, "
    "(SELECT group_concat(f.kind, ',') FROM report_flag f WHERE f.report_id = r.id) AS flags"
)
_FROM = (
    "FROM report r JOIN site s ON s.id = r.site_id JOIN member m ON m.id = r.member_id "
    "JOIN org_unit u ON u.id = r.unit_id"
)


@dataclass(frozen=True)
class Report:
    id: int
    site_id: int
    category: str
    status: str
    unit_id: int
    member_id: int
    latitude: float | None
    longitude: float | None
    note: str | None
    recheck: bool
    created_at: datetime
    site_code: str
    member_name: str
    unit_code: str
    unit_name: str
    photo_count: int
    flags: tuple[str, ...]

    @property
    def number(self) -> str:
        return number_of(self.id)


@dataclass(frozen=True)
class NewReport:
    draft_id: int
    site_id: int
    category: str
    status: str
    unit_id: int
    member_id: int
    latitude: float | None
    longitude: float | None
    note: str | None
    recheck: bool
    flagged: bool
    created_at: datetime


@dataclass(frozen=True)
class Photo:
    sha256: str
    file_id: str
    file_unique_id: str
    as_file: bool

    @classmethod
    def of_row(cls, row: sqlite3.Row) -> Photo:
        """From a row with the columns ``PHOTO_COLUMNS`` (a report's or a draft's photo)."""
        return cls(row["sha256"], row["file_id"], row["file_unique_id"], bool(row["as_file"]))


PHOTO_COLUMNS = "sha256, file_id, file_unique_id, as_file"


@dataclass(frozen=True)
class Flag:
    kind: str
    detail: str = ""


def number_of(report_id: int) -> str:
    """The number people see and quote: R-000123."""
    return f"R-{report_id:06d}"


def _report(row: sqlite3.Row) -> Report:
    data = dict(row)
    data["recheck"] = bool(data["recheck"])
    data["created_at"] = from_text(data["created_at"])
    data["flags"] = tuple(sorted(set(data["flags"].split(",")))) if data["flags"] else ()
    return Report(**data)


async def insert(
    conn: Connection, report: NewReport, photos: list[Photo], flags: list[Flag]
) -> int:
    new_id = await insert_id(
        conn,
        "INSERT INTO report (draft_id, site_id, category, status, unit_id, member_id, "
        "latitude, longitude, note, recheck, flagged, created_at) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            report.draft_id,
            report.site_id,
            report.category,
            report.status,
            report.unit_id,
            report.member_id,
            report.latitude,
            report.longitude,
            report.note,
            int(report.recheck),
            int(report.flagged),
            to_text(report.created_at),
        ),
    )
    report_id = new_id
    assert report_id is not None
    await conn.executemany(
        "INSERT INTO report_photo (report_id, position, sha256, file_id, file_unique_id, "
        "as_file) VALUES (?, ?, ?, ?, ?, ?)",
        [
            (report_id, position, p.sha256, p.file_id, p.file_unique_id, int(p.as_file))
            for position, p in enumerate(photos, start=1)
        ],
    )
    await conn.executemany(
        "INSERT INTO report_flag (report_id, kind, detail) VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
        [(report_id, f.kind, f.detail) for f in flags],
    )
    return report_id


async def by_id(conn: Connection, report_id: int) -> Report | None:
    row = await fetch_one(conn, f"SELECT {_COLUMNS} {_FROM} WHERE r.id = ?", (report_id,))
    return _report(row) if row else None


async def id_by_draft(conn: Connection, draft_id: int) -> int | None:
    row = await fetch_one(conn, "SELECT id FROM report WHERE draft_id = ?", (draft_id,))
    return row["id"] if row else None


async def photos(conn: Connection, report_id: int) -> list[Photo]:
    rows = await fetch_all(
        conn,
        f"SELECT {PHOTO_COLUMNS} FROM report_photo WHERE report_id = ? ORDER BY position",
        (report_id,),
    )
    return [Photo.of_row(row) for row in rows]


async def flags(conn: Connection, report_id: int) -> list[Flag]:
    return [
        Flag(r["kind"], r["detail"])
        for r in await fetch_all(
            conn,
            "SELECT kind, detail FROM report_flag WHERE report_id = ? ORDER BY kind, detail",
            (report_id,),
        )
    ]


async def first_use(conn: Connection, sha256: str, file_unique_id: str) -> int | None:
    """The earliest report holding these bytes or this Telegram file, if any."""
    row = await fetch_one(
        conn,
        "SELECT MIN(report_id) AS first FROM report_photo WHERE sha256 = ? OR file_unique_id = ?",
        (sha256, file_unique_id),
    )
    return row["first"] if row else None


async def unit_path(conn: Connection, report_id: int) -> str | None:
    """The path of the unit a report belongs to (None for no such report)."""
    row = await fetch_one(
        conn,
        "SELECT u.path FROM report r JOIN org_unit u ON u.id = r.unit_id WHERE r.id = ?",
        (report_id,),
    )
    return row[0] if row else None


async def for_site(conn: Connection, site_id: int, limit: int) -> list[Report]:
    return [
        _report(row)
        for row in await fetch_all(
            conn,
            f"SELECT {_COLUMNS} {_FROM} WHERE r.site_id = ? ORDER BY r.id DESC LIMIT ?",
            (site_id, limit),
        )
    ]


async def count_for_member(conn: Connection, member_id: int) -> int:
    row = await fetch_one(
        conn, "SELECT COUNT(*) AS n FROM report WHERE member_id = ?", (member_id,)
    )
    return int(row["n"])


async def page_for_member(
    conn: Connection, member_id: int, limit: int, offset: int
) -> list[Report]:
    return [
        _report(row)
        for row in await fetch_all(
            conn,
            f"SELECT {_COLUMNS} {_FROM} WHERE r.member_id = ? ORDER BY r.id DESC LIMIT ? OFFSET ?",
            (member_id, limit, offset),
        )
    ]


def _scope(path: str, since: datetime | None) -> tuple[str, list[object]]:
    low, high = subtree_bounds(path)
    where = "u.path >= ? AND u.path < ?"
    params: list[object] = [low, high]
    if since is not None:
        where += " AND r.created_at >= ?"
        params.append(to_text(since))
    return where, params


async def count_in_subtree(conn: Connection, path: str, since: datetime | None) -> int:
    where, params = _scope(path, since)
    row = await fetch_one(
        conn,
        f"SELECT COUNT(*) AS n FROM report r JOIN org_unit u ON u.id = r.unit_id WHERE {where}",
        params,
    )
    return int(row["n"])


async def page_in_subtree(
    conn: Connection, path: str, since: datetime | None, limit: int, offset: int
) -> list[Report]:
    where, params = _scope(path, since)
    return [
        _report(row)
        for row in await fetch_all(
            conn,
            f"SELECT {_COLUMNS} {_FROM} WHERE {where} ORDER BY r.id DESC LIMIT ? OFFSET ?",
            [*params, limit, offset],
        )
    ]


async def count_since_for_member(conn: Connection, member_id: int, since: datetime) -> int:
    row = await fetch_one(
        conn,
        "SELECT COUNT(*) AS n FROM report WHERE member_id = ? AND created_at >= ?",
        (member_id, to_text(since)),
    )
    return int(row["n"])
