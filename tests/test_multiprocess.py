"""Several processes on one PostgreSQL store (issue 20): three ``gridbot run --webhook``
processes behind a small round-robin proxy written here, many workers reporting, one
process killed with SIGKILL at random moments (at least 10 times) and started again.

The Bot API test server posts every update to the proxy one at a time (as Telegram
does), and the proxy hands each to the next process in turn — a chat's consecutive
updates land on different processes; a process that does not answer is skipped (the
update goes to the next one, as a load balancer retries), and without any answer the
server tries again later. At the end:

- every report the bot confirmed exists, and every flow was saved exactly once;
- each chat's answers arrived in order: after every report a worker sends a burst of
  four commands at once — ``/lang en``, ``/whoami``, ``/lang zh``, ``/whoami`` — and
  their answers must come in that order (in English, then in Chinese), whichever
  processes received them (a replay after a kill may repeat the last answer, never
  reorder them);
- the daily digest, due two to three minutes after the start, went to the group exactly once,
  whichever process led the schedule and however often the leader was killed;
- ``gridbot check`` passes.

Runs in ``pytest -m slow`` (CI): on the server ``GRIDBOT_TEST_DATABASE`` names, or on a
throwaway cluster of its own (``tests/pgcluster.py``).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import shutil
import signal
import tempfile
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from bot.botapi import BotApiServer
from bot.config import load_config
from tests import pgcluster
from tests.cli_helpers import gridbot, start_gridbot
from tests.conftest import ON_POSTGRES, TEST_DATABASE, TEST_TOKEN, fresh_schema_url, sql_rows
from tests.photos import photo
from tests.roundrobin import RoundRobin, free_port, serving
from tests.test_crash import NAMES, SUBMITTED, WORKERS, Worker, _messages, _press, _setup

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not ON_POSTGRES and not pgcluster.available(), reason="no PostgreSQL binaries"
    ),
]

PROCESSES = 3
KILLS = int(os.environ.get("GRIDBOT_MULTI_KILLS", "12"))
FLOWS = 2  # reports per worker
SECRET = "multi-process-secret-0123456789"
GROUP = -100777
ADMIN = 1001
PROBE = ("/lang en", "/whoami", "/lang zh", "/whoami")


def _probe_answer(text: str) -> str | None:
    """Which answer of the burst a message is, if any."""
    if text.startswith("Language set to English"):
        return "en-set"
    if text.startswith("已切换为中文"):
        return "zh-set"
    if text.startswith("Name:"):
        return "en-whoami"
    if text.startswith("姓名："):
        return "zh-whoami"
    return None


@pytest.fixture
def pg_url(tmp_path):
    if ON_POSTGRES:
        yield fresh_schema_url(TEST_DATABASE, tmp_path / "schema")
        return
    folder = Path(tempfile.mkdtemp(prefix="gridbot-pg-"))
    try:
        yield pgcluster.start(folder)
    finally:
        pgcluster.stop(folder)
        shutil.rmtree(folder, ignore_errors=True)


def _config(folder: Path, url: str, port: int, digest_at: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    evidence = (folder.parent / "evidence").as_posix()
    path = folder / "config.toml"
    path.write_text(
        f'[database]\nurl = "{url}"\n[evidence]\npath = "{evidence}"\n'
        "[reports]\nalbum_wait_seconds = 0.2\n"
        f'[schedule]\ndaily_digest = "{digest_at}"\n'
        '[webhook]\nurl = "https://bot.example.org/gridbot/hook"\nlisten = "127.0.0.1"\n'
        f'port = {port}\nsecret = "{SECRET}"\n',
        encoding="utf-8",
    )
    return path


async def _start(config: Path, api: str, cwd: Path, env: dict[str, str]):
    with (cwd / "bot.log").open("ab") as log:
        return await start_gridbot(
            "run", "--webhook", "--config", str(config), "--api-url", api,
            cwd=cwd, env=env, stdout=log, stderr=log,
        )  # fmt: skip


async def _act(server: BotApiServer, worker: Worker) -> None:
    """One step of a report flow (as tests/test_crash.py), and after each confirmed
    report the burst of four commands whose answers must come in order."""
    user = worker.user
    for call in reversed(_messages(server, user.id)):
        text = call.text
        if SUBMITTED.search(text):
            number = SUBMITTED.search(text)[1]
            if number not in worker.confirmed:
                worker.confirmed.append(number)
                worker.done += 1
                await asyncio.gather(*(user.send_text(command) for command in PROBE))
                await _probe_answered(server, worker)
            if worker.done < FLOWS:
                await user.send_text("/report")
            return
        if _probe_answer(text) is not None:
            continue
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
            await user.send_photo(photo(1000 * worker.number + 100 * worker.done + worker.photos))
            return
        if "请选择现场状态" in text and await _press(user, call, "在用"):
            return
        if await _press(user, call, "➕ 新建地点"):
            return
        if "请" in text and ("编号或地址" in text or "编号/地址" in text):
            await user.send_text(worker.site)
            return
    await user.send_text("/report")


def _probe_answers(server: BotApiServer, chat: int) -> list[str]:
    return [a for c in _messages(server, chat) if (a := _probe_answer(c.text)) is not None]


async def _probe_answered(server: BotApiServer, worker: Worker) -> None:
    """Wait (a while) for the burst's last answer, so the next flow starts after it."""
    want = 2 * worker.done
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(30):
            while _probe_answers(server, worker.user.id).count("zh-whoami") < want:
                await asyncio.sleep(0.1)


async def _work(server: BotApiServer, worker: Worker, stop: asyncio.Event) -> None:
    while worker.done < FLOWS and not stop.is_set():
        before = len(_messages(server, worker.user.id))
        await _act(server, worker)
        if worker.done >= FLOWS:
            return
        try:
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
        await asyncio.sleep(0.25)


def _collapsed(answers: list[str]) -> list[str]:
    """Consecutive repeats (a replay after a kill answers again) counted once."""
    return [a for i, a in enumerate(answers) if i == 0 or answers[i - 1] != a]


async def test_three_webhook_processes_with_kills(tmp_path, pg_url):
    env = {**os.environ, "GRIDBOT_TOKEN": TEST_TOKEN, "PYTHONUNBUFFERED": "1"}
    zone = ZoneInfo("Asia/Shanghai")
    # Due two to three minutes from now (the setting has minutes): after the processes
    # have started and the group is bound even on a busy CI machine — a group bound after
    # a digest's time does not get that digest — and within the wait below.
    digest_at = (datetime.now(zone) + timedelta(minutes=3)).strftime("%H:%M")
    ports = [free_port() for _ in range(PROCESSES)]
    configs = [_config(tmp_path / f"p{n}", pg_url, port, digest_at) for n, port in enumerate(ports)]
    await _setup(configs[0])
    done = gridbot(
        "admin", "add", str(ADMIN), "--unit", "NY", "--role", "admin", "--name", "市管理员",
        "--config", str(configs[0]), cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    server = BotApiServer(TEST_TOKEN)
    balancer = RoundRobin(ports)
    rng = random.Random(20261203)
    stop = asyncio.Event()
    async with server.serve_http() as api:
        front = await balancer.start()
        delivery = asyncio.create_task(server.deliver_webhook(f"{front}/gridbot/hook", stop))
        bots = [await _start(config, api, tmp_path, env) for config in configs]
        for port in ports:
            await serving(port)
        admin = server.user(ADMIN).in_chat(server.group(GROUP, "南阳市网格工作群"))
        assert "已绑定" in (await admin.ask("/bindgroup NY", timeout=30)).text
        workers = [Worker(server.user(4000 + n, NAMES[n]), n) for n in range(WORKERS)]
        tasks = [asyncio.create_task(_work(server, w, stop)) for w in workers]
        kills = 0
        try:
            while kills < KILLS:
                await asyncio.sleep(rng.uniform(0.5, 3.0))
                victim = rng.randrange(PROCESSES)
                bots[victim].send_signal(signal.SIGKILL)
                await bots[victim].wait()
                kills += 1
                bots[victim] = await _start(configs[victim], api, tmp_path, env)
                await serving(ports[victim])
            try:
                async with asyncio.timeout(240):
                    await asyncio.gather(*tasks)
                    # the digest is due minutes after the start; the leader sends it
                    while not _digests(server):
                        await asyncio.sleep(0.5)
                    await asyncio.sleep(3)  # a second one would be on its way by now
            except TimeoutError:
                raise AssertionError(_stuck(server, workers, tmp_path)) from None
        finally:
            stop.set()
            server.signal.notify()
            for task in tasks:
                task.cancel()
            for bot in bots:
                if bot.returncode is None:
                    bot.send_signal(signal.SIGTERM)
            for bot in bots:
                await asyncio.wait_for(bot.wait(), 30)
            await asyncio.wait_for(delivery, 10)
            await balancer.close()
    assert kills >= KILLS
    assert len(balancer.sent) == PROCESSES  # every process took updates

    config = load_config(configs[0])
    rows = sql_rows(
        config,
        "SELECT r.id, s.code, m.telegram_id FROM report r JOIN site s ON s.id = r.site_id "
        "JOIN member m ON m.id = r.member_id ORDER BY r.id",
    )
    numbers = {f"R-{row[0]:06d}" for row in rows}
    confirmed = [n for w in workers for n in w.confirmed]
    assert len(confirmed) == len(set(confirmed)) == WORKERS * FLOWS
    assert set(confirmed) <= numbers  # every confirmed report exists
    sites = [row[1] for row in rows]
    assert len(sites) == len(set(sites)) == WORKERS * FLOWS  # each flow saved exactly once
    for w in workers:
        assert [code for _, code, tid in rows if tid == w.user.id] == [
            f"K{w.number}-{n}" for n in range(1, FLOWS + 1)
        ]
        # each chat's answers in order, whichever process received each command
        answers = _collapsed(_probe_answers(server, w.user.id))
        assert answers == ["en-set", "en-whoami", "zh-set", "zh-whoami"] * FLOWS, (
            w.number,
            answers,
        )
    assert len(_digests(server)) == 1  # the digest went out once
    left = sql_rows(config, "SELECT count(*) FROM inbox WHERE done_at IS NULL")[0][0]
    assert left == 0
    checked = gridbot("check", "--config", str(configs[0]), cwd=tmp_path)
    assert checked.returncode == 0, checked.stdout + checked.stderr


def _digests(server: BotApiServer) -> list[str]:
    return [
        c.text for c in server.calls_to("sendMessage", chat_id=GROUP) if c.ok and "📊" in c.text
    ]


def _stuck(server: BotApiServer, workers: list[Worker], cwd: Path) -> str:
    lines = [f"digests: {len(_digests(server))}"]
    for w in workers:
        lines.append(f"worker {w.number}: {w.done} done, confirmed {w.confirmed}")
        for call in _messages(server, w.user.id)[-4:]:
            lines.append(f"    bot: {call.text[:60]!r}")
    log = (cwd / "bot.log").read_text(errors="replace").splitlines()
    keep = [line for line in log if "WARNING" in line or "ERROR" in line or line[:1] in " T"]
    return "\n".join([*lines, "bot log, warnings and errors:", *keep[-40:]])
