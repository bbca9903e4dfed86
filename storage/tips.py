"""Repository of tips (举报线索), their events, photos, drafts and rewards.

The stored words of the tip life cycle are enums here (``TipState``, ``EventKind``,
``RewardState``), their values the strings in the rows, so the SQL takes them as
parameters; which moves are allowed is the domain's table (``bot.domain.tip_cycle``).
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass, field, fields
from datetime import date, datetime
from enum import StrEnum
from typing import Any

from storage.db import Connection, fetch_all, fetch_one, insert_id, only_digits
from storage.reports import Photo
from storage.times import from_text, from_text_or_none, to_text
from storage.units import subtree_bounds


class TipState(StrEnum):
    """Where a tip stands (``tip.state``; the migration's CHECK lists the same values)."""

    RECEIVED = "received"  # 受理
    ASSIGNED = "assigned"  # 交办, to a unit with a deadline
    VERIFYING = "verifying"  # closed by the unit, waiting for the assigner's check
    CLOSED = "closed"  # 办结


class EventKind(StrEnum):
    """What a ``tip_event`` row records (``tip_event.kind``)."""

    RECEIVED = "received"
    ASSIGNED = "assigned"
    ACKNOWLEDGED = "acknowledged"
    SUBMITTED = "submitted"  # closed by the unit, for the assigner to check
    CLOSED = "closed"
    RETURNED = "returned"  # sent back by the assigner
    ESCALATED = "escalated"
    REWARD_PAID = "reward_paid"
    REWARD_DECLINED = "reward_declined"
    DECLINED = "declined"  # 不予受理, with a reason
    EXTENSION_ASKED = "extension_asked"  # 延期 asked by the assigned unit
    EXTENDED = "extended"  # 延期 granted: a new deadline
    EXTENSION_REFUSED = "extension_refused"
    PARKED = "parked"  # 挂账 with a reason and a target day
    UNPARKED = "unparked"  # back as due on its target day
    REMINDED = "reminded"  # the unit reminded before the deadline (催办)
    CALLED_BACK = "called_back"  # 回访: satisfied, basically, or not
    REOPENED = "reopened"  # not satisfied through the handler's fault: rework (返工)
    FOLLOWED = "followed"  # a duplicate closed with its original's outcome


class Urgency(StrEnum):
    """一般 / 较急 / 紧急 (``tip.urgency``)."""

    NORMAL = "normal"
    URGENT = "urgent"
    EMERGENCY = "emergency"


class Declined(StrEnum):
    """Why a tip was not accepted (不予受理, ``tip.declined``)."""

    REMIT = "remit"  # out of remit
    INFO = "info"  # not enough information
    DUPLICATE = "duplicate"


class Satisfaction(StrEnum):
    """What the tipster said at the call-back (回访, ``tip.satisfaction``)."""

    SATISFIED = "satisfied"  # 满意
    BASIC = "basic"  # 基本满意
    DISSATISFIED = "dissatisfied"  # 不满意


class RewardState(StrEnum):
    """Where the reward of a tip closed as valid stands (``reward.state``)."""

    PENDING = "pending"
    PAID = "paid"
    DECLINED = "declined"


_COLUMNS = (
    "t.*, u.code AS unit_code, u.name AS unit_name, u.path AS unit_path, "
    "a.code AS assigned_code, a.name AS assigned_name, a.path AS assigned_path"
)
_FROM = (
    "FROM tip t JOIN org_unit u ON u.id = t.unit_id "
    "LEFT JOIN org_unit a ON a.id = t.assigned_unit_id"
)


@dataclass(frozen=True)
class Tip:
    id: int
    number: str
    received_at: datetime
    unit_id: int
    address: str | None
    description: str
    source: str
    contact: str | None
    state: TipState
    assigned_unit_id: int | None
    assigned_by: int | None
    assigned_at: datetime | None
    deadline: datetime | None
    acknowledged_at: datetime | None
    acknowledged_by: int | None
    closed_at: datetime | None
    closed_by: int | None
    valid: bool | None
    result: str | None
    returns: int
    escalation_level: int
    escalated_at: datetime | None
    created_by: int | None
    created_at: datetime
    unit_code: str
    unit_name: str
    unit_path: str
    assigned_code: str | None
    assigned_name: str | None
    assigned_path: str | None
    urgency: str = Urgency.NORMAL
    declined: str | None = None
    duplicate_of: int | None = None
    extensions: int = 0
    extension_asked: datetime | None = None
    extension_reason: str | None = None
    extension_by: int | None = None
    parked_until: date | None = None
    parked_reason: str | None = None
    reminded_at: datetime | None = None
    satisfaction: str | None = None
    site_id: int | None = None  # the registered site the tip names
    latitude: float | None = None  # a location the receiver shared
    longitude: float | None = None
    tipster_id: int | None = None  # Telegram id of a tipster given as a shared contact

    @property
    def parked(self) -> bool:
        """挂账: parked until its target day (out of the overdue counts until then)."""
        return self.parked_until is not None

    @property
    def responsible_path(self) -> str:
        """The unit answerable for the tip: the assigned one, else where it was received."""
        return self.assigned_path or self.unit_path


@dataclass(frozen=True)
class Event:
    id: int
    at: datetime
    kind: EventKind
    from_state: TipState | None
    to_state: TipState | None
    note: str | None  # what a person typed (a result, a reason); old rows: the bot's text
    actor_name: str | None
    photos: int
    note_key: str | None = None  # a ``tip.note.*`` key, rendered in the reader's language
    note_fields: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Draft:
    id: int
    telegram_id: int
    kind: str
    tip_id: int | None
    data: dict[str, Any]
    created_at: datetime
    expires_at: datetime
    photo_count: int


@dataclass(frozen=True)
class Reward:
    tip_id: int
    number: str
    state: RewardState
    created_at: datetime
    settled_at: datetime | None
    note: str | None
    unit_name: str


_TIP_TIMES = (
    "assigned_at",
    "deadline",
    "acknowledged_at",
    "closed_at",
    "escalated_at",
    "extension_asked",
    "reminded_at",
)


def _tip(row: sqlite3.Row) -> Tip:
    data = dict(row)
    if data["valid"] is not None:
        data["valid"] = bool(data["valid"])
    data["state"] = TipState(data["state"])
    data["received_at"] = from_text(data["received_at"])
    data["created_at"] = from_text(data["created_at"])
    for name in _TIP_TIMES:
        data[name] = from_text_or_none(data[name])
    if data["parked_until"] is not None:
        data["parked_until"] = date.fromisoformat(data["parked_until"])
    return Tip(**{f.name: data[f.name] for f in fields(Tip)})


def _stored(value: Any) -> Any:
    """A column value as stored: times as UTC text, days as ISO text, everything else as
    it is."""
    if isinstance(value, datetime):
        return to_text(value)
    return value.isoformat() if isinstance(value, date) else value


async def next_number(conn: Connection, day: str) -> str:
    """The next number of a local day ``YYYYMMDD``: T-20261123-001, -002, … -999, -1000, …

    The sequence is the number after the prefix compared as a number, not as text (as
    text ``-1000`` sorts before ``-999``); imported numbers of the day whose tail is not
    all digits do not take part in it.
    """
    prefix = f"T-{day}-"
    start = len(prefix) + 1
    row = await fetch_one(
        conn,
        "SELECT MAX(CAST(substr(number, ?) AS INTEGER)) AS last FROM tip "
        "WHERE number >= ? AND number < ? "
        f"AND substr(number, ?) <> '' AND {only_digits(conn, 'substr(number, ?)')}",
        (start, prefix, prefix + "A", start, start),
    )
    last = row["last"] if row else None
    following = int(last) + 1 if last is not None else 1
    return f"{prefix}{following:03d}"


async def insert(conn: Connection, **values: Any) -> int:
    names = ", ".join(values)
    marks = ", ".join("?" * len(values))
    new_id = await insert_id(
        conn, f"INSERT INTO tip ({names}) VALUES ({marks})", tuple(map(_stored, values.values()))
    )
    return new_id


async def update(conn: Connection, tip_id: int, expected_state: str | None, **values: Any) -> bool:
    """Change a tip; with ``expected_state``, only if it is still in that state (so two
    people acting at once cannot both move it). False when nothing changed."""
    assignments = ", ".join(f"{name} = ?" for name in values)
    sql = f"UPDATE tip SET {assignments} WHERE id = ?"
    params: list[Any] = [*map(_stored, values.values()), tip_id]
    if expected_state is not None:
        sql += " AND state = ?"
        params.append(expected_state)
    cur = await conn.execute(sql, params)
    return cur.rowcount == 1


async def by_number(conn: Connection, number: str) -> Tip | None:
    row = await fetch_one(
        conn, f"SELECT {_COLUMNS} {_FROM} WHERE t.number = ?", (number.strip().upper(),)
    )
    return _tip(row) if row else None


async def by_id(conn: Connection, tip_id: int) -> Tip | None:
    row = await fetch_one(conn, f"SELECT {_COLUMNS} {_FROM} WHERE t.id = ?", (tip_id,))
    return _tip(row) if row else None


async def numbers_exist(conn: Connection, numbers: list[str]) -> set[str]:
    found: set[str] = set()
    for start in range(0, len(numbers), 500):
        chunk = numbers[start : start + 500]
        marks = ",".join("?" * len(chunk))
        found.update(
            r["number"]
            for r in await fetch_all(
                conn, f"SELECT number FROM tip WHERE number IN ({marks})", chunk
            )
        )
    return found


async def add_event(
    conn: Connection,
    *,
    tip_id: int,
    at: datetime,
    actor_id: int | None,
    kind: EventKind,
    from_state: TipState | None,
    to_state: TipState | None,
    note: str | None = None,
    note_key: str | None = None,
    note_fields: dict[str, Any] | None = None,
) -> int:
    """Append one event to a tip's timeline; its id (photos hang on it). ``note`` is
    what a person typed; what the bot has to say goes in ``note_key`` (a ``tip.note.*``
    catalogue key) and ``note_fields`` (its fields)."""
    fields_json = json.dumps(note_fields, ensure_ascii=False) if note_fields else None
    new_id = await insert_id(
        conn,
        "INSERT INTO tip_event "
        "(tip_id, at, actor_id, kind, from_state, to_state, note, note_key, note_fields) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (tip_id, to_text(at), actor_id, kind, from_state, to_state, note, note_key, fields_json),
    )
    return new_id


def _event(row: sqlite3.Row) -> Event:
    data = dict(row)
    data["at"] = from_text(data["at"])
    data["kind"] = EventKind(data["kind"])
    for name in ("from_state", "to_state"):
        if data[name] is not None:
            data[name] = TipState(data[name])
    data["note_fields"] = json.loads(data["note_fields"]) if data["note_fields"] else {}
    return Event(**data)


async def events(conn: Connection, tip_id: int) -> list[Event]:
    return [
        _event(row)
        for row in await fetch_all(
            conn,
            "SELECT e.id, e.at, e.kind, e.from_state, e.to_state, e.note, m.name AS actor_name, "
            "(SELECT COUNT(*) FROM tip_photo p WHERE p.event_id = e.id) AS photos, "
            "e.note_key, e.note_fields "
            "FROM tip_event e LEFT JOIN member m ON m.id = e.actor_id WHERE e.tip_id = ? "
            "ORDER BY e.id",
            (tip_id,),
        )
    ]


async def add_notified(conn: Connection, tip_id: int, member_ids: list[int]) -> None:
    """Remember who was told of a tip: they may read it later, wherever they are then."""
    await conn.executemany(
        "INSERT INTO tip_notified (tip_id, member_id) VALUES (?, ?) ON CONFLICT DO NOTHING",
        [(tip_id, member_id) for member_id in member_ids],
    )


async def involves(conn: Connection, tip_id: int, member_id: int) -> bool:
    """Did the member act on the tip (any event of theirs) or get told of it?"""
    row = await fetch_one(
        conn,
        "SELECT EXISTS (SELECT 1 FROM tip_event WHERE tip_id = ? AND actor_id = ?) "
        "OR EXISTS (SELECT 1 FROM tip_notified WHERE tip_id = ? AND member_id = ?)",
        (tip_id, member_id, tip_id, member_id),
    )
    return bool(row and row[0])


async def add_photos(conn: Connection, tip_id: int, event_id: int, photos: list[Photo]) -> None:
    await conn.executemany(
        "INSERT INTO tip_photo (tip_id, event_id, position, sha256, file_id, file_unique_id) "
        "VALUES (?, ?, ?, ?, ?, ?)",
        [
            (tip_id, event_id, n, p.sha256, p.file_id, p.file_unique_id)
            for n, p in enumerate(photos, start=1)
        ],
    )


async def open_in_subtree(conn: Connection, path: str, limit: int) -> list[Tip]:
    """Tips not closed whose responsible unit lies in the subtree, oldest deadline first."""
    low, high = subtree_bounds(path)
    return [
        _tip(row)
        for row in await fetch_all(
            conn,
            f"SELECT {_COLUMNS} {_FROM} WHERE t.state != ? "
            "AND coalesce(a.path, u.path) >= ? AND coalesce(a.path, u.path) < ? "
            "ORDER BY t.deadline IS NULL, t.deadline, t.id LIMIT ?",
            (TipState.CLOSED, low, high, limit),
        )
    ]


async def overdue(conn: Connection, now: datetime) -> list[Tip]:
    """Assigned tips past their deadline (an index range on state and deadline)."""
    return [
        _tip(row)
        for row in await fetch_all(
            conn,
            f"SELECT {_COLUMNS} {_FROM} WHERE t.state = ? AND t.deadline < ? "
            "AND t.parked_until IS NULL ORDER BY t.id",
            (TipState.ASSIGNED, to_text(now)),
        )
    ]


async def overdue_counts(conn: Connection, now: datetime) -> dict[int, int]:
    """Overdue tips per assigned unit id (for rankings)."""
    return {
        r["unit"]: r["n"]
        for r in await fetch_all(
            conn,
            "SELECT assigned_unit_id AS unit, COUNT(*) AS n FROM tip "
            "WHERE state = ? AND deadline < ? AND parked_until IS NULL "
            "GROUP BY assigned_unit_id",
            (TipState.ASSIGNED, to_text(now)),
        )
    }


async def cohort(conn: Connection, start: datetime | None, end: datetime) -> list[sqlite3.Row]:
    """Tips received in [start, end), with the path of their responsible unit and whether
    they were assigned, closed and valid by ``end``."""
    where = "t.received_at < ? AND t.declined IS NULL"  # 不予受理 is no 受理
    params: list[Any] = [to_text(end), TipState.CLOSED, to_text(end), TipState.CLOSED]
    params += [to_text(end), to_text(end)]
    if start is not None:
        where += " AND t.received_at >= ?"
        params.append(to_text(start))
    return list(
        await fetch_all(
            conn,
            "SELECT coalesce(a.path, u.path) AS path, "
            "(t.assigned_at IS NOT NULL AND t.assigned_at < ?) AS assigned, "
            "(t.state = ? AND t.closed_at < ?) AS closed, "
            "(t.state = ? AND t.closed_at < ? AND coalesce(t.valid, 0) = 1) AS valid "
            f"{_FROM} WHERE {where}",
            params,
        )
    )


# ---------------------------------------------------------------------- drafts


async def draft_of(conn: Connection, telegram_id: int) -> Draft | None:
    row = await fetch_one(
        conn,
        "SELECT d.*, (SELECT COUNT(*) FROM tip_draft_photo p WHERE p.draft_id = d.id) "
        "AS photo_count FROM tip_draft d WHERE d.telegram_id = ?",
        (telegram_id,),
    )
    if row is None:
        return None
    data = dict(row)
    data["data"] = json.loads(data["data"])
    data["created_at"] = from_text(data["created_at"])
    data["expires_at"] = from_text(data["expires_at"])
    return Draft(**data)


async def start_draft(
    conn: Connection,
    telegram_id: int,
    kind: str,
    tip_id: int | None,
    data: dict[str, Any],
    now: datetime,
    expires: datetime,
) -> None:
    """A new draft for the person, replacing any earlier one (with a new id)."""
    await drop_draft(conn, telegram_id)
    await conn.execute(
        "INSERT INTO tip_draft (telegram_id, kind, tip_id, data, created_at, expires_at) "
        "VALUES (?, ?, ?, ?, ?, ?)",
        (
            telegram_id,
            kind,
            tip_id,
            json.dumps(data, ensure_ascii=False),
            to_text(now),
            to_text(expires),
        ),
    )


async def save_draft(
    conn: Connection, draft_id: int, data: dict[str, Any], expires: datetime
) -> None:
    await conn.execute(
        "UPDATE tip_draft SET data = ?, expires_at = ? WHERE id = ?",
        (json.dumps(data, ensure_ascii=False), to_text(expires), draft_id),
    )


async def drop_draft(conn: Connection, telegram_id: int) -> None:
    await conn.execute(
        "DELETE FROM tip_draft_photo WHERE draft_id IN "
        "(SELECT id FROM tip_draft WHERE telegram_id = ?)",
        (telegram_id,),
    )
    await conn.execute("DELETE FROM tip_draft WHERE telegram_id = ?", (telegram_id,))


async def add_draft_photo(conn: Connection, draft_id: int, message_id: int, photo: Photo) -> None:
    await conn.execute(
        "INSERT INTO tip_draft_photo (draft_id, message_id, sha256, file_id, file_unique_id) "
        "VALUES (?, ?, ?, ?, ?) ON CONFLICT (draft_id, message_id) DO NOTHING",
        (draft_id, message_id, photo.sha256, photo.file_id, photo.file_unique_id),
    )


async def draft_photos(conn: Connection, draft_id: int) -> list[Photo]:
    return [
        Photo(r["sha256"], r["file_id"], r["file_unique_id"], False)
        for r in await fetch_all(
            conn,
            "SELECT sha256, file_id, file_unique_id FROM tip_draft_photo WHERE draft_id = ? "
            "ORDER BY message_id",
            (draft_id,),
        )
    ]


# ---------------------------------------------------------------------- rewards


async def add_reward(conn: Connection, tip_id: int, now: datetime) -> None:
    await conn.execute(
        "INSERT INTO reward (tip_id, state, created_at) VALUES (?, ?, ?) "
        "ON CONFLICT (tip_id) DO NOTHING",
        (tip_id, RewardState.PENDING, to_text(now)),
    )


def _reward(row: sqlite3.Row) -> Reward:
    data = dict(row)
    data["state"] = RewardState(data["state"])
    data["created_at"] = from_text(data["created_at"])
    data["settled_at"] = from_text_or_none(data["settled_at"])
    return Reward(**data)


async def reward_of(conn: Connection, tip_id: int) -> Reward | None:
    row = await fetch_one(
        conn,
        "SELECT r.tip_id, t.number, r.state, r.created_at, r.settled_at, r.note, "
        "u.name AS unit_name FROM reward r JOIN tip t ON t.id = r.tip_id "
        "JOIN org_unit u ON u.id = coalesce(t.assigned_unit_id, t.unit_id) WHERE r.tip_id = ?",
        (tip_id,),
    )
    return _reward(row) if row else None


async def settle_reward(
    conn: Connection,
    tip_id: int,
    state: RewardState,
    member_id: int,
    now: datetime,
    note: str | None,
) -> bool:
    """Settle a pending reward; False when there is none pending (settled already)."""
    cur = await conn.execute(
        "UPDATE reward SET state = ?, settled_by = ?, settled_at = ?, note = ? "
        "WHERE tip_id = ? AND state = ?",
        (state, member_id, to_text(now), note, tip_id, RewardState.PENDING),
    )
    return cur.rowcount == 1


async def pending_rewards(conn: Connection, path: str) -> list[Reward]:
    low, high = subtree_bounds(path)
    return [
        _reward(row)
        for row in await fetch_all(
            conn,
            "SELECT r.tip_id, t.number, r.state, r.created_at, r.settled_at, r.note, "
            "u.name AS unit_name FROM reward r JOIN tip t ON t.id = r.tip_id "
            "JOIN org_unit u ON u.id = coalesce(t.assigned_unit_id, t.unit_id) "
            "WHERE r.state = ? AND u.path >= ? AND u.path < ? ORDER BY r.created_at",
            (RewardState.PENDING, low, high),
        )
    ]


async def overdue_paths(conn: Connection, now: datetime) -> list[tuple[str, int]]:
    """(assigned unit path, overdue tips) now."""
    return [
        (r[0], r[1])
        for r in await fetch_all(
            conn,
            "SELECT a.path, COUNT(*) AS n FROM tip t JOIN org_unit a ON a.id = t.assigned_unit_id "
            "WHERE t.state = ? AND t.deadline < ? AND t.parked_until IS NULL GROUP BY a.path",
            (TipState.ASSIGNED, to_text(now)),
        )
    ]


# ---------------------------------------------------------------------- case practice


async def due_for_reminder(conn: Connection, before: datetime) -> list[Tip]:
    """Assigned tips, not parked nor reminded for their deadline, due before ``before``
    (a coarse pre-filter; the domain decides in working hours)."""
    return [
        _tip(row)
        for row in await fetch_all(
            conn,
            f"SELECT {_COLUMNS} {_FROM} WHERE t.state = ? AND t.deadline < ? "
            "AND t.parked_until IS NULL "
            "AND (t.reminded_at IS NULL OR t.reminded_at < t.assigned_at) ORDER BY t.id",
            (TipState.ASSIGNED, to_text(before)),
        )
    ]


async def parked(conn: Connection, path: str | None = None) -> list[Tip]:
    """Parked tips (挂账), by target day; within the subtree of ``path`` when given."""
    sql = f"SELECT {_COLUMNS} {_FROM} WHERE t.parked_until IS NOT NULL AND t.state = ?"
    params: list[Any] = [TipState.ASSIGNED]
    if path is not None:
        low, high = subtree_bounds(path)
        sql += " AND coalesce(a.path, u.path) >= ? AND coalesce(a.path, u.path) < ?"
        params += [low, high]
    return [
        _tip(row) for row in await fetch_all(conn, sql + " ORDER BY t.parked_until, t.id", params)
    ]


async def unpark_due(conn: Connection, today: date) -> list[Tip]:
    """Parked tips whose target day has come."""
    return [
        _tip(row)
        for row in await fetch_all(
            conn,
            f"SELECT {_COLUMNS} {_FROM} WHERE t.parked_until IS NOT NULL "
            "AND t.parked_until <= ? AND t.state = ? ORDER BY t.id",
            (today.isoformat(), TipState.ASSIGNED),
        )
    ]


async def open_in_unit(conn: Connection, unit_id: int, limit: int = 200) -> list[Tip]:
    """Tips not closed nor declined received for the unit or assigned to it, newest first
    (duplicate candidates)."""
    return [
        _tip(row)
        for row in await fetch_all(
            conn,
            f"SELECT {_COLUMNS} {_FROM} WHERE t.state != ? AND t.declined IS NULL "
            "AND t.duplicate_of IS NULL AND (t.unit_id = ? OR t.assigned_unit_id = ?) "
            "ORDER BY t.id DESC LIMIT ?",
            (TipState.CLOSED, unit_id, unit_id, limit),
        )
    ]


async def duplicates_of(conn: Connection, tip_id: int) -> list[Tip]:
    return [
        _tip(row)
        for row in await fetch_all(
            conn, f"SELECT {_COLUMNS} {_FROM} WHERE t.duplicate_of = ? ORDER BY t.id", (tip_id,)
        )
    ]


async def late(conn: Connection, now: datetime) -> list[Tip]:
    """Assigned tips past their deadline and not parked (for the 通报 list)."""
    return await overdue(conn, now)


@dataclass(frozen=True)
class CaseRow:
    """A tip as the unit KPIs see it."""

    id: int
    path: str  # of the unit it is assigned to
    deadline: datetime | None
    assigned_at: datetime | None
    closed_at: datetime | None
    state: TipState
    reworks: int  # sent back or reopened before the period's end


@dataclass(frozen=True)
class EventRow:
    """One event as the unit KPIs see it, with the path of its tip's assigned unit."""

    tip_id: int
    path: str
    kind: EventKind
    at: datetime
    note_fields: dict[str, Any]


# Tips that count for the unit KPIs: assigned, accepted, not a duplicate.
_CASE = "t.declined IS NULL AND t.duplicate_of IS NULL"
_REWORK_KINDS = (EventKind.RETURNED, EventKind.REOPENED)


def _range(column: str, start: datetime | None, end: datetime) -> tuple[str, list[Any]]:
    if start is None:
        return f"{column} < ?", [to_text(end)]
    return f"({column} >= ? AND {column} < ?)", [to_text(start), to_text(end)]


async def case_rows(conn: Connection, start: datetime | None, end: datetime) -> list[CaseRow]:
    """The tips that count for the unit KPIs and fall due or were closed in [start,
    end) (from the beginning when no start); an index range on each column."""
    due, due_params = _range("t.deadline", start, end)
    closed, closed_params = _range("t.closed_at", start, end)
    return [
        CaseRow(
            r["id"],
            r["path"],
            from_text_or_none(r["deadline"]),
            from_text_or_none(r["assigned_at"]),
            from_text_or_none(r["closed_at"]),
            TipState(r["state"]),
            r["reworks"],
        )
        for r in await fetch_all(
            conn,
            "SELECT t.id, a.path AS path, t.deadline, t.assigned_at, t.closed_at, t.state, "
            "(SELECT COUNT(*) FROM tip_event e WHERE e.tip_id = t.id AND e.kind IN (?, ?) "
            "AND e.at < ?) AS reworks "
            "FROM tip t JOIN org_unit a ON a.id = t.assigned_unit_id "
            f"WHERE ({due} OR {closed}) AND {_CASE}",
            [*_REWORK_KINDS, to_text(end), *due_params, *closed_params],
        )
    ]


async def events_between(
    conn: Connection, kinds: tuple[str, ...], start: datetime | None, end: datetime
) -> list[EventRow]:
    """Events of ``kinds`` in [start, end) (from the beginning when no start) on tips that
    count for the unit KPIs, in order (an index range on kind and time)."""
    marks = ",".join("?" * len(kinds))
    at, at_params = _range("e.at", start, end)
    return [
        EventRow(
            r["tip_id"],
            r["path"],
            EventKind(r["kind"]),
            from_text(r["at"]),
            json.loads(r["note_fields"]) if r["note_fields"] else {},
        )
        for r in await fetch_all(
            conn,
            "SELECT e.tip_id, a.path AS path, e.kind, e.at, e.note_fields FROM tip_event e "
            "JOIN tip t ON t.id = e.tip_id JOIN org_unit a ON a.id = t.assigned_unit_id "
            f"WHERE e.kind IN ({marks}) AND {at} AND {_CASE} ORDER BY e.id",
            [*kinds, *at_params],
        )
    ]


async def photo_files(conn: Connection, tip_id: int, kinds: tuple[str, ...]) -> list[str]:
    """The Telegram file ids of the tip's photos on events of ``kinds``, in order (the
    "before" photos of receiving, the "after" ones of closing)."""
    marks = ",".join("?" * len(kinds))
    return [
        r["file_id"]
        for r in await fetch_all(
            conn,
            "SELECT p.file_id FROM tip_photo p JOIN tip_event e ON e.id = p.event_id "
            f"WHERE p.tip_id = ? AND e.kind IN ({marks}) ORDER BY e.id, p.position",
            (tip_id, *kinds),
        )
    ]


@dataclass(frozen=True)
class Located:
    """An open tip with where it is: its shared location, else its site's coordinates."""

    tip: Tip
    latitude: float | None
    longitude: float | None


async def open_located(
    conn: Connection,
    site_id: int | None,
    box: tuple[float, float, float, float] | None,
    limit: int = 200,
) -> list[Located]:
    """Open tips (not closed, declined nor a duplicate) on the site ``site_id`` or located
    within ``box`` (south, north, west, east) — by their own location, else their site's —
    newest first (duplicate candidates; the domain measures the distance). Each branch is
    an index range (site, a tip's latitude, a site's latitude)."""
    branches: list[str] = []
    params: list[Any] = []
    if site_id is not None:
        branches.append("SELECT id FROM tip WHERE site_id = ?")
        params.append(site_id)
    if box is not None:
        south, north, west, east = box
        branches.append(
            "SELECT id FROM tip WHERE latitude BETWEEN ? AND ? AND longitude BETWEEN ? AND ?"
        )
        branches.append(
            "SELECT x.id FROM site y JOIN tip x ON x.site_id = y.id WHERE x.latitude IS NULL "
            "AND y.latitude BETWEEN ? AND ? AND y.longitude BETWEEN ? AND ?"
        )
        params += [south, north, west, east, south, north, west, east]
    if not branches:
        return []
    rows = await fetch_all(
        conn,
        f"SELECT {_COLUMNS}, coalesce(t.latitude, s.latitude) AS lat, "
        f"coalesce(t.longitude, s.longitude) AS lon {_FROM} "
        f"LEFT JOIN site s ON s.id = t.site_id WHERE t.id IN ({' UNION '.join(branches)}) "
        "AND t.state != ? AND t.declined IS NULL AND t.duplicate_of IS NULL "
        "ORDER BY t.id DESC LIMIT ?",
        [*params, TipState.CLOSED, limit],
    )
    return [Located(_tip(row), row["lat"], row["lon"]) for row in rows]


async def member_tipster(conn: Connection, telegram_id: int | None, contact: str | None) -> bool:
    """Is the tipster a member (active or not): given as a shared contact of a member's
    Telegram account, or naming a member's ``@username`` in the contact?"""
    if telegram_id is not None:
        row = await fetch_one(conn, "SELECT 1 FROM member WHERE telegram_id = ?", (telegram_id,))
        if row is not None:
            return True
    handles = [w[1:].lower() for w in (contact or "").replace(",", " ").split() if w[:1] == "@"]
    if not handles:
        return False
    marks = ",".join("?" * len(handles))
    row = await fetch_one(
        conn, f"SELECT 1 FROM member WHERE lower(username) IN ({marks}) LIMIT 1", handles
    )
    return row is not None
