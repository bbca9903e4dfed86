"""Per-day aggregates of reports (``unit_day``, ``member_day``): written with each report,
read by rankings and digests."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from storage.db import Connection, fetch_all


@dataclass(frozen=True)
class UnitDays:
    """One unit's totals over a range of days."""

    unit_id: int
    unit_path: str
    level: str
    reports: int
    flagged: int


async def count_report(
    conn: Connection, unit_id: int, member_id: int, day: date, flagged: bool
) -> None:
    await conn.execute(
        "INSERT INTO unit_day (unit_id, day, reports, flagged) VALUES (?, ?, 1, ?) "
        "ON CONFLICT (day, unit_id) DO UPDATE SET reports = unit_day.reports + 1, "
        "flagged = unit_day.flagged + excluded.flagged",
        (unit_id, day.isoformat(), int(flagged)),
    )
    await conn.execute(
        "INSERT INTO member_day (member_id, day, reports) VALUES (?, ?, 1) "
        "ON CONFLICT (day, member_id) DO UPDATE SET reports = member_day.reports + 1",
        (member_id, day.isoformat()),
    )


async def units_between(conn: Connection, first: date, last: date) -> list[UnitDays]:
    """Totals per unit for the days first…last (inclusive), with the unit's path."""
    return [
        UnitDays(**dict(row))
        for row in await fetch_all(
            conn,
            "SELECT d.unit_id, u.path AS unit_path, u.level, SUM(d.reports) AS reports, "
            "SUM(d.flagged) AS flagged FROM unit_day d JOIN org_unit u ON u.id = d.unit_id "
            "WHERE d.day >= ? AND d.day <= ? GROUP BY d.unit_id, u.path, u.level",
            (first.isoformat(), last.isoformat()),
        )
    ]


async def members_between(conn: Connection, first: date, last: date) -> list[tuple[int, str]]:
    """(member id, the member's unit path) of every member who reported in the range."""
    return [
        (row[0], row[1])
        for row in await fetch_all(
            conn,
            "SELECT DISTINCT d.member_id, u.path FROM member_day d "
            "JOIN member m ON m.id = d.member_id JOIN org_unit u ON u.id = m.unit_id "
            "WHERE d.day >= ? AND d.day <= ?",
            (first.isoformat(), last.isoformat()),
        )
    ]
