"""Button presses that match no known payload: old keyboards, other bots', forged."""

from __future__ import annotations

from telegram import Update

from bot.runtime.context import GridContext
from handlers.common import alert, caller_of


async def unknown_button(update: Update, context: GridContext) -> None:
    """Answer politely so the client stops its spinner; change nothing."""
    await alert(update, context, await caller_of(update, context), "button.forged")
