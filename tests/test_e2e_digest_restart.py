"""The bot is down at digest time. Started two hours later, it sends the digest once, on
start, by itself; started again, nothing more; down past the catch-up window, the digest
is skipped and the admins told."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from bot.botapi import BotApiServer
from bot.config import load_config
from bot.core.access import Role
from bot.formats.orgfile import read_org_file
from tests.conftest import EXAMPLE_ORG, TEST_TOKEN, add_member, start_app, stop_app, write_config
from tests.test_ranking import submit

GROUP = -100999


def _digests(server: BotApiServer) -> list[str]:
    return [
        c.text for c in server.calls_to("sendMessage", chat_id=GROUP) if c.ok and "📊" in c.text
    ]


async def _first_run_over(app, name: str) -> None:
    """Wait until the job ``name`` has made its start-up run and that run has ended (PTB's
    scheduler runs on real time: polled, at most 15 s)."""
    job = app.job_queue.get_jobs_by_name(name)[0]
    first = job.next_t
    async with asyncio.timeout(15):
        while job.next_t == first:  # moved on when the run was handed to the executor
            await asyncio.sleep(0.02)
        while len(app.job_queue.running):
            await asyncio.sleep(0.02)


async def test_caught_up_on_start_once_and_skipped_when_too_late(tmp_path, clock):
    server = BotApiServer(TEST_TOKEN)
    config = load_config(write_config(tmp_path, f'[telegram]\ntoken = "{TEST_TOKEN}"\n'))
    app = await start_app(config, server, clock)
    services = app.bot_data.services
    await services.org.import_rows(read_org_file(EXAMPLE_ORG), str(EXAMPLE_ORG))
    await add_member(services, 1001, "NY", Role.ADMIN, "市管理员")
    admin = server.user(1001).in_chat(server.group(GROUP, "南阳市网格工作群"))
    assert "已绑定" in (await admin.ask("/bindgroup NY")).text
    worker = await add_member(services, 3001, "WL-WH-CZ-01", Role.WORKER, "网格员甲")
    await submit(services, worker, "A-1")
    await stop_app(app)  # down before 20:00

    clock.set(datetime(2026, 11, 23, 14, 0, tzinfo=UTC))  # 22:00 in Shanghai
    app = await start_app(config, server, clock, keep_jobs=True)
    await server.wait_for(lambda c: c.ok and "📊" in (c.text or ""), chat_id=GROUP, timeout=15)
    await stop_app(app)
    assert len(_digests(server)) == 1

    app = await start_app(config, server, clock, keep_jobs=True)  # started again
    await _first_run_over(app, "daily-digests")  # the one that would send a second digest
    await stop_app(app)
    assert len(_digests(server)) == 1

    clock.set(
        datetime(2026, 11, 24, 16, 30, tzinfo=UTC)
    )  # 00:30 on the 25th in Shanghai: the 24th is 4.5 h late
    app = await start_app(config, server, clock, keep_jobs=True)
    notice = await server.wait_for(
        lambda c: c.ok and "未发送到工作群" in (c.text or ""), chat_id=1001, timeout=15
    )
    await stop_app(app)
    assert "2026-11-24" in notice.text and len(_digests(server)) == 1
    assert not server.unknown_calls


async def _claimed_then_down(tmp_path, clock, server, weekly: bool = False):
    """A run that claimed the digest of the 23rd (20:00 in Shanghai) — or the bulletin
    due on Friday the 27th at 17:00 — and stopped before sending it: the state a crash
    between the claim and the send leaves."""
    config = load_config(write_config(tmp_path, f'[telegram]\ntoken = "{TEST_TOKEN}"\n'))
    app = await start_app(config, server, clock)
    services = app.bot_data.services
    await services.org.import_rows(read_org_file(EXAMPLE_ORG), str(EXAMPLE_ORG))
    await add_member(services, 1001, "NY", Role.ADMIN, "市管理员")
    admin = server.user(1001).in_chat(server.group(GROUP, "南阳市网格工作群"))
    assert "已绑定" in (await admin.ask("/bindgroup NY")).text
    worker = await add_member(services, 3001, "WL-WH-CZ-01", Role.WORKER, "网格员甲")
    await submit(services, worker, "A-1")
    if weekly:
        clock.set(datetime(2026, 11, 27, 9, 1, tzinfo=UTC))  # Friday 17:01 in Shanghai
        plan = await services.bulletins.plan()
        assert [due.key for due in plan.send] == ["2026-11-20"]
    else:
        clock.set(datetime(2026, 11, 23, 12, 1, tzinfo=UTC))  # 20:01 in Shanghai
        plan = await services.digests.plan_daily()
        assert [due.key for due in plan.send] == ["2026-11-23"]
    await stop_app(app)
    return config


async def _send_state(app) -> list[tuple]:
    async with (
        app.bot_data.services.db.read() as conn,
        conn.execute("SELECT kind, period, state FROM digest_send") as cur,
    ):
        return [tuple(row) for row in await cur.fetchall()]


async def test_a_digest_claimed_but_not_sent_before_a_crash_is_sent_on_start(tmp_path, clock):
    server = BotApiServer(TEST_TOKEN)
    config = await _claimed_then_down(tmp_path, clock, server)
    assert _digests(server) == []

    clock.set(datetime(2026, 11, 23, 13, 0, tzinfo=UTC))  # 21:00: within the catch-up window
    app = await start_app(config, server, clock, keep_jobs=True)
    await server.wait_for(lambda c: c.ok and "📊" in (c.text or ""), chat_id=GROUP, timeout=15)
    await server.wait_for(lambda c: c.ok, method="sendPhoto", chat_id=GROUP, timeout=15)
    for _ in range(100):  # recorded right after the chart's answer
        if await _send_state(app) != [("daily", "2026-11-23", "sending")]:
            break
        await asyncio.sleep(0.05)
    assert await _send_state(app) == [("daily", "2026-11-23", "sent")]
    await stop_app(app)
    assert len(_digests(server)) == 1 and "2026-11-23" in _digests(server)[0]


async def test_a_digest_claimed_before_a_crash_and_too_late_is_reported_skipped(tmp_path, clock):
    server = BotApiServer(TEST_TOKEN)
    config = await _claimed_then_down(tmp_path, clock, server)

    clock.set(datetime(2026, 11, 23, 16, 30, tzinfo=UTC))  # 00:30 on the 24th: 4.5 h late
    app = await start_app(config, server, clock, keep_jobs=True)
    notice = await server.wait_for(
        lambda c: c.ok and "未发送到工作群" in (c.text or ""), chat_id=1001, timeout=15
    )
    assert "2026-11-23" in notice.text
    assert await _send_state(app) == [("daily", "2026-11-23", "skipped")]
    await stop_app(app)
    assert _digests(server) == []
    assert not server.unknown_calls


async def test_a_bulletin_claimed_but_not_sent_before_a_crash_is_sent_on_start(tmp_path, clock):
    server = BotApiServer(TEST_TOKEN)
    config = await _claimed_then_down(tmp_path, clock, server, weekly=True)

    clock.set(datetime(2026, 11, 27, 10, 0, tzinfo=UTC))  # 18:00: within the catch-up window
    app = await start_app(config, server, clock, keep_jobs=True)
    await server.wait_for(lambda c: c.ok, method="sendDocument", chat_id=GROUP, timeout=15)
    await stop_app(app)
    bulletins = [
        c.text for c in server.calls_to("sendMessage", chat_id=GROUP) if "网格工作简报" in c.text
    ]
    assert len(bulletins) == 1 and "2026-11-26" in bulletins[0]
