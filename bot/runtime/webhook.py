"""Webhook mode (``gridbot run --webhook``): Telegram posts each update to an HTTPS
address; a reverse proxy (``examples/Caddyfile``, ``examples/nginx.conf``) forwards it
to this server on ``[webhook] listen``:``port``.

Every request must carry the secret registered with ``setWebhook`` in the
``X-Telegram-Bot-Api-Secret-Token`` header, compared in constant time; anything else
gets 403 and changes nothing. A body that is not an update gets 400 (Telegram would
retry a 5xx forever). Only POST to the configured path is served.

The server is tornado, the one python-telegram-bot itself uses for webhooks; the
lifecycle (initialise, ``post_init``, register the webhook, serve until SIGINT or
SIGTERM, stop) is spelled out here instead of PTB's ``run_webhook`` so that the
handler is ours: it commits the update to the durable inbox (``bot.domain.inbox``) before it
answers 200, and answers 503 if it could not (Telegram then delivers it again).
The webhook stays registered on shutdown, so Telegram keeps updates while the bot is
down and delivers them when it is back.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import secrets
from collections.abc import Awaitable, Callable
from typing import Any

import tornado.netutil
import tornado.web
from telegram import Update
from tornado.httpserver import HTTPServer

from bot.config import Config, ConfigError
from bot.runtime.context import GridApplication
from bot.runtime.lifecycle import ALLOWED_UPDATES, finish, initialize, telegram_address
from bot.runtime.sending import Stopped, until_reachable

log = logging.getLogger("gridbot.webhook")

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
# An update is a few kilobytes; anything much larger is not from Telegram.
MAX_BODY = 1024 * 1024

Receive = Callable[[Update, dict[str, Any]], Awaitable[None]]


class UpdateHandler(tornado.web.RequestHandler):
    SUPPORTED_METHODS = ("POST",)

    def initialize(self, secret: str, bot_application: GridApplication, receive: Receive) -> None:
        self.secret = secret.encode()
        self.bot_application = bot_application
        self.receive = receive

    def check_xsrf_cookie(self) -> None:  # an API endpoint, not a form
        return None

    async def post(self) -> None:
        given = self.request.headers.get(SECRET_HEADER, "").encode()
        if not hmac.compare_digest(given, self.secret):
            log.warning("webhook.refused", extra={"fields": {"remote": self.request.remote_ip}})
            self.send_error(403)
            return
        try:
            data = json.loads(self.request.body)
            if not isinstance(data, dict) or not isinstance(data.get("update_id"), int):
                raise ValueError("not an update")
            update = Update.de_json(data, self.bot_application.bot)
        except Exception:
            log.warning("webhook.bad_body", extra={"fields": {"bytes": len(self.request.body)}})
            self.send_error(400)
            return
        try:
            await self.receive(update, data)
        except Exception:
            # Not committed: a 5xx makes Telegram deliver it again later.
            log.exception("webhook.not_stored", extra={"fields": {"update_id": update.update_id}})
            self.send_error(503)
            return
        self.set_status(200)
        self.finish()

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        self.finish(f"{status_code}\n")

    def log_exception(self, *args: Any) -> None:  # tornado would print request details
        log.error("webhook.error", exc_info=args if len(args) == 3 else None)


def web_application(
    config: Config, application: GridApplication, secret: str, receive: Receive | None = None
) -> tornado.web.Application:
    async def queue(update: Update, data: dict[str, Any]) -> None:
        """Commit, then queue; the 200 goes out only after the commit."""
        fresh = await application.bot_data.services.inbox.receive([data])
        if fresh:
            await application.update_queue.put(update)

    route = config.webhook.route()
    handler_args = {
        "secret": secret,
        "bot_application": application,
        "receive": receive or queue,
    }
    return tornado.web.Application([(route, UpdateHandler, handler_args)], log_function=_quiet)


def _quiet(handler: tornado.web.RequestHandler) -> None:
    """Tornado's access log would repeat what the update line says; keep errors only."""
    if handler.get_status() >= 500:
        log.error("webhook.http", extra={"fields": {"status": handler.get_status()}})


def secret_for(config: Config) -> str:
    return config.webhook.secret_value() or secrets.token_urlsafe(32)


async def serve(
    application: GridApplication,
    config: Config,
    stop: asyncio.Event,
    secret: str,
    *,
    started: Callable[[int], None] | None = None,
) -> None:
    """Run the bot in webhook mode until ``stop`` is set. ``started`` gets the port
    actually listened on (useful with port 0)."""
    hook = config.webhook
    if not hook.url:
        source = config.source.name if config.source else "config"
        raise ConfigError([f"{source}: webhook.url: required for --webhook"])
    try:
        await initialize(application, config, stop)
        await application.start()
        server = HTTPServer(web_application(config, application, secret), max_body_size=MAX_BODY)
        sockets = tornado.netutil.bind_sockets(hook.port, hook.listen)
        server.add_sockets(sockets)
        port = sockets[0].getsockname()[1]
        try:
            await _register(application, config, secret, stop)
            log.info(
                "webhook.serving",
                extra={"fields": {"listen": hook.listen, "port": port, "path": hook.route()}},
            )
            if started:
                started(port)
            await stop.wait()
        finally:
            server.stop()
            await server.close_all_connections()
    except Stopped:
        log.info("bot.stopped_while_starting")
    finally:
        await finish(application)


async def _register(
    application: GridApplication, config: Config, secret: str, stop: asyncio.Event
) -> None:
    """setWebhook, retried while the network is down (not on a bad token) until
    ``stop``."""
    hook = config.webhook
    url = hook.url
    assert url is not None
    await until_reachable(
        lambda: application.bot.set_webhook(
            url,
            secret_token=secret,
            allowed_updates=ALLOWED_UPDATES,
            max_connections=hook.max_connections,
            drop_pending_updates=False,
        ),
        "webhook.register_failed",
        stop=stop,
        where=telegram_address(config),
        sleep=application.bot_data.clock.sleep,
    )
