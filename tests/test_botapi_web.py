"""The web chat's JSON API on the built-in Bot API server (bot/botapi/web.py), driving the
real bot: what a browser sends becomes the update Telegram would send, and what it reads
is what the bot sent through the Bot API."""

from __future__ import annotations

import asyncio
import json
import re

import httpx
import pytest

from bot.botapi.web import PAGE
from bot.core.access import Role
from tests.conftest import TEST_TOKEN
from tests.photos import photo

WORKER = 4101
GROUP = -100777
GROUP_OTHER = -100778


@pytest.fixture
async def web(tg):
    """An HTTP client on the test server (in-process), as the page's fetch calls are."""
    async with httpx.AsyncClient(transport=tg.server.transport(), base_url="http://demo") as c:
        yield c


async def worker(tg):
    await tg.add(WORKER, "WL-WH-CZ-01", Role.WORKER, "李秀英")
    tg.server.user(WORKER, "李秀英")


async def said(web, chat: int, text: str, since: int | None = None) -> dict:
    """Long-poll the chat until a bot message contains ``text``; the chat's state."""
    for _ in range(40):
        query = f"?since={since}&wait=2" if since is not None else ""
        state = (await web.get(f"/api/chats/{chat}{query}")).json()
        since = state["version"]
        bot = [m for m in state["messages"] if m["from"]["is_bot"]]
        if bot and text in (bot[-1].get("text") or bot[-1].get("caption") or ""):
            return state
    raise AssertionError(f"the bot did not say {text!r}: {state['messages'][-3:]}")


async def act(web, chat: int, action: str, **payload) -> dict:
    answer = await web.post(f"/api/chats/{chat}/{action}", json={"user_id": WORKER, **payload})
    assert answer.status_code == 200, answer.text
    return answer.json()


async def press(web, state: dict, label: str) -> None:
    message = [m for m in state["messages"] if m["from"]["is_bot"]][-1]
    rows = message["reply_markup"]["inline_keyboard"]
    data = next(b["callback_data"] for row in rows for b in row if b["text"] == label)
    await act(web, WORKER, "press", message_id=message["message_id"], data=data)


async def test_the_page_and_its_files_are_served_and_nothing_else(tg, web):
    page = await web.get("/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert '<script src="/page/chat.js">' in page.text
    for name, kind in (("chat.js", "text/javascript"), ("chat.css", "text/css")):
        answer = await web.get(f"/page/{name}")
        assert answer.headers["content-type"].startswith(kind)
        assert answer.content == (PAGE / name).read_bytes()
    for path in ("/page/../web.py", "/page/%2e%2e%2fweb.py", "/page/web.py", "/nothing", "/api/x"):
        assert (await web.get(path)).status_code == 404, path
    # Nothing of the page comes from the internet: no address of another host in its files.
    for path in PAGE.iterdir():
        assert not re.search(r"https?://|//[\w-]+\.[\w.-]+/", path.read_text()), path
    tg.server.page_config = {"personas": [{"key": "worker"}]}
    assert (await web.get("/api/config")).json() == {"personas": [{"key": "worker"}]}


async def test_a_report_through_the_web_api_reaches_the_real_bot(tg, web):
    await worker(tg)
    await act(web, WORKER, "text", text="/start")
    state = await said(web, WORKER, "李秀英")
    assert state["chat"]["type"] == "private"
    await act(web, WORKER, "text", text="/report")
    state = await said(web, WORKER, "请输入自备井的编号或地址")
    await act(web, WORKER, "text", text="新华路 88 号")
    state = await said(web, WORKER, "要新建吗", state["version"])
    await press(web, state, "➕ 新建地点“新华路 88 号”")
    state = await said(web, WORKER, "请选择现场状态", state["version"])
    await press(web, state, "已封停")
    state = await said(web, WORKER, "请发送 1–10 张", state["version"])

    picture = photo(4101)
    answer = await web.post(
        f"/api/chats/{WORKER}/photo?user_id={WORKER}&caption=north",
        content=picture,
        headers={"content-type": "image/jpeg"},
    )
    assert answer.status_code == 200, answer.text
    state = await said(web, WORKER, "照片已齐", state["version"])
    sent = [m for m in state["messages"] if "photo" in m][-1]
    assert sent["caption"] == "north" and sent["from"]["id"] == WORKER
    largest = sent["photo"][-1]["file_id"]
    download = await web.get(f"/api/files/{largest}")
    assert download.content == picture and download.headers["content-type"] == "image/jpeg"

    await press(web, state, "✅ 照片已齐（1 张）")
    state = await said(web, WORKER, "发送当前位置", state["version"])
    assert state["keyboard"][0][0]["request_location"] is True  # the reply keyboard
    await act(web, WORKER, "location", latitude=33.01, longitude=112.53)
    state = await said(web, WORKER, "请核对", state["version"])  # the caption was the note
    assert "备注：north" in state["messages"][-1]["text"]
    shared = {"latitude": 33.01, "longitude": 112.53}
    assert any(m.get("location") == shared for m in state["messages"])
    await press(web, state, "✅ 提交")
    await said(web, WORKER, "上报已提交", state["version"])
    async with (
        tg.services.db.read() as conn,
        conn.execute(
            "SELECT count(*) FROM report r JOIN site s ON s.id = r.site_id WHERE s.code = ?",
            ("新华路 88 号",),
        ) as cur,
    ):
        assert (await cur.fetchone())[0] == 1


async def test_a_long_poll_waits_for_a_change_and_returns_with_it(tg, web):
    await worker(tg)
    version = (await web.get(f"/api/chats/{WORKER}")).json()["version"]
    poll = asyncio.ensure_future(web.get(f"/api/chats/{WORKER}?since={version}&wait=20"))
    await asyncio.sleep(0.3)
    assert not poll.done()  # nothing changed yet
    await act(web, WORKER, "text", text="/start")
    state = (await asyncio.wait_for(poll, 10)).json()
    assert state["version"] > version
    assert state["messages"][0]["text"] == "/start"


async def test_a_stale_button_answers_with_a_toast_in_the_chat_it_was_pressed_in(tg, web):
    await worker(tg)
    await act(web, WORKER, "text", text="/report")
    state = await said(web, WORKER, "请输入自备井的编号或地址")
    await act(web, WORKER, "text", text="新华路 88 号")
    state = await said(web, WORKER, "要新建吗", state["version"])
    await act(web, WORKER, "text", text="/cancel")
    state = await said(web, WORKER, "", state["version"])
    message = next(m for m in state["messages"] if m.get("reply_markup"))
    rows = message["reply_markup"]["inline_keyboard"]
    await act(
        web, WORKER, "press", message_id=message["message_id"], data=rows[0][0]["callback_data"]
    )
    for _ in range(50):
        state = (await web.get(f"/api/chats/{WORKER}?since={state['version']}&wait=5")).json()
        if state["toasts"]:
            break
    assert "已结束或已过期" in state["toasts"][-1]["text"]
    assert (await web.get(f"/api/chats/{GROUP_OTHER}")).status_code == 404


async def test_the_command_menu_is_the_narrowest_one_the_bot_set_for_the_chat(tg, web):
    await worker(tg)
    state = (await web.get(f"/api/chats/{WORKER}?user_id={WORKER}")).json()
    public = [c["command"] for c in state["commands"]]
    assert "start" in public and "report" not in public  # set by the bot at start

    async def set_commands(scope: dict, names: list[str], language: str | None = None) -> None:
        params = {"scope": scope, "commands": [{"command": n, "description": n} for n in names]}
        if language:
            params["language_code"] = language
        status, _ = await tg.server.dispatch("setMyCommands", TEST_TOKEN, params)
        assert status == 200

    await set_commands({"type": "chat", "chat_id": WORKER}, ["report", "update"])
    await set_commands({"type": "chat", "chat_id": WORKER}, ["report_en"], "en")
    state = (await web.get(f"/api/chats/{WORKER}?user_id={WORKER}")).json()
    assert [c["command"] for c in state["commands"]] == ["report", "update"]
    tg.server.users[WORKER]["language_code"] = "en"
    state = (await web.get(f"/api/chats/{WORKER}?user_id={WORKER}")).json()
    assert [c["command"] for c in state["commands"]] == ["report_en"]


async def test_a_document_sent_from_the_page_reaches_the_bot_and_downloads(tg, web):
    await worker(tg)
    tg.server.group(GROUP, "工作群")
    answer = await web.post(
        f"/api/chats/{GROUP}/document?user_id={WORKER}&file_name=plan.pdf",
        content=b"%PDF-1.4 plan",
        headers={"content-type": "application/pdf"},
    )
    assert answer.status_code == 200, answer.text
    state = (await web.get(f"/api/chats/{GROUP}")).json()
    document = state["messages"][-1]["document"]
    assert document["file_name"] == "plan.pdf" and document["mime_type"] == "application/pdf"
    download = await web.get(f"/api/files/{document['file_id']}")
    assert download.content == b"%PDF-1.4 plan"
    assert download.headers["content-type"] == "application/pdf"
    await tg.settled()


async def test_bad_requests_get_a_clear_4xx_and_push_nothing(tg, web):
    await worker(tg)
    before = len(tg.server.pending_updates)
    bad = [
        ("/api/chats/4101/text", {"user_id": 999, "text": "hi"}, 400),  # no such user
        ("/api/chats/5/text", {"user_id": WORKER, "text": "hi"}, 404),  # no such chat
        ("/api/chats/4101/text", {"user_id": WORKER, "text": "  "}, 400),
        ("/api/chats/4101/location", {"user_id": WORKER, "latitude": 91, "longitude": 0}, 400),
        ("/api/chats/4101/location", {"user_id": WORKER, "latitude": "x", "longitude": 0}, 400),
        ("/api/chats/4101/press", {"user_id": WORKER, "message_id": 77, "data": "x"}, 400),
        ("/api/chats/4101/fly", {"user_id": WORKER}, 404),
        ("/api/controls/nothing", {}, 404),
    ]
    for path, payload, status in bad:
        answer = await web.post(path, json=payload)
        assert answer.status_code == status, (path, answer.text)
        assert answer.json()["ok"] is False and answer.json()["error"]
    not_json = await web.post("/api/chats/4101/text", content=b"{oops")
    assert not_json.status_code == 400
    not_image = await web.post(
        f"/api/chats/4101/photo?user_id={WORKER}", content=b"GIF? no", headers={}
    )
    assert not_image.status_code == 400
    assert (await web.get("/api/chats/abc")).status_code == 400
    assert (await web.get("/api/files/nothing")).status_code == 404
    assert len(tg.server.pending_updates) == before


async def test_a_control_runs_what_the_embedder_gave(tg, web):
    ran = []

    async def control() -> dict:
        ran.append(1)
        return {"clock": "2026-12-03 20:00"}

    tg.server.controls = {"jobs": control}
    answer = await web.post("/api/controls/jobs")
    assert answer.json() == {"ok": True, "result": {"clock": "2026-12-03 20:00"}}
    assert ran == [1]
    assert json.loads((await web.get("/api/config")).content) == {}


async def test_the_page_language_is_the_language_the_user_writes_in(tg, web):
    await worker(tg)
    await act(web, WORKER, "text", text="/start", lang="en")
    state = await said(web, WORKER, "Hello, 李秀英!")
    assert tg.server.users[WORKER]["language_code"] == "en"
    await act(web, WORKER, "text", text="/start", lang="zh")
    await said(web, WORKER, "您好，李秀英！", state["version"])


async def test_photos_picked_together_arrive_as_one_album(tg, web):
    await worker(tg)
    for seed in (1, 2):
        answer = await web.post(
            f"/api/chats/{WORKER}/photo?user_id={WORKER}&media_group_id=1733100000",
            content=photo(4200 + seed),
        )
        assert answer.status_code == 200, answer.text
    state = (await web.get(f"/api/chats/{WORKER}")).json()
    albums = [m.get("media_group_id") for m in state["messages"] if "photo" in m]
    assert albums == ["1733100000", "1733100000"]
    bad = await web.post(
        f"/api/chats/{WORKER}/photo?user_id={WORKER}&media_group_id=a;b", content=photo(4203)
    )
    assert bad.status_code == 400
    await tg.settled()
