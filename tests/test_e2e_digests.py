"""The daily digest to bound groups: once, on time or caught up on start, skipped (and
reported) when too late, waited out on a 429, correct against the rows behind it."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest

from bot.core.access import Role
from bot.runtime.context import GridContext
from handlers.digests import send_daily_digests
from tests.test_ranking import submit

CITY_GROUP = -100555


@pytest.fixture
async def city_group(tg):
    await tg.add(1001, "NY", Role.ADMIN, "市管理员")
    admin = tg.server.user(1001).in_chat(tg.server.group(CITY_GROUP, "南阳市网格工作群"))
    assert "已绑定" in (await admin.ask("/bindgroup NY")).text
    a = await tg.add(3001, "WL-WH-CZ-01", Role.WORKER, "网格员甲")
    b = await tg.add(3002, "WL-WH-CZ-02", Role.WORKER, "网格员乙")
    c = await tg.add(3003, "WC-XH-XH-01", Role.WORKER, "网格员丙")
    await submit(tg.services, a, "A-1")
    await submit(tg.services, a, "A-2")
    await submit(tg.services, b, "B-1")
    await submit(tg.services, c, "C-1")
    return tg


def digests(tg) -> list[str]:
    calls = tg.server.calls_to("sendMessage", chat_id=CITY_GROUP)
    return [c.text for c in calls if c.ok and "📊" in c.text]


async def test_the_digest_arrives_once_with_the_right_figures(city_group):
    tg = city_group
    context = GridContext(tg.app)
    assert await send_daily_digests(context) == 0  # 09:00: nothing due yet
    tg.clock.advance(timedelta(hours=11, minutes=1))  # 20:01 Asia/Shanghai
    assert await send_daily_digests(context) == 1
    assert await send_daily_digests(context) == 0  # the next run: nothing more
    (digest,) = digests(tg)
    assert "南阳市" in digest and "2026-11-23" in digest
    lines = re.search(r"<pre>(.*)</pre>", digest, re.S)[1].splitlines()
    table = {line.split()[1]: line.split() for line in lines[1:]}
    assert table["卧龙区"][:4] == ["1", "卧龙区", table["卧龙区"][2], "3"]
    assert table["宛城区"][3] == "1" and table["高新区"][3] == "0"
    # Coverage: WL has 2 of its grids covered; computed here from the tree.
    async with (
        tg.services.db.read() as conn,
        conn.execute(
            "SELECT COUNT(*) FROM org_unit WHERE level = 'grid' AND code LIKE 'WL-%'"
        ) as cur,
    ):
        wl_grids = (await cur.fetchone())[0]
    assert table["卧龙区"][4] == f"{2 * 100 // wl_grids}%"
    assert "未上报：高新区、城乡一体化示范区" in digest


async def test_caught_up_on_start_or_skipped_and_reported_when_too_late(city_group):
    tg = city_group
    context = GridContext(tg.app)
    tg.clock.advance(timedelta(hours=13))  # two hours after 20:00: within the window
    assert await send_daily_digests(context) == 1
    assert len(digests(tg)) == 1
    tg.clock.advance(timedelta(days=1, hours=2))  # the next day's, 4 h late: skipped
    assert await send_daily_digests(context) == 0
    notice = await tg.server.wait_for(method="sendMessage", chat_id=1001)
    assert "未发送到工作群“南阳市网格工作群”" in notice.text
    assert await send_daily_digests(context) == 0  # told once
    assert len(digests(tg)) == 1
    assert (
        len([c for c in tg.server.calls_to("sendMessage", chat_id=1001) if "未发送" in c.text]) == 1
    )


async def test_a_429_is_waited_out_and_the_digest_arrives_once(city_group):
    tg = city_group
    tg.clock.advance(timedelta(hours=11, minutes=1))
    tg.server.fail_next("sendMessage", 429, retry_after=2)
    assert await send_daily_digests(GridContext(tg.app)) == 1
    assert len(digests(tg)) == 1
    refused = [c for c in tg.server.calls_to("sendMessage", chat_id=CITY_GROUP) if not c.ok]
    assert len(refused) == 1 and refused[0].status == 429


async def test_a_group_the_bot_was_removed_from_is_unbound_and_admins_told(city_group):
    tg = city_group
    tg.server.gone[CITY_GROUP] = "kicked"  # removed while the bot was down: no update
    tg.clock.advance(timedelta(hours=11, minutes=1))
    assert await send_daily_digests(GridContext(tg.app)) == 0
    notice = await tg.server.wait_for(method="sendMessage", chat_id=1001)
    assert "已无法接收消息" in notice.text
    assert await tg.services.groups.active_groups() == []


async def test_reminders_reach_exactly_the_workers_who_submitted_nothing_once(tg):
    from handlers.digests import send_reminders

    await tg.add(1001, "NY", Role.ADMIN, "市管理员")
    reporter = await tg.add(3001, "WL-WH-CZ-01", Role.WORKER, "网格员甲")
    await tg.add(3002, "WL-WH-CZ-02", Role.WORKER, "网格员乙")
    tg.server.user(3002)  # has a private chat with the bot, as every member who joined
    await tg.add(3003, "WC-XH-XH-01", Role.WORKER, "网格员丙")
    await tg.add(3004, "WC-XH-XH-02", Role.WORKER, "网格员丁")
    await tg.add(2001, "WL-WH", Role.LEAD, "街道负责人")
    await submit(tg.services, reporter, "A-1")
    assert "工作动态已记录" in (await tg.server.user(3003).ask("/update 入户宣传")).text
    await tg.server.user(1001).ask("/disable 3004")
    context = GridContext(tg.app)
    assert await send_reminders(context) == 0  # 09:00: not yet
    tg.clock.advance(timedelta(hours=8, minutes=1))  # 17:01
    assert await send_reminders(context) == 1
    assert await send_reminders(context) == 0
    tg.clock.advance(timedelta(minutes=5))
    await tg.add(3005, "WL-WH-CZ-01", Role.WORKER, "网格员戊")  # joins after 17:00
    tg.server.user(3005)
    assert await send_reminders(context) == 0
    reminded = [c.chat_id for c in tg.server.calls_to("sendMessage") if "还没有上报" in c.text]
    assert reminded == [3002]


async def test_the_chart_is_sent_with_the_text(city_group):
    tg = city_group
    tg.clock.advance(timedelta(hours=11, minutes=1))
    assert await send_daily_digests(GridContext(tg.app)) == 1
    (chart,) = [c for c in tg.server.calls_to("sendPhoto", chat_id=CITY_GROUP) if c.ok]
    assert chart.params["caption"] == "南阳市 各区得分 · 2026-11-23"
    photo = chart.message["photo"][-1]["file_id"]
    assert tg.server.file_bytes(photo).startswith(b"\x89PNG")
