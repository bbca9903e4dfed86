"""Button presses that match no known payload: old keyboards, other bots', forged."""

from __future__ import annotations

from telegram import Update

from bot.runtime.context import GridContext
from handlers.common import caller_of, text


async def unknown_button(update: Update, context: GridContext) -> None:
    """Answer politely so the client stops its spinner; change nothing."""
    query = update.callback_query
    assert query is not None
    caller = await caller_of(update, context)
    await query.answer(text(context, caller, "button.forged"), show_alert=True)
