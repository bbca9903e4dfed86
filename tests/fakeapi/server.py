"""A Bot API server for tests: the state, the methods, and the test's side of the chat.

It speaks enough of the real Bot API for python-telegram-bot to run against it
unchanged: ``getUpdates`` long-polls and confirms by ``offset``, sent messages get
per-chat ids, files can be uploaded and downloaded. Every call is recorded; calls it does
not know answer 404 and are kept in ``unknown_calls`` so a test can fail loudly.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import itertools
import json
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

Json = dict[str, Any]


@dataclass
class ApiCall:
    seq: int
    method: str
    params: Json
    files: dict[str, bytes]
    status: int
    result: Any = None

    @property
    def chat_id(self) -> int | None:
        value = self.params.get("chat_id")
        return (
            int(value)
            if isinstance(value, int | str) and str(value).lstrip("-").isdigit()
            else None
        )

    @property
    def text(self) -> str:
        return str(self.params.get("text") or self.params.get("caption") or "")

    @property
    def buttons(self) -> list[tuple[str, str]]:
        """(label, callback_data) of an inline keyboard, row by row."""
        markup = self.params.get("reply_markup") or {}
        return [
            (button.get("text", ""), button.get("callback_data", ""))
            for row in markup.get("inline_keyboard", [])
            for button in row
        ]


@dataclass
class _Failure:
    status: int
    retry_after: int | None
    delay: float = 0.0


_SHOWS = {
    "sendmessage",
    "sendphoto",
    "senddocument",
    "sendmediagroup",
    "editmessagetext",
    "editmessagereplymarkup",
}
_REQUIRED = {
    "sendmessage": ("chat_id", "text"),
    "sendphoto": ("chat_id", "photo"),
    "senddocument": ("chat_id", "document"),
    "sendmediagroup": ("chat_id", "media"),
    "editmessagetext": ("text",),
    "answercallbackquery": ("callback_query_id",),
    "getfile": ("file_id",),
    "setmycommands": ("commands",),
    "sendchataction": ("chat_id", "action"),
}


class BotApiServer:
    """The fake Telegram. ``dispatch`` is the whole API; transports only carry bytes."""

    def __init__(
        self, token: str, *, bot_id: int = 7000000001, bot_username: str = "gridbot_test_bot"
    ) -> None:
        self.token = token
        self.bot = {
            "id": bot_id,
            "is_bot": True,
            "first_name": "gridbot",
            "username": bot_username,
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
        }
        self.calls: list[ApiCall] = []
        self.unknown_calls: list[ApiCall] = []
        self.updates: list[Json] = []
        self.confirmed_offset = 0
        self.commands: dict[tuple[str, str | None], list[Json]] = {}
        self.files: dict[str, tuple[str, bytes]] = {}
        self.messages: dict[tuple[int, int], Json] = {}
        self.chats: dict[int, Json] = {}
        self._update_ids = itertools.count(1)
        self._message_ids: dict[int, itertools.count[int]] = {}
        self._file_ids = itertools.count(1)
        self._failures: dict[str, list[_Failure]] = {}
        self._changed = asyncio.Event()

    # ----- the API ------------------------------------------------------------------
    async def dispatch(
        self, method: str, token: str, params: Json, files: dict[str, bytes]
    ) -> tuple[int, Json]:
        name = method.lower()
        if token != self.token:
            return self._record(method, params, files, 401, None, "Unauthorized")
        failure = self._next_failure(name)
        if failure is not None:
            if failure.delay:
                await asyncio.sleep(failure.delay)
            if failure.status >= 400:
                return self._record(
                    method,
                    params,
                    files,
                    failure.status,
                    None,
                    _reason(failure.status),
                    retry_after=failure.retry_after,
                )
        handler = getattr(self, f"_m_{name}", None)
        if handler is None:
            status, body = self._record(
                method,
                params,
                files,
                404,
                None,
                f"Not Found: method {method} is not implemented by the test server",
            )
            self.unknown_calls.append(self.calls[-1])
            return status, body
        missing = [key for key in _REQUIRED.get(name, ()) if key not in params and key not in files]
        if missing:
            return self._record(
                method, params, files, 400, None, f"Bad Request: {missing[0]} is empty"
            )
        try:
            result = await handler(params, files)
        except _ApiError as exc:
            return self._record(method, params, files, exc.status, None, exc.description)
        return self._record(method, params, files, 200, result)

    def download(self, token: str, file_path: str) -> tuple[int, bytes]:
        if token != self.token:
            return 401, b"Unauthorized"
        for path, data in self.files.values():
            if path == file_path:
                return 200, data
        return 404, b"Not Found"

    def _record(
        self,
        method: str,
        params: Json,
        files: dict[str, bytes],
        status: int,
        result: Any,
        description: str = "",
        retry_after: int | None = None,
    ) -> tuple[int, Json]:
        call = ApiCall(len(self.calls), method, params, files, status, result)
        self.calls.append(call)
        self._notify()
        if status == 200:
            return 200, {"ok": True, "result": result}
        body: Json = {"ok": False, "error_code": status, "description": description}
        if retry_after is not None:
            body["parameters"] = {"retry_after": retry_after}
            body["description"] = f"Too Many Requests: retry after {retry_after}"
        return status, body

    def _notify(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()

    def _next_failure(self, name: str) -> _Failure | None:
        queue = self._failures.get(name)
        return queue.pop(0) if queue else None

    async def _m_getme(self, params: Json, files: dict[str, bytes]) -> Json:
        return self.bot

    async def _m_getupdates(self, params: Json, files: dict[str, bytes]) -> list[Json]:
        offset = int(params.get("offset") or 0)
        if offset:
            self.confirmed_offset = max(self.confirmed_offset, offset)
            self.updates = [u for u in self.updates if u["update_id"] >= offset]
        limit = int(params.get("limit") or 100)
        deadline = time.monotonic() + float(params.get("timeout") or 0)
        while True:
            ready = [u for u in self.updates if u["update_id"] >= offset][:limit]
            remaining = deadline - time.monotonic()
            if ready or remaining <= 0:
                return ready
            changed = self._changed
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(changed.wait(), remaining)

    async def _m_deletewebhook(self, params: Json, files: dict[str, bytes]) -> bool:
        return True

    async def _m_getwebhookinfo(self, params: Json, files: dict[str, bytes]) -> Json:
        return {"url": "", "has_custom_certificate": False, "pending_update_count": 0}

    async def _m_sendmessage(self, params: Json, files: dict[str, bytes]) -> Json:
        return self._new_message(params, {"text": str(params["text"])})

    async def _m_sendphoto(self, params: Json, files: dict[str, bytes]) -> Json:
        data = files.get("photo") or b""
        sizes = [self._store_file(data, "photos", width=800, height=600)]
        extra = {"photo": sizes}
        if params.get("caption"):
            extra["caption"] = str(params["caption"])
        return self._new_message(params, extra)

    async def _m_senddocument(self, params: Json, files: dict[str, bytes]) -> Json:
        data = files.get("document") or b""
        doc = self._store_file(data, "documents")
        doc["file_name"] = params.get("file_name") or "document"
        return self._new_message(params, {"document": doc})

    async def _m_sendmediagroup(self, params: Json, files: dict[str, bytes]) -> list[Json]:
        media = (
            params["media"] if isinstance(params["media"], list) else json.loads(params["media"])
        )
        group = f"mg{next(self._file_ids)}"
        return [
            self._new_message(
                params, {"photo": [self._store_file(b"", "photos")], "media_group_id": group}
            )
            for _ in media
        ]

    async def _m_editmessagetext(self, params: Json, files: dict[str, bytes]) -> Json:
        message = self._existing(params)
        message["text"] = str(params["text"])
        message["edit_date"] = int(time.time())
        if "reply_markup" in params:
            message["reply_markup"] = params["reply_markup"]
        else:
            message.pop("reply_markup", None)
        return message

    async def _m_editmessagereplymarkup(self, params: Json, files: dict[str, bytes]) -> Json:
        message = self._existing(params)
        message["reply_markup"] = params.get("reply_markup")
        return message

    async def _m_answercallbackquery(self, params: Json, files: dict[str, bytes]) -> bool:
        return True

    async def _m_getfile(self, params: Json, files: dict[str, bytes]) -> Json:
        file_id = str(params["file_id"])
        if file_id not in self.files:
            raise _ApiError(400, "Bad Request: invalid file_id")
        path, data = self.files[file_id]
        return {
            "file_id": file_id,
            "file_unique_id": _unique(data),
            "file_size": len(data),
            "file_path": path,
        }

    async def _m_setmycommands(self, params: Json, files: dict[str, bytes]) -> bool:
        self.commands[_scope_key(params)] = list(params["commands"])
        return True

    async def _m_deletemycommands(self, params: Json, files: dict[str, bytes]) -> bool:
        self.commands.pop(_scope_key(params), None)
        return True

    async def _m_getmycommands(self, params: Json, files: dict[str, bytes]) -> list[Json]:
        return self.commands.get(_scope_key(params), [])

    async def _m_sendchataction(self, params: Json, files: dict[str, bytes]) -> bool:
        return True

    def _new_message(self, params: Json, content: Json) -> Json:
        chat_id = int(params["chat_id"])
        chat = self.chats.get(chat_id)
        if chat is None:
            raise _ApiError(400, "Bad Request: chat not found")
        counter = self._message_ids.setdefault(chat_id, itertools.count(1))
        message: Json = {
            "message_id": next(counter),
            "date": int(time.time()),
            "chat": chat,
            "from": {k: self.bot[k] for k in ("id", "is_bot", "first_name", "username")},
            **content,
        }
        if params.get("reply_markup"):
            message["reply_markup"] = params["reply_markup"]
        self.messages[(chat_id, message["message_id"])] = message
        return message

    def _existing(self, params: Json) -> Json:
        key = (int(params.get("chat_id", 0)), int(params.get("message_id", 0)))
        if key not in self.messages:
            raise _ApiError(400, "Bad Request: message to edit not found")
        return self.messages[key]

    def _store_file(self, data: bytes, folder: str, **extra: int) -> Json:
        number = next(self._file_ids)
        file_id = f"F{number:06d}-{_unique(data)}"
        self.files[file_id] = (f"{folder}/file_{number}", data)
        return {
            "file_id": file_id,
            "file_unique_id": _unique(data),
            "file_size": len(data),
            **extra,
        }

    # ----- the test's side ----------------------------------------------------------
    def fail_next(
        self, method: str, status: int = 500, *, retry_after: int | None = None, times: int = 1
    ) -> None:
        """The next ``times`` calls of ``method`` fail with ``status`` (429 with
        ``retry_after`` seconds, 500, 502…)."""
        if status == 429 and retry_after is None:
            retry_after = 1
        self._failures.setdefault(method.lower(), []).extend(
            _Failure(status, retry_after) for _ in range(times)
        )

    def delay_next(self, method: str, seconds: float) -> None:
        """The next call of ``method`` answers normally, but only after ``seconds``."""
        self._failures.setdefault(method.lower(), []).append(_Failure(200, None, seconds))

    def user(
        self,
        user_id: int,
        first_name: str = "张三",
        *,
        username: str | None = None,
        language_code: str | None = "zh-hans",
    ) -> TestUser:
        user: Json = {"id": user_id, "is_bot": False, "first_name": first_name}
        if username:
            user["username"] = username
        if language_code:
            user["language_code"] = language_code
        chat = {"id": user_id, "type": "private", "first_name": first_name}
        self.chats[user_id] = chat
        return TestUser(self, user, chat)

    def group(self, chat_id: int, title: str) -> Json:
        chat = {"id": chat_id, "type": "group", "title": title}
        self.chats[chat_id] = chat
        return chat

    def push(self, kind: str, payload: Json) -> Json:
        update = {"update_id": next(self._update_ids), kind: payload}
        self.updates.append(update)
        self._notify()
        return update

    def upload(self, data: bytes, folder: str = "photos", **extra: int) -> Json:
        """Store bytes as a Telegram file (as if a user had sent them)."""
        return self._store_file(data, folder, **extra)

    def calls_to(self, method: str | None = None, chat_id: int | None = None) -> list[ApiCall]:
        return [
            c
            for c in self.calls
            if (method is None or c.method.lower() == method.lower())
            and (chat_id is None or c.chat_id == chat_id)
        ]

    def sent_messages(self, chat_id: int) -> list[ApiCall]:
        return [c for c in self.calls if c.method.lower() in _SHOWS and c.chat_id == chat_id]

    def menu(
        self, scope_type: str, language_code: str | None = None, chat_id: int | None = None
    ) -> list[str]:
        """Command names last set for a scope (``all_private_chats``, ``chat``…)."""
        scope: Json = {"type": scope_type}
        if chat_id is not None:
            scope["chat_id"] = chat_id
        key = (json.dumps(scope, sort_keys=True), language_code)
        return [c["command"] for c in self.commands.get(key, [])]

    async def wait_for(
        self, predicate: Callable[[ApiCall], bool], *, after: int = 0, timeout: float = 5.0
    ) -> ApiCall:
        """The first call at or after index ``after`` that satisfies ``predicate``."""
        deadline = time.monotonic() + timeout
        while True:
            for call in self.calls[after:]:
                if predicate(call):
                    return call
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                recent = "\n".join(
                    f"  {c.method} {c.status} {json.dumps(c.params, ensure_ascii=False)[:160]}"
                    for c in self.calls[max(after, len(self.calls) - 10) :]
                )
                raise AssertionError(
                    f"no matching Bot API call within {timeout}s; recent:\n{recent}"
                )
            changed = self._changed
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(changed.wait(), remaining)

    async def wait_consumed(self, update: Json, timeout: float = 5.0) -> None:
        """Until the bot has confirmed ``update`` with a later ``getUpdates`` offset."""
        mark = len(self.calls)

        def confirmed(call: ApiCall) -> bool:
            return self.confirmed_offset > update["update_id"]

        if self.confirmed_offset <= update["update_id"]:
            await self.wait_for(confirmed, after=mark, timeout=timeout)


class TestUser:
    """A person talking to the bot from a chat (their private chat by default)."""

    __test__ = False  # not a pytest class

    def __init__(self, server: BotApiServer, user: Json, chat: Json) -> None:
        self.server = server
        self.user = user
        self.chat = chat
        self.id: int = user["id"]
        self._message_ids = itertools.count(1)
        self._query_ids = itertools.count(1)

    def in_chat(self, chat: Json) -> TestUser:
        return TestUser(self.server, self.user, chat)

    def _message(self, **content: Any) -> Json:
        return {
            "message_id": 100000 + next(self._message_ids),
            "date": int(time.time()),
            "chat": self.chat,
            "from": self.user,
            **content,
        }

    def send_text(self, text: str) -> Json:
        content: Json = {"text": text}
        command = re.match(r"/[A-Za-z0-9_]{1,32}(@[A-Za-z0-9_]+)?(?=\s|$)", text)
        if command:  # Telegram marks only Latin command names as bot_command
            content["entities"] = [{"type": "bot_command", "offset": 0, "length": command.end()}]
        return self.server.push("message", self._message(**content))

    def send_sticker(self) -> Json:
        data = self.server.upload(b"sticker", "stickers", width=512, height=512)
        sticker = {**data, "type": "regular", "is_animated": False, "is_video": False}
        return self.server.push("message", self._message(sticker=sticker))

    def send_photo(self, data: bytes, caption: str | None = None) -> Json:
        photo = [self.server.upload(data, width=1280, height=960)]
        content: Json = {"photo": photo}
        if caption:
            content["caption"] = caption
        return self.server.push("message", self._message(**content))

    def send_album(self, photos: list[bytes], caption: str | None = None) -> list[Json]:
        """Photos sent together: one update each, sharing a ``media_group_id``."""
        group = f"album{next(self._message_ids)}"
        updates = []
        for index, data in enumerate(photos):
            content: Json = {
                "photo": [self.server.upload(data, width=1280, height=960)],
                "media_group_id": group,
            }
            if caption and index == 0:
                content["caption"] = caption
            updates.append(self.server.push("message", self._message(**content)))
        return updates

    def send_document(self, data: bytes, file_name: str, mime_type: str) -> Json:
        document = {**self.server.upload(data, "documents"), "file_name": file_name}
        document["mime_type"] = mime_type
        return self.server.push("message", self._message(document=document))

    def send_location(self, latitude: float, longitude: float) -> Json:
        location = {"latitude": latitude, "longitude": longitude}
        return self.server.push("message", self._message(location=location))

    def press(self, call: ApiCall, callback_data: str) -> Json:
        """Press a button under the bot message that ``call`` sent (or edited)."""
        result = call.result if isinstance(call.result, dict) else {}
        message = (
            self.server.messages.get(
                (result.get("chat", {}).get("id", self.chat["id"]), result.get("message_id", 0))
            )
            or result
        )
        query = {
            "id": f"{self.id}-{next(self._query_ids)}",
            "from": self.user,
            "chat_instance": str(self.chat["id"]),
            "data": callback_data,
            "message": message,
        }
        return self.server.push("callback_query", query)

    async def ask(self, text: str, timeout: float = 5.0) -> ApiCall:
        """Send ``text`` and return the bot's next visible answer in this chat."""
        mark = len(self.server.calls)
        self.send_text(text)
        return await self.next_reply(mark, timeout)

    async def next_reply(self, after: int, timeout: float = 5.0) -> ApiCall:
        chat_id = self.chat["id"]
        return await self.server.wait_for(
            lambda c: c.method.lower() in _SHOWS and c.chat_id == chat_id and c.status == 200,
            after=after,
            timeout=timeout,
        )

    async def press_and_wait(self, call: ApiCall, data: str, timeout: float = 5.0) -> ApiCall:
        """Press a button; return the bot's ``answerCallbackQuery`` for it."""
        mark = len(self.server.calls)
        update = self.press(call, data)
        query_id = update["callback_query"]["id"]
        return await self.server.wait_for(
            lambda c: (
                c.method.lower() == "answercallbackquery"
                and c.params.get("callback_query_id") == query_id
            ),
            after=mark,
            timeout=timeout,
        )


class _ApiError(Exception):
    def __init__(self, status: int, description: str) -> None:
        super().__init__(description)
        self.status = status
        self.description = description


def _reason(status: int) -> str:
    return {
        429: "Too Many Requests",
        500: "Internal Server Error",
        502: "Bad Gateway",
        400: "Bad Request",
    }.get(status, "Error")


def _unique(data: bytes) -> str:
    return "U" + hashlib.sha256(data).hexdigest()[:15]


def _scope_key(params: Json) -> tuple[str, str | None]:
    scope = params.get("scope") or {"type": "default"}
    if isinstance(scope, str):
        scope = json.loads(scope)
    return json.dumps(scope, sort_keys=True), params.get("language_code") or None
