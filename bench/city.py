"""The benchmarks' city: 4 districts, 40 streets, 400 communities and 4,000 grids."""

from __future__ import annotations

import sqlite3


def insert_city(conn: sqlite3.Connection, now: str) -> tuple[list[tuple], list[tuple[int, str]]]:
    """Write the unit tree into ``org_unit`` (ids from 1, the city first, ``now`` as its
    times); return its rows (id, code, name, level, …) and the grids as (id, code)."""
    units: list[tuple] = [(1, "NY", "南阳市", "city", None, "/1/", 0, 1, now)]
    grids: list[tuple[int, str]] = []
    next_id = 2

    def add(code: str, name: str, level: str, parent: int, parent_path: str) -> tuple[int, str]:
        nonlocal next_id
        unit_id = next_id
        next_id += 1
        path = f"{parent_path}{unit_id}/"
        units.append((unit_id, code, name, level, parent, path, unit_id, 1, now))
        return unit_id, path

    for d in range(4):
        did, dpath = add(f"D{d}", f"第{d + 1}区", "district", 1, "/1/")
        for s in range(10):
            sid, spath = add(f"D{d}-S{s}", f"第{d + 1}区{s + 1}街道", "street", did, dpath)
            for c in range(10):
                cid, cpath = add(
                    f"D{d}-S{s}-C{c}", f"{s + 1}街道{c + 1}社区", "community", sid, spath
                )
                for g in range(10):
                    code = f"D{d}-S{s}-C{c}-{g}"
                    gid, _ = add(code, f"{c + 1}社区{g + 1}网格", "grid", cid, cpath)
                    grids.append((gid, code))
    conn.executemany(
        "INSERT INTO org_unit (id, code, name, level, parent_id, path, sort_order, active, "
        "created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [(*u, now) for u in units],
    )
    return units, grids
