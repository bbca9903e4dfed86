"""At most N messages in any 60 seconds to one robot (the platforms allow 20 a minute;
DingTalk blocks a robot for ten minutes past that), and at most M in any second where
the platform says so (Feishu: 5). Waits on the application's clock, so a test moves a
``FakeClock`` instead of sleeping."""

from __future__ import annotations

import asyncio
from collections import deque
from datetime import datetime, timedelta

from bot.core.clock import Clock

MINUTE = timedelta(seconds=60)
SECOND = timedelta(seconds=1)


class RobotLimiter:
    def __init__(self, clock: Clock, per_minute: int, per_second: int | None = None) -> None:
        self.clock = clock
        self.per_minute = per_minute
        self.per_second = per_second
        self._sent: deque[datetime] = deque()
        self._lock = asyncio.Lock()

    def _wait(self, now: datetime) -> float:
        """Seconds until one more message may go out (0: now)."""
        while self._sent and now - self._sent[0] >= MINUTE:
            self._sent.popleft()
        if len(self._sent) >= self.per_minute:
            return (self._sent[0] + MINUTE - now).total_seconds()
        if self.per_second is not None:
            recent = [t for t in self._sent if now - t < SECOND]
            if len(recent) >= self.per_second:
                return (recent[0] + SECOND - now).total_seconds()
        return 0.0

    async def acquire(self) -> None:
        """Return once one more message may go out now (and count it)."""
        async with self._lock:
            while (wait := self._wait(self.clock.now())) > 0:
                await self.clock.sleep(wait)
            self._sent.append(self.clock.now())
