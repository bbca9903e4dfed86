"""The report flow in private chat: /report or a photo starts it; one question at a
time, inline buttons wherever there is a choice; a summary card; 提交 answers with the
report number only after the commit (``bot.domain.reports`` holds the rules)."""

from __future__ import annotations

import logging
from typing import Any

from telegram import (
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    KeyboardButton,
    Message,
    ReplyKeyboardMarkup,
    ReplyKeyboardRemove,
    Update,
)
from telegram.error import BadRequest, TelegramError
from telegram.ext import CallbackContext

from bot.core.errors import Refused
from bot.domain.members import Caller
from bot.domain.records import Member
from bot.domain.reports import (
    STEPS,
    DraftView,
    PhotoCheck,
    SiteSearch,
    Submitted,
)
from bot.runtime.context import GridContext
from handlers import flows
from handlers.callbacks import ReportButton
from handlers.common import category_name, localized, status_name, text
from handlers.photos import fetch_photo

log = logging.getLogger("gridbot.reports")


def _button(label: str, draft: int, act: str, arg: int = 0) -> InlineKeyboardButton:
    return InlineKeyboardButton(
        label, callback_data=ReportButton(draft=draft, act=act, arg=arg).encode()
    )


async def _send(context: GridContext, chat_id: int, body: str, markup: Any = None) -> Message:
    return await context.bot.send_message(chat_id, body, reply_markup=markup)


def check_lines(context: GridContext, caller: Caller, checks: list[PhotoCheck]) -> list[str]:
    return [
        text(
            context,
            caller,
            f"report.check.{check.kind}" + ("" if check.visible else "_elsewhere"),
            position=check.position,
            number=check.report_number,
        )
        for check in checks
    ]


# ---------------------------------------------------------------------- asking a step


async def ask(context: GridContext, chat_id: int, caller: Caller, view: DraftView) -> None:
    """Send the question of the step the draft is at (or the summary card)."""
    draft = view.draft
    step = view.step
    if step == "category":
        rows = [
            [_button(localized(caller, category), draft.id, "cat", index)]
            for index, category in enumerate(context.services.config.campaign.categories)
        ]
        await _send(
            context,
            chat_id,
            text(context, caller, "report.ask.category"),
            InlineKeyboardMarkup(rows),
        )
    elif step == "site":
        rows = [
            [
                _button(
                    f"{site.code} · {status_name(context, caller, site.category, site.status)}",
                    draft.id,
                    "site",
                    site.id,
                )
            ]
            for site in view.recent_sites
        ]
        key = "report.ask.site_recent" if rows else "report.ask.site"
        await _send(
            context,
            chat_id,
            text(context, caller, key, category=category_name(context, caller, draft.category)),
            InlineKeyboardMarkup(rows) if rows else None,
        )
    elif step == "status":
        category = view.category
        assert category is not None
        rows = [
            [_button(localized(caller, status), draft.id, "st", index)]
            for index, status in enumerate(category.statuses)
        ]
        await _send(
            context,
            chat_id,
            text(context, caller, "report.ask.status", site=view.site_label),
            InlineKeyboardMarkup(rows),
        )
    elif step == "photos":
        await ask_photos(context, chat_id, caller, view)
    elif step == "location":
        required = bool(view.category and view.category.location_required)
        keys = [
            [KeyboardButton(text(context, caller, "report.share_location"), request_location=True)]
        ]
        if not required:
            keys.append([KeyboardButton(text(context, caller, "report.skip"))])
        await _send(
            context,
            chat_id,
            text(
                context,
                caller,
                "report.ask.location_required" if required else "report.ask.location",
            ),
            ReplyKeyboardMarkup(keys, resize_keyboard=True, one_time_keyboard=True),
        )
    elif step == "note":
        await _send(
            context,
            chat_id,
            text(context, caller, "report.ask.note"),
            InlineKeyboardMarkup([[_button(text(context, caller, "report.skip"), draft.id, "ns")]]),
        )
    else:
        await show_summary(context, chat_id, caller, view)


async def ask_photos(context: GridContext, chat_id: int, caller: Caller, view: DraftView) -> None:
    draft = view.draft
    count = draft.photo_count
    if count == 0:
        await _send(
            context, chat_id, text(context, caller, "report.ask.photos", max=view.max_photos)
        )
        return
    rows = [
        [_button(text(context, caller, "report.photos_done", count=count), draft.id, "pd")],
        [_button(text(context, caller, "report.photos_clear"), draft.id, "pc")],
    ]
    body = text(context, caller, "report.ask.more_photos", count=count, max=view.max_photos)
    await _send(context, chat_id, body, InlineKeyboardMarkup(rows))


def summary_text(context: GridContext, caller: Caller, view: DraftView) -> str:
    draft = view.draft
    site_key = "report.summary.site_new" if view.site is None else "report.summary.site"
    lines = [
        text(context, caller, "report.summary.title"),
        text(
            context,
            caller,
            "report.summary.category",
            category=category_name(context, caller, draft.category),
        ),
        text(context, caller, site_key, site=view.site_label),
        text(
            context,
            caller,
            "report.summary.status",
            status=status_name(context, caller, draft.category or "", draft.status),
        ),
        text(context, caller, "report.summary.photos", count=draft.photo_count),
        text(
            context,
            caller,
            "report.summary.location",
            location=f"{draft.latitude:.5f}, {draft.longitude:.5f}"
            if draft.latitude is not None and draft.longitude is not None
            else text(context, caller, "report.summary.none"),
        ),
        text(
            context,
            caller,
            "report.summary.note",
            note=draft.note or text(context, caller, "report.summary.none"),
        ),
    ]
    lines.extend(check_lines(context, caller, view.checks))
    return "\n".join(lines)


async def show_summary(context: GridContext, chat_id: int, caller: Caller, view: DraftView) -> None:
    draft = view.draft
    rows = [
        [
            _button(text(context, caller, "report.submit"), draft.id, "ok"),
            _button(text(context, caller, "report.edit"), draft.id, "ed"),
            _button(text(context, caller, "report.cancel"), draft.id, "cx"),
        ]
    ]
    await _send(context, chat_id, summary_text(context, caller, view), InlineKeyboardMarkup(rows))


def _edit_keyboard(context: GridContext, caller: Caller, view: DraftView) -> InlineKeyboardMarkup:
    steps = [
        s
        for s in STEPS
        if not (s == "category" and len(context.services.config.campaign.categories) == 1)
    ]
    buttons = [
        _button(
            text(context, caller, f"report.step.{step}"), view.draft.id, "eg", STEPS.index(step)
        )
        for step in steps
    ]
    rows = [buttons[i : i + 3] for i in range(0, len(buttons), 3)]
    rows.append([_button(text(context, caller, "report.back"), view.draft.id, "eg", len(STEPS))])
    return InlineKeyboardMarkup(rows)


# ---------------------------------------------------------------------- entry points


def _member(caller: Caller) -> Member:
    assert caller.member is not None
    return caller.member


async def report_command(update: Update, context: GridContext, caller: Caller) -> None:
    """/report: start a draft, or pick up the one in progress."""
    chat = update.effective_chat
    assert chat is not None
    opened = await context.services.reports.open(_member(caller))
    hours = context.services.config.reports.draft_hours
    if opened.expired:
        await _send(context, chat.id, text(context, caller, "report.expired_new", hours=hours))
    elif opened.resumed:
        await _send(context, chat.id, text(context, caller, "report.resumed"))
    else:
        await _send(context, chat.id, text(context, caller, "report.started", hours=hours))
    await ask(context, chat.id, caller, opened.view)


@flows.starter
async def photo_starts_report(update: Update, context: GridContext, caller: Caller) -> bool:
    """A photo (or an image sent as a file) with no conversation going starts a report."""
    message = update.effective_message
    if message is None or not (message.photo or message.document):
        return False
    await take_photo(update, context, caller, message)
    return True


async def take_photo(
    update: Update, context: GridContext, caller: Caller, message: Message
) -> None:
    """Download the largest size into the evidence store and attach it to the draft.

    The answer comes once the photos stop arriving (an album is several updates), from
    ``photos_settled``; refusals are answered at once.
    """
    chat = update.effective_chat
    assert chat is not None
    member = _member(caller)
    try:
        await context.services.reports.check_room(member, message.message_id)
        incoming = await fetch_photo(context, message)
        added = await context.services.reports.add_photo(
            member,
            message.message_id,
            incoming,
            message.caption,
        )
    except Refused as refusal:
        await _refuse(context, chat.id, caller, refusal)
        return
    if added.expired:
        hours = context.services.config.reports.draft_hours
        await _send(context, chat.id, text(context, caller, "report.expired_new", hours=hours))
    schedule_photo_answer(context, chat.id, caller)


async def _refuse(context: GridContext, chat_id: int, caller: Caller, refusal: Refused) -> None:
    """A refusal mid-flow: say why, and what the draft is still waiting for."""
    await _send(context, chat_id, text(context, caller, refusal.key, **refusal.fields))


def schedule_photo_answer(context: GridContext, chat_id: int, caller: Caller) -> None:
    """(Re)start the short wait after which the photos received so far are answered."""
    _schedule_answer(context, chat_id, caller.telegram_id)


def _schedule_answer(context: Any, chat_id: int, telegram_id: int) -> None:
    queue = context.job_queue
    assert queue is not None
    name = f"report-photos:{chat_id}"
    for job in queue.get_jobs_by_name(name):
        job.schedule_removal()
    queue.run_once(
        photos_settled,
        when=context.bot_data.services.config.reports.album_wait_seconds,
        name=name,
        chat_id=chat_id,
        user_id=telegram_id,
        data=telegram_id,
    )


async def resume_photo_answers(context: CallbackContext) -> int:  # type: ignore[type-arg]
    """On start: the photos a stopped run received and never answered (the wait is in
    memory) are answered after the album wait — joined by any photo of the same album
    handled again from the inbox."""
    waiting = await context.bot_data.services.reports.photos_awaiting_answer()
    for telegram_id in waiting:  # reports are drafted in private chats
        _schedule_answer(context, telegram_id, telegram_id)
    return len(waiting)


async def photos_settled(context: CallbackContext) -> None:  # type: ignore[type-arg]
    """The photos stopped coming: say how many the draft holds, warn about reused ones,
    then ask the step the draft is at. The answer is taken from the draft once, so it
    is given once however many waits end."""
    grid: GridContext = context  # type: ignore[assignment]
    job = context.job
    assert job is not None and job.chat_id is not None
    telegram_id = int(job.data)  # type: ignore[arg-type]
    caller = await grid.services.members.caller(telegram_id, None)
    if caller.member is None or not caller.member.active:
        return
    view = await grid.services.reports.claim_photo_answer(caller.member)
    if view is None:
        return
    lines = [
        text(
            grid,
            caller,
            "report.photos_received",
            count=view.draft.photo_count,
            max=view.max_photos,
        )
    ]
    lines.extend(check_lines(grid, caller, view.checks))
    try:
        await _send(grid, job.chat_id, "\n".join(lines))
        await ask(grid, job.chat_id, caller, view)
    except TelegramError as exc:
        log.warning("report.photos_answer_failed chat=%s error=%r", job.chat_id, exc)


@flows.flow("report")
async def report_message(update: Update, context: GridContext, caller: Caller) -> bool:
    """A plain message while a report draft is open: the answer to the current step."""
    message = update.effective_message
    chat = update.effective_chat
    assert message is not None and chat is not None
    member = _member(caller)
    view, expired = await context.services.reports.current(member)
    if expired:
        hours = context.services.config.reports.draft_hours
        if message.photo or message.document:  # the photo starts a new report
            await _send(context, chat.id, text(context, caller, "report.expired_new", hours=hours))
            await take_photo(update, context, caller, message)
            return True
        await _send(context, chat.id, text(context, caller, "report.expired", hours=hours))
        return True
    if view is None:
        return False
    if message.photo or message.document:
        await take_photo(update, context, caller, message)
        return True
    try:
        await _answer_step(context, chat.id, caller, member, view, message)
    except Refused as refusal:
        await _refuse(context, chat.id, caller, refusal)
        current = await context.services.reports.view(member)
        if current is not None and refusal.key != "report.stale":
            await ask(context, chat.id, caller, current)
    return True


async def _answer_step(
    context: GridContext,
    chat_id: int,
    caller: Caller,
    member: Member,
    view: DraftView,
    message: Message,
) -> None:
    reports = context.services.reports
    step = view.step
    draft_id = view.draft.id
    if message.location is not None and step == "location":
        moved = await reports.set_location(
            member, draft_id, message.location.latitude, message.location.longitude
        )
        await _send(
            context, chat_id, text(context, caller, "report.location_saved"), ReplyKeyboardRemove()
        )
        await ask(context, chat_id, caller, moved)
        return
    body = message.text
    if body is None:
        raise Refused(f"report.expect.{step}", max=view.max_photos)
    if step == "site":
        found = await reports.search_sites(member, draft_id, body)
        await _show_search(context, chat_id, caller, draft_id, found)
    elif step == "location" and body.strip() in _skip_labels(context):
        moved = await reports.skip_location(member, draft_id)
        await _send(
            context,
            chat_id,
            text(context, caller, "report.location_skipped"),
            ReplyKeyboardRemove(),
        )
        await ask(context, chat_id, caller, moved)
    elif step == "note":
        await ask(context, chat_id, caller, await reports.set_note(member, draft_id, body))
    else:
        raise Refused(f"report.expect.{step}", max=view.max_photos)


def _skip_labels(context: GridContext) -> set[str]:
    catalogue = context.services.catalogue
    return {catalogue.text(language, "report.skip") for language in catalogue.messages}


async def _show_search(
    context: GridContext, chat_id: int, caller: Caller, draft_id: int, found: SiteSearch
) -> None:
    rows = [
        [
            _button(
                f"{site.code} · {status_name(context, caller, site.category, site.status)}",
                draft_id,
                "site",
                site.id,
            )
        ]
        for site in found.matches
    ]
    rows.append(
        [_button(text(context, caller, "report.new_site", site=found.text[:30]), draft_id, "new")]
    )
    key = "report.search.found" if found.matches else "report.search.none"
    await _send(
        context,
        chat_id,
        text(context, caller, key, text=found.text, count=len(found.matches)),
        InlineKeyboardMarkup(rows),
    )


# ---------------------------------------------------------------------- buttons


async def report_pressed(
    update: Update, context: GridContext, caller: Caller, button: ReportButton
) -> None:
    """A button of the report flow. The draft id in it must be the presser's own
    current draft; anything else is stale."""
    query = update.callback_query
    chat = update.effective_chat
    member = caller.member
    assert query is not None and chat is not None and member is not None
    reports = context.services.reports
    try:
        result: DraftView | Submitted | SiteSearch | None
        act, draft_id = button.act, button.draft
        if act == "cat":
            result = await reports.choose_category(member, draft_id, button.arg)
        elif act == "site":
            result = await reports.choose_site(member, draft_id, button.arg)
        elif act == "new":
            result = await reports.new_site_from_query(member, draft_id)
        elif act == "st":
            result = await reports.choose_status(member, draft_id, button.arg)
        elif act == "pd":
            result = await reports.photos_done(member, draft_id)
        elif act == "pc":
            result = await reports.clear_photos(member, draft_id)
        elif act == "ns":
            result = await reports.set_note(member, draft_id, None)
        elif act == "ok":
            result = await reports.submit(member, draft_id)
        elif act == "ed":
            view = await reports.view(member)
            if view is None or view.draft.id != draft_id:
                raise Refused("report.stale")
            await query.answer()
            await _quietly(query.edit_message_reply_markup(_edit_keyboard(context, caller, view)))
            return
        elif act == "eg":
            if button.arg >= len(STEPS):  # 返回: back to the summary
                result = await reports.view(member)
                if result is None or result.draft.id != draft_id:
                    raise Refused("report.stale")
            else:
                result = await reports.edit(member, draft_id, STEPS[button.arg])
        else:  # "cx"
            if not await reports.cancel(member, draft_id):
                raise Refused("report.stale")
            result = None
    except Refused as refusal:
        await query.answer(text(context, caller, refusal.key, **refusal.fields), show_alert=True)
        return
    await query.answer()
    await _quietly(query.edit_message_reply_markup(None))
    if result is None:
        await _send(context, chat.id, text(context, caller, "report.cancelled"))
    elif isinstance(result, Submitted):
        await _announce(context, chat.id, caller, result)
    elif isinstance(result, DraftView):
        await ask(context, chat.id, caller, result)


async def _quietly(edit: Any) -> None:
    """Edits that may legitimately fail (message too old, nothing changed) change nothing."""
    try:
        await edit
    except BadRequest as exc:
        log.debug("report.edit_skipped error=%r", exc)


async def _announce(context: GridContext, chat_id: int, caller: Caller, done: Submitted) -> None:
    key = "report.already" if done.already else "report.submitted"
    lines = [text(context, caller, key, number=done.number)]
    if done.recheck and not done.already:
        lines.append(text(context, caller, "report.recheck"))
    for flag in done.flags:
        unnamed = flag.kind != "location" and not flag.detail  # an earlier report out of scope
        key = f"report.flag.{flag.kind}" + ("_elsewhere" if unnamed else "")
        lines.append(text(context, caller, key, detail=flag.detail))
    await _send(context, chat_id, "\n".join(lines))


@flows.canceller("report")
async def cancel_report(update: Update, context: GridContext, caller: Caller) -> bool:
    """/cancel while a report draft is open."""
    return await context.services.reports.cancel(_member(caller))
