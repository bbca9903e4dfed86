"""Updates of one chat in order, different chats at the same time.

PTB's choice is all-or-nothing (``concurrent_updates`` on or off). A report being drafted
needs its photos and buttons handled in the order the person sent them, but one slow
chat must not hold up the city, so this processor keeps one queue per chat, in front of
the slots all chats share: one chat flooding the bot delays only itself, and past a cap
(``telegram.max_queued_per_chat``) its further updates are dropped, the chat told once.

It is also where every update begins and ends: it marks the update done in the
durable inbox (``bot.inbox``) once its handlers have run, sets the audit origin (the chat and
update the handlers act for, ``bot.audit.ORIGIN``) and writes the update's log line —
ids, what kind of update, the command or button kind, and how long it took; never
what the person wrote.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from telegram import Update
from telegram.ext import BaseUpdateProcessor

from bot.audit import ORIGIN, Origin
from bot.inbox import Inbox
from bot.inflight import InFlight

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


@dataclass
class _Chat:
    """One chat's queue: its updates take turns on ``turn``; ``queued`` counts the ones
    waiting and the one running; ``told`` is set once the chat has been told it is over
    its cap. Dropped when the queue empties (so the next overflow is told again)."""

    turn: asyncio.Lock = field(default_factory=asyncio.Lock)
    queued: int = 0
    told: bool = False


class ChatOrderedUpdateProcessor(BaseUpdateProcessor):
    """Each chat's updates queue for their chat's turn first, and only then take one of
    the ``max_concurrent_updates`` slots shared by all chats: a chat waiting for its own
    previous update holds no slot, so one busy chat can never fill them. A chat may have
    at most ``max_queued_per_chat`` updates queued (the running one included); beyond that
    an update is dropped (``update.dropped`` in the log), marked done in the inbox, and
    the chat is told once, through ``on_dropped``, that it is sending too fast."""

    def __init__(self, max_concurrent_updates: int, max_queued_per_chat: int = 100) -> None:
        super().__init__(max_concurrent_updates)
        if max_queued_per_chat < 1:
            raise ValueError("max_queued_per_chat must be a positive integer")
        self.max_queued_per_chat = max_queued_per_chat
        self._chats: dict[int, _Chat] = {}
        # The durable inbox, once the services are open (set in post_init).
        self.inbox: Callable[[], Inbox] | None = None
        # Tells a chat, once per overflow, that updates of it are being dropped.
        self.on_dropped: Callable[[Update, int], Awaitable[None]] | None = None
        # Updates being handled, and those waiting for their turn or a slot (``close``).
        self.running = InFlight()
        self._waiting: set[asyncio.Task[Any]] = set()
        self._closed = False

    async def process_update(  # type: ignore[misc]  # final in PTB: see the docstring
        self, update: object, coroutine: Awaitable[Any]
    ) -> None:
        """Replaces PTB's (marked final there), which takes a slot *before*
        ``do_process_update``: here the chat's turn comes first, then the slot."""
        if self._closed:  # stopping: left unfinished in the inbox, handled at next start
            _close(coroutine)
            return
        key = chat_key(update)
        if key is None:
            async with self._turn(contextlib.nullcontext()):
                await self.do_process_update(update, coroutine)
            return
        chat = self._chats.setdefault(key, _Chat())
        if chat.queued >= self.max_queued_per_chat:
            await self._drop(update, coroutine, chat)
            return
        chat.queued += 1
        try:
            async with self._turn(chat.turn):
                await self.do_process_update(update, coroutine)
        except asyncio.CancelledError:
            _close(coroutine)  # cancelled while waiting: never started
            raise
        finally:
            chat.queued -= 1
            if not chat.queued and self._chats.get(key) is chat:
                del self._chats[key]

    @contextlib.asynccontextmanager
    async def _turn(self, chat_turn: contextlib.AbstractAsyncContextManager[Any]) -> Any:
        """The chat's turn, then a shared slot; while waiting for them the update can be
        cancelled by ``close``, and once it has them it counts as running."""
        task = asyncio.current_task()
        if task is not None:
            self._waiting.add(task)
        try:
            async with chat_turn, self._semaphore:
                self._waiting.discard(task)  # type: ignore[arg-type]
                with self.running.track():
                    yield
        finally:
            self._waiting.discard(task)  # type: ignore[arg-type]

    def close(self) -> int:
        """At stop: start no more updates. Those still waiting for their turn are
        cancelled (they stay unfinished in the inbox and are handled at the next start);
        the running ones are left to ``bot.inflight.cut_short``. How many were waiting."""
        self._closed = True
        waiting = [task for task in self._waiting if not task.done()]
        for task in waiting:
            task.cancel()
        return len(waiting)

    async def do_process_update(self, update: object, coroutine: Awaitable[Any]) -> None:
        """Run one update (in its chat's turn, holding a slot): the handlers, then the
        done-mark, under the update's audit origin, then its log line."""
        fields = describe(update)
        origin = ORIGIN.set(Origin("chat", fields.get("chat_id"), fields.get("update_id")))
        started = time.perf_counter()
        try:
            await self._handled(update, coroutine)
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
        await self._finish(update)

    async def _finish(self, update: object) -> None:
        if self.inbox is not None and isinstance(update, Update):
            await self.inbox().finish(update.update_id)

    async def _drop(self, update: object, coroutine: Awaitable[Any], chat: _Chat) -> None:
        """Refuse an update of a chat whose queue is full: its handlers never run.

        It is marked done, so a restart does not run it either. (A crash before that
        commit leaves it unfinished like the chat's queued ones: the next start replays
        them all in order, and it runs if the chat's queue has room then, else it is
        dropped again.) Marking it done while earlier updates of the chat are still
        queued cannot put a replay out of order: a dropped update never runs at all."""
        _close(coroutine)
        fields = describe(update)
        fields["queued"] = chat.queued
        origin = ORIGIN.set(Origin("chat", fields.get("chat_id"), fields.get("update_id")))
        try:
            log.warning("update.dropped", extra={"fields": fields})
            if not chat.told and self.on_dropped is not None and isinstance(update, Update):
                chat.told = True
                try:
                    await self.on_dropped(update, chat.queued)
                except Exception as exc:  # the notice is a courtesy: never lose the mark
                    log.warning(
                        "update.dropped_notice_failed", extra={"fields": {"error": repr(exc)}}
                    )
            await self._finish(update)
        finally:
            ORIGIN.reset(origin)

    async def initialize(self) -> None:
        """Nothing to set up: chat queues are made as updates arrive."""

    async def shutdown(self) -> None:
        """Nothing to tear down: a chat's queue goes when its last update is done."""


def _close(coroutine: Awaitable[Any]) -> None:
    """Discard PTB's ``process_update`` for an update that is never started."""
    if inspect.iscoroutine(coroutine) and coroutine.cr_frame is not None:
        coroutine.close()
