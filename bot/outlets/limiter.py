"""At most N messages in any 60 seconds to one robot (the platforms allow 20 a minute;
DingTalk blocks a robot for ten minutes past that). Waits on the application's clock, so
a test moves a ``FakeClock`` instead of sleeping."""

from __future__ import annotations

import asyncio
from collections import deque
from datetime import datetime, timedelta

from bot.core.clock import Clock

WINDOW = timedelta(seconds=60)


class RobotLimiter:
    def __init__(self, clock: Clock, per_minute: int) -> None:
        self.clock = clock
        self.per_minute = per_minute
        self._sent: deque[datetime] = deque()
        self._lock = asyncio.Lock()

    async def acquire(self) -> None:
        """Return once one more message may go out now (and count it)."""
        async with self._lock:
            while True:
                now = self.clock.now()
                while self._sent and now - self._sent[0] >= WINDOW:
                    self._sent.popleft()
                if len(self._sent) < self.per_minute:
                    self._sent.append(now)
                    return
                await self.clock.sleep((self._sent[0] + WINDOW - now).total_seconds())
