"""The rows behind exports, read in batches by id (keyset paging) on a plain, read-only
``sqlite3`` connection: exports run in a worker thread and may take a minute over a
city's history, so they neither hold the bot's connections nor one long cursor.

Every query takes the scope (a unit path: rows about units in that subtree), an
optional time range (aware datetimes, ``start`` inclusive, ``end`` exclusive), the last
id already read and a batch size, and returns rows (column name → value, times as aware
UTC datetimes) ordered by id.

The unary ``+`` on the path and time conditions keeps SQLite from driving the query
by the unit or time index, and ``CROSS JOIN`` keeps the record table the outer loop:
the other plan sorts every row of the scope for each batch (quadratic over a city:
50 s for 200,000 reports). Walking the table by id and checking each row's unit reads
the table once over the whole export, whatever the scope.
"""

from __future__ import annotations

import functools
import re
import sqlite3
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from storage.db import is_postgres_url
from storage.times import from_text_or_none, to_text
from storage.units import subtree_bounds

KINDS = ("reports", "tips", "members", "updates", "sites", "remaining")

_REPORTS = """
SELECT r.id, r.created_at AS at, r.unit_id, m.name AS member, m.telegram_id, r.category,
       s.code AS site, r.status, r.recheck, r.latitude, r.longitude, r.note,
       (SELECT group_concat(kind, ' ') FROM report_flag f WHERE f.report_id = r.id) AS flags,
       (SELECT group_concat(sha256, ' ') FROM
            (SELECT sha256 FROM report_photo p WHERE p.report_id = r.id ORDER BY position) AS ph
       ) AS photos
FROM report r
CROSS JOIN org_unit u ON u.id = r.unit_id
CROSS JOIN member m ON m.id = r.member_id
CROSS JOIN site s ON s.id = r.site_id
WHERE +u.path >= :low AND +u.path < :high AND +r.created_at >= :start AND +r.created_at < :end
  AND r.id > :after
ORDER BY r.id LIMIT :limit
"""

_TIPS = """
SELECT t.id, t.number, t.received_at AS at, t.source, t.unit_id, t.address, t.description,
       t.assigned_unit_id, t.assigned_at, t.deadline, t.acknowledged_at, t.state,
       t.closed_at, t.valid, t.result, t.returns, t.escalation_level, w.state AS reward,
       t.urgency, t.declined, t.extensions, t.parked_until, t.satisfaction,
       (SELECT o.number FROM tip o WHERE o.id = t.duplicate_of) AS duplicate_of
FROM tip t
CROSS JOIN org_unit u ON u.id = t.unit_id
LEFT JOIN org_unit a ON a.id = t.assigned_unit_id
LEFT JOIN reward w ON w.tip_id = t.id
WHERE ((+u.path >= :low AND +u.path < :high) OR (+a.path >= :low AND +a.path < :high))
  AND +t.received_at >= :start AND +t.received_at < :end AND t.id > :after
ORDER BY t.id LIMIT :limit
"""

_MEMBERS = """
SELECT m.id, m.telegram_id, m.name, m.username, m.role, m.active, m.unit_id,
       m.joined_at AS at, m.updated_at,
       (SELECT count(*) FROM report r WHERE r.member_id = m.id) AS reports,
       (SELECT max(r.created_at) FROM report r WHERE r.member_id = m.id) AS last_report
FROM member m
CROSS JOIN org_unit u ON u.id = m.unit_id
WHERE +u.path >= :low AND +u.path < :high AND +m.joined_at >= :start AND +m.joined_at < :end
  AND m.id > :after
ORDER BY m.id LIMIT :limit
"""

_UPDATES = """
SELECT s.id, s.created_at AS at, s.unit_id, m.name AS member, m.telegram_id, s.body,
       (SELECT group_concat(counter || '=' || value, ' ') FROM status_update_counter c
        WHERE c.update_id = s.id) AS counters
FROM status_update s
CROSS JOIN org_unit u ON u.id = s.unit_id
CROSS JOIN member m ON m.id = s.member_id
WHERE +u.path >= :low AND +u.path < :high AND +s.created_at >= :start AND +s.created_at < :end
  AND s.id > :after
ORDER BY s.id LIMIT :limit
"""

# A plan's current round on :today (a local day), and whether a site's row is overdue at
# :now — as ``bot.domain.plans.round_of`` and ``overdue_below`` decide.
_DAYS_SQLITE = "CAST(julianday(:today) - julianday(p.start_day) AS INTEGER)"
_DAYS_POSTGRES = "(CAST(:today AS date) - CAST(p.start_day AS date))"
_ROUND = f"(CASE WHEN p.cycle_days IS NULL THEN 0 ELSE {_DAYS_SQLITE} / p.cycle_days END)"
_PLAN_STATE = (
    f"CASE WHEN ps.last_round >= {_ROUND} THEN 'done' "
    "WHEN (p.cycle_days IS NULL AND :now >= p.deadline) "
    f"OR (p.cycle_days IS NOT NULL AND ps.last_round < {_ROUND} - 1) THEN 'overdue' "
    "ELSE 'due' END"
)
_SITE_SCOPE = (
    "+u.path >= :low AND +u.path < :high AND +s.created_at >= :start AND +s.created_at < :end"
)
_UNDONE = (
    "EXISTS (SELECT 1 FROM plan_site ps JOIN plan p ON p.id = ps.plan_id "
    f"WHERE ps.site_id = s.id AND p.state = 'open' AND ps.last_round < {_ROUND})"
)
_SITES = f"""
SELECT s.id, s.created_at AS at, s.category, s.code, s.name, s.address, s.unit_id, s.latitude,
       s.longitude, s.tags, s.status, s.registered, s.report_count,
       (SELECT group_concat(p.name || char(31) || {_PLAN_STATE}, char(30))
        FROM plan_site ps JOIN plan p ON p.id = ps.plan_id
        WHERE ps.site_id = s.id AND p.state = 'open') AS plans
FROM site s
CROSS JOIN org_unit u ON u.id = s.unit_id
WHERE {_SITE_SCOPE} AND s.id > :after {{only}}
ORDER BY s.id LIMIT :limit
"""

_QUERIES = {
    "reports": _REPORTS,
    "tips": _TIPS,
    "members": _MEMBERS,
    "updates": _UPDATES,
    "sites": _SITES.format(only=""),
    "remaining": _SITES.format(only=f"AND {_UNDONE}"),
}
_COUNTS = {
    "reports": "SELECT count(*) FROM report r JOIN org_unit u ON u.id = r.unit_id "
    "WHERE u.path >= :low AND u.path < :high AND r.created_at >= :start AND r.created_at < :end",
    "tips": "SELECT count(*) FROM tip t JOIN org_unit u ON u.id = t.unit_id "
    "LEFT JOIN org_unit a ON a.id = t.assigned_unit_id "
    "WHERE ((u.path >= :low AND u.path < :high) OR (a.path >= :low AND a.path < :high)) "
    "AND t.received_at >= :start AND t.received_at < :end",
    "members": "SELECT count(*) FROM member m JOIN org_unit u ON u.id = m.unit_id "
    "WHERE u.path >= :low AND u.path < :high AND m.joined_at >= :start AND m.joined_at < :end",
    "updates": "SELECT count(*) FROM status_update s JOIN org_unit u ON u.id = s.unit_id "
    "WHERE u.path >= :low AND u.path < :high AND s.created_at >= :start AND s.created_at < :end",
    "sites": f"SELECT count(*) FROM site s JOIN org_unit u ON u.id = s.unit_id WHERE {_SITE_SCOPE}",
    "remaining": "SELECT count(*) FROM site s JOIN org_unit u ON u.id = s.unit_id "
    f"WHERE {_SITE_SCOPE} AND {_UNDONE}",
}

# Bounds that include every stored time ('YYYY-MM-DDTHH:MM:SSZ').
_EARLIEST = "0000"
_LATEST = "9999"


def connect(target: Path | str) -> Any:
    """A read-only connection of its own: a ``sqlite3`` one on the file (which must
    exist), or a blocking PostgreSQL one in a read-only transaction."""
    if is_postgres_url(target):
        from storage.postgres import connect_sync

        pg = connect_sync(str(target))
        pg.execute("SET default_transaction_read_only = on")
        return pg
    conn = sqlite3.connect(f"{Path(target).resolve().as_uri()}?mode=ro", uri=True)
    conn.row_factory = sqlite3.Row
    conn.execute("PRAGMA busy_timeout=5000")
    return conn


def _sql(conn: Any, sql: str) -> str:
    """On PostgreSQL, without SQLite's planner hints: the unary ``+`` (no text operator
    there) and ``CROSS JOIN … ON`` (a plain join; PostgreSQL plans it by cost); and in
    its dialect the days between two ISO days and the characters by code."""
    if getattr(conn, "dialect", "sqlite") == "postgresql":
        return _postgres(sql)
    return sql


@functools.lru_cache(maxsize=64)
def _postgres(sql: str) -> str:
    sql = _PLUS.sub("", sql).replace("CROSS JOIN", "JOIN")
    sql = sql.replace(_DAYS_SQLITE, _DAYS_POSTGRES)
    return _CHAR.sub(r"chr(\1)", sql)


_PLUS = re.compile(r"\+(?=[a-z]\.)")
_CHAR = re.compile(r"\bchar\((\d+)\)")


# The time columns of the queries above, returned as datetimes.
_TIMES = ("at", "assigned_at", "deadline", "acknowledged_at", "closed_at", "updated_at")
_TIMES += ("last_report",)


def _params(
    path: str, start: datetime | None, end: datetime | None, at: datetime | None, today: str
) -> dict[str, object]:
    low, high = subtree_bounds(path)
    return {
        "low": low,
        "high": high,
        "start": to_text(start) if start else _EARLIEST,
        "end": to_text(end) if end else _LATEST,
        "now": to_text(at or datetime.now(UTC)),
        "today": today or (at or datetime.now(UTC)).date().isoformat(),
    }


def _row(row: Any) -> dict[str, Any]:
    data = dict(row)
    for name in _TIMES:
        if name in data:
            data[name] = from_text_or_none(data[name])
    return data


def count(
    conn: Any,
    kind: str,
    path: str,
    start: datetime | None,
    end: datetime | None,
    at: datetime | None = None,
    today: str = "",
) -> int:
    """How many rows ``batch`` would give; ``at`` and ``today`` (a local day) are the moment
    plan states are taken at (now when None)."""
    params = _params(path, start, end, at, today)
    return int(conn.execute(_sql(conn, _COUNTS[kind]), params).fetchone()[0])


def batch(
    conn: Any,
    kind: str,
    path: str,
    start: datetime | None,
    end: datetime | None,
    after: int,
    limit: int,
    at: datetime | None = None,
    today: str = "",
) -> list[dict[str, Any]]:
    params = {**_params(path, start, end, at, today), "after": after, "limit": limit}
    return [_row(row) for row in conn.execute(_sql(conn, _QUERIES[kind]), params).fetchall()]


def units(conn: Any) -> dict[int, tuple[str, str, str, str]]:
    """Every unit: id → (code, name, level, path)."""
    return {
        row[0]: (row[1], row[2], row[3], row[4])
        for row in conn.execute("SELECT id, code, name, level, path FROM org_unit")
    }
