"""Long polling of gridbot's own, around ``getUpdates``, with the durable inbox.

PTB's ``Updater`` moves the offset (which tells Telegram the updates arrived) as soon
as it has queued them. This poller commits each batch to the inbox first and moves
the offset only then, so an update Telegram forgets is always in the database.

When ``getUpdates`` keeps failing (network down, Telegram 5xx, 429, a second instance
polling with the same token) it backs off — 1 s doubling to 60 s, or the ``retry_after``
Telegram asks for, waited on the application's clock — and recovers by itself. It logs
once when polling starts failing and once when it recovers, not once per try. A watchdog
restarts the loop if it dies or hangs in a getUpdates call without saying why (never
while it commits a batch: a commit it gave up on might land all the same, and the batch
would never be handled).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from telegram.error import InvalidToken, RetryAfter

from bot.domain.inbox import Inbox
from bot.runtime.ordering import ChatOrderedUpdateProcessor
from bot.runtime.sending import MAX_BACKOFF, seconds, until_reachable

log = logging.getLogger("gridbot.polling")


class Poller:
    def __init__(
        self,
        application: Any,
        inbox: Callable[[], Inbox],
        *,
        timeout: int,
        allowed_updates: list[str],
        read_margin: float = 10.0,
        watchdog_every: float = 30.0,
        on_fatal: Callable[[BaseException], Awaitable[None] | None] | None = None,
        stop: asyncio.Event | None = None,
        where: Mapping[str, object] | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.application = application
        self.inbox = inbox
        self.timeout = timeout
        self.allowed_updates = allowed_updates
        self.read_margin = read_margin
        self.watchdog_every = watchdog_every
        self.on_fatal = on_fatal
        self.stop_event = stop  # ends the wait for deleteWebhook at start
        self.where = dict(where or {})  # what cannot be reached, for the log lines
        self.sleep = sleep  # the back-off between failed tries (the application's clock)
        self.offset: int | None = None
        self.heartbeat = time.monotonic()
        self.failing_since: float | None = None
        self.failures = 0
        self.restarts = 0
        self._loop_task: asyncio.Task[None] | None = None
        self._watchdog_task: asyncio.Task[None] | None = None
        self._stopping = False
        self._fetching: asyncio.Task[Any] | None = None  # the loop, while in getUpdates

    @property
    def stale_after(self) -> float:
        """How long one getUpdates may take before the loop counts as stuck."""
        return self.timeout + self.read_margin + 30.0

    async def start(self) -> None:
        await self._delete_webhook()
        self._loop_task = asyncio.create_task(self._loop(), name="gridbot-poll")
        self._watchdog_task = asyncio.create_task(self._watchdog(), name="gridbot-watchdog")
        log.info("polling.started", extra={"fields": {"timeout": self.timeout}})

    async def stop(self) -> None:
        self._stopping = True
        for task in (self._watchdog_task, self._loop_task):
            if task is not None and not task.done():
                task.cancel()
        for task in (self._watchdog_task, self._loop_task):
            if task is not None:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task

    async def _delete_webhook(self) -> None:
        """Polling and a webhook exclude each other; pending updates are kept."""
        bot = self.application.bot
        await until_reachable(
            lambda: bot.delete_webhook(drop_pending_updates=False),
            "polling.delete_webhook_failed",
            stop=self.stop_event,
            where=self.where,
            sleep=self.sleep,
        )

    async def _loop(self) -> None:
        delay = 1.0
        while True:
            self.heartbeat = time.monotonic()
            try:
                self._fetching = asyncio.current_task()
                try:
                    updates = await self.application.bot.get_updates_data(
                        offset=self.offset,
                        poll_seconds=self.timeout,
                        allowed_updates=self.allowed_updates,
                        read_timeout=self.timeout + self.read_margin,
                    )
                finally:
                    if self._fetching is asyncio.current_task():
                        self._fetching = None
                await self._take(updates)
            except asyncio.CancelledError:
                raise
            except InvalidToken as exc:
                self._stopping = True
                log.critical("polling.invalid_token")
                if self.on_fatal:
                    result = self.on_fatal(exc)
                    if result is not None:
                        await result
                return
            except RetryAfter as exc:
                self._failed(exc)
                await self.sleep(seconds(exc.retry_after))
            except Exception as exc:  # network, 5xx, 409 conflict, a database error
                self._failed(exc)
                self.heartbeat = time.monotonic()
                await self.sleep(delay)
                delay = min(delay * 2, MAX_BACKOFF)
            else:
                delay = 1.0
                if self.failing_since is not None:
                    log.warning(
                        "polling.recovered",
                        extra={
                            "fields": {
                                "failures": self.failures,
                                "seconds": round(time.monotonic() - self.failing_since, 1),
                            }
                        },
                    )
                    self.failing_since, self.failures = None, 0

    async def _take(self, updates: list[dict[str, Any]]) -> None:
        """Commit a batch (the JSON as it came), then (by moving the offset) let Telegram
        forget it; only then are the new updates parsed and handed to the handlers.

        Before the commit each new update is taken into its chat's queue
        (``ChatOrderedUpdateProcessor.admit``); one whose chat has too many queued is
        committed as done instead, never parsed: a flooding chat's updates past its cap
        cost one row each, not a parse, a task and a commit of their own."""
        updates = [u for u in updates if isinstance(u, dict)]
        ids = [u["update_id"] for u in updates if isinstance(u.get("update_id"), int)]
        if not updates:
            return
        processor = self.application.update_processor
        chats: dict[int, int | None] = {}  # asked about, with their chat
        admit = None
        if isinstance(processor, ChatOrderedUpdateProcessor):

            def admit(update_id: int, chat_id: int | None) -> bool:
                chats[update_id] = chat_id
                return processor.admit(update_id, chat_id)

        try:
            handle = set(await self.inbox().receive(updates, admit))
        except BaseException:
            for update_id in chats:  # not committed: fetched and asked about again
                processor.release(update_id)
            raise
        if ids:
            self.offset = max(ids) + 1
        bot = self.application.bot
        unreadable: list[int] = []
        for data in updates:  # no waiting in here: every admitted update is queued
            update_id = data.get("update_id")
            if update_id in handle:
                try:
                    update = bot.update_of(data)
                except Exception as exc:  # stored, but not an update PTB can read
                    if update_id in chats:
                        processor.release(update_id)
                    log.error(
                        "polling.unreadable_update",
                        extra={"fields": {"update_id": update_id, **_error(exc)}},
                    )
                    unreadable.append(update_id)
                    continue
                self.application.update_queue.put_nowait(update)
            elif update_id in chats:  # refused: stored done
                processor.dropped(data, chats[update_id], functools.partial(bot.update_of, data))
        for update_id in unreadable:
            await self.inbox().finish(update_id)  # not replayed at every start

    def _failed(self, exc: BaseException) -> None:
        self.failures += 1
        if self.failing_since is None:
            self.failing_since = time.monotonic()
            log.warning("polling.failing", extra={"fields": {**self.where, **_error(exc)}})
        else:
            log.debug("polling.still_failing", extra={"fields": _error(exc)})

    async def _watchdog(self) -> None:
        while True:
            await asyncio.sleep(self.watchdog_every)
            task = self._loop_task
            dead = task is None or task.done()
            # Only a getUpdates call that hangs is cut off. A commit of the inbox that is
            # slow is waited for: cancelled, it may still land after the loop gave it up,
            # and the batch would then be stored but never handed to the handlers.
            stuck = (
                self._fetching is not None
                and self._fetching is task
                and time.monotonic() - self.heartbeat > self.stale_after
            )
            if self._stopping or not (dead or stuck):
                continue
            idle = round(time.monotonic() - self.heartbeat, 1)
            reason = "ended" if dead else "stuck"
            log.error("polling.restarted", extra={"fields": {"reason": reason, "idle": idle}})
            if task is not None and not task.done():
                task.cancel()
            self.restarts += 1
            self.heartbeat = time.monotonic()
            self._loop_task = asyncio.create_task(self._loop(), name="gridbot-poll")


def _error(exc: BaseException) -> dict[str, str]:
    return {"error": type(exc).__name__, "detail": str(exc)[:200]}
