"""The durable inbox and gridbot's own polling: an update is committed before Telegram
is told it arrived; what was unfinished at a stop is handled at the next start; the
same message under another update id is handled once; getUpdates failures back off,
log once per state change and recover; the watchdog restarts a dead loop."""

from __future__ import annotations

import asyncio
import json
import logging

from bot.botapi.updates import text_content
from bot.core.access import Role
from bot.domain.inbox import MAX_ATTEMPTS
from tests.conftest import sql_rows, start_app, stop_app

ADMIN = 1001


async def _inbox(tg) -> list[tuple]:
    async with (
        tg.services.db.read() as conn,
        conn.execute(
            "SELECT update_id, done_at IS NOT NULL, attempts FROM inbox ORDER BY update_id"
        ) as cur,
    ):
        return [tuple(row) for row in await cur.fetchall()]


async def test_every_update_is_committed_then_marked_done(tg):
    await tg.add(ADMIN, "NY", Role.ADMIN, "市管理员")
    admin = tg.server.user(ADMIN)
    update = await admin.send_text("/whoami")
    await admin.next_reply("sendMessage")
    await tg.settled()
    assert await _inbox(tg) == [(update["update_id"], 1, 0)]


async def test_a_store_failure_leaves_the_update_unconfirmed_until_it_is_stored(tg, caplog):
    await tg.add(ADMIN, "NY", Role.ADMIN, "市管理员")
    inbox = tg.services.inbox
    real, calls = inbox.receive, []

    async def failing_once(updates, *args):
        calls.append(len(updates))
        if len(calls) == 1:
            raise OSError("disk full")
        return await real(updates, *args)

    inbox.receive = failing_once
    try:
        with caplog.at_level(logging.WARNING, logger="gridbot.polling"):
            admin = tg.server.user(ADMIN)
            update = await admin.send_text("/whoami")
            assert await tg.clock.skip_sleep() == 1.0  # the poller's back-off, moved on
            reply = await admin.next_reply("sendMessage")
            assert "市管理员" in reply.text
    finally:
        inbox.receive = real
    assert calls[:2] == [1, 1]  # fetched again: Telegram was never told it arrived
    assert [r.message for r in caplog.records] == ["polling.failing", "polling.recovered"]
    await tg.settled()
    assert await _inbox(tg) == [(update["update_id"], 1, 0)]
    assert len(tg.server.calls_to("sendMessage", ADMIN)) == 1


async def test_the_same_message_under_another_update_id_is_handled_once(tg):
    await tg.add(ADMIN, "NY", Role.ADMIN, "市管理员")
    admin = tg.server.user(ADMIN)
    first = await admin.send_text("/invite WL worker")
    await admin.next_reply("sendMessage")
    tg.server.push("message", first["message"], chat_id=ADMIN)  # e.g. a new id sequence
    await tg.settled()
    assert len(tg.server.calls_to("sendMessage", ADMIN)) == 1
    async with tg.services.db.read() as conn, conn.execute("SELECT count(*) FROM invite") as cur:
        assert (await cur.fetchone())[0] == 1


async def test_an_update_that_cannot_be_stored_is_quarantined_and_the_rest_go_on(tg, caplog):
    """An unpaired surrogate cannot be encoded for SQLite: the whole batch failed to store
    and was fetched again forever, so no chat was answered any more."""
    await tg.add(ADMIN, "NY", Role.ADMIN, "市管理员")
    admin, stranger = tg.server.user(ADMIN), tg.server.user(2002)
    with caplog.at_level(logging.ERROR, logger="gridbot.inbox"):
        bad = await stranger.send_text("坏\ud800字")
        await stranger.send_text("/whoami")
        await admin.send_text("/whoami")
        assert "市管理员" in (await admin.next_reply("sendMessage", timeout=10)).text
        assert "2002" in (await stranger.next_reply("sendMessage", timeout=10)).text
        await tg.settled()
    assert [r.message for r in caplog.records] == ["inbox.quarantined"]
    assert not tg.server.pending_updates  # confirmed to Telegram, the bad one too
    async with tg.services.db.read() as conn:
        async with conn.execute(
            "SELECT update_id, chat_id, raw, error FROM inbox_quarantine"
        ) as cur:
            [(update_id, chat_id, raw, error)] = [tuple(r) for r in await cur.fetchall()]
        async with conn.execute("SELECT update_id FROM inbox") as cur:
            stored = {r[0] for r in await cur.fetchall()}
    assert (update_id, chat_id) == (bad["update_id"], 2002)
    assert raw.isascii() and json.loads(raw)["message"]["text"] == "坏\ud800字"
    assert error.startswith("UnicodeEncodeError")
    assert bad["update_id"] not in stored and len(stored) == 2
    assert len(tg.server.calls_to("sendMessage", 2002)) == 1


async def test_an_update_that_cannot_be_parsed_is_logged_and_the_rest_go_on(tg, caplog):
    """Updates are stored as they came and parsed only then: one PTB cannot read (a message
    without a date) is logged and marked done, and the ones behind it are handled. On main
    getUpdates parsed the batch first, failed on it, and fetched it again forever."""
    await tg.add(ADMIN, "NY", Role.ADMIN, "市管理员")
    admin = tg.server.user(ADMIN)
    with caplog.at_level(logging.ERROR, logger="gridbot.polling"):
        bad = tg.server.push(
            "message", {"message_id": 1, "chat": {"id": 2002, "type": "private"}}, chat_id=2002
        )
        await admin.send_text("/whoami")
        assert "市管理员" in (await admin.next_reply("sendMessage", timeout=10)).text
        await tg.settled()
    assert [r.message for r in caplog.records] == ["polling.unreadable_update"]
    assert (bad["update_id"], 1, 0) in await _inbox(tg)
    assert not tg.server.pending_updates


async def test_unfinished_updates_are_handled_at_the_next_start(tg, tmp_path):
    await tg.add(ADMIN, "NY", Role.ADMIN, "市管理员")
    await stop_app(tg.app)  # the bot is down; it had received two updates it never handled
    message = {
        "message_id": 77,
        "date": 1795400000,
        "chat": {"id": ADMIN, "type": "private", "first_name": "管理员"},
        "from": {"id": ADMIN, "is_bot": False, "first_name": "管理员"},
        **text_content("/invite WL-WH lead"),
    }
    stuck = {**message, "message_id": 78, **text_content("/invite WC lead")}
    for row in (
        (500, f"m:{ADMIN}:77", ADMIN, json.dumps({"update_id": 500, "message": message}),
         "2026-11-23T00:00:00Z", 0),
        (501, f"m:{ADMIN}:78", ADMIN, json.dumps({"update_id": 501, "message": stuck}),
         "2026-11-23T00:00:00Z", MAX_ATTEMPTS - 1),
    ):  # fmt: skip
        sql_rows(
            tg.services.config,
            "INSERT INTO inbox (update_id, dedupe, chat_id, payload, received_at, attempts) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            row,
        )
    tg.app = await start_app(tg.services.config, tg.server, tg.clock)
    tg.services = tg.app.bot_data.services
    reply = await tg.server.wait_for(method="sendMessage", chat_id=ADMIN)
    assert "武侯街道" in reply.text  # handled after the restart
    await tg.settled()
    assert await _inbox(tg) == [(500, 1, 1), (501, 1, MAX_ATTEMPTS - 1)]
    await asyncio.sleep(0.1)
    assert not [c for c in tg.server.calls_to("sendMessage", ADMIN) if "宛城区" in c.text]


async def test_prune_keeps_unfinished_and_recent_updates(tg):
    await tg.add(ADMIN, "NY", Role.ADMIN, "市管理员")
    admin = tg.server.user(ADMIN)
    await admin.ask("/whoami")
    await tg.settled()
    async with tg.services.db.transaction() as conn:
        await conn.execute(
            "INSERT INTO inbox (update_id, payload, received_at) VALUES (1, '{}', 'x')"
        )  # unfinished: kept however old
        await conn.execute(
            "INSERT INTO inbox (update_id, payload, received_at, done_at) "
            "VALUES (2, '{}', 'x', '2026-11-01T00:00:00Z')"
        )
    assert await tg.services.inbox.prune() == 1
    assert [row[0] for row in await _inbox(tg)][:1] == [1] and len(await _inbox(tg)) == 2


async def test_outages_back_off_log_once_and_recover(tg, caplog):
    await tg.add(ADMIN, "NY", Role.ADMIN, "市管理员")
    tg.server.fail_next("getUpdates", status=502, retry_after=None, times=3)
    with caplog.at_level(logging.DEBUG, logger="gridbot.polling"):
        admin = tg.server.user(ADMIN)
        await admin.send_text("/whoami")
        # The back-off (on the bot's clock) doubles from 1 s; moved on here, not waited.
        waits = [await tg.clock.skip_sleep() for _ in range(3)]
        assert waits == [1.0, 2.0, 4.0]
        assert "市管理员" in (await admin.next_reply("sendMessage")).text
        await tg.settled()  # the offset moves on once getUpdates works again
        async with asyncio.timeout(5):
            while tg.app.bot_data.poller.failing_since is not None:  # its answer is back
                await asyncio.sleep(0.02)
    messages = [r.message for r in caplog.records if r.levelno >= logging.WARNING]
    assert messages == ["polling.failing", "polling.recovered"]
    recovered = next(r for r in caplog.records if r.message == "polling.recovered")
    assert recovered.fields["failures"] >= 3


async def test_the_watchdog_restarts_a_polling_loop_that_died(tg, caplog):
    await tg.add(ADMIN, "NY", Role.ADMIN, "市管理员")
    poller = tg.app.bot_data.poller
    await poller.stop()
    poller._stopping = False
    poller.watchdog_every = 0.05
    poller._watchdog_task = asyncio.create_task(poller._watchdog())
    with caplog.at_level(logging.ERROR, logger="gridbot.polling"):
        admin = tg.server.user(ADMIN)
        await admin.send_text("/whoami")
        assert "市管理员" in (await admin.next_reply("sendMessage", timeout=5)).text
    assert poller.restarts == 1
    assert [r.message for r in caplog.records] == ["polling.restarted"]


async def test_the_watchdog_waits_for_a_slow_commit_instead_of_cutting_it_off(tg, caplog):
    """A commit that is slow to come back (it has landed; the answer is late, as with a slow
    fsync) is not taken for a stuck loop: cancelled there, the batch would be stored but
    never handed to the handlers."""
    await tg.add(ADMIN, "NY", Role.ADMIN, "市管理员")
    poller = tg.app.bot_data.poller
    poller.read_margin = -30.8  # stuck after 0.2 s without an answer
    poller.watchdog_every = 0.05
    poller._watchdog_task.cancel()
    poller._watchdog_task = asyncio.create_task(poller._watchdog())
    inbox = tg.services.inbox
    receive = inbox.receive
    slow = {"left": 1}

    async def landed_but_slow(*args, **kwargs):
        stored = await receive(*args, **kwargs)
        if slow["left"] and stored:
            slow["left"] -= 1
            await asyncio.sleep(1.0)
        return stored

    inbox.receive = landed_but_slow
    with caplog.at_level(logging.ERROR, logger="gridbot.polling"):
        admin = tg.server.user(ADMIN)
        await admin.send_text("/whoami")
        assert "市管理员" in (await admin.next_reply("sendMessage", timeout=5)).text
    assert poller.restarts == 0
    assert "polling.restarted" not in [r.message for r in caplog.records]
    await tg.settled()
