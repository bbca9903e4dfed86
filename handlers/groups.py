"""Work groups: /bindgroup and /unbindgroup in the group, /groups in private chat, and
what Telegram tells us about a group — the bot added or removed, the group upgraded to a
supergroup with a new chat id."""

from __future__ import annotations

import logging

from telegram import ChatMember, Update
from telegram.constants import ChatType
from telegram.error import TelegramError

from bot.domain.members import Caller
from bot.runtime.context import GridContext
from handlers.common import local_time, reply, reply_text, text, unit_path

log = logging.getLogger("gridbot.groups")

_GONE = {ChatMember.LEFT, ChatMember.BANNED}
_PRESENT = {ChatMember.MEMBER, ChatMember.ADMINISTRATOR, ChatMember.RESTRICTED}


async def bindgroup(update: Update, context: GridContext, caller: Caller) -> None:
    """/bindgroup CODE: this group receives the digests that rank CODE's children."""
    chat = update.effective_chat
    args = context.args or []
    if len(args) != 1 or chat is None:
        await reply(update, context, caller, "usage.bindgroup")
        return
    assert caller.member is not None
    bound = await context.services.groups.bind(caller.member, chat.id, chat.title or "", args[0])
    key = "group.rebound" if bound.previous_unit else "group.bound"
    await reply(
        update,
        context,
        caller,
        key,
        unit_path=unit_path(context, caller, bound.chain),
        code=bound.unit.code,
        previous=bound.previous_unit or "",
    )


async def unbindgroup(update: Update, context: GridContext, caller: Caller) -> None:
    """/unbindgroup: stop the digests to this group."""
    chat = update.effective_chat
    assert chat is not None and caller.member is not None
    group = await context.services.groups.unbind(caller.member, chat.id)
    await reply(update, context, caller, "group.unbound", unit=group.unit_name)


async def groups(update: Update, context: GridContext, caller: Caller) -> None:
    """/groups: the groups bound to units in the caller's scope, and the ones that ended."""
    assert caller.member is not None
    found = await context.services.groups.listed(caller.member)
    if not found:
        await reply(update, context, caller, "group.none")
        return
    lines = [text(context, caller, "group.list_header", count=len(found))]
    for group in found:
        state = (
            text(context, caller, "group.state.active")
            if group.active
            else text(
                context,
                caller,
                f"group.state.{group.ended_reason or 'unbound'}",
                when=local_time(context, group.ended_at or group.bound_at),
            )
        )
        lines.append(
            text(
                context,
                caller,
                "group.list_line",
                title=group.title,
                chat_id=group.chat_id,
                unit=group.unit_name,
                code=group.unit_code,
                state=state,
            )
        )
    await reply_text(update, context, "\n".join(lines))


async def membership_changed(update: Update, context: GridContext) -> None:
    """The bot's own membership in a chat changed (``my_chat_member``)."""
    change = update.my_chat_member
    if change is None or change.chat.type == ChatType.PRIVATE:
        return
    status = change.new_chat_member.status
    if status in _GONE:
        ended = await context.services.groups.ended(change.chat.id, "removed")
        if ended is None:
            return
        log.warning("group.removed chat=%s unit=%s", change.chat.id, ended.group.unit_code)
        for admin in ended.tell:
            caller = await context.services.members.caller(admin.telegram_id, None)
            try:
                await context.bot.send_message(
                    admin.telegram_id,
                    text(
                        context,
                        caller,
                        "group.removed_notice",
                        title=ended.group.title,
                        unit=ended.group.unit_name,
                    ),
                )
            except TelegramError as exc:
                log.warning("group.notice_failed admin=%s error=%r", admin.telegram_id, exc)
    elif status in _PRESENT and change.old_chat_member.status in _GONE:
        adder = change.from_user
        caller = await context.services.members.caller(
            adder.id, adder.language_code if adder else None
        )
        await context.bot.send_message(change.chat.id, text(context, caller, "group.hello"))


async def group_migrated(update: Update, context: GridContext) -> None:
    """A group became a supergroup: follow it to its new chat id."""
    message = update.effective_message
    if message is None:
        return
    if message.migrate_to_chat_id:
        old, new = message.chat.id, message.migrate_to_chat_id
    elif message.migrate_from_chat_id:
        old, new = message.migrate_from_chat_id, message.chat.id
    else:
        return
    if await context.services.groups.moved(old, new):
        log.info("group.migrated from=%s to=%s", old, new)
