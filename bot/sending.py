"""Outgoing calls that survive a bad minute at Telegram.

PTB's ``AIORateLimiter`` keeps the bot under Telegram's limits (about 30 messages a
second overall, 20 a minute into one group) and, on a 429, waits the ``retry_after``
Telegram asks for before trying again. This subclass also retries what a network
error or a 5xx ended — with back-off, 0.5 s doubling — since a reply that never
arrives is worse than one that, rarely, arrives twice (a request that timed out may
have reached Telegram). Refusals (400, 403) are answers, not failures: never retried.
One refusal is not even an error: answering a button press Telegram has forgotten
(the update was handled again after a crash, or too late) — the reply still goes out.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from typing import Any, TypeVar

from telegram.error import BadRequest, NetworkError, RetryAfter
from telegram.ext import AIORateLimiter

T = TypeVar("T")
MAX_BACKOFF = 60.0
# Start-up calls ``until_reachable`` retries itself, for as long as it takes and with a
# log line that says what cannot be reached: the rate limiter does not retry them too.
RETRIED_AT_START = frozenset({"getMe", "deleteWebhook", "setWebhook"})

log = logging.getLogger("gridbot.sending")


def seconds(value: Any) -> float:
    """``retry_after`` as seconds (PTB 22 gives an int, later versions a timedelta)."""
    return value.total_seconds() if hasattr(value, "total_seconds") else float(value)


class Stopped(Exception):
    """The stop signal (SIGINT, SIGTERM) came while waiting for Telegram."""


async def unless_stopped(work: Awaitable[T], stop: asyncio.Event | None) -> T:
    """``await work``, unless ``stop`` is set first: then ``work`` is cancelled and
    ``Stopped`` raised."""
    if stop is None:
        return await work
    if stop.is_set():
        if asyncio.iscoroutine(work):
            work.close()
        raise Stopped
    task = asyncio.ensure_future(work)
    waiter = asyncio.ensure_future(stop.wait())
    try:
        await asyncio.wait({task, waiter}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        waiter.cancel()
        if not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
    if task.cancelled():
        raise Stopped
    return task.result()


async def until_reachable(
    step: Callable[[], Awaitable[T]],
    event: str,
    *,
    stop: asyncio.Event | None = None,
    where: Mapping[str, object] | None = None,
) -> T:
    """Run a start-up call (getMe, deleteWebhook, setWebhook) until Telegram can be
    reached: network errors back off from 1 s doubling to a minute, a 429 waits what it
    asks; a rejected token or any other refusal is raised at once. The call and every
    wait end at once when ``stop`` is set (``Stopped``). ``where`` goes into the warning:
    which address could not be reached and what to check (never the token)."""
    delay = 1.0
    while True:
        try:
            return await unless_stopped(step(), stop)
        except RetryAfter as exc:
            wait = seconds(exc.retry_after)
        except BadRequest:
            raise
        except NetworkError as exc:
            fields = {**(where or {}), "error": type(exc).__name__, "detail": str(exc)[:200]}
            log.warning(event, extra={"fields": {**fields, "retry_in": delay}})
            wait, delay = delay, min(delay * 2, MAX_BACKOFF)
        await unless_stopped(asyncio.sleep(wait), stop)


def _expired_query(exc: BadRequest) -> bool:
    message = exc.message.lower()
    return "query is too old" in message or "query id is invalid" in message


class RetryingRateLimiter(AIORateLimiter):
    def __init__(self, *, network_retries: int = 4, first_delay: float = 0.5, **kwargs: Any):
        super().__init__(**kwargs)
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
        retries = 0 if endpoint in RETRIED_AT_START else self.network_retries
        for attempt in range(retries + 1):
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
                if attempt == retries:
                    if endpoint in RETRIED_AT_START:  # until_reachable logs it, and where
                        raise
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
