"""Repository of the durable inbox (see migrations 8 and 9): add updates, read the
unfinished ones, mark them done, prune old ones, quarantine ones that cannot be stored."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from storage.db import Connection, fetch_all
from storage.times import from_text, to_text


@dataclass(frozen=True)
class Incoming:
    update_id: int
    dedupe: str | None
    chat_id: int | None
    payload: str


@dataclass(frozen=True)
class Pending:
    update_id: int
    payload: str
    attempts: int
    received_at: datetime | None = None


async def add(conn: Connection, incoming: Incoming, now: datetime) -> bool:
    """Store one update; False if it is already there (same update id, or the same
    message or button press under another id)."""
    async with conn.atomic():
        cursor = await conn.execute(
            "INSERT INTO inbox (update_id, dedupe, chat_id, payload, received_at) "
            "VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
            (incoming.update_id, incoming.dedupe, incoming.chat_id, incoming.payload, to_text(now)),
        )
    return cursor.rowcount == 1


# Updates ``add_many`` stores in one statement, at most (5 parameters each: well within
# SQLite's limit of 32,766).
ADD_MANY_MAX = 500


async def add_many(conn: Connection, incoming: list[Incoming], now: datetime) -> set[int]:
    """Store up to ``ADD_MANY_MAX`` updates in one statement; returns the update ids that
    were new (the others were already there, as in ``add``). If one of them cannot be
    stored, the statement fails as a whole and stores none."""
    if not incoming:
        return set()
    assert len(incoming) <= ADD_MANY_MAX
    rows = ",".join(["(?, ?, ?, ?, ?)"] * len(incoming))
    at = to_text(now)
    parameters = [
        value
        for item in incoming
        for value in (item.update_id, item.dedupe, item.chat_id, item.payload, at)
    ]
    async with conn.atomic():
        result = await fetch_all(
            conn,
            "INSERT INTO inbox (update_id, dedupe, chat_id, payload, received_at) "
            f"VALUES {rows} ON CONFLICT DO NOTHING RETURNING update_id",
            parameters,
        )
    return {row[0] for row in result}


async def quarantine(
    conn: Connection,
    update_id: int | None,
    chat_id: int | None,
    raw: str,
    error: str,
    now: datetime,
) -> None:
    """Keep an update that could not be stored in the inbox; ``raw`` must be ASCII."""
    async with conn.atomic():
        await conn.execute(
            "INSERT INTO inbox_quarantine (update_id, chat_id, raw, error, received_at) "
            "VALUES (?, ?, ?, ?, ?)",
            (update_id, chat_id, raw, error, to_text(now)),
        )


async def start(conn: Connection, update_id: int) -> None:
    """Count a start at which the update was still unfinished (it is handled again)."""
    await conn.execute("UPDATE inbox SET attempts = attempts + 1 WHERE update_id = ?", (update_id,))


async def done(conn: Connection, update_id: int, now: datetime) -> None:
    await conn.execute(
        "UPDATE inbox SET done_at = ? WHERE update_id = ? AND done_at IS NULL",
        (to_text(now), update_id),
    )


async def done_many(conn: Connection, update_ids: list[int], now: datetime) -> None:
    for start in range(0, len(update_ids), 500):
        chunk = update_ids[start : start + 500]
        marks = ",".join("?" * len(chunk))
        await conn.execute(
            f"UPDATE inbox SET done_at = ? WHERE update_id IN ({marks}) AND done_at IS NULL",
            (to_text(now), *chunk),
        )


async def unfinished(conn: Connection, received_before: datetime | None = None) -> list[Pending]:
    """Updates received but not done, in the order Telegram sent them (only those received
    before ``received_before`` when given)."""
    where = "" if received_before is None else "AND received_at < ? "
    params = () if received_before is None else (to_text(received_before),)
    return [
        Pending(r[0], r[1], r[2], from_text(r[3]))
        for r in await fetch_all(
            conn,
            "SELECT update_id, payload, attempts, received_at FROM inbox WHERE done_at IS NULL "
            f"{where}ORDER BY update_id",
            params,
        )
    ]


async def chat_backlog(conn: Connection, chat_id: int, update_id: int) -> list[Pending]:
    """The chat's updates not done yet up to ``update_id`` (included), oldest first: read
    under the chat's lock (``Database.chat_lock``), what has to be handled before — and
    with — that update. (The few unfinished rows are found by the ``inbox_pending`` index.)"""
    return [
        Pending(r[0], r[1], r[2])
        for r in await fetch_all(
            conn,
            "SELECT update_id, payload, attempts FROM inbox WHERE done_at IS NULL "
            "AND update_id <= ? AND chat_id = ? ORDER BY update_id",
            (update_id, chat_id),
        )
    ]


async def is_done(conn: Connection, update_id: int) -> bool | None:
    """Whether the update is marked done; None if it is not in the inbox."""
    rows = await fetch_all(
        conn, "SELECT done_at IS NOT NULL FROM inbox WHERE update_id = ?", (update_id,)
    )
    return bool(rows[0][0]) if rows else None


async def prune(conn: Connection, done_before: datetime) -> int:
    """Forget updates handled before ``done_before``; returns how many."""
    cursor = await conn.execute(
        "DELETE FROM inbox WHERE done_at IS NOT NULL AND done_at < ?", (to_text(done_before),)
    )
    return cursor.rowcount
