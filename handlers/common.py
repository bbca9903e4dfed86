"""What every handler shares: who is calling, answering in their language, and the two
guards that check each command (``guarded_command``) and each button press
(``guarded_button``) against its entry in the one policy table, ``bot.core.policy``,
before the handler runs. Both refuse alike: the wrong kind of chat, then a non-member
(told how to join), a disabled member, a role too low. What depends on the data a call
names — a unit in the caller's scope, a draft of their own — the services check."""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any, TypeVar

from telegram import Chat, InlineKeyboardButton, Update
from telegram.constants import ChatType
from telegram.error import BadRequest
from telegram.ext import CallbackQueryHandler, CommandHandler, MessageHandler, filters

from bot.core import policy
from bot.core.access import Audience
from bot.core.errors import Refused
from bot.domain.members import Caller
from bot.domain.records import Unit
from bot.runtime.context import GridContext
from bot.runtime.longtext import size
from handlers.callbacks import Button, decode

log = logging.getLogger("gridbot.handlers")

GuardedCallback = Callable[[Update, GridContext, Caller], Awaitable[None]]
B = TypeVar("B", bound=Button)

ALERT_LIMIT = 200  # Bot API answerCallbackQuery: an alert of at most 200 characters


async def caller_of(update: Update, context: GridContext) -> Caller:
    user = update.effective_user
    assert user is not None
    return await context.services.members.caller(user.id, user.language_code)


def text(context: GridContext, caller: Caller, key: str, **fields: Any) -> str:
    """A catalogue string in the caller's language; ``command`` and ``telegram_id`` are
    always available to templates."""
    fields.setdefault("telegram_id", caller.telegram_id)
    fields.setdefault("command", "")
    return context.services.catalogue.text(caller.language, key, **fields)


def means(context: GridContext, word: str, key: str) -> bool:
    """Whether a word the person typed is one of the catalogue's words for ``key`` (a
    ``*.word.*`` entry), in any language and any case."""
    return word.strip().lower() in context.services.catalogue.keywords(key)


async def reply(
    update: Update, context: GridContext, caller: Caller, key: str, **fields: Any
) -> None:
    markup = fields.pop("reply_markup", None)
    chat = update.effective_chat
    assert chat is not None
    await context.bot.send_message(
        chat.id, text(context, caller, key, **fields), reply_markup=markup
    )


async def alert(
    update: Update, context: GridContext, caller: Caller, key: str, **fields: Any
) -> None:
    """Answer the button press of ``update`` with a catalogue string, as an alert."""
    query = update.callback_query
    assert query is not None
    await query.answer(text(context, caller, key, **fields), show_alert=True)


async def reply_text(update: Update, context: GridContext, body: str, **kwargs: Any) -> None:
    chat = update.effective_chat
    assert chat is not None
    await context.bot.send_message(chat.id, body, **kwargs)


def edit_moot(exc: BadRequest) -> bool:
    """An edit that changes nothing, or of a message that is gone or can no longer be
    edited (deleted while the press was on its way): nothing to show, nothing broke.
    (An edit that changes nothing is not even sent: ``bot.runtime.sending.GridBot``.)"""
    reason = str(exc).lower()
    return any(part in reason for part in ("not modified", "not found", "can't be edited"))


def page_buttons(
    context: GridContext, caller: Caller, page: int, pages: int, button: Callable[[int], Button]
) -> list[InlineKeyboardButton]:
    """« 上一页 / 下一页 under page ``page`` (from 0) of ``pages``; ``button(n)`` is the payload
    that shows page ``n``. Empty on a list of one page."""
    row = []
    if page > 0:
        row.append(
            InlineKeyboardButton(
                text(context, caller, "button.prev"), callback_data=button(page - 1).encode()
            )
        )
    if page + 1 < pages:
        row.append(
            InlineKeyboardButton(
                text(context, caller, "button.next"), callback_data=button(page + 1).encode()
            )
        )
    return row


def role_name(context: GridContext, caller: Caller, role: str) -> str:
    return text(context, caller, f"role.{role}")


def unit_path(context: GridContext, caller: Caller, chain: list[Unit]) -> str:
    """'卧龙区 / 武侯街道 / 崔庄社区': the chain below the city."""
    shown = chain[1:] if len(chain) > 1 else chain
    return text(context, caller, "unit_path.separator").join(unit.name for unit in shown)


def local_time(context: GridContext, moment: datetime) -> str:
    """An aware moment as the reader's clock shows it, in the configured zone."""
    return moment.astimezone(context.services.config.locale.zone).strftime("%Y-%m-%d %H:%M")


def _where(chat: Chat | None) -> policy.Where:
    return policy.Where.PRIVATE if chat and chat.type == ChatType.PRIVATE else policy.Where.GROUP


def _refusal(
    audience: Audience, allowed: frozenset[policy.Where], where: policy.Where, caller: Caller
) -> str | None:
    """Why ``caller`` may not use, in a chat of kind ``where``, what the policy declares
    for ``audience`` in ``allowed`` chats: a catalogue key, or None when they may."""
    if where not in allowed:
        return "deny.private_only" if where == policy.Where.GROUP else "deny.group_only"
    if caller.audience >= audience:
        return None
    if caller.member is None:
        return "deny.not_member"
    return "deny.role" if caller.member.active else "deny.disabled"


def _not_member(context: GridContext, caller: Caller, command: str) -> str:
    """What a non-member is told: they may not use ``command``, and how to join."""
    return (
        text(context, caller, "deny.not_member", command=command)
        + "\n\n"
        + text(context, caller, "how_to_join.text")
    )


def guarded_command(name: str, callback: GuardedCallback) -> CommandHandler:
    """A ``CommandHandler`` for ``name`` that first applies the command's policy.

    The policy comes from ``bot.core.policy``; a name with no policy there raises
    ``KeyError`` here, at start-up, so no command can exist without one.
    """
    return CommandHandler(name, _guarded(name, callback), filters=filters.UpdateType.MESSAGE)


def guarded_caption_command(name: str, callback: GuardedCallback) -> MessageHandler:
    """A ``MessageHandler`` for a photo (or image file) in private chat whose caption is
    the command ``/name …`` (Telegram does not treat a caption as a command), behind the
    command's policy as ``guarded_command``."""
    caption = filters.CaptionRegex(rf"^/{name}(@\w+)?(\s|$)")
    media = filters.PHOTO | filters.Document.IMAGE
    wanted = filters.ChatType.PRIVATE & filters.UpdateType.MESSAGE & media & caption
    return MessageHandler(wanted, _guarded(name, callback))


def _guarded(name: str, callback: GuardedCallback) -> Callable[..., Awaitable[None]]:
    spec = policy.spec(name)

    @functools.wraps(callback)
    async def guard(update: Update, context: GridContext) -> None:
        started = time.perf_counter()
        caller = await caller_of(update, context)
        chat = update.effective_chat
        try:
            refusal_key = _refusal(spec.audience, spec.where, _where(chat), caller)
            if refusal_key == "deny.not_member":
                await reply_text(update, context, _not_member(context, caller, name))
                return
            if refusal_key is not None:
                raise Refused(refusal_key)
            await callback(update, context, caller)
        except Refused as refusal:
            await reply(update, context, caller, refusal.key, command=name, **refusal.fields)
        finally:
            log.debug(
                "command update=%s chat=%s user=%s command=%s audience=%s ms=%.1f",
                update.update_id,
                chat.id if chat else None,
                caller.telegram_id,
                name,
                caller.audience.name.lower(),
                (time.perf_counter() - started) * 1000,
            )

    return guard


def guarded_button(
    kind: type[B], callback: Callable[[Update, GridContext, Caller, B], Awaitable[None]]
) -> CallbackQueryHandler:
    """A ``CallbackQueryHandler`` for presses of ``kind`` that first applies its policy.

    The payload is decoded strictly: one that does not parse is answered as forged, as
    ``handlers.buttons`` answers a payload of no known kind. Then the kind's entry in
    ``bot.core.policy.BUTTONS`` is applied as a command's is, every refusal an alert
    naming the kind's command (a non-member's also says how to join, when it fits in an
    alert). ``callback`` gets ``(update, context, caller, button)``; a ``Refused`` it
    raises is answered as an alert too. A kind with no policy raises ``KeyError`` here,
    at start-up, so no button can exist without one.
    """
    spec = policy.button_spec(kind.KIND)

    @functools.wraps(callback)
    async def guard(update: Update, context: GridContext) -> None:
        started = time.perf_counter()
        query = update.callback_query
        assert query is not None
        caller = await caller_of(update, context)
        chat = update.effective_chat
        try:
            button = decode(query.data, kind)
            if not isinstance(button, kind) or chat is None:  # never sent outside a chat
                raise Refused("button.forged")
            refusal_key = _refusal(spec.audience, spec.where, _where(chat), caller)
            if refusal_key == "deny.not_member":
                told = _not_member(context, caller, spec.command)
                if size(told) > ALERT_LIMIT:
                    told = text(context, caller, "deny.not_member", command=spec.command)
                await query.answer(told, show_alert=True)
                return
            if refusal_key is not None:
                raise Refused(refusal_key)
            await callback(update, context, caller, button)
        except Refused as refusal:
            await alert(
                update, context, caller, refusal.key, **{"command": spec.command, **refusal.fields}
            )
        finally:
            log.debug(
                "button update=%s chat=%s user=%s kind=%s audience=%s ms=%.1f",
                update.update_id,
                chat.id if chat else None,
                caller.telegram_id,
                kind.KIND,
                caller.audience.name.lower(),
                (time.perf_counter() - started) * 1000,
            )

    return CallbackQueryHandler(guard, pattern=kind.pattern())


def localized(caller: Caller, item: Any) -> str:
    """A configured name (category, status, counter) in the caller's language."""
    english = getattr(item, "name_en", None)
    return english if caller.language == "en" and english else item.name


def status_name(context: GridContext, caller: Caller, category: str, status: str | None) -> str:
    found = context.services.config.campaign.category(category)
    for option in found.statuses if found else []:
        if option.code == status:
            return localized(caller, option)
    return status or text(context, caller, "list.none")


def category_name(context: GridContext, caller: Caller, category: str | None) -> str:
    found = context.services.config.campaign.category(category)
    return localized(caller, found) if found else (category or text(context, caller, "list.none"))
