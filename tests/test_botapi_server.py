"""Tests of the fake Bot API server in ``bot.botapi``, alone and under a real PTB bot."""

from __future__ import annotations

import asyncio
import struct
import zlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
import pytest
from telegram import InlineKeyboardButton, InlineKeyboardMarkup, InputMediaPhoto, Update
from telegram.error import BadRequest, InvalidToken, NetworkError, RetryAfter, TimedOut
from telegram.ext import (
    Application,
    ApplicationBuilder,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
)
from telegram.request import HTTPXRequest

from bot.botapi import ApiCall, BotApiServer, parse_body, parse_html
from bot.botapi.entities import command_entities, utf16_len
from bot.botapi.updates import image_size

TOKEN = ":".join(("123456789", "AAtest-botapi-server_TOKEN"))  # made up


def png(width: int, height: int) -> bytes:
    """A valid tiny PNG header + IHDR (enough for the size sniffing)."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    chunk = b"IHDR" + ihdr
    return (
        b"\x89PNG\r\n\x1a\n"
        + struct.pack(">I", len(ihdr))
        + chunk
        + struct.pack(">I", zlib.crc32(chunk))
    )


@pytest.fixture
def server() -> BotApiServer:
    return BotApiServer(TOKEN)


async def call(server: BotApiServer, method: str, **params: object) -> tuple[int, dict]:
    return await server.dispatch(method, TOKEN, params, {})


# --------------------------------------------------------------------- the dispatch core


async def test_get_me_and_method_names_are_case_insensitive(server: BotApiServer) -> None:
    status, body = await call(server, "GETME")
    assert status == 200
    assert body["result"]["username"] == "gridbot_test_bot"
    assert body["result"]["is_bot"] is True
    assert server.calls[0].method == "getMe"


async def test_wrong_token_is_unauthorized(server: BotApiServer) -> None:
    status, body = await server.dispatch("getMe", "1:wrong", {}, {})
    assert (status, body["description"]) == (401, "Unauthorized")
    assert server.calls[-1].status == 401


async def test_unknown_method_is_404_and_recorded(server: BotApiServer) -> None:
    status, body = await call(server, "sendDice", chat_id=1)
    assert status == 404
    assert body["description"].startswith("Not Found: method sendDice is not implemented")
    assert [c.method for c in server.unknown_calls] == ["sendDice"]


async def test_send_message_validates_like_telegram(server: BotApiServer) -> None:
    server.user(1001)
    assert (await call(server, "sendMessage", text="hi"))[0] == 400
    _, body = await call(server, "sendMessage", chat_id=1001, text="  ")
    assert body["description"] == "Bad Request: message text is empty"
    _, body = await call(server, "sendMessage", chat_id=999, text="hi")
    assert body["description"] == "Bad Request: chat not found"
    bad = {"inline_keyboard": [[{"text": "x", "callback_data": "y" * 65}]]}
    _, body = await call(server, "sendMessage", chat_id=1001, text="hi", reply_markup=bad)
    assert body["description"] == "Bad Request: BUTTON_DATA_INVALID"
    assert [c.status for c in server.calls] == [400, 400, 400, 400]


async def test_sent_messages_get_per_chat_ids_and_echo(server: BotApiServer) -> None:
    server.user(1001)
    group = server.group(-1002000, "网格一组")
    markup = {"inline_keyboard": [[{"text": "是", "callback_data": "yes"}]]}
    first = (await call(server, "sendMessage", chat_id=1001, text="a", reply_markup=markup))[1]
    second = (await call(server, "sendMessage", chat_id=1001, text="/help me"))[1]
    in_group = (await call(server, "sendMessage", chat_id=-1002000, text="c"))[1]
    assert [first["result"]["message_id"], second["result"]["message_id"]] == [1, 2]
    assert in_group["result"]["message_id"] == 1
    assert in_group["result"]["chat"] == group
    assert first["result"]["reply_markup"] == markup
    assert first["result"]["from"]["id"] == server.bot["id"]
    assert second["result"]["entities"] == [{"type": "bot_command", "offset": 0, "length": 5}]
    assert [c.text for c in server.sent_messages(1001)] == ["a", "/help me"]
    assert len(server.calls_to("sendmessage", chat_id=-1002000)) == 1


async def test_blocked_user_gives_forbidden(server: BotApiServer) -> None:
    user = server.user(1001)
    user.block_bot()
    status, body = await call(server, "sendMessage", chat_id=1001, text="hi")
    assert (status, body["description"]) == (403, "Forbidden: bot was blocked by the user")


async def test_html_parse_mode(server: BotApiServer) -> None:
    server.user(1001)
    text = '<b>粗</b> &lt;x&gt; <a href="https://e.org">链接</a> 😀<i>i</i>'
    _, body = await call(server, "sendMessage", chat_id=1001, text=text, parse_mode="HTML")
    result = body["result"]
    assert result["text"] == "粗 <x> 链接 😀i"
    assert result["entities"] == [
        {"type": "bold", "offset": 0, "length": 1},
        {"type": "text_link", "url": "https://e.org", "offset": 6, "length": 2},
        {"type": "italic", "offset": 11, "length": 1},
    ]
    status, body = await call(
        server, "sendMessage", chat_id=1001, text="<div>x</div>", parse_mode="HTML"
    )
    assert status == 400
    assert body["description"].startswith("Bad Request: can't parse entities: Unsupported")


def test_html_errors_and_pre_code() -> None:
    text, entities = parse_html('<pre><code class="language-py">x = 1</code></pre>')
    assert (text, entities) == (
        "x = 1",
        [{"type": "pre", "language": "py", "offset": 0, "length": 5}],
    )
    for bad in ("<b>x", "<b>x</i>", "a < b", "x</b>"):
        with pytest.raises(ValueError):
            parse_html(bad)
    assert parse_html("a & b")[0] == "a & b"


def test_command_entities_and_utf16() -> None:
    text = "/start@gridbot_test_bot token"
    assert command_entities(text) == [{"type": "bot_command", "offset": 0, "length": 23}]
    assert command_entities("😀 /help") == [{"type": "bot_command", "offset": 3, "length": 5}]
    assert command_entities("a/b http://x/y /开始") == []
    assert utf16_len("张三😀") == 4


async def test_edits(server: BotApiServer) -> None:
    server.user(1001)
    markup = {"inline_keyboard": [[{"text": "A", "callback_data": "a"}]]}
    sent = (await call(server, "sendMessage", chat_id=1001, text="x", reply_markup=markup))[1]
    message_id = sent["result"]["message_id"]
    status, body = await call(
        server,
        "editMessageText",
        chat_id=1001,
        message_id=message_id,
        text="x",
        reply_markup=markup,
    )
    assert status == 400
    assert "message is not modified" in body["description"]
    _, body = await call(server, "editMessageText", chat_id=1001, message_id=message_id, text="y")
    assert body["result"]["text"] == "y"
    assert "reply_markup" not in body["result"]  # an edit without markup drops the keyboard
    assert "edit_date" in body["result"]
    _, body = await call(
        server, "editMessageReplyMarkup", chat_id=1001, message_id=message_id, reply_markup=markup
    )
    assert body["result"]["reply_markup"] == markup
    assert server.message(1001, message_id)["text"] == "y"
    status, body = await call(server, "editMessageText", chat_id=1001, message_id=99, text="z")
    assert body["description"] == "Bad Request: message to edit not found"


async def test_commands_per_scope_and_language(server: BotApiServer) -> None:
    commands = [{"command": "start", "description": "开始"}]
    private = {"type": "all_private_chats"}
    await call(server, "setMyCommands", commands=commands, scope=private)
    await call(
        server,
        "setMyCommands",
        commands=[{"command": "help", "description": "Help"}],
        scope=private,
        language_code="en",
    )
    await call(server, "setMyCommands", commands=commands, scope={"type": "chat", "chat_id": 5})
    assert server.commands() == commands
    assert server.commands(language_code="en")[0]["command"] == "help"
    assert server.commands("chat", chat_id=5) == commands
    assert server.commands("default") == []
    _, body = await call(server, "getMyCommands", scope=private)
    assert body["result"] == commands
    await call(server, "deleteMyCommands", scope={"type": "chat", "chat_id": 5})
    assert server.commands("chat", chat_id=5) == []
    status, _ = await call(server, "setMyCommands", commands=commands, language_code="zh-hans")
    assert status == 400
    status, _ = await call(
        server, "setMyCommands", commands=[{"command": "Bad!", "description": "x"}]
    )
    assert status == 400


async def test_get_updates_offset_limit_and_allowed_updates(server: BotApiServer) -> None:
    user = server.user(1001)
    first = await user.send_text("one")
    second = await user.send_text("two")
    third = await user.send_sticker()
    _, body = await call(server, "getUpdates", limit=2)
    assert [u["update_id"] for u in body["result"]] == [first["update_id"], second["update_id"]]
    _, body = await call(server, "getUpdates", offset=second["update_id"] + 1)
    assert [u["update_id"] for u in body["result"]] == [third["update_id"]]
    assert server.pending_updates == [third]
    await user.press(first, "nope", strict=False)
    _, body = await call(
        server, "getUpdates", offset=third["update_id"] + 1, allowed_updates=["message"]
    )
    assert body["result"] == []
    _, body = await call(server, "getUpdates", allowed_updates=[])
    assert "callback_query" in body["result"][0]


async def test_long_poll_wakes_on_push_and_times_out(server: BotApiServer) -> None:
    user = server.user(1001)
    poll = asyncio.create_task(call(server, "getUpdates", timeout=5))
    await server.wait_polling()
    update = await user.send_text("wake up")
    _, body = await asyncio.wait_for(poll, 1)
    assert body["result"] == [update]
    await server.wait_until_consumed(update)
    loop = asyncio.get_running_loop()
    started = loop.time()
    _, body = await call(server, "getUpdates", offset=update["update_id"] + 1, timeout=0.05)
    assert body["result"] == []
    assert 0.04 < loop.time() - started < 1


async def test_a_second_poller_terminates_the_first(server: BotApiServer) -> None:
    first = asyncio.create_task(call(server, "getUpdates", timeout=5))
    await server.wait_polling()
    second = asyncio.create_task(call(server, "getUpdates", timeout=0.01))
    status, body = await asyncio.wait_for(first, 1)
    assert status == 409
    assert "terminated by other getUpdates request" in body["description"]
    assert (await second)[0] == 200


async def test_webhook_blocks_get_updates(server: BotApiServer) -> None:
    await call(server, "setWebhook", url="https://example.org/hook")
    _, info = await call(server, "getWebhookInfo")
    assert info["result"]["url"] == "https://example.org/hook"
    assert (await call(server, "getUpdates"))[0] == 409
    await call(server, "deleteWebhook", drop_pending_updates=True)
    assert (await call(server, "getUpdates"))[0] == 200


async def test_fail_next_and_delay_next(server: BotApiServer) -> None:
    server.fail_next("getMe", status=429, retry_after=3)
    server.fail_next("getme", status=500)
    server.fail_next("getMe", status=502)
    status, body = await call(server, "getMe")
    assert status == 429
    assert body["parameters"] == {"retry_after": 3}
    assert (await call(server, "getMe"))[0] == 500
    assert (await call(server, "getMe"))[0] == 502
    assert (await call(server, "getMe"))[0] == 200
    server.delay_next("getMe", 0.05)
    loop = asyncio.get_running_loop()
    started = loop.time()
    assert (await call(server, "getMe"))[0] == 200
    assert loop.time() - started >= 0.04
    assert [c.status for c in server.calls] == [429, 500, 502, 200, 200]


async def test_wait_for_hands_each_call_out_once_and_fails_clearly(server: BotApiServer) -> None:
    alice, bob = server.user(1), server.user(2)
    await alice.send_text("hi")
    await call(server, "sendMessage", chat_id=2, text="to bob")
    await call(server, "sendMessage", chat_id=1, text="to alice 1")
    await call(server, "sendMessage", chat_id=1, text="to alice 2")
    assert (await alice.next_reply()).text == "to alice 1"
    assert (await server.wait_for(method="sendMessage", chat_id=1)).text == "to alice 2"
    assert (await bob.next_reply()).text == "to bob"
    with pytest.raises(AssertionError, match="recent calls") as failure:
        await alice.next_reply(timeout=0.01)
    assert "to alice 2" in str(failure.value)
    await call(server, "sendMessage", chat_id=2, text="again")
    found = await server.wait_for(lambda c: c.chat_id == 2, after=0)
    assert isinstance(found, ApiCall)
    assert (found.seq, found.text) == (3, "again")


async def test_photo_sizes_files_and_download(server: BotApiServer) -> None:
    user = server.user(1001)
    data = png(1600, 1200)
    update = await user.send_photo(data, caption="/report 现场")
    sizes = update["message"]["photo"]
    assert [(s["width"], s["height"]) for s in sizes] == [
        (90, 68),
        (320, 240),
        (800, 600),
        (1600, 1200),
    ]
    assert update["message"]["caption_entities"][0]["length"] == 7
    _, body = await call(server, "getFile", file_id=sizes[-1]["file_id"])
    path = body["result"]["file_path"]
    async with httpx.AsyncClient(transport=server.transport()) as client:
        response = await client.get(f"https://api.telegram.org/file/bot{TOKEN}/{path}")
        missing = await client.get(f"https://api.telegram.org/file/bot{TOKEN}/photos/none.jpg")
    assert response.content == data
    assert missing.status_code == 404
    assert image_size(data) == (1600, 1200)


async def test_pushed_updates_parse_in_ptb(server: BotApiServer) -> None:
    user = server.user(1001, "李", "四", "lisi", "en")
    sent = (
        await call(
            server,
            "sendMessage",
            chat_id=1001,
            text="pick",
            reply_markup={"inline_keyboard": [[{"text": "A", "callback_data": "a"}]]},
        )
    )[1]["result"]
    updates = [
        await user.send_text("/start@gridbot_test_bot token"),
        await user.send_document(b"%PDF", "报告.pdf", "application/pdf", caption="附件"),
        await user.send_location(31.23, 121.47),
        await user.send_contact("+8613800000000"),
        await user.send_sticker(),
        await user.send_voice(),
        await user.press_label(sent, "A"),
    ]
    updates.append(await user.send_edited_text(updates[0], "/help"))
    parsed = [Update.de_json(update, None) for update in updates]
    assert [u.update_id for u in parsed] == sorted({u.update_id for u in parsed})
    first = parsed[0].message
    assert first is not None and first.from_user is not None
    assert first.from_user.language_code == "en"
    assert first.parse_entities() == {first.entities[0]: "/start@gridbot_test_bot"}
    assert parsed[1].message.document.file_name == "报告.pdf"
    assert parsed[2].message.location.latitude == 31.23
    assert parsed[3].message.contact.user_id == 1001
    assert parsed[4].message.sticker is not None
    assert parsed[5].message.voice is not None
    query = parsed[6].callback_query
    assert (query.data, query.message.message_id) == ("a", sent["message_id"])
    assert parsed[7].edited_message.text == "/help"
    with pytest.raises(AssertionError, match="no button 'b'"):
        await user.press(sent, "b")


async def test_wait_until_consumed_explains_filtered_kinds(server: BotApiServer) -> None:
    user = server.user(1001)
    await call(server, "getUpdates", allowed_updates=["callback_query"])
    update = await user.send_text("ignored")
    with pytest.raises(AssertionError, match="not in allowed_updates"):
        await server.wait_until_consumed(update, timeout=0.01)


def test_parse_body_formats() -> None:
    request = httpx.Request(
        "POST",
        "http://x/",
        data={"chat_id": "5", "text": "123", "reply_markup": '{"inline_keyboard": []}'},
        files={"document": ('报告 "1".pdf', b"%PDF-1", "application/pdf")},
    )
    params, files = parse_body(request.headers["content-type"], request.read())
    assert params == {"chat_id": 5, "text": "123", "reply_markup": {"inline_keyboard": []}}
    assert files["document"].file_name == '报告 "1".pdf'
    assert files["document"].data == b"%PDF-1"
    assert files["document"].mime_type == "application/pdf"
    form = httpx.Request(
        "POST", "http://x/", data={"chat_id": "@chan", "disable_notification": "true"}
    )
    assert parse_body(form.headers["content-type"], form.read())[0] == {
        "chat_id": "@chan",
        "disable_notification": True,
    }
    assert parse_body("application/json", b'{"chat_id": 1}') == ({"chat_id": 1}, {})


# --------------------------------------------------------------------- with a real PTB bot


async def echo(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    assert update.message is not None
    keyboard = InlineKeyboardMarkup([[InlineKeyboardButton("好", callback_data="ok")]])
    await update.message.reply_text("echo: " + " ".join(context.args or []), reply_markup=keyboard)


async def pressed(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    query = update.callback_query
    assert query is not None
    await query.answer("收到")
    await query.edit_message_text(f"pressed {query.data}")


@asynccontextmanager
async def running_bot(
    server: BotApiServer, url: str | None = None, read_timeout: float = 5.0
) -> AsyncIterator[Application]:
    """A tiny PTB Application polling ``server`` in-process (or over HTTP at ``url``)."""
    builder = ApplicationBuilder().token(TOKEN)
    if url is None:
        transport = server.transport()
        builder = builder.request(
            HTTPXRequest(httpx_kwargs={"transport": transport}, read_timeout=read_timeout)
        ).get_updates_request(HTTPXRequest(httpx_kwargs={"transport": transport}))
    else:
        builder = builder.base_url(f"{url}/bot").base_file_url(f"{url}/file/bot")
    app = builder.build()
    app.add_handler(CommandHandler("echo", echo))
    app.add_handler(CallbackQueryHandler(pressed))
    await app.initialize()
    await app.start()
    assert app.updater is not None
    await app.updater.start_polling(poll_interval=0, timeout=1)
    try:
        yield app
    finally:
        await app.updater.stop()
        await app.stop()
        await app.shutdown()
    assert not server.unknown_calls


async def converse(server: BotApiServer, app: Application) -> None:
    """The same conversation in both modes: a command, a button press, files."""
    user = server.user(1001, username="zhangsan")
    reply = await user.ask("/echo 你好 world")
    assert reply.method == "sendMessage"
    assert reply.text == "echo: 你好 world"
    assert reply.buttons == [("好", "ok")]
    await user.press(reply, "ok")
    answer, edit = await user.next_replies(2)
    assert (answer.method, answer.params["text"]) == ("answerCallbackQuery", "收到")
    assert (edit.method, edit.text) == ("editMessageText", "pressed ok")
    assert server.message(1001, reply.message["message_id"])["text"] == "pressed ok"

    group = user.in_chat(server.group(-100777, "网格群"))
    in_group = await group.ask("/echo@gridbot_test_bot 群")
    assert in_group.chat_id == -100777
    assert in_group.message["reply_to_message"]["text"] == "/echo@gridbot_test_bot 群"

    photo = png(640, 480)
    update = await user.send_photo(photo)
    await server.wait_until_consumed(update)
    file = await app.bot.get_file(update["message"]["photo"][-1]["file_id"])
    assert bytes(await file.download_as_bytearray()) == photo

    sent = await app.bot.send_photo(1001, photo, caption="<b>图</b>", parse_mode="HTML")
    assert sent.caption == "图"
    assert server.file_bytes(sent.photo[-1].file_id) == photo
    assert server.calls_to("sendPhoto")[-1].files["photo"].data == photo
    document = await app.bot.send_document(1001, b"a,b\n1,2\n", filename="表.csv")
    assert document.document is not None
    assert (document.document.file_name, document.document.mime_type) == ("表.csv", "text/csv")
    album = await app.bot.send_media_group(1001, [InputMediaPhoto(photo), InputMediaPhoto(photo)])
    assert len({m.media_group_id for m in album}) == 1
    assert len(album) == 2


async def test_ptb_application_in_process(server: BotApiServer) -> None:
    async with running_bot(server) as app:
        await converse(server, app)


async def test_ptb_application_over_http(server: BotApiServer) -> None:
    async with server.serve_http() as url, running_bot(server, url) as app:
        assert url.startswith("http://127.0.0.1:")
        await converse(server, app)


# PTB 22.8 itself warns when it builds a RetryAfter (unless PTB_TIMEDELTA=1 is set)
@pytest.mark.filterwarnings("ignore::telegram.warnings.PTBDeprecationWarning")
async def test_ptb_sees_injected_failures(server: BotApiServer) -> None:
    server.user(1001)
    async with running_bot(server, read_timeout=0.2) as app:
        server.fail_next("sendMessage", status=429, retry_after=2)
        with pytest.raises(RetryAfter, match=r"Retry in (2 seconds|0:00:02)"):
            await app.bot.send_message(1001, "x")
        server.fail_next("sendMessage", status=500)
        with pytest.raises(NetworkError, match="Internal Server Error"):
            await app.bot.send_message(1001, "x")
        server.delay_next("sendMessage", 5)
        with pytest.raises(TimedOut):
            await app.bot.send_message(1001, "slow")
        assert server.sent_messages(1001)[-1].text == "slow"  # sent, but the answer was late
        with pytest.raises(BadRequest, match="Chat not found"):
            await app.bot.send_message(42, "x")
        with pytest.raises(InvalidToken, match="not implemented"):
            await app.bot.send_dice(1001)
        server.unknown_calls.clear()
        assert [c.status for c in server.calls_to("sendMessage")] == [429, 500, 200, 400]


async def test_http_keep_alive_and_clean_close(server: BotApiServer) -> None:
    connections: list[object] = []
    async with httpx.AsyncClient() as client:
        async with server.serve_http() as url:
            for _ in range(3):
                response = await client.post(f"{url}/bot{TOKEN}/getMe")
                assert response.json()["ok"] is True
                connections.append(response.extensions["network_stream"])
            assert (await client.post(f"{url}/bot{TOKEN}/getme", json={})).status_code == 200
            assert (await client.get(f"{url}/elsewhere")).status_code == 404
            long_poll = client.post(f"{url}/bot{TOKEN}/getUpdates", data={"timeout": "30"})
            poll = asyncio.create_task(long_poll)
            await server.wait_polling()
            # leaving serve_http with a long poll hanging must not wait for its timeout
        with pytest.raises(httpx.HTTPError):
            await asyncio.wait_for(poll, 1)
    assert len({id(stream) for stream in connections}) == 1  # one keep-alive connection
    assert [c.method for c in server.calls] == ["getMe"] * 4
    assert not server.polling
