"""The composition root: the one place the PTB ``Application`` is built and the only
module that wires ``handlers`` into the runtime (``bot.runtime``).

``post_init`` opens and migrates the database and gives Telegram the public command
menus; each member's private menu is synced afterwards by a background task, paced,
while updates are already served. ``post_shutdown`` closes the database. Updates of one
chat run in order, chats run side by side (``bot.runtime.ordering``); every outgoing
call goes through ``GridBot`` (long texts split, unchanged edits skipped) and PTB's rate
limiter, with retries on network errors and 5xx (``bot.runtime.sending``). PTB's
``Updater`` is not used: updates come from ``bot.runtime.polling`` or
``bot.runtime.webhook``, through the durable inbox (``bot.domain.inbox``); what was
unfinished at the last stop is queued first in ``post_init``. Start and stop are
``bot.runtime.lifecycle``.

Every Bot API call and file download goes through ``[telegram] proxy`` when one is
set.
"""

from __future__ import annotations

import asyncio
import functools
import logging

from telegram import Update
from telegram.ext import Application, ApplicationBuilder
from telegram.request import BaseRequest, HTTPXRequest

from bot.config import Config, ConfigError
from bot.core.clock import Clock, SystemClock
from bot.outlets.hub import OutletHub
from bot.runtime.context import CONTEXT_TYPES, GridApplication
from bot.runtime.jobs import TrackedJobQueue
from bot.runtime.leader import Leadership
from bot.runtime.lifecycle import run_until_signal, serve_polling, stop_background
from bot.runtime.ordering import ChatOrderedUpdateProcessor
from bot.runtime.sending import GridBot, RetryingRateLimiter
from bot.runtime.webhook import serve
from bot.services import Services
from handlers import register
from handlers.errors import tell_dropping
from handlers.jobs import schedule
from handlers.menus import set_public_menus, sync_member_menus

log = logging.getLogger("gridbot.app")


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
    clock = clock or SystemClock()

    async def post_init(application: Application) -> None:  # type: ignore[type-arg]
        services = await Services.open(config, clock=clock)
        application.bot_data.services = services
        processor.inbox = lambda: services.inbox
        processor.on_dropped = functools.partial(tell_dropping, application)
        limiter = application.bot.rate_limiter
        if services.send_rate.active and isinstance(limiter, RetryingRateLimiter):
            limiter.shared = services.send_rate.turn  # the limits of every process together
        processor.handle = lambda data: application.process_update(
            Update.de_json(data, application.bot)
        )
        # What was received and not handled when the bot last stopped goes first.
        await services.inbox.prune()
        for replay in await services.inbox.unfinished():
            await application.update_queue.put(Update.de_json(replay.data, application.bot))
        # Outlets (group robots) are known from the first start that reads them.
        for outlet in await services.outlets.sync():
            if await services.outlets.unit_name(outlet.config.unit) is None:
                log.warning(
                    "outlet.unknown_unit outlet=%s unit=%s", outlet.name, outlet.config.unit
                )
        application.bot_data.outlets = OutletHub(services)
        await set_public_menus(application.bot, services)
        # Members' own menus can take minutes (two calls each, paced): in the background.
        application.bot_data.menu_sync = asyncio.create_task(
            _sync_menus(application, services, tg.menu_syncs_per_second),  # type: ignore[arg-type]
            name="gridbot-menus",
        )
        # Scheduled work runs in one process of a deployment (bot/runtime/leader.py).
        application.bot_data.leader = Leadership(services.db)
        application.bot_data.leader.start()
        schedule(application)
        log.info("bot.ready username=%s db=%s", application.bot.username, config.database.display)

    async def post_shutdown(application: Application) -> None:  # type: ignore[type-arg]
        await stop_background(application)  # type: ignore[arg-type]
        hub = getattr(application.bot_data, "outlets", None)
        if hub is not None:
            await hub.close()
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
            max_retries=5, overall_max_rate=tg.max_messages_per_second, sleep=clock.sleep
        ),
    )
    builder: ApplicationBuilder = (  # type: ignore[type-arg]
        Application.builder()
        .bot(bot)
        .context_types(CONTEXT_TYPES)
        .job_queue(TrackedJobQueue())
        .concurrent_updates(processor)
        .updater(None)  # bot.runtime.polling and bot.runtime.webhook receive, through the inbox
        .post_init(post_init)
        .post_shutdown(post_shutdown)
    )
    application = builder.build()
    application.bot_data.clock = clock  # the runtime's back-off waits on it

    register(application)
    return application  # type: ignore[return-value]


async def _sync_menus(application: GridApplication, services: Services, per_second: float) -> None:
    try:
        await sync_member_menus(application.bot, services, per_second=per_second)
    except asyncio.CancelledError:
        raise
    except Exception:  # the bot serves on; the next start syncs what is left
        log.exception("menus.sync_failed")


def run_polling(config: Config) -> None:
    """Start long polling and block until SIGINT/SIGTERM."""
    application = build_application(config)
    run_until_signal(lambda stop: serve_polling(application, config, stop))


def run_webhook(config: Config, secret: str) -> None:
    """Serve webhook mode (``bot.runtime.webhook``) until SIGINT or SIGTERM."""
    application = build_application(config)
    run_until_signal(lambda stop: serve(application, config, stop, secret))
