"""Repository of the grid tree (``org_unit``)."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from datetime import datetime

from storage.db import Connection, fetch_all, fetch_one, insert_id
from storage.times import to_text

_COLUMNS = "id, code, name, level, parent_id, path, sort_order, active"


@dataclass(frozen=True)
class Unit:
    id: int
    code: str
    name: str
    level: str
    parent_id: int | None
    path: str
    sort_order: int
    active: bool

    def contains(self, other: Unit) -> bool:
        """True when ``other`` is this unit or lies below it."""
        return other.path.startswith(self.path)


@dataclass(frozen=True)
class NewUnit:
    code: str
    name: str
    level: str
    parent_id: int | None
    sort_order: int


def _unit(row: sqlite3.Row) -> Unit:
    return Unit(
        id=row["id"],
        code=row["code"],
        name=row["name"],
        level=row["level"],
        parent_id=row["parent_id"],
        path=row["path"],
        sort_order=row["sort_order"],
        active=bool(row["active"]),
    )


def subtree_bounds(path: str) -> tuple[str, str]:
    """The half-open text range that holds ``path`` and every path below it.

    Paths end with '/', and '0' is the character after '/', so the range is an index scan.
    """
    return path, path[:-1] + "0"


async def all_units(conn: Connection) -> list[Unit]:
    return [
        _unit(row)
        for row in await fetch_all(conn, f"SELECT {_COLUMNS} FROM org_unit ORDER BY path")
    ]


async def get_by_code(conn: Connection, code: str) -> Unit | None:
    row = await fetch_one(conn, f"SELECT {_COLUMNS} FROM org_unit WHERE code = ?", (code,))
    return _unit(row) if row else None


async def get_by_id(conn: Connection, unit_id: int) -> Unit | None:
    row = await fetch_one(conn, f"SELECT {_COLUMNS} FROM org_unit WHERE id = ?", (unit_id,))
    return _unit(row) if row else None


async def root(conn: Connection) -> Unit | None:
    row = await fetch_one(
        conn, f"SELECT {_COLUMNS} FROM org_unit WHERE parent_id IS NULL ORDER BY id LIMIT 1"
    )
    return _unit(row) if row else None


async def subtree(conn: Connection, unit: Unit) -> list[Unit]:
    """``unit`` and everything below it, parents before children."""
    low, high = subtree_bounds(unit.path)
    return [
        _unit(row)
        for row in await fetch_all(
            conn,
            f"SELECT {_COLUMNS} FROM org_unit WHERE path >= ? AND path < ? ORDER BY path",
            (low, high),
        )
    ]


async def ancestors(conn: Connection, unit: Unit) -> list[Unit]:
    """The chain from the root down to ``unit`` itself."""
    ids = [int(part) for part in unit.path.strip("/").split("/")]
    marks = ",".join("?" * len(ids))
    return [
        _unit(row)
        for row in await fetch_all(
            conn,
            f"SELECT {_COLUMNS} FROM org_unit WHERE id IN ({marks}) ORDER BY length(path)",
            ids,
        )
    ]


async def insert(conn: Connection, unit: NewUnit, now: datetime) -> int:
    """Insert a unit with a provisional path; ``set_path`` fixes it once the id is known."""
    new_id = await insert_id(
        conn,
        "INSERT INTO org_unit (code, name, level, parent_id, path, sort_order, active, "
        "created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, 1, ?, ?)",
        (
            unit.code,
            unit.name,
            unit.level,
            unit.parent_id,
            f"/pending/{unit.code}/",
            unit.sort_order,
            to_text(now),
            to_text(now),
        ),
    )
    return new_id


async def update(
    conn: Connection,
    unit_id: int,
    *,
    name: str,
    level: str,
    parent_id: int | None,
    sort_order: int,
    active: bool,
    now: datetime,
) -> None:
    await conn.execute(
        "UPDATE org_unit SET name = ?, level = ?, parent_id = ?, sort_order = ?, active = ?, "
        "updated_at = ? WHERE id = ?",
        (name, level, parent_id, sort_order, int(active), to_text(now), unit_id),
    )


async def set_active(conn: Connection, unit_id: int, active: bool, now: datetime) -> None:
    await conn.execute(
        "UPDATE org_unit SET active = ?, updated_at = ? WHERE id = ?",
        (int(active), to_text(now), unit_id),
    )


async def set_path(conn: Connection, unit_id: int, path: str) -> None:
    await conn.execute("UPDATE org_unit SET path = ? WHERE id = ?", (path, unit_id))


async def children(conn: Connection, unit_id: int) -> list[Unit]:
    return [
        _unit(row)
        for row in await fetch_all(
            conn,
            f"SELECT {_COLUMNS} FROM org_unit WHERE parent_id = ? ORDER BY sort_order, code",
            (unit_id,),
        )
    ]
