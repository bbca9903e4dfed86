"""The weekly bulletin in chat: sent on schedule to bound groups, and /brief — a private
preview for an admin (a summary, the items with their keep/drop and up/down buttons and
发布 / 取消, then the PDF), publishing to the bound groups in their scope. Each group gets a
bulletin once per period, however it was triggered: the messages, the tip table as a
picture, the document as PDF and DOCX (第N期, numbered when first published) and the XLSX.
/item offers a status update (or, for leads and admins, a text written directly) as an
item of the bulletin."""

from __future__ import annotations

import asyncio
import html
import logging
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, InputFile, Update
from telegram.constants import ParseMode
from telegram.error import BadRequest, TelegramError

from bot.core import arguments, periods
from bot.core.errors import Refused
from bot.core.periods import Period
from bot.domain.briefs import Edition, heading
from bot.domain.bulletin import Bulletin, period_ending, render_bulletin, workbook
from bot.domain.digest import DueDigest, Plan
from bot.domain.members import Caller
from bot.domain.records import Member
from bot.formats.briefdoc import docx_bytes, pdf_bytes, table_png
from bot.runtime.context import GridContext
from bot.services import Services
from handlers.callbacks import (
    BriefAction,
    BriefButton,
    BriefItemAction,
    BriefItemButton,
    BriefPublishButton,
)
from handlers.common import alert, edit_moot, reply, text
from handlers.grouppost import by_period, deliver, tell_admins, tell_outlet_report, texts_in
from handlers.photos import fetch_photo

log = logging.getLogger("gridbot.bulletins")


def _file(bulletin: Bulletin, say: Any) -> InputFile:
    name = say(
        "bulletin.file_name",
        unit=bulletin.ranking.parent.code,
        first=bulletin.period.first.isoformat(),
        last=bulletin.period.last.isoformat(),
    )
    return InputFile(workbook(bulletin, say), filename=name)


@dataclass(frozen=True)
class Documents:
    """One edition's files: the document as PDF and DOCX, and the tip table as PNG."""

    caption: str
    pdf: tuple[bytes, str]
    docx: tuple[bytes, str]
    png: tuple[bytes, str]


async def documents(services: Services, edition: Edition, say: Any) -> Documents:
    """The edition rendered (in a thread: fonts and layout take a while)."""
    document = services.briefs.document(edition, say)
    fields = {"number": edition.number, "unit": edition.unit.code}
    fields["last"] = edition.period.last.isoformat()
    pdf, docx, png = await asyncio.gather(
        asyncio.to_thread(pdf_bytes, document),
        asyncio.to_thread(docx_bytes, document),
        asyncio.to_thread(table_png, document.tips, document.tips.caption),
    )
    return Documents(
        say("brief.caption", title=document.title, number=document.number_line),
        (pdf, say("brief.pdf_name", **fields)),
        (docx, say("brief.docx_name", **fields)),
        (png, say("brief.png_name", **fields)),
    )


async def _send_plan(
    bot: Any, services: Services, plan: Plan, publisher: Member | None = None
) -> int:
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
    say = texts_in(services)
    for period, dues in by_period(plan.send).items():
        codes: list[str | None] = [due.group.unit_code for due in dues]
        built = await services.bulletins.build_many(codes, period.last)
        files = {code: await _issue(services, code, period, publisher, say) for code in set(codes)}
        for due in dues:
            code = due.group.unit_code
            sent += await _send_one(bot, services, due, built[code], files[code])
    return sent


async def _issue(
    services: Services, code: str | None, period: Period, publisher: Member | None, say: Any
) -> Documents:
    """Number the issue (once; a republished period keeps its number) and render it."""
    await services.briefs.publish(code, period, publisher)
    edition = await services.briefs.edition(code, period.last)
    return await documents(services, edition, say)


async def _send_one(
    bot: Any, services: Services, due: DueDigest, bulletin: Bulletin, files: Documents
) -> int:
    say = texts_in(services)
    try:
        messages = render_bulletin(bulletin, say)
        delivered = await deliver(
            bot, services, due.group, messages, chart=files.png[0], caption=files.caption
        )
        if delivered:
            for data, name in (files.pdf, files.docx):
                await bot.send_document(due.group.chat_id, InputFile(data, filename=name))
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
    """/brief's LAST_DAY: yesterday when not given."""
    today = context.services.calendar.today()
    if not args:
        return today - timedelta(days=1)
    return periods.day(args[0])


def _items_view(
    context: GridContext, caller: Caller, edition: Edition
) -> tuple[str, InlineKeyboardMarkup]:
    """The preview's item list and its buttons (with 发布 / 取消 last)."""
    say = texts_in(context.services, caller.language)
    unit, day, rev = edition.unit.code, periods.as_number(edition.period.last), edition.revision
    lines = [say("brief.items_heading") if edition.items else say("brief.no_items")]
    rows: list[list[InlineKeyboardButton]] = []
    for n, view in enumerate(edition.items, 1):
        mark = say("brief.included" if view.included else "brief.dropped")
        lines.append(
            say("brief.item_line", mark=mark, n=n, heading=html.escape(heading(view, say)))
        )

        def button(
            label: str, act: BriefItemAction, item: int = view.item.id
        ) -> InlineKeyboardButton:
            data = BriefItemButton(unit=unit, last=day, rev=rev, item=item, act=act).encode()
            return InlineKeyboardButton(label, callback_data=data)

        rows.append(
            [
                button(f"{mark} {n}", BriefItemAction.TOGGLE),
                button(say("brief.up"), BriefItemAction.UP),
                button(say("brief.down"), BriefItemAction.DOWN),
            ]
        )
    if edition.empty:
        lines.append("\n" + say("brief.empty_warning"))
    lines.append("\n" + say("bulletin.preview"))

    def publish(label: str, act: BriefAction) -> InlineKeyboardButton:
        data = BriefPublishButton(unit=unit, last=day, rev=rev, act=act).encode()
        return InlineKeyboardButton(label, callback_data=data)

    rows.append(
        [
            publish(say("bulletin.publish"), BriefAction.PUBLISH),
            publish(say("bulletin.cancel"), BriefAction.CANCEL),
        ]
    )
    return "\n".join(lines), InlineKeyboardMarkup(rows)


def _summary(say: Any, edition: Edition, title: str) -> str:
    total = edition.cumulative[0] if edition.cumulative else None
    week = edition.bulletin.tips[0] if edition.bulletin.tips else None
    body = say(
        "brief.summary",
        title=html.escape(title),
        number=say("brief.doc.number", number=edition.number),
        first=edition.period.first.isoformat(),
        last=edition.period.last.isoformat(),
        received=total.received if total else 0,
        closed=total.closed if total else 0,
        week=week.received if week else 0,
        included=len(edition.included),
        items=len(edition.items),
    )
    return body + (say("brief.published_mark") if edition.published else "")


async def brief(update: Update, context: GridContext, caller: Caller) -> None:
    """/brief [LAST_DAY]: preview the bulletin of the caller's unit — a summary, the items
    with their buttons and 发布 / 取消, then the PDF."""
    args = context.args or []
    last = _last_day(context, args) if len(args) <= 1 else None
    chat = update.effective_chat
    if last is None or chat is None:
        await reply(update, context, caller, "bulletin.bad_date" if args else "usage.brief")
        return
    assert caller.member is not None
    services = context.services
    try:
        edition = await services.briefs.edition(caller.member.unit_code, last, preview=True)
    except Refused as refusal:
        await reply(update, context, caller, refusal.key, **refusal.fields)
        return
    say = texts_in(services, caller.language)
    document = services.briefs.document(edition, say)
    summary = _summary(say, edition, document.title)
    await context.bot.send_message(chat.id, summary, parse_mode=ParseMode.HTML)
    body, markup = _items_view(context, caller, edition)
    await context.bot.send_message(chat.id, body, parse_mode=ParseMode.HTML, reply_markup=markup)
    pdf = await asyncio.to_thread(pdf_bytes, document)
    name = say(
        "brief.pdf_name",
        number=edition.number,
        unit=edition.unit.code,
        last=edition.period.last.isoformat(),
    )
    await context.bot.send_document(chat.id, InputFile(pdf, filename=name))


async def brief_item_pressed(
    update: Update, context: GridContext, caller: Caller, button: BriefItemButton
) -> None:
    """✅/⬜, ⬆️, ⬇️: keep or drop an item, or move it; the list is drawn again."""
    query = update.callback_query
    member = caller.member
    assert query is not None and member is not None
    last = periods.day_from_number(button.last)
    if button.unit != member.unit_code or last is None:
        await alert(update, context, caller, "button.stale")
        return
    action = {
        BriefItemAction.TOGGLE: "toggle",
        BriefItemAction.UP: "up",
        BriefItemAction.DOWN: "down",
    }[button.act]
    try:
        edition = await context.services.briefs.arrange(
            button.unit, last, button.rev, button.item, action
        )
    except Refused as refusal:
        await alert(update, context, caller, refusal.key, **refusal.fields)
        return
    await query.answer()
    body, markup = _items_view(context, caller, edition)
    try:
        await query.edit_message_text(body, parse_mode=ParseMode.HTML, reply_markup=markup)
    except BadRequest as exc:
        if not edit_moot(exc):
            raise


async def brief_pressed(
    update: Update, context: GridContext, caller: Caller, button: BriefButton
) -> None:
    """发布 / 取消 under a preview sent before previews had revisions: as they were."""
    await _publish(update, context, caller, button.unit, button.last, button.act)


async def brief_publish_pressed(
    update: Update, context: GridContext, caller: Caller, button: BriefPublishButton
) -> None:
    """发布 / 取消 under a preview; that of an older preview (another /brief since) is
    stale."""
    last = periods.day_from_number(button.last)
    member = caller.member
    assert member is not None
    if button.unit == member.unit_code and last is not None:
        try:
            edition = await context.services.briefs.edition(button.unit, last)
        except Refused as refusal:  # a forged day in the future
            await alert(update, context, caller, refusal.key, **refusal.fields)
            return
        if edition.revision != button.rev:
            await alert(update, context, caller, "brief.stale")
            return
    await _publish(update, context, caller, button.unit, button.last, button.act)


async def _publish(
    update: Update, context: GridContext, caller: Caller, unit: str, day: int, act: BriefAction
) -> None:
    """发布: send the previewed bulletin to the bound groups in the admin's scope (the
    preview was of the admin's own unit); 取消: say so."""
    query = update.callback_query
    member = caller.member
    assert query is not None and member is not None
    last = periods.day_from_number(day)
    if unit != member.unit_code or last is None:
        await query.answer(text(context, caller, "button.stale"), show_alert=True)
        return
    await query.answer()
    try:
        await query.edit_message_reply_markup(None)
    except BadRequest as exc:
        log.debug("bulletin.edit_skipped error=%r", exc)
    chat = update.effective_chat
    assert chat is not None
    if act is BriefAction.CANCEL:
        await context.bot.send_message(chat.id, text(context, caller, "bulletin.cancelled"))
        return
    plan = await context.services.bulletins.plan(member.unit_path, last, publisher=member)
    sent = await _send_plan(context.bot, context.services, plan, publisher=member)
    outlets = await _publish_to_outlets(context, last, member.unit_path)
    key = "bulletin.published" if plan.send else "bulletin.already"
    body = text(context, caller, key, count=sent)
    if outlets:
        body += "\n" + text(context, caller, "brief.published_outlets", count=outlets)
    await context.bot.send_message(chat.id, body)


async def _publish_to_outlets(context: GridContext, last: date, within: str) -> int:
    """The bulletin to the configured outlets (WeCom, DingTalk, Feishu robots) under the
    admin's unit that have not had it; the number it went to."""
    hub = getattr(context.bot_data, "outlets", None)
    if hub is None or not context.services.config.outlets:
        return 0
    report = await hub.deliver_weekly_for(period_ending(last), within)
    return await tell_outlet_report(context.bot, context.services, report)


async def item_command(update: Update, context: GridContext, caller: Caller) -> None:
    """/item N TITLE offers status update #N for the bulletin; /item TITLE, then the text
    on the next lines, writes an item directly (leads and admins) — also as the caption
    of a photo, which the item then carries."""
    message = update.effective_message
    assert message is not None and caller.member is not None
    photo = bool(message.photo or message.document)
    first_line, _, after = ((message.caption if photo else message.text) or "").partition("\n")
    first = first_line.strip().partition(" ")[2]  # without the /item
    number_text, _, title = first.strip().partition(" ")
    number = arguments.number(number_text, 1) if number_text else None
    briefs = context.services.briefs
    try:
        if number is not None and not photo:
            title = (title + ("\n" + after if after.strip() else "")).strip()
            if not title:
                await reply(update, context, caller, "usage.item")
                return
            await briefs.offer(caller.member, number, title)
            key = "item.offered"
        elif first.strip():
            title = first.strip()
            data = (await fetch_photo(context, message)).data if photo else None
            await briefs.write(caller.member, title, after, data)
            key = "item.written_photo" if photo else "item.written"
        else:
            await reply(update, context, caller, "usage.item")
            return
    except Refused as refusal:
        await reply(update, context, caller, refusal.key, **refusal.fields)
        return
    await reply(update, context, caller, key, title=title)
