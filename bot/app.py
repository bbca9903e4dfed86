"""The one place the PTB ``Application`` is built.

``post_init`` opens and migrates the database, then gives Telegram the command menus;
``post_shutdown`` closes the database. Updates of one chat run in order, chats run side
by side (``bot.ordering``); every outgoing call goes through PTB's rate limiter, with
retries on network errors and 5xx (``bot.sending``). PTB's
``Updater`` is not used: updates come from ``bot.polling`` or ``bot.webhook``, through
the durable inbox (``bot.inbox``); what was unfinished at the last stop is queued
first in ``post_init``.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import signal
from collections.abc import Awaitable, Callable
from typing import Any

from telegram import Update
from telegram.ext import Application, ApplicationBuilder
from telegram.request import BaseRequest, HTTPXRequest

from bot.clock import Clock
from bot.config import Config, ConfigError
from bot.context import CONTEXT_TYPES, GridApplication
from bot.jobs import schedule
from bot.ordering import ChatOrderedUpdateProcessor
from bot.polling import Poller
from bot.sending import RetryingRateLimiter, until_reachable
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
        changed = await sync_member_menus(application.bot, services)
        schedule(application)
        log.info(
            "bot.ready username=%s db=%s menus_changed=%s",
            application.bot.username,
            config.database.path,
            changed,
        )

    async def post_shutdown(application: Application) -> None:  # type: ignore[type-arg]
        services = getattr(application.bot_data, "services", None)
        if services is not None:
            await services.close()
        log.info("bot.stopped")

    processor = ChatOrderedUpdateProcessor(tg.max_concurrent_updates, tg.max_queued_per_chat)
    builder: ApplicationBuilder = (  # type: ignore[type-arg]
        Application.builder()
        .token(token)
        .base_url(tg.base_url)
        .base_file_url(tg.base_file_url)
        .context_types(CONTEXT_TYPES)
        .concurrent_updates(processor)
        .updater(None)  # bot.polling and bot.webhook receive, through the inbox
        .rate_limiter(
            RetryingRateLimiter(max_retries=5, overall_max_rate=tg.max_messages_per_second)
        )
        .post_init(post_init)
        .post_shutdown(post_shutdown)
    )
    if request is not None:
        builder = builder.request(request).get_updates_request(get_updates_request or request)
    else:
        builder = builder.request(
            HTTPXRequest(
                connection_pool_size=16,
                connect_timeout=tg.connect_timeout,
                read_timeout=tg.read_timeout,
            )
        ).get_updates_request(
            HTTPXRequest(connect_timeout=tg.connect_timeout, read_timeout=tg.poll_timeout + 10)
        )
    application = builder.build()

    register(application)
    return application  # type: ignore[return-value]


def poller(application: GridApplication, config: Config, **options: Any) -> Poller:
    """gridbot's getUpdates loop for this application (``bot.polling``)."""
    return Poller(
        application,
        lambda: application.bot_data.services.inbox,
        timeout=config.telegram.poll_timeout,
        allowed_updates=ALLOWED_UPDATES,
        **options,
    )


async def initialize(application: GridApplication) -> None:
    """``initialize`` (getMe) and ``post_init``, retried for as long as the network is
    down — a bot started before the network must come up with it; a rejected token
    stops it at once."""
    await until_reachable(application.initialize, "bot.start_failed")
    if application.post_init:
        await application.post_init(application)


async def finish(application: GridApplication) -> None:
    if application.running:
        await application.stop()
    await application.shutdown()
    if application.post_shutdown:
        await application.post_shutdown(application)


async def serve_polling(application: GridApplication, config: Config, stop: asyncio.Event) -> None:
    """Run until ``stop`` is set (or the token is rejected)."""
    await initialize(application)
    fatal: list[BaseException] = []

    def on_fatal(exc: BaseException) -> None:
        fatal.append(exc)
        stop.set()

    polling = poller(application, config, on_fatal=on_fatal)
    try:
        await application.start()
        await polling.start()
        await stop.wait()
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
