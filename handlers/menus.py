"""Command menus on Telegram: the public ones at start-up (private chats, groups, and
groups' administrators), a private one per lead/admin.

The decisions (which menu, what changed) are ``bot.domain.menus``; this module only makes the
``setMyCommands`` / ``deleteMyCommands`` calls and reports them done. Members' menus
are synced in the background after start-up, a few members a second; a chat whose
menu already matches (by the digest recorded for it) costs no call. One member's menu
is applied at a time, from the member's role as it is just then, so a join or move
handled meanwhile is never undone by the sync.
"""

from __future__ import annotations

import asyncio
import logging

from telegram import (
    Bot,
    BotCommand,
    BotCommandScope,
    BotCommandScopeAllChatAdministrators,
    BotCommandScopeAllGroupChats,
    BotCommandScopeAllPrivateChats,
    BotCommandScopeChat,
)
from telegram.error import TelegramError

from bot.core.access import Audience
from bot.core.policy import Where
from bot.domain.menus import PUBLIC, MenuChange
from bot.runtime.context import GridContext
from bot.services import Services

log = logging.getLogger("gridbot.menus")


def _commands(
    services: Services, audience: Audience, where: Where, language: str
) -> list[BotCommand]:
    return [
        BotCommand(spec.name, services.catalogue.text(language, spec.description_key))
        for spec in services.menus.commands(audience, where)
    ]


async def _set_everywhere(
    bot: Bot, services: Services, scope: BotCommandScope, audience: Audience, where: Where
) -> None:
    """One menu per language: the default language without a code (every client), and
    each other language for clients set to it."""
    default = services.catalogue.default
    for language in services.catalogue.messages:
        await bot.set_my_commands(
            _commands(services, audience, where, language),
            scope=scope,
            language_code=None if language == default else language,
        )


async def set_public_menus(bot: Bot, services: Services) -> None:
    await _set_everywhere(
        bot, services, BotCommandScopeAllPrivateChats(), Audience.ANYONE, Where.PRIVATE
    )
    await _set_everywhere(
        bot, services, BotCommandScopeAllGroupChats(), Audience.ANYONE, Where.GROUP
    )
    # A group's administrators see the admin commands of groups (/bindgroup, /digest);
    # the guard still checks the bot's own roles on every call.
    await _set_everywhere(
        bot, services, BotCommandScopeAllChatAdministrators(), Audience.ADMIN, Where.GROUP
    )


async def apply_change(bot: Bot, services: Services, change: MenuChange) -> None:
    scope = BotCommandScopeChat(change.chat_id)
    if change.digest == PUBLIC:
        default = services.catalogue.default
        for language in services.catalogue.messages:
            await bot.delete_my_commands(
                scope=scope, language_code=None if language == default else language
            )
    else:
        await _set_everywhere(bot, services, scope, change.audience, Where.PRIVATE)
    await services.menus.record(change)


async def _apply_current(bot: Bot, services: Services, telegram_id: int) -> bool:
    """Give one chat the menu its member's role calls for now; False if it had it."""
    async with services.menus.applying:
        change = await services.menus.change_for(telegram_id)
        if change is None:
            return False
        await apply_change(bot, services, change)
        return True


async def sync_member_menus(bot: Bot, services: Services, *, per_second: float) -> int:
    """Give every member's private chat the menu of their role, at most ``per_second``
    members a second; returns how many changed."""
    pending = [change.chat_id for change in await services.menus.pending_changes()]
    log.info("menus.sync_started", extra={"fields": {"pending": len(pending)}})
    changed = 0
    for telegram_id in pending:
        try:
            if await _apply_current(bot, services, telegram_id):
                changed += 1
        except TelegramError as exc:
            log.warning("menu.failed chat=%s error=%s", telegram_id, exc)
        await asyncio.sleep(1 / per_second)
    log.info("menus.synced", extra={"fields": {"changed": changed}})
    return changed


async def refresh_menu(context: GridContext, telegram_id: int) -> None:
    """After a join, a move, or a (dis)able: fix that one chat's menu, best effort."""
    try:
        await _apply_current(context.bot, context.services, telegram_id)
    except TelegramError as exc:
        log.warning("menu.failed chat=%s error=%s", telegram_id, exc)
