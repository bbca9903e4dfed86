"""The clock waits as well as tells the time: back-off in the runtime waits on it, so a
test moves a FakeClock past a wait instead of sitting through it."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from telegram.error import NetworkError

from bot.core.clock import FakeClock
from bot.runtime.sending import until_reachable


async def test_a_fake_clock_sleeps_until_it_is_moved_past_the_end():
    clock = FakeClock()
    start = clock.now()
    sleeping = asyncio.create_task(clock.sleep(2))
    assert await clock.next_sleep() == 2.0
    clock.advance(timedelta(seconds=1.5))
    await asyncio.sleep(0)
    assert not sleeping.done() and clock.sleeping == [0.5]
    clock.advance(timedelta(seconds=0.5))
    await asyncio.wait_for(sleeping, 1)
    assert clock.now() - start == timedelta(seconds=2) and clock.sleeping == []


async def test_skip_sleep_moves_the_time_to_the_end_of_the_next_wait():
    clock = FakeClock()
    sleeping = asyncio.create_task(clock.sleep(0.5))
    assert await clock.skip_sleep() == 0.5
    await asyncio.wait_for(sleeping, 1)
    cancelled = asyncio.create_task(clock.sleep(1))
    await clock.next_sleep()
    cancelled.cancel()
    with pytest.raises(asyncio.CancelledError):
        await cancelled
    assert clock.sleeping == []  # a cancelled wait is forgotten
    await clock.sleep(0)  # nothing to wait for


async def test_until_reachable_backs_off_on_the_sleep_it_is_given():
    waits: list[float] = []
    tries = iter([NetworkError("down"), NetworkError("down"), NetworkError("down"), None])

    async def step() -> str:
        failure = next(tries)
        if failure is not None:
            raise failure
        return "reached"

    async def sleep(seconds: float) -> None:
        waits.append(seconds)

    assert await until_reachable(step, "test.unreachable", sleep=sleep) == "reached"
    assert waits == [1.0, 2.0, 4.0]
