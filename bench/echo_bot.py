"""The bare python-telegram-bot baseline for bench/load.py: answers every message with
one text message carrying one inline button, and every button press with an answer and
a message — the same number of calls per update as gridbot's report flow, with no work
behind them. PTB's own Updater, no rate limiter, concurrent updates.

    python bench/echo_bot.py URL TOKEN
"""

from __future__ import annotations

import sys

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.ext import (
    ApplicationBuilder,
    CallbackQueryHandler,
    ContextTypes,
    MessageHandler,
    filters,
)

KEYBOARD = InlineKeyboardMarkup([[InlineKeyboardButton("next", callback_data="next")]])


async def message(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    assert update.effective_chat is not None
    await context.bot.send_message(update.effective_chat.id, "ok", reply_markup=KEYBOARD)


async def pressed(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    query = update.callback_query
    assert query is not None and query.message is not None
    await query.answer()
    await context.bot.send_message(query.message.chat.id, "ok", reply_markup=KEYBOARD)


def main() -> None:
    url, token = sys.argv[1], sys.argv[2]
    app = (
        ApplicationBuilder()
        .token(token)
        .base_url(f"{url}/bot")
        .base_file_url(f"{url}/file/bot")
        .concurrent_updates(64)
        .build()
    )
    app.add_handler(MessageHandler(filters.ALL, message))
    app.add_handler(CallbackQueryHandler(pressed))
    app.run_polling(timeout=2, allowed_updates=Update.ALL_TYPES)


if __name__ == "__main__":
    main()
