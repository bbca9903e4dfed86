"""Posting to bound work groups, shared by the digests and the bulletins: the messages
and chart in order, a group that moved to a supergroup followed to its new chat id, a
group that is gone unbound and its admins told."""

from __future__ import annotations

import logging
from typing import Any

from telegram.constants import ParseMode
from telegram.error import ChatMigrated, Forbidden, TelegramError

from bot.core.periods import Period
from bot.domain.digest import DueDigest
from bot.domain.outlets import PLANS
from bot.domain.records import Group
from bot.outlets.hub import Report
from bot.services import Services

log = logging.getLogger("gridbot.digests")


def texts_in(services: Services, language: str | None = None) -> Any:
    catalogue = services.catalogue
    chosen = language or catalogue.default

    def text(key: str, **fields: Any) -> str:
        return catalogue.text(chosen, key, **fields)

    return text


async def tell_admins(bot: Any, services: Services, group: Group, key: str, **fields: Any) -> None:
    for admin in await services.digests.admins_over(group):
        caller = await services.members.caller(admin.telegram_id, None)
        body = services.catalogue.text(
            caller.language, key, title=group.title, unit=group.unit_name, **fields
        )
        try:
            await bot.send_message(admin.telegram_id, body)
        except TelegramError as exc:
            log.warning("digest.notice_failed admin=%s error=%r", admin.telegram_id, exc)


async def deliver(
    bot: Any,
    services: Services,
    group: Group,
    messages: list[str],
    chart: bytes | None = None,
    caption: str | None = None,
) -> bool:
    """Send the messages (then the chart) to the group; False (and the group unbound,
    admins told) when the chat is gone. A 429 is waited out by the rate limiter."""
    chat_id = group.chat_id
    parts: list[str | bytes] = [*messages, *([chart] if chart is not None else [])]
    index = 0
    while index < len(parts):
        part = parts[index]
        try:
            if isinstance(part, bytes):
                await bot.send_photo(chat_id, part, caption=caption)
            else:
                await bot.send_message(chat_id, part, parse_mode=ParseMode.HTML)
            index += 1
        except ChatMigrated as moved:
            await services.groups.moved(chat_id, moved.new_chat_id)
            chat_id = moved.new_chat_id
        except Forbidden as exc:
            await services.groups.ended(group.chat_id, "gone")
            await tell_admins(bot, services, group, "digest.gone_notice", reason=str(exc))
            return False
    return True


def by_period(sends: list[DueDigest]) -> dict[Period, list[DueDigest]]:
    """Sends grouped by period (one, except when an interrupted send of an earlier period
    is taken over), in order."""
    grouped: dict[Period, list[DueDigest]] = {}
    for due in sends:
        grouped.setdefault(due.period, []).append(due)
    return grouped


async def _tell_outlet(
    bot: Any, services: Services, unit_code: str, key: str, **fields: Any
) -> None:
    for admin in await services.outlets.admins_over(unit_code):
        caller = await services.members.caller(admin.telegram_id, None)
        platform = services.catalogue.text(caller.language, f"outlet.platform.{fields['kind']}")
        body = services.catalogue.text(caller.language, key, platform=platform, **fields)
        try:
            await bot.send_message(admin.telegram_id, body)
        except TelegramError as exc:
            log.warning("outlet.notice_failed admin=%s error=%r", admin.telegram_id, exc)


async def tell_outlet_report(bot: Any, services: Services, report: Report) -> int:
    """Tell the admins over each outlet that started failing, and over each send skipped
    as too late (once each); the number of sends that went out. Shared by the scheduled
    outlet jobs and the bulletin's 发布."""
    for outlet, answer in report.failing:
        await _tell_outlet(
            bot,
            services,
            outlet.unit,
            "outlet.failing_notice",
            name=outlet.name,
            kind=outlet.kind,
            answer=answer,
        )
    for due in report.skipped:
        await _tell_outlet(
            bot,
            services,
            due.outlet.unit,
            "outlet.skipped_plans_notice" if due.kind == PLANS else "outlet.skipped_notice",
            name=due.outlet.name,
            kind=due.outlet.kind,
            day=due.keys[0],
            hours=services.config.schedule.catch_up_hours,
        )
    return report.sent
