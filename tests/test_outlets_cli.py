"""``gridbot outlets list`` and ``gridbot outlets test NAME`` as a real process against the
local robot servers; neither they nor a config mistake print a key or a secret."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest

from bot.config import load_config
from bot.services import Services
from tests.cli_helpers import gridbot
from tests.conftest import EXAMPLE_ORG, example_rows, write_config
from tests.outlet_helpers import (
    DING_SECRET,
    DING_TOKEN,
    FEISHU_SECRET,
    FEISHU_TOKEN,
    SECRETS,
    WECOM_KEY,
    outlet_toml,
)
from tests.robots import RobotServer


@pytest.fixture
async def robots():
    server = await RobotServer(lambda: datetime.now(UTC)).start()
    yield server
    await server.close()


async def run(*args: str, cwd) -> object:
    return await asyncio.to_thread(gridbot, *args, cwd=cwd)


async def test_list_and_test_print_states_and_answers_never_secrets(tmp_path, robots):
    config = write_config(
        tmp_path,
        outlet_toml("wx", "wecom", "NY", robots.wecom("wx", WECOM_KEY))
        + outlet_toml(
            "dd", "dingtalk", "WL", robots.dingtalk("dd", DING_TOKEN, "SEC" + "9" * 30), DING_SECRET
        )
        + outlet_toml(
            "fs", "feishu", "WL", robots.feishu("fs", FEISHU_TOKEN, FEISHU_SECRET), FEISHU_SECRET
        ),
    )
    flag = ("--config", str(config))
    services = await Services.open(load_config(config))
    await services.org.import_rows(example_rows(), str(EXAMPLE_ORG))
    await services.close()
    outputs = []

    listed = await run("outlets", "list", *flag, cwd=tmp_path)
    outputs.append(listed.stdout + listed.stderr)
    assert listed.returncode == 0, listed.stderr
    assert "wx  wecom  NY 南阳市" in listed.stdout and "dd  dingtalk  WL 卧龙区" in listed.stdout
    assert f"{robots.base}/cgi-bin/webhook/send?key=***" in listed.stdout
    assert f"{robots.base}/open-apis/bot/v2/hook/***" in listed.stdout

    good = await run("outlets", "test", "wx", *flag, cwd=tmp_path)
    outputs.append(good.stdout + good.stderr)
    assert good.returncode == 0, good.stderr
    assert good.stdout.strip() == "wx (wecom): ok: HTTP 200, code 0, ok"
    (message,) = robots.messages("wx")
    assert message.body["msgtype"] == "text" and "南阳市" in message.body["text"]["content"]

    wrong = await run("outlets", "test", "dd", *flag, cwd=tmp_path)
    outputs.append(wrong.stdout + wrong.stderr)
    assert wrong.returncode == 1
    assert "dd (dingtalk): FAILED (broken): HTTP 200, code 310000" in wrong.stdout

    unknown = await run("outlets", "test", "nope", *flag, cwd=tmp_path)
    assert unknown.returncode == 2 and "known: wx, dd, fs" in unknown.stderr

    for text in outputs:
        for secret in SECRETS:
            assert secret not in text


async def test_a_config_mistake_never_echoes_the_webhook_or_the_secret(tmp_path):
    config = write_config(
        tmp_path,
        outlet_toml("wx", "wecom", "NY", f"qyapi key={WECOM_KEY}")
        + outlet_toml("wx", "wecom", "NY", "https://x.example/send?key=1", FEISHU_SECRET),
    )
    done = await run("outlets", "list", "--config", str(config), cwd=tmp_path)
    assert done.returncode == 2
    assert "outlets[0].webhook: not an http(s):// webhook address" in done.stderr
    assert "outlets[1]: WeCom robots are not signed" in done.stderr
    for secret in SECRETS:
        assert secret not in done.stderr + done.stdout
