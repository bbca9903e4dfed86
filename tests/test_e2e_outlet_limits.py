"""The platforms' limits: a 40-row ranking reaches WeCom in parts under 4,096 bytes, split
between rows with the title and the column line on each; 25 digests due at once for one
DingTalk robot are spread so that no minute carries more than 20 (the robot server
answers 130101 and blocks the robot for ten minutes past that)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from bot.formats.orgfile import UnitRow
from bot.runtime.context import GridContext
from handlers import jobs
from tests.conftest import EXAMPLE_ORG, example_rows
from tests.outlet_helpers import (
    DING_SECRET,
    DING_TOKEN,
    WECOM_KEY,
    outlet_toml,
    rows_in,
    run_past_waits,
    wecom_lines,
)
from tests.robots import RobotServer

WIDE = "ZD"  # a district with 40 streets


@pytest.fixture
async def robots(clock):
    server = await RobotServer(clock.now).start()
    yield server
    await server.close()


@pytest.fixture
def tg_config(robots) -> str:
    ding = robots.dingtalk("dd", DING_TOKEN, DING_SECRET)
    many = "".join(
        outlet_toml(f"d{n:02}", "dingtalk", "NY", ding, DING_SECRET, sends=["daily"])
        for n in range(1, 26)
    )
    wide = outlet_toml("wide", "wecom", WIDE, robots.wecom("wx", WECOM_KEY), sends=["daily"])
    return many + wide


@pytest.fixture
async def wide_district(tg):
    rows = [*example_rows(), UnitRow(WIDE, "综合治理试点示范区", "district", "NY", 0)]
    rows += [
        UnitRow(
            f"{WIDE}-{n:02}", f"第{n:02}号网格化管理试点示范片区综合服务中心", "street", WIDE, 0
        )
        for n in range(1, 41)
    ]
    await tg.services.org.import_rows(rows, str(EXAMPLE_ORG))
    return tg


async def test_a_40_row_ranking_reaches_wecom_in_parts_split_between_rows(wide_district, robots):
    tg = wide_district
    tg.clock.advance(timedelta(hours=11, minutes=1))
    await run_past_waits(tg.clock, jobs.daily_digests(GridContext(tg.app)))
    parts = [m for m in robots.messages("wx") if m.body["msgtype"] == "markdown"]
    assert len(parts) >= 2
    assert [r.code for r in robots.received if r.robot == "wx"] == [0] * (len(parts) + 1)
    seen: list[list[str]] = []
    for index, part in enumerate(parts, 1):
        content = part.body["markdown"]["content"]
        assert len(content.encode()) <= 4096
        lines = wecom_lines(part)
        assert "综合治理试点示范区" in lines[0] and "2026-11-23" in lines[0]
        assert f"（{index}/{len(parts)}）" in lines[0]
        rows = rows_in(lines, 8)
        if rows:  # the column line on every part of the table
            assert lines[1].startswith("名次 | 单位 | 得分")
        seen += rows
    assert [row[0] for row in seen] == [str(n) for n in range(1, 41)]  # every row once, whole
    assert all(row[1].startswith("第") and row[1].endswith("中心") for row in seen)
    assert "未上报" in parts[-1].body["markdown"]["content"]


async def test_25_digests_for_one_robot_are_spread_under_20_a_minute(tg, robots):
    tg.clock.advance(timedelta(hours=11, minutes=1))
    await run_past_waits(tg.clock, jobs.daily_digests(GridContext(tg.app)))
    answers = [r for r in robots.received if r.robot == "dd"]
    assert [r.code for r in answers] == [0] * 25  # never over the rate, never blocked
    times = [r.at for r in answers]
    for start in times:
        assert sum(1 for t in times if start <= t < start + timedelta(seconds=60)) <= 20
    assert times[-1] - times[0] >= timedelta(seconds=60)  # the last five waited their turn
    states = await tg.services.outlets.sends_of("d25")
    assert [(s.state, s.parts_sent) for s in states] == [("sent", 1)]
