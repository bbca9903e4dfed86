"""Typed PTB context: handlers reach the services as ``context.services``."""

from __future__ import annotations

import asyncio

from telegram.ext import Application, CallbackContext, ContextTypes, ExtBot

from bot.core.clock import Clock, SystemClock
from bot.outlets.hub import OutletHub
from bot.services import Services


class BotData:
    """``application.bot_data``: set up by ``post_init`` before any update is handled."""

    services: Services
    # What the runtime's back-off waits on (``bot.app`` sets the services' clock).
    clock: Clock = SystemClock()
    # Members' command menus, synced in the background after start-up (``bot.app``).
    menu_sync: asyncio.Task[None] | None = None
    # Deliveries to group robots (WeCom, DingTalk, Feishu), opened by ``post_init``.
    outlets: OutletHub | None = None
    # Updates a dead process left that this one's sweeps took over (``handlers.jobs``).
    swept_updates: set[int] | None = None


class GridContext(CallbackContext[ExtBot[None], dict, dict, BotData]):  # type: ignore[type-arg]
    @property
    def services(self) -> Services:
        return self.bot_data.services


CONTEXT_TYPES = ContextTypes(context=GridContext, bot_data=BotData)

GridApplication = Application[ExtBot[None], GridContext, dict, dict, BotData, object]  # type: ignore[type-arg]
