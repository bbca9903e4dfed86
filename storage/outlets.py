"""Repository of outlets (group robots named in the config) and of the sends to them,
claimed per (outlet, kind, period) like the Telegram digests (``storage.digests``)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from storage.db import Connection, fetch_all, fetch_one
from storage.times import from_text, from_text_or_none, to_text


@dataclass(frozen=True)
class OutletRow:
    name: str
    first_seen: datetime
    failing_since: datetime | None
    failing_reason: str | None


@dataclass(frozen=True)
class SendRow:
    outlet: str
    kind: str
    period: str
    state: str
    due_at: datetime
    parts_sent: int
    done_at: datetime | None
    detail: str | None


async def register(conn: Connection, name: str, fingerprint: str, now: datetime) -> OutletRow:
    """The outlet's row, created the first time it is seen; a changed ``fingerprint`` (its
    address or secret was edited) clears a failing state."""
    await conn.execute(
        "INSERT INTO outlet (name, first_seen, fingerprint) VALUES (?, ?, ?) "
        "ON CONFLICT (name) DO UPDATE SET fingerprint = excluded.fingerprint, "
        "failing_since = CASE WHEN outlet.fingerprint = excluded.fingerprint "
        "THEN outlet.failing_since END, "
        "failing_reason = CASE WHEN outlet.fingerprint = excluded.fingerprint "
        "THEN outlet.failing_reason END",
        (name, to_text(now), fingerprint),
    )
    found = await get_outlet(conn, name)
    assert found is not None
    return found


async def get_outlet(conn: Connection, name: str) -> OutletRow | None:
    row = await fetch_one(
        conn,
        "SELECT name, first_seen, failing_since, failing_reason FROM outlet WHERE name = ?",
        (name,),
    )
    if row is None:
        return None
    return OutletRow(
        row["name"],
        from_text(row["first_seen"]),
        from_text_or_none(row["failing_since"]),
        row["failing_reason"],
    )


async def mark_failing(conn: Connection, name: str, reason: str, now: datetime) -> bool:
    """Mark the outlet failing; True only if it was not failing before (tell once)."""
    cur = await conn.execute(
        "UPDATE outlet SET failing_since = ?, failing_reason = ? "
        "WHERE name = ? AND failing_since IS NULL",
        (to_text(now), reason, name),
    )
    return cur.rowcount == 1


async def clear_failing(conn: Connection, name: str) -> None:
    await conn.execute(
        "UPDATE outlet SET failing_since = NULL, failing_reason = NULL WHERE name = ?", (name,)
    )


async def claim(
    conn: Connection, outlet: str, kind: str, period: str, due_at: datetime, state: str
) -> bool:
    """Record a send of (outlet, kind, period) in ``state``; False if one exists already."""
    cur = await conn.execute(
        "INSERT INTO outlet_send (outlet, kind, period, state, due_at) VALUES (?, ?, ?, ?, ?) "
        "ON CONFLICT (outlet, kind, period) DO NOTHING",
        (outlet, kind, period, state, to_text(due_at)),
    )
    return cur.rowcount == 1


async def progress(conn: Connection, outlet: str, kind: str, period: str, parts: int) -> None:
    """Note that the first ``parts`` parts of a claimed send were delivered."""
    await conn.execute(
        "UPDATE outlet_send SET parts_sent = ? WHERE outlet = ? AND kind = ? AND period = ?",
        (parts, outlet, kind, period),
    )


async def finish(
    conn: Connection,
    outlet: str,
    kind: str,
    period: str,
    state: str,
    now: datetime,
    detail: str | None = None,
) -> None:
    await conn.execute(
        "UPDATE outlet_send SET state = ?, done_at = ?, detail = ? "
        "WHERE outlet = ? AND kind = ? AND period = ?",
        (state, to_text(now), detail, outlet, kind, period),
    )


async def release(conn: Connection, outlet: str, kind: str, period: str) -> None:
    """Forget a claim nothing of which was delivered, so it can be sent once the outlet
    works again (within the catch-up window)."""
    await conn.execute(
        "DELETE FROM outlet_send WHERE outlet = ? AND kind = ? AND period = ? AND parts_sent = 0",
        (outlet, kind, period),
    )


_SEND = "SELECT outlet, kind, period, state, due_at, parts_sent, done_at, detail FROM outlet_send"


def _send(row: object) -> SendRow:
    r = dict(row)  # type: ignore[call-overload]
    return SendRow(
        r["outlet"],
        r["kind"],
        r["period"],
        r["state"],
        from_text(r["due_at"]),
        r["parts_sent"],
        from_text_or_none(r["done_at"]),
        r["detail"],
    )


async def stale_sending(conn: Connection, kind: str, before: datetime) -> list[SendRow]:
    """Sends of ``kind`` claimed before ``before`` and never finished (a stop mid-send)."""
    return [
        _send(r)
        for r in await fetch_all(
            conn,
            f"{_SEND} WHERE state = 'sending' AND kind = ? AND due_at < ? ORDER BY due_at, id",
            (kind, to_text(before)),
        )
    ]


async def sends_of(conn: Connection, outlet: str) -> list[SendRow]:
    """An outlet's sends, oldest first."""
    return [
        _send(r) for r in await fetch_all(conn, f"{_SEND} WHERE outlet = ? ORDER BY id", (outlet,))
    ]


async def get(conn: Connection, outlet: str, kind: str, period: str) -> SendRow | None:
    row = await fetch_one(
        conn, f"{_SEND} WHERE outlet = ? AND kind = ? AND period = ?", (outlet, kind, period)
    )
    return _send(row) if row else None
