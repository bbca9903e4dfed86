"""Rankings on demand: /rank in private chat (a lead's or admin's scope, by day, week or
month) and /digest in a bound group (today's digest now, the scheduled one still due) —
both rendered exactly as the scheduled digest is."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest

from bot.core.access import Role
from bot.runtime.context import GridContext
from handlers.digests import send_daily_digests
from storage import digests as digest_repo
from tests.test_ranking import submit

CITY_GROUP = -100_555
STREET_GROUP = -100_556
LEAD, ADMIN, WORKER = 2001, 1001, 3001
USAGE = "用法：/rank [今天|本周|本月] [单位编码]"


def table(reply) -> dict[str, list[str]]:
    """The digest table of a message: unit name -> its cells."""
    lines = re.search(r"<pre>(.*)</pre>", reply.text, re.S)[1].splitlines()
    return {line.split()[1]: line.split() for line in lines[1:]}


@pytest.fixture
async def street(tg):
    """武侯街道's lead; 卧龙岗社区 reported 3 times on 11-10, 崔庄社区 once on Tuesday
    11-24 and twice today, Wednesday 2026-11-25 (10:00 Asia/Shanghai)."""
    tg.clock.set(datetime(2026, 11, 10, 2, 0, tzinfo=UTC))
    await tg.add(LEAD, "WL-WH", Role.LEAD, "街道负责人")
    await tg.add(ADMIN, "NY", Role.ADMIN, "市管理员")
    a = await tg.add(WORKER, "WL-WH-CZ-01", Role.WORKER, "网格员甲")
    b = await tg.add(3002, "WL-WH-WLG-01", Role.WORKER, "网格员乙")
    for site in ("B-1", "B-2", "B-3"):
        await submit(tg.services, b, site)
    tg.clock.set(datetime(2026, 11, 24, 2, 0, tzinfo=UTC))
    await submit(tg.services, a, "A-1")
    tg.clock.set(datetime(2026, 11, 25, 2, 0, tzinfo=UTC))
    await submit(tg.services, a, "A-2")
    await submit(tg.services, a, "A-3")
    return tg


@pytest.mark.parametrize(
    ("words", "label", "cz", "wlg"),
    [
        ("", "2026-11-25", "2", "0"),  # today by default
        ("今天", "2026-11-25", "2", "0"),
        ("今日", "2026-11-25", "2", "0"),
        ("today", "2026-11-25", "2", "0"),
        ("本周", "2026-11-23 至 2026-11-29", "3", "0"),
        ("week", "2026-11-23 至 2026-11-29", "3", "0"),
        ("本月", "2026-11-01 至 2026-11-30", "3", "3"),
        ("Month", "2026-11-01 至 2026-11-30", "3", "3"),
        ("本周 WL-WH", "2026-11-23 至 2026-11-29", "3", "0"),
        ("WL-WH month", "2026-11-01 至 2026-11-30", "3", "3"),
    ],
)
async def test_a_lead_ranks_their_units_by_each_period_word(street, words, label, cz, wlg):
    tg = street
    lead = tg.server.user(LEAD)
    reply = await lead.ask(f"/rank {words}".strip())
    assert reply.params["parse_mode"] == "HTML"
    assert reply.text.startswith(f"📊 <b>武侯街道</b> 各社区（村）巡查排名 · {label}")
    rows = table(reply)
    assert rows["崔庄社区"][3] == cz and rows["卧龙岗社区"][3] == wlg
    assert set(rows) == {"崔庄社区", "卧龙岗社区"}
    chart = await lead.next_reply("sendPhoto")
    assert chart.params["caption"] == f"武侯街道 各社区（村）得分 · {label}"
    assert tg.server.file_bytes(chart.message["photo"][-1]["file_id"]).startswith(b"\x89PNG")


async def test_english_callers_get_english_and_may_use_either_languages_words(street):
    tg = street
    lead = tg.server.user(LEAD, language_code="en")
    for words in ("week", "本周"):
        reply = await lead.ask(f"/rank {words}")
        assert reply.text.startswith(
            "📊 <b>武侯街道</b> — inspection ranking of communities · 2026-11-23 – 2026-11-29"
        )
        assert "Reports" in reply.text and table(reply)["崔庄社区"][3] == "3"
        chart = await lead.next_reply("sendPhoto")
        assert (
            chart.params["caption"] == "武侯街道: scores of communities · 2026-11-23 – 2026-11-29"
        )
    assert (await lead.ask("/rank week week")).text.startswith("Usage: /rank [today|week|month]")


async def test_a_unit_outside_the_scope_is_answered_as_unknown(street):
    tg = street
    lead = tg.server.user(LEAD)
    unknown = "找不到编码为 {} 的单位，请检查编码。"
    assert (await lead.ask("/rank WC")).text == unknown.format("WC")  # another district
    assert (await lead.ask("/rank 本周 WL")).text == unknown.format("WL")  # the lead's parent
    assert (await lead.ask("/rank NOSUCH")).text == unknown.format("NOSUCH")
    assert (await lead.ask("/rank WL-WH-CZ")).text.startswith("📊 <b>崔庄社区</b> 各网格")
    await lead.next_reply("sendPhoto")
    # A city admin's scope covers the other district.
    admin = tg.server.user(ADMIN)
    assert (await admin.ask("/rank WC")).text.startswith("📊 <b>宛城区</b>")
    # Workers and non-members are refused by the guard; a group is the wrong place.
    assert "没有使用 /rank 的权限" in (await tg.server.user(WORKER).ask("/rank")).text
    assert "不能使用 /rank" in (await tg.server.user(9009).ask("/rank")).text
    group = tg.server.user(LEAD).in_chat(tg.server.group(STREET_GROUP, "武侯街道工作群"))
    assert "请在与我的私聊中使用 /rank" in (await group.ask("/rank")).text
    assert not tg.server.calls_to("sendPhoto", chat_id=WORKER)


@pytest.mark.parametrize(
    "args", ["today week", "本周 本月", "WL-WH WL-WH-CZ", "昨天", "today WL-WH extra", "W L"]
)
async def test_malformed_arguments_get_the_usage(street, args):
    reply = await street.server.user(LEAD).ask(f"/rank {args}")
    assert reply.text.startswith(USAGE)


async def test_a_grid_has_nothing_to_rank(street):
    tg = street
    reply = await tg.server.user(LEAD).ask("/rank 本周 WL-WH-CZ-01")
    assert reply.text.startswith("崔庄社区第一网格（WL-WH-CZ-01）没有下级单位，无法排名")
    # A lead of a grid, by default their own unit.
    await tg.add(2002, "WL-WH-CZ-02", Role.LEAD, "网格长")
    reply = await tg.server.user(2002).ask("/rank")
    assert reply.text.startswith("崔庄社区第二网格（WL-WH-CZ-02）没有下级单位")
    assert not tg.server.calls_to("sendPhoto")


async def test_rank_shows_exactly_what_the_scheduled_digest_shows(tg):
    await tg.add(ADMIN, "NY", Role.ADMIN, "市管理员")
    group = tg.server.user(ADMIN).in_chat(tg.server.group(CITY_GROUP, "南阳市网格工作群"))
    assert "已绑定" in (await group.ask("/bindgroup NY")).text
    a = await tg.add(WORKER, "WL-WH-CZ-01", Role.WORKER, "网格员甲")
    c = await tg.add(3003, "WC-XH-XH-01", Role.WORKER, "网格员丙")
    await submit(tg.services, a, "A-1")
    await submit(tg.services, c, "C-1")
    tg.clock.advance(timedelta(hours=11, minutes=1))  # 20:01: the digest of 11-23 is due
    assert await send_daily_digests(GridContext(tg.app)) == 1
    (scheduled,) = [c for c in tg.server.calls_to("sendMessage", chat_id=CITY_GROUP) if c.ok][1:]
    (scheduled_chart,) = tg.server.calls_to("sendPhoto", chat_id=CITY_GROUP)
    admin = tg.server.user(ADMIN)
    asked = await admin.ask("/rank")
    assert asked.text == scheduled.text
    chart = await admin.next_reply("sendPhoto")
    assert chart.params["caption"] == scheduled_chart.params["caption"]


# ------------------------------------------------------------------ /digest in a group


def digests(tg, chat_id: int = CITY_GROUP) -> list[str]:
    calls = tg.server.calls_to("sendMessage", chat_id=chat_id)
    return [c.text for c in calls if c.ok and c.text.startswith("📊")]


async def requests(tg, chat_id: int = CITY_GROUP) -> list[tuple[str, str, int | None]]:
    async with tg.services.db.read() as conn:
        group_id = (await tg.services.groups.active_groups())[0].id
        return await digest_repo.requests_of(conn, group_id)


async def test_digest_now_does_not_stand_in_for_the_scheduled_one(tg):
    admin_member = await tg.add(ADMIN, "NY", Role.ADMIN, "市管理员")
    admin = tg.server.user(ADMIN).in_chat(tg.server.group(CITY_GROUP, "南阳市网格工作群"))
    assert "已绑定" in (await admin.ask("/bindgroup NY")).text
    a = await tg.add(WORKER, "WL-WH-CZ-01", Role.WORKER, "网格员甲")
    await submit(tg.services, a, "A-1")

    now = await admin.ask("/digest")  # 09:00: today's digest, now
    assert now.text.startswith("📊 <b>南阳市</b> 各区巡查排名 · 2026-11-23")
    assert table(now)["卧龙区"][3] == "1"
    chart = await admin.next_reply("sendPhoto")
    assert chart.params["caption"] == "南阳市 各区得分 · 2026-11-23"
    # With the bot's name, as a group's command menu sends it.
    await submit(tg.services, a, "A-2")
    again = await admin.ask("/digest@gridbot_test_bot")
    assert table(again)["卧龙区"][3] == "2"
    await admin.next_reply("sendPhoto")
    await tg.settled()
    assert await requests(tg) == [("2026-11-23", "sent", admin_member.id)] * 2

    context = GridContext(tg.app)
    assert await send_daily_digests(context) == 0  # the scheduled one is not due yet
    tg.clock.advance(timedelta(hours=11, minutes=1))  # 20:01
    assert await send_daily_digests(context) == 1  # and still goes out
    assert await send_daily_digests(context) == 0
    assert len(digests(tg)) == 3
    assert len(tg.server.calls_to("sendPhoto", chat_id=CITY_GROUP)) == 3
    async with tg.services.db.read() as conn:
        group_id = (await tg.services.groups.active_groups())[0].id
        assert await digest_repo.state_of(conn, group_id, "daily", "2026-11-23") == "sent"


async def test_digest_is_refused_to_non_admins_and_outside_the_scope(tg):
    await tg.add(ADMIN, "NY", Role.ADMIN, "市管理员")
    await tg.add(LEAD, "NY", Role.LEAD, "市负责人")
    await tg.add(1002, "WC", Role.ADMIN, "宛城区管理员")
    city = tg.server.group(CITY_GROUP, "南阳市网格工作群")
    assert "已绑定" in (await tg.server.user(ADMIN).in_chat(city).ask("/bindgroup NY")).text
    lead = tg.server.user(LEAD).in_chat(city)
    assert "没有使用 /digest 的权限" in (await lead.ask("/digest")).text
    stranger = tg.server.user(9009).in_chat(city)
    assert "不能使用 /digest" in (await stranger.ask("/digest@gridbot_test_bot")).text
    district = tg.server.user(1002).in_chat(city)
    assert "南阳市 不在您的管辖范围内" in (await district.ask("/digest")).text
    admin = tg.server.user(ADMIN)
    assert "请在要绑定的工作群中使用 /digest" in (await admin.ask("/digest")).text
    assert (
        "用法：在已绑定的工作群中发送 /digest"
        in (await admin.in_chat(city).ask("/digest today")).text
    )
    assert digests(tg) == [] and await requests(tg) == []


async def test_digest_in_an_unbound_group_says_how_to_bind(tg):
    await tg.add(ADMIN, "NY", Role.ADMIN, "市管理员")
    group = tg.server.group(STREET_GROUP, "闲聊群")
    admin = tg.server.user(ADMIN).in_chat(group)
    for command in ("/digest", "/digest@gridbot_test_bot"):
        reply = await admin.ask(command)
        assert reply.text.startswith("本群尚未绑定单位")
        assert "/bindgroup 单位编码" in reply.text
    assert (
        "/bindgroup UNIT_CODE"
        in (await tg.server.user(ADMIN, language_code="en").in_chat(group).ask("/digest")).text
    )
    assert digests(tg, STREET_GROUP) == []
