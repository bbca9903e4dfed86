"""Digests: the scheduled ones to bound groups — the ranking, as text split cleanly; a
group that is gone is unbound and its admins told; a group upgraded to a supergroup is
followed to its new chat id — and the ones asked for: /rank in private chat, /digest in
a bound group. All of them are rendered by ``rendered``, the one path from a ranking to
its messages and chart."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any

from telegram import Update
from telegram.constants import ParseMode
from telegram.error import ChatMigrated, Forbidden, TelegramError

from bot.chart import score_chart
from bot.context import GridContext
from bot.digest import DueDigest, chart_caption, render_daily
from bot.members import Caller
from bot.orgfile import CODE_RE
from bot.ranking import Period, Ranking
from bot.services import Services
from handlers.common import reply
from storage.groups import Group

log = logging.getLogger("gridbot.digests")


def _text(services: Services, language: str | None = None) -> Any:
    catalogue = services.catalogue
    chosen = language or catalogue.default

    def text(key: str, **fields: Any) -> str:
        return catalogue.text(chosen, key, **fields)

    return text


@dataclass(frozen=True)
class Rendered:
    messages: list[str]  # HTML
    chart: bytes  # PNG
    caption: str


async def rendered(services: Services, ranking: Ranking, language: str | None = None) -> Rendered:
    """A ranking as the digest shows it: the table messages, then the score chart."""
    text = _text(services, language)
    messages = render_daily(ranking, text)
    caption = chart_caption(ranking, text)
    chart = await asyncio.to_thread(score_chart, ranking, caption, text("digest.column.score"))
    return Rendered(messages, chart, caption)


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
        digest = await rendered(services, ranking)
        delivered = await deliver(
            bot, services, due.group, digest.messages, digest.chart, digest.caption
        )
    except TelegramError as exc:
        log.error(
            "digest.failed group=%s kind=%s day=%s error=%r",
            due.group.chat_id,
            due.kind,
            due.key,
            exc,
        )
        await services.digests.finish(due, "failed", repr(exc))
        return 0
    await services.digests.finish(due, "sent" if delivered else "failed")
    log.info(
        "digest.sent group=%s kind=%s day=%s parts=%s",
        due.group.chat_id,
        due.kind,
        due.key,
        len(digest.messages),
    )
    return int(delivered)


_PERIOD_WORDS = {"today": "day", "week": "week", "month": "month"}  # rank.word.* -> kind


def _period_kind(services: Services, word: str) -> str | None:
    """The period a /rank word names (``rank.word.*`` in any language), or None."""
    folded = word.strip().lower()
    for name, kind in _PERIOD_WORDS.items():
        if folded in services.catalogue.keywords(f"rank.word.{name}"):
            return kind
    return None


async def rank(update: Update, context: GridContext, caller: Caller) -> None:
    """/rank [today|week|month] [CODE]: the ranking of a unit's children (the caller's
    own unit by default, today by default), with its chart, as the digest shows it."""
    chat = update.effective_chat
    assert chat is not None and caller.member is not None
    args = context.args or []
    kind: str | None = None
    code: str | None = None
    for arg in args:
        named = _period_kind(context.services, arg)
        if named is not None and kind is None:
            kind = named
        elif named is None and code is None and CODE_RE.fullmatch(arg):
            code = arg
        else:
            await reply(update, context, caller, "usage.rank")
            return
    ranking = await context.services.ranking.rank_in_scope(caller.member, code, kind or "day")
    digest = await rendered(context.services, ranking, caller.language)
    for message in digest.messages:
        await context.bot.send_message(chat.id, message, parse_mode=ParseMode.HTML)
    await context.bot.send_photo(chat.id, digest.chart, caption=digest.caption)


async def digest_now(update: Update, context: GridContext, caller: Caller) -> None:
    """/digest in a bound group: today's digest of the group's unit, now. Recorded as an
    on-demand send: the scheduled digest of the day still goes out."""
    chat = update.effective_chat
    assert chat is not None and caller.member is not None
    if context.args:
        await reply(update, context, caller, "usage.digest")
        return
    due = await context.services.digests.on_demand(caller.member, chat.id)
    ranking = await context.services.ranking.rank_children(due.group.unit_code, due.period)
    await _send_one(context.bot, context.services, due, ranking)


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
