"""The Bot API test server itself: it must fail loudly where Telegram would."""

from __future__ import annotations

import httpx

from tests.conftest import TEST_TOKEN
from tests.fakeapi import BotApiServer, FakeTransport, serve_http


async def _post(client: httpx.AsyncClient, path: str, **kwargs) -> httpx.Response:
    return await client.post(path, **kwargs)


async def test_wrong_token_unknown_method_and_missing_parameters():
    server = BotApiServer(TEST_TOKEN)
    server.user(10)
    async with httpx.AsyncClient(transport=FakeTransport(server), base_url="http://t") as client:
        assert (await _post(client, "/botWRONG/getMe")).status_code == 401
        unknown = await _post(client, f"/bot{TEST_TOKEN}/sendPoll", data={"chat_id": "10"})
        assert unknown.status_code == 404 and "not implemented" in unknown.json()["description"]
        assert [c.method for c in server.unknown_calls] == ["sendPoll"]
        missing = await _post(client, f"/bot{TEST_TOKEN}/sendMessage", data={"chat_id": "10"})
        assert missing.status_code == 400
        nowhere = await _post(
            client, f"/bot{TEST_TOKEN}/sendMessage", data={"chat_id": "99", "text": "x"}
        )
        assert nowhere.json()["description"] == "Bad Request: chat not found"
        ok = await _post(
            client,
            f"/bot{TEST_TOKEN}/sendMessage",
            data={"chat_id": "10", "text": "123", "reply_markup": '{"inline_keyboard": []}'},
        )
        assert ok.json()["result"]["text"] == "123"  # text stays text even if it looks numeric
        assert server.calls[-1].params["reply_markup"] == {"inline_keyboard": []}


async def test_failures_on_demand_and_uploads_over_loopback_http():
    server = BotApiServer(TEST_TOKEN)
    server.user(10)
    server.fail_next("sendMessage", 429, retry_after=3)
    async with serve_http(server) as url, httpx.AsyncClient(base_url=url) as client:
        limited = await _post(
            client, f"/bot{TEST_TOKEN}/sendMessage", data={"chat_id": 10, "text": "a"}
        )
        assert limited.status_code == 429
        assert limited.json()["parameters"] == {"retry_after": 3}
        sent = await _post(
            client,
            f"/bot{TEST_TOKEN}/sendDocument",
            data={"chat_id": "10"},
            files={"document": ("a.txt", b"hello bytes", "text/plain")},
        )
        assert sent.status_code == 200, sent.text
        file_id = sent.json()["result"]["document"]["file_id"]
        info = (await _post(client, f"/bot{TEST_TOKEN}/getFile", data={"file_id": file_id})).json()
        download = await client.get(f"/file/bot{TEST_TOKEN}/{info['result']['file_path']}")
        assert download.content == b"hello bytes"
        assert server.calls[-2].files["document"] == b"hello bytes"


async def test_updates_are_confirmed_by_offset_and_long_poll_wakes_on_push():
    import asyncio

    server = BotApiServer(TEST_TOKEN)
    user = server.user(10)
    poll = asyncio.create_task(server.dispatch("getUpdates", TEST_TOKEN, {"timeout": 5}, {}))
    await asyncio.sleep(0)
    first = user.send_text("/help")
    status, body = await asyncio.wait_for(poll, 1)
    assert status == 200 and [u["update_id"] for u in body["result"]] == [first["update_id"]]
    assert body["result"][0]["message"]["entities"][0]["length"] == 5
    second = user.send_text("你好")
    _, again = await server.dispatch("getUpdates", TEST_TOKEN, {"offset": second["update_id"]}, {})
    assert [u["update_id"] for u in again["result"]] == [second["update_id"]]
    assert server.confirmed_offset == second["update_id"]
    assert "entities" not in again["result"][0]["message"]
