"""Outgoing rate limits that hold across processes (issue 20): with several ``gridbot
run`` processes on one PostgreSQL store, Telegram's limits — about 30 messages a second
overall and 20 a minute into one group (``telegram.max_messages_per_second``) — are the
deployment's, not each process's. Each send first takes a token from the shared
buckets (``storage.send_rate``): the group's for a group, and the overall one — leased
a few at a time (``LEASE``, for at most a second) so that most sends need no round trip;
the
process's own fair queue (``bot.runtime.sending.FairQueue``) then shares its part
between chats as before. On SQLite (one process) the in-memory limits are the whole
story and nothing is asked here."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

from storage import send_rate as send_rate_repo
from storage.db import Database

GROUP_PER_MINUTE = 20
# Overall tokens taken per round trip to the database, kept for at most a second (what is
# not used by then is lost, never lent to another process: the limit still holds).
LEASE = 5
LEASE_SECONDS = 1.0


class SharedRate:
    def __init__(
        self,
        db: Database,
        per_second: float,
        per_group_minute: float = GROUP_PER_MINUTE,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.db = db
        self.per_second = per_second
        self.per_group_minute = per_group_minute
        self.sleep = sleep
        self.waits = 0  # how often a send waited for the shared budget
        # Overall tokens leased from the shared bucket and not used yet, until when.
        self._overall = asyncio.Lock()
        self._reserve = 0
        self._reserve_until = 0.0

    @property
    def active(self) -> bool:
        """Whether the limits are shared (several processes may send; a limit is set)."""
        return self.db.shared and self.per_second > 0

    async def turn(self, chat_id: int | str) -> None:
        """Return once a send to ``chat_id`` fits the deployment's limits."""
        chat = int(chat_id) if str(chat_id).lstrip("-").isdigit() else None
        if chat is not None and chat < 0:
            await self._take(f"g:{chat}", self.per_group_minute, self.per_group_minute / 60)
        async with self._overall:
            if self._reserve > 0 and time.monotonic() < self._reserve_until:
                self._reserve -= 1  # leased a moment ago: no round trip
                return
            taken = await self._take("all", self.per_second, self.per_second, LEASE)
            self._reserve, self._reserve_until = taken - 1, time.monotonic() + LEASE_SECONDS

    async def _take(self, lane: str, capacity: float, rate: float, wanted: int = 1) -> int:
        while True:
            async with self.db.read() as conn:
                taken, wait = await send_rate_repo.take(conn, lane, capacity, rate, wanted)
            if taken:
                return taken
            self.waits += 1
            await self.sleep(min(wait, 5.0))
