"""One chat flooding the bot delays only itself (issue 14, item 1).

The send limit is off here (``max_messages_per_second = 0``): these tests are about
handling updates; sharing the send limit between chats is tested in test_fair_sending.
"""

from __future__ import annotations

import asyncio

import pytest
from telegram import Update

from bot.core.access import Role

FLOODER = 9101  # a stranger
MEMBER = 3201
GRID = "WL-WH-CZ-01"
NO_SEND_LIMIT = "max_messages_per_second = 0\n"


async def answers(tg, chat_id: int, count: int, timeout: float = 15.0) -> list:
    """The messages sent into ``chat_id`` once there are ``count`` of them (or the timeout
    passed): the chat's notice is sent by a task of its own, which ``settled`` (updates
    marked done) does not wait for, and a busy machine may lag behind the marks."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while len(tg.server.sent_messages(chat_id)) < count and loop.time() < deadline:
        await asyncio.sleep(0.01)
    return tg.server.sent_messages(chat_id)


@pytest.mark.parametrize("tg_config", [NO_SEND_LIMIT + "max_queued_per_chat = 1000\n"])
async def test_a_flooding_chat_does_not_hold_up_another_chats_command(tg):
    """300 updates of one chat, then another chat's /whoami: it is answered long before
    the flood is (on main it waited for a slot behind more than 200 of them), and the
    flood is still answered in full."""
    await tg.add(MEMBER, GRID, Role.WORKER, "网格员甲")
    flooder = tg.server.user(FLOODER, "陌生人")
    member = tg.server.user(MEMBER, "网格员甲")
    for _ in range(300):
        await flooder.send_text("/whoami")
    await member.send_text("/whoami")
    answer = await member.next_reply("sendMessage", timeout=60)
    assert "网格员甲" in answer.text
    ahead = [c for c in tg.server.sent_messages(flooder.chat_id) if c.seq < answer.seq]
    assert len(ahead) < 150, f"{len(ahead)} of the flood's replies went first"
    await tg.settled(timeout=60)
    assert len(tg.server.sent_messages(flooder.chat_id)) == 300


@pytest.mark.parametrize("tg_config", [NO_SEND_LIMIT + "max_queued_per_chat = 5\n"])
async def test_past_its_cap_a_chat_is_told_once_and_its_further_updates_are_dropped(tg, caplog):
    flooder = tg.server.user(FLOODER, "陌生人")
    with caplog.at_level("INFO", logger="gridbot.updates"):
        for _ in range(50):
            await flooder.send_text("/whoami")
        await tg.settled(timeout=30)
    notice = tg.services.catalogue.text("zh", "error.too_fast", count=5)
    sent = await answers(tg, flooder.chat_id, 6)
    # The five that were queued are answered; the chat is told once about the rest.
    assert [c.text for c in sent].count(notice) == 1
    assert len(sent) == 6
    dropped = [r for r in caplog.records if r.getMessage() == "update.dropped"]
    assert len(dropped) == 45
    assert all(r.fields["chat_id"] == flooder.chat_id for r in dropped)

    # Dropped updates are marked done: a restart does not run them.
    await tg.restart()
    await tg.settled()
    assert len(tg.server.sent_messages(flooder.chat_id)) == 6

    # Once its queue has emptied, the chat is answered again, without the notice.
    reply = await flooder.ask("/whoami")
    assert reply.text != notice and "Telegram ID" in reply.text


@pytest.mark.parametrize("tg_config", [NO_SEND_LIMIT + "max_queued_per_chat = 5\n"])
async def test_updates_past_the_cap_are_stored_done_without_being_parsed(tg, monkeypatch):
    """Intake's cost of a flood: an update its chat has no room for is committed done as
    it came, and never parsed (nor given a task, nor a commit of its own). On main every
    update was parsed, turned back into JSON for the inbox, and dropped only later."""
    parsed: list[int] = []
    de_json = Update.de_json.__func__  # type: ignore[attr-defined]

    def counted(cls, data, bot=None):
        parsed.append(data["update_id"])
        return de_json(cls, data, bot)

    monkeypatch.setattr(Update, "de_json", classmethod(counted))
    flooder = tg.server.user(FLOODER, "陌生人")
    sent = [await flooder.send_text("/whoami") for _ in range(50)]
    await tg.settled(timeout=30)
    assert len(await answers(tg, flooder.chat_id, 6)) == 6  # five answers, one notice
    # The five handled, and the first dropped one (for the notice) — not the 44 others.
    assert parsed == [u["update_id"] for u in sent[:6]]
    async with (
        tg.services.db.read() as conn,
        conn.execute("SELECT count(*) FROM inbox WHERE done_at IS NOT NULL") as cursor,
    ):
        assert (await cursor.fetchone())[0] == 50


@pytest.mark.parametrize("tg_config", [NO_SEND_LIMIT + "max_concurrent_updates = 2\n"])
async def test_each_chat_keeps_its_order_while_another_floods(tg):
    """With two slots, a chat's steps still run one after another, in the order sent,
    while another chat floods (on main the flood's queue took both slots)."""
    await tg.add(MEMBER, GRID, Role.WORKER, "网格员甲")
    flooder = tg.server.user(FLOODER, "陌生人")
    member = tg.server.user(MEMBER, "网格员甲")
    for _ in range(60):
        await flooder.send_text("/whoami")
    await member.send_text("/lang en")
    await member.send_text("/whoami")
    await member.send_text("/lang zh")
    await member.send_text("/whoami")
    replies = await member.next_replies(4, timeout=30)
    ahead = [c for c in tg.server.sent_messages(flooder.chat_id) if c.seq < replies[-1].seq]
    assert len(ahead) < 30, f"{len(ahead)} of the flood's replies went first"
    assert replies[0].text == "Language set to English."
    assert "Role: grid worker" in replies[1].text, replies[1].text
    assert "角色：网格员" in replies[3].text, replies[3].text
    await tg.settled(timeout=30)
