"""What outlets get besides the daily digest — the weekly bulletin (with its workbook where
the platform takes files), overdue alerts — and how the platforms' answers are handled:
over the rate → wait and retry, 5xx → back off, an answer lost mid-way → never resent.
No log line carries a webhook key or a secret."""

from __future__ import annotations

import logging
from datetime import timedelta

import pytest

from bot.core.access import Role
from bot.domain.tips import SOURCES
from bot.formats.tipfile import TipRow
from bot.runtime.context import GridContext
from handlers import jobs
from storage import units as unit_repo
from tests.outlet_helpers import (
    DING_SECRET,
    DING_TOKEN,
    FEISHU_SECRET,
    FEISHU_TOKEN,
    SECRETS,
    WECOM_KEY,
    dingtalk_lines,
    feishu_lines,
    outlet_toml,
    run_past_waits,
    wecom_lines,
)
from tests.robots import RobotServer


@pytest.fixture
async def robots(clock):
    server = await RobotServer(clock.now).start()
    yield server
    await server.close()


@pytest.fixture
def tg_config(robots) -> str:
    return (
        outlet_toml("wx", "wecom", "NY", robots.wecom("wx", WECOM_KEY))
        + outlet_toml(
            "dd", "dingtalk", "NY", robots.dingtalk("dd", DING_TOKEN, DING_SECRET), DING_SECRET
        )
        + outlet_toml(
            "fs", "feishu", "WL", robots.feishu("fs", FEISHU_TOKEN, FEISHU_SECRET), FEISHU_SECRET
        )
    )


async def test_the_weekly_bulletin_with_its_workbook_where_files_are_taken(tg, robots):
    tg.clock.advance(timedelta(days=4, hours=8, minutes=1))  # Friday 17:01
    await run_past_waits(tg.clock, jobs.weekly_bulletins(GridContext(tg.app)))
    wecom = robots.messages("wx")
    # the tables, then the 简报 as PDF and DOCX (第1期), then the workbook
    assert [m.body["msgtype"] for m in wecom] == ["markdown", "markdown", "file", "file", "file"]
    files = dict(robots.robot("wx").media.values())
    assert sorted(files) == [
        "简报_NY_2026-11-20_2026-11-26.xlsx",
        "简报_第1期_NY_2026-11-26.docx",
        "简报_第1期_NY_2026-11-26.pdf",
    ]
    assert files["简报_NY_2026-11-20_2026-11-26.xlsx"].startswith(b"PK")
    assert files["简报_第1期_NY_2026-11-26.pdf"].startswith(b"%PDF")
    assert all(m.body["file"]["media_id"] in robots.robot("wx").media for m in wecom[2:])
    first = wecom_lines(wecom[0])
    assert "南阳市" in first[0] and "2026-11-20" in first[0] and "2026-11-26" in first[0]
    assert first[1].startswith("区域 | 受理")  # the official table's columns
    assert first[2].startswith("合计 | ")
    (ding_tips, ding_reports) = robots.messages("dd")
    assert "南阳市" in ding_tips.body["markdown"]["title"]
    assert any("XLSX" in line for line in dingtalk_lines(ding_reports))  # no file: a note
    feishu = robots.messages("fs")
    assert "卧龙区" in feishu_lines(feishu[0])[0] and len(feishu) == 2
    count = len(robots.received)
    await jobs.weekly_bulletins(GridContext(tg.app))
    assert len(robots.received) == count


async def test_overdue_tips_are_alerted_once_to_the_outlets_over_them(tg, robots):
    async with tg.services.db.read() as conn:
        wl = await unit_repo.get_by_code(conn, "WL-WH")
        wc = await unit_repo.get_by_code(conn, "WC-XH")
    now = tg.clock.now()

    def tip(number: str, unit) -> TipRow:
        return TipRow(
            0,
            number,
            now,
            unit,
            "私自打井",
            SOURCES[0],
            now,
            unit,
            now + timedelta(hours=2),
            None,
            None,
        )

    await tg.services.tips.import_rows([tip("JB-001", wl), tip("JB-002", wc)])
    context = GridContext(tg.app)
    await run_past_waits(tg.clock, jobs.tip_deadlines(context))
    assert robots.received == []  # not overdue yet
    tg.clock.advance(timedelta(hours=3))
    await run_past_waits(tg.clock, jobs.tip_deadlines(context))
    (city,) = robots.messages("wx")
    text = city.body["markdown"]["content"]
    assert "南阳市" in text and "2 件" in text and "JB-001" in text and "JB-002" in text
    (district,) = robots.messages("fs")  # WL's robot: only WL's tip
    lines = feishu_lines(district)
    assert "卧龙区" in lines[0] and any("JB-001" in x for x in lines)
    assert not any("JB-002" in x for x in lines)
    tg.clock.advance(timedelta(hours=1))
    await run_past_waits(tg.clock, jobs.tip_deadlines(context))
    assert len(robots.messages("wx")) == 1 and len(robots.messages("fs")) == 1


async def test_rate_limits_are_waited_out_and_5xx_backed_off_never_twice(tg, robots):
    robots.fail_next("wx", "rate", 502, 503)
    robots.fail_next("dd", "drop")  # the request arrives, the answer is lost
    tg.clock.advance(timedelta(hours=11, minutes=1))
    start = tg.clock.now()
    await run_past_waits(tg.clock, jobs.daily_digests(GridContext(tg.app)))
    wx = [r for r in robots.received if r.robot == "wx"]
    assert [r.code if r.status == 200 else r.status for r in wx] == [45009, 502, 503, 0, 0]
    assert wx[1].at - wx[0].at == timedelta(seconds=60)  # waited a minute when rate-limited
    assert wx[2].at - wx[1].at == timedelta(seconds=2)  # then backed off 2 s, 4 s
    assert wx[3].at - wx[2].at == timedelta(seconds=4)
    assert [m.body["msgtype"] for m in robots.messages("wx")] == ["markdown", "image"]
    # The lost answer: the robot may have posted it; recorded as failed, never resent.
    assert len([r for r in robots.received if r.robot == "dd"]) == 1
    (send,) = await tg.services.outlets.sends_of("dd")
    assert send.state == "failed" and "RemoteProtocolError" in (send.detail or "")
    await tg.restart()
    tg.clock.advance(timedelta(minutes=5))
    await run_past_waits(tg.clock, jobs.daily_digests(GridContext(tg.app)))
    assert len([r for r in robots.received if r.robot == "dd"]) == 1
    assert tg.clock.now() - start < timedelta(minutes=10)


async def test_no_log_line_carries_a_key_or_a_secret(tg, robots, caplog):
    await tg.add(1001, "NY", Role.ADMIN, "市管理员")
    tg.server.user(1001)
    caplog.set_level(logging.DEBUG)
    for name in ("httpx", "httpcore", "gridbot"):
        logging.getLogger(name).setLevel(logging.DEBUG)  # the most talkative setting
    robots.fail_next("wx", 500)
    robots.robot("dd").secret = "SEC" + "1" * 30  # the robot's secret changed: refused
    tg.clock.advance(timedelta(hours=11, minutes=1))
    await run_past_waits(tg.clock, jobs.daily_digests(GridContext(tg.app)))
    assert [r.code for r in robots.received if r.robot == "dd"] == [310000]
    assert any("HTTP Request: POST" in r.getMessage() for r in caplog.records)  # httpx spoke
    assert any("outlet.failed" in r.getMessage() for r in caplog.records)
    logged = "\n".join(r.getMessage() for r in caplog.records) + caplog.text
    told = "\n".join(c.text for c in tg.server.calls_to("sendMessage", chat_id=1001))
    assert "钉钉" in told
    for secret in SECRETS:
        assert secret not in logged and secret not in told


async def test_no_connection_is_backed_off_then_recorded_as_failed(tg, robots, caplog):
    # The robot's server is gone (nothing listens there any more).
    robots.robot("dd").failures.clear()
    await robots.close()
    caplog.set_level(logging.WARNING, logger="gridbot.outlets")
    tg.clock.advance(timedelta(hours=11, minutes=1))
    start = tg.clock.now()
    await run_past_waits(tg.clock, jobs.daily_digests(GridContext(tg.app)))
    retries = [
        r.getMessage() for r in caplog.records if "outlet.retry outlet=dd " in r.getMessage()
    ]
    assert [m.split(" in=")[1].split("s")[0] for m in retries] == [
        "2.0",
        "4.0",
        "8.0",
        "16.0",
        "32.0",
    ]
    (send,) = await tg.services.outlets.sends_of("dd")
    assert send.state == "failed" and "ConnectError" in (send.detail or "")
    assert tg.clock.now() - start >= timedelta(seconds=62)
