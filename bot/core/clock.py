"""Time as a dependency: services ask a clock, tests move a fake one instead of sleeping.

The clock tells the time (``now``) and waits (``sleep``): the runtime's back-off between
tries (``bot.runtime.sending``, ``bot.runtime.polling``) waits on the application's
clock, so a test moves a ``FakeClock`` past a back-off instead of sitting through it.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime:
        """The current time, timezone-aware, in UTC."""
        ...

    async def sleep(self, seconds: float) -> None:
        """Return once ``seconds`` have passed on this clock."""
        ...


class SystemClock:
    def now(self) -> datetime:
        """The wall clock, in UTC."""
        return datetime.now(UTC)

    async def sleep(self, seconds: float) -> None:
        """Wait ``seconds`` of real time."""
        await asyncio.sleep(seconds)


class FakeClock:
    """A clock that stands still until told to move: ``sleep`` returns once ``advance``
    or ``set`` has moved the time past its end (a wait of 0 s or less only yields)."""

    def __init__(self, start: datetime | None = None) -> None:
        self._now = start or datetime(2026, 11, 23, 1, 0, tzinfo=UTC)
        self._sleepers: list[tuple[datetime, asyncio.Future[None]]] = []
        self._watchers: list[asyncio.Future[None]] = []  # waiting in ``next_sleep``

    def now(self) -> datetime:
        """The time the test set, until it moves it."""
        return self._now

    def advance(self, delta: timedelta) -> None:
        """Move the time forward by ``delta``."""
        self._now += delta
        self._wake()

    def set(self, moment: datetime) -> None:
        """Jump to ``moment`` (aware)."""
        self._now = moment
        self._wake()

    async def sleep(self, seconds: float) -> None:
        """Return once the time has been moved ``seconds`` past now."""
        if seconds <= 0:
            await asyncio.sleep(0)
            return
        sleeper = (
            self._now + timedelta(seconds=seconds),
            asyncio.get_running_loop().create_future(),
        )
        self._sleepers.append(sleeper)
        for watcher in self._watchers:
            if not watcher.done():
                watcher.set_result(None)
        self._watchers.clear()
        try:
            await sleeper[1]
        finally:
            if sleeper in self._sleepers:
                self._sleepers.remove(sleeper)

    @property
    def sleeping(self) -> list[float]:
        """The seconds each waiting ``sleep`` has left, shortest first."""
        return sorted(
            (due - self._now).total_seconds() for due, future in self._sleepers if not future.done()
        )

    async def next_sleep(self) -> float:
        """Wait until something sleeps on this clock (``TimeoutError`` after five seconds
        of real time); the seconds the shortest sleep has left."""
        async with asyncio.timeout(5.0):
            while not self.sleeping:
                watcher = asyncio.get_running_loop().create_future()
                self._watchers.append(watcher)
                await watcher
        return self.sleeping[0]

    async def skip_sleep(self) -> float:
        """Wait for the next ``sleep`` (``next_sleep``) and move the time to its end;
        the seconds skipped."""
        seconds = await self.next_sleep()
        self.advance(timedelta(seconds=seconds))
        return seconds

    def _wake(self) -> None:
        for due, future in self._sleepers:
            if due <= self._now and not future.done():
                future.set_result(None)
