"""The one place the PTB ``Application`` is built.

``post_init`` opens and migrates the database and gives Telegram the public command
menus; each member's private menu is synced afterwards by a background task, paced,
while updates are already served (``post_shutdown`` and ``finish`` cancel it).
``post_shutdown`` closes the database. Updates of one chat run in order, chats run side
by side (``bot.ordering``); every outgoing call goes through ``GridBot`` (long texts
split, unchanged edits skipped) and PTB's rate limiter, with retries on network errors
and 5xx (``bot.sending``). PTB's
``Updater`` is not used: updates come from ``bot.polling`` or ``bot.webhook``, through
the durable inbox (``bot.inbox``); what was unfinished at the last stop is queued
first in ``post_init``.

Every Bot API call and file download goes through ``[telegram] proxy`` when one is
set. The stop signal (SIGINT, SIGTERM) ends every wait for Telegram at once, also the
retries while it cannot be reached at start.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import signal
from collections.abc import Awaitable, Callable
from typing import Any

from telegram import Update
from telegram.ext import Application, ApplicationBuilder
from telegram.request import BaseRequest, HTTPXRequest

from bot.clock import Clock
from bot.config import Config, ConfigError, redacted_proxy
from bot.context import CONTEXT_TYPES, GridApplication
from bot.inflight import InFlight, cut_short
from bot.jobs import TrackedJobQueue, schedule
from bot.ordering import ChatOrderedUpdateProcessor
from bot.polling import Poller
from bot.sending import GridBot, RetryingRateLimiter, Stopped, until_reachable
from bot.services import Services
from handlers import register
from handlers.errors import tell_dropping
from handlers.menus import set_public_menus, sync_member_menus

log = logging.getLogger("gridbot.app")

ALLOWED_UPDATES = [
    Update.MESSAGE,
    Update.EDITED_MESSAGE,
    Update.CALLBACK_QUERY,
    Update.MY_CHAT_MEMBER,
]


def build_application(
    config: Config,
    *,
    clock: Clock | None = None,
    request: BaseRequest | None = None,
    get_updates_request: BaseRequest | None = None,
) -> GridApplication:
    """Build (not start) the bot for ``config``.

    ``request`` / ``get_updates_request`` replace the HTTP layer — tests pass requests
    whose httpx transport is the Bot API test server.
    """
    token = config.token()
    if not token:
        source = config.source.name if config.source else "config"
        raise ConfigError(
            [f"{source}: telegram.token: missing (set GRIDBOT_TOKEN or telegram.token)"]
        )
    tg = config.telegram

    async def post_init(application: Application) -> None:  # type: ignore[type-arg]
        services = await Services.open(config, clock=clock)
        application.bot_data.services = services
        processor.inbox = lambda: services.inbox
        processor.on_dropped = functools.partial(tell_dropping, application)
        # What was received and not handled when the bot last stopped goes first.
        await services.inbox.prune()
        for replay in await services.inbox.unfinished():
            await application.update_queue.put(Update.de_json(replay.data, application.bot))
        await set_public_menus(application.bot, services)
        # Members' own menus can take minutes (two calls each, paced): in the background.
        application.bot_data.menu_sync = asyncio.create_task(
            _sync_menus(application, services, tg.menu_syncs_per_second),  # type: ignore[arg-type]
            name="gridbot-menus",
        )
        schedule(application)
        log.info("bot.ready username=%s db=%s", application.bot.username, config.database.path)

    async def post_shutdown(application: Application) -> None:  # type: ignore[type-arg]
        await _stop_menu_sync(application)  # type: ignore[arg-type]
        services = getattr(application.bot_data, "services", None)
        if services is not None:
            await services.close()
        log.info("bot.stopped")

    processor = ChatOrderedUpdateProcessor(tg.max_concurrent_updates, tg.max_queued_per_chat)
    if request is None:
        # One proxy for both: bot methods and file downloads use ``request``, polling
        # uses ``get_updates_request``.
        proxy = tg.proxy_url()
        request = HTTPXRequest(
            connection_pool_size=16,
            connect_timeout=tg.connect_timeout,
            read_timeout=tg.read_timeout,
            proxy=proxy,
        )
        get_updates_request = HTTPXRequest(
            connect_timeout=tg.connect_timeout,
            read_timeout=tg.poll_timeout + 10,
            proxy=proxy,
        )
    bot = GridBot(
        token,
        base_url=tg.base_url,
        base_file_url=tg.base_file_url,
        request=request,
        get_updates_request=get_updates_request or request,
        rate_limiter=RetryingRateLimiter(
            max_retries=5, overall_max_rate=tg.max_messages_per_second
        ),
    )
    builder: ApplicationBuilder = (  # type: ignore[type-arg]
        Application.builder()
        .bot(bot)
        .context_types(CONTEXT_TYPES)
        .job_queue(TrackedJobQueue())
        .concurrent_updates(processor)
        .updater(None)  # bot.polling and bot.webhook receive, through the inbox
        .post_init(post_init)
        .post_shutdown(post_shutdown)
    )
    application = builder.build()

    register(application)
    return application  # type: ignore[return-value]


async def _sync_menus(application: GridApplication, services: Services, per_second: float) -> None:
    try:
        await sync_member_menus(application.bot, services, per_second=per_second)
    except asyncio.CancelledError:
        raise
    except Exception:  # the bot serves on; the next start syncs what is left
        log.exception("menus.sync_failed")


async def _stop_menu_sync(application: GridApplication) -> None:
    task = getattr(application.bot_data, "menu_sync", None)
    if task is not None and not task.done():
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def telegram_address(config: Config) -> dict[str, str]:
    """For a log line saying Telegram cannot be reached: where it was looked for (the
    Bot API address without the token, the proxy without credentials) and what to
    check."""
    tg = config.telegram
    proxy = tg.proxy_url()
    check = (
        "the network and the proxy ([telegram] proxy or --proxy)"
        if proxy
        else "the network, a firewall, or whether a proxy is needed ([telegram] proxy or --proxy)"
    )
    return {"api": tg.base_url, "proxy": redacted_proxy(proxy), "check": check}


def poller(
    application: GridApplication,
    config: Config,
    *,
    stop: asyncio.Event | None = None,
    **options: Any,
) -> Poller:
    """gridbot's getUpdates loop for this application (``bot.polling``)."""
    return Poller(
        application,
        lambda: application.bot_data.services.inbox,
        timeout=config.telegram.poll_timeout,
        allowed_updates=ALLOWED_UPDATES,
        stop=stop,
        where=telegram_address(config),
        **options,
    )


async def initialize(
    application: GridApplication, config: Config, stop: asyncio.Event | None = None
) -> None:
    """``initialize`` (getMe) and ``post_init``; getMe is retried for as long as the
    network is down — a bot started before the network must come up with it — until
    ``stop`` is set (``Stopped``); a rejected token stops it at once."""
    await until_reachable(
        application.initialize, "bot.start_failed", stop=stop, where=telegram_address(config)
    )
    if application.post_init:
        await application.post_init(application)


async def finish(application: GridApplication) -> None:
    """Stop promptly: no update or job starts any more, those still waiting are left to
    the next start, the running ones get ``telegram.stop_grace_seconds`` and are then
    cancelled (``bot.inflight``); then PTB's stop, shutdown and ``post_shutdown``."""
    await _stop_menu_sync(application)
    if application.running:
        await _cut_short(application)
        await application.stop()
    await application.shutdown()
    if application.post_shutdown:
        await application.post_shutdown(application)


async def _cut_short(application: GridApplication) -> None:
    services = getattr(application.bot_data, "services", None)
    grace = services.config.telegram.stop_grace_seconds if services is not None else 1.0
    kinds: dict[str, InFlight] = {}
    processor = application.update_processor
    if isinstance(processor, ChatOrderedUpdateProcessor):
        left = processor.close()
        if left:
            log.info("stop.updates_left", extra={"fields": {"count": left}})
        kinds["updates"] = processor.running
    jobs = application.job_queue
    if isinstance(jobs, TrackedJobQueue):
        if jobs.scheduler.running:
            jobs.scheduler.pause()  # start no job during the grace period
        kinds["jobs"] = jobs.running
    await cut_short(grace, **kinds)


async def serve_polling(application: GridApplication, config: Config, stop: asyncio.Event) -> None:
    """Run until ``stop`` is set (or the token is rejected); ``stop`` also ends the
    waits for an unreachable Telegram at start."""
    fatal: list[BaseException] = []

    def on_fatal(exc: BaseException) -> None:
        fatal.append(exc)
        stop.set()

    polling = poller(application, config, on_fatal=on_fatal, stop=stop)
    try:
        await initialize(application, config, stop)
        await application.start()
        await polling.start()
        await stop.wait()
    except Stopped:
        log.info("bot.stopped_while_starting")
    finally:
        await polling.stop()
        await finish(application)
    if fatal:
        raise fatal[0]


def run_until_signal(serve: Callable[[asyncio.Event], Awaitable[None]]) -> None:
    """Run ``serve(stop)`` in a new event loop; SIGINT or SIGTERM sets ``stop``."""

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await serve(stop)

    asyncio.run(main())


def run_polling(config: Config) -> None:
    """Start long polling and block until SIGINT/SIGTERM."""
    application = build_application(config)
    run_until_signal(lambda stop: serve_polling(application, config, stop))
