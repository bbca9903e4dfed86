"""A stop is prompt in every state, also with work in flight: a reply retried against a
Telegram that answers 502, a backlog of queued updates, a job stuck in a send. What was
cut short is not lost: the updates stay unfinished in the inbox and are handled at the
next start."""

from __future__ import annotations

import asyncio
import time

import pytest

from bot.core.access import Role
from tests.conftest import sql_rows, stop_app


@pytest.fixture
def tg_config() -> str:
    # Goes under the harness's [telegram]: room for the whole backlog in one chat's queue.
    return "max_queued_per_chat = 1000\n[reports]\nalbum_wait_seconds = 0.2\n"


async def _unfinished(tg) -> int:
    async with (
        tg.services.db.read() as conn,
        conn.execute("SELECT count(*) FROM inbox WHERE done_at IS NULL") as cur,
    ):
        return (await cur.fetchone())[0]


async def _timed_stop(tg) -> float:
    started = time.monotonic()
    await asyncio.wait_for(stop_app(tg.app), 15)  # before: forever, for a stuck job
    return time.monotonic() - started


async def test_a_reply_retried_against_an_unreachable_telegram_does_not_hold_up_the_stop(tg):
    await tg.add(1001, "WL-WH-CZ-01", Role.WORKER, "网格员甲")
    user = tg.server.user(1001)
    # Every reply fails with 502: the sender retries with back-off (0.5 s, 1 s, 2 s, 4 s).
    tg.server.fail_next("sendMessage", 502, times=100)
    await user.send_text("/whoami")
    await tg.server.wait_for(method="sendMessage", ok=False)
    took = await _timed_stop(tg)
    # Before: the stop waited for the retries, about 7.5 s.
    assert took < 2.5, f"stop took {took:.1f} s"
    tg.server._injected.clear()
    await tg.restart()
    # The update was cut short, not lost: handled at the next start.
    reply = await user.next_reply(timeout=10)
    assert "网格员甲" in reply.text
    await tg.settled()


# Without the flood limit: one chat's 200 replies would take 13 s at its share of it.
@pytest.mark.parametrize(
    "tg_config",
    [
        "max_queued_per_chat = 1000\nmax_messages_per_second = 0\n"
        "[reports]\nalbum_wait_seconds = 0.2\n"
    ],
)
async def test_a_backlog_is_left_to_the_next_start_and_handled_there(tg):
    await tg.add(1001, "WL-WH-CZ-01", Role.WORKER, "网格员甲")
    user = tg.server.user(1001)
    # Each reply takes 0.3 s: 200 messages would take a minute to work through.
    tg.server.delay_next("sendMessage", 0.3, times=200)
    for n in range(200):
        await user.send_text(f"/whoami {n}")
    async with asyncio.timeout(10):  # all 200 fetched and in the inbox
        while tg.server.pending_updates:
            await asyncio.sleep(0.01)
    took = await _timed_stop(tg)
    assert took < 2.5, f"stop took {took:.1f} s"
    left = sql_rows(tg.services.config, "SELECT count(*) FROM inbox WHERE done_at IS NULL")[0][0]
    answered = sum(1 for c in tg.server.calls if c.method == "sendMessage" and c.ok)
    assert left > 150 and answered + left == 200, (answered, left)
    tg.server._injected.clear()
    await tg.restart()
    await tg.settled(timeout=30)
    # Every message is answered at last, none twice.
    replies = [c for c in tg.server.calls if c.method == "sendMessage" and c.ok]
    assert len(replies) == 200


async def test_a_job_stuck_in_a_send_is_cancelled_after_the_grace_period(tg):
    started = asyncio.Event()

    async def stuck(context) -> None:
        started.set()
        await asyncio.sleep(3600)

    tg.app.job_queue.run_once(stuck, when=0, name="stuck")
    await asyncio.wait_for(started.wait(), 5)
    took = await _timed_stop(tg)
    assert took < 2.5, f"stop took {took:.1f} s"


@pytest.mark.parametrize(
    "tg_config", ["max_concurrent_updates = 1\n[reports]\nalbum_wait_seconds = 0.2\n"]
)
async def test_one_update_at_a_time_stops_without_waiting_the_grace_period(tg, caplog):
    """With one update at a time PTB handles every update in its one fetching task, which
    never ends: a stop waits for the update being handled, not for that task, and does
    not cancel it."""
    await tg.add(1001, "WL-WH-CZ-01", Role.WORKER, "网格员甲")
    config = tg.services.config
    tg.services.config = config.model_copy(
        update={"telegram": config.telegram.model_copy(update={"stop_grace_seconds": 5.0})}
    )
    tg.server.delay_next("sendMessage", 0.5)
    await tg.server.user(1001).send_text("/whoami")
    running = tg.app.update_processor.running
    async with asyncio.timeout(5):
        while not len(running):
            await asyncio.sleep(0.01)
    took = await _timed_stop(tg)
    # Before: the full grace period (5 s), then PTB's fetcher cancelled.
    assert took < 2.5, f"stop took {took:.1f} s"
    assert "stop.cut_short" not in caplog.text
