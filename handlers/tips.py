"""Tips in chat: /tip (receive, or a tip's timeline), /assign, 接单, /close with a
verdict, 通过 / 退回, /tips (open ones, or the official table), /reward and /rewards.
The rules are in ``bot.domain.tips``; this module asks, renders and sends. The drafts'
steps are the domain's ``RECEIVE_FLOW``, ``CLOSE_FLOW`` and ``RETURN_FLOW``: each step has
one entry in ``ASKERS``, each flow one in ``TEXT_ANSWERS``, each button action one in
``DRAFT_PRESSES`` or ``ACTION_PRESSES``."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

from telegram import (
    CallbackQuery,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    InputMediaPhoto,
    Message,
    Update,
)
from telegram.error import BadRequest, TelegramError

from bot.core import arguments, periods
from bot.core.errors import Refused
from bot.domain.flows import Flow
from bot.domain.members import Caller
from bot.domain.records import Event, Member, Tip
from bot.domain.tip_cycle import RewardState
from bot.domain.tip_kpis import kpi_table
from bot.domain.tips import (
    CLOSE,
    PHOTO_FLOWS,
    RECEIVE,
    RETURN,
    SOURCES,
    TABLES,
    CloseStep,
    Declined,
    Notice,
    Outcome,
    ReceiveStep,
    ReturnStep,
    Satisfaction,
    Step,
    TipService,
    TipState,
    Urgency,
)
from bot.formats import kpitable, tiptable
from bot.runtime.context import GridContext
from handlers import flows
from handlers.callbacks import NoticeAction, TipActionButton, TipDraftAction, TipDraftButton
from handlers.common import local_time, means, reply, reply_text, text, unit_path
from handlers.photos import fetch_photo

log = logging.getLogger("gridbot.tips")
SETTLED = (RewardState.PAID, RewardState.DECLINED)  # what /reward may settle a reward as


def _member(caller: Caller) -> Member:
    assert caller.member is not None
    return caller.member


def _draft_button(
    label: str, draft: int, act: TipDraftAction, arg: int = 0
) -> InlineKeyboardButton:
    data = TipDraftButton(draft=draft, act=act, arg=arg).encode()
    return InlineKeyboardButton(label, callback_data=data)


def _action_button(label: str, tip: int, act: NoticeAction) -> InlineKeyboardButton:
    return InlineKeyboardButton(label, callback_data=TipActionButton(tip=tip, act=act).encode())


def _when(context: GridContext, caller: Caller, value: datetime | None) -> str:
    return local_time(context, value) if value else text(context, caller, "list.none")


async def _send(context: GridContext, chat_id: int, body: str, markup: Any = None) -> Message:
    return await context.bot.send_message(chat_id, body, reply_markup=markup)


# ---------------------------------------------------------------------- questions

Asker = Callable[[GridContext, int, Caller, Step], Awaitable[None]]


async def ask(context: GridContext, chat_id: int, caller: Caller, step: Step) -> None:
    """Send the question of the step a tip draft is at."""
    await ASKERS[step.flow][step.step](context, chat_id, caller, step)


def _prompt(context: GridContext, caller: Caller, step: Step, **fields: object) -> str:
    return text(context, caller, TABLES[step.flow][step.step].prompt, **fields)


async def _ask_text(context: GridContext, chat_id: int, caller: Caller, step: Step) -> None:
    """A step answered by typing: the question alone."""
    await _send(context, chat_id, _prompt(context, caller, step))


async def _ask_source(context: GridContext, chat_id: int, caller: Caller, step: Step) -> None:
    rows = [
        [
            _draft_button(
                text(context, caller, f"tip.source.{s}"), step.draft.id, TipDraftAction.SOURCE, i
            )
        ]
        for i, s in enumerate(SOURCES)
    ]
    await _send(context, chat_id, _prompt(context, caller, step), InlineKeyboardMarkup(rows))


async def _ask_urgency(context: GridContext, chat_id: int, caller: Caller, step: Step) -> None:
    """一般 / 较急 / 紧急, one button each."""
    row = [
        _draft_button(
            text(context, caller, f"tip.urgency.{u}"), step.draft.id, TipDraftAction.URGENCY, i
        )
        for i, u in enumerate(Urgency)
    ]
    await _send(context, chat_id, _prompt(context, caller, step), InlineKeyboardMarkup([row]))


async def _ask_place(context: GridContext, chat_id: int, caller: Caller, step: Step) -> None:
    draft = step.draft
    assert step.browse is not None
    rows = []
    for u in step.children[:20]:
        down = text(context, caller, "tip.place_down", unit=u.name)
        rows.append([_draft_button(down, draft.id, TipDraftAction.DOWN, u.id)])
    here = text(context, caller, "tip.place_here", unit=step.browse.name)
    rows.append([_draft_button(here, draft.id, TipDraftAction.HERE, step.browse.id)])
    if step.can_go_up:
        up = text(context, caller, "tip.place_up")
        rows.append([_draft_button(up, draft.id, TipDraftAction.UP)])
    body = _prompt(context, caller, step, unit=step.browse.name)
    await _send(context, chat_id, body, InlineKeyboardMarkup(rows))


async def _ask_photos(context: GridContext, chat_id: int, caller: Caller, step: Step) -> None:
    draft = step.draft
    act = TipDraftAction.CLOSE_PHOTOS_DONE if step.flow is CLOSE else TipDraftAction.PHOTOS_DONE
    label = "tip.photos_done" if draft.photo_count else "tip.photos_none"
    markup = InlineKeyboardMarkup(
        [[_draft_button(text(context, caller, label, count=draft.photo_count), draft.id, act)]]
    )
    body = _prompt(context, caller, step, count=draft.photo_count)
    await _send(context, chat_id, body, markup)


async def _ask_contact(context: GridContext, chat_id: int, caller: Caller, step: Step) -> None:
    skip = _draft_button(
        text(context, caller, "tip.skip"), step.draft.id, TipDraftAction.NO_CONTACT
    )
    await _send(context, chat_id, _prompt(context, caller, step), InlineKeyboardMarkup([[skip]]))


async def _ask_verdict(context: GridContext, chat_id: int, caller: Caller, step: Step) -> None:
    markup = InlineKeyboardMarkup(
        [
            [
                _draft_button(
                    text(context, caller, "tip.valid"), step.draft.id, TipDraftAction.VALID
                ),
                _draft_button(
                    text(context, caller, "tip.invalid"), step.draft.id, TipDraftAction.INVALID
                ),
            ]
        ]
    )
    await _send(context, chat_id, _prompt(context, caller, step), markup)


async def _ask_confirm(context: GridContext, chat_id: int, caller: Caller, step: Step) -> None:
    """The card of the tip being received, with 提交 and 取消."""
    draft = step.draft
    data = draft.data
    none = text(context, caller, "list.none")
    place = data.get("address") or none
    unit = unit_path(context, caller, step.place) or none
    lines = [
        _prompt(context, caller, step),
        text(context, caller, "tip.summary.description", description=data["description"]),
        text(
            context,
            caller,
            "tip.summary.source",
            source=text(context, caller, f"tip.source.{data['source']}"),
        ),
        text(context, caller, "tip.summary.unit", unit=unit),
        text(context, caller, "tip.summary.place", address=place),
        *(
            [text(context, caller, "tip.summary.site", site=step.site)]
            if step.site is not None
            else []
        ),
        *(
            [
                text(
                    context,
                    caller,
                    "tip.summary.located",
                    latitude=f"{step.where[0]:.6f}",
                    longitude=f"{step.where[1]:.6f}",
                )
            ]
            if step.where is not None
            else []
        ),
        text(context, caller, "tip.summary.photos", count=draft.photo_count),
        text(context, caller, "tip.summary.contact", contact=data.get("contact") or none),
        text(
            context,
            caller,
            "tip.summary.urgency",
            urgency=text(context, caller, f"tip.urgency.{data.get('urgency', 'normal')}"),
        ),
    ]
    rows = []
    if step.original is not None:
        lines.append(text(context, caller, "tip.summary.duplicate", number=step.original.number))
    elif step.similar:
        lines.append(text(context, caller, "tip.summary.similar", count=len(step.similar)))
        for tip in step.similar:
            lines.append(
                text(
                    context,
                    caller,
                    "tip.summary.similar_line",
                    number=tip.number,
                    description=tip.description[:30],
                )
            )
            label = text(context, caller, "tip.link_duplicate", number=tip.number)
            rows.append([_draft_button(label, draft.id, TipDraftAction.DUPLICATE, tip.id)])
    rows.append(
        [
            _draft_button(text(context, caller, "report.submit"), draft.id, TipDraftAction.SUBMIT),
            _draft_button(text(context, caller, "report.cancel"), draft.id, TipDraftAction.CANCEL),
        ]
    )
    markup = InlineKeyboardMarkup(rows)
    await _send(context, chat_id, "\n".join(lines), markup)


# How each step of each tip flow table is asked (a test checks every step has one).
ASKERS: dict[Flow, dict[str, Asker]] = {
    RECEIVE: {
        ReceiveStep.DESCRIPTION: _ask_text,
        ReceiveStep.SOURCE: _ask_source,
        ReceiveStep.URGENCY: _ask_urgency,
        ReceiveStep.PLACE: _ask_place,
        ReceiveStep.PHOTOS: _ask_photos,
        ReceiveStep.CONTACT: _ask_contact,
        ReceiveStep.CONFIRM: _ask_confirm,
    },
    CLOSE: {
        CloseStep.RESULT: _ask_text,
        CloseStep.PHOTOS: _ask_photos,
        CloseStep.VERDICT: _ask_verdict,
    },
    RETURN: {ReturnStep.REASON: _ask_text},
}


# ---------------------------------------------------------------------- commands


async def tip_command(update: Update, context: GridContext, caller: Caller) -> None:
    """/tip: receive a new tip. /tip NUMBER: its timeline."""
    chat = update.effective_chat
    assert chat is not None
    args = context.args or []
    if len(args) > 1:
        await reply(update, context, caller, "usage.tip")
        return
    if args:
        await _show_timeline(update, context, caller, args[0])
        return
    step = await context.services.tips.begin_receive(_member(caller))
    await reply(update, context, caller, "tip.started")
    await ask(context, chat.id, caller, step)


async def _show_timeline(update: Update, context: GridContext, caller: Caller, number: str) -> None:
    found = await context.services.tips.timeline(_member(caller), number)
    tip = found.tip
    none = text(context, caller, "list.none")
    lines = [
        text(
            context,
            caller,
            "tip.card",
            number=tip.number,
            state=text(context, caller, f"tip.state.{tip.state}"),
            description=tip.description,
            source=text(context, caller, f"tip.source.{tip.source}"),
            unit=tip.unit_name,
            address=tip.address or none,
            assigned=tip.assigned_name or none,
            deadline=_when(context, caller, tip.deadline),
        )
    ]
    if context.services.tips.is_overdue(tip):
        lines.append(text(context, caller, "tip.overdue_mark"))
    if tip.state in (TipState.CLOSED, TipState.VERIFYING) and tip.valid is not None:
        lines.append(
            text(context, caller, "tip.verdict_valid" if tip.valid else "tip.verdict_invalid")
        )
    if tip.returns:
        lines.append(text(context, caller, "tip.returns", count=tip.returns))
    lines += _case_lines(context, caller, tip)
    if found.show_contact and tip.contact:
        lines.append(text(context, caller, "tip.contact_line", contact=tip.contact))
    if found.reward:
        lines.append(
            text(
                context,
                caller,
                "reward.line",
                state=text(context, caller, f"reward.state.{found.reward.state}"),
            )
        )
    lines.append(text(context, caller, "tip.timeline", count=len(found.events)))
    for event in found.events:
        lines.append(
            text(
                context,
                caller,
                "tip.event_line",
                time=_when(context, caller, event.at),
                what=text(context, caller, f"tip.event.{event.kind}"),
                who=event.actor_name or text(context, caller, "tip.system"),
                note=_event_note(context, caller, event),
                photos=text(context, caller, "tip.event_photos", count=event.photos)
                if event.photos
                else "",
            )
        )
    await reply_text(update, context, "\n".join(lines))


def _case_lines(context: GridContext, caller: Caller, tip: Tip) -> list[str]:
    """What case practice adds to a tip's card: urgency, 不予受理, duplicate, extensions,
    parking, call-back."""
    lines = [
        text(
            context,
            caller,
            "tip.urgency_line",
            urgency=text(context, caller, f"tip.urgency.{tip.urgency}"),
        )
    ]
    if tip.declined:
        reason = text(context, caller, f"tip.declined_reason.{tip.declined}")
        lines.append(text(context, caller, "tip.declined_line", reason=reason))
    if tip.duplicate_of:
        lines.append(text(context, caller, "tip.duplicate_line"))
    if tip.extensions:
        lines.append(text(context, caller, "tip.extensions_line", count=tip.extensions))
    if tip.extension_asked:
        asked = _when(context, caller, tip.extension_asked)
        lines.append(text(context, caller, "tip.extension_pending_line", deadline=asked))
    if tip.parked_until:
        lines.append(
            text(
                context,
                caller,
                "tip.parked_line",
                day=tip.parked_until.isoformat(),
                reason=tip.parked_reason or "",
            )
        )
    if tip.satisfaction:
        said = text(context, caller, f"tip.satisfaction.{tip.satisfaction}")
        lines.append(text(context, caller, "tip.satisfaction_line", outcome=said))
    if tip.latitude is not None and tip.longitude is not None:  # shared while receiving
        lines.append(
            text(
                context,
                caller,
                "tip.located_line",
                latitude=f"{tip.latitude:.6f}",
                longitude=f"{tip.longitude:.6f}",
            )
        )
    return lines


def _note_fields(context: GridContext, caller: Caller, event: Event) -> dict[str, Any]:
    """An event note's fields for the reader: deadlines in local time, reason and outcome
    words in their language."""
    fields = dict(event.note_fields)
    if isinstance(fields.get("deadline"), str):
        fields["deadline"] = local_time(context, datetime.fromisoformat(fields["deadline"]))
    if "reason" in fields:
        fields["reason"] = text(context, caller, f"tip.declined_reason.{fields['reason']}")
    if "outcome" in fields:
        fields["outcome"] = text(context, caller, f"tip.satisfaction.{fields['outcome']}")
    return fields


def _event_note(context: GridContext, caller: Caller, event: Event) -> str:
    """An event's note in the reader's language: the bot's note (``tip.note.*``), then
    what a person typed; an old row's text as it was written."""
    note = event.note or ""
    if event.note_key:
        try:
            said = text(
                context,
                caller,
                f"tip.note.{event.note_key}",
                **_note_fields(context, caller, event),
            )
        except KeyError:  # a key or field this version does not know: show what remains
            said = ""
        if said and note:
            note = text(context, caller, "tip.note_with_text", note=said, text=note)
        else:
            note = said or note
    return text(context, caller, "tip.event_note", note=note) if note else ""


async def assign(update: Update, context: GridContext, caller: Caller) -> None:
    """/assign NUMBER CODE [HOURS]: 交办 to a unit in scope with a deadline."""
    args = context.args or []
    hours = arguments.number(args[2]) if len(args) == 3 else None
    if not 2 <= len(args) <= 3 or (len(args) == 3 and hours is None):
        await reply(update, context, caller, "usage.assign")
        return
    outcome = await context.services.tips.assign(_member(caller), args[0], args[1], hours)
    tip = outcome.tip
    unreached = await deliver_notices(context, outcome.notices)
    await reply(
        update,
        context,
        caller,
        "tip.assigned",
        number=tip.number,
        unit=tip.assigned_name,
        deadline=_when(context, caller, tip.deadline),
        count=len(outcome.notices) - len(unreached),
    )
    if unreached:
        separator = text(context, caller, "list.separator")
        names = separator.join(n.recipient or str(n.telegram_id) for n in unreached)
        await reply(update, context, caller, "tip.assigned_unreached", names=names)


async def close_command(update: Update, context: GridContext, caller: Caller) -> None:
    """/close NUMBER: 办结 — what was found and done, photos, the verdict."""
    chat = update.effective_chat
    args = context.args or []
    if len(args) != 1 or chat is None:
        await reply(update, context, caller, "usage.close")
        return
    step = await context.services.tips.begin_close(_member(caller), args[0])
    assert step.tip is not None
    await reply(update, context, caller, "tip.close_started", number=step.tip.number)
    await ask(context, chat.id, caller, step)


async def tips_command(update: Update, context: GridContext, caller: Caller) -> None:
    """/tips [CODE]: open tips in scope. /tips table [FROM] [TO]: the official table."""
    args = context.args or []
    if args and means(context, args[0], "tip.word.table"):
        await _table(update, context, caller, args[1:])
        return
    if len(args) > 1:
        await reply(update, context, caller, "usage.tips")
        return
    unit, found = await context.services.tips.open_tips(_member(caller), args[0] if args else None)
    if not found:
        await reply(update, context, caller, "tip.none_open", unit=unit.name)
        return
    lines = [text(context, caller, "tip.open_header", unit=unit.name, count=len(found))]
    for tip in found:
        lines.append(_tip_line(context, caller, tip))
    await reply_text(update, context, "\n".join(lines))


def _tip_line(context: GridContext, caller: Caller, tip: Tip) -> str:
    overdue = context.services.tips.is_overdue(tip)
    return text(
        context,
        caller,
        "tip.open_line",
        number=tip.number,
        state=text(context, caller, f"tip.state.{tip.state}"),
        unit=tip.assigned_name or tip.unit_name,
        deadline=_when(context, caller, tip.deadline),
        overdue=text(context, caller, "tip.overdue_short") if overdue else "",
        description=tip.description[:30],
    )


async def _table(update: Update, context: GridContext, caller: Caller, args: list[str]) -> None:
    calendar = context.services.calendar
    try:
        span = periods.days(args, calendar.today())
    except periods.BadDays:
        await reply(update, context, caller, "usage.tips")
        return
    first, last = span.first, span.last or calendar.today()
    start, end = periods.span(first, last, calendar.zone)
    rows = await tiptable.tip_table(context.services.db, start, end)
    beginning = text(context, caller, "tip.table_beginning")
    period = text(
        context,
        caller,
        "tip.table_period",
        first=first.isoformat() if first else beginning,
        last=last.isoformat(),
    )
    words = tiptable.labels(lambda key, **fields: text(context, caller, key, **fields))
    body = text(context, caller, "tip.table_title", period=period) + "\n"
    body += tiptable.render(rows, words)
    # The KPIs units are judged on: a second table beside the official one.
    kpis = await kpi_table(context.services.db, context.services.tips.workdays, start, end)
    said = kpitable.labels(lambda key, **fields: text(context, caller, key, **fields))
    body += "\n\n" + text(context, caller, "kpitable.title", period=period) + "\n"
    body += kpitable.render(kpis, said)
    await reply_text(update, context, body)


async def reward(update: Update, context: GridContext, caller: Caller) -> None:
    """/reward NUMBER paid|declined [note]: settle a pending reward (``reward.word.*``)."""
    args = context.args or []
    words = args[1] if len(args) > 1 else ""
    outcome = next((o for o in SETTLED if means(context, words, f"reward.word.{o}")), None)
    if outcome is None:
        await reply(update, context, caller, "usage.reward")
        return
    note = " ".join(args[2:]) or None
    settled = await context.services.tips.settle(_member(caller), args[0], outcome, note)
    await reply(
        update,
        context,
        caller,
        "reward.settled_ok",
        number=settled.number,
        state=text(context, caller, f"reward.state.{settled.state}"),
    )


async def rewards(update: Update, context: GridContext, caller: Caller) -> None:
    """/rewards: pending rewards in scope."""
    pending = await context.services.tips.pending_rewards(_member(caller))
    if not pending:
        await reply(update, context, caller, "reward.none_pending")
        return
    lines = [text(context, caller, "reward.pending_header", count=len(pending))]
    lines += [
        text(
            context,
            caller,
            "reward.pending_line",
            number=r.number,
            unit=r.unit_name,
            since=_when(context, caller, r.created_at),
        )
        for r in pending
    ]
    await reply_text(update, context, "\n".join(lines))


# ---------------------------------------------------------------------- notices


def _notice_buttons(notice: Notice) -> list[tuple[str, NoticeAction]]:
    """The buttons under a notice, as (catalogue key, action)."""
    if notice.acknowledge_button:
        return [("tip.ack", NoticeAction.ACKNOWLEDGE)]
    if notice.extension_buttons:
        return [("tip.grant", NoticeAction.GRANT), ("tip.refuse", NoticeAction.REFUSE)]
    if notice.verify_buttons:
        return [("tip.pass", NoticeAction.PASS), ("tip.back", NoticeAction.BACK)]
    return []


async def send_notices(context: Any, notices: list[Notice]) -> int:
    """Send each notice in its recipient's language; returns how many were delivered."""
    return len(notices) - len(await deliver_notices(context, notices))


async def deliver_notices(context: Any, notices: list[Notice]) -> list[Notice]:
    """Send each notice in its recipient's language; returns the ones that could not be
    delivered (each failure is logged, not raised)."""
    unreached: list[Notice] = []
    grid: GridContext = context
    for notice in notices:
        caller = await grid.services.members.caller(notice.telegram_id, None)
        buttons = [
            _action_button(text(grid, caller, key), notice.tip_id, action)
            for key, action in _notice_buttons(notice)
        ]
        markup = InlineKeyboardMarkup([buttons]) if buttons else None
        fields = dict(notice.fields)
        for name in ("deadline", "old"):
            if name in fields:
                fields[name] = _when(grid, caller, fields[name])
        if "valid" in fields:
            fields["valid"] = text(grid, caller, "tip.valid" if fields["valid"] else "tip.invalid")
        try:
            if notice.photos:  # the checker sees the "before" and "after" photos together
                caption = text(grid, caller, "tip.album_caption", number=fields.get("number", ""))
                if len(notice.photos) == 1:  # an album takes 2 to 10
                    await grid.bot.send_photo(notice.telegram_id, notice.photos[0], caption)
                else:
                    await grid.bot.send_media_group(
                        notice.telegram_id,
                        [
                            InputMediaPhoto(file_id, caption=caption if i == 0 else None)
                            for i, file_id in enumerate(notice.photos)
                        ],
                    )
            await grid.bot.send_message(
                notice.telegram_id, text(grid, caller, notice.key, **fields), reply_markup=markup
            )
        except TelegramError as exc:
            log.warning(
                "tip.notice_failed to=%s tip=%s error=%r", notice.telegram_id, notice.tip_id, exc
            )
            unreached.append(notice)
    return unreached


# ---------------------------------------------------------------------- messages in a flow


async def _flow_message(update: Update, context: GridContext, caller: Caller, flow: Flow) -> bool:
    message = update.effective_message
    chat = update.effective_chat
    assert message is not None and chat is not None
    member = _member(caller)
    tips = context.services.tips
    step, expired = await tips.current(member, flow)
    if expired:
        await _send(context, chat.id, text(context, caller, "tip.expired"))
        return True
    if step is None:
        return False
    try:
        if message.photo or message.document:
            if flow not in PHOTO_FLOWS:
                raise Refused(TABLES[flow][step.step].expect)
            incoming = await fetch_photo(context, message)
            moved = await tips.add_photo(member, flow, message.message_id, incoming)
            await _send(
                context,
                chat.id,
                text(context, caller, "tip.photo_received", count=moved.draft.photo_count),
            )
            if moved.step in (ReceiveStep.PHOTOS, CloseStep.PHOTOS):
                await ask(context, chat.id, caller, moved)
            return True
        if message.location and flow is RECEIVE:  # locates the tip (duplicates nearby)
            where = message.location
            moved = await tips.receive_location(member, where.latitude, where.longitude)
            said = text(
                context,
                caller,
                "tip.location_received",
                latitude=f"{where.latitude:.6f}",
                longitude=f"{where.longitude:.6f}",
            )
            await _send(context, chat.id, said)
            await ask(context, chat.id, caller, moved)
            return True
        if message.contact and flow is RECEIVE:  # the tipster's contact card
            card = message.contact
            name = " ".join(filter(None, (card.first_name, card.last_name)))
            moved = await tips.receive_contact(member, name, card.phone_number, card.user_id)
            await ask(context, chat.id, caller, moved)
            return True
        if message.text is None:
            raise Refused(TABLES[flow][step.step].expect)
        await TEXT_ANSWERS[flow](context, chat.id, caller, member, message.text)
    except Refused as refusal:
        await _send(context, chat.id, text(context, caller, refusal.key, **refusal.fields))
    return True


TextAnswer = Callable[[GridContext, int, Caller, Member, str], Awaitable[None]]


async def _receive_text(
    context: GridContext, chat_id: int, caller: Caller, member: Member, body: str
) -> None:
    await ask(context, chat_id, caller, await context.services.tips.receive_text(member, body))


async def _close_text(
    context: GridContext, chat_id: int, caller: Caller, member: Member, body: str
) -> None:
    await ask(context, chat_id, caller, await context.services.tips.close_text(member, body))


async def _return_text(
    context: GridContext, chat_id: int, caller: Caller, member: Member, body: str
) -> None:
    """The reason of 退回: the tip goes back at once."""
    outcome = await context.services.tips.send_back(member, body)
    await _send(context, chat_id, text(context, caller, "tip.returned", number=outcome.tip.number))
    await send_notices(context, outcome.notices)


# What typed text does in each tip flow (the flow's table checks it).
TEXT_ANSWERS: dict[Flow, TextAnswer] = {
    RECEIVE: _receive_text,
    CLOSE: _close_text,
    RETURN: _return_text,
}


@flows.flow(RECEIVE)
async def receive_message(update: Update, context: GridContext, caller: Caller) -> bool:
    return await _flow_message(update, context, caller, RECEIVE)


@flows.flow(CLOSE)
async def close_message(update: Update, context: GridContext, caller: Caller) -> bool:
    return await _flow_message(update, context, caller, CLOSE)


@flows.flow(RETURN)
async def return_message(update: Update, context: GridContext, caller: Caller) -> bool:
    return await _flow_message(update, context, caller, RETURN)


for _flow in (RECEIVE, CLOSE, RETURN):

    async def _cancel(
        update: Update, context: GridContext, caller: Caller, flow: Flow = _flow
    ) -> bool:
        return await context.services.tips.cancel(_member(caller), flow)

    flows.canceller(_flow)(_cancel)


# ---------------------------------------------------------------------- buttons


async def _quietly(edit: Any) -> None:
    try:
        await edit
    except BadRequest as exc:
        log.debug("tip.edit_skipped error=%r", exc)


async def draft_pressed(
    update: Update, context: GridContext, caller: Caller, button: TipDraftButton
) -> None:
    """A button of a tip draft (receiving or closing)."""
    query = update.callback_query
    chat = update.effective_chat
    member = caller.member
    assert query is not None and chat is not None and member is not None
    try:
        result = await DRAFT_PRESSES[button.act](context.services.tips, member, button)
    except Refused as refusal:
        await query.answer(text(context, caller, refusal.key, **refusal.fields), show_alert=True)
        return
    await query.answer()
    await _quietly(query.edit_message_reply_markup(None))
    if result is None:
        await _send(context, chat.id, text(context, caller, "tip.cancelled"))
    elif isinstance(result, Step):
        await ask(context, chat.id, caller, result)
    elif isinstance(result, Tip):
        await _send(context, chat.id, text(context, caller, "tip.received", number=result.number))
    else:
        tip = result.tip
        key = "tip.closed" if tip.state is TipState.CLOSED else "tip.submitted_for_check"
        verdict = text(context, caller, "tip.valid" if tip.valid else "tip.invalid")
        await _send(
            context, chat.id, text(context, caller, key, number=tip.number, verdict=verdict)
        )
        if result.reward_created:
            await _send(
                context, chat.id, text(context, caller, "reward.created", number=tip.number)
            )
        await send_notices(context, result.notices)


DraftPress = Callable[[TipService, Member, TipDraftButton], Awaitable[Step | Outcome | Tip | None]]


async def _cancel_receive(tips: TipService, member: Member, button: TipDraftButton) -> None:
    step, _ = await tips.current(member, RECEIVE)
    if step is None or step.draft.id != button.draft:
        raise Refused("tip.stale")
    await tips.cancel(member, RECEIVE)


# What each button of a tip draft does (a test checks every action has one).
DRAFT_PRESSES: dict[TipDraftAction, DraftPress] = {
    TipDraftAction.SOURCE: lambda t, m, b: t.choose_source(m, b.draft, b.arg),
    TipDraftAction.DOWN: lambda t, m, b: t.browse_down(m, b.draft, b.arg),
    TipDraftAction.HERE: lambda t, m, b: t.place_here(m, b.draft, b.arg),
    TipDraftAction.UP: lambda t, m, b: t.browse_up(m, b.draft),
    TipDraftAction.PHOTOS_DONE: lambda t, m, b: t.receive_photos_done(m, b.draft),
    TipDraftAction.NO_CONTACT: lambda t, m, b: t.no_contact(m, b.draft),
    TipDraftAction.SUBMIT: lambda t, m, b: t.submit_receive(m, b.draft),
    TipDraftAction.CANCEL: _cancel_receive,
    TipDraftAction.CLOSE_PHOTOS_DONE: lambda t, m, b: t.close_photos_done(m, b.draft),
    TipDraftAction.VALID: lambda t, m, b: t.close(m, b.draft, True),
    TipDraftAction.INVALID: lambda t, m, b: t.close(m, b.draft, False),
    TipDraftAction.URGENCY: lambda t, m, b: t.choose_urgency(m, b.draft, b.arg),
    TipDraftAction.DUPLICATE: lambda t, m, b: t.link_at_intake(m, b.draft, b.arg),
}


async def action_pressed(
    update: Update, context: GridContext, caller: Caller, button: TipActionButton
) -> None:
    """接单, 通过 or 退回 under a notice."""
    query = update.callback_query
    chat = update.effective_chat
    member = caller.member
    assert query is not None and chat is not None and member is not None
    try:
        await ACTION_PRESSES[button.act](context, caller, member, button, query, chat.id)
    except Refused as refusal:
        await query.answer(text(context, caller, refusal.key, **refusal.fields), show_alert=True)


ActionPress = Callable[
    [GridContext, Caller, Member, TipActionButton, CallbackQuery, int], Awaitable[None]
]


async def _acknowledge(
    context: GridContext,
    caller: Caller,
    member: Member,
    button: TipActionButton,
    query: CallbackQuery,
    chat_id: int,
) -> None:
    """接单."""
    tip = await context.services.tips.acknowledge(member, button.tip)
    await query.answer(text(context, caller, "tip.acknowledged", number=tip.number))
    await _quietly(query.edit_message_reply_markup(None))
    await _send(context, chat_id, text(context, caller, "tip.acknowledged_next", number=tip.number))


async def _approve(
    context: GridContext,
    caller: Caller,
    member: Member,
    button: TipActionButton,
    query: CallbackQuery,
    chat_id: int,
) -> None:
    """通过: the closed tip is verified."""
    outcome = await context.services.tips.approve(member, button.tip)
    await query.answer()
    await _quietly(query.edit_message_reply_markup(None))
    await _send(
        context,
        chat_id,
        text(context, caller, "tip.approved", number=outcome.tip.number),
    )


async def _begin_return(
    context: GridContext,
    caller: Caller,
    member: Member,
    button: TipActionButton,
    query: CallbackQuery,
    chat_id: int,
) -> None:
    """退回: ask for the reason (``RETURN_FLOW``)."""
    step = await context.services.tips.begin_return(member, button.tip)
    await query.answer()
    await ask(context, chat_id, caller, step)


async def _decide_extension(
    context: GridContext,
    caller: Caller,
    member: Member,
    button: TipActionButton,
    query: CallbackQuery,
    chat_id: int,
    *,
    grant: bool,
) -> None:
    """同意 / 不同意 an extension asked: the deadline moves (or not); the asker is told."""
    outcome = await context.services.tips.decide_extension(member, button.tip, grant)
    await query.answer()
    await _quietly(query.edit_message_reply_markup(None))
    key = "tip.extension_granted" if grant else "tip.extension_refused"
    deadline = _when(context, caller, outcome.tip.deadline)
    await _send(
        context, chat_id, text(context, caller, key, number=outcome.tip.number, deadline=deadline)
    )
    await send_notices(context, outcome.notices)


# What each button under a tip notice does (a test checks every action has one).
ACTION_PRESSES: dict[NoticeAction, ActionPress] = {
    NoticeAction.ACKNOWLEDGE: _acknowledge,
    NoticeAction.PASS: _approve,
    NoticeAction.BACK: _begin_return,
    NoticeAction.GRANT: lambda *a: _decide_extension(*a, grant=True),
    NoticeAction.REFUSE: lambda *a: _decide_extension(*a, grant=False),
}


# ---------------------------------------------------------------------- case practice


def _rest(args: list[str], start: int) -> str:
    return " ".join(args[start:])


async def extend_command(update: Update, context: GridContext, caller: Caller) -> None:
    """/extend NUMBER YYYY-MM-DD REASON: 延期 asked by the assigned unit before the deadline."""
    args = context.args or []
    day = periods.day(args[1]) if len(args) >= 2 else None
    if len(args) < 3 or day is None:
        await reply(update, context, caller, "usage.extend")
        return
    outcome = await context.services.tips.ask_extension(
        _member(caller), args[0], day, _rest(args, 2)
    )
    await send_notices(context, outcome.notices)
    asked = outcome.tip.extension_asked
    await reply(
        update,
        context,
        caller,
        "tip.extension_asked",
        number=outcome.tip.number,
        deadline=_when(context, caller, asked),
    )


async def park_command(update: Update, context: GridContext, caller: Caller) -> None:
    """/park NUMBER YYYY-MM-DD REASON: 挂账 until that day, with a reason (admins)."""
    args = context.args or []
    if len(args) < 2:
        await reply(update, context, caller, "usage.park")
        return
    day = periods.day(args[1])
    if day is None:
        await reply(update, context, caller, "usage.park")
        return
    tip = await context.services.tips.park(_member(caller), args[0], day, _rest(args, 2))
    await reply(update, context, caller, "tip.parked", number=tip.number, day=day.isoformat())


async def callback_command(update: Update, context: GridContext, caller: Caller) -> None:
    """/callback NUMBER 满意|基本满意|不满意 [过错] [NOTE]: 回访 after closure; 不满意
    through the handler's fault reopens the tip as rework."""
    args = context.args or []
    word = args[1] if len(args) > 1 else ""
    outcome = next(
        (o for o in Satisfaction if means(context, word, f"tip.satisfaction_word.{o}")), None
    )
    if outcome is None:
        await reply(update, context, caller, "usage.callback")
        return
    fault = len(args) > 2 and means(context, args[2], "tip.word.fault")
    note = _rest(args, 3 if fault else 2) or None
    result = await context.services.tips.call_back(_member(caller), args[0], outcome, fault, note)
    said = text(context, caller, f"tip.satisfaction.{outcome}")
    await reply(update, context, caller, "tip.called_back", number=result.tip.number, outcome=said)
    if result.tip.state is TipState.ASSIGNED:
        await reply(
            update,
            context,
            caller,
            "tip.reopened",
            number=result.tip.number,
            unit=result.tip.assigned_name,
            deadline=_when(context, caller, result.tip.deadline),
        )
    await send_notices(context, result.notices)


async def decline_command(update: Update, context: GridContext, caller: Caller) -> None:
    """/decline NUMBER REASON [NOTE]: 不予受理 (out of remit, not enough information,
    duplicate); the tip is kept and listed."""
    args = context.args or []
    word = args[1] if len(args) > 1 else ""
    reason = next((r for r in Declined if means(context, word, f"tip.declined_word.{r}")), None)
    if reason is None:
        await reply(update, context, caller, "usage.decline")
        return
    tip = await context.services.tips.decline(
        _member(caller), args[0], reason, _rest(args, 2) or None
    )
    said = text(context, caller, f"tip.declined_reason.{reason}")
    await reply(update, context, caller, "tip.declined", number=tip.number, reason=said)


async def duplicate_command(update: Update, context: GridContext, caller: Caller) -> None:
    """/dup NUMBER ORIGINAL: link a received tip as a duplicate of an earlier one."""
    args = context.args or []
    if len(args) != 2:
        await reply(update, context, caller, "usage.dup")
        return
    tip = await context.services.tips.link_duplicate(_member(caller), args[0], args[1])
    await reply(update, context, caller, "tip.linked", number=tip.number, original=args[1].upper())
