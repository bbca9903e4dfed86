"""Per-person and per-chat state that is not membership: language choice, pending joins,
the conversation a person is in, and which command menu each chat was last given."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from storage.db import Connection, fetch_one
from storage.times import from_text, to_text


@dataclass(frozen=True)
class JoinDraft:
    telegram_id: int
    invite_id: int
    created_at: datetime
    expires_at: datetime


async def language_and_flow(conn: Connection, telegram_id: int) -> tuple[str | None, str | None]:
    """The person's chosen language and active flow, in one query (every update asks)."""
    row = await fetch_one(
        conn,
        "SELECT (SELECT language FROM user_setting WHERE telegram_id = ?1) AS language, "
        "(SELECT kind FROM active_flow WHERE telegram_id = ?1) AS kind",
        (telegram_id,),
    )
    assert row is not None
    return row["language"], row["kind"]


async def set_language(conn: Connection, telegram_id: int, language: str, now: datetime) -> None:
    await conn.execute(
        "INSERT INTO user_setting (telegram_id, language, updated_at) VALUES (?, ?, ?) "
        "ON CONFLICT (telegram_id) DO UPDATE SET language = excluded.language, "
        "updated_at = excluded.updated_at",
        (telegram_id, language, to_text(now)),
    )


async def join_draft(conn: Connection, telegram_id: int) -> JoinDraft | None:
    row = await fetch_one(
        conn,
        "SELECT telegram_id, invite_id, created_at, expires_at FROM join_draft "
        "WHERE telegram_id = ?",
        (telegram_id,),
    )
    if row is None:
        return None
    return JoinDraft(
        row["telegram_id"],
        row["invite_id"],
        from_text(row["created_at"]),
        from_text(row["expires_at"]),
    )


async def put_join_draft(
    conn: Connection, telegram_id: int, invite_id: int, now: datetime, expires_at: datetime
) -> None:
    await conn.execute(
        "INSERT INTO join_draft (telegram_id, invite_id, created_at, expires_at) "
        "VALUES (?, ?, ?, ?) ON CONFLICT (telegram_id) DO UPDATE SET "
        "invite_id = excluded.invite_id, created_at = excluded.created_at, "
        "expires_at = excluded.expires_at",
        (telegram_id, invite_id, to_text(now), to_text(expires_at)),
    )


async def drop_join_draft(conn: Connection, telegram_id: int) -> None:
    await conn.execute("DELETE FROM join_draft WHERE telegram_id = ?", (telegram_id,))


async def command_digest(conn: Connection, chat_id: int) -> str | None:
    row = await fetch_one(conn, "SELECT digest FROM chat_commands WHERE chat_id = ?", (chat_id,))
    return row["digest"] if row else None


async def set_command_digest(conn: Connection, chat_id: int, digest: str, now: datetime) -> None:
    await conn.execute(
        "INSERT INTO chat_commands (chat_id, digest, updated_at) VALUES (?, ?, ?) "
        "ON CONFLICT (chat_id) DO UPDATE SET digest = excluded.digest, "
        "updated_at = excluded.updated_at",
        (chat_id, digest, to_text(now)),
    )


async def set_active_flow(conn: Connection, telegram_id: int, kind: str, now: datetime) -> None:
    """Route this person's next plain messages to the flow ``kind``."""
    await conn.execute(
        "INSERT INTO active_flow (telegram_id, kind, updated_at) VALUES (?, ?, ?) "
        "ON CONFLICT (telegram_id) DO UPDATE SET kind = excluded.kind, "
        "updated_at = excluded.updated_at",
        (telegram_id, kind, to_text(now)),
    )


async def end_active_flow(conn: Connection, telegram_id: int, kind: str) -> None:
    """Stop routing to ``kind`` — only if it is still the active one."""
    await conn.execute(
        "DELETE FROM active_flow WHERE telegram_id = ? AND kind = ?", (telegram_id, kind)
    )
