"""Repository of report drafts: the report a worker is putting together, step by step."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, fields
from datetime import datetime

from storage.db import Connection, fetch_all, fetch_one, insert_id
from storage.reports import PHOTO_COLUMNS, Photo
from storage.times import from_text, to_text


@dataclass(frozen=True)
class Draft:
    id: int
    telegram_id: int
    member_id: int
    category: str | None
    site_id: int | None
    new_site: str | None
    site_query: str | None
    status: str | None
    photos_done: bool
    location_done: bool
    latitude: float | None
    longitude: float | None
    note_done: bool
    note: str | None
    created_at: datetime
    updated_at: datetime
    expires_at: datetime
    photo_count: int
    photos_unanswered: bool  # photos received, their count not answered yet


# The columns a step may change; anything else is fixed at creation.
EDITABLE = frozenset(
    {
        "category",
        "site_id",
        "new_site",
        "site_query",
        "status",
        "photos_done",
        "location_done",
        "latitude",
        "longitude",
        "note_done",
        "note",
        "photos_unanswered",
    }
)
_BOOLS = ("photos_done", "location_done", "note_done", "photos_unanswered")
_TIMES = ("created_at", "updated_at", "expires_at")


def _draft(row: sqlite3.Row) -> Draft:
    data = dict(row)
    for name in _BOOLS:
        data[name] = bool(data[name])
    for name in _TIMES:
        data[name] = from_text(data[name])
    return Draft(**{f.name: data[f.name] for f in fields(Draft)})


_SELECT = (
    "SELECT d.*, (SELECT COUNT(*) FROM draft_photo p WHERE p.draft_id = d.id) AS photo_count "
    "FROM report_draft d"
)


async def of_person(conn: Connection, telegram_id: int) -> Draft | None:
    row = await fetch_one(conn, f"{_SELECT} WHERE d.telegram_id = ?", (telegram_id,))
    return _draft(row) if row else None


async def create(
    conn: Connection,
    telegram_id: int,
    member_id: int,
    category: str | None,
    now: datetime,
    expires: datetime,
) -> int:
    new_id = await insert_id(
        conn,
        "INSERT INTO report_draft (telegram_id, member_id, category, created_at, updated_at, "
        "expires_at) VALUES (?, ?, ?, ?, ?, ?)",
        (telegram_id, member_id, category, to_text(now), to_text(now), to_text(expires)),
    )
    return new_id


async def update(
    conn: Connection, draft_id: int, now: datetime, expires: datetime, **changes: object
) -> None:
    unknown = set(changes) - EDITABLE
    if unknown:
        raise ValueError(f"not editable: {sorted(unknown)}")
    assignments = "".join(f"{name} = ?, " for name in changes)
    await conn.execute(
        f"UPDATE report_draft SET {assignments}updated_at = ?, expires_at = ? WHERE id = ?",
        (
            *[int(v) if isinstance(v, bool) else v for v in changes.values()],
            to_text(now),
            to_text(expires),
            draft_id,
        ),
    )


async def delete(conn: Connection, draft_id: int) -> None:
    await conn.execute("DELETE FROM draft_photo WHERE draft_id = ?", (draft_id,))
    await conn.execute("DELETE FROM report_draft WHERE id = ?", (draft_id,))


async def add_photo(
    conn: Connection, draft_id: int, message_id: int, photo: Photo, now: datetime
) -> bool:
    """Attach a photo; False when this message was already attached (a repeated update)."""
    cur = await conn.execute(
        "INSERT INTO draft_photo (draft_id, message_id, sha256, file_id, file_unique_id, "
        "as_file, added_at) VALUES (?, ?, ?, ?, ?, ?, ?) "
        "ON CONFLICT (draft_id, message_id) DO NOTHING",
        (
            draft_id,
            message_id,
            photo.sha256,
            photo.file_id,
            photo.file_unique_id,
            int(photo.as_file),
            to_text(now),
        ),
    )
    return cur.rowcount == 1


async def has_message(conn: Connection, draft_id: int, message_id: int) -> bool:
    return (
        await fetch_one(
            conn,
            "SELECT 1 FROM draft_photo WHERE draft_id = ? AND message_id = ?",
            (draft_id, message_id),
        )
        is not None
    )


async def photos(conn: Connection, draft_id: int) -> list[Photo]:
    rows = await fetch_all(
        conn,
        f"SELECT {PHOTO_COLUMNS} FROM draft_photo WHERE draft_id = ? ORDER BY message_id",
        (draft_id,),
    )
    return [Photo.of_row(row) for row in rows]


async def claim_photo_answer(conn: Connection, telegram_id: int) -> bool:
    """Take the answer to the photos a draft received; False when there is none to give
    (answered already, or no draft)."""
    cur = await conn.execute(
        "UPDATE report_draft SET photos_unanswered = 0 "
        "WHERE telegram_id = ? AND photos_unanswered = 1",
        (telegram_id,),
    )
    return cur.rowcount == 1


async def awaiting_photo_answer(conn: Connection, now: datetime) -> list[int]:
    """Telegram ids of the live drafts whose photos have not been answered."""
    rows = await fetch_all(
        conn,
        "SELECT telegram_id FROM report_draft WHERE photos_unanswered = 1 AND expires_at > ? "
        "ORDER BY updated_at",
        (to_text(now),),
    )
    return [row[0] for row in rows]


async def clear_photos(conn: Connection, draft_id: int) -> None:
    await conn.execute("DELETE FROM draft_photo WHERE draft_id = ?", (draft_id,))
