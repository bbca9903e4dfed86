"""Outgoing calls that survive a bad minute at Telegram.

PTB's ``AIORateLimiter`` keeps the bot under Telegram's limits (about 30 messages a
second overall, 20 a minute into one group) and, on a 429, waits the ``retry_after``
Telegram asks for before trying again. This subclass also retries what a network
error or a 5xx ended — with back-off, 0.5 s doubling — since a reply that never
arrives is worse than one that, rarely, arrives twice (a request that timed out may
have reached Telegram). Refusals (400, 403) are answers, not failures: never retried.
One refusal is not even an error: answering a button press Telegram has forgotten
(the update was handled again after a crash, or too late) — the reply still goes out.

``GridBot`` is the bot itself: every message goes out through its ``send_message``, which
splits a text too long for one message, and its edits, which skip what would change
nothing.

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
import contextlib
import contextvars
import hashlib
import logging
from collections import OrderedDict, deque
from collections.abc import Awaitable, Callable, Coroutine, Hashable, Mapping
from typing import Any, TypeVar

from aiolimiter import AsyncLimiter
from telegram import InlineKeyboardMarkup, Message, Update
from telegram._utils.defaultvalue import DEFAULT_NONE, DefaultValue
from telegram.constants import ParseMode
from telegram.error import BadRequest, NetworkError, RetryAfter
from telegram.ext import AIORateLimiter, ExtBot

from bot.runtime.longtext import shorten, size, split_text

T = TypeVar("T")
MAX_BACKOFF = 60.0
# Start-up calls ``until_reachable`` retries itself, for as long as it takes and with a
# log line that says what cannot be reached: the rate limiter does not retry them too.
RETRIED_AT_START = frozenset({"getMe", "deleteWebhook", "setWebhook"})
# The part of the overall rate one chat may use.
CHAT_SHARE = 0.5
# Chats whose own limiter is kept while idle (the idle ones beyond are forgotten).
KEEP_CHAT_LIMITERS = 512

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
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> T:
    """Run a start-up call (getMe, deleteWebhook, setWebhook) until Telegram can be
    reached: network errors back off from 1 s doubling to a minute, a 429 waits what it
    asks; a rejected token or any other refusal is raised at once. The call and every
    wait end at once when ``stop`` is set (``Stopped``). ``where`` goes into the warning:
    which address could not be reached and what to check (never the token). The waits
    are ``sleep`` (the application's clock, ``bot.core.clock``)."""
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
        await unless_stopped(sleep(wait), stop)


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
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
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
        self.sleep = sleep  # the back-off between network retries (the application's clock)
        # With several processes on one store: the deployment's limits, shared through the
        # database (``bot.domain.send_rate``), taken before this process's own.
        self.shared: Callable[[Any], Awaitable[None]] | None = None
        # A chat's sends take their shared token one after another, so they keep their
        # order (a round trip to the database each); only while some are waiting.
        self._shared_turns: dict[str, asyncio.Lock] = {}

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
        chat_id = data.get("chat_id")
        fair = self.fair if chat_id is not None and not data.get("allow_paid_broadcast") else None
        for attempt in range(retries + 1):
            if fair is not None and self.shared is not None:
                await self._shared_turn(fair, str(chat_id), chat_id)
            elif fair is not None:
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
                await self.sleep(delay)
                delay *= 2
        raise AssertionError("unreachable")  # pragma: no cover

    async def _shared_turn(self, fair: FairQueue, lane: str, chat_id: Any) -> None:
        """The deployment's token, then this process's turn, a chat's sends in order."""
        assert self.shared is not None
        lock = self._shared_turns.setdefault(lane, asyncio.Lock())
        try:
            async with lock:
                await self.shared(chat_id)
                await fair.turn(lane)
        finally:
            idle = not lock.locked() and not getattr(lock, "_waiters", None)
            if idle and self._shared_turns.get(lane) is lock:
                del self._shared_turns[lane]


def _digest(*values: object) -> bytes:
    return hashlib.blake2b(repr(values).encode("utf-8", "surrogatepass"), digest_size=16).digest()


class GridBot(ExtBot[None]):
    """The bot every reply goes out through (built in ``bot.app``), so no handler or job
    has to remember two rules of Telegram:

    * A text over one message (4,096 characters, ``bot.runtime.longtext``) is sent as several,
      cut between lines and never inside an HTML tag; the keyboard goes with the last
      part, a reply-to with the first, and the last part's ``Message`` is returned. An
      edit cannot become two messages: its text is shortened to fit, with "…".
    * An edit that would change nothing is not sent (Telegram refuses it: "message is
      not modified"). What each message shows is remembered from the bot's own sends and
      edits (the latest ``SHOWN_MAX`` messages); a double tap on a button edits once.
      After a restart the memory is empty, and Telegram's refusal is taken as the same
      answer: the message already shows it.

    It also fetches updates as JSON (``get_updates_data``), for the durable inbox to
    store as they came and the poller to parse only the ones it hands on (``update_of``).
    """

    SHOWN_MAX = 20_000

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._shown: OrderedDict[tuple[str, int], tuple[bytes | None, bytes]] = OrderedDict()

    async def get_updates_data(
        self,
        offset: int | None = None,
        poll_seconds: int = 0,
        allowed_updates: list[str] | None = None,
        *,
        read_timeout: float,
    ) -> list[dict[str, Any]]:
        """``getUpdates`` as Telegram answered it: each update's JSON, not yet parsed.

        ``get_updates`` parses every update into an ``Update``, which the durable inbox
        would then turn back into JSON to store it (both pure Python, about half a
        millisecond an update): the poller stores this JSON as it came and parses only
        what it hands to the handlers (``update_of``). The same request as
        ``get_updates`` (through ``_post``, so the rate limiter and the errors are the
        same), ``poll_seconds`` its ``timeout`` (the long poll), which is added to
        ``read_timeout`` as it does there."""
        result = await self._post(
            "getUpdates",
            {"timeout": poll_seconds, "offset": offset, "allowed_updates": allowed_updates},
            read_timeout=read_timeout + poll_seconds,
        )
        return result if isinstance(result, list) else []

    def update_of(self, data: dict[str, Any]) -> Update:
        """An update's JSON (from ``get_updates_data``, or stored) parsed, as
        ``get_updates`` would have returned it."""
        update = Update.de_json(data, self)
        self.insert_callback_data(update)
        return update

    def _html(self, parse_mode: Any) -> bool:
        if isinstance(parse_mode, DefaultValue):  # not given: the bot's default
            parse_mode = self.defaults.parse_mode if self.defaults else parse_mode.value
        return str(parse_mode).lower() == ParseMode.HTML.lower()

    def _remember(
        self, chat_id: Any, message_id: Any, text: bytes | None, markup: bytes | None
    ) -> None:
        if chat_id is None or message_id is None:
            return
        key = (str(chat_id), int(message_id))
        if text is None and key in self._shown:
            text = self._shown[key][0]  # a new keyboard under the same text
        self._shown[key] = (text, markup or b"")
        self._shown.move_to_end(key)
        while len(self._shown) > self.SHOWN_MAX:
            self._shown.popitem(last=False)

    def _forget(self, chat_id: Any, message_id: Any) -> None:
        """While an edit is on its way, what the message shows is not known: an edit
        that fails may still have taken effect, and another edit may overtake it."""
        if chat_id is not None and message_id is not None:
            self._shown.pop((str(chat_id), int(message_id)), None)

    def _shows(self, chat_id: Any, message_id: Any) -> tuple[bytes | None, bytes] | None:
        if chat_id is None or message_id is None:
            return None
        return self._shown.get((str(chat_id), int(message_id)))

    @staticmethod
    def _markup(reply_markup: Any) -> bytes:
        """The inline keyboard a message shows (a reply keyboard is not part of it)."""
        if isinstance(reply_markup, InlineKeyboardMarkup):
            return _digest(reply_markup.to_json())
        return b""

    async def send_message(  # type: ignore[override]
        self,
        chat_id: int | str,
        text: str,
        parse_mode: Any = DEFAULT_NONE,
        entities: Any = None,
        disable_notification: Any = DEFAULT_NONE,
        protect_content: Any = DEFAULT_NONE,
        reply_markup: Any = None,
        **kwargs: Any,
    ) -> Message:
        html = self._html(parse_mode)
        parts = ([text] if entities else split_text(text, html=html)) or [text]
        sent: Message | None = None
        for index, part in enumerate(parts):
            last = index == len(parts) - 1
            extra = (
                kwargs
                if index == 0
                else {
                    name: value
                    for name, value in kwargs.items()
                    if name not in ("reply_to_message_id", "reply_parameters")
                }
            )
            sent = await super().send_message(
                chat_id,
                part,
                parse_mode=parse_mode,
                entities=entities,
                disable_notification=disable_notification,
                protect_content=protect_content,
                reply_markup=reply_markup if last else None,
                **extra,
            )
            self._remember(
                sent.chat_id,
                sent.message_id,
                _digest(part, html),
                self._markup(reply_markup if last else None),
            )
        if len(parts) > 1:
            log.info("send.split", extra={"fields": {"parts": len(parts), "size": size(text)}})
        assert sent is not None
        return sent

    async def edit_message_text(  # type: ignore[override]
        self,
        text: str,
        chat_id: int | str | None = None,
        message_id: int | None = None,
        inline_message_id: str | None = None,
        parse_mode: Any = DEFAULT_NONE,
        reply_markup: Any = None,
        **kwargs: Any,
    ) -> Message | bool:
        html = self._html(parse_mode)
        if not kwargs.get("entities"):
            text = shorten(text, html=html)
        wanted = (_digest(text, html), self._markup(reply_markup))
        if self._shows(chat_id, message_id) == wanted:
            log.debug("send.edit_unchanged")
            return True
        self._forget(chat_id, message_id)  # unknown until Telegram answers (it may fail)
        try:
            edited = await super().edit_message_text(
                text,
                chat_id=chat_id,
                message_id=message_id,
                inline_message_id=inline_message_id,
                parse_mode=parse_mode,
                reply_markup=reply_markup,
                **kwargs,
            )
        except BadRequest as exc:
            if not _not_modified(exc):
                raise
            edited = True
        self._remember(chat_id, message_id, *wanted)
        return edited

    async def edit_message_reply_markup(  # type: ignore[override]
        self,
        chat_id: int | str | None = None,
        message_id: int | None = None,
        inline_message_id: str | None = None,
        reply_markup: Any = None,
        **kwargs: Any,
    ) -> Message | bool:
        markup = self._markup(reply_markup)
        shown = self._shows(chat_id, message_id)
        if shown is not None and shown[1] == markup:
            log.debug("send.edit_unchanged")
            return True
        self._forget(chat_id, message_id)
        try:
            edited = await super().edit_message_reply_markup(
                chat_id=chat_id,
                message_id=message_id,
                inline_message_id=inline_message_id,
                reply_markup=reply_markup,
                **kwargs,
            )
        except BadRequest as exc:
            if not _not_modified(exc):
                raise
            edited = True
        self._remember(chat_id, message_id, shown[0] if shown else None, markup)
        return edited


def _not_modified(exc: BadRequest) -> bool:
    return "message is not modified" in exc.message.lower()
