"""Repository of sends to groups: the scheduled ones (``digest_send``) and the ones an
admin asked for with /digest (``digest_request``), kept apart so that an on-demand send
never counts as the scheduled one."""

from __future__ import annotations

from datetime import date, datetime

from storage.db import Connection, fetch_all, fetch_one, insert_id
from storage.times import from_text, to_text


async def claim(
    conn: Connection, group_id: int, kind: str, period: str, due_at: datetime, state: str
) -> bool:
    """Record a send of (group, kind, period) in ``state``; False if one exists already."""
    cur = await conn.execute(
        "INSERT INTO digest_send (group_id, kind, period, state, due_at) VALUES (?, ?, ?, ?, ?) "
        "ON CONFLICT (group_id, kind, period) DO NOTHING",
        (group_id, kind, period, state, to_text(due_at)),
    )
    return cur.rowcount == 1


async def finish(
    conn: Connection,
    group_id: int,
    kind: str,
    period: str,
    state: str,
    now: datetime,
    detail: str | None = None,
) -> None:
    await conn.execute(
        "UPDATE digest_send SET state = ?, done_at = ?, detail = ? "
        "WHERE group_id = ? AND kind = ? AND period = ?",
        (state, to_text(now), detail, group_id, kind, period),
    )


async def request(
    conn: Connection, group_id: int, period: str, member_id: int, requested_at: datetime
) -> int:
    """Record an on-demand send of ``period``'s digest to a group, as 'sending'; its id."""
    new_id = await insert_id(
        conn,
        "INSERT INTO digest_request (group_id, period, requested_by, requested_at, state) "
        "VALUES (?, ?, ?, ?, 'sending')",
        (group_id, period, member_id, to_text(requested_at)),
    )
    return new_id


async def finish_request(
    conn: Connection, request_id: int, state: str, now: datetime, detail: str | None = None
) -> None:
    await conn.execute(
        "UPDATE digest_request SET state = ?, done_at = ?, detail = ? WHERE id = ?",
        (state, to_text(now), detail, request_id),
    )


async def requests_of(conn: Connection, group_id: int) -> list[tuple[str, str, int | None]]:
    """(period, state, requested_by) of a group's on-demand sends, oldest first."""
    return [
        (r[0], r[1], r[2])
        for r in await fetch_all(
            conn,
            "SELECT period, state, requested_by FROM digest_request WHERE group_id = ? ORDER BY id",
            (group_id,),
        )
    ]


async def state_of(conn: Connection, group_id: int, kind: str, period: str) -> str | None:
    row = await fetch_one(
        conn,
        "SELECT state FROM digest_send WHERE group_id = ? AND kind = ? AND period = ?",
        (group_id, kind, period),
    )
    return row["state"] if row else None


async def stale_sending(
    conn: Connection, kind: str, before: datetime
) -> list[tuple[int, str, datetime]]:
    """Sends of ``kind`` due before ``before`` and never finished (the bot stopped or died
    mid-send): (group id, period, due at)."""
    return [
        (r[0], r[1], from_text(r[2]))
        for r in await fetch_all(
            conn,
            "SELECT group_id, period, due_at FROM digest_send "
            "WHERE state = 'sending' AND kind = ? AND due_at < ? ORDER BY due_at, group_id",
            (kind, to_text(before)),
        )
    ]


async def claim_reminders(
    conn: Connection, day: date, start: datetime, end: datetime, due: datetime, now: datetime
) -> list[int]:
    """Claim today's reminder for every active worker who had joined by ``due``, has
    submitted nothing (no report, no status update) between ``start`` and ``end`` and
    has not been reminded; returns their member ids."""
    ids = [
        row[0]
        for row in await fetch_all(
            conn,
            "SELECT m.id FROM member m WHERE m.active = 1 AND m.role = 'worker' "
            "AND m.joined_at <= ? "
            "AND NOT EXISTS (SELECT 1 FROM member_day d WHERE d.day = ? AND d.member_id = m.id) "
            "AND NOT EXISTS (SELECT 1 FROM status_update u WHERE u.member_id = m.id "
            "AND u.created_at >= ? AND u.created_at < ?) "
            "AND NOT EXISTS (SELECT 1 FROM reminder_sent r WHERE r.day = ? AND r.member_id = m.id)",
            (to_text(due), day.isoformat(), to_text(start), to_text(end), day.isoformat()),
        )
    ]
    await conn.executemany(
        "INSERT INTO reminder_sent (member_id, day, sent_at) VALUES (?, ?, ?)",
        [(member_id, day.isoformat(), to_text(now)) for member_id in ids],
    )
    return ids
