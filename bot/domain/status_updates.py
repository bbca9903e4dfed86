"""Status updates (工作动态): a short text, then each configured counter as a number.

Like a report, the update being written is a draft row (one per person), so a restart
resumes it; the draft's id becomes the update's ``draft_id``, so finishing twice stores
one update. Its steps are the table ``UPDATE_FLOW``: the body, then the counter step,
asked once per configured counter.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum

from bot.config import Config, CounterConfig
from bot.core import arguments
from bot.core.clock import Clock
from bot.core.errors import Refused
from bot.domain.flows import Flow, FlowTable, StepSpec
from storage import chats as chat_repo
from storage import status_updates as update_repo
from storage.db import Database
from storage.members import Member
from storage.status_updates import UpdateDraft
from storage.times import to_text

FLOW = Flow.UPDATE
BODY_MAX = 1000
COUNTER_MAX = 1_000_000


class StatusUpdateStep(StrEnum):
    BODY = "body"
    COUNTER = "counter"  # asked once per configured counter; the update is posted after


def body_text(body: str) -> str:
    """The text of a status update: trimmed, not empty, at most ``BODY_MAX`` long."""
    body = body.strip()
    if not body:
        raise Refused("update.body_needed", max=BODY_MAX)
    if len(body) > BODY_MAX:
        raise Refused("update.body_too_long", max=BODY_MAX)
    return body


def count(text: str) -> int:
    """A counter's figure as typed (thousands separators allowed), 0–``COUNTER_MAX``."""
    # NFKC folds full-width digits and the full-width comma (１２，３００) to ASCII
    cleaned = unicodedata.normalize("NFKC", text).strip().replace(",", "")
    value = arguments.number(cleaned, 0, COUNTER_MAX)
    if value is None:
        raise Refused("update.not_a_number", max=COUNTER_MAX)
    return value


# A message the step cannot take is answered by asking the step again.
UPDATE_FLOW: FlowTable[StatusUpdateStep] = FlowTable(
    FLOW,
    StatusUpdateStep,
    (
        StepSpec(
            StatusUpdateStep.BODY,
            "update.ask_body",
            "update.ask_body",
            done=lambda draft: draft.body is not None,
            parse=body_text,
        ),
        StepSpec(StatusUpdateStep.COUNTER, "update.ask_counter", "update.ask_counter", parse=count),
    ),
)


@dataclass(frozen=True)
class UpdateStep:
    """Where the draft stands: the body is asked first, then each counter in turn."""

    draft: UpdateDraft
    counter: CounterConfig | None  # the counter to ask for next; None when all are in

    @property
    def step(self) -> StatusUpdateStep:
        """The step to ask: the counter while one is left, else the body (also for a
        complete draft a stopped run did not post)."""
        return StatusUpdateStep.COUNTER if self.counter is not None else StatusUpdateStep.BODY


@dataclass(frozen=True)
class Posted:
    update_id: int
    counters: dict[str, int]


class StatusUpdateService:
    def __init__(self, db: Database, clock: Clock, config: Config) -> None:
        self.db = db
        self.clock = clock
        self.counters = config.campaign.counters
        self.hours = config.reports.draft_hours

    def _times(self) -> tuple[str, str]:
        now = self.clock.now()
        return to_text(now), to_text(now + timedelta(hours=self.hours))

    def _next_counter(self, draft: UpdateDraft) -> CounterConfig | None:
        return next((c for c in self.counters if c.code not in draft.counters), None)

    async def begin(self, member: Member, body: str | None) -> UpdateStep | Posted:
        """/update [text]: start (or restart) the draft; with no counters configured, a
        text alone is posted at once."""
        now, expires = self._times()
        cleaned = body_text(body) if body else None
        async with self.db.transaction() as conn:
            await update_repo.put_draft(
                conn, member.telegram_id, member.id, cleaned, {}, now, expires
            )
            await chat_repo.set_active_flow(conn, member.telegram_id, FLOW, now)
        return await self._advance(member)

    async def answer(self, member: Member, text: str) -> UpdateStep | Posted:
        """The next message of the flow: the body, or the number for the next counter."""
        now, expires = self._times()
        async with self.db.transaction() as conn:
            draft = await update_repo.draft_of(conn, member.telegram_id)
            if draft is None or draft.expires_at <= now:
                if draft is not None:
                    await update_repo.drop_draft(conn, member.telegram_id)
                await chat_repo.end_active_flow(conn, member.telegram_id, FLOW)
                raise Refused("update.expired")
            body, counters = draft.body, dict(draft.counters)
            step = UPDATE_FLOW.next_step(draft)
            if step is StatusUpdateStep.BODY:
                body = UPDATE_FLOW.parse(step, text)
            else:
                counter = self._next_counter(draft)
                assert counter is not None  # a complete draft is posted at once
                try:
                    counters[counter.code] = UPDATE_FLOW.parse(step, text)
                except Refused as refusal:  # name the counter the figure was for
                    raise Refused(refusal.key, counter=counter.name, **refusal.fields) from None
            await update_repo.put_draft(
                conn, member.telegram_id, member.id, body, counters, now, expires
            )
        return await self._advance(member)

    async def _advance(self, member: Member) -> UpdateStep | Posted:
        now, _ = self._times()
        async with self.db.transaction() as conn:
            draft = await update_repo.draft_of(conn, member.telegram_id)
            assert draft is not None
            if draft.body is None or self._next_counter(draft) is not None:
                return UpdateStep(draft, self._next_counter(draft) if draft.body else None)
            update_id = await update_repo.id_by_draft(conn, draft.id)
            if update_id is None:
                update_id = await update_repo.insert(
                    conn, draft.id, member.id, member.unit_id, draft.body, draft.counters, now
                )
            await update_repo.drop_draft(conn, member.telegram_id)
            await chat_repo.end_active_flow(conn, member.telegram_id, FLOW)
            return Posted(update_id, draft.counters)

    async def cancel(self, member: Member) -> bool:
        async with self.db.transaction() as conn:
            draft = await update_repo.draft_of(conn, member.telegram_id)
            await update_repo.drop_draft(conn, member.telegram_id)
            await chat_repo.end_active_flow(conn, member.telegram_id, FLOW)
            return draft is not None

    async def current(self, member: Member) -> UpdateStep | None:
        async with self.db.read() as conn:
            draft = await update_repo.draft_of(conn, member.telegram_id)
        if draft is None:
            return None
        return UpdateStep(draft, self._next_counter(draft) if draft.body else None)
