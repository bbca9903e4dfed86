"""The last line: log what broke (update id, exception) and apologise to the person."""

from __future__ import annotations

import logging

from telegram import Update
from telegram.error import TelegramError

from bot.context import GridContext
from handlers.common import caller_of, text

log = logging.getLogger("gridbot.errors")


async def on_error(update: object, context: GridContext) -> None:
    """Registered with ``add_error_handler``; never raises."""
    update_id = update.update_id if isinstance(update, Update) else None
    log.error("update.failed update=%s error=%r", update_id, context.error, exc_info=context.error)
    if not isinstance(update, Update) or update.effective_chat is None or not update.effective_user:
        return
    try:
        caller = await caller_of(update, context)
        if update.callback_query is not None:
            await update.callback_query.answer(text(context, caller, "error.apology"))
        else:
            await context.bot.send_message(
                update.effective_chat.id, text(context, caller, "error.apology")
            )
    except (TelegramError, OSError, RuntimeError) as exc:  # the apology itself failed
        log.warning("apology.failed update=%s error=%r", update_id, exc)
