"""Updates of one chat in order, different chats at the same time.

PTB's choice is all-or-nothing (``concurrent_updates`` on or off). A report being drafted
needs its photos and buttons handled in the order the person sent them, but one slow
chat must not hold up the city, so this processor keeps one lock per chat.

It is also where every update begins and ends: it marks the update done in the
durable inbox (``bot.inbox``) once its handlers have run, sets the audit origin (the chat and
update the handlers act for, ``bot.audit.ORIGIN``) and writes the update's log line —
ids, what kind of update, the command or button kind, and how long it took; never
what the person wrote.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import Awaitable, Callable
from typing import Any

from telegram import Update
from telegram.ext import BaseUpdateProcessor

from bot.audit import ORIGIN, Origin
from bot.inbox import Inbox

log = logging.getLogger("gridbot.updates")
_WORD = re.compile(r"^[a-z_]{1,32}$")


def chat_key(update: object) -> int | None:
    """The chat an update belongs to (the sender for chat-less updates), if any."""
    if not isinstance(update, Update):
        return None
    if update.effective_chat is not None:
        return update.effective_chat.id
    if update.effective_user is not None:
        return update.effective_user.id
    return None


def describe(update: object) -> dict[str, Any]:
    """The log fields of an update: ids and kinds only, no content."""
    if not isinstance(update, Update):
        return {"kind": type(update).__name__}
    fields: dict[str, Any] = {
        "update_id": update.update_id,
        "chat_id": update.effective_chat.id if update.effective_chat else None,
        "user_id": update.effective_user.id if update.effective_user else None,
    }
    message = update.message or update.edited_message
    if update.callback_query is not None:
        parts = (update.callback_query.data or "").split(":")
        fields["kind"] = "button"
        fields["command"] = parts[1] if len(parts) > 1 and _WORD.match(parts[1]) else "?"
    elif message is not None:
        text = message.text or ""
        if text.startswith("/"):
            fields["kind"] = "command"
            name = text.split(maxsplit=1)[0].split("@", 1)[0]
            fields["command"] = name if _WORD.match(name[1:]) else "/?"
        else:
            fields["kind"] = "edited" if update.edited_message else _content_kind(message)
    elif update.my_chat_member is not None:
        fields["kind"] = "membership"
    else:
        fields["kind"] = "other"
    return fields


def _content_kind(message: Any) -> str:
    for kind in ("photo", "document", "location", "sticker", "voice", "video", "contact"):
        if getattr(message, kind, None):
            return kind
    return "text" if message.text else "service"


class ChatOrderedUpdateProcessor(BaseUpdateProcessor):
    def __init__(self, max_concurrent_updates: int) -> None:
        super().__init__(max_concurrent_updates)
        self._locks: dict[int, asyncio.Lock] = {}
        self._waiting: dict[int, int] = {}
        # The durable inbox, once the services are open (set in post_init).
        self.inbox: Callable[[], Inbox] | None = None

    async def do_process_update(self, update: object, coroutine: Awaitable[Any]) -> None:
        fields = describe(update)
        origin = ORIGIN.set(Origin("chat", fields.get("chat_id"), fields.get("update_id")))
        started = time.perf_counter()
        try:
            await self._in_order(update, self._handled(update, coroutine))
        finally:
            ORIGIN.reset(origin)
            fields["ms"] = round((time.perf_counter() - started) * 1000, 1)
            log.info("update", extra={"fields": fields})

    async def _handled(self, update: object, coroutine: Awaitable[Any]) -> None:
        """Run the handlers, then mark the update done before the chat's next update
        starts: a replay after a crash never runs an earlier update after a later one."""
        await coroutine
        # PTB has given any handler error to the error handler by now: the update is
        # handled either way (a cancelled task, at shutdown, is not).
        if self.inbox is not None and isinstance(update, Update):
            await self.inbox().finish(update.update_id)

    async def _in_order(self, update: object, coroutine: Awaitable[Any]) -> None:
        key = chat_key(update)
        if key is None:
            await coroutine
            return
        lock = self._locks.setdefault(key, asyncio.Lock())
        self._waiting[key] = self._waiting.get(key, 0) + 1
        try:
            async with lock:
                await coroutine
        finally:
            self._waiting[key] -= 1
            if not self._waiting[key]:
                del self._waiting[key]
                del self._locks[key]

    async def initialize(self) -> None:
        """Nothing to set up: locks are made per chat as updates arrive."""

    async def shutdown(self) -> None:
        """Nothing to tear down: every lock is released when its update is done."""
