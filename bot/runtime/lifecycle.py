"""Start and stop: the lifecycle both ways of receiving share (``bot.runtime.polling``,
``bot.runtime.webhook``).

Start is getMe, retried while the network is down until the stop signal, then
``post_init``. A stop starts no new update or job, gives the running ones
``telegram.stop_grace_seconds`` (``bot.runtime.inflight``), cancels the background tasks
kept in ``bot_data`` and runs PTB's stop and shutdown. SIGINT and SIGTERM set the stop
event (``run_until_signal``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Awaitable, Callable
from typing import Any

from telegram import Update

from bot.config import Config, redacted_proxy
from bot.runtime.context import GridApplication
from bot.runtime.inflight import InFlight, cut_short
from bot.runtime.jobs import TrackedJobQueue
from bot.runtime.ordering import ChatOrderedUpdateProcessor
from bot.runtime.polling import Poller
from bot.runtime.sending import Stopped, until_reachable

log = logging.getLogger("gridbot.app")

ALLOWED_UPDATES = [
    Update.MESSAGE,
    Update.EDITED_MESSAGE,
    Update.CALLBACK_QUERY,
    Update.MY_CHAT_MEMBER,
]


async def stop_background(application: GridApplication) -> None:
    """Cancel the background task started after ``post_init`` (the members' menu sync)."""
    task = getattr(application.bot_data, "menu_sync", None)
    if task is not None and not task.done():
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    leader = getattr(application.bot_data, "leader", None)
    if leader is not None:  # the scheduler's lock goes to another process
        await leader.stop()


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
    """gridbot's getUpdates loop for this application (``bot.runtime.polling``)."""
    return Poller(
        application,
        lambda: application.bot_data.services.inbox,
        timeout=config.telegram.poll_timeout,
        allowed_updates=ALLOWED_UPDATES,
        stop=stop,
        where=telegram_address(config),
        sleep=application.bot_data.clock.sleep,
        **options,
    )


async def initialize(
    application: GridApplication, config: Config, stop: asyncio.Event | None = None
) -> None:
    """``initialize`` (getMe) and ``post_init``; getMe is retried for as long as the
    network is down — a bot started before the network must come up with it — until
    ``stop`` is set (``Stopped``); a rejected token stops it at once."""
    await until_reachable(
        application.initialize,
        "bot.start_failed",
        stop=stop,
        where=telegram_address(config),
        sleep=application.bot_data.clock.sleep,
    )
    if application.post_init:
        await application.post_init(application)


async def finish(application: GridApplication) -> None:
    """Stop promptly: no update or job starts any more, those still waiting are left to
    the next start, the running ones get ``telegram.stop_grace_seconds`` and are then
    cancelled (``bot.runtime.inflight``); then PTB's stop, shutdown and ``post_shutdown``."""
    await stop_background(application)
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
