"""Outlets (WeCom, DingTalk, Feishu group robots) driven by the same scheduled jobs as the
Telegram groups, against local robot servers (tests/robots) over loopback HTTP."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest

from bot.core.access import Role
from bot.runtime.context import GridContext
from handlers import jobs
from tests.outlet_helpers import (
    DING_SECRET,
    DING_TOKEN,
    FEISHU_SECRET,
    FEISHU_TOKEN,
    WECOM_KEY,
    dingtalk_lines,
    feishu_lines,
    outlet_toml,
    rows_in,
    run_past_waits,
    wecom_lines,
)
from tests.robots import RobotServer
from tests.test_ranking import submit

CITY_GROUP = -100555


@pytest.fixture
async def robots(clock):
    server = await RobotServer(clock.now).start()
    yield server
    await server.close()


@pytest.fixture
def tg_config(robots) -> str:
    wecom = robots.wecom("wx", WECOM_KEY)
    ding = robots.dingtalk("dd", DING_TOKEN, DING_SECRET)
    feishu = robots.feishu("fs", FEISHU_TOKEN, FEISHU_SECRET)
    return (
        "[reports]\nalbum_wait_seconds = 0.2\n"
        + outlet_toml("city-wecom", "wecom", "NY", wecom)
        + outlet_toml("city-dingtalk", "dingtalk", "NY", ding, DING_SECRET)
        + outlet_toml("city-feishu", "feishu", "NY", feishu, FEISHU_SECRET)
    )


@pytest.fixture
async def city(tg):
    await tg.add(1001, "NY", Role.ADMIN, "市管理员")
    admin = tg.server.user(1001).in_chat(tg.server.group(CITY_GROUP, "南阳市网格工作群"))
    assert "已绑定" in (await admin.ask("/bindgroup NY")).text
    a = await tg.add(3001, "WL-WH-CZ-01", Role.WORKER, "网格员甲")
    b = await tg.add(3002, "WC-XH-XH-01", Role.WORKER, "网格员乙")
    await submit(tg.services, a, "A-1")
    await submit(tg.services, a, "A-2")
    await submit(tg.services, b, "B-1")
    return tg


def telegram_rows(tg) -> list[list[str]]:
    (digest,) = [
        c.text
        for c in tg.server.calls_to("sendMessage", chat_id=CITY_GROUP)
        if c.ok and "📊" in c.text
    ]
    assert "南阳市" in digest and "2026-11-23" in digest
    lines = re.search(r"<pre>(.*)</pre>", digest, re.S)[1].splitlines()
    return [line.split() for line in lines[1:]]


async def test_a_group_and_an_outlet_of_each_kind_get_the_digest_once(city, robots):
    tg = city
    context = GridContext(tg.app)
    await jobs.daily_digests(context)  # 09:00: nothing due
    assert robots.received == []
    tg.clock.advance(timedelta(hours=11, minutes=1))  # 20:01 Asia/Shanghai
    await run_past_waits(tg.clock, jobs.daily_digests(context))
    expected = telegram_rows(tg)
    assert len(expected) == 4  # the city's districts

    wecom = robots.messages("wx")
    assert [m.body["msgtype"] for m in wecom] == ["markdown", "image"]
    ding, feishu = robots.messages("dd"), robots.messages("fs")
    assert len(ding) == 1 and len(feishu) == 1
    for lines in (wecom_lines(wecom[0]), dingtalk_lines(ding[0]), feishu_lines(feishu[0])):
        assert "南阳市" in lines[0] and "2026-11-23" in lines[0]  # the unit and the period
        assert rows_in(lines, 8) == expected  # the same figures as the Telegram message
        assert any("未上报" in line for line in lines)

    # The next run, and a restart within the catch-up window, send nothing more.
    count = len(robots.received)
    await jobs.daily_digests(context)
    await tg.restart()
    tg.clock.advance(timedelta(minutes=30))
    await run_past_waits(tg.clock, jobs.daily_digests(GridContext(tg.app)))
    assert len(robots.received) == count
    assert len(telegram_rows(tg)) == 4


async def test_a_stop_mid_send_sends_only_the_rest_after_a_restart(city, robots):
    tg = city
    tg.clock.advance(timedelta(hours=11, minutes=1))
    # The bot stops after WeCom's table went out, before its chart.
    original = tg.app.bot_data.outlets.post
    calls = {"n": 0}

    async def stop_after_first_part(robot, message):
        if robot.outlet.name == "city-wecom":
            calls["n"] += 1
            if calls["n"] == 2:
                raise RuntimeError("the bot stopped")
        return await original(robot, message)

    tg.app.bot_data.outlets.post = stop_after_first_part
    with pytest.raises(RuntimeError):
        await run_past_waits(tg.clock, jobs.daily_digests(GridContext(tg.app)))
    assert [m.body["msgtype"] for m in robots.messages("wx")] == ["markdown"]
    await tg.restart()
    tg.clock.advance(timedelta(minutes=10))
    await run_past_waits(tg.clock, jobs.daily_digests(GridContext(tg.app)))
    assert [m.body["msgtype"] for m in robots.messages("wx")] == ["markdown", "image"]


async def test_too_late_after_downtime_is_skipped_and_the_admins_told_once(city, robots):
    tg = city
    tg.server.user(1001)
    tg.clock.advance(timedelta(hours=15))  # 00:00: four hours after the digest was due
    await run_past_waits(tg.clock, jobs.daily_digests(GridContext(tg.app)))
    await run_past_waits(tg.clock, jobs.daily_digests(GridContext(tg.app)))
    assert robots.received == []
    told = [
        c.text
        for c in tg.server.calls_to("sendMessage", chat_id=1001)
        if c.ok and "外发机器人" in c.text
    ]
    assert len(told) == 3 and all("2026-11-23" in t for t in told)
    assert any("city-dingtalk" in t and "钉钉" in t for t in told)
    states = [s.state for s in await tg.services.outlets.sends_of("city-feishu")]
    assert states == ["skipped"]
