"""Members' command menus are synced in the background after start-up: updates are
answered at once, however many members there are, and every menu is still set."""

from __future__ import annotations

import asyncio
import json

from bot.botapi import ApiCall, BotApiServer
from bot.config import load_config
from bot.core.access import Role
from bot.formats.orgfile import read_org_file
from bot.services import Services
from tests.conftest import EXAMPLE_ORG, TEST_TOKEN, add_member, start_app, stop_app, write_config

MEMBERS = 300
FEW = 60
FIRST = 5000


async def _city_with_workers(config, clock, members: int = MEMBERS) -> None:
    services = await Services.open(config, clock=clock)
    try:
        await services.org.import_rows(read_org_file(EXAMPLE_ORG), str(EXAMPLE_ORG))
        for i in range(members):
            name = f"网格员{chr(0x4E00 + i)}"
            await add_member(services, FIRST + i, "WL-WH-CZ", Role.WORKER, name)
    finally:
        await services.close()


def _scope(call: ApiCall) -> dict:
    scope = call.params.get("scope") or {}
    return json.loads(scope) if isinstance(scope, str) else scope


def _chat_menu_calls(server: BotApiServer) -> list[ApiCall]:
    """setMyCommands calls that gave one member's chat its own menu, in call order."""
    return [
        call
        for call in server.calls_to("setMyCommands")
        if call.ok and _scope(call).get("type") == "chat"
    ]


def _chat_menus(server: BotApiServer) -> list[int]:
    """The member chats that were given their own menu, in call order."""
    return [_scope(call)["chat_id"] for call in _chat_menu_calls(server)]


async def test_300_members_the_first_update_is_answered_before_the_menus_are_synced(
    tmp_path, clock
):
    loaded = load_config(write_config(tmp_path, f'[telegram]\ntoken = "{TEST_TOKEN}"\n'))
    # Fast pacing, so that the test does not wait half a minute for the last menu.
    config = loaded.model_copy(
        update={"telegram": loaded.telegram.model_copy(update={"menu_syncs_per_second": 500})}
    )
    await _city_with_workers(config, clock)
    server = BotApiServer(TEST_TOKEN)
    app = await start_app(config, server, clock)
    try:
        worker = server.user(FIRST + MEMBERS - 1)
        whoami = await worker.ask("/whoami", timeout=10)
        assert "角色：网格员" in whoami.text

        async with asyncio.timeout(30):
            while len(set(_chat_menus(server))) < MEMBERS:
                await asyncio.sleep(0.05)
        # Answered while the menus were still being set (by the order of the calls).
        last_menu = _chat_menu_calls(server)[-1].seq
        assert whoami.seq < last_menu, (whoami.seq, last_menu)
        for telegram_id in (FIRST, FIRST + MEMBERS // 2, FIRST + MEMBERS - 1):
            for language in (None, "en"):
                menu = [c["command"] for c in server.commands("chat", language, telegram_id)]
                assert "report" in menu and "whoami" in menu
        # Each chat got its menu once (both languages): nothing was sent twice.
        assert len(_chat_menus(server)) == 2 * MEMBERS
    finally:
        await stop_app(app)


async def test_a_restart_sets_no_menu_that_is_already_right(tmp_path, clock):
    """The digest recorded per chat: a second start makes no per-chat menu call, and
    stopping while the sync runs leaves the rest for the next start."""
    loaded = load_config(write_config(tmp_path, f'[telegram]\ntoken = "{TEST_TOKEN}"\n'))
    config = loaded.model_copy(
        update={"telegram": loaded.telegram.model_copy(update={"menu_syncs_per_second": 100})}
    )
    await _city_with_workers(config, clock, FEW)
    server = BotApiServer(TEST_TOKEN)
    app = await start_app(config, server, clock)
    async with asyncio.timeout(30):
        while len(_chat_menus(server)) < 10:
            await asyncio.sleep(0.01)
    await stop_app(app)  # cancels the sync part-way, cleanly
    done_first = len(set(_chat_menus(server)))
    assert done_first < FEW

    app = await start_app(config, server, clock)
    try:
        async with asyncio.timeout(30):
            while len(set(_chat_menus(server))) < FEW:
                await asyncio.sleep(0.05)
        # The second start set only the menus the first had not (and again the one
        # member whose two calls the stop may have cut between).
        assert 2 * FEW <= len(_chat_menus(server)) <= 2 * FEW + 2
    finally:
        await stop_app(app)


async def test_a_member_moved_while_the_sync_runs_gets_the_menu_of_the_new_role(tmp_path, clock):
    """The sync decides each chat's menu when it reaches it, not from the list it made
    at start: a member made lead meanwhile is never given the worker menu back."""
    loaded = load_config(write_config(tmp_path, f'[telegram]\ntoken = "{TEST_TOKEN}"\n'))
    config = loaded.model_copy(
        update={"telegram": loaded.telegram.model_copy(update={"menu_syncs_per_second": 100})}
    )
    await _city_with_workers(config, clock, FEW)
    server = BotApiServer(TEST_TOKEN)
    app = await start_app(config, server, clock)
    try:
        last = FIRST + FEW - 1
        assert last not in _chat_menus(server)
        await add_member(app.bot_data.services, last, "WL-WH", Role.LEAD, "钱二")
        async with asyncio.timeout(30):
            while len(set(_chat_menus(server))) < FEW:
                await asyncio.sleep(0.05)
        await asyncio.wait_for(app.bot_data.menu_sync, 10)
        assert "assign" in [c["command"] for c in server.commands("chat", None, last)]
        assert "assign" not in [c["command"] for c in server.commands("chat", None, FIRST)]
    finally:
        await stop_app(app)
