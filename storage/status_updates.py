"""Repository of status updates (工作动态) and their drafts."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime

from storage.db import Connection, fetch_all, fetch_one, insert_id
from storage.times import from_text, to_text


@dataclass(frozen=True)
class UpdateDraft:
    id: int
    telegram_id: int
    member_id: int
    body: str | None
    counters: dict[str, int]
    created_at: datetime
    expires_at: datetime


@dataclass(frozen=True)
class StatusUpdate:
    id: int
    member_id: int
    unit_id: int
    body: str
    created_at: datetime
    counters: dict[str, int]


async def draft_of(conn: Connection, telegram_id: int) -> UpdateDraft | None:
    row = await fetch_one(conn, "SELECT * FROM update_draft WHERE telegram_id = ?", (telegram_id,))
    if row is None:
        return None
    data = dict(row)
    data["counters"] = json.loads(data["counters"])
    data["created_at"] = from_text(data["created_at"])
    data["expires_at"] = from_text(data["expires_at"])
    return UpdateDraft(**data)


async def put_draft(
    conn: Connection,
    telegram_id: int,
    member_id: int,
    body: str | None,
    counters: dict[str, int],
    now: datetime,
    expires: datetime,
) -> None:
    """Create the person's draft, or replace its body and counters (keeping its id)."""
    await conn.execute(
        "INSERT INTO update_draft (telegram_id, member_id, body, counters, created_at, "
        "expires_at) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (telegram_id) DO UPDATE SET "
        "body = excluded.body, counters = excluded.counters, expires_at = excluded.expires_at",
        (telegram_id, member_id, body, json.dumps(counters), to_text(now), to_text(expires)),
    )


async def drop_draft(conn: Connection, telegram_id: int) -> None:
    await conn.execute("DELETE FROM update_draft WHERE telegram_id = ?", (telegram_id,))


async def id_by_draft(conn: Connection, draft_id: int) -> int | None:
    row = await fetch_one(conn, "SELECT id FROM status_update WHERE draft_id = ?", (draft_id,))
    return row["id"] if row else None


async def insert(
    conn: Connection,
    draft_id: int,
    member_id: int,
    unit_id: int,
    body: str,
    counters: dict[str, int],
    now: datetime,
) -> int:
    new_id = await insert_id(
        conn,
        "INSERT INTO status_update (draft_id, member_id, unit_id, body, created_at) "
        "VALUES (?, ?, ?, ?, ?)",
        (draft_id, member_id, unit_id, body, to_text(now)),
    )
    update_id = new_id
    assert update_id is not None
    await conn.executemany(
        "INSERT INTO status_update_counter (update_id, counter, value) VALUES (?, ?, ?)",
        [(update_id, name, value) for name, value in counters.items()],
    )
    return update_id


async def for_member(conn: Connection, member_id: int, since: datetime) -> list[StatusUpdate]:
    rows = await fetch_all(
        conn,
        "SELECT id, member_id, unit_id, body, created_at FROM status_update "
        "WHERE member_id = ? AND created_at >= ? ORDER BY id",
        (member_id, to_text(since)),
    )
    found = []
    for row in rows:
        counters = {
            r["counter"]: r["value"]
            for r in await fetch_all(
                conn,
                "SELECT counter, value FROM status_update_counter WHERE update_id = ?",
                (row["id"],),
            )
        }
        data = dict(row)
        data["created_at"] = from_text(data["created_at"])
        found.append(StatusUpdate(**data, counters=counters))
    return found


async def get(conn: Connection, update_id: int) -> StatusUpdate | None:
    """One status update (without its counters), or None."""
    row = await fetch_one(
        conn,
        "SELECT id, member_id, unit_id, body, created_at FROM status_update WHERE id = ?",
        (update_id,),
    )
    if row is None:
        return None
    data = dict(row)
    data["created_at"] = from_text(data["created_at"])
    return StatusUpdate(**data, counters={})
