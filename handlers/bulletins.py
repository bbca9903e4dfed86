"""The weekly bulletin in chat: sent on schedule to bound groups, and /brief — a private
preview for an admin with 发布 / 取消, publishing to the bound groups in their scope.
Each group gets a bulletin once per period, however it was triggered."""

from __future__ import annotations

import logging
from datetime import date, timedelta
from typing import Any

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, InputFile, Update
from telegram.constants import ParseMode
from telegram.error import BadRequest, TelegramError

from bot.core import arguments
from bot.domain.bulletin import Bulletin, render_bulletin, workbook
from bot.domain.digest import DueDigest, Plan
from bot.domain.members import Caller
from bot.runtime.context import GridContext
from bot.services import Services
from handlers.callbacks import BriefAction, BriefButton
from handlers.common import reply, text
from handlers.grouppost import by_period, deliver, tell_admins, texts_in

log = logging.getLogger("gridbot.bulletins")


def _file(bulletin: Bulletin, say: Any) -> InputFile:
    name = say(
        "bulletin.file_name",
        unit=bulletin.ranking.parent.code,
        first=bulletin.period.first.isoformat(),
        last=bulletin.period.last.isoformat(),
    )
    return InputFile(workbook(bulletin, say), filename=name)


async def _send_plan(bot: Any, services: Services, plan: Plan) -> int:
    for skipped in plan.skipped:
        await tell_admins(
            bot,
            services,
            skipped.group,
            "digest.skipped_notice",
            day=skipped.period.last.isoformat(),
            hours=services.config.schedule.catch_up_hours,
        )
    sent = 0
    for period, dues in by_period(plan.send).items():
        codes: list[str | None] = [due.group.unit_code for due in dues]
        built = await services.bulletins.build_many(codes, period.last)
        for due in dues:
            sent += await _send_one(bot, services, due, built[due.group.unit_code])
    return sent


async def _send_one(bot: Any, services: Services, due: DueDigest, bulletin: Bulletin) -> int:
    say = texts_in(services)
    try:
        messages = render_bulletin(bulletin, say)
        delivered = await deliver(bot, services, due.group, messages)
        if delivered:
            await bot.send_document(due.group.chat_id, _file(bulletin, say))
    except TelegramError as exc:
        log.error("bulletin.failed group=%s error=%r", due.group.chat_id, exc)
        await services.digests.finish(due, "failed", repr(exc))
        return 0
    await services.digests.finish(due, "sent" if delivered else "failed")
    return int(delivered)


async def send_weekly_bulletins(context: Any) -> int:
    """The scheduled bulletin job."""
    services: Services = context.bot_data.services
    return await _send_plan(context.bot, services, await services.bulletins.plan())


def _last_day(context: GridContext, args: list[str]) -> date | None:
    today = context.services.clock.now().astimezone(context.services.config.locale.zone).date()
    if not args:
        return today - timedelta(days=1)
    chosen = arguments.day(args[0])
    return chosen if chosen is not None and chosen <= today else None


async def brief(update: Update, context: GridContext, caller: Caller) -> None:
    """/brief [LAST_DAY]: preview the bulletin of the caller's unit, with 发布 / 取消."""
    args = context.args or []
    last = _last_day(context, args) if len(args) <= 1 else None
    chat = update.effective_chat
    if last is None or chat is None:
        await reply(update, context, caller, "bulletin.bad_date" if args else "usage.brief")
        return
    assert caller.member is not None
    bulletin = await context.services.bulletins.build(caller.member.unit_code, last)
    say = texts_in(context.services, caller.language)
    for message in render_bulletin(bulletin, say):
        await context.bot.send_message(chat.id, message, parse_mode=ParseMode.HTML)
    await context.bot.send_document(chat.id, _file(bulletin, say))
    day = int(last.strftime("%Y%m%d"))
    unit = caller.member.unit_code
    buttons = [
        InlineKeyboardButton(
            text(context, caller, "bulletin.publish"),
            callback_data=BriefButton(unit=unit, last=day, act=BriefAction.PUBLISH).encode(),
        ),
        InlineKeyboardButton(
            text(context, caller, "bulletin.cancel"),
            callback_data=BriefButton(unit=unit, last=day, act=BriefAction.CANCEL).encode(),
        ),
    ]
    await reply(
        update, context, caller, "bulletin.preview", reply_markup=InlineKeyboardMarkup([buttons])
    )


async def brief_pressed(
    update: Update, context: GridContext, caller: Caller, button: BriefButton
) -> None:
    """发布: send the previewed bulletin to the bound groups in the admin's scope (the
    preview was of the admin's own unit)."""
    query = update.callback_query
    member = caller.member
    assert query is not None and member is not None
    last = arguments.day_from_number(button.last)
    if button.unit != member.unit_code or last is None:
        await query.answer(text(context, caller, "button.stale"), show_alert=True)
        return
    await query.answer()
    try:
        await query.edit_message_reply_markup(None)
    except BadRequest as exc:
        log.debug("bulletin.edit_skipped error=%r", exc)
    chat = update.effective_chat
    assert chat is not None
    if button.act is BriefAction.CANCEL:
        await context.bot.send_message(chat.id, text(context, caller, "bulletin.cancelled"))
        return
    plan = await context.services.bulletins.plan(member.unit_path, last, publisher=member)
    sent = await _send_plan(context.bot, context.services, plan)
    key = "bulletin.published" if plan.send else "bulletin.already"
    await context.bot.send_message(chat.id, text(context, caller, key, count=sent))
