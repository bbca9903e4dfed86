"""Joining and knowing who you are: /start, the name step, /whoami, /help, /lang.

The name step is ``bot.domain.invites.JOIN_FLOW``; ``ASKERS`` says how it is asked."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, MessageEntity, Update
from telegram.constants import ChatType
from telegram.error import BadRequest

from bot.core.errors import Refused
from bot.core.names import NAME_MAX, NAME_MIN
from bot.core.policy import Where
from bot.domain.invites import JOIN_FLOW, JoinOffer, JoinStep
from bot.domain.members import Caller
from bot.runtime.context import GridContext
from handlers import flows
from handlers.callbacks import MoveAction, MoveButton
from handlers.common import (
    caller_of,
    edit_moot,
    local_time,
    reply,
    reply_text,
    role_name,
    text,
    unit_path,
)
from handlers.menus import refresh_menu


async def start(update: Update, context: GridContext, caller: Caller) -> None:
    """/start [token]: join with an invite token, or say hello and how to join."""
    token = context.args[0] if context.args else None
    if token is None:
        await _greet(update, context, caller)
        return
    try:
        offer = await context.services.invites.open(caller.telegram_id, token)
    except Refused as refusal:
        if refusal.key.startswith("start."):
            await reply_text(
                update,
                context,
                text(context, caller, refusal.key)
                + "\n\n"
                + text(context, caller, "how_to_join.text"),
            )
            return
        raise
    await _answer_offer(update, context, caller, offer)


async def _greet(update: Update, context: GridContext, caller: Caller) -> None:
    member = caller.member
    if member is None:
        await reply_text(
            update,
            context,
            text(context, caller, "start.welcome")
            + "\n\n"
            + text(context, caller, "how_to_join.text"),
        )
    elif not member.active:
        await reply(update, context, caller, "deny.disabled")
    else:
        chain = await context.services.members.unit_chain(member.unit_id)
        await reply(
            update,
            context,
            caller,
            "start.welcome_member",
            name=member.name,
            unit_path=unit_path(context, caller, chain),
            role=role_name(context, caller, member.role),
        )


async def _answer_offer(
    update: Update, context: GridContext, caller: Caller, offer: JoinOffer
) -> None:
    role = role_name(context, caller, offer.role.value)
    if offer.moved_from is None:
        await ASKERS[JOIN_FLOW.next_step(offer)](update, context, caller, offer)
        return
    assert offer.invite_id is not None
    buttons = [
        InlineKeyboardButton(
            text(context, caller, label),
            callback_data=MoveButton(invite=offer.invite_id, act=act).encode(),
        )
        for label, act in (("join.confirm", MoveAction.CONFIRM), ("join.cancel", MoveAction.CANCEL))
    ]
    await reply(
        update,
        context,
        caller,
        "join.confirm_move",
        role=role,
        unit_path=unit_path(context, caller, offer.chain),
        old_unit=offer.moved_from.unit_name,
        old_role=role_name(context, caller, offer.moved_from.role),
        reply_markup=InlineKeyboardMarkup([buttons]),
    )


async def _ask_name(update: Update, context: GridContext, caller: Caller, offer: JoinOffer) -> None:
    await reply(
        update,
        context,
        caller,
        JOIN_FLOW[JoinStep.NAME].prompt,
        role=role_name(context, caller, offer.role.value),
        unit_path=unit_path(context, caller, offer.chain),
        min=NAME_MIN,
        max=NAME_MAX,
    )


# How each step of ``JOIN_FLOW`` is asked (a test checks every step has one).
ASKERS: dict[JoinStep, Callable[[Update, GridContext, Caller, JoinOffer], Awaitable[None]]] = {
    JoinStep.NAME: _ask_name,
}


async def move_pressed(
    update: Update, context: GridContext, caller: Caller, button: MoveButton
) -> None:
    """确认调动 or 取消 under a link an existing member opened: checked again on press."""
    query = update.callback_query
    assert query is not None
    invites = context.services.invites
    if button.act is MoveAction.CANCEL:
        await invites.cancel_move(caller.telegram_id, button.invite)
    else:
        offer = await invites.confirm_move(caller.telegram_id, button.invite)
    await query.answer()
    try:
        await query.edit_message_reply_markup(None)
    except BadRequest as exc:
        if not edit_moot(exc):
            raise
    if button.act is MoveAction.CANCEL:
        await reply(update, context, caller, "join.move_cancelled")
        return
    assert offer.moved_from is not None
    await reply(
        update,
        context,
        caller,
        "join.moved",
        role=role_name(context, caller, offer.role.value),
        unit_path=unit_path(context, caller, offer.chain),
        old_unit=offer.moved_from.unit_name,
    )
    await refresh_menu(context, caller.telegram_id)


async def private_message(update: Update, context: GridContext) -> None:
    """A private message that is not a command: the name while joining, else the step of
    the conversation the member is in (``handlers.flows``), else a pointer."""
    caller = await caller_of(update, context)
    message = update.effective_message
    assert message is not None
    if caller.member is None and await context.services.invites.has_pending_join(
        caller.telegram_id
    ):
        if not message.text:
            expect = JOIN_FLOW[JoinStep.NAME].expect
            await reply(update, context, caller, expect, min=NAME_MIN, max=NAME_MAX)
            return
        user = update.effective_user
        try:
            joined = await context.services.invites.complete_join(
                caller.telegram_id, message.text, user.username if user else None
            )
        except Refused as refusal:
            fields = {"min": NAME_MIN, "max": NAME_MAX, **refusal.fields}
            await reply(update, context, caller, refusal.key, **fields)
            return
        await reply(
            update,
            context,
            caller,
            "join.done",
            name=joined.member.name,
            unit_path=unit_path(context, caller, joined.chain),
            role=role_name(context, caller, joined.member.role),
        )
        await refresh_menu(context, caller.telegram_id)
        return
    if (
        caller.member is not None
        and caller.member.active
        and await flows.dispatch(update, context, caller)
    ):
        return
    if caller.member is None:
        await reply_text(
            update,
            context,
            text(context, caller, "whoami.not_member")
            + "\n\n"
            + text(context, caller, "how_to_join.text"),
        )
    elif not caller.member.active:
        await reply(update, context, caller, "deny.disabled")
    else:
        await reply(update, context, caller, "text.member_idle")


def _addressed_to_me(update: Update, context: GridContext) -> bool:
    """Whether the message's command names this bot (``/command@this_bot``)."""
    message = update.effective_message
    if message is None or not message.entities or not context.bot.username:
        return False
    first = message.entities[0]
    if first.type != MessageEntity.BOT_COMMAND or first.offset != 0:
        return False
    _, _, mention = message.parse_entity(first).partition("@")
    return mention.lower() == context.bot.username.lower()


async def unknown_command(update: Update, context: GridContext) -> None:
    """A command nobody declared: say so in private chats and, in groups, when it is
    addressed to this bot (``/command@this_bot``); other group commands may be meant for
    another bot, so stay quiet there."""
    chat = update.effective_chat
    if chat is None:
        return
    if chat.type != ChatType.PRIVATE and not _addressed_to_me(update, context):
        return
    caller = await caller_of(update, context)
    await reply(update, context, caller, "text.unknown_command")


async def whoami(update: Update, context: GridContext, caller: Caller) -> None:
    """/whoami: name, unit, role, status and Telegram id — or how to join."""
    member = caller.member
    if member is None:
        await reply_text(
            update,
            context,
            text(context, caller, "whoami.not_member")
            + "\n\n"
            + text(context, caller, "how_to_join.text"),
        )
        return
    chain = await context.services.members.unit_chain(member.unit_id)
    await reply(
        update,
        context,
        caller,
        "whoami.member",
        name=member.name,
        unit_path=unit_path(context, caller, chain),
        code=member.unit_code,
        role=role_name(context, caller, member.role),
        status=text(context, caller, "whoami.active" if member.active else "whoami.disabled"),
        joined=local_time(context, member.joined_at),
    )


async def help_command(update: Update, context: GridContext, caller: Caller) -> None:
    """/help: exactly the commands this caller may use here."""
    chat = update.effective_chat
    where = Where.PRIVATE if chat and chat.type == ChatType.PRIVATE else Where.GROUP
    lines = [text(context, caller, "help.header")]
    for spec in context.services.menus.commands(caller.audience, where):
        lines.append(
            text(
                context,
                caller,
                "help.line",
                command=spec.name,
                description=text(context, caller, spec.description_key),
            )
        )
    await reply_text(update, context, "\n".join(lines))


async def lang(update: Update, context: GridContext, caller: Caller) -> None:
    """/lang zh|en: answer this person in that language from now on."""
    if len(context.args or []) != 1:
        await reply(update, context, caller, "usage.lang")
        return
    choice = context.args[0].strip().lower()
    await context.services.members.set_language(caller.telegram_id, choice)
    caller = await caller_of(update, context)
    await reply(update, context, caller, "lang.set")
