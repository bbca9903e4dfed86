"""The bot process ends in the middle of a report draft; started again, the worker
finishes the same draft (it lives in SQLite, not in memory)."""

from __future__ import annotations

import asyncio
import hashlib
import os
import signal
import sys
from pathlib import Path

import pytest

from bot.botapi import BotApiServer
from tests.cli_helpers import start_gridbot
from tests.conftest import EXAMPLE_ORG, TEST_TOKEN, write_config
from tests.e2e_reports import press, start_at_photos
from tests.photos import photo

pytestmark = pytest.mark.slow

T = 20.0  # generous timeouts: a cold process start on a busy machine


async def _cli(*args: str, cwd: Path, env: dict[str, str]) -> None:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", *args, cwd=cwd, env=env
    )
    assert await asyncio.wait_for(process.wait(), 60) == 0


async def _start(config: Path, url: str, cwd: Path, env: dict[str, str]):
    return await start_gridbot(
        "run", "--config", str(config), "--api-url", url,
        cwd=cwd, env=env, stdout=asyncio.subprocess.DEVNULL,
    )  # fmt: skip


async def test_a_draft_survives_the_process_being_killed(tmp_path):
    env = {**os.environ, "GRIDBOT_TOKEN": TEST_TOKEN, "PYTHONUNBUFFERED": "1"}
    config = write_config(tmp_path, "[reports]\nalbum_wait_seconds = 0.2\n")
    await _cli("org", "import", str(EXAMPLE_ORG), "--config", str(config), cwd=tmp_path, env=env)
    await _cli(
        "admin", "add", "3001", "--unit", "WL-WH-CZ-01", "--role", "worker",
        "--name", "网格员甲", "--config", str(config), cwd=tmp_path, env=env,
    )  # fmt: skip
    server = BotApiServer(TEST_TOKEN)
    async with server.serve_http() as url:
        bot = await _start(config, url, tmp_path, env)
        try:
            await server.wait_polling(timeout=30)
            worker = server.user(3001, "网格员甲")
            await start_at_photos(worker, "WL-900", "已封停", timeout=T)
            await worker.send_photo(photo(1))
            assert "共 1 张" in (await worker.next_reply("sendMessage", timeout=T)).text
            more = await worker.next_reply("sendMessage", timeout=T)
        finally:
            bot.send_signal(signal.SIGKILL)  # no goodbye, no clean shutdown
            await bot.wait()
        bot = await _start(config, url, tmp_path, env)
        try:
            await server.wait_polling(timeout=30)
            # The button sent by the first process still belongs to the same draft.
            ask_location = await press(worker, more, "✅ 照片已齐（1 张）", timeout=T)
            assert "发送当前位置" in ask_location.text
            await worker.send_location(33.0, 112.5)
            await worker.next_reply("sendMessage", timeout=T)
            ask_note = await worker.next_reply("sendMessage", timeout=T)
            summary = await press(worker, ask_note, "跳过", timeout=T)
            assert "地点：WL-900（新地点）" in summary.text and "照片：1 张" in summary.text
            done = await press(worker, summary, "✅ 提交", timeout=T)
            assert "上报已提交，编号 R-000001" in done.text
        finally:
            bot.send_signal(signal.SIGTERM)
            _, err = await asyncio.wait_for(bot.communicate(), 30)
        assert bot.returncode == 0, err.decode()[-2000:]
    sha = hashlib.sha256(photo(1)).hexdigest()
    assert (tmp_path / "evidence" / sha[:2] / sha).is_file()
