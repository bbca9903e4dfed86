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
from telegram.error import TelegramError

from bot.core import periods
from bot.domain.digest import DueDigest, chart_caption, render_daily
from bot.domain.members import Caller
from bot.domain.plans import render_progress
from bot.domain.ranking import Ranking
from bot.formats.chart import score_chart
from bot.formats.orgfile import CODE_RE
from bot.runtime.context import GridContext
from bot.services import Services
from handlers.common import reply
from handlers.grouppost import by_period, deliver, tell_admins, texts_in

log = logging.getLogger("gridbot.digests")


@dataclass(frozen=True)
class Rendered:
    messages: list[str]  # HTML
    chart: bytes  # PNG
    caption: str


async def rendered(services: Services, ranking: Ranking, language: str | None = None) -> Rendered:
    """A ranking as the digest shows it: the table messages, then the score chart."""
    text = texts_in(services, language)
    messages = render_daily(ranking, text)
    caption = chart_caption(ranking, text)
    chart = await asyncio.to_thread(score_chart, ranking, caption, text("digest.column.score"))
    return Rendered(messages, chart, caption)


async def send_daily_digests(context: Any) -> int:
    """The daily digest job: claim what is due, send it, record the outcome."""
    services: Services = context.bot_data.services
    plan = await services.digests.plan_daily()
    for skipped in plan.skipped:
        log.warning("digest.skipped group=%s day=%s", skipped.group.chat_id, skipped.key)
        await tell_admins(
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
        sections = await plan_sections(services, [due.group.unit_code for due in dues])
        for due in dues:
            ranking = rankings[due.group.unit_code]
            extra = sections.get(due.group.unit_code, [])
            sent += await _send_one(context.bot, services, due, ranking, extra)
    return sent


async def plan_sections(services: Services, codes: list[str]) -> dict[str, list[str]]:
    """The digest's compact plan section per group unit: one message per open plan."""
    say = texts_in(services)
    zone = services.config.locale.zone
    found = await services.plans.progress_many(codes)
    return {
        code: [
            render_progress(p, say, f"{p.round_ends.astimezone(zone):%Y-%m-%d %H:%M}")
            for p in progress
        ]
        for code, progress in found.items()
    }


async def _send_one(
    bot: Any, services: Services, due: DueDigest, ranking: Ranking, extra: list[str] | None = None
) -> int:
    try:
        digest = await rendered(services, ranking)
        delivered = await deliver(
            bot, services, due.group, digest.messages + (extra or []), digest.chart, digest.caption
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


async def rank(update: Update, context: GridContext, caller: Caller) -> None:
    """/rank [today|week|month] [CODE]: the ranking of a unit's children (the caller's
    own unit by default, today by default), with its chart, as the digest shows it."""
    chat = update.effective_chat
    assert chat is not None and caller.member is not None
    args = context.args or []
    kind: str | None = None
    code: str | None = None
    for arg in args:
        named = periods.kind_of(arg, context.services.catalogue.keywords)
        if named is not None and kind is None:
            kind = named
        elif named is None and code is None and CODE_RE.fullmatch(arg):
            code = arg
        else:
            await reply(update, context, caller, "usage.rank")
            return
    ranking = await context.services.ranking.rank_in_scope(caller.member, code, kind or periods.DAY)
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
        due, overdue = await services.plans.due_counts(member)
        if due:
            body += "\n" + services.catalogue.text(
                caller.language, "reminder.plans", due=due, overdue=overdue
            )
        try:
            await context.bot.send_message(member.telegram_id, body)
            sent += 1
        except TelegramError as exc:
            log.warning("reminder.failed member=%s error=%r", member.id, exc)
    if sent:
        log.info("reminders.sent count=%s", sent)
    return sent
