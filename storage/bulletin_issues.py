"""Repository of the 简报 as a numbered document: its issues (第N期 per issuing unit and
period) and the items units offer for it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from storage.db import Connection, fetch_all, fetch_one, insert_id
from storage.times import from_text_or_none, to_text
from storage.units import subtree_bounds


@dataclass(frozen=True)
class Issue:
    id: int
    unit_id: int
    first_day: date
    last_day: date
    number: int | None  # None until published
    revision: int  # previews shown so far
    published_at: datetime | None


@dataclass(frozen=True)
class Item:
    id: int
    unit_id: int
    unit_path: str
    member_id: int
    update_id: int | None
    title: str
    body: str
    day: date
    position: int
    dropped: bool


def _issue(row: object) -> Issue:
    data = dict(row)  # type: ignore[call-overload]
    return Issue(
        id=data["id"],
        unit_id=data["unit_id"],
        first_day=date.fromisoformat(data["first_day"]),
        last_day=date.fromisoformat(data["last_day"]),
        number=data["number"],
        revision=data["revision"],
        published_at=from_text_or_none(data["published_at"]),
    )


async def issue(conn: Connection, unit_id: int, first_day: date) -> Issue | None:
    row = await fetch_one(
        conn,
        "SELECT * FROM bulletin_issue WHERE unit_id = ? AND first_day = ?",
        (unit_id, first_day.isoformat()),
    )
    return _issue(row) if row else None


async def _ensure(conn: Connection, unit_id: int, first_day: date, last_day: date) -> None:
    await conn.execute(
        "INSERT INTO bulletin_issue (unit_id, first_day, last_day) VALUES (?, ?, ?) "
        "ON CONFLICT (unit_id, first_day) DO NOTHING",
        (unit_id, first_day.isoformat(), last_day.isoformat()),
    )


async def new_revision(conn: Connection, unit_id: int, first_day: date, last_day: date) -> Issue:
    """A new preview of the issue: its revision goes up by one (the row made if new)."""
    await _ensure(conn, unit_id, first_day, last_day)
    await conn.execute(
        "UPDATE bulletin_issue SET revision = revision + 1 WHERE unit_id = ? AND first_day = ?",
        (unit_id, first_day.isoformat()),
    )
    found = await issue(conn, unit_id, first_day)
    assert found is not None
    return found


async def next_number(conn: Connection, unit_id: int, first_number: int) -> int:
    """The number the unit's next published issue gets."""
    row = await fetch_one(
        conn, "SELECT MAX(number) AS n FROM bulletin_issue WHERE unit_id = ?", (unit_id,)
    )
    latest = row["n"] if row else None
    return first_number if latest is None else max(latest + 1, first_number)


async def publish(
    conn: Connection,
    unit_id: int,
    first_day: date,
    last_day: date,
    first_number: int,
    now: datetime,
    member_id: int | None,
) -> Issue:
    """Give the issue its number when it has none (a republished period keeps its own)."""
    await _ensure(conn, unit_id, first_day, last_day)
    number = await next_number(conn, unit_id, first_number)
    await conn.execute(
        "UPDATE bulletin_issue SET number = ?, published_at = ?, published_by = ? "
        "WHERE unit_id = ? AND first_day = ? AND number IS NULL",
        (number, to_text(now), member_id, unit_id, first_day.isoformat()),
    )
    found = await issue(conn, unit_id, first_day)
    assert found is not None
    return found


_ITEM_COLUMNS = (
    "i.id, i.unit_id, u.path AS unit_path, i.member_id, i.update_id, i.title, i.body, i.day, "
    "i.position, i.dropped"
)


def _item(row: object) -> Item:
    data = dict(row)  # type: ignore[call-overload]
    data["day"] = date.fromisoformat(data["day"])
    data["dropped"] = bool(data["dropped"])
    return Item(**data)


async def put_item(
    conn: Connection,
    unit_id: int,
    member_id: int,
    update_id: int | None,
    title: str,
    body: str,
    day: date,
    now: datetime,
) -> int:
    """A new item, placed last; an update offered again keeps its item and takes the new
    title."""
    if update_id is not None:
        row = await fetch_one(
            conn, "SELECT id FROM bulletin_item WHERE update_id = ?", (update_id,)
        )
        if row is not None:
            await conn.execute(
                "UPDATE bulletin_item SET title = ?, dropped = 0 WHERE id = ?", (title, row["id"])
            )
            return int(row["id"])
    return await insert_id(
        conn,
        "INSERT INTO bulletin_item (unit_id, member_id, update_id, title, body, day, position, "
        "created_at) VALUES (?, ?, ?, ?, ?, ?, "
        "(SELECT COALESCE(MAX(position), 0) + 1 FROM bulletin_item), ?)",
        (unit_id, member_id, update_id, title, body, day.isoformat(), to_text(now)),
    )


async def items_in(conn: Connection, path: str, first_day: date, last_day: date) -> list[Item]:
    """The items of units in the subtree at ``path`` dated within the days, in their order."""
    low, high = subtree_bounds(path)
    rows = await fetch_all(
        conn,
        f"SELECT {_ITEM_COLUMNS} FROM bulletin_item i JOIN org_unit u ON u.id = i.unit_id "
        "WHERE i.day >= ? AND i.day <= ? AND u.path >= ? AND u.path < ? "
        "ORDER BY i.position, i.id",
        (first_day.isoformat(), last_day.isoformat(), low, high),
    )
    return [_item(row) for row in rows]


async def item(conn: Connection, item_id: int) -> Item | None:
    row = await fetch_one(
        conn,
        f"SELECT {_ITEM_COLUMNS} FROM bulletin_item i JOIN org_unit u ON u.id = i.unit_id "
        "WHERE i.id = ?",
        (item_id,),
    )
    return _item(row) if row else None


async def set_dropped(conn: Connection, item_id: int, dropped: bool) -> None:
    await conn.execute("UPDATE bulletin_item SET dropped = ? WHERE id = ?", (int(dropped), item_id))


async def set_position(conn: Connection, item_id: int, position: int) -> None:
    await conn.execute("UPDATE bulletin_item SET position = ? WHERE id = ?", (position, item_id))


async def add_photo(conn: Connection, item_id: int, sha256: str) -> None:
    """Append a photo (already recorded as evidence) to the item."""
    await conn.execute(
        "INSERT INTO bulletin_item_photo (item_id, position, sha256) VALUES (?, "
        "(SELECT COALESCE(MAX(position), 0) + 1 FROM bulletin_item_photo WHERE item_id = ?), ?)",
        (item_id, item_id, sha256),
    )


async def photos_of(conn: Connection, item_ids: list[int]) -> dict[int, list[str]]:
    """The photos' SHA-256s of each item, in order."""
    found: dict[int, list[str]] = {item_id: [] for item_id in item_ids}
    if not item_ids:
        return found
    marks = ", ".join("?" for _ in item_ids)
    rows = await fetch_all(
        conn,
        f"SELECT item_id, sha256 FROM bulletin_item_photo WHERE item_id IN ({marks}) "
        "ORDER BY item_id, position",
        tuple(item_ids),
    )
    for row in rows:
        found[row["item_id"]].append(row["sha256"])
    return found
