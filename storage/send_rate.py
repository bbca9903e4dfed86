"""Repository of the shared outgoing rate limits (migration 22): token buckets, one row
per lane, taken from in one statement so that processes on one PostgreSQL store share
them. Times are the database server's clock (seconds), so the processes' own clocks
never matter. Used on PostgreSQL only (``Database.shared``)."""

from __future__ import annotations

from storage.db import Connection, fetch_all

# ?1 lane, ?2 capacity (a full bucket), ?3 refill per second.
_TAKE = """
INSERT INTO send_rate (lane, tokens, at)
VALUES (?1, ?2 - 1, extract(epoch FROM clock_timestamp())::double precision)
ON CONFLICT (lane) DO UPDATE SET
    tokens = least(?2, send_rate.tokens + (excluded.at - send_rate.at) * ?3) - 1,
    at = excluded.at
WHERE least(?2, send_rate.tokens + (excluded.at - send_rate.at) * ?3) >= 1
RETURNING tokens
"""

_LEFT = """
SELECT least(?2, tokens + (extract(epoch FROM clock_timestamp()) - at) * ?3)
FROM send_rate WHERE lane = ?1
"""


async def take(conn: Connection, lane: str, capacity: float, rate: float) -> float:
    """Take one token from the lane's bucket (``capacity`` at most, refilled ``rate`` a
    second): 0 if taken, else how many seconds until one is there (take again then).
    An autocommit statement of its own: the row is locked only while it runs."""
    if await fetch_all(conn, _TAKE, (lane, float(capacity), float(rate))):
        return 0.0
    rows = await fetch_all(conn, _LEFT, (lane, float(capacity), float(rate)))
    available = float(rows[0][0]) if rows else 0.0
    return max(0.01, (1.0 - available) / rate)
