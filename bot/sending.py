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
import logging
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, TypeVar

from telegram.error import BadRequest, NetworkError, RetryAfter
from telegram.ext import AIORateLimiter

T = TypeVar("T")
MAX_BACKOFF = 60.0

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
        for attempt in range(self.network_retries + 1):
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
