"""Repository of inspection plans (检查任务): the plans, the sites each covers
(``plan_site``, with the round each was last done in) and the tally per plan, unit and
round (``plan_tally``) that progress is read from.

A site's round is -1 until a report counts for it. The tally holds, for each plan, each
unit *and every unit above it*, how many sites were last done in each round, and (round
``ALL``) how many sites there are; moving a site from one round to a later one moves one
count at each level of its unit's chain, in the submit transaction. Progress then reads,
for a unit and its children, the rows of three rounds — never the reports.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from datetime import date, datetime

from storage.db import Connection, fetch_all, fetch_one, insert_id
from storage.times import from_text, from_text_or_none, to_text
from storage.units import subtree_bounds

NEVER = -1  # the round of a site no report has counted for yet
ALL = -9  # the tally row counting every site of the plan in the unit

_COLUMNS = (
    "p.id, p.name, p.category, p.unit_id, p.tag, p.deadline, p.cycle_days, p.weekly, "
    "p.done_rule, p.start_day, p.state, p.created_by, p.created_at, p.closed_at, "
    "u.code AS unit_code, u.name AS unit_name, u.path AS unit_path"
)
_FROM = "FROM plan p JOIN org_unit u ON u.id = p.unit_id"


@dataclass(frozen=True)
class Plan:
    id: int
    name: str
    category: str
    unit_id: int
    tag: str | None
    deadline: datetime | None
    cycle_days: int | None
    weekly: bool
    done_rule: str  # 'any' | 'done'
    start_day: date
    state: str  # 'open' | 'closed'
    created_by: int | None
    created_at: datetime
    closed_at: datetime | None
    unit_code: str
    unit_name: str
    unit_path: str


@dataclass(frozen=True)
class NewPlan:
    name: str
    category: str
    unit_id: int
    tag: str | None
    deadline: datetime | None
    cycle_days: int | None
    weekly: bool
    done_rule: str
    start_day: date
    created_by: int | None
    created_at: datetime


@dataclass(frozen=True)
class Membership:
    """A site's row in one plan."""

    plan_id: int
    site_id: int
    unit_id: int
    last_round: int
    last_done_at: datetime | None
    unit_path: str = ""


def chain(path: str) -> list[int]:
    """The ids of a unit path's units, the root first: '/1/4/17/' → [1, 4, 17]."""
    return [int(part) for part in path.strip("/").split("/") if part]


@dataclass(frozen=True)
class DueSite:
    """A site of an open plan that still needs its report this round."""

    plan_id: int
    site_id: int
    code: str
    name: str | None
    address: str | None
    category: str
    latitude: float | None
    longitude: float | None
    unit_name: str
    last_round: int


def _plan(row: sqlite3.Row) -> Plan:
    data = dict(row)
    data["deadline"] = from_text_or_none(data["deadline"])
    data["created_at"] = from_text(data["created_at"])
    data["closed_at"] = from_text_or_none(data["closed_at"])
    data["start_day"] = date.fromisoformat(data["start_day"])
    data["weekly"] = bool(data["weekly"])
    return Plan(**data)


async def insert(conn: Connection, plan: NewPlan) -> int:
    return await insert_id(
        conn,
        "INSERT INTO plan (name, category, unit_id, tag, deadline, cycle_days, weekly, "
        "done_rule, start_day, state, created_by, created_at) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 'open', ?, ?)",
        (
            plan.name,
            plan.category,
            plan.unit_id,
            plan.tag,
            to_text(plan.deadline) if plan.deadline else None,
            plan.cycle_days,
            int(plan.weekly),
            plan.done_rule,
            plan.start_day.isoformat(),
            plan.created_by,
            to_text(plan.created_at),
        ),
    )


async def by_id(conn: Connection, plan_id: int) -> Plan | None:
    row = await fetch_one(conn, f"SELECT {_COLUMNS} {_FROM} WHERE p.id = ?", (plan_id,))
    return _plan(row) if row else None


async def by_name(conn: Connection, name: str) -> list[Plan]:
    """Plans with this name, the open ones first, newest first."""
    return [
        _plan(row)
        for row in await fetch_all(
            conn,
            f"SELECT {_COLUMNS} {_FROM} WHERE p.name = ? ORDER BY p.state = 'closed', p.id DESC",
            (name,),
        )
    ]


async def open_plans(conn: Connection) -> list[Plan]:
    return [
        _plan(row)
        for row in await fetch_all(
            conn, f"SELECT {_COLUMNS} {_FROM} WHERE p.state = 'open' ORDER BY p.id"
        )
    ]


async def close(conn: Connection, plan_id: int, member_id: int | None, now: datetime) -> bool:
    cur = await conn.execute(
        "UPDATE plan SET state = 'closed', closed_by = ?, closed_at = ? "
        "WHERE id = ? AND state = 'open'",
        (member_id, to_text(now), plan_id),
    )
    return cur.rowcount == 1


def _match(plan: Plan | NewPlan, path: str) -> tuple[str, list[object]]:
    """The condition (on ``s`` and ``u``) for the sites a plan covers."""
    low, high = subtree_bounds(path)
    where = "s.category = ? AND u.path >= ? AND u.path < ?"
    params: list[object] = [plan.category, low, high]
    if plan.tag:
        where += " AND EXISTS (SELECT 1 FROM site_tag t WHERE t.tag = ? AND t.site_id = s.id)"
        params.append(plan.tag)
    return where, params


async def count_matching(conn: Connection, plan: NewPlan, path: str) -> int:
    """How many sites a plan being made would cover."""
    where, params = _match(plan, path)
    row = await fetch_one(
        conn,
        f"SELECT COUNT(*) FROM site s JOIN org_unit u ON u.id = s.unit_id WHERE {where}",
        params,
    )
    return int(row[0]) if row else 0


async def join_matching(conn: Connection, plan: Plan) -> int:
    """Add every site that matches the plan and is not in it yet; then the tally is
    counted again from ``plan_site``. Returns how many joined."""
    where, params = _match(plan, plan.unit_path)
    cur = await conn.execute(
        "INSERT INTO plan_site (plan_id, site_id, unit_id) "
        f"SELECT ?, s.id, s.unit_id FROM site s JOIN org_unit u ON u.id = s.unit_id WHERE {where} "
        "ON CONFLICT DO NOTHING",
        [plan.id, *params],
    )
    joined = cur.rowcount
    await recount(conn, plan.id)
    return joined


async def follow_moves(conn: Connection, plan_id: int) -> int:
    """Sites that moved to another unit take their plan rows along; returns how many."""
    cur = await conn.execute(
        "UPDATE plan_site SET unit_id = (SELECT s.unit_id FROM site s "
        "WHERE s.id = plan_site.site_id) WHERE plan_id = ? AND unit_id <> "
        "(SELECT s.unit_id FROM site s WHERE s.id = plan_site.site_id)",
        (plan_id,),
    )
    return cur.rowcount


async def recount(conn: Connection, plan_id: int) -> None:
    """The plan's tally counted again from its sites (after a bulk change)."""
    rolled: dict[tuple[int, int], list[int]] = {}
    for path, round_, sites, on_time in await fetch_all(
        conn,
        "SELECT u.path, ps.last_round, COUNT(*), SUM(ps.on_time) FROM plan_site ps "
        "JOIN org_unit u ON u.id = ps.unit_id WHERE ps.plan_id = ? "
        "GROUP BY ps.unit_id, u.path, ps.last_round",
        (plan_id,),
    ):
        for unit_id in chain(path):
            for key, add in (((unit_id, round_), on_time), ((unit_id, ALL), 0)):
                slot = rolled.setdefault(key, [0, 0])
                slot[0] += sites
                slot[1] += add
    await conn.execute("DELETE FROM plan_tally WHERE plan_id = ?", (plan_id,))
    await conn.executemany(
        "INSERT INTO plan_tally (plan_id, unit_id, round, sites, on_time) VALUES (?, ?, ?, ?, ?)",
        [(plan_id, unit, round_, sites, on) for (unit, round_), (sites, on) in rolled.items()],
    )


async def join_one(
    conn: Connection, plan_id: int, site_id: int, unit_id: int, unit_path: str
) -> bool:
    """One site joins a plan (if not in it yet), counted as never done."""
    cur = await conn.execute(
        "INSERT INTO plan_site (plan_id, site_id, unit_id) VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
        (plan_id, site_id, unit_id),
    )
    if cur.rowcount != 1:
        return False
    ids = chain(unit_path)
    await _tally(conn, [(plan_id, u, r, 1, 0) for u in ids for r in (NEVER, ALL)])
    return True


async def _tally(conn: Connection, changes: list[tuple[int, int, int, int, int]]) -> None:
    """Add (plan, unit, round, sites, on time) counts to the tally, in one statement."""
    await conn.executemany(
        "INSERT INTO plan_tally (plan_id, unit_id, round, sites, on_time) VALUES (?, ?, ?, ?, ?) "
        "ON CONFLICT (plan_id, unit_id, round) DO UPDATE SET "
        "sites = plan_tally.sites + excluded.sites, "
        "on_time = plan_tally.on_time + excluded.on_time",
        changes,
    )


async def memberships(conn: Connection, site_id: int) -> list[Membership]:
    """The site's rows in open plans."""
    return [
        Membership(r[0], r[1], r[2], r[3], from_text_or_none(r[4]), r[5])
        for r in await fetch_all(
            conn,
            "SELECT ps.plan_id, ps.site_id, ps.unit_id, ps.last_round, ps.last_done_at, u.path "
            "FROM plan_site ps JOIN plan p ON p.id = ps.plan_id "
            "JOIN org_unit u ON u.id = ps.unit_id "
            "WHERE ps.site_id = ? AND p.state = 'open'",
            (site_id,),
        )
    ]


async def mark_done(
    conn: Connection, member: Membership, round_: int, on_time: bool, now: datetime
) -> None:
    """A report counted for the site in ``round_``: its count moves to that round."""
    row = await fetch_one(
        conn,
        "SELECT on_time FROM plan_site WHERE plan_id = ? AND site_id = ?",
        (member.plan_id, member.site_id),
    )
    was_on_time = int(row[0]) if row else 0
    await conn.execute(
        "UPDATE plan_site SET last_round = ?, last_done_at = ?, on_time = ? "
        "WHERE plan_id = ? AND site_id = ?",
        (round_, to_text(now), int(on_time), member.plan_id, member.site_id),
    )
    plan, ids = member.plan_id, chain(member.unit_path)
    await _tally(
        conn,
        [(plan, u, member.last_round, -1, -was_on_time) for u in ids]
        + [(plan, u, round_, 1, int(on_time)) for u in ids],
    )


async def tallies(
    conn: Connection, plan_id: int, unit_ids: list[int], rounds: list[int]
) -> list[tuple[int, int, int, int]]:
    """(unit id, round, sites, on time) of one plan for these units and rounds."""
    if not unit_ids:
        return []
    units = ",".join("?" * len(unit_ids))
    marks = ",".join("?" * len(rounds))
    return [
        (r[0], r[1], r[2], r[3])
        for r in await fetch_all(
            conn,
            "SELECT unit_id, round, sites, on_time FROM plan_tally "
            f"WHERE plan_id = ? AND unit_id IN ({units}) AND round IN ({marks})",
            (plan_id, *unit_ids, *rounds),
        )
    ]


_DUE_COLUMNS = (
    "ps.plan_id, s.id, s.code, s.name, s.address, s.category, s.latitude, s.longitude, "
    "u.name, ps.last_round"
)


async def rows_in_units(
    conn: Connection, plan_ids: list[int], unit_ids: list[int]
) -> list[tuple[int, int, int]]:
    """(plan id, site id, last round) of every site of these units in these plans: the
    rows /todo sorts out (a worker's unit holds a few hundred)."""
    if not plan_ids or not unit_ids:
        return []
    units = ",".join("?" * len(unit_ids))
    plans = ",".join("?" * len(plan_ids))
    return [
        (r[0], r[1], r[2])
        for r in await fetch_all(
            conn,
            "SELECT plan_id, site_id, last_round FROM plan_site "
            f"WHERE unit_id IN ({units}) AND plan_id IN ({plans})",
            (*unit_ids, *plan_ids),
        )
    ]


async def due_sites(conn: Connection, pairs: list[tuple[int, int]]) -> list[DueSite]:
    """The listed (plan id, site id) rows with their sites."""
    found: list[DueSite] = []
    for start in range(0, len(pairs), 400):
        chunk = pairs[start : start + 400]
        where = " OR ".join("(ps.plan_id = ? AND ps.site_id = ?)" for _ in chunk)
        found += [
            DueSite(*row)
            for row in await fetch_all(
                conn,
                f"SELECT {_DUE_COLUMNS} FROM plan_site ps JOIN site s ON s.id = ps.site_id "
                f"JOIN org_unit u ON u.id = ps.unit_id WHERE {where}",
                [value for pair in chunk for value in pair],
            )
        ]
    return found


async def site_plans(conn: Connection, site_id: int) -> list[tuple[Plan, int]]:
    """The open plans a site is in, with the round it was last done in."""
    rows = await fetch_all(
        conn,
        f"SELECT {_COLUMNS}, ps.last_round AS last_round {_FROM} "
        "JOIN plan_site ps ON ps.plan_id = p.id WHERE ps.site_id = ? AND p.state = 'open' "
        "ORDER BY p.id",
        (site_id,),
    )
    out = []
    for row in rows:
        data = dict(row)
        last = data.pop("last_round")
        out.append((_plan_from(data), last))
    return out


def _plan_from(data: dict[str, object]) -> Plan:
    data["deadline"] = from_text_or_none(data["deadline"])  # type: ignore[arg-type]
    data["created_at"] = from_text(data["created_at"])  # type: ignore[arg-type]
    data["closed_at"] = from_text_or_none(data["closed_at"])  # type: ignore[arg-type]
    data["start_day"] = date.fromisoformat(data["start_day"])  # type: ignore[arg-type]
    data["weekly"] = bool(data["weekly"])
    return Plan(**data)  # type: ignore[arg-type]


async def remaining_in_subtree(
    conn: Connection, plan_id: int, path: str, current_round: int
) -> list[DueSite]:
    """Every site of the subtree in the plan not done in ``current_round`` (for the
    remaining-sites list a community prints)."""
    low, high = subtree_bounds(path)
    return [
        DueSite(*row)
        for row in await fetch_all(
            conn,
            f"SELECT {_DUE_COLUMNS} FROM plan_site ps JOIN site s ON s.id = ps.site_id "
            "JOIN org_unit u ON u.id = ps.unit_id "
            "WHERE ps.plan_id = ? AND u.path >= ? AND u.path < ? AND ps.last_round < ? "
            "ORDER BY u.path, s.code",
            (plan_id, low, high, current_round),
        )
    ]


# ---------------------------------------------------------------------- drafts


async def draft_of(conn: Connection, telegram_id: int) -> tuple[int, str, datetime] | None:
    """(id, data as JSON, expires at) of the person's plan draft."""
    row = await fetch_one(
        conn, "SELECT id, data, expires_at FROM plan_draft WHERE telegram_id = ?", (telegram_id,)
    )
    return (row[0], row[1], from_text(row[2])) if row else None


async def draft_create(
    conn: Connection, telegram_id: int, member_id: int, now: datetime, expires: datetime
) -> int:
    await conn.execute("DELETE FROM plan_draft WHERE telegram_id = ?", (telegram_id,))
    return await insert_id(
        conn,
        "INSERT INTO plan_draft (telegram_id, member_id, data, created_at, expires_at) "
        "VALUES (?, ?, '{}', ?, ?)",
        (telegram_id, member_id, to_text(now), to_text(expires)),
    )


async def draft_save(conn: Connection, draft_id: int, data: str, expires: datetime) -> None:
    await conn.execute(
        "UPDATE plan_draft SET data = ?, expires_at = ? WHERE id = ?",
        (data, to_text(expires), draft_id),
    )


async def draft_delete(conn: Connection, draft_id: int) -> None:
    await conn.execute("DELETE FROM plan_draft WHERE id = ?", (draft_id,))
