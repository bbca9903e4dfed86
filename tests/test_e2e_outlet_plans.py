"""Plan progress to the outlets (WeCom, DingTalk, Feishu group robots), driven by the daily
digest job like the Telegram groups' plan section, against the local robot servers."""

from __future__ import annotations

from datetime import timedelta

import pytest

from bot.core.access import Role
from bot.domain.plans import PlanSpec
from bot.domain.reports import IncomingPhoto
from bot.runtime.context import GridContext
from handlers import jobs
from storage import sites as site_repo
from tests.outlet_helpers import (
    DING_SECRET,
    DING_TOKEN,
    FEISHU_SECRET,
    FEISHU_TOKEN,
    WECOM_KEY,
    dingtalk_lines,
    feishu_lines,
    outlet_toml,
    run_past_waits,
    wecom_lines,
)
from tests.photos import photo
from tests.robots import RobotServer
from tests.test_e2e_plans import CAMPAIGN, registry, table

GROUP = -100778
TITLE = "检查任务“回头看”"
ROBOTS = ("wx", "dd", "fs")


@pytest.fixture
async def robots(clock):
    server = await RobotServer(clock.now).start()
    yield server
    await server.close()


@pytest.fixture
def tg_config(robots) -> str:
    return (
        "[reports]\nalbum_wait_seconds = 0.2\n"
        + CAMPAIGN
        + outlet_toml("street-wecom", "wecom", "WL-WH", robots.wecom("wx", WECOM_KEY))
        + outlet_toml(
            "street-dingtalk",
            "dingtalk",
            "WL-WH",
            robots.dingtalk("dd", DING_TOKEN, DING_SECRET),
            DING_SECRET,
        )
        + outlet_toml(
            "street-feishu",
            "feishu",
            "WL-WH",
            robots.feishu("fs", FEISHU_TOKEN, FEISHU_SECRET),
            FEISHU_SECRET,
        )
    )


@pytest.fixture
async def street(tg):
    """A group bound to the street 武侯街道 (WL-WH), whose three robots take every kind."""
    await tg.add(1001, "WL", Role.ADMIN, "区管理员")
    admin = tg.server.user(1001).in_chat(tg.server.group(GROUP, "武侯街道工作群"))
    assert "已绑定" in (await admin.ask("/bindgroup WL-WH")).text
    return tg


async def report_on(services, member, code: str) -> None:
    """A report on the registered site ``code`` (a 用水户, 已核查), as from its /todo button."""
    reports = services.reports
    async with services.db.read() as conn:
        site = await site_repo.by_code(conn, "user", code)
    draft = (await reports.open_for_site(member, site.id)).draft.id
    await reports.choose_status(member, draft, 0)
    await reports.add_photo(member, 7, IncomingPhoto(photo(7), "f7", "u7", False), None)
    await reports.photos_done(member, draft)
    await reports.set_location(member, draft, 33.0, 112.5)
    await reports.set_note(member, draft, None)
    await reports.submit(member, draft)


def lines_of(robots, name: str) -> list[list[str]]:
    """Each text message robot ``name`` accepted (not the chart), as its lines."""
    read = {"wx": wecom_lines, "dd": dingtalk_lines, "fs": feishu_lines}[name]
    return [read(m) for m in robots.messages(name) if m.body.get("msgtype") != "image"]


def plan_messages(robots, name: str) -> list[list[str]]:
    return [lines for lines in lines_of(robots, name) if TITLE in lines[0]]


def robot_table(lines: list[str]) -> dict[str, list[str]]:
    """The progress rows of an outlet message: unit → 应查, 已查, 完成率, 逾期."""
    cells = [[c.strip() for c in line.split(" | ")] for line in lines]
    start = next(i for i, row in enumerate(cells) if row[0] == "单位")
    return {row[0]: row[1:] for row in cells[start + 1 :] if len(row) == 5}


async def test_each_outlet_gets_the_plan_progress_once_with_the_digest_numbers(
    street, robots, tmp_path
):
    tg = street
    await tg.services.sites.import_file(registry(tmp_path))
    day = tg.services.calendar.today() + timedelta(days=3)
    await tg.services.plans.create(
        None, PlanSpec("回头看", "user", "WL-WH", "重点用水户", day, None, False, "any")
    )
    worker = await tg.add(3001, "WL-WH-CZ", Role.WORKER, "网格员甲")
    await report_on(tg.services, worker, "C-W03")
    context = GridContext(tg.app)
    await run_past_waits(tg.clock, jobs.daily_digests(context))  # 09:00: nothing due yet
    assert robots.received == []

    tg.clock.advance(timedelta(hours=11, minutes=1))  # 20:01 Asia/Shanghai, digest time
    await run_past_waits(tg.clock, jobs.daily_digests(context))
    sent = [c.text for c in tg.server.calls_to("sendMessage", chat_id=GROUP) if c.ok]
    expected = table(next(t for t in sent if TITLE in t))
    assert expected["合计"] == ["8", "1", "12%", "0"] and expected["崔庄社区"][1] == "1"
    for name in ROBOTS:
        (message,) = plan_messages(robots, name)
        assert "武侯街道" in message[0] and "2026-11-23" in message[0]  # the unit, the day
        assert "第 1 轮" in message[0]
        assert robot_table(message) == expected  # the same numbers as the Telegram section
    (card,) = [m for m in robots.messages("fs") if TITLE in feishu_lines(m)[0]]
    assert card.body["msg_type"] == "interactive"
    states = [(s.kind, s.state) for s in await tg.services.outlets.sends_of("street-feishu")]
    assert ("plans", "sent") in states

    # The next run, and a restart within the catch-up window, send nothing more.
    count = len(robots.received)
    await run_past_waits(tg.clock, jobs.daily_digests(context))
    await tg.restart()
    tg.clock.advance(timedelta(minutes=30))
    await run_past_waits(tg.clock, jobs.daily_digests(GridContext(tg.app)))
    assert len(robots.received) == count
    # The next day: once more, for the new day.
    tg.clock.advance(timedelta(days=1))
    await run_past_waits(tg.clock, jobs.daily_digests(GridContext(tg.app)))
    for name in ROBOTS:
        assert [m[0] for m in plan_messages(robots, name)][-1].count("2026-11-24") == 1
        assert len(plan_messages(robots, name)) == 2


async def test_no_plans_nothing_sent_and_a_plan_made_later_waits_for_the_next_day(
    street, robots, tmp_path
):
    tg = street
    context = GridContext(tg.app)
    tg.clock.advance(timedelta(hours=11, minutes=1))  # 20:01, digest time
    await run_past_waits(tg.clock, jobs.daily_digests(context))
    for name in ROBOTS:
        assert lines_of(robots, name) and plan_messages(robots, name) == []  # digests only
    for name in ("street-wecom", "street-dingtalk", "street-feishu"):
        assert "plans" not in [s.kind for s in await tg.services.outlets.sends_of(name)]

    # A plan made after the digest was due: not that day (the groups had no section).
    await tg.services.sites.import_file(registry(tmp_path))
    day = tg.services.calendar.today() + timedelta(days=3)
    await tg.services.plans.create(
        None, PlanSpec("回头看", "user", "WL-WH", None, day, None, False, "any")
    )
    tg.clock.advance(timedelta(minutes=5))
    await run_past_waits(tg.clock, jobs.daily_digests(context))
    assert all(plan_messages(robots, name) == [] for name in ROBOTS)
    tg.clock.advance(timedelta(days=1))
    await run_past_waits(tg.clock, jobs.daily_digests(context))
    for name in ROBOTS:
        (message,) = plan_messages(robots, name)
        assert "2026-11-24" in message[0] and robot_table(message)["合计"][0] == "20"


async def test_plan_progress_too_late_after_downtime_is_skipped_and_told_once(
    street, robots, tmp_path
):
    tg = street
    await tg.services.sites.import_file(registry(tmp_path))
    day = tg.services.calendar.today() + timedelta(days=3)
    await tg.services.plans.create(
        None, PlanSpec("回头看", "user", "WL-WH", None, day, None, False, "any")
    )
    tg.clock.advance(timedelta(hours=15))  # 00:00: four hours after the digest was due
    await run_past_waits(tg.clock, jobs.daily_digests(GridContext(tg.app)))
    await run_past_waits(tg.clock, jobs.daily_digests(GridContext(tg.app)))
    assert robots.received == []
    told = [
        c.text
        for c in tg.server.calls_to("sendMessage", chat_id=1001)
        if c.ok and "检查任务进度" in c.text
    ]
    assert len(told) == 3 and all("2026-11-23" in t for t in told)
    assert any("street-feishu" in t and "飞书" in t for t in told)
    states = [(s.kind, s.state) for s in await tg.services.outlets.sends_of("street-feishu")]
    assert sorted(states) == [("daily", "skipped"), ("plans", "skipped")]
