"""The one place the PTB ``Application`` is built.

``post_init`` opens and migrates the database, then gives Telegram the command menus;
``post_shutdown`` closes the database. Updates of one chat run in order, chats run side
by side (``bot.ordering``); every outgoing call goes through PTB's rate limiter.
"""

from __future__ import annotations

import logging

from telegram import Update
from telegram.ext import AIORateLimiter, Application, ApplicationBuilder
from telegram.request import BaseRequest, HTTPXRequest

from bot.clock import Clock
from bot.config import Config, ConfigError
from bot.context import CONTEXT_TYPES, GridApplication
from bot.jobs import schedule
from bot.ordering import ChatOrderedUpdateProcessor
from bot.services import Services
from handlers import register
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

    builder: ApplicationBuilder = (  # type: ignore[type-arg]
        Application.builder()
        .token(token)
        .base_url(tg.base_url)
        .base_file_url(tg.base_file_url)
        .context_types(CONTEXT_TYPES)
        .concurrent_updates(ChatOrderedUpdateProcessor(tg.max_concurrent_updates))
        .rate_limiter(AIORateLimiter(max_retries=3))
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


def run_polling(config: Config) -> None:
    """Start long polling and block until SIGINT/SIGTERM.

    Network failures while starting are retried for as long as it takes (a bot started
    before the network is up must come up with it); a token the Bot API rejects is not.
    """
    application = build_application(config)
    application.run_polling(
        allowed_updates=ALLOWED_UPDATES,
        timeout=config.telegram.poll_timeout,
        drop_pending_updates=False,
        bootstrap_retries=-1,
    )
