"""Repository of the shared outgoing rate limits (migration 23): token buckets, one row
per lane, taken from in one statement so that processes on one PostgreSQL store share
them. Times are the database server's clock (seconds), so the processes' own clocks
never matter. Used on PostgreSQL only (``Database.shared``)."""

from __future__ import annotations

from storage.db import Connection, fetch_all

# ?1 lane, ?2 capacity (a full bucket), ?3 refill per second, ?4 tokens wanted at most.
# The bucket as it is now: least(capacity, tokens + elapsed × rate); at least one must be
# there, and the taker gets as many as it wants of the whole ones.
_NOW = "least(?2, send_rate.tokens + (excluded.at - send_rate.at) * ?3)"
_TAKE = f"""
INSERT INTO send_rate (lane, tokens, at, taken)
VALUES (?1, ?2 - least(?4, ?2), extract(epoch FROM clock_timestamp())::double precision,
        least(?4, ?2))
ON CONFLICT (lane) DO UPDATE SET
    tokens = {_NOW} - least(?4, floor({_NOW})),
    taken = least(?4, floor({_NOW})),
    at = excluded.at
WHERE {_NOW} >= 1
RETURNING taken
"""

_LEFT = """
SELECT least(?2, tokens + (extract(epoch FROM clock_timestamp()) - at) * ?3)
FROM send_rate WHERE lane = ?1
"""


async def take(
    conn: Connection, lane: str, capacity: float, rate: float, wanted: int = 1
) -> tuple[int, float]:
    """Take up to ``wanted`` tokens (at least one) from the lane's bucket (``capacity`` at
    most, refilled ``rate`` a second): (how many were taken, 0.0), or (0, seconds until
    one is there). An autocommit statement of its own: the row is locked only while it
    runs."""
    rows = await fetch_all(conn, _TAKE, (lane, float(capacity), float(rate), float(wanted)))
    if rows:
        return int(rows[0][0]), 0.0
    rows = await fetch_all(conn, _LEFT, (lane, float(capacity), float(rate)))
    available = float(rows[0][0]) if rows else 0.0
    return 0, max(0.01, (1.0 - available) / rate)
