"""`gridbot run` as a separate process against the test server over loopback HTTP.

This is the acceptance path of the foundation: an operator bootstraps an admin from the
shell, the admin invites a worker, the worker joins and asks who they are — and no log
line ever contains the bot token.
"""

from __future__ import annotations

import asyncio
import os
import re
import sys
from pathlib import Path

import pytest

from bot.botapi import BotApiServer
from tests.cli_helpers import start_gridbot, stop_gridbot
from tests.conftest import EXAMPLE_ORG, TEST_TOKEN, write_config


async def _gridbot(*args: str, cwd: Path, env: dict[str, str]) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        *args,
        cwd=cwd,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), 60)
    return process.returncode or 0, out.decode(), err.decode()


@pytest.mark.slow  # a whole conversation with a cold process: about 10 s
async def test_run_over_loopback_invite_join_whoami_and_no_token_in_logs(tmp_path):
    env = {**os.environ, "GRIDBOT_TOKEN": TEST_TOKEN, "PYTHONUNBUFFERED": "1"}
    config = write_config(tmp_path)
    assert (
        await _gridbot(
            "org", "import", str(EXAMPLE_ORG), "--config", str(config), cwd=tmp_path, env=env
        )
    )[0] == 0
    code, _, err = await _gridbot(
        "admin",
        "add",
        "1001",
        "--unit",
        "NY",
        "--role",
        "admin",
        "--name",
        "市管理员",
        "--config",
        str(config),
        cwd=tmp_path,
        env=env,
    )
    assert code == 0, err

    server = BotApiServer(TEST_TOKEN)
    async with server.serve_http() as url:
        bot = await start_gridbot(
            "run", "--config", str(config), "--api-url", url, "--log-level", "DEBUG",
            cwd=tmp_path, env=env,
        )  # fmt: skip
        try:
            await server.wait_polling(timeout=30)
            admin = server.user(1001, "管理员")
            invite = await admin.ask("/invite WL-WH-CZ worker", timeout=15)
            token = re.search(r"\?start=([A-Za-z0-9_-]+)", invite.text)
            assert token, invite.text

            worker = server.user(2002, "李四")
            assert "真实姓名" in (await worker.ask(f"/start {token[1]}", timeout=15)).text
            assert "加入成功" in (await worker.ask("李四", timeout=15)).text
            whoami = await worker.ask("/whoami", timeout=15)
            assert "单位：卧龙区 / 武侯街道 / 崔庄社区（WL-WH-CZ）" in whoami.text
            assert "角色：网格员" in whoami.text
            refused = await worker.ask("/invite WL-WH-CZ worker", timeout=15)
            assert "没有使用 /invite 的权限" in refused.text

            # The Bot API fails twice; PTB logs it (errors carry URLs) and recovers.
            server.fail_next("getUpdates", 500, times=2)
            assert "您好，李四" in (await worker.ask("/start", timeout=15)).text
            await server.wait_for(method="getUpdates", ok=False, after=0, timeout=15)
            again = await worker.ask("/whoami", timeout=30)
            assert "姓名：李四" in again.text
        finally:
            logs = await stop_gridbot(bot)
    assert bot.returncode == 0, logs[-3000:]
    assert "bot.ready" in logs and "command update=" in logs
    secret = TEST_TOKEN.split(":", 1)[1]
    assert TEST_TOKEN not in logs and secret not in logs
    assert not server.unknown_calls


async def test_a_rejected_token_stops_with_one_line(tmp_path):
    wrong = "42:not-the-token-the-server-knows-xxxxxxxx"
    env = {**os.environ, "GRIDBOT_TOKEN": wrong}
    config = write_config(tmp_path)
    server = BotApiServer(TEST_TOKEN)
    async with server.serve_http() as url:
        code, out, err = await _gridbot(
            "run", "--config", str(config), "--api-url", url, cwd=tmp_path, env=env
        )
    assert code == 2, err
    assert err.strip().splitlines()[-1] == (
        "config.toml: telegram.token: the Bot API server rejected the token"
    )
    assert wrong not in err + out and wrong.split(":")[1] not in err + out
