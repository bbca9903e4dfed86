"""Outgoing calls that survive a bad minute at Telegram.

PTB's ``AIORateLimiter`` keeps the bot under Telegram's limits (about 30 messages a
second overall, 20 a minute into one group) and, on a 429, waits the ``retry_after``
Telegram asks for before trying again. This subclass also retries what a network
error or a 5xx ended — with back-off, 0.5 s doubling — since a reply that never
arrives is worse than one that, rarely, arrives twice (a request that timed out may
have reached Telegram). Refusals (400, 403) are answers, not failures: never retried.
One refusal is not even an error: answering a button press Telegram has forgotten
(the update was handled again after a crash, or too late) — the reply still goes out.

The overall limit is shared fairly between chats (``FairQueue``): when it is reached,
every chat with something to send waits in a queue of its own, and the chats take turns
— so a chat with a hundred replies waiting delays another chat's reply by one turn, not
by a hundred. (PTB's own overall limiter serves whoever came first.) And one chat may
use at most half of the overall limit (``CHAT_SHARE``: 15 at once, then 15 a second, at
the default 30 — Telegram itself asks for about one a second into one chat), so a chat
that never stops sending leaves the other half for everyone else's replies.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
from collections import deque
from collections.abc import Awaitable, Callable, Coroutine, Hashable
from typing import Any, TypeVar

from aiolimiter import AsyncLimiter
from telegram.error import BadRequest, NetworkError, RetryAfter
from telegram.ext import AIORateLimiter

T = TypeVar("T")
MAX_BACKOFF = 60.0
# The part of the overall rate one chat may use.
CHAT_SHARE = 0.5
# Chats whose own limiter is kept while idle (the idle ones beyond are forgotten).
KEEP_CHAT_LIMITERS = 512

log = logging.getLogger("gridbot.sending")


def seconds(value: Any) -> float:
    """``retry_after`` as seconds (PTB 22 gives an int, later versions a timedelta)."""
    return value.total_seconds() if hasattr(value, "total_seconds") else float(value)


async def until_reachable(step: Callable[[], Awaitable[T]], event: str) -> T:
    """Run a start-up call (getMe, deleteWebhook, setWebhook) until Telegram can be
    reached: network errors back off from 1 s doubling to a minute, a 429 waits what it
    asks; a rejected token or any other refusal is raised at once."""
    delay = 1.0
    while True:
        try:
            return await step()
        except RetryAfter as exc:
            await asyncio.sleep(seconds(exc.retry_after))
        except BadRequest:
            raise
        except NetworkError as exc:
            log.warning(event, extra={"fields": {"error": type(exc).__name__}})
            await asyncio.sleep(delay)
            delay = min(delay * 2, MAX_BACKOFF)


def _expired_query(exc: BadRequest) -> bool:
    message = exc.message.lower()
    return "query is too old" in message or "query id is invalid" in message


class FairQueue:
    """``rate`` sends per ``period`` in all, taken in turns by chat.

    While the rate allows, a send goes at once. Once it is reached, each send waits in
    its chat's lane; each time the rate allows one more, the next lane in the rotation
    sends its oldest, then goes to the back of the rotation (round robin). Before that,
    a chat's sends wait for its own share of the rate (``chat_share``, bursts included).
    A chat's own sends keep their order."""

    def __init__(self, rate: float, period: float = 1.0, chat_share: float = CHAT_SHARE) -> None:
        self._bucket = AsyncLimiter(rate, period)
        # A chat's own bucket: its share of the rate, and of a burst.
        self._chat_rate = max(1.0, rate * chat_share)
        self._period = period
        self._chats: dict[Hashable, AsyncLimiter] = {}
        # Insertion order is the rotation: the first lane sends next.
        self._lanes: dict[Hashable, deque[asyncio.Future[None]]] = {}
        self._pump: asyncio.Task[None] | None = None

    async def turn(self, lane: Hashable) -> None:
        """Return when a send to ``lane`` (a chat) may go: within the chat's share first,
        then in its turn for the overall rate."""
        await self._chat_limiter(lane).acquire()
        if not self._lanes and self._bucket.has_capacity():
            await self._bucket.acquire()  # capacity left: does not wait
            return
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._lanes.setdefault(lane, deque()).append(waiter)
        if self._pump is None or self._pump.done():
            # A context of its own: not the first waiter's (its audit origin, say).
            self._pump = asyncio.create_task(
                self._serve(), name="gridbot-fair-sending", context=contextvars.Context()
            )
        await waiter  # cancelled with its task: _serve skips it

    def _chat_limiter(self, lane: Hashable) -> AsyncLimiter:
        if lane not in self._chats and len(self._chats) >= KEEP_CHAT_LIMITERS:
            for key, limiter in list(self._chats.items()):
                if limiter.has_capacity(limiter.max_rate):  # idle for a while: forget it
                    del self._chats[key]
        limiter = self._chats.get(lane)
        if limiter is None:
            limiter = self._chats[lane] = AsyncLimiter(self._chat_rate, self._period)
        return limiter

    async def _serve(self) -> None:
        while self._lanes:
            await self._bucket.acquire()
            while self._lanes:
                lane, waiters = next(iter(self._lanes.items()))
                waiter = waiters.popleft()
                del self._lanes[lane]
                if waiters:
                    self._lanes[lane] = waiters  # to the back of the rotation
                if not waiter.done():
                    waiter.set_result(None)
                    break

    @property
    def waiting(self) -> int:
        """Sends waiting for their turn."""
        return sum(len(waiters) for waiters in self._lanes.values())


class RetryingRateLimiter(AIORateLimiter):
    def __init__(
        self,
        *,
        network_retries: int = 4,
        first_delay: float = 0.5,
        overall_max_rate: float = 30,
        overall_time_period: float = 1,
        **kwargs: Any,
    ):
        # The overall limit is ours (fair between chats); PTB keeps the per-group limit,
        # the retries after a 429 and the pause of every send that a 429 asks for.
        super().__init__(overall_max_rate=0, **kwargs)
        self.fair = (
            FairQueue(overall_max_rate, overall_time_period)
            if overall_max_rate and overall_time_period
            else None
        )
        self.network_retries = network_retries
        self.first_delay = first_delay

    async def process_request(
        self,
        callback: Callable[..., Coroutine[Any, Any, bool | dict[str, Any] | list[dict[str, Any]]]],
        args: Any,
        kwargs: dict[str, Any],
        endpoint: str,
        data: dict[str, Any],
        rate_limit_args: int | None,
    ) -> bool | dict[str, Any] | list[dict[str, Any]]:
        delay = self.first_delay
        chat_id = data.get("chat_id")
        fair = self.fair if chat_id is not None and not data.get("allow_paid_broadcast") else None
        for attempt in range(self.network_retries + 1):
            if fair is not None:
                # As PTB's overall limiter: only calls to a chat count.
                await fair.turn(str(chat_id))
            try:
                return await super().process_request(
                    callback, args, kwargs, endpoint, data, rate_limit_args
                )
            except BadRequest as exc:
                if endpoint == "answerCallbackQuery" and _expired_query(exc):
                    # The spinner on a button Telegram no longer holds (answered before a
                    # crash, or too old): nothing to stop, and the reply must still go.
                    # An alert (a refusal shown only there) is lost, though: say so.
                    lost = bool(data.get("text"))
                    log.log(
                        logging.WARNING if lost else logging.INFO,
                        "send.query_expired",
                        extra={"fields": {"alert_lost": lost}},
                    )
                    return True
                raise
            except NetworkError as exc:  # includes TimedOut and Telegram's 5xx
                if attempt == self.network_retries:
                    log.error(
                        "send.failed",
                        extra={"fields": {"method": endpoint, "error": type(exc).__name__}},
                    )
                    raise
                log.warning(
                    "send.retry",
                    extra={
                        "fields": {
                            "method": endpoint,
                            "attempt": attempt + 1,
                            "error": type(exc).__name__,
                            "wait": delay,
                        }
                    },
                )
                await asyncio.sleep(delay)
                delay *= 2
        raise AssertionError("unreachable")  # pragma: no cover
