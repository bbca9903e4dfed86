"""Updates of one chat in order, different chats at the same time.

PTB's choice is all-or-nothing (``concurrent_updates`` on or off). A report being drafted
needs its photos and buttons handled in the order the person sent them, but one slow
chat must not hold up the city, so this processor keeps one queue per chat, in front of
the slots all chats share: one chat flooding the bot delays only itself, and past a cap
(``telegram.max_queued_per_chat``) its further updates are dropped, the chat told once.
Polled updates are counted into their chat's queue at intake, before they are parsed
(``admit``): the ones past the cap are stored done by the inbox and never parsed, so a
flood costs the bot little more than a row per update.

It is also where every update begins and ends: it marks the update done in the
durable inbox (``bot.domain.inbox``) once its handlers have run, sets the audit origin
(the chat and update the handlers act for, ``bot.domain.audit.ORIGIN``) and writes the
update's log line — ids, what kind of update, the command or button kind, and how
long it took; never what the person wrote.
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

from bot.domain.audit import ORIGIN, Origin
from bot.domain.inbox import Inbox
from bot.runtime.inflight import InFlight

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
    for kind in _CONTENT:
        if getattr(message, kind, None):
            return kind
    return "text" if message.text else "service"


_CONTENT = ("photo", "document", "location", "sticker", "voice", "video", "contact")


def describe_data(data: dict[str, Any], chat_id: int | None) -> dict[str, Any]:
    """``describe`` of an update's JSON, before it is parsed (an update dropped at intake
    never is); ``chat_id`` as the inbox read it."""
    fields: dict[str, Any] = {"update_id": data.get("update_id"), "chat_id": chat_id}
    query, message = data.get("callback_query"), None
    for kind in ("message", "edited_message"):
        if isinstance(data.get(kind), dict):
            message = data[kind]
            break
    sender = query if isinstance(query, dict) else message or data.get("my_chat_member")
    sender = sender.get("from") if isinstance(sender, dict) else None
    fields["user_id"] = sender.get("id") if isinstance(sender, dict) else None
    if isinstance(query, dict):
        parts = str(query.get("data") or "").split(":")
        fields["kind"] = "button"
        fields["command"] = parts[1] if len(parts) > 1 and _WORD.match(parts[1]) else "?"
    elif message is not None:
        text = message.get("text") or ""
        if isinstance(text, str) and text.startswith("/"):
            fields["kind"] = "command"
            name = text.split(maxsplit=1)[0].split("@", 1)[0]
            fields["command"] = name if _WORD.match(name[1:]) else "/?"
        elif "edited_message" in data:
            fields["kind"] = "edited"
        else:
            content = next((kind for kind in _CONTENT if message.get(kind)), None)
            fields["kind"] = content or ("text" if text else "service")
    elif isinstance(data.get("my_chat_member"), dict):
        fields["kind"] = "membership"
    else:
        fields["kind"] = "other"
    return fields


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
    the chat is told once, through ``on_dropped``, that it is sending too fast. The poller
    asks at intake (``admit``, ``dropped``); updates it did not count (replays at start,
    webhook updates) are counted, or dropped, here in ``process_update``."""

    def __init__(self, max_concurrent_updates: int, max_queued_per_chat: int = 100) -> None:
        super().__init__(max_concurrent_updates)
        if max_queued_per_chat < 1:
            raise ValueError("max_queued_per_chat must be a positive integer")
        self.max_queued_per_chat = max_queued_per_chat
        self._chats: dict[int, _Chat] = {}
        # Updates taken into their chat's queue at intake (``admit``), not yet begun: their
        # chat, and the chats of the ones refused there, until ``dropped`` logs them.
        self._admitted: dict[int, int] = {}
        self._refused: dict[int, _Chat] = {}
        self._notices: set[asyncio.Task[None]] = set()
        # The durable inbox, once the services are open (set in post_init).
        self.inbox: Callable[[], Inbox] | None = None
        # Tells a chat, once per overflow, that updates of it are being dropped.
        self.on_dropped: Callable[[Update, int], Awaitable[None]] | None = None
        # Runs the handlers of an update another process received (``handle_earlier``).
        self.handle: Callable[[dict[str, Any]], Awaitable[None]] | None = None
        # Updates being handled, and those waiting for their turn or a slot (``close``).
        self.running = InFlight()
        self._waiting: set[asyncio.Task[Any]] = set()
        self._closed = False

    async def process_update(  # type: ignore[misc]  # final in PTB: see the docstring
        self, update: object, coroutine: Awaitable[Any]
    ) -> None:
        """Replaces PTB's (marked final there), which takes a slot *before*
        ``do_process_update``: here the chat's turn comes first, then the slot."""
        admitted = (
            self._admitted.pop(update.update_id, None) if isinstance(update, Update) else None
        )
        if self._closed:  # stopping: left unfinished in the inbox, handled at next start
            if admitted is not None and (counted := self._chats.get(admitted)) is not None:
                self._leave(admitted, counted)
            _close(coroutine)
            return
        key = admitted if admitted is not None else chat_key(update)
        if key is None:
            async with self._turn(contextlib.nullcontext()):
                await self.do_process_update(update, coroutine)
            return
        chat = self._chats.setdefault(key, _Chat())
        if admitted is None:  # not counted at intake (a replay, a webhook update)
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
            self._leave(key, chat)

    def admit(self, update_id: int, key: int | None) -> bool:
        """At intake (``bot.runtime.polling``), before the update is parsed: take it into its
        chat's queue — it counts as queued from now on, and ``process_update`` does not
        count it again — or, if the queue is full, refuse it (False): it is then stored
        done and never parsed (the intake's cost of a flood), and ``dropped`` says so.
        ``release`` takes back what was admitted but is not going to be handled."""
        if key is None:
            return True
        chat = self._chats.setdefault(key, _Chat())
        if chat.queued >= self.max_queued_per_chat:
            self._refused[update_id] = chat
            return False
        chat.queued += 1
        self._admitted[update_id] = key
        return True

    def release(self, update_id: int) -> None:
        """Take back ``admit``'s answer for an update that will not reach
        ``process_update`` (its batch was not committed, or it could not be parsed)."""
        self._refused.pop(update_id, None)
        key = self._admitted.pop(update_id, None)
        if key is not None and (chat := self._chats.get(key)) is not None:
            self._leave(key, chat)

    def _leave(self, key: int, chat: _Chat) -> None:
        chat.queued -= 1
        if not chat.queued and self._chats.get(key) is chat:
            del self._chats[key]

    def dropped(
        self, data: dict[str, Any], chat_id: int | None, parse: Callable[[], Update]
    ) -> None:
        """An update ``admit`` refused is committed (done): its log line, and the chat is
        told once, by a task of its own, that it is sending too fast (``parse`` gives the
        update for that: only the first dropped update of an overflow is parsed)."""
        chat = self._refused.pop(data["update_id"], None) or _Chat()
        fields = describe_data(data, chat_id)
        fields["queued"] = chat.queued
        log.warning("update.dropped", extra={"fields": fields})
        if chat.told or self.on_dropped is None:
            return
        chat.told = True
        try:
            update = parse()
        except Exception as exc:  # logged where it is parsed for the handlers
            log.warning("update.dropped_notice_failed", extra={"fields": {"error": repr(exc)}})
            return
        origin = Origin("chat", fields.get("chat_id"), fields.get("update_id"))
        task = asyncio.create_task(self._tell(update, chat.queued, origin))
        self._notices.add(task)
        task.add_done_callback(self._notices.discard)

    async def _tell(self, update: Update, queued: int, origin: Origin) -> None:
        ORIGIN.set(origin)  # the task's own context
        assert self.on_dropped is not None
        try:
            await self.on_dropped(update, queued)
        except Exception as exc:  # the notice is a courtesy
            log.warning("update.dropped_notice_failed", extra={"fields": {"error": repr(exc)}})

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
        the running ones are left to ``bot.runtime.inflight.cut_short``. How many were waiting."""
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
        inbox = self.inbox() if self.inbox is not None else None
        key = chat_key(update)
        shared = getattr(inbox, "shared", False)  # several processes on one store
        if inbox is not None and shared and key is not None and isinstance(update, Update):
            await self._handled_across(inbox, key, update, coroutine)
            return
        await coroutine
        # PTB has given any handler error to the error handler by now: the update is
        # handled either way (a cancelled task, at shutdown, is not).
        await self._finish(update)

    async def _handled_across(
        self, inbox: Inbox, key: int, update: Update, coroutine: Awaitable[Any]
    ) -> None:
        """With several processes on one store (PostgreSQL): in the chat's turn across
        them (``Inbox.chat_turn``), first the chat's earlier updates that other processes
        received and have not handled, then this one — unless one of them has handled it
        already. Each is marked done before the next starts and before the turn ends."""
        async with inbox.chat_turn(key, update.update_id) as pending:
            if not pending or pending[-1].update_id != update.update_id:
                _close(coroutine)
                log.info("update.handled_elsewhere", extra={"fields": describe(update)})
                return
            for earlier in pending[:-1]:
                if self.handle is None:
                    break
                log.info(
                    "update.earlier_first",
                    extra={"fields": {"update_id": earlier.update_id, "before": update.update_id}},
                )
                token = ORIGIN.set(Origin("chat", key, earlier.update_id))
                try:
                    await self.handle(earlier.data)
                finally:
                    ORIGIN.reset(token)
                await inbox.finish(earlier.update_id)
            await coroutine
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
            with self.running.track():  # a stop cuts the notice short like any update
                if not chat.told and self.on_dropped is not None and isinstance(update, Update):
                    chat.told = True
                    try:
                        await self.on_dropped(update, chat.queued)
                    except Exception as exc:  # the notice is a courtesy: never lose the mark
                        log.warning(
                            "update.dropped_notice_failed",
                            extra={"fields": {"error": repr(exc)}},
                        )
                await self._finish(update)
        finally:
            ORIGIN.reset(origin)

    async def initialize(self) -> None:
        """Nothing to set up: chat queues are made as updates arrive."""

    async def shutdown(self) -> None:
        """A chat's queue goes when its last update is done; notices still being sent
        are cancelled."""
        for task in list(self._notices):
            task.cancel()
        await asyncio.gather(*self._notices, return_exceptions=True)


def _close(coroutine: Awaitable[Any]) -> None:
    """Discard PTB's ``process_update`` for an update that is never started."""
    if inspect.iscoroutine(coroutine) and coroutine.cr_frame is not None:
        coroutine.close()
