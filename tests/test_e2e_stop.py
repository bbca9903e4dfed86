"""`gridbot run` stops within two seconds of SIGTERM or SIGINT in every state: while
Telegram cannot be reached at start (getMe retried, waiting between tries) and while
polling backs off — and the log says what cannot be reached, never with the token."""

from __future__ import annotations

import asyncio
import re
import signal
import socket
import time
from pathlib import Path

from telegram.request import HTTPXRequest

from bot.app import build_application
from bot.botapi import BotApiServer
from bot.config import load_config
from bot.runtime.lifecycle import serve_polling
from bot.runtime.webhook import serve as serve_webhook
from tests.cli_helpers import start_gridbot
from tests.conftest import TEST_TOKEN, write_config


def _closed_port() -> int:
    """A loopback port nothing listens on (connections are refused at once)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Bot:
    """``gridbot run`` as a separate process, its stderr read line by line."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process
        self.lines: list[str] = []

    @classmethod
    async def start(cls, tmp_path: Path, *args: str) -> Bot:
        config = write_config(tmp_path)
        process = await start_gridbot("run", "--config", str(config), *args, cwd=tmp_path)
        return cls(process)

    async def wait_line(self, pattern: str, count: int = 1, timeout: float = 30) -> str:
        """The ``count``-th log line matching ``pattern``."""
        assert self.process.stderr is not None
        found: list[str] = [line for line in self.lines if re.search(pattern, line)]
        async with asyncio.timeout(timeout):
            while len(found) < count:
                raw = await self.process.stderr.readline()
                assert raw, "gridbot ended:\n" + "".join(self.lines[-20:])
                line = raw.decode()
                self.lines.append(line)
                if re.search(pattern, line):
                    found.append(line)
        return found[count - 1]

    async def stop(self, sig: signal.Signals) -> float:
        """Send ``sig``; seconds until the process has ended (it is killed after 10)."""
        started = time.monotonic()
        self.process.send_signal(sig)
        try:
            out, err = await asyncio.wait_for(self.process.communicate(), 10)
        except TimeoutError:
            self.process.kill()
            out, err = await self.process.communicate()
        self.lines += [out.decode(), err.decode()]
        return time.monotonic() - started

    @property
    def logs(self) -> str:
        return "".join(self.lines)


def _no_token(logs: str) -> None:
    assert TEST_TOKEN not in logs and TEST_TOKEN.split(":", 1)[1] not in logs


async def test_sigterm_while_telegram_cannot_be_reached_at_start(tmp_path):
    port = _closed_port()
    bot = await Bot.start(tmp_path, "--api-url", f"http://127.0.0.1:{port}")
    try:
        # The second try: the bot is now waiting two seconds before the third.
        line = await bot.wait_line(r"bot\.start_failed", count=2)
    finally:
        took = await bot.stop(signal.SIGTERM)
    print(f"stopped in {took:.2f} s")
    assert took < 2, f"{took:.1f} s\n{bot.logs[-2000:]}"
    assert bot.process.returncode == 0, bot.logs[-2000:]
    # What cannot be reached (the Bot API address, without the token) and what to check.
    assert f"api=http://127.0.0.1:{port}/bot " in line
    assert "proxy=none" in line
    assert re.search(r"check=\".*network.*proxy", line), line
    _no_token(bot.logs)


async def test_sigint_during_the_first_getme_try(tmp_path):
    port = _closed_port()
    bot = await Bot.start(tmp_path, "--api-url", f"http://127.0.0.1:{port}")
    try:
        await bot.wait_line(r"bot\.start_failed")
    finally:
        took = await bot.stop(signal.SIGINT)
    print(f"stopped in {took:.2f} s")
    assert took < 2, f"{took:.1f} s\n{bot.logs[-2000:]}"
    assert bot.process.returncode == 0, bot.logs[-2000:]
    _no_token(bot.logs)


async def test_sigterm_while_polling_backs_off(tmp_path):
    server = BotApiServer(TEST_TOKEN)
    async with server.serve_http() as url:
        bot = await Bot.start(tmp_path, "--api-url", url)
        try:
            await server.wait_polling(timeout=30)
        except BaseException:
            await bot.stop(signal.SIGKILL)
            raise
    # The server is gone: getUpdates fails and the poller waits between tries.
    try:
        line = await bot.wait_line(r"polling\.failing")
    finally:
        took = await bot.stop(signal.SIGTERM)
    print(f"stopped in {took:.2f} s")
    assert took < 2, f"{took:.1f} s\n{bot.logs[-2000:]}"
    assert bot.process.returncode == 0, bot.logs[-2000:]
    assert f"api={url}/bot " in line
    _no_token(bot.logs)


async def _logged(caplog, event: str, timeout: float = 10) -> object:
    """The first log record of ``event``, waited for."""
    async with asyncio.timeout(timeout):
        while True:
            for record in caplog.records:
                if record.getMessage() == event:
                    return record
            await asyncio.sleep(0.01)


async def test_stop_ends_the_getme_retries_and_the_log_names_api_and_proxy(tmp_path, caplog):
    """In process, through a SOCKS5 proxy that is not there: the line says where the
    Bot API was looked for and through which proxy, without token or password."""
    api, proxy = _closed_port(), _closed_port()
    config = load_config(
        write_config(
            tmp_path,
            f'[telegram]\ntoken = "{TEST_TOKEN}"\n'
            f'base_url = "http://127.0.0.1:{api}/bot"\n'
            f'proxy = "socks5://gridproxy:pw-for-the-proxy@127.0.0.1:{proxy}"\n',
        )
    )
    app = build_application(config)
    stop = asyncio.Event()
    running = asyncio.create_task(serve_polling(app, config, stop))
    record = await _logged(caplog, "bot.start_failed")
    stop.set()
    await asyncio.wait_for(running, 1)
    fields = record.fields  # type: ignore[attr-defined]
    assert fields["api"] == f"http://127.0.0.1:{api}/bot"
    assert fields["proxy"] == f"socks5://127.0.0.1:{proxy}"
    assert "proxy" in fields["check"] and "network" in fields["check"]
    assert "pw-for-the-proxy" not in caplog.text and TEST_TOKEN not in caplog.text


async def test_stop_ends_the_setwebhook_retries(tmp_path, caplog):
    server = BotApiServer(TEST_TOKEN)
    server.fail_next("setWebhook", 502, times=100)
    config = load_config(
        write_config(
            tmp_path,
            f'[telegram]\ntoken = "{TEST_TOKEN}"\n'
            '[webhook]\nurl = "https://bot.example.org/hook"\nport = 0\n',
        )
    )
    transport = server.transport()
    app = build_application(config, request=HTTPXRequest(httpx_kwargs={"transport": transport}))
    stop = asyncio.Event()
    running = asyncio.create_task(serve_webhook(app, config, stop, "secret-0123456789"))
    await _logged(caplog, "webhook.register_failed")
    stop.set()
    await asyncio.wait_for(running, 1)
    assert not app.running
