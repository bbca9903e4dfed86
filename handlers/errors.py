"""The last line: log what broke (update id, exception) and apologise to the person; and
tell a chat that sends faster than it can be answered that its messages are dropped."""

from __future__ import annotations

import logging

from telegram import Update
from telegram.error import TelegramError

from bot.runtime.context import GridApplication, GridContext
from handlers.common import caller_of, reply_text, text

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


async def tell_dropping(application: GridApplication, update: Update, queued: int) -> None:
    """Said once when ``queued`` updates of a chat wait and the bot starts dropping the
    chat's further ones (``bot.runtime.ordering``)."""
    if update.effective_chat is None or update.effective_user is None:
        return
    context = GridContext.from_update(update, application)
    caller = await caller_of(update, context)
    await reply_text(update, context, text(context, caller, "error.too_fast", count=queued))
