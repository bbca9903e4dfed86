"""Crash test: `gridbot run` as a separate process over loopback, many workers
submitting reports at once, the bot killed with SIGKILL at random moments (at least
20 times) and started again each time. At the end: every report the bot confirmed
exists exactly once; every flow whose updates were delivered ends saved; no duplicate;
the database and the evidence folder pass `gridbot check`.

Each simulated worker acts on the newest question the bot asked it, as a person would:
it never knows about the kills. When no answer comes it looks again and, if needed,
repeats its last step (a repeated photo or button press is what a real user does).
"""

from __future__ import annotations

import asyncio
import os
import random
import re
import signal
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from bot.botapi import ApiCall, BotApiServer
from bot.config import load_config
from bot.core.access import Role
from bot.core.clock import SystemClock
from bot.formats.orgfile import read_org_file
from bot.services import Services
from tests.cli_helpers import gridbot, start_gridbot
from tests.conftest import EXAMPLE_ORG, TEST_TOKEN, write_config
from tests.photos import photo

pytestmark = pytest.mark.slow

WORKERS = 12
FLOWS = 3  # reports per worker
KILLS = int(os.environ.get("GRIDBOT_CRASH_KILLS", "20"))
SUBMITTED = re.compile(r"上报已提交，编号 (R-\d{6})")
UNITS = ["WL-WH-CZ-01", "WL-WH-CZ-02", "WC-XH-XH-01"]
NAMES = [f"网格员{c}" for c in "甲乙丙丁戊己庚辛壬癸子丑"][:WORKERS]


@dataclass
class Worker:
    user: object
    number: int
    done: int = 0
    confirmed: list[str] = field(default_factory=list)
    photos: int = 0
    seen: int = -1  # seq of the newest bot message acted on

    @property
    def site(self) -> str:
        return f"K{self.number}-{self.done + 1}"


def _buttons(call: ApiCall) -> list[str]:
    return [label for label, _ in call.buttons]


def _messages(server: BotApiServer, chat: int) -> list[ApiCall]:
    return [c for c in server.calls_to("sendMessage", chat) if c.ok]


async def _press(user, call: ApiCall, prefix: str) -> bool:
    """Press the inline button starting with ``prefix`` if the message still has it."""
    for label in _buttons(call):
        if label.startswith(prefix):
            try:
                await user.press_label(call, label)
            except AssertionError:  # the bot has since edited the buttons away
                return False
            return True
    return False


async def _act(server: BotApiServer, worker: Worker) -> None:
    """One step: answer the newest question the bot asked this worker."""
    user = worker.user
    for call in reversed(_messages(server, user.id)):
        text = call.text
        if SUBMITTED.search(text):
            number = SUBMITTED.search(text)[1]
            if number not in worker.confirmed:
                worker.confirmed.append(number)
                worker.done += 1
            if worker.done < FLOWS:
                await user.send_text("/report")
            return
        if await _press(user, call, "✅ 提交"):
            return
        if "发送当前位置" in text:
            await user.send_location(33.0, 112.5)
            return
        if await _press(user, call, "跳过"):
            return
        if await _press(user, call, "✅ 照片已齐"):
            return
        if "请发送 1–10 张" in text:
            worker.photos += 1
            await user.send_photo(photo(1000 * worker.number + 10 * worker.done + worker.photos))
            return
        if "请选择现场状态" in text and await _press(user, call, "在用"):
            return
        if await _press(user, call, "➕ 新建地点"):
            return
        if "请" in text and ("编号或地址" in text or "编号/地址" in text):
            await user.send_text(worker.site)
            return
    await user.send_text("/report")  # nothing asked yet: start


async def _work(server: BotApiServer, worker: Worker, stop: asyncio.Event) -> None:
    while worker.done < FLOWS and not stop.is_set():
        before = len(_messages(server, worker.user.id))
        await _act(server, worker)
        if worker.done >= FLOWS:
            return
        try:  # wait for an answer; without one (the bot was killed), look again
            await server.wait_for(
                lambda c, n=before: (
                    c.method == "sendMessage"
                    and c.chat_id == worker.user.id
                    and len(_messages(server, worker.user.id)) > n
                ),
                timeout=8,
            )
        except AssertionError:
            continue
        await asyncio.sleep(0.25)  # let a second message (e.g. the next question) arrive


def _stuck(server: BotApiServer, workers: list[Worker]) -> str:
    lines = []
    for w in workers:
        lines.append(f"worker {w.number}: {w.done} done, confirmed {w.confirmed}")
        for call in _messages(server, w.user.id)[-4:]:
            lines.append(f"    bot: {call.text[:60]!r} {_buttons(call)}")
    return "\n".join(lines)


async def _start(config: Path, url: str, cwd: Path, env: dict[str, str]):
    """Start the bot; its log goes to bot.log (every run appended), for a failure report."""
    with (cwd / "bot.log").open("ab") as log:
        return await start_gridbot(
            "run", "--config", str(config), "--api-url", url,
            cwd=cwd, env=env, stdout=log, stderr=log,
        )  # fmt: skip


def _log_problems(cwd: Path, limit: int = 40) -> str:
    """The bot's warnings and errors (and tracebacks), last ``limit`` lines."""
    lines = (cwd / "bot.log").read_text(errors="replace").splitlines()
    keep = [line for line in lines if "WARNING" in line or "ERROR" in line or line[:1] in " T"]
    return "\n".join(["bot log, warnings and errors:", *keep[-limit:]])


async def _setup(config_path: Path) -> None:
    services = await Services.open(load_config(config_path), clock=SystemClock())
    try:
        await services.org.import_rows(read_org_file(EXAMPLE_ORG), str(EXAMPLE_ORG))
        for number in range(WORKERS):
            await services.members.add_by_operator(
                4000 + number,
                UNITS[number % len(UNITS)],
                Role.WORKER,
                NAMES[number],
            )
    finally:
        await services.close()


async def test_reports_survive_twenty_sigkills(tmp_path):
    env = {**os.environ, "GRIDBOT_TOKEN": TEST_TOKEN, "PYTHONUNBUFFERED": "1"}
    config = write_config(
        tmp_path, "[reports]\nalbum_wait_seconds = 0.2\n[telegram]\npoll_timeout = 2\n"
    )
    await _setup(config)
    server = BotApiServer(TEST_TOKEN)
    rng = random.Random(20261123)
    async with server.serve_http() as url:
        bot = await _start(config, url, tmp_path, env)
        await server.wait_polling(timeout=60)
        workers = [Worker(server.user(4000 + n, NAMES[n]), n) for n in range(WORKERS)]
        stop = asyncio.Event()
        tasks = [asyncio.create_task(_work(server, w, stop)) for w in workers]
        kills = 0
        try:
            while kills < KILLS:
                await asyncio.sleep(rng.uniform(0.1, 1.2))
                bot.send_signal(signal.SIGKILL)
                await bot.wait()
                kills += 1
                bot = await _start(config, url, tmp_path, env)
                await server.wait_polling(timeout=60)
            try:
                async with asyncio.timeout(240):  # no more kills: everyone finishes
                    await asyncio.gather(*tasks)
            except TimeoutError:
                raise AssertionError(
                    _stuck(server, workers) + "\n" + _log_problems(tmp_path)
                ) from None
        finally:
            stop.set()
            for task in tasks:
                task.cancel()
            bot.send_signal(signal.SIGTERM)
            await asyncio.wait_for(bot.wait(), 30)
    assert kills >= KILLS

    with sqlite3.connect(tmp_path / "gridbot.sqlite3") as conn:
        inbox = dict(conn.execute("SELECT update_id, done_at IS NOT NULL FROM inbox"))
        rows = conn.execute(
            "SELECT r.id, s.code, m.telegram_id FROM report r JOIN site s ON s.id = r.site_id "
            "JOIN member m ON m.id = r.member_id"
        ).fetchall()
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    # Every update Telegram handed to a process it then killed is in the inbox, handled.
    delivered = server.delivered_update_ids
    assert delivered and delivered <= set(inbox), sorted(delivered - set(inbox))[:10]
    assert all(inbox[update_id] for update_id in delivered)
    numbers = {f"R-{row[0]:06d}" for row in rows}
    confirmed = [n for w in workers for n in w.confirmed]
    assert len(confirmed) == len(set(confirmed)) == WORKERS * FLOWS
    assert set(confirmed) <= numbers  # every confirmed report exists
    sites = [row[1] for row in rows]
    assert len(sites) == len(set(sites)) == WORKERS * FLOWS  # each flow saved exactly once
    for w in workers:
        assert sorted(code for code, tid in ((r[1], r[2]) for r in rows) if tid == w.user.id) == [
            f"K{w.number}-{n}" for n in range(1, FLOWS + 1)
        ]
    checked = gridbot("check", "--config", str(config), cwd=tmp_path)
    assert checked.returncode == 0, checked.stdout + checked.stderr
