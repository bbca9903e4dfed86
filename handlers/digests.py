"""Sending scheduled digests to bound groups: the ranking, as text split cleanly; a
group that is gone is unbound and its admins told; a group upgraded to a supergroup is
followed to its new chat id."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from telegram.constants import ParseMode
from telegram.error import ChatMigrated, Forbidden, TelegramError

from bot.chart import score_chart
from bot.digest import DueDigest, render_daily
from bot.ranking import Period, Ranking
from bot.services import Services
from storage.groups import Group

log = logging.getLogger("gridbot.digests")


def _text(services: Services, language: str | None = None) -> Any:
    catalogue = services.catalogue
    chosen = language or catalogue.default

    def text(key: str, **fields: Any) -> str:
        return catalogue.text(chosen, key, **fields)

    return text


async def _tell_admins(bot: Any, services: Services, group: Group, key: str, **fields: Any) -> None:
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
            await _tell_admins(bot, services, group, "digest.gone_notice", reason=str(exc))
            return False
    return True


async def send_daily_digests(context: Any) -> int:
    """The daily digest job: claim what is due, send it, record the outcome."""
    services: Services = context.bot_data.services
    plan = await services.digests.plan_daily()
    for skipped in plan.skipped:
        log.warning("digest.skipped group=%s day=%s", skipped.group.chat_id, skipped.key)
        await _tell_admins(
            context.bot,
            services,
            skipped.group,
            "digest.skipped_notice",
            day=skipped.key,
            hours=services.config.schedule.catch_up_hours,
        )
    sent = 0
    for period, dues in by_period(plan.send).items():  # each day's figures read once
        codes: list[str | None] = [due.group.unit_code for due in dues]
        rankings = await services.ranking.rank_many(codes, period)
        for due in dues:
            sent += await _send_one(context.bot, services, due, rankings[due.group.unit_code])
    return sent


def by_period(sends: list[DueDigest]) -> dict[Period, list[DueDigest]]:
    """Sends grouped by period (one, except when an interrupted send of an earlier period
    is taken over), in order."""
    grouped: dict[Period, list[DueDigest]] = {}
    for due in sends:
        grouped.setdefault(due.period, []).append(due)
    return grouped


async def _send_one(bot: Any, services: Services, due: DueDigest, ranking: Ranking) -> int:
    try:
        text = _text(services)
        messages = render_daily(ranking, text)
        caption = text(
            "digest.chart_title",
            unit=ranking.parent.name,
            children=text(f"digest.children.{ranking.parent.level}"),
            day=due.key,
        )
        chart = await asyncio.to_thread(score_chart, ranking, caption, text("digest.column.score"))
        delivered = await deliver(bot, services, due.group, messages, chart, caption)
    except TelegramError as exc:
        log.error("digest.failed group=%s day=%s error=%r", due.group.chat_id, due.key, exc)
        await services.digests.finish(due, "failed", repr(exc))
        return 0
    await services.digests.finish(due, "sent" if delivered else "failed")
    log.info("digest.sent group=%s day=%s parts=%s", due.group.chat_id, due.key, len(messages))
    return int(delivered)


async def send_reminders(context: Any) -> int:
    """The reminder job: one private nudge to each worker with nothing submitted today."""
    services: Services = context.bot_data.services
    sent = 0
    for member in await services.digests.plan_reminders():
        caller = await services.members.caller(member.telegram_id, None)
        body = services.catalogue.text(caller.language, "reminder.text", name=member.name)
        try:
            await context.bot.send_message(member.telegram_id, body)
            sent += 1
        except TelegramError as exc:
            log.warning("reminder.failed member=%s error=%r", member.id, exc)
    if sent:
        log.info("reminders.sent count=%s", sent)
    return sent
