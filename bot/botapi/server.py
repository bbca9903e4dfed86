"""The fake Bot API server: state, the dispatch core, recording, failures and waiting.

One ``BotApiServer`` is one bot account on a pretend Telegram. The bot talks to it through
``dispatch`` (via :mod:`bot.botapi.transport` in-process, or :mod:`bot.botapi.http` over
loopback); the test talks to it through :class:`bot.botapi.users.TestUser` and the
``wait_*`` helpers. Method implementations live in :mod:`bot.botapi.methods`.
"""

from __future__ import annotations

import asyncio
import copy
import itertools
import json
import time
from collections import defaultdict, deque
from collections.abc import Awaitable, Callable, Iterable, Mapping
from contextlib import AbstractAsyncContextManager
from typing import TYPE_CHECKING, Any

from bot.botapi.records import (
    SENDING_METHODS,
    ApiCall,
    ApiError,
    Injected,
    Signal,
    StoredFile,
    Upload,
    bad_request,
)
from bot.botapi.updates import (
    DEFAULT_UPDATE_KINDS,
    group_chat_json,
    photo_size_boxes,
    private_chat_json,
    update_kind,
    user_json,
)

if TYPE_CHECKING:
    import httpx

    from bot.botapi.users import TestUser

Json = dict[str, Any]

_REASONS = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    409: "Conflict",
    429: "Too Many Requests",
    500: "Internal Server Error",
    502: "Bad Gateway",
}
_EXTENSIONS = {"photos": ".jpg", "voice": ".oga", "stickers": ".webp", "videos": ".mp4"}


class BotApiServer:
    """A pretend Telegram for one bot: answers Bot API calls and records every one of them."""

    def __init__(
        self,
        token: str,
        bot_id: int = 7000000001,
        bot_username: str = "gridbot_test_bot",
        *,
        bot_first_name: str = "GridBot Test",
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.token = token
        self.clock = clock
        self.bot = user_json(bot_id, bot_first_name, username=bot_username, is_bot=True)
        self.calls: list[ApiCall] = []
        self.unknown_calls: list[ApiCall] = []
        self.downloads: list[str] = []
        self.files: dict[str, StoredFile] = {}
        self.photos: dict[str, list[Json]] = {}  # any file_id of a photo -> its PhotoSizes
        self.users: dict[int, Json] = {}
        self.chats: dict[int, Json] = {}
        self.blocked: set[int] = set()
        self.gone: dict[int, str] = {}  # group chat id -> "kicked" | "left"
        self.migrated: dict[int, int] = {}  # old group id -> its supergroup's id
        self.webhook: Json = {"url": ""}
        self.webhook_answers: list[int] = []  # HTTP statuses of webhook deliveries
        # The largest multipart upload accepted, as api.telegram.org's 50 MB.
        self.upload_limit = 50 * 1024 * 1024
        self.my_commands: dict[tuple[str, str], list[Json]] = {}
        self.signal = Signal()
        self._pending: list[Json] = []
        self._delivered: set[int] = set()
        self._confirmed_below = 1  # every update_id below this one is confirmed
        self._allowed: frozenset[str] = DEFAULT_UPDATE_KINDS
        self._poller: object | None = None
        self._messages: dict[tuple[int, int], Json] = {}
        self._keyboards: dict[int, list[list[Json]] | None] = {}
        self._message_ids: defaultdict[int, itertools.count[int]] = defaultdict(
            lambda: itertools.count(1)
        )
        self._ids = itertools.count(1)
        self._update_ids = itertools.count(100001)
        self._injected: defaultdict[str, deque[Injected]] = defaultdict(deque)
        self._claimed: set[int] = set()
        self._marks: dict[int | None, int] = {}
        self.answered_queries: set[str] = set()
        self.open_queries: set[str] = set()
        # The web chat (bot.botapi.web): what the page is told at /api/config, the
        # actions its buttons run (/api/controls/<name>), the chat each press came from.
        self.page_config: Json = {}
        self.controls: dict[str, Callable[[], Awaitable[Json]]] = {}
        self.query_chats: dict[str, int] = {}

    # ----------------------------------------------------------------- the dispatch core

    async def dispatch(
        self,
        method: str,
        token: str,
        params: Mapping[str, Any],
        files: Mapping[str, bytes | Upload] | None = None,
    ) -> tuple[int, Json]:
        """Answer one Bot API call: HTTP status and JSON body. ``params`` are decoded values."""
        from bot.botapi.methods import METHODS, Params

        uploads = {
            name: part if isinstance(part, Upload) else Upload(part)
            for name, part in (files or {}).items()
        }
        values = dict(params)
        entry = METHODS.get(method.lower())
        name = entry[0] if entry else method
        queued = self._injected[name.lower()]
        injected = queued.popleft() if queued and token == self.token else None
        try:
            if token != self.token:
                raise ApiError(401, "Unauthorized")
            if injected is not None and injected.status != 200:
                raise self._injected_error(injected)
            if entry is None:
                raise ApiError(
                    404, f"Not Found: method {method} is not implemented by the test server"
                )
            result = await entry[1](self, Params(values, uploads))
        except ApiError as error:
            call = self._record(name, values, uploads, None, error.status, error.description)
            if entry is None and error.status == 404:
                self.unknown_calls.append(call)
            status, body = error.status, error.body()
        else:
            self._record(name, values, uploads, result, 200)
            status, body = 200, {"ok": True, "result": result}
        if injected is not None and injected.delay:
            await asyncio.sleep(injected.delay)  # the answer is slow; the work is already done
        return status, body

    def download(self, token: str, file_path: str) -> tuple[int, bytes]:
        """Serve ``/file/bot<token>/<file_path>``: status and content."""
        self.downloads.append(file_path)
        if token != self.token:
            return 401, b'{"ok":false,"error_code":401,"description":"Unauthorized"}'
        for stored in self.files.values():
            if stored.file_path == file_path:
                return 200, stored.data
        return 404, b'{"ok":false,"error_code":404,"description":"Not Found"}'

    def transport(self) -> httpx.AsyncBaseTransport:
        """An httpx transport that calls this server in-process (for PTB's HTTPXRequest)."""
        from bot.botapi.transport import BotApiTransport

        return BotApiTransport(self)

    def serve_http(
        self, host: str = "127.0.0.1", port: int = 0
    ) -> AbstractAsyncContextManager[str]:
        """``async with server.serve_http() as url:`` serves this server on loopback HTTP."""
        from bot.botapi.http import serve_http

        return serve_http(self, host, port)

    def _record(
        self,
        method: str,
        params: Json,
        files: dict[str, Upload],
        result: Any,
        status: int,
        description: str | None = None,
    ) -> ApiCall:
        snapshot = copy.deepcopy(result)  # later edits must not change what was answered
        call = ApiCall(method, params, files, snapshot, status, self.clock(), len(self.calls))
        call.description = description
        self.calls.append(call)
        self.signal.notify()
        return call

    # ----------------------------------------------------------------- failures on demand

    def fail_next(
        self,
        method: str,
        status: int = 429,
        retry_after: int | None = 2,
        times: int = 1,
        description: str | None = None,
    ) -> None:
        """Make the next ``times`` calls of ``method`` fail with ``status`` (429: retry_after)."""
        for _ in range(times):
            self._injected[method.lower()].append(Injected(status, retry_after, description))

    def delay_next(self, method: str, seconds: float, times: int = 1) -> None:
        """Answer the next ``times`` calls of ``method`` ``seconds`` late (the work happens now)."""
        for _ in range(times):
            self._injected[method.lower()].append(Injected(delay=seconds))

    @staticmethod
    def _injected_error(injected: Injected) -> ApiError:
        status = injected.status
        if status == 429:
            retry = injected.retry_after or 1
            description = injected.description or f"Too Many Requests: retry after {retry}"
            return ApiError(429, description, {"retry_after": retry})
        reason = _REASONS.get(status, "Error")
        return ApiError(status, injected.description or reason)

    # ----------------------------------------------------------------- chats, files, messages

    def user(
        self,
        user_id: int,
        first_name: str = "张三",
        last_name: str | None = None,
        username: str | None = None,
        language_code: str | None = "zh-hans",
    ) -> TestUser:
        """A Telegram user who has a private chat with the bot (chat id = user id)."""
        from bot.botapi.users import TestUser

        user = user_json(user_id, first_name, last_name, username, language_code)
        self.users[user_id] = user
        chat = private_chat_json(user)
        self.chats[user_id] = chat
        return TestUser(self, user, chat)

    def group(self, chat_id: int, title: str) -> Json:
        """A group chat the bot is in (``-100…`` ids are supergroups); use ``user.in_chat``."""
        chat = group_chat_json(chat_id, title)
        self.chats[chat_id] = chat
        return chat

    def remove_bot(self, chat_id: int, by_user_id: int, kicked: bool = True) -> Json:
        """Someone removes the bot from a group: later sends there answer 403, and a
        ``my_chat_member`` update says so. Returns the update."""
        chat = self.chats[chat_id]
        self.gone[chat_id] = "kicked" if kicked else "left"
        new: Json = {"user": self.bot, "status": "kicked" if kicked else "left"}
        if kicked:
            new["until_date"] = 0
        change = {
            "chat": chat,
            "from": self.users.get(by_user_id) or user_json(by_user_id, "Admin"),
            "date": self.now(),
            "old_chat_member": {"user": self.bot, "status": "member"},
            "new_chat_member": new,
        }
        return self.push("my_chat_member", change, chat_id=chat_id)

    def migrate_group(self, chat_id: int, new_chat_id: int, by_user_id: int) -> Json:
        """A group becomes a supergroup with a new id: sends to the old id answer 400 with
        ``migrate_to_chat_id``; the old group gets the service message. Returns the update."""
        old = self.chats[chat_id]
        self.group(new_chat_id, old["title"])
        self.migrated[chat_id] = new_chat_id
        sender = self.users.get(by_user_id) or user_json(by_user_id, "Admin")
        message = {
            "message_id": self.next_message_id(chat_id),
            "date": self.now(),
            "chat": old,
            "from": sender,
            "migrate_to_chat_id": new_chat_id,
        }
        return self.push("message", self.store_message(message), chat_id=chat_id)

    def block(self, user_id: int, blocked: bool = True) -> None:
        """The user blocks (or unblocks) the bot: sends to them answer 403 Forbidden."""
        (self.blocked.add if blocked else self.blocked.discard)(user_id)

    def add_file(
        self,
        data: bytes,
        kind: str = "documents",
        file_name: str | None = None,
        mime_type: str | None = None,
    ) -> StoredFile:
        """Store ``data`` so getFile and the download URL serve it; returns its ids and path."""
        number = next(self._ids)
        suffix = ""
        if file_name and "." in file_name:
            suffix = "." + file_name.rsplit(".", 1)[1]
        stored = StoredFile(
            file_id=f"BQACAgUAAxkBAAI{number:06d}{kind[:3]}",
            file_unique_id=f"AgAD{number:06d}",
            data=data,
            file_path=f"{kind}/file_{number}{suffix or _EXTENSIONS.get(kind, '')}",
            file_name=file_name,
            mime_type=mime_type,
        )
        self.files[stored.file_id] = stored
        return stored

    def add_photo_sizes(self, original: StoredFile, width: int, height: int) -> list[Json]:
        """PhotoSizes like Telegram's: placeholder thumbnails, then ``original`` as the largest."""
        sizes = []
        for box_width, box_height in photo_size_boxes(width, height):
            stored = original
            if (box_width, box_height) != (width, height):
                stored = self.add_file(f"thumbnail {box_width}x{box_height}".encode(), "photos")
            sizes.append(
                {
                    "file_id": stored.file_id,
                    "file_unique_id": stored.file_unique_id,
                    "file_size": len(stored.data),
                    "width": box_width,
                    "height": box_height,
                }
            )
        for size in sizes:
            self.photos[size["file_id"]] = sizes
        return sizes

    def file_bytes(self, file_id: str) -> bytes:
        """The content behind ``file_id`` (e.g. of a photo the bot sent)."""
        return self.files[file_id].data

    def chat(self, chat_id: int | str) -> Json:
        """The chat for a ``chat_id`` param, or the 400/403 Telegram would answer."""
        chat = None
        if isinstance(chat_id, str) and chat_id.lstrip("-").isdigit():
            chat_id = int(chat_id)
        if isinstance(chat_id, str) and chat_id.startswith("@"):
            wanted = chat_id[1:].lower()
            chat = next(
                (c for c in self.chats.values() if str(c.get("username", "")).lower() == wanted),
                None,
            )
        elif isinstance(chat_id, int) and not isinstance(chat_id, bool):
            chat = self.chats.get(chat_id)
        if chat is None:
            raise bad_request("chat not found")
        if chat["id"] in self.blocked:
            raise ApiError(403, "Forbidden: bot was blocked by the user")
        if chat["id"] in self.gone:
            raise ApiError(403, f"Forbidden: bot was {self.gone[chat['id']]} from the group chat")
        if chat["id"] in self.migrated:
            raise ApiError(
                400,
                "Bad Request: group chat was upgraded to a supergroup chat",
                {"migrate_to_chat_id": self.migrated[chat["id"]]},
            )
        return chat

    def next_message_id(self, chat_id: int) -> int:
        """The next message id in a chat (users and the bot share one sequence per chat)."""
        return next(self._message_ids[chat_id])

    def now(self) -> int:
        """The current time as Telegram dates are given (int epoch seconds)."""
        return int(self.clock())

    def new_id(self) -> int:
        """A fresh number for ids (callback queries, media groups, files)."""
        return next(self._ids)

    def store_message(self, message: Json) -> Json:
        """Remember a message (its latest version) so edits, replies and presses find it."""
        self._messages[(message["chat"]["id"], message["message_id"])] = message
        return message

    def forget_message(self, chat_id: int, message_id: int) -> bool:
        """Delete a stored message; False if there was none."""
        return self._messages.pop((chat_id, message_id), None) is not None

    def message(self, chat_id: int, message_id: int) -> Json | None:
        """The latest version of a message (edits applied), or None."""
        return self._messages.get((chat_id, message_id))

    def messages(self, chat_id: int) -> list[Json]:
        """All messages in a chat, users' and the bot's, oldest first, edits applied."""
        found = [m for (chat, _), m in self._messages.items() if chat == chat_id]
        return sorted(found, key=lambda m: m["message_id"])

    def set_keyboard(self, chat_id: int, markup: Json | None) -> None:
        """Track the reply keyboard the user currently sees in a chat."""
        if not markup:
            return
        if "keyboard" in markup:
            self._keyboards[chat_id] = markup["keyboard"]
        elif markup.get("remove_keyboard"):
            self._keyboards[chat_id] = None

    def keyboard(self, chat_id: int) -> list[list[Json]] | None:
        """The reply keyboard (rows of buttons) currently shown in a chat, if any."""
        return self._keyboards.get(chat_id)

    # ----------------------------------------------------------------- updates

    def push(self, kind: str, payload: Json, chat_id: int | None = None) -> Json:
        """Queue an update of ``kind`` for the bot's getUpdates; returns the update dict."""
        update = {"update_id": next(self._update_ids), kind: payload}
        self._marks[None] = len(self.calls)
        if chat_id is not None:
            self._marks[chat_id] = len(self.calls)
        self._pending.append(update)
        self.signal.notify()
        return update

    @property
    def pending_updates(self) -> list[Json]:
        """Updates not yet confirmed by the bot (fetched ones included)."""
        return list(self._pending)

    def take_updates(
        self, offset: int | None, limit: int, allowed: Iterable[str] | None
    ) -> list[Json]:
        """Confirm below ``offset`` and return up to ``limit`` deliverable updates (getUpdates)."""
        if allowed is not None:
            self._allowed = frozenset(allowed) or DEFAULT_UPDATE_KINDS
        if offset:
            if offset < 0:
                keep = self._pending[offset:]
                offset = keep[0]["update_id"] if keep else self._confirmed_below
            self._confirmed_below = max(self._confirmed_below, offset)
            self._pending = [u for u in self._pending if u["update_id"] >= offset]
            self.signal.notify()
        return self.deliverable(limit)

    def deliverable(self, limit: int = 100) -> list[Json]:
        """Pending updates of the kinds the bot asked for, oldest first."""
        return [u for u in self._pending if update_kind(u) in self._allowed][:limit]

    def mark_delivered(self, updates: list[Json]) -> None:
        """Note that getUpdates handed these updates to the bot."""
        self._delivered.update(u["update_id"] for u in updates)
        self.signal.notify()

    # ------------------------------------------------------------ webhook delivery

    async def deliver_webhook(self, target: str, stop: asyncio.Event, connections: int = 1) -> None:
        """Post pending updates to ``target`` as Telegram posts to a webhook (the reverse
        proxy's job of turning the public HTTPS URL into ``target`` is skipped): oldest
        first, one at a time, with the registered secret in the header; an update is
        confirmed on a 2xx answer and tried again after any other (Telegram retries).
        With ``connections`` above 1, up to that many posts at once (Telegram's
        ``max_connections``), one chat's updates still one at a time and in order."""
        import httpx

        if connections > 1:
            await self._deliver_parallel(target, stop, connections)
            return
        async with httpx.AsyncClient(timeout=10) as client:
            while not stop.is_set():
                ready = self.deliverable(1) if self.webhook.get("url") else []
                if not ready:
                    await self.signal.wait_until(
                        lambda: (
                            stop.is_set() or bool(self.webhook.get("url") and self.deliverable(1))
                        ),
                        None,
                    )
                    continue
                if await self._post_update(client, target, ready[0], in_order=True):
                    self.signal.notify()
                else:
                    await asyncio.sleep(0.05)

    async def _post_update(self, client: Any, target: str, update: Json, in_order: bool) -> bool:
        """Post one update to the webhook with the registered secret; on a 2xx answer it
        is delivered and no longer pending (True). ``in_order``: every earlier update has
        been delivered too, so the confirmed mark moves past it."""
        import httpx

        headers = {"Content-Type": "application/json"}
        if self.webhook.get("secret_token"):
            headers["X-Telegram-Bot-Api-Secret-Token"] = self.webhook["secret_token"]
        try:
            answer = await client.post(target, content=json.dumps(update), headers=headers)
            status = answer.status_code
        except httpx.HTTPError:
            status = 0
        self.webhook_answers.append(status)
        if not 200 <= status < 300:
            return False
        self._delivered.add(update["update_id"])
        self._pending = [u for u in self._pending if u is not update]
        if in_order:
            self._confirmed_below = max(self._confirmed_below, update["update_id"] + 1)
        return True

    async def _deliver_parallel(self, target: str, stop: asyncio.Event, connections: int) -> None:
        import httpx

        busy: set[object] = set()  # chats with an update being posted
        posting: set[asyncio.Task[None]] = set()

        def chat_of(update: Json) -> object:
            for kind in ("message", "edited_message", "callback_query", "my_chat_member"):
                part = update.get(kind)
                if isinstance(part, dict):
                    chat = (part.get("message") or part).get("chat") or part.get("from") or {}
                    return chat.get("id")
            return update["update_id"]

        async def post(client: httpx.AsyncClient, update: Json, chat: object) -> None:
            if not await self._post_update(client, target, update, in_order=False):
                await asyncio.sleep(0.05)
            busy.discard(chat)
            self.signal.notify()

        def startable() -> list[tuple[Json, object]]:
            if not self.webhook.get("url"):
                return []
            seen: set[object] = set()
            found = []
            for update in self.deliverable(1000):
                chat = chat_of(update)
                if chat not in seen and chat not in busy:
                    found.append((update, chat))
                seen.add(chat)
            return found[: connections - len(posting)]

        limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
        async with httpx.AsyncClient(timeout=10, limits=limits) as client:
            try:
                while not stop.is_set():
                    ready = startable()
                    if not ready:
                        await self.signal.wait_until(
                            lambda: stop.is_set() or bool(startable()), None
                        )
                        continue
                    for update, chat in ready:
                        busy.add(chat)
                        task = asyncio.create_task(post(client, update, chat))
                        posting.add(task)
                        task.add_done_callback(posting.discard)
            finally:
                for task in list(posting):
                    task.cancel()
                await asyncio.gather(*posting, return_exceptions=True)

    @property
    def delivered_update_ids(self) -> set[int]:
        """Every update handed to the bot (by getUpdates or to its webhook)."""
        return set(self._delivered)

    def drop_pending_updates(self) -> None:
        """Forget every pending update (deleteWebhook/setWebhook drop_pending_updates)."""
        if self._pending:
            self._confirmed_below = self._pending[-1]["update_id"] + 1
        self._pending.clear()
        self.signal.notify()

    def claim_poller(self) -> object:
        """Become the one active getUpdates; an older waiting one gets 409 Conflict."""
        ticket = object()
        self._poller = ticket
        self.signal.notify()
        return ticket

    @property
    def polling(self) -> bool:
        """Whether a getUpdates long poll is waiting right now."""
        return self._poller is not None

    async def wait_polling(self, timeout: float = 5.0) -> None:
        """Wait until a getUpdates long poll is waiting (the bot is idle and listening)."""
        if not await self.signal.wait_until(lambda: self.polling, timeout):
            raise AssertionError(f"no getUpdates long poll within {timeout}s\n{self.describe()}")

    def is_poller(self, ticket: object) -> bool:
        """Whether ``ticket`` is still the active getUpdates."""
        return self._poller is ticket

    def release_poller(self, ticket: object) -> None:
        """End a getUpdates (if it is still the active one)."""
        if self._poller is ticket:
            self._poller = None

    # ----------------------------------------------------------------- waiting

    def mark(self) -> int:
        """A cursor: the ``seq`` the next recorded call will get."""
        return len(self.calls)

    def claim(self, after: int, match: Callable[[ApiCall], bool]) -> ApiCall | None:
        """The first call from ``after`` on that matches and was not handed out yet."""
        for call in self.calls[after:]:
            if call.seq not in self._claimed and match(call):
                self._claimed.add(call.seq)
                return call
        return None

    async def wait_for(
        self,
        predicate: Callable[[ApiCall], bool] | None = None,
        *,
        method: str | Iterable[str] | None = None,
        chat_id: int | None = None,
        ok: bool | None = None,
        after: int | None = None,
        timeout: float = 5.0,
    ) -> ApiCall:
        """The first matching call not handed out yet, made at or after ``after``.

        ``after`` defaults to the cursor taken at the last update pushed into ``chat_id``
        (or into any chat when ``chat_id`` is None). Each call is handed out once, so
        waiting twice for the same thing returns two successive calls.
        """
        methods = {method} if isinstance(method, str) else set(method or ())
        start = after if after is not None else self._marks.get(chat_id, self._marks.get(None, 0))

        def match(call: ApiCall) -> bool:
            return (
                (not methods or call.method in methods)
                and (chat_id is None or call.chat_id == chat_id)
                and (ok is None or call.ok == ok)
                and (predicate is None or predicate(call))
            )

        wanted = f"method={sorted(methods) or 'any'} chat_id={chat_id} ok={ok}"
        return await self.wait_claim(start, match, wanted, timeout)

    async def wait_claim(
        self, after: int, match: Callable[[ApiCall], bool], wanted: str, timeout: float
    ) -> ApiCall:
        """Wait for :meth:`claim` to find a call; AssertionError with recent calls on timeout."""
        found: list[ApiCall] = []
        position = after  # calls before it were looked at already: none matched

        def ready() -> bool:
            nonlocal position
            calls = self.calls
            for index in range(position, len(calls)):
                call = calls[index]
                if call.seq not in self._claimed and match(call):
                    self._claimed.add(call.seq)
                    found.append(call)
                    return True
            position = len(calls)
            return False

        if await self.signal.wait_until(ready, timeout):
            return found[0]
        raise AssertionError(
            f"no bot call ({wanted}) from #{after} within {timeout}s\n{self.describe(after)}"
        )

    async def wait_until_consumed(self, update: Json, timeout: float = 5.0) -> None:
        """Wait until the bot fetched ``update`` with getUpdates (or confirmed it)."""
        update_id = update["update_id"]

        def consumed() -> bool:
            return update_id in self._delivered or update_id < self._confirmed_below

        if await self.signal.wait_until(consumed, timeout):
            return
        kind = update_kind(update)
        hint = "" if kind in self._allowed else f" ({kind!r} is not in allowed_updates)"
        raise AssertionError(
            f"update {update_id} was not fetched within {timeout}s{hint}\n{self.describe()}"
        )

    def describe(self, after: int | None = None, last: int = 15) -> str:
        """Recent calls, one per line, for failure messages."""
        start = max(0, len(self.calls) - last) if after is None else max(0, after - 3)
        lines = [
            ("  " if call.seq not in self._claimed else "  (seen) ") + call.summary()
            for call in self.calls[start:]
            if call.method != "getUpdates" or not call.ok
        ]
        if self.unknown_calls:
            lines.append(f"  unknown methods: {[c.method for c in self.unknown_calls]}")
        return "recent calls:\n" + ("\n".join(lines) if lines else "  (none)")

    # ----------------------------------------------------------------- queries for tests

    def calls_to(self, method: str | None = None, chat_id: int | None = None) -> list[ApiCall]:
        """Recorded calls, optionally only to ``method`` and/or ``chat_id``."""
        return [
            call
            for call in self.calls
            if (method is None or call.method.lower() == method.lower())
            and (chat_id is None or call.chat_id == chat_id)
        ]

    def sent_messages(self, chat_id: int) -> list[ApiCall]:
        """Successful send* calls (sendMessage/Photo/Document/MediaGroup) to a chat."""
        return [
            call
            for call in self.calls
            if call.method in SENDING_METHODS and call.ok and call.chat_id == chat_id
        ]

    def commands(
        self,
        scope_type: str = "all_private_chats",
        language_code: str | None = None,
        chat_id: int | None = None,
        user_id: int | None = None,
    ) -> list[Json]:
        """The commands last set with setMyCommands for exactly that scope and language."""
        scope: Json = {"type": scope_type}
        if chat_id is not None:
            scope["chat_id"] = chat_id
        if user_id is not None:
            scope["user_id"] = user_id
        return list(self.my_commands.get(commands_key(scope, language_code), []))


def commands_key(scope: Json | None, language_code: str | None) -> tuple[str, str]:
    """How setMyCommands results are keyed: canonical scope JSON and language ("" = all)."""
    return json.dumps(scope or {"type": "default"}, sort_keys=True), language_code or ""
