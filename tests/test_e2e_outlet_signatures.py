"""A DingTalk robot that checks the HMAC-SHA256 signature takes gridbot's requests and
refuses a wrong secret; the wrong-secret outlet is reported to the admins once, the
others go on; an edited secret clears the failing state."""

from __future__ import annotations

from datetime import timedelta

import pytest

from bot.config import load_config
from bot.core.access import Role
from bot.runtime.context import GridContext
from handlers import jobs
from tests.conftest import write_config
from tests.outlet_helpers import (
    DING_SECRET,
    DING_TOKEN,
    FEISHU_SECRET,
    FEISHU_TOKEN,
    WECOM_KEY,
    outlet_toml,
    run_past_waits,
)
from tests.robots import RobotServer

WRONG_SECRET = "SEC" + "0" * 30
OTHER_TOKEN = "f" * 40


@pytest.fixture
async def robots(clock):
    server = await RobotServer(clock.now).start()
    yield server
    await server.close()


def outlets(robots, wrong_secret: str = WRONG_SECRET) -> str:
    return (
        outlet_toml(
            "good", "dingtalk", "NY", robots.dingtalk("dd", DING_TOKEN, DING_SECRET), DING_SECRET
        )
        + outlet_toml(
            "wrong",
            "dingtalk",
            "WL",
            robots.dingtalk("dd2", OTHER_TOKEN, DING_SECRET),
            wrong_secret,
        )
        + outlet_toml("wx", "wecom", "NY", robots.wecom("wx", WECOM_KEY))
        + outlet_toml(
            "fs", "feishu", "NY", robots.feishu("fs", FEISHU_TOKEN, FEISHU_SECRET), FEISHU_SECRET
        )
    )


@pytest.fixture
def tg_config(robots) -> str:
    return outlets(robots)


async def test_a_wrong_secret_is_refused_told_once_and_the_others_go_on(tg, robots, tmp_path):
    await tg.add(1001, "NY", Role.ADMIN, "市管理员")
    await tg.add(1002, "WL", Role.ADMIN, "卧龙区管理员")
    await tg.add(1003, "WC", Role.ADMIN, "宛城区管理员")  # not over WL: not told
    for telegram_id in (1001, 1002, 1003):
        tg.server.user(telegram_id)  # each has a private chat with the bot
    context = GridContext(tg.app)
    tg.clock.advance(timedelta(hours=11, minutes=1))
    await run_past_waits(tg.clock, jobs.daily_digests(context))

    signed = [r for r in robots.received if r.robot == "dd"]
    assert len(signed) == 1 and signed[0].ok and signed[0].query["sign"]
    refused = [r for r in robots.received if r.robot == "dd2"]
    assert [r.code for r in refused] == [310000]
    assert len(robots.messages("wx")) == 2 and len(robots.messages("fs")) == 1

    def notices(telegram_id: int) -> list[str]:
        return [
            c.text
            for c in tg.server.calls_to("sendMessage", chat_id=telegram_id)
            if "wrong" in c.text
        ]

    (notice,) = notices(1001)
    assert "钉钉" in notice and "310000" in notice
    assert len(notices(1002)) == 1 and notices(1003) == []

    # The next day: the failing outlet is left alone, nobody is told again.
    tg.clock.advance(timedelta(days=1))
    await run_past_waits(tg.clock, jobs.daily_digests(context))
    assert len([r for r in robots.received if r.robot == "dd2"]) == 1
    assert len(robots.messages("dd")) == 2
    assert len(notices(1001)) == 1 and len(notices(1002)) == 1

    # The operator fixes the secret and restarts: the failing state is cleared, and the
    # day's digest (due 15 minutes ago, given back when refused) is caught up.
    (tmp_path / "fixed").mkdir()
    fixed = load_config(
        write_config(
            tmp_path / "fixed",
            f'[telegram]\ntoken = "{tg.services.config.telegram.token.get_secret_value()}"\n'
            + outlets(robots, DING_SECRET),
        )
    )
    fixed = fixed.model_copy(update={"database": tg.services.config.database})
    from tests.conftest import start_app, stop_app

    await stop_app(tg.app)
    tg.app = await start_app(fixed, tg.server, tg.clock)
    tg.services = tg.app.bot_data.services
    tg.clock.advance(timedelta(minutes=15))
    await run_past_waits(tg.clock, jobs.daily_digests(GridContext(tg.app)))
    assert len(robots.messages("dd2")) == 1
    assert len(robots.messages("dd")) == 2  # nothing twice
