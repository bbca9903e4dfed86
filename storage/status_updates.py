"""Repository of status updates (工作动态) and their drafts."""

from __future__ import annotations

import json
from dataclasses import dataclass

from storage.db import Connection, fetch_all, fetch_one


@dataclass(frozen=True)
class UpdateDraft:
    id: int
    telegram_id: int
    member_id: int
    body: str | None
    counters: dict[str, int]
    created_at: str
    expires_at: str


@dataclass(frozen=True)
class StatusUpdate:
    id: int
    member_id: int
    unit_id: int
    body: str
    created_at: str
    counters: dict[str, int]


async def draft_of(conn: Connection, telegram_id: int) -> UpdateDraft | None:
    row = await fetch_one(conn, "SELECT * FROM update_draft WHERE telegram_id = ?", (telegram_id,))
    if row is None:
        return None
    data = dict(row)
    data["counters"] = json.loads(data["counters"])
    return UpdateDraft(**data)


async def put_draft(
    conn: Connection,
    telegram_id: int,
    member_id: int,
    body: str | None,
    counters: dict[str, int],
    now: str,
    expires: str,
) -> None:
    """Create the person's draft, or replace its body and counters (keeping its id)."""
    await conn.execute(
        "INSERT INTO update_draft (telegram_id, member_id, body, counters, created_at, "
        "expires_at) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (telegram_id) DO UPDATE SET "
        "body = excluded.body, counters = excluded.counters, expires_at = excluded.expires_at",
        (telegram_id, member_id, body, json.dumps(counters), now, expires),
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
    now: str,
) -> int:
    cur = await conn.execute(
        "INSERT INTO status_update (draft_id, member_id, unit_id, body, created_at) "
        "VALUES (?, ?, ?, ?, ?)",
        (draft_id, member_id, unit_id, body, now),
    )
    update_id = cur.lastrowid
    assert update_id is not None
    await conn.executemany(
        "INSERT INTO status_update_counter (update_id, counter, value) VALUES (?, ?, ?)",
        [(update_id, name, value) for name, value in counters.items()],
    )
    return update_id


async def for_member(conn: Connection, member_id: int, since: str) -> list[StatusUpdate]:
    rows = await fetch_all(
        conn,
        "SELECT id, member_id, unit_id, body, created_at FROM status_update "
        "WHERE member_id = ? AND created_at >= ? ORDER BY id",
        (member_id, since),
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
        found.append(StatusUpdate(**dict(row), counters=counters))
    return found
