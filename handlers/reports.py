"""The report flow in private chat: /report or a photo starts it; one question at a
time, inline buttons wherever there is a choice; a summary card; 提交 answers with the
report number only after the commit (``bot.domain.reports`` holds the rules).

The steps and their order are ``bot.domain.reports.REPORT_FLOW``; here each has one entry
in ``ASKERS`` (how it is asked), the steps that take a message one in ``ANSWERS``, and
each button action (``ReportAction``) one in ``PRESSES``."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
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
from bot.domain.flows import Flow
from bot.domain.members import Caller
from bot.domain.records import Member
from bot.domain.reports import (
    REPORT_FLOW,
    STEPS,
    DraftView,
    PhotoCheck,
    ReportService,
    ReportStep,
    SiteSearch,
    Submitted,
)
from bot.runtime.context import GridContext
from handlers import flows
from handlers.callbacks import ReportAction, ReportButton, TodoButton
from handlers.common import category_name, localized, status_name, text
from handlers.photos import fetch_photo

log = logging.getLogger("gridbot.reports")


def _button(label: str, draft: int, act: ReportAction, arg: int = 0) -> InlineKeyboardButton:
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


Asker = Callable[[GridContext, int, Caller, DraftView], Awaitable[None]]


async def ask(context: GridContext, chat_id: int, caller: Caller, view: DraftView) -> None:
    """Send the question of the step the draft is at (or the summary card)."""
    await ASKERS[view.step](context, chat_id, caller, view)


def _prompt(context: GridContext, caller: Caller, step: ReportStep, **fields: object) -> str:
    return text(context, caller, REPORT_FLOW[step].prompt, **fields)


async def _ask_category(
    context: GridContext, chat_id: int, caller: Caller, view: DraftView
) -> None:
    rows = [
        [_button(localized(caller, category), view.draft.id, ReportAction.CATEGORY, index)]
        for index, category in enumerate(context.services.config.campaign.categories)
    ]
    body = _prompt(context, caller, ReportStep.CATEGORY)
    await _send(context, chat_id, body, InlineKeyboardMarkup(rows))


async def _ask_site(context: GridContext, chat_id: int, caller: Caller, view: DraftView) -> None:
    draft = view.draft
    rows = [
        [
            _button(
                _site_label(context, caller, site.code, site.category, site.status),
                draft.id,
                ReportAction.SITE,
                site.id,
            )
        ]
        for site in view.recent_sites
    ]
    key = "report.ask.site_recent" if rows else REPORT_FLOW[ReportStep.SITE].prompt
    await _send(
        context,
        chat_id,
        text(context, caller, key, category=category_name(context, caller, draft.category)),
        InlineKeyboardMarkup(rows) if rows else None,
    )


async def _ask_status(context: GridContext, chat_id: int, caller: Caller, view: DraftView) -> None:
    category = view.category
    assert category is not None
    rows = [
        [_button(localized(caller, status), view.draft.id, ReportAction.STATUS, index)]
        for index, status in enumerate(category.statuses)
    ]
    body = _prompt(context, caller, ReportStep.STATUS, site=view.site_label)
    await _send(context, chat_id, body, InlineKeyboardMarkup(rows))


async def _ask_location(
    context: GridContext, chat_id: int, caller: Caller, view: DraftView
) -> None:
    required = bool(view.category and view.category.location_required)
    keys = [[KeyboardButton(text(context, caller, "report.share_location"), request_location=True)]]
    if not required:
        keys.append([KeyboardButton(text(context, caller, "report.skip"))])
    key = "report.ask.location_required" if required else REPORT_FLOW[ReportStep.LOCATION].prompt
    await _send(
        context,
        chat_id,
        text(context, caller, key),
        ReplyKeyboardMarkup(keys, resize_keyboard=True, one_time_keyboard=True),
    )


async def _ask_note(context: GridContext, chat_id: int, caller: Caller, view: DraftView) -> None:
    skip = _button(text(context, caller, "report.skip"), view.draft.id, ReportAction.NO_NOTE)
    body = _prompt(context, caller, ReportStep.NOTE)
    await _send(context, chat_id, body, InlineKeyboardMarkup([[skip]]))


async def ask_photos(context: GridContext, chat_id: int, caller: Caller, view: DraftView) -> None:
    draft = view.draft
    count = draft.photo_count
    if count == 0:
        await _send(
            context, chat_id, _prompt(context, caller, ReportStep.PHOTOS, max=view.max_photos)
        )
        return
    done = text(context, caller, "report.photos_done", count=count)
    rows = [
        [_button(done, draft.id, ReportAction.PHOTOS_DONE)],
        [
            _button(
                text(context, caller, "report.photos_clear"), draft.id, ReportAction.CLEAR_PHOTOS
            )
        ],
    ]
    body = text(context, caller, "report.ask.more_photos", count=count, max=view.max_photos)
    await _send(context, chat_id, body, InlineKeyboardMarkup(rows))


def summary_text(context: GridContext, caller: Caller, view: DraftView) -> str:
    draft = view.draft
    site_key = "report.summary.site_new" if view.site is None else "report.summary.site"
    lines = [
        _prompt(context, caller, ReportStep.SUMMARY),
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
            _button(text(context, caller, "report.submit"), draft.id, ReportAction.SUBMIT),
            _button(text(context, caller, "report.edit"), draft.id, ReportAction.EDIT),
            _button(text(context, caller, "report.cancel"), draft.id, ReportAction.CANCEL),
        ]
    ]
    await _send(context, chat_id, summary_text(context, caller, view), InlineKeyboardMarkup(rows))


# How each step of ``REPORT_FLOW`` is asked (a test checks every step has one).
ASKERS: dict[ReportStep, Asker] = {
    ReportStep.CATEGORY: _ask_category,
    ReportStep.SITE: _ask_site,
    ReportStep.STATUS: _ask_status,
    ReportStep.PHOTOS: ask_photos,
    ReportStep.LOCATION: _ask_location,
    ReportStep.NOTE: _ask_note,
    ReportStep.SUMMARY: show_summary,
}


def _edit_keyboard(context: GridContext, caller: Caller, view: DraftView) -> InlineKeyboardMarkup:
    """修改: a button per step the flow lets the draft go back to, then 返回."""
    single_category = len(context.services.config.campaign.categories) == 1
    buttons = [
        _button(text(context, caller, _label(step)), view.draft.id, ReportAction.EDIT_STEP, index)
        for index, step in enumerate(STEPS)
        if not (step is ReportStep.CATEGORY and single_category)
    ]
    rows = [buttons[i : i + 3] for i in range(0, len(buttons), 3)]
    back = text(context, caller, "report.back")
    rows.append([_button(back, view.draft.id, ReportAction.EDIT_STEP, len(STEPS))])
    return InlineKeyboardMarkup(rows)


def _label(step: ReportStep) -> str:
    """The catalogue key of a step's name on the 修改 keyboard."""
    label = REPORT_FLOW[step].label
    assert label is not None
    return label


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


@flows.flow(Flow.REPORT)
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
    """A message at the draft's step: the step's entry in ``ANSWERS`` takes it; a step
    with none (or a message of the wrong kind) is told what it expects."""
    answer = ANSWERS.get(view.step)
    if answer is None or not await answer(context, chat_id, caller, member, view, message):
        raise Refused(REPORT_FLOW[view.step].expect, max=view.max_photos)


Answerer = Callable[[GridContext, int, Caller, Member, DraftView, Message], Awaitable[bool]]


async def _answer_site(
    context: GridContext,
    chat_id: int,
    caller: Caller,
    member: Member,
    view: DraftView,
    message: Message,
) -> bool:
    """Typed text at the site step: search for it (or make it a new site)."""
    if message.text is None:
        return False
    found = await context.services.reports.search_sites(member, view.draft.id, message.text)
    await _show_search(context, chat_id, caller, view.draft.id, found)
    return True


async def _answer_location(
    context: GridContext,
    chat_id: int,
    caller: Caller,
    member: Member,
    view: DraftView,
    message: Message,
) -> bool:
    """A shared location, or the 跳过 key of the location keyboard."""
    reports = context.services.reports
    if message.location is not None:
        moved = await reports.set_location(
            member, view.draft.id, message.location.latitude, message.location.longitude
        )
        key = "report.location_saved"
    elif message.text is not None and message.text.strip() in _skip_labels(context):
        moved = await reports.skip_location(member, view.draft.id)
        key = "report.location_skipped"
    else:
        return False
    await _send(context, chat_id, text(context, caller, key), ReplyKeyboardRemove())
    await ask(context, chat_id, caller, moved)
    return True


async def _answer_note(
    context: GridContext,
    chat_id: int,
    caller: Caller,
    member: Member,
    view: DraftView,
    message: Message,
) -> bool:
    if message.text is None:
        return False
    moved = await context.services.reports.set_note(member, view.draft.id, message.text)
    await ask(context, chat_id, caller, moved)
    return True


# The steps that take a message (the others are answered by buttons or photos).
ANSWERS: dict[ReportStep, Answerer] = {
    ReportStep.SITE: _answer_site,
    ReportStep.LOCATION: _answer_location,
    ReportStep.NOTE: _answer_note,
}


def _skip_labels(context: GridContext) -> set[str]:
    catalogue = context.services.catalogue
    return {catalogue.text(language, "report.skip") for language in catalogue.messages}


def _site_label(
    context: GridContext, caller: Caller, code: str, category: str, status: str | None
) -> str:
    """The button of a site to choose: its code and current status."""
    named = status_name(context, caller, category, status)
    return text(context, caller, "report.search.site_button", site=code, status=named)


async def _show_search(
    context: GridContext, chat_id: int, caller: Caller, draft_id: int, found: SiteSearch
) -> None:
    rows = [
        [
            _button(
                _site_label(context, caller, site.code, site.category, site.status),
                draft_id,
                ReportAction.SITE,
                site.id,
            )
        ]
        for site in found.matches
    ]
    rows.append(
        [
            _button(
                text(context, caller, "report.new_site", site=found.text[:30]),
                draft_id,
                ReportAction.NEW_SITE,
            )
        ]
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
    try:
        result = await PRESSES[button.act](context.services.reports, member, button)
    except Refused as refusal:
        await query.answer(text(context, caller, refusal.key, **refusal.fields), show_alert=True)
        return
    await query.answer()
    if isinstance(result, EditMenu):
        await _quietly(
            query.edit_message_reply_markup(_edit_keyboard(context, caller, result.view))
        )
        return
    await _quietly(query.edit_message_reply_markup(None))
    if result is None:
        await _send(context, chat.id, text(context, caller, "report.cancelled"))
    elif isinstance(result, Submitted):
        await _announce(context, chat.id, caller, result)
    else:
        await ask(context, chat.id, caller, result)


@dataclass(frozen=True)
class EditMenu:
    """修改 was pressed: show the steps to go back to under the card."""

    view: DraftView


Pressed = DraftView | Submitted | EditMenu | None
Press = Callable[[ReportService, Member, ReportButton], Awaitable[Pressed]]


async def _current(reports: ReportService, member: Member, draft_id: int) -> DraftView:
    view = await reports.view(member)
    if view is None or view.draft.id != draft_id:
        raise Refused("report.stale")
    return view


async def _edit_menu(reports: ReportService, member: Member, button: ReportButton) -> EditMenu:
    return EditMenu(await _current(reports, member, button.draft))


async def _edit_step(reports: ReportService, member: Member, button: ReportButton) -> DraftView:
    if button.arg >= len(STEPS):  # 返回: back to the summary
        return await _current(reports, member, button.draft)
    return await reports.edit(member, button.draft, STEPS[button.arg])


async def _cancel(reports: ReportService, member: Member, button: ReportButton) -> None:
    if not await reports.cancel(member, button.draft):
        raise Refused("report.stale")


# What each button of the report flow does (a test checks every action has one).
PRESSES: dict[ReportAction, Press] = {
    ReportAction.CATEGORY: lambda r, m, b: r.choose_category(m, b.draft, b.arg),
    ReportAction.SITE: lambda r, m, b: r.choose_site(m, b.draft, b.arg),
    ReportAction.NEW_SITE: lambda r, m, b: r.new_site_from_query(m, b.draft),
    ReportAction.STATUS: lambda r, m, b: r.choose_status(m, b.draft, b.arg),
    ReportAction.PHOTOS_DONE: lambda r, m, b: r.photos_done(m, b.draft),
    ReportAction.CLEAR_PHOTOS: lambda r, m, b: r.clear_photos(m, b.draft),
    ReportAction.NO_NOTE: lambda r, m, b: r.set_note(m, b.draft, None),
    ReportAction.SUBMIT: lambda r, m, b: r.submit(m, b.draft),
    ReportAction.EDIT: _edit_menu,
    ReportAction.EDIT_STEP: _edit_step,
    ReportAction.CANCEL: _cancel,
}


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


@flows.canceller(Flow.REPORT)
async def cancel_report(update: Update, context: GridContext, caller: Caller) -> bool:
    """/cancel while a report draft is open."""
    return await context.services.reports.cancel(_member(caller))


async def todo_pressed(
    update: Update, context: GridContext, caller: Caller, button: TodoButton
) -> None:
    """A site under /todo or /near: a report on it, its category and site filled in."""
    query = update.callback_query
    chat = update.effective_chat
    assert query is not None and chat is not None
    view = await context.services.reports.open_for_site(_member(caller), button.site)
    await query.answer()
    await _send(context, chat.id, text(context, caller, "todo.started", site=view.site_label))
    await ask(context, chat.id, caller, view)
