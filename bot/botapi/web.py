"""The web chat: a small JSON API on the built-in Bot API server, and the page that uses it.

A person in a browser plays Telegram's users: everything they do becomes an update the
bot fetches with getUpdates, exactly as a test's :class:`bot.botapi.users.TestUser`
pushes it, and everything shown is what the bot sent through the Bot API. The page
(``page/``: plain HTML, CSS and JavaScript, no build step, nothing from the internet)
only draws messages and turns clicks into these calls:

    GET  /                                    the page (and /page/<file>: its files)
    GET  /api/config                          what the embedder set in ``page_config``
    GET  /api/chats/<chat>?since=V&wait=S     the chat: messages, reply keyboard, toasts;
                                              waits up to S s for a change after version V
    POST /api/chats/<chat>/text               {"user_id", "text"}
    POST /api/chats/<chat>/press              {"user_id", "message_id", "data"}
    POST /api/chats/<chat>/location           {"user_id", "latitude", "longitude"}
    POST /api/chats/<chat>/photo?user_id=U&caption=C[&media_group_id=A]  body: the image
    POST /api/chats/<chat>/document?user_id=U&file_name=N     body: the file bytes
    GET  /api/files/<file_id>                 a file the bot or a user sent
    POST /api/controls/<name>                 an action of the embedder (``controls``)

Answers are JSON (``{"ok": false, "error": ...}`` with a 4xx for a bad request).
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl

from bot.botapi.records import ApiError
from bot.botapi.updates import image_size
from bot.botapi.users import TestUser

if TYPE_CHECKING:
    from collections.abc import Mapping

    from bot.botapi.server import BotApiServer

Json = dict[str, Any]
Answer = tuple[int, str, bytes]

PAGE = Path(__file__).parent / "page"
_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".png": "image/png",
    ".svg": "image/svg+xml",
}
#: The longest a browser's long poll waits for a change, in seconds.
MAX_WAIT = 25.0
#: The largest upload taken from the page (Telegram's bots may get 20 MB).
MAX_UPLOAD = 20 * 1024 * 1024


class WebError(Exception):
    """A request the web API refuses: status and a short English reason."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


def _json(body: Any, status: int = 200) -> Answer:
    return status, "application/json; charset=utf-8", json.dumps(body).encode("utf-8")


async def handle_web(
    server: BotApiServer,
    verb: str,
    path: str,
    query: str,
    headers: Mapping[str, str],
    body: bytes,
) -> Answer:
    """Answer one request that is not a Bot API call: the page, or the JSON API."""
    try:
        return await _route(server, verb.upper(), path, dict(parse_qsl(query)), headers, body)
    except WebError as error:
        return _json({"ok": False, "error": error.reason}, error.status)
    except ApiError as error:  # e.g. the chat the page writes into is not known
        return _json({"ok": False, "error": error.description}, error.status)


async def _route(
    server: BotApiServer,
    verb: str,
    path: str,
    query: dict[str, str],
    headers: Mapping[str, str],
    body: bytes,
) -> Answer:
    parts = [part for part in path.split("/") if part]
    if verb in ("GET", "HEAD") and (not parts or parts[0] == "page"):
        return _static(parts[1:] if parts else ["index.html"])
    if parts[:1] != ["api"] or len(parts) < 2:
        raise WebError(404, "not found")
    if parts[1] == "config" and verb == "GET":
        return _json(server.page_config)
    if parts[1] == "files" and len(parts) == 3 and verb == "GET":
        return _file(server, parts[2])
    if parts[1] == "controls" and len(parts) == 3 and verb == "POST":
        control = server.controls.get(parts[2])
        if control is None:
            raise WebError(404, f"no control {parts[2]!r}")
        return _json({"ok": True, "result": await control()})
    if parts[1] == "chats" and len(parts) in (3, 4):
        chat_id = _integer(parts[2], "chat")
        if len(parts) == 3 and verb == "GET":
            return _json(await chat_state(server, chat_id, query))
        if len(parts) == 4 and verb == "POST":
            return _json(await _act(server, chat_id, parts[3], query, headers, body))
    raise WebError(404, "not found")


def _static(parts: list[str]) -> Answer:
    if len(parts) != 1 or parts[0].startswith("."):
        raise WebError(404, "not found")
    path = PAGE / parts[0]
    if path.suffix not in _TYPES or not path.is_file():
        raise WebError(404, "not found")
    return 200, _TYPES[path.suffix], path.read_bytes()


def _file(server: BotApiServer, file_id: str) -> Answer:
    stored = server.files.get(file_id)
    if stored is None:
        raise WebError(404, "no such file")
    kind = stored.mime_type
    if not kind:
        sniffed = stored.data[:4]
        kind = (
            "image/jpeg"
            if sniffed.startswith(b"\xff\xd8")
            else "image/png"
            if sniffed.startswith(b"\x89PNG")
            else "application/octet-stream"
        )
    return 200, kind, stored.data


def _integer(text: Any, what: str) -> int:
    try:
        return int(text)
    except (TypeError, ValueError):
        raise WebError(400, f"{what}: not a number") from None


def _number(value: Any, what: str, low: float, high: float) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise WebError(400, f"{what}: not a number") from None
    if not math.isfinite(number) or not low <= number <= high:
        raise WebError(400, f"{what}: out of range")
    return number


async def chat_state(server: BotApiServer, chat_id: int, query: Mapping[str, str]) -> Json:
    """What the page shows of a chat: every message (edits applied), the reply keyboard
    the bot last gave, the answers to button presses made from the page (toasts), and
    the server's version; with ``since``, first waits up to ``wait`` seconds for a
    change after that version."""
    since = query.get("since")
    if since is not None:
        after = _integer(since, "since")
        wait = min(_number(query.get("wait", "0"), "wait", 0, 3600), MAX_WAIT)
        await server.signal.wait_until(lambda: server.signal.version > after, wait)
    if chat_id not in server.chats:
        raise WebError(404, "no such chat")
    toasts = [
        {"seq": call.seq, "text": call.params["text"], "alert": bool(call.params.get("show_alert"))}
        for call in server.calls
        if call.method == "answerCallbackQuery"
        and call.ok
        and call.params.get("text")
        and server.query_chats.get(str(call.params.get("callback_query_id"))) == chat_id
    ]
    return {
        "version": server.signal.version,
        "now": server.now(),  # the server's time (a demo's clock), for the page's clock
        "chat": server.chats[chat_id],
        "commands": menu_commands(server, chat_id, query.get("user_id")),
        "messages": server.messages(chat_id),
        "keyboard": server.keyboard(chat_id),
        "toasts": toasts,
    }


def menu_commands(server: BotApiServer, chat_id: int, user_id: Any) -> list[Json]:
    """The command menu a Telegram client shows ``user_id`` in the chat: the narrowest
    setMyCommands scope that has commands (chat member, chat, the chat kind, default), in
    the user's language before the language-less list."""
    from bot.botapi.server import commands_key

    chat = server.chats[chat_id]
    user = server.users.get(int(user_id)) if str(user_id or "").lstrip("-").isdigit() else None
    language = str((user or {}).get("language_code") or "")[:2]
    kind = "all_private_chats" if chat["type"] == "private" else "all_group_chats"
    scopes: list[Json] = []
    if user is not None and chat["type"] != "private":
        scopes.append({"type": "chat_member", "chat_id": chat_id, "user_id": user["id"]})
    scopes += [{"type": "chat", "chat_id": chat_id}, {"type": kind}, {"type": "default"}]
    for scope in scopes:
        for code in (language, ""):
            found = server.my_commands.get(commands_key(scope, code or None))
            if found:
                return found
    return []


def _sender(server: BotApiServer, chat_id: int, user_id: Any, language: Any) -> TestUser:
    user = server.users.get(_integer(user_id, "user_id"))
    if user is None:
        raise WebError(400, "unknown user")
    chat = server.chats.get(chat_id)
    if chat is None:
        raise WebError(404, "no such chat")
    if language in ("zh", "en"):
        user["language_code"] = "zh-hans" if language == "zh" else "en"
    return TestUser(server, user, chat)


def _payload(body: bytes) -> Json:
    try:
        loaded = json.loads(body or b"{}")
    except ValueError:
        raise WebError(400, "the body is not JSON") from None
    if not isinstance(loaded, dict):
        raise WebError(400, "the body is not a JSON object")
    return loaded


async def _act(
    server: BotApiServer,
    chat_id: int,
    action: str,
    query: Mapping[str, str],
    headers: Mapping[str, str],
    body: bytes,
) -> Json:
    """One thing a person does in the page, pushed as the update Telegram would send."""
    if action in ("photo", "document"):
        sender = _sender(server, chat_id, query.get("user_id"), query.get("lang"))
        if not body or len(body) > MAX_UPLOAD:
            raise WebError(400, "the file is empty or too large")
        caption = query.get("caption") or None
        if action == "photo":
            if image_size(body) is None:
                raise WebError(400, "not a PNG, JPEG or GIF image")
            album = query.get("media_group_id") or None  # photos picked together
            if album is not None and not album.isalnum():
                raise WebError(400, "media_group_id: letters and digits only")
            update = await sender.send_photo(body, caption=caption, media_group_id=album)
        else:
            name = (query.get("file_name") or "file").replace("/", "_")[:128]
            kind = (headers.get("content-type") or "").split(";")[0].strip()
            update = await sender.send_document(
                body, name, kind or "application/octet-stream", caption
            )
        return {"ok": True, "update_id": update["update_id"]}
    payload = _payload(body)
    sender = _sender(server, chat_id, payload.get("user_id"), payload.get("lang"))
    if action == "text":
        text = payload.get("text")
        if not isinstance(text, str) or not text.strip() or len(text) > 4096:
            raise WebError(400, "text: empty or too long")
        update = await sender.send_text(text)
    elif action == "press":
        message_id = _integer(payload.get("message_id"), "message_id")
        data = payload.get("data")
        if not isinstance(data, str) or server.message(chat_id, message_id) is None:
            raise WebError(400, "no such message or button")
        try:
            update = await sender.press(message_id, data)
        except AssertionError as error:  # the message offers no such button (any more)
            raise WebError(400, str(error)) from None
        server.query_chats[update["callback_query"]["id"]] = chat_id
    elif action == "location":
        latitude = _number(payload.get("latitude"), "latitude", -90, 90)
        longitude = _number(payload.get("longitude"), "longitude", -180, 180)
        update = await sender.send_location(latitude, longitude)
    else:
        raise WebError(404, f"no action {action!r}")
    return {"ok": True, "update_id": update["update_id"]}
