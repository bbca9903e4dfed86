"""Outgoing rate limits that hold across processes (issue 20): with several ``gridbot
run`` processes on one PostgreSQL store, Telegram's limits — about 30 messages a second
overall and 20 a minute into one group (``telegram.max_messages_per_second``) — are the
deployment's, not each process's. Each send first takes a token from the shared
buckets (``storage.send_rate``): the overall one, and the group's for a group; the
process's own fair queue (``bot.runtime.sending.FairQueue``) then shares its part
between chats as before. On SQLite (one process) the in-memory limits are the whole
story and nothing is asked here."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from storage import send_rate as send_rate_repo
from storage.db import Database

GROUP_PER_MINUTE = 20


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

    @property
    def active(self) -> bool:
        """Whether the limits are shared (several processes may send; a limit is set)."""
        return self.db.shared and self.per_second > 0

    async def turn(self, chat_id: int | str) -> None:
        """Return once a send to ``chat_id`` fits the deployment's limits."""
        chat = int(chat_id) if str(chat_id).lstrip("-").isdigit() else None
        if chat is not None and chat < 0:
            await self._take(f"g:{chat}", self.per_group_minute, self.per_group_minute / 60)
        await self._take("all", self.per_second, self.per_second)

    async def _take(self, lane: str, capacity: float, rate: float) -> None:
        while True:
            async with self.db.read() as conn:
                wait = await send_rate_repo.take(conn, lane, capacity, rate)
            if not wait:
                return
            self.waits += 1
            await self.sleep(min(wait, 5.0))
