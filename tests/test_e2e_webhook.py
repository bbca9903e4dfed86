"""Webhook mode over loopback: the bot registers its URL and secret, the test Bot API
server posts updates to it as Telegram does; requests without the right secret get
403 and change nothing; other bad requests get 4xx."""

from __future__ import annotations

import asyncio
from contextlib import asynccontextmanager

import httpx
import pytest
from telegram.request import HTTPXRequest

from bot.app import build_application
from bot.botapi.server import BotApiServer
from bot.config import load_config
from bot.core.access import Role
from bot.runtime.webhook import SECRET_HEADER, serve
from tests.conftest import EXAMPLE_ORG, TEST_TOKEN, write_config

URL = "https://bot.example.org/gridbot/hook"


@asynccontextmanager
async def webhook_bot(tmp_path, secret_line: str = ""):
    server = BotApiServer(TEST_TOKEN)
    config = load_config(
        write_config(
            tmp_path,
            f'[telegram]\ntoken = "{TEST_TOKEN}"\n'
            f'[webhook]\nurl = "{URL}"\nlisten = "127.0.0.1"\nport = 0\n{secret_line}',
        )
    )
    transport = server.transport()
    app = build_application(config, request=HTTPXRequest(httpx_kwargs={"transport": transport}))
    stop, ports = asyncio.Event(), asyncio.Queue()
    secret = config.webhook.secret_value() or "generated-secret-0123456789"
    task = asyncio.create_task(serve(app, config, stop, secret, started=ports.put_nowait))
    port = await asyncio.wait_for(ports.get(), 10)
    target = f"http://127.0.0.1:{port}/gridbot/hook"
    delivery = asyncio.create_task(server.deliver_webhook(target, stop))
    services = app.bot_data.services
    from bot.formats.orgfile import read_org_file

    await services.org.import_rows(read_org_file(EXAMPLE_ORG), str(EXAMPLE_ORG))
    try:
        yield server, services, target
    finally:
        stop.set()
        server.signal.notify()
        await asyncio.wait_for(asyncio.gather(task, delivery), 10)


async def test_updates_arrive_with_the_secret_and_are_answered(tmp_path):
    async with webhook_bot(tmp_path, 'secret = "s3cret-from-the-config_file"\n') as (
        server,
        services,
        _,
    ):
        assert server.webhook["url"] == URL
        assert server.webhook["secret_token"] == "s3cret-from-the-config_file"
        assert server.webhook["allowed_updates"] == [
            "message",
            "edited_message",
            "callback_query",
            "my_chat_member",
        ]
        await services.members.add_by_operator(1001, "NY", Role.ADMIN, "市管理员")
        admin = server.user(1001)
        assert "姓名：市管理员" in (await admin.ask("/whoami")).text
        assert "操作日志" in (await admin.ask("/audit")).text
        assert server.webhook_answers == [200, 200]
        assert not server.pending_updates
        async with asyncio.timeout(5):
            while True:  # committed before the 200, then marked done once handled
                async with (
                    services.db.read() as conn,
                    conn.execute("SELECT count(*) FROM inbox WHERE done_at IS NOT NULL") as cur,
                ):
                    if (await cur.fetchone())[0] == 2:
                        break
                await asyncio.sleep(0.01)


@pytest.mark.parametrize(
    "headers",
    [{}, {SECRET_HEADER: "wrong"}, {SECRET_HEADER: "s3cret-from-the-config_fil"}],
    ids=["missing", "wrong", "prefix"],
)
async def test_requests_without_the_secret_get_403_and_change_nothing(tmp_path, headers):
    async with webhook_bot(tmp_path, 'secret = "s3cret-from-the-config_file"\n') as (
        server,
        services,
        target,
    ):
        await services.members.add_by_operator(1001, "NY", Role.ADMIN, "市管理员")
        before = len(server.calls)
        forged = {
            "update_id": 999,
            "message": {
                "message_id": 1,
                "date": 1790000000,
                "chat": {"id": 1001, "type": "private", "first_name": "x"},
                "from": {"id": 1001, "is_bot": False, "first_name": "x"},
                "text": "/invite WL worker",
                "entities": [{"type": "bot_command", "offset": 0, "length": 7}],
            },
        }
        async with httpx.AsyncClient() as client:
            answer = await client.post(target, json=forged, headers=headers)
            assert answer.status_code == 403
            right = {SECRET_HEADER: "s3cret-from-the-config_file"}
            assert (await client.get(target, headers=right)).status_code == 405
            wrong_path = target.replace("/hook", "/other")
            assert (await client.post(wrong_path, json=forged, headers=right)).status_code == 404
            bad = await client.post(target, content=b"{not json", headers=right)
            assert bad.status_code == 400
            assert (await client.post(target, json=[1], headers=right)).status_code == 400
        await asyncio.sleep(0.3)
        assert len(server.calls) == before  # nothing was answered or sent
        async with services.db.read() as conn, conn.execute("SELECT count(*) FROM invite") as cur:
            assert (await cur.fetchone())[0] == 0
        async with services.db.read() as conn, conn.execute("SELECT count(*) FROM inbox") as cur:
            assert (await cur.fetchone())[0] == 0


async def test_without_a_configured_secret_a_random_one_is_registered(tmp_path):
    async with webhook_bot(tmp_path) as (server, _, _):
        assert server.webhook["secret_token"] == "generated-secret-0123456789"
