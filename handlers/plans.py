"""Plans in chat: /todo and /near for workers (the due sites of their unit, each a button
that starts a report on it), /plan NAME (progress by child unit), /plan (a plan made step
by step, with the number of matching sites before it is saved) and /plans (the open
plans, each with 关闭). The rules are in ``bot.domain.plans``."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from telegram import (
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    KeyboardButton,
    ReplyKeyboardMarkup,
    ReplyKeyboardRemove,
    Update,
)
from telegram.constants import ParseMode

from bot.core.errors import Refused, echo
from bot.domain.flows import Flow
from bot.domain.members import Caller
from bot.domain.plans import (
    EDITABLE,
    PLAN_FLOW,
    RULES,
    PlanDraft,
    PlanDraftStep,
    PlanProgress,
    TodoItem,
    render_progress,
)
from bot.domain.records import Member
from bot.runtime.context import GridContext
from handlers import flows
from handlers.callbacks import PlanCloseButton, PlanDraftAction, PlanDraftButton, TodoButton
from handlers.common import category_name, local_time, localized, means, reply, reply_text, text


def _member(caller: Caller) -> Member:
    assert caller.member is not None
    return caller.member


def _site_line(context: GridContext, caller: Caller, item: TodoItem) -> str:
    site = item.site
    fields = {
        "site": site.code,
        "name": site.name or site.address or "",
        "category": category_name(context, caller, site.category),
        "plan": item.plan.name,
        "deadline": local_time(context, item.deadline),
        "unit": site.unit_name,
        "distance": round(item.distance_m) if item.distance_m is not None else 0,
    }
    key = "todo.line_overdue" if item.overdue else "todo.line"
    if item.distance_m is not None:
        key = "near.line"
    return text(context, caller, key, **fields)


def _site_buttons(context: GridContext, caller: Caller, items: list[TodoItem]) -> list:
    seen: set[int] = set()
    rows = []
    for item in items:
        if item.site.site_id in seen:
            continue
        seen.add(item.site.site_id)
        label = text(context, caller, "todo.button", site=item.site.code)
        rows.append(
            [InlineKeyboardButton(label, callback_data=TodoButton(site=item.site.site_id).encode())]
        )
    return rows


async def todo(update: Update, context: GridContext, caller: Caller) -> None:
    """/todo: the due sites of the caller's unit, overdue first, then by deadline."""
    found = await context.services.plans.todo(_member(caller))
    if not found.items:
        await reply(update, context, caller, "todo.empty")
        return
    lines = [text(context, caller, "todo.title", due=found.due, overdue=found.overdue)]
    lines += [_site_line(context, caller, item) for item in found.items]
    if found.due > len(found.items):
        lines.append(text(context, caller, "todo.more", count=found.due - len(found.items)))
    markup = InlineKeyboardMarkup(_site_buttons(context, caller, found.items))
    await reply_text(update, context, "\n".join(lines), reply_markup=markup)


async def near(update: Update, context: GridContext, caller: Caller) -> None:
    """/near: ask for a location; the location message lists the nearest due sites."""
    key = KeyboardButton(text(context, caller, "near.share"), request_location=True)
    markup = ReplyKeyboardMarkup([[key]], resize_keyboard=True, one_time_keyboard=True)
    await reply(update, context, caller, "near.ask", reply_markup=markup)


@flows.starter
async def location_near(update: Update, context: GridContext, caller: Caller) -> bool:
    """A shared location with no conversation going: the nearest due sites."""
    message = update.effective_message
    if message is None or message.location is None:
        return False
    items = await context.services.plans.near(
        _member(caller), message.location.latitude, message.location.longitude
    )
    if not items:
        await reply(update, context, caller, "near.empty", reply_markup=ReplyKeyboardRemove())
        return True
    lines = [text(context, caller, "near.title", count=len(items))]
    lines += [_site_line(context, caller, item) for item in items]
    await reply_text(update, context, "\n".join(lines), reply_markup=ReplyKeyboardRemove())
    await reply(
        update,
        context,
        caller,
        "near.pick",
        reply_markup=InlineKeyboardMarkup(_site_buttons(context, caller, items)),
    )
    return True


def progress_text(context: GridContext, caller: Caller, progress: PlanProgress) -> str:
    def say(key: str, **fields: object) -> str:
        return text(context, caller, key, **fields)

    return render_progress(progress, say, local_time(context, progress.round_ends))


async def plan(update: Update, context: GridContext, caller: Caller) -> None:
    """/plan NAME: the plan's progress by child unit; /plan alone: make a plan."""
    member = _member(caller)
    plans = context.services.plans
    if not context.args:
        draft = await plans.start_draft(member)
        await reply(update, context, caller, "plan.started")
        await ask(context, update, caller, draft)
        return
    found = await plans.find(member, " ".join(context.args))
    progress = await plans.progress(member, found)
    await reply_text(
        update, context, progress_text(context, caller, progress), parse_mode=ParseMode.HTML
    )


async def plans_command(update: Update, context: GridContext, caller: Caller) -> None:
    """/plans: the open plans covering the caller's scope, each with 关闭."""
    member = _member(caller)
    visible = await context.services.plans.visible(member)
    if not visible:
        await reply(update, context, caller, "plans.empty")
        return
    codes = {p.id: p for p in visible}
    progress = (await context.services.plans.progress_many([member.unit_code], visible))[
        member.unit_code
    ]
    for item in progress:
        found = codes[item.plan.id]
        when = (
            text(context, caller, "plans.deadline", day=local_time(context, found.deadline))
            if found.deadline
            else text(context, caller, "plans.cycle", days=found.cycle_days)
        )
        body = text(
            context,
            caller,
            "plans.line",
            name=found.name,
            category=category_name(context, caller, found.category),
            unit=found.unit_name,
            tag=found.tag or text(context, caller, "plans.no_tag"),
            when=when,
            done=item.total.done,
            due=item.total.due,
            overdue=item.total.overdue,
        )
        button = InlineKeyboardButton(
            text(context, caller, "plans.close"),
            callback_data=PlanCloseButton(plan=found.id).encode(),
        )
        await reply_text(update, context, body, reply_markup=InlineKeyboardMarkup([[button]]))


async def close_pressed(
    update: Update, context: GridContext, caller: Caller, button: PlanCloseButton
) -> None:
    """关闭: close the plan (scope checked again); audited."""
    query = update.callback_query
    assert query is not None
    closed = await context.services.plans.close(_member(caller), button.plan)
    await query.answer()
    await query.edit_message_reply_markup(None)
    await reply(update, context, caller, "plans.closed", name=closed.name)


# ---------------------------------------------------------------------- making a plan


def _button(label: str, draft: int, act: PlanDraftAction, arg: int = 0) -> InlineKeyboardButton:
    return InlineKeyboardButton(
        label, callback_data=PlanDraftButton(draft=draft, act=act, arg=arg).encode()
    )


Asker = Callable[[GridContext, Update, Caller, PlanDraft], Awaitable[None]]


async def ask(context: GridContext, update: Update, caller: Caller, draft: PlanDraft) -> None:
    """Ask the step the draft is at (or show the summary)."""
    await ASKERS[draft.step](context, update, caller, draft)


def _prompt(context: GridContext, caller: Caller, step: PlanDraftStep) -> str:
    return text(context, caller, PLAN_FLOW[step].prompt)


async def _ask_text(context: GridContext, update: Update, caller: Caller, draft: PlanDraft) -> None:
    await reply_text(update, context, _prompt(context, caller, draft.step))


async def _ask_category(
    context: GridContext, update: Update, caller: Caller, draft: PlanDraft
) -> None:
    rows = [
        [_button(localized(caller, c), draft.id, PlanDraftAction.CATEGORY, i)]
        for i, c in enumerate(context.services.config.campaign.categories)
    ]
    body = _prompt(context, caller, draft.step)
    await reply_text(update, context, body, reply_markup=InlineKeyboardMarkup(rows))


async def _ask_scope(
    context: GridContext, update: Update, caller: Caller, draft: PlanDraft
) -> None:
    member = _member(caller)
    mine = text(context, caller, "plan.my_unit", unit=member.unit_name)
    body = _prompt(context, caller, draft.step)
    markup = InlineKeyboardMarkup([[_button(mine, draft.id, PlanDraftAction.MY_UNIT)]])
    await reply_text(update, context, body, reply_markup=markup)


async def _ask_tag(context: GridContext, update: Update, caller: Caller, draft: PlanDraft) -> None:
    none = _button(text(context, caller, "plan.no_tag"), draft.id, PlanDraftAction.NO_TAG)
    body = _prompt(context, caller, draft.step)
    await reply_text(update, context, body, reply_markup=InlineKeyboardMarkup([[none]]))


async def _ask_schedule(
    context: GridContext, update: Update, caller: Caller, draft: PlanDraft
) -> None:
    weekly = _button(text(context, caller, "plan.weekly"), draft.id, PlanDraftAction.WEEKLY)
    body = _prompt(context, caller, draft.step)
    await reply_text(update, context, body, reply_markup=InlineKeyboardMarkup([[weekly]]))


async def _ask_rule(context: GridContext, update: Update, caller: Caller, draft: PlanDraft) -> None:
    rows = [
        [_button(text(context, caller, f"plan.rule.{rule}"), draft.id, PlanDraftAction.RULE, i)]
        for i, rule in enumerate(RULES)
    ]
    body = _prompt(context, caller, draft.step)
    await reply_text(update, context, body, reply_markup=InlineKeyboardMarkup(rows))


async def _show_summary(
    context: GridContext, update: Update, caller: Caller, draft: PlanDraft
) -> None:
    preview = draft.preview
    assert preview is not None
    spec = preview.spec
    when = (
        text(context, caller, "plan.summary.deadline", day=spec.deadline.isoformat())
        if spec.deadline
        else text(context, caller, "plan.summary.weekly")
        if spec.weekly
        else text(context, caller, "plan.summary.cycle", days=spec.cycle_days)
    )
    lines = [
        _prompt(context, caller, PlanDraftStep.SUMMARY),
        text(
            context,
            caller,
            "plan.summary.body",
            name=spec.name,
            category=category_name(context, caller, spec.category),
            unit=preview.unit.name,
            tag=spec.tag or text(context, caller, "plans.no_tag"),
            when=when,
            rule=text(context, caller, f"plan.rule.{spec.done_rule}"),
        ),
        text(
            context,
            caller,
            "plan.summary.matching" if preview.matching else "plan.summary.none",
            count=preview.matching,
        ),
    ]
    await reply_text(
        update, context, "\n".join(lines), reply_markup=_summary_markup(context, caller, draft)
    )


def _summary_markup(context: GridContext, caller: Caller, draft: PlanDraft) -> InlineKeyboardMarkup:
    """保存 (only when some site matches), 修改, 取消 under the summary."""
    buttons = [
        _button(text(context, caller, "plan.edit"), draft.id, PlanDraftAction.EDIT),
        _button(text(context, caller, "plan.cancel"), draft.id, PlanDraftAction.CANCEL),
    ]
    if draft.preview is not None and draft.preview.matching:
        buttons.insert(
            0, _button(text(context, caller, "plan.save"), draft.id, PlanDraftAction.SAVE)
        )
    return InlineKeyboardMarkup([buttons])


def _edit_markup(context: GridContext, caller: Caller, draft: PlanDraft) -> InlineKeyboardMarkup:
    """修改: a button per step of the plan to go back to, then 返回 (the summary's buttons)."""
    buttons = [
        _button(text(context, caller, _label(step)), draft.id, PlanDraftAction.EDIT_STEP, index)
        for index, step in enumerate(EDITABLE)
    ]
    rows = [buttons[i : i + 3] for i in range(0, len(buttons), 3)]
    back = text(context, caller, "plan.back")
    rows.append([_button(back, draft.id, PlanDraftAction.EDIT_STEP, len(EDITABLE))])
    return InlineKeyboardMarkup(rows)


def _label(step: PlanDraftStep) -> str:
    """The catalogue key of a step's name on the 修改 keyboard."""
    label = PLAN_FLOW[step].label
    assert label is not None
    return label


# How each step of ``PLAN_FLOW`` is asked (a test checks every step has one).
ASKERS: dict[PlanDraftStep, Asker] = {
    PlanDraftStep.NAME: _ask_text,
    PlanDraftStep.CATEGORY: _ask_category,
    PlanDraftStep.SCOPE: _ask_scope,
    PlanDraftStep.TAG: _ask_tag,
    PlanDraftStep.SCHEDULE: _ask_schedule,
    PlanDraftStep.RULE: _ask_rule,
    PlanDraftStep.SUMMARY: _show_summary,
}


@flows.flow(Flow.PLAN)
async def plan_message(update: Update, context: GridContext, caller: Caller) -> bool:
    """Typed text while a plan is being made: the answer to its step."""
    message = update.effective_message
    assert message is not None
    member = _member(caller)
    plans = context.services.plans
    draft = await plans.draft(member)
    if draft is None:
        return False
    if not message.text:
        await reply(update, context, caller, PLAN_FLOW[draft.step].expect)
        return True
    try:
        if draft.step is PlanDraftStep.SCHEDULE and means(
            context, message.text, "plan.word.weekly"
        ):
            moved = await plans.answer(member, draft.id, schedule={"cycle_days": 7, "weekly": True})
        else:
            moved = await plans.answer_text(member, draft, message.text)
    except Refused as refusal:
        await reply(update, context, caller, refusal.key, **refusal.fields)
        await ask(context, update, caller, draft)
        return True
    await ask(context, update, caller, moved)
    return True


@flows.canceller(Flow.PLAN)
async def cancel_plan(update: Update, context: GridContext, caller: Caller) -> bool:
    """/cancel while a plan is being made."""
    return await context.services.plans.cancel_draft(_member(caller))


async def draft_pressed(
    update: Update, context: GridContext, caller: Caller, button: PlanDraftButton
) -> None:
    """A button of making a plan; the draft must be the presser's own current one."""
    query = update.callback_query
    assert query is not None
    member = _member(caller)
    plans = context.services.plans
    config = context.services.config
    act = button.act
    if act is PlanDraftAction.CANCEL:
        if not await plans.cancel_draft(member, button.draft):
            raise Refused("plan.stale")
        await query.answer()
        await query.edit_message_reply_markup(None)
        await reply(update, context, caller, "cancel.done.plan")
        return
    if act in (PlanDraftAction.EDIT, PlanDraftAction.EDIT_STEP):
        await _edit_pressed(update, context, caller, button)
        return
    if act is PlanDraftAction.SAVE:
        made, joined = await plans.save_draft(member, button.draft)
        await query.answer()
        await query.edit_message_reply_markup(None)
        await reply(update, context, caller, "plan.saved", name=echo(made.name), count=joined)
        return
    if act is PlanDraftAction.CATEGORY:
        categories = config.campaign.categories
        if button.arg >= len(categories):
            raise Refused("plan.stale")
        changes: dict[str, object] = {"category": categories[button.arg].code}
    elif act is PlanDraftAction.MY_UNIT:
        changes = {"unit": member.unit_code}
    elif act is PlanDraftAction.NO_TAG:
        changes = {"tag": None}
    elif act is PlanDraftAction.WEEKLY:
        changes = {"schedule": {"cycle_days": 7, "weekly": True}}
    else:
        if button.arg >= len(RULES):
            raise Refused("plan.stale")
        changes = {"rule": RULES[button.arg]}
    moved = await plans.answer(member, button.draft, **changes)
    await query.answer()
    await query.edit_message_reply_markup(None)
    await ask(context, update, caller, moved)


async def _edit_pressed(
    update: Update, context: GridContext, caller: Caller, button: PlanDraftButton
) -> None:
    """修改 swaps the summary's buttons for the steps; a step asks it again (the summary
    returns once it is answered); 返回 puts the summary's buttons back."""
    query = update.callback_query
    assert query is not None
    member = _member(caller)
    plans = context.services.plans
    draft = await plans.draft(member)
    if draft is None or draft.id != button.draft or draft.step is not PlanDraftStep.SUMMARY:
        raise Refused("plan.stale")
    if button.act is PlanDraftAction.EDIT:
        await query.answer()
        await query.edit_message_reply_markup(_edit_markup(context, caller, draft))
        return
    if button.arg >= len(EDITABLE):  # 返回
        await query.answer()
        await query.edit_message_reply_markup(_summary_markup(context, caller, draft))
        return
    moved = await plans.edit(member, button.draft, button.arg)
    await query.answer()
    await query.edit_message_reply_markup(None)
    await ask(context, update, caller, moved)
