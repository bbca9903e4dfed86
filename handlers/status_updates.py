"""/update: a status update (工作动态) — a short text, then each configured counter.

The steps are ``bot.domain.status_updates.UPDATE_FLOW``; ``ASKERS`` says how each is asked
(a message a step cannot take is answered by asking it again)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from telegram import Update

from bot.core.errors import Refused
from bot.domain.briefs import TITLE_MAX
from bot.domain.members import Caller
from bot.domain.status_updates import (
    BODY_MAX,
    FLOW,
    UPDATE_FLOW,
    Posted,
    StatusUpdateStep,
    UpdateStep,
)
from bot.runtime.context import GridContext
from handlers import flows
from handlers.common import localized, reply, reply_text, text


async def _answer(
    update: Update, context: GridContext, caller: Caller, result: UpdateStep | Posted
) -> None:
    if isinstance(result, Posted):
        counters = {c.code: localized(caller, c) for c in context.services.config.campaign.counters}
        figures = text(context, caller, "list.separator").join(
            text(context, caller, "update.figure", counter=counters.get(code, code), value=value)
            for code, value in result.counters.items()
        )
        key = "update.posted_with" if figures else "update.posted"
        posted = text(context, caller, key, number=result.update_id, figures=figures)
        hint = text(context, caller, "update.offer_hint", number=result.update_id, max=TITLE_MAX)
        await reply_text(update, context, f"{posted}\n{hint}")
    else:
        await ASKERS[result.step](update, context, caller, result)


async def _ask_body(update: Update, context: GridContext, caller: Caller, step: UpdateStep) -> None:
    await reply(update, context, caller, UPDATE_FLOW[step.step].prompt, max=BODY_MAX)


async def _ask_counter(
    update: Update, context: GridContext, caller: Caller, step: UpdateStep
) -> None:
    assert step.counter is not None
    counter = localized(caller, step.counter)
    await reply(update, context, caller, UPDATE_FLOW[step.step].prompt, counter=counter)


Asker = Callable[[Update, GridContext, Caller, UpdateStep], Awaitable[None]]

# How each step of ``UPDATE_FLOW`` is asked (a test checks every step has one).
ASKERS: dict[StatusUpdateStep, Asker] = {
    StatusUpdateStep.BODY: _ask_body,
    StatusUpdateStep.COUNTER: _ask_counter,
}


def _refusal_fields(context: GridContext, caller: Caller, refusal: Refused) -> dict[str, object]:
    fields = dict(refusal.fields)
    for counter in context.services.config.campaign.counters:
        if fields.get("counter") == counter.name:
            fields["counter"] = localized(caller, counter)
    return fields


async def update_command(update: Update, context: GridContext, caller: Caller) -> None:
    """/update [text]: post a status update; asks for the text and counters it lacks."""
    assert caller.member is not None and update.effective_message is not None
    body = (update.effective_message.text or "").partition(" ")[2].strip() or None
    try:
        result = await context.services.status_updates.begin(caller.member, body)
    except Refused as refusal:
        await reply(
            update, context, caller, refusal.key, **_refusal_fields(context, caller, refusal)
        )
        return
    await _answer(update, context, caller, result)


@flows.flow(FLOW)
async def update_message(update: Update, context: GridContext, caller: Caller) -> bool:
    """The text, or the next counter, of the status update being written."""
    message = update.effective_message
    assert message is not None and caller.member is not None
    if message.photo or message.document:
        return False  # a photo starts a report instead
    step = await context.services.status_updates.current(caller.member)
    if step is None:
        return False
    if message.text is None:
        await _answer(update, context, caller, step)
        return True
    try:
        result = await context.services.status_updates.answer(caller.member, message.text)
    except Refused as refusal:
        await reply(
            update, context, caller, refusal.key, **_refusal_fields(context, caller, refusal)
        )
        return True
    await _answer(update, context, caller, result)
    return True


@flows.canceller(FLOW)
async def cancel_update(update: Update, context: GridContext, caller: Caller) -> bool:
    assert caller.member is not None
    return await context.services.status_updates.cancel(caller.member)
