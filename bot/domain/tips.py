"""Tips (举报线索) as a service: received → assigned → (verifying →) closed.

Telegram-free. Every change of a tip's state goes through ``TipService._transition``,
which applies a row of the life-cycle table (``bot.domain.tip_cycle``): it checks that
the tip is in a state the action leaves and that the person may take it, changes the
state (guarded by the state it read, so two people acting at once, or a button pressed
twice, move a tip once), and appends the timeline event and the audit entry, all in the
caller's transaction. Receiving, closing and returning take several answers, kept in a
``tip_draft`` row (one per person) so a restart resumes them; their steps are the tables
``RECEIVE_FLOW``, ``CLOSE_FLOW`` and ``RETURN_FLOW`` (see ``bot.domain.flows``).
Escalation of overdue tips returns who to tell; the caller sends. A bulk import writes
tips as they stood, with their history, not through the table.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from enum import StrEnum
from itertools import pairwise
from typing import Any

from bot.config import Config
from bot.core import access, periods
from bot.core.access import Role
from bot.core.clock import Clock
from bot.core.codes import typed_code
from bot.core.errors import Refused
from bot.core.geo import distance_m
from bot.core.workdays import Limit, WorkCalendar
from bot.domain import audit
from bot.domain.evidence import EvidenceStore
from bot.domain.flows import Flow, FlowTable, StepSpec
from bot.domain.reports import IncomingPhoto
from bot.domain.scope import unit_in_view
from bot.domain.tip_cycle import (
    REFUSALS,
    EventKind,
    RewardState,
    TipAction,
    TipState,
    Transition,
    Who,
    rule,
)
from bot.formats.tipfile import SOURCES, STAFF_SOURCES, TEXT_MAX, TipFileError, TipRow
from storage import chats as chat_repo
from storage import members as member_repo
from storage import sites as site_repo
from storage import tips as tip_repo
from storage import units as unit_repo
from storage.db import Connection, Database
from storage.evidence import EvidenceFiles
from storage.members import Member
from storage.reports import Photo
from storage.tips import Declined, Draft, Event, Reward, Satisfaction, Tip, Urgency
from storage.units import Unit

RECEIVE, CLOSE, RETURN = Flow.TIP_RECEIVE, Flow.TIP_CLOSE, Flow.TIP_RETURN
# The ``kind`` a draft of each flow is stored with.
_DRAFT_KIND = {RECEIVE: "receive", CLOSE: "close", RETURN: "return"}
_FLOW_OF_KIND = {kind: flow for flow, kind in _DRAFT_KIND.items()}
PHOTO_FLOWS = frozenset({RECEIVE, CLOSE})  # drafts that take photos, at any step
CONTACT_MAX = 100
ADDRESS_MAX = 200
MAX_PHOTOS = 10


class EventNote(StrEnum):
    """What the bot notes on a timeline event, stored as data (this key and its fields)
    and rendered as ``tip.note.<key>`` in the reader's language."""

    VALID = "valid"  # closed as valid; the event's note is the result
    INVALID = "invalid"  # closed as not valid; the event's note is the result
    APPROVED = "approved"
    ASSIGNED = "assigned"  # fields: unit, hours
    ASSIGNED_IMPORTED = "assigned_imported"  # fields: unit
    ESCALATED = "escalated"  # fields: unit (told next)
    IMPORTED = "imported"
    ASSIGNED_WORKDAYS = "assigned_workdays"  # fields: unit, days (a limit in working days)
    DECLINED = "declined"  # fields: reason (a Declined word); the note is what was typed
    EXTENSION_ASKED = "extension_asked"  # fields: deadline (ISO); the note is the reason
    EXTENDED = "extended"  # fields: deadline (ISO)
    EXTENSION_REFUSED = "extension_refused"
    PARKED = "parked"  # fields: day (ISO); the note is the reason
    UNPARKED = "unparked"  # fields: deadline (ISO)
    REMINDED = "reminded"  # fields: deadline (ISO)
    CALLED_BACK = "called_back"  # fields: outcome (a Satisfaction word), fault
    REOPENED = "reopened"  # fields: deadline (ISO)
    FOLLOWED = "followed"  # fields: original (its number)


_REWARD_EVENT = {
    RewardState.PAID: EventKind.REWARD_PAID,
    RewardState.DECLINED: EventKind.REWARD_DECLINED,
}
WORKERS_AND_UP = (Role.WORKER.value, Role.LEAD.value, Role.ADMIN.value)
LEADS_AND_ADMINS = (Role.LEAD.value, Role.ADMIN.value)


@dataclass(frozen=True)
class Notice:
    """A private message to send: to whom, which catalogue key, with what."""

    telegram_id: int
    key: str
    fields: dict[str, Any]
    tip_id: int
    acknowledge_button: bool = False
    verify_buttons: bool = False
    recipient: str = ""  # their name, to say who could not be reached
    photos: tuple[str, ...] = ()  # file ids sent as an album first (before and after)
    extension_buttons: bool = False  # 同意 / 不同意 under an extension asked


@dataclass(frozen=True)
class Outcome:
    """A tip after a change, the notices to send about it, and whether the change made a
    pending reward."""

    tip: Tip
    notices: list[Notice] = field(default_factory=list)
    reward_created: bool = False


@dataclass(frozen=True)
class Timeline:
    """A tip with its events in order, whether its contact may be shown (admins only)
    and its reward, if any."""

    tip: Tip
    events: list[Event]
    show_contact: bool
    reward: Reward | None


class ReceiveStep(StrEnum):
    """The questions of receiving a tip, in the order ``RECEIVE_FLOW`` asks them."""

    DESCRIPTION = "description"
    SOURCE = "source"
    URGENCY = "urgency"
    PLACE = "place"
    PHOTOS = "photos"
    CONTACT = "contact"
    CONFIRM = "confirm"


class CloseStep(StrEnum):
    """The questions of closing a tip (办结)."""

    RESULT = "result"
    PHOTOS = "photos"
    VERDICT = "verdict"


class ReturnStep(StrEnum):
    """The one question of returning a tip (退回)."""

    REASON = "reason"


TipStep = ReceiveStep | CloseStep | ReturnStep


def checked_text(value: str, limit: int, key: str) -> str:
    """Typed text trimmed; ``{key}_needed`` when empty, ``{key}_too_long`` over ``limit``."""
    value = value.strip()
    if not value:
        raise Refused(f"{key}_needed", max=limit)
    if len(value) > limit:
        raise Refused(f"{key}_too_long", max=limit)
    return value


def _answered(name: str) -> Callable[[dict[str, Any]], bool]:
    """A step is answered when the draft data holds ``name``."""
    return lambda data: bool(data.get(name))


def _draft_step(
    step: TipStep,
    done: Callable[[dict[str, Any]], bool] | None,
    parse: Callable[[str], dict[str, Any]] | None = None,
) -> StepSpec[Any]:
    """A tip draft step with its catalogue keys named after it. ``parse`` turns typed
    text into the changes to the draft's data."""
    return StepSpec(step, f"tip.ask.{step}", f"tip.expect.{step}", done, parse)


RECEIVE_FLOW: FlowTable[ReceiveStep] = FlowTable(
    RECEIVE,
    ReceiveStep,
    (
        _draft_step(
            ReceiveStep.DESCRIPTION,
            _answered("description"),
            lambda t: {"description": checked_text(t, TEXT_MAX, "tip.description")},
        ),
        _draft_step(ReceiveStep.SOURCE, _answered("source")),
        _draft_step(ReceiveStep.URGENCY, _answered("urgency")),
        # A typed address: the place is the unit being browsed (added by receive_text).
        _draft_step(
            ReceiveStep.PLACE,
            _answered("place_done"),
            lambda t: {"address": checked_text(t, ADDRESS_MAX, "tip.address"), "place_done": True},
        ),
        _draft_step(ReceiveStep.PHOTOS, _answered("photos_done")),
        _draft_step(
            ReceiveStep.CONTACT,
            _answered("contact_done"),
            lambda t: {
                "contact": checked_text(t, CONTACT_MAX, "tip.contact"),
                "contact_done": True,
            },
        ),
        StepSpec(ReceiveStep.CONFIRM, "tip.summary.title", "tip.expect.confirm"),
    ),
)
CLOSE_FLOW: FlowTable[CloseStep] = FlowTable(
    CLOSE,
    CloseStep,
    (
        _draft_step(
            CloseStep.RESULT,
            _answered("result"),
            lambda t: {"result": checked_text(t, TEXT_MAX, "tip.result")},
        ),
        _draft_step(CloseStep.PHOTOS, _answered("photos_done")),
        _draft_step(CloseStep.VERDICT, None),
    ),
)
RETURN_FLOW: FlowTable[ReturnStep] = FlowTable(
    RETURN,
    ReturnStep,
    (
        _draft_step(
            ReturnStep.REASON,
            None,
            lambda t: {"reason": checked_text(t, TEXT_MAX, "tip.reason")},
        ),
    ),
)
TABLES: dict[Flow, FlowTable[Any]] = {t.flow: t for t in (RECEIVE_FLOW, CLOSE_FLOW, RETURN_FLOW)}


def receive_step(data: dict[str, Any]) -> ReceiveStep:
    """The step a draft of receiving a tip is at."""
    return RECEIVE_FLOW.next_step(data)


def close_step(data: dict[str, Any]) -> CloseStep:
    """The step a draft of closing a tip is at."""
    return CLOSE_FLOW.next_step(data)


SIMILAR = 0.3  # bigram overlap from which an open tip is shown as a possible duplicate
MAX_SIMILAR = 3


def _bigrams(value: str) -> set[str]:
    chars = [c for c in value.lower() if c.isalnum()]
    return {a + b for a, b in pairwise(chars)} or set(chars)


def similarity(first: str, second: str) -> float:
    """How alike two descriptions are: the overlap (Jaccard) of their character pairs,
    which suits Chinese text with no spaces between words (0 to 1)."""
    a, b = _bigrams(first), _bigrams(second)
    return len(a & b) / len(a | b) if a and b else 0.0


@dataclass(frozen=True)
class Step:
    """Where a draft stands, with what the question needs."""

    draft: Draft
    step: TipStep
    browse: Unit | None = None  # the unit shown by the place picker
    children: list[Unit] = field(default_factory=list)
    can_go_up: bool = False
    tip: Tip | None = None  # the tip being closed or returned
    place: list[Unit] = field(default_factory=list)  # the chosen unit, from the root down
    similar: list[Tip] = field(default_factory=list)  # open tips it may duplicate
    original: Tip | None = None  # the tip it is linked to as a duplicate
    where: tuple[float, float] | None = None  # where the tip is, when located
    site: str | None = None  # the code of the registered site it names

    @property
    def flow(self) -> Flow:
        """The flow the draft belongs to."""
        return _FLOW_OF_KIND[self.draft.kind]


class TipService:
    """Receiving, assigning, acknowledging, closing, checking and escalating tips, and
    settling their rewards; every state change through ``_transition``."""

    def __init__(self, db: Database, clock: Clock, config: Config) -> None:
        self.db = db
        self.clock = clock
        self.settings = config.tips
        self.zone = config.locale.zone
        self.draft_hours = config.reports.draft_hours
        self.evidence = EvidenceStore(EvidenceFiles(config.evidence.path), config.locale.zone)
        self.workdays = WorkCalendar(
            config.locale.zone,
            config.calendar.extra_holidays,
            config.calendar.extra_workdays,
        )

    # ------------------------------------------------------------------ helpers

    @property
    def _close_action(self) -> TipAction:
        """A verdict closes the tip, or submits it for the assigner's check (tips.verify)."""
        return TipAction.SUBMIT if self.settings.verify else TipAction.CLOSE

    def _times(self) -> tuple[datetime, datetime]:
        """Now, and when a draft started or moved now expires."""
        now = self.clock.now()
        return now, now + timedelta(hours=self.draft_hours)

    async def _tip(self, conn: Connection, number: str) -> Tip:
        tip = await tip_repo.by_number(conn, typed_code(number))
        if tip is None:
            raise Refused("tip.unknown", number=number)
        return tip

    @staticmethod
    def _covers(actor: Member, path: str | None) -> bool:
        return path is not None and path.startswith(actor.unit_path)

    def _sees(self, actor: Member, tip: Tip) -> bool:
        return self._covers(actor, tip.unit_path) or self._covers(actor, tip.assigned_path)

    async def _may_read(self, conn: Connection, actor: Member, tip: Tip) -> bool:
        """A tip their scope covers (where it was received or the unit it is assigned to,
        their own unit included), or one they acted on or were told of."""
        return self._sees(actor, tip) or await tip_repo.involves(conn, tip.id, actor.id)

    async def _outside(self, conn: Connection, actor: Member, tip: Tip, hidden: Refused) -> Refused:
        """Why ``actor`` may not act on ``tip`` where it is assigned: the unit is named only
        to someone who may read the tip; anyone else gets ``hidden``, as if there were none."""
        if await self._may_read(conn, actor, tip):
            return Refused("deny.scope", unit=tip.assigned_name or tip.unit_name)
        return hidden

    def _may(self, actor: Member | None, tip: Tip | None, who: Who) -> bool:
        """Is ``actor`` (None: the deadline job) one of ``who`` for ``tip``?"""
        if who is Who.SYSTEM or actor is None:
            return who is Who.SYSTEM and actor is None
        if who is Who.RECEIVER:
            return access.check_receive_tip(actor) is None
        assert tip is not None
        if who is Who.SCOPE:
            return self._sees(actor, tip)
        if who is Who.ASSIGNED_UNIT:
            return self._covers(actor, tip.assigned_path)
        if who is Who.ADMIN:
            return actor.role == Role.ADMIN.value and self._sees(actor, tip)
        if who is Who.LEAD:
            return actor.role in LEADS_AND_ADMINS and self._sees(actor, tip)
        return actor.id == tip.assigned_by or (
            actor.role == Role.ADMIN.value and self._covers(actor, tip.assigned_path)
        )

    async def _allowed(
        self, conn: Connection, actor: Member | None, tip: Tip | None, action: TipAction
    ) -> Transition:
        """The row of the life-cycle table that lets ``actor`` take ``action`` on ``tip``
        now. Refused with the action's keys: first when the tip is in no state the action
        leaves, then when the actor may not take it."""
        refusal = REFUSALS[action]
        number = tip.number if tip else ""
        move = rule(tip.state if tip else None, action)
        if move is None:
            raise Refused(refusal.wrong_state, number=number)
        if not self._may(actor, tip, move.who):
            hidden = Refused(refusal.not_allowed, number=number)
            if refusal.name_unit and actor is not None and tip is not None:
                raise await self._outside(conn, actor, tip, hidden)
            raise hidden
        return move

    async def _transition(
        self,
        conn: Connection,
        actor: Member | None,
        tip: Tip | None,
        action: TipAction,
        *,
        at: datetime,
        note: str | None = None,
        note_key: EventNote | None = None,
        note_fields: dict[str, Any] | None = None,
        detail: dict[str, Any] | None = None,
        **changes: Any,
    ) -> tuple[Tip, int]:
        """The one way a tip's state changes, inside the caller's transaction: check the
        table (``_allowed``), set the new state and ``changes`` (a new tip made of them
        when ``tip`` is None), append the event with ``note`` and, if the row names one,
        the audit entry with ``detail``. ``note`` is what a person typed; the bot's own
        note is ``note_key`` with ``note_fields``, rendered for the reader. Returns the
        tip as it is now and the event id."""
        move = await self._allowed(conn, actor, tip, action)
        if tip is None:
            tip_id = await tip_repo.insert(conn, state=move.target, **changes)
        elif await tip_repo.update(conn, tip.id, tip.state, state=move.target, **changes):
            tip_id = tip.id
        else:  # moved since it was read
            raise Refused(REFUSALS[action].wrong_state, number=tip.number)
        event = await tip_repo.add_event(
            conn,
            tip_id=tip_id,
            at=at,
            actor_id=actor.id if actor else None,
            kind=move.event,
            from_state=move.source,
            to_state=move.target,
            note=note,
            note_key=note_key,
            note_fields=note_fields,
        )
        fresh = await tip_repo.by_id(conn, tip_id)
        assert fresh is not None
        if move.audit is not None:
            await audit.record(
                conn,
                self.clock,
                move.audit,
                actor=actor,
                target=fresh.number,
                unit_id=fresh.assigned_unit_id or fresh.unit_id,
                **(detail or {}),
            )
        return fresh, event

    async def _draft(self, conn: Connection, actor: Member, flow: Flow) -> Draft:
        """The actor's draft of this flow; expired ones are refused (and dropped by
        ``current``)."""
        draft = await tip_repo.draft_of(conn, actor.telegram_id)
        if draft is None or draft.kind != _DRAFT_KIND[flow]:
            raise Refused("tip.stale")
        return draft

    async def _start(
        self,
        conn: Connection,
        member: Member,
        flow: Flow,
        tip_id: int | None,
        now: datetime,
        expires: datetime,
    ) -> Step:
        """Start ``member``'s draft of ``flow`` (on tip ``tip_id``, None for a new tip) in
        the caller's transaction, make it their active flow, and give its first step."""
        await tip_repo.start_draft(
            conn, member.telegram_id, _DRAFT_KIND[flow], tip_id, {}, now, expires
        )
        await chat_repo.set_active_flow(conn, member.telegram_id, flow, now)
        draft = await tip_repo.draft_of(conn, member.telegram_id)
        assert draft is not None
        return await self._step(conn, member, draft)

    async def _step(self, conn: Connection, actor: Member, draft: Draft) -> Step:
        flow = _FLOW_OF_KIND[draft.kind]
        step = TABLES[flow].next_step(draft.data)
        if step is ReceiveStep.CONFIRM:
            unit_id = draft.data.get("unit_id")
            unit = await unit_repo.get_by_id(conn, unit_id) if unit_id else None
            place = await unit_repo.ancestors(conn, unit) if unit else []
            original_id = draft.data.get("duplicate_of")
            original = await tip_repo.by_id(conn, original_id) if original_id else None
            similar = []
            if unit_id and original is None:
                similar = await self._similar(conn, actor, draft.data)
            site_id = draft.data.get("site_id")
            site = await site_repo.by_id(conn, site_id) if site_id else None
            return Step(
                draft,
                step,
                place=place,
                similar=similar,
                original=original,
                where=await self._where(conn, draft.data),
                site=site.code if site else None,
            )
        if step is ReceiveStep.PLACE:
            browse_id = draft.data.get("browse") or actor.unit_id
            browse = await unit_repo.get_by_id(conn, browse_id)
            assert browse is not None
            kids = [u for u in await unit_repo.children(conn, browse.id) if u.active]
            return Step(draft, step, browse, kids, browse.id != actor.unit_id)
        if flow is RECEIVE:
            return Step(draft, step)
        tip = await tip_repo.by_id(conn, draft.tip_id) if draft.tip_id else None
        return Step(draft, step, tip=tip)

    async def _where(self, conn: Connection, data: dict[str, Any]) -> tuple[float, float] | None:
        """Where a tip being received is: the location shared, else its site's coordinates."""
        if data.get("latitude") is not None and data.get("longitude") is not None:
            return float(data["latitude"]), float(data["longitude"])
        site = await site_repo.by_id(conn, data["site_id"]) if data.get("site_id") else None
        if site is not None and site.latitude is not None and site.longitude is not None:
            return site.latitude, site.longitude
        return None

    async def _nearby(self, conn: Connection, data: dict[str, Any]) -> dict[int, Tip]:
        """Open tips on the draft's site or within ``tips.duplicate_distance_m`` of where it
        is (see ``_where``), by id."""
        point = await self._where(conn, data)
        metres = self.settings.duplicate_distance_m
        box = None
        if point is not None and metres > 0:
            lat, lon = point
            dlat = metres / 111_000  # a degree of latitude is about 111 km; a margin
            dlon = dlat / max(math.cos(math.radians(lat)), 0.01)
            box = (lat - dlat, lat + dlat, lon - dlon, lon + dlon)
        found: dict[int, Tip] = {}
        for located in await tip_repo.open_located(conn, data.get("site_id"), box):
            tip = located.tip
            same_site = data.get("site_id") is not None and tip.site_id == data["site_id"]
            near = (
                point is not None
                and located.latitude is not None
                and located.longitude is not None
                and distance_m(point, (located.latitude, located.longitude)) <= metres
            )
            if same_site or near:
                found[tip.id] = tip
        return found

    async def _similar(self, conn: Connection, actor: Member, data: dict[str, Any]) -> list[Tip]:
        """Open tips the one being received may duplicate: in the same unit, on the same
        site, or within ``tips.duplicate_distance_m`` of it, with similar text; the
        newest first, only those the receiver may see."""
        candidates = {t.id: t for t in await tip_repo.open_in_unit(conn, data["unit_id"])}
        candidates.update(await self._nearby(conn, data))
        return [
            t
            for t in sorted(candidates.values(), key=lambda t: t.id, reverse=True)
            if self._sees(actor, t) and similarity(t.description, data["description"]) >= SIMILAR
        ][:MAX_SIMILAR]

    async def current(self, actor: Member, flow: Flow) -> tuple[Step | None, bool]:
        """The actor's draft of ``flow`` (or None) and whether one just expired."""
        now, _ = self._times()
        async with self.db.transaction() as conn:
            draft = await tip_repo.draft_of(conn, actor.telegram_id)
            if draft is None or draft.kind != _DRAFT_KIND[flow]:
                return None, False
            if draft.expires_at <= now:
                await tip_repo.drop_draft(conn, actor.telegram_id)
                await chat_repo.end_active_flow(conn, actor.telegram_id, flow)
                return None, True
            return await self._step(conn, actor, draft), False

    async def _update(
        self, actor: Member, flow: Flow, draft_id: int | None, **changes: Any
    ) -> Step:
        now, expires = self._times()
        async with self.db.transaction() as conn:
            draft = await self._draft(conn, actor, flow)
            if draft_id is not None and draft.id != draft_id:
                raise Refused("tip.stale")
            data = {**draft.data, **changes}
            await tip_repo.save_draft(conn, draft.id, data, expires)
            await chat_repo.set_active_flow(conn, actor.telegram_id, flow, now)
            fresh = await tip_repo.draft_of(conn, actor.telegram_id)
            assert fresh is not None
            return await self._step(conn, actor, fresh)

    async def cancel(self, actor: Member, flow: Flow) -> bool:
        """Drop the actor's draft of ``flow``; False when there was none."""
        async with self.db.transaction() as conn:
            draft = await tip_repo.draft_of(conn, actor.telegram_id)
            await chat_repo.end_active_flow(conn, actor.telegram_id, flow)
            if draft is None or draft.kind != _DRAFT_KIND[flow]:
                return False
            await tip_repo.drop_draft(conn, actor.telegram_id)
            return True

    # ------------------------------------------------------------------ receiving

    async def begin_receive(self, actor: Member) -> Step:
        """Start receiving a tip (leads and admins): a new draft, replacing any other."""
        reason = access.check_receive_tip(actor)
        if reason:
            raise Refused(reason)
        now, expires = self._times()
        async with self.db.transaction() as conn:
            return await self._start(conn, actor, RECEIVE, None, now, expires)

    async def receive_text(self, actor: Member, value: str) -> Step:
        """Typed text: the description, an address at the place step, or the contact
        (each checked by its step in ``RECEIVE_FLOW``). An address that is the code of
        one registered site under the unit being browsed names that site: the tip is in
        its unit and located by its coordinates."""
        step, _ = await self.current(actor, RECEIVE)
        if step is None:
            raise Refused("tip.stale")
        if step.step is ReceiveStep.PLACE and step.browse is not None:
            changes = RECEIVE_FLOW.parse(ReceiveStep.PLACE, value)
            async with self.db.read() as conn:
                sites = await site_repo.with_code_in_subtree(
                    conn, changes["address"], step.browse.path
                )
            site = sites[0] if len(sites) == 1 else None
            changes["unit_id"] = site.unit_id if site else step.browse.id
            changes["site_id"] = site.id if site else None
            return await self._update(actor, RECEIVE, None, **changes)
        if step.step is ReceiveStep.CONTACT:  # typed: no Telegram account known
            changes = RECEIVE_FLOW.parse(ReceiveStep.CONTACT, value)
            return await self._update(actor, RECEIVE, None, **changes, tipster_id=None)
        return await self._answer_text(actor, RECEIVE, value)

    async def receive_location(self, actor: Member, latitude: float, longitude: float) -> Step:
        """A location shared while receiving a tip locates it (duplicates within
        ``tips.duplicate_distance_m`` are offered). At the place step it also answers it:
        the tip is in the unit being browsed."""
        if not (-90 <= latitude <= 90 and -180 <= longitude <= 180):
            raise Refused("tip.bad_location")
        step, _ = await self.current(actor, RECEIVE)
        if step is None:
            raise Refused("tip.stale")
        changes: dict[str, Any] = {"latitude": latitude, "longitude": longitude}
        if step.step is ReceiveStep.PLACE and step.browse is not None:
            changes.update(unit_id=step.browse.id, address=None, site_id=None, place_done=True)
        return await self._update(actor, RECEIVE, None, **changes)

    async def receive_contact(
        self, actor: Member, name: str, phone: str, telegram_id: int | None
    ) -> Step:
        """A contact card shared at the contact step: the tipster's name and phone, and
        their Telegram account when the card has one (a member earns no reward)."""
        step, _ = await self.current(actor, RECEIVE)
        if step is None:
            raise Refused("tip.stale")
        if step.step is not ReceiveStep.CONTACT:
            raise Refused(RECEIVE_FLOW[step.step].expect)
        contact = checked_text(f"{name} {phone}", CONTACT_MAX, "tip.contact")
        return await self._update(
            actor, RECEIVE, None, contact=contact, contact_done=True, tipster_id=telegram_id
        )

    async def _answer_text(self, actor: Member, flow: Flow, value: str) -> Step:
        """Typed text at the step a draft of ``flow`` is at, parsed by the flow's table."""
        step, _ = await self.current(actor, flow)
        if step is None:
            raise Refused("tip.stale")
        changes = TABLES[flow].parse(step.step, value)
        if step.browse is not None:  # an address typed at the place picker: in that unit
            changes["unit_id"] = step.browse.id
        return await self._update(actor, flow, None, **changes)

    async def choose_urgency(self, actor: Member, draft_id: int, index: int) -> Step:
        """紧急程度: the ``index``-th of ``Urgency``."""
        urgencies = list(Urgency)
        if not 0 <= index < len(urgencies):
            raise Refused("tip.stale")
        return await self._update(actor, RECEIVE, draft_id, urgency=urgencies[index].value)

    async def link_at_intake(self, actor: Member, draft_id: int, tip_id: int) -> Step:
        """ "Link as duplicate of T-…" on the card of a tip being received: one of the open
        tips shown as similar (in the same unit)."""
        async with self.db.read() as conn:
            draft = await self._draft(conn, actor, RECEIVE)
            original = await tip_repo.by_id(conn, tip_id)
            nearby = await self._nearby(conn, draft.data) if draft.data.get("unit_id") else {}
        if (
            original is None
            or draft.id != draft_id
            or (original.unit_id != draft.data.get("unit_id") and original.id not in nearby)
            or original.duplicate_of is not None
            or not self._sees(actor, original)
        ):
            raise Refused("tip.stale")
        return await self._update(actor, RECEIVE, draft_id, duplicate_of=original.id)

    async def choose_source(self, actor: Member, draft_id: int, index: int) -> Step:
        """来源: the ``index``-th of ``SOURCES``."""
        if not 0 <= index < len(SOURCES):
            raise Refused("tip.stale")
        return await self._update(actor, RECEIVE, draft_id, source=SOURCES[index])

    async def _unit_in_scope(self, actor: Member, unit_id: int) -> Unit:
        async with self.db.read() as conn:
            unit = await unit_repo.get_by_id(conn, unit_id)
        if unit is None or not access.in_scope(actor, unit):
            raise Refused("tip.stale")
        return unit

    async def browse_down(self, actor: Member, draft_id: int, unit_id: int) -> Step:
        """The place picker shows the units under ``unit_id``."""
        unit = await self._unit_in_scope(actor, unit_id)
        return await self._update(actor, RECEIVE, draft_id, browse=unit.id)

    async def place_here(self, actor: Member, draft_id: int, unit_id: int) -> Step:
        """就是: the tip is in the unit ``unit_id`` (no address)."""
        unit = await self._unit_in_scope(actor, unit_id)
        return await self._update(
            actor, RECEIVE, draft_id, unit_id=unit.id, address=None, site_id=None, place_done=True
        )

    async def browse_up(self, actor: Member, draft_id: int) -> Step:
        """The place picker goes one level up (never above the actor's own unit)."""
        async with self.db.read() as conn:
            draft = await self._draft(conn, actor, RECEIVE)
            unit = await unit_repo.get_by_id(conn, draft.data.get("browse") or actor.unit_id)
        parent = unit.parent_id if unit and unit.id != actor.unit_id else actor.unit_id
        return await self._update(actor, RECEIVE, draft_id, browse=parent)

    async def receive_photos_done(self, actor: Member, draft_id: int) -> Step:
        """The photos of the tip being received are in (or there are none)."""
        return await self._update(actor, RECEIVE, draft_id, photos_done=True)

    async def no_contact(self, actor: Member, draft_id: int) -> Step:
        """跳过 at the contact step."""
        return await self._update(
            actor, RECEIVE, draft_id, contact=None, contact_done=True, tipster_id=None
        )

    async def add_photo(
        self, actor: Member, flow: Flow, message_id: int, photo: IncomingPhoto
    ) -> Step:
        """A photo for the tip being received or closed (kept in the evidence store)."""
        async with self.db.read() as conn:
            draft = await self._draft(conn, actor, flow)
        if draft.photo_count >= MAX_PHOTOS:
            raise Refused("report.too_many_photos", max=MAX_PHOTOS)
        facts = await self.evidence.keep(photo.data)
        now, _ = self._times()
        async with self.db.transaction() as conn:
            await self.evidence.record(conn, facts, now)
            draft = await self._draft(conn, actor, flow)
            stored = Photo(facts.sha256, photo.file_id, photo.file_unique_id, photo.as_file)
            await tip_repo.add_draft_photo(conn, draft.id, message_id, stored)
        return await self._update(actor, flow, draft.id)

    async def submit_receive(self, actor: Member, draft_id: int) -> Tip:
        """受理: the confirmed draft becomes a tip with the day's next number, in state
        received (the RECEIVE transition), its photos on the event."""
        now, _ = self._times()
        async with self.db.transaction() as conn:
            draft = await self._draft(conn, actor, RECEIVE)
            if draft.id != draft_id:
                raise Refused("tip.stale")
            data = draft.data
            if receive_step(data) is not ReceiveStep.CONFIRM:
                raise Refused("tip.incomplete")
            day = periods.day_of(now, self.zone).strftime("%Y%m%d")
            tip, event = await self._transition(
                conn,
                actor,
                None,
                TipAction.RECEIVE,
                at=now,
                detail={"source": data["source"]},
                number=await tip_repo.next_number(conn, day),
                received_at=now,
                unit_id=data["unit_id"],
                address=data.get("address"),
                description=data["description"],
                source=data["source"],
                contact=data.get("contact"),
                created_by=actor.id,
                created_at=now,
                urgency=data.get("urgency", Urgency.NORMAL),
                duplicate_of=data.get("duplicate_of"),
                site_id=data.get("site_id"),
                latitude=data.get("latitude"),
                longitude=data.get("longitude"),
                tipster_id=data.get("tipster_id"),
            )
            await tip_repo.add_photos(
                conn, tip.id, event, await tip_repo.draft_photos(conn, draft.id)
            )
            await tip_repo.drop_draft(conn, actor.telegram_id)
            await chat_repo.end_active_flow(conn, actor.telegram_id, RECEIVE)
            if tip.duplicate_of:
                original = await tip_repo.by_id(conn, tip.duplicate_of)
                if original is not None and original.state is TipState.CLOSED:
                    await self._follow(conn, original, now)
                    fresh = await tip_repo.by_id(conn, tip.id)
                    assert fresh is not None
                    tip = fresh
            return tip

    # ------------------------------------------------------------------ assigning

    async def assign(self, actor: Member, number: str, code: str, hours: int | None) -> Outcome:
        """交办 to a unit in the actor's scope, due in ``hours`` (the configured default
        when None; 1 h to 90 days). Again on an assigned tip: a new unit and deadline, its
        acknowledgement and escalation reset. The unit's members get a notice with an
        acknowledge button (the caller sends)."""
        if hours is not None and not 1 <= hours <= 24 * 90:
            raise Refused("tip.bad_hours")
        now, _ = self._times()
        async with self.db.transaction() as conn:
            tip = await self._tip(conn, number)
            limit = Limit(hours, False) if hours is not None else self.limit_of(tip)
            unit = await unit_repo.get_by_code(conn, typed_code(code))
            if unit is None:
                raise Refused("unit.unknown", code=code)
            if not self._sees(actor, tip):
                raise Refused("tip.unknown", number=number)
            if not access.in_scope(actor, unit):
                raise Refused("deny.scope", unit=unit.name)
            if not unit.active:
                raise Refused("group.unit_inactive", unit=unit.name)
            deadline = self.workdays.due(now, limit)
            if limit.working_days:
                note_key = EventNote.ASSIGNED_WORKDAYS
                note_fields: dict[str, Any] = {"unit": unit.name, "days": limit.amount}
            else:
                note_key = EventNote.ASSIGNED
                note_fields = {"unit": unit.name, "hours": limit.amount}
            note_fields["deadline"] = deadline.isoformat()
            tip, _ = await self._transition(
                conn,
                actor,
                tip,
                TipAction.ASSIGN,
                at=now,
                note_key=note_key,
                note_fields=note_fields,
                detail={"limit": str(limit)},
                assigned_unit_id=unit.id,
                assigned_by=actor.id,
                assigned_at=now,
                deadline=deadline,
                acknowledged_at=None,
                acknowledged_by=None,
                escalation_level=0,
                escalated_at=None,
                reminded_at=None,
                extension_asked=None,
                extension_reason=None,
                extension_by=None,
                parked_until=None,  # assigned again: active, with its new deadline
                parked_reason=None,
            )
            members = await member_repo.active_in_unit(conn, unit.id, WORKERS_AND_UP)
            await tip_repo.add_notified(conn, tip.id, [m.id for m in members])
        notices = [
            Notice(
                m.telegram_id,
                "tip.assigned_notice",
                {"number": tip.number, "description": tip.description, "deadline": deadline},
                tip.id,
                acknowledge_button=True,
                recipient=m.name,
            )
            for m in members
        ]
        return Outcome(tip, notices)

    async def acknowledge(self, member: Member, tip_id: int) -> Tip:
        """接单: someone of the assigned unit (or above it) takes the tip on, once per
        assignment."""
        now, _ = self._times()
        async with self.db.transaction() as conn:
            tip = await tip_repo.by_id(conn, tip_id)
            if tip is None:
                raise Refused("tip.stale")
            await self._allowed(conn, member, tip, TipAction.ACKNOWLEDGE)
            if tip.acknowledged_at is not None:
                raise Refused("tip.already_acknowledged", number=tip.number)
            fresh, _ = await self._transition(
                conn,
                member,
                tip,
                TipAction.ACKNOWLEDGE,
                at=now,
                acknowledged_at=now,
                acknowledged_by=member.id,
            )
            return fresh

    # ------------------------------------------------------------------ closing

    async def begin_close(self, member: Member, number: str) -> Step:
        """Start closing an assigned tip (someone of the assigned unit or above it): a
        close draft asking for the result. To anyone who may not read the tip it is
        unknown."""
        now, expires = self._times()
        async with self.db.transaction() as conn:
            tip = await self._tip(conn, number)
            if not self._covers(member, tip.assigned_path):
                hidden = Refused("tip.unknown", number=number)  # as /tip: no hint it exists
                raise await self._outside(conn, member, tip, hidden)
            if rule(tip.state, self._close_action) is None:
                raise Refused("tip.wrong_state", number=tip.number)
            return await self._start(conn, member, CLOSE, tip.id, now, expires)

    async def close_text(self, member: Member, value: str) -> Step:
        """Typed text while closing: what was found and done (``CLOSE_FLOW``)."""
        return await self._answer_text(member, CLOSE, value)

    async def close_photos_done(self, member: Member, draft_id: int) -> Step:
        """The photos of a closure are complete; the verdict is asked next. With
        verification on (and ``tips.after_photo``), at least one "after" photo first."""
        if self.settings.verify and self.settings.after_photo:
            async with self.db.read() as conn:
                draft = await self._draft(conn, member, CLOSE)
            if draft.photo_count == 0:
                raise Refused("tip.after_photo_needed")
        return await self._update(member, CLOSE, draft_id, photos_done=True)

    async def close(self, member: Member, draft_id: int, valid: bool) -> Outcome:
        """The verdict: the tip is closed (or, with verification on, waits for it)."""
        now, _ = self._times()
        async with self.db.transaction() as conn:
            draft = await self._draft(conn, member, CLOSE)
            if draft.id != draft_id or close_step(draft.data) is not CloseStep.VERDICT:
                raise Refused("tip.stale")
            tip = await tip_repo.by_id(conn, draft.tip_id or 0)
            if tip is None:
                raise Refused("tip.stale")
            closing = rule(TipState.ASSIGNED, self._close_action)
            assert closing is not None
            fresh, event = await self._transition(
                conn,
                member,
                tip,
                self._close_action,
                at=now,
                note=draft.data["result"],
                note_key=EventNote.VALID if valid else EventNote.INVALID,
                detail={"valid": valid, "state": closing.target},
                closed_at=now,
                closed_by=member.id,
                valid=int(valid),
                result=draft.data["result"],
                parked_until=None,  # a parked tip solved after all is no longer parked
                parked_reason=None,
            )
            await tip_repo.add_photos(
                conn, tip.id, event, await tip_repo.draft_photos(conn, draft.id)
            )
            await tip_repo.drop_draft(conn, member.telegram_id)
            await chat_repo.end_active_flow(conn, member.telegram_id, CLOSE)
            reward = False
            notices: list[Notice] = []
            if fresh.state is TipState.CLOSED:
                reward = await self._reward(conn, fresh, now)
                await self._follow(conn, fresh, now)
            if fresh.state is TipState.VERIFYING and tip.assigned_by:
                assigner = await member_repo.by_id(conn, tip.assigned_by)
                if assigner and assigner.active:
                    before = await tip_repo.photo_files(conn, tip.id, (EventKind.RECEIVED,))
                    after = await tip_repo.photo_files(conn, tip.id, (EventKind.SUBMITTED,))
                    notices.append(
                        Notice(
                            assigner.telegram_id,
                            "tip.verify_notice",
                            {"number": tip.number, "result": draft.data["result"], "valid": valid},
                            tip.id,
                            verify_buttons=True,
                            photos=tuple(before[:5] + after[-5:]),
                        )
                    )
            return Outcome(fresh, notices, reward)

    async def approve(self, actor: Member, tip_id: int) -> Outcome:
        """通过: the assigner (or an admin over the unit) lets a checked closure stand;
        the tip is closed, with a pending reward when it was valid."""
        now, _ = self._times()
        async with self.db.transaction() as conn:
            tip = await tip_repo.by_id(conn, tip_id)
            if tip is None:
                raise Refused("tip.stale")
            fresh, _ = await self._transition(
                conn, actor, tip, TipAction.APPROVE, at=now, note_key=EventNote.APPROVED
            )
            reward = await self._reward(conn, fresh, now)
            await self._follow(conn, fresh, now)
            return Outcome(fresh, [], reward)

    async def begin_return(self, actor: Member, tip_id: int) -> Step:
        """退回 pressed: the assigner (or an admin over the unit) is asked for the reason
        (a return draft); ``send_back`` takes it."""
        now, expires = self._times()
        async with self.db.transaction() as conn:
            tip = await tip_repo.by_id(conn, tip_id)
            if tip is None:
                raise Refused("tip.stale")
            await self._allowed(conn, actor, tip, TipAction.RETURN)
            return await self._start(conn, actor, RETURN, tip.id, now, expires)

    async def send_back(self, actor: Member, reason: str) -> Outcome:
        """退回 with a reason: the tip goes back to its unit, and the returns are counted."""
        reason = RETURN_FLOW.parse(ReturnStep.REASON, reason)["reason"]
        now, _ = self._times()
        async with self.db.transaction() as conn:
            draft = await self._draft(conn, actor, RETURN)
            tip = await tip_repo.by_id(conn, draft.tip_id or 0)
            if tip is None:
                raise Refused("tip.stale")
            fresh, _ = await self._transition(
                conn,
                actor,
                tip,
                TipAction.RETURN,
                at=now,
                note=reason,
                closed_at=None,
                closed_by=None,
                valid=None,
                returns=tip.returns + 1,
            )
            await tip_repo.drop_draft(conn, actor.telegram_id)
            await chat_repo.end_active_flow(conn, actor.telegram_id, RETURN)
            members = await member_repo.active_in_unit(
                conn, tip.assigned_unit_id or 0, WORKERS_AND_UP
            )
            await tip_repo.add_notified(conn, tip.id, [m.id for m in members])
        notices = [
            Notice(
                m.telegram_id,
                "tip.returned_notice",
                {"number": tip.number, "reason": reason},
                tip.id,
            )
            for m in members
        ]
        return Outcome(fresh, notices)

    # ------------------------------------------------------------------ reading

    async def timeline(self, actor: Member, number: str) -> Timeline:
        """A tip and its events, for someone who may read it (else unknown)."""
        async with self.db.read() as conn:
            tip = await self._tip(conn, number)
            if not await self._may_read(conn, actor, tip):
                raise Refused("tip.unknown", number=number)  # no hint that it exists
            events = await tip_repo.events(conn, tip.id)
            reward = await tip_repo.reward_of(conn, tip.id)
        return Timeline(tip, events, actor.role == Role.ADMIN.value, reward)

    async def open_tips(
        self, actor: Member, code: str | None, limit: int = 30
    ) -> tuple[Unit, list[Tip]]:
        """Tips not closed whose responsible unit is in the subtree of ``code`` (the
        actor's own unit when None), oldest deadline first, at most ``limit``."""
        async with self.db.read() as conn:
            unit = await unit_in_view(conn, actor, code)
            return unit, await tip_repo.open_in_subtree(conn, unit.path, limit)

    def is_overdue(self, tip: Tip) -> bool:
        """Assigned, not parked, and past its deadline now."""
        return (
            tip.state is TipState.ASSIGNED
            and not tip.parked
            and tip.deadline is not None
            and tip.deadline < self.clock.now()
        )

    # ------------------------------------------------------------------ rewards

    async def settle(self, actor: Member, number: str, outcome: str, note: str | None) -> Reward:
        """Settle the pending reward of a tip as paid or declined, once, by someone whose
        scope covers the unit answerable for the tip; an event and an audit entry record
        it (the tip's state does not change)."""
        if outcome not in (RewardState.PAID, RewardState.DECLINED):
            raise Refused("usage.reward")
        settled_as = RewardState(outcome)
        now, _ = self._times()
        async with self.db.transaction() as conn:
            tip = await self._tip(conn, number)
            if not self._covers(actor, tip.assigned_path or tip.unit_path):
                raise Refused("tip.unknown", number=number)
            reward = await tip_repo.reward_of(conn, tip.id)
            if reward is None:
                raise Refused("reward.none", number=tip.number)
            if settled_as is RewardState.PAID and not await self._rewardable(conn, tip):
                raise Refused("reward.member", number=tip.number)  # never paid to staff
            if not await tip_repo.settle_reward(conn, tip.id, settled_as, actor.id, now, note):
                raise Refused("reward.settled", number=tip.number, state=reward.state)
            await tip_repo.add_event(
                conn,
                tip_id=tip.id,
                at=now,
                actor_id=actor.id,
                kind=_REWARD_EVENT[settled_as],
                from_state=None,
                to_state=None,
                note=note,
            )
            await audit.record(
                conn,
                self.clock,
                f"reward.{settled_as}",
                actor=actor,
                target=tip.number,
                unit_id=tip.assigned_unit_id or tip.unit_id,
            )
            settled = await tip_repo.reward_of(conn, tip.id)
            assert settled is not None
            return settled

    async def pending_rewards(self, actor: Member) -> list[Reward]:
        """Rewards not settled yet in the actor's scope, oldest first."""
        async with self.db.read() as conn:
            return await tip_repo.pending_rewards(conn, actor.unit_path)

    # ------------------------------------------------------------------ deadlines

    async def escalate(self) -> list[Notice]:
        """Overdue tips: the first time, tell the assigned unit and the leads and admins of
        its parent; then, every ``escalate_every_hours``, one level further up. Each step
        is recorded (level and time) in the same transaction that decides it, so a step
        is never repeated — run this as often as you like."""
        now, _ = self._times()
        every = self.settings.escalate_every_hours
        notices: list[Notice] = []
        async with self.db.transaction() as conn:
            await self._unpark_due(conn, now)
            notices += await self._remind(conn, now)
            for tip in await tip_repo.overdue(conn, now):
                level = tip.escalation_level
                if level > 0 and (
                    tip.escalated_at is None or self.workdays.after(tip.escalated_at, every) > now
                ):
                    continue
                assigned = await unit_repo.get_by_id(conn, tip.assigned_unit_id or 0)
                if assigned is None:
                    continue
                chain = await unit_repo.ancestors(conn, assigned)
                target_index = len(chain) - 2 - level  # the parent at level 0, then up
                if target_index < 0:
                    continue  # nobody above the top
                fields = {"number": tip.number, "unit": assigned.name, "deadline": tip.deadline}
                told: list[int] = []
                if level == 0:
                    for m in await member_repo.active_in_unit(conn, assigned.id, WORKERS_AND_UP):
                        notices.append(Notice(m.telegram_id, "tip.overdue_notice", fields, tip.id))
                        told.append(m.id)
                target = chain[target_index]
                for m in await member_repo.active_in_unit(conn, target.id, LEADS_AND_ADMINS):
                    told.append(m.id)
                    notices.append(
                        Notice(
                            m.telegram_id,
                            "tip.escalated_notice",
                            {**fields, "level": level + 1},
                            tip.id,
                        )
                    )
                await tip_repo.add_notified(conn, tip.id, told)
                await self._transition(
                    conn,
                    None,
                    tip,
                    TipAction.ESCALATE,
                    at=now,
                    note_key=EventNote.ESCALATED,
                    note_fields={"unit": target.name},
                    escalation_level=level + 1,
                    escalated_at=now,
                )
        return notices

    async def overdue_by_unit(self) -> dict[int, int]:
        """Overdue tips now, per assigned unit id."""
        async with self.db.read() as conn:
            return await tip_repo.overdue_counts(conn, self.clock.now())

    # ------------------------------------------------------------------ case practice

    def limit_of(self, tip: Tip) -> Limit:
        """The configured time limit for the tip's source and urgency ([tips.limits]),
        else ``tips.deadline_hours``."""
        text = self.settings.limits.of(tip.source, tip.urgency)
        return Limit.parse(text) if text else Limit(self.settings.deadline_hours, False)

    async def _rewardable(self, conn: Connection, tip: Tip) -> bool:
        """May the tip's tipster earn a reward at all: not found by staff on patrol nor
        handed over by a department, and not a member (see ``tip_repo.member_tipster``)."""
        if tip.source in STAFF_SOURCES:  # found by staff or handed over: no tipster
            return False
        return not await tip_repo.member_tipster(conn, tip.tipster_id, tip.contact)

    async def _rewarded(self, conn: Connection, original: Tip) -> Tip | None:
        """The one tip of a case (an original and its duplicates) whose tipster earns the
        reward (``tips.reward_to``): with "first_named", the earliest whose tipster left a
        contact (real name), the original first; with "original", the original only.
        Without a named one, the original when ``tips.reward_needs_contact`` is off."""
        named = self.settings.reward_needs_contact
        if self.settings.reward_to == "first_named":
            case = [original, *await tip_repo.duplicates_of(conn, original.id)]
            for tip in sorted(case, key=lambda t: (t.received_at, t.id)):
                if tip.contact and not tip.declined and await self._rewardable(conn, tip):
                    return tip
        elif original.contact and await self._rewardable(conn, original):
            return original
        if not named and await self._rewardable(conn, original):
            return original
        return None

    async def _reward(self, conn: Connection, tip: Tip, now: datetime) -> bool:
        """A pending reward for a case closed as valid, once, on the tip whose tipster
        earns it (``_rewarded``): the original's, or that of a duplicate of it, never a
        member's. True when that tip is ``tip`` itself."""
        if not tip.valid or tip.duplicate_of is not None or tip.declined:
            return False
        winner = await self._rewarded(conn, tip)
        if winner is None:
            return False
        await tip_repo.add_reward(conn, winner.id, now)
        return winner.id == tip.id

    async def _follow(self, conn: Connection, original: Tip, now: datetime) -> None:
        """The duplicates of a closed tip close with its outcome (no reward)."""
        for dup in await tip_repo.duplicates_of(conn, original.id):
            if dup.state is TipState.RECEIVED:
                await self._transition(
                    conn,
                    None,
                    dup,
                    TipAction.FOLLOW,
                    at=now,
                    note_key=EventNote.FOLLOWED,
                    note_fields={"original": original.number},
                    closed_at=now,
                    valid=None if original.valid is None else int(original.valid),
                    result=original.result,
                )

    async def _unpark_due(self, conn: Connection, now: datetime) -> None:
        """Parked tips whose target day has come are due again, at the end of that day."""
        today = periods.day_of(now, self.zone)
        for tip in await tip_repo.unpark_due(conn, today):
            assert tip.parked_until is not None
            deadline = periods.start_of(tip.parked_until + timedelta(days=1), self.zone)
            await self._transition(
                conn,
                None,
                tip,
                TipAction.UNPARK,
                at=now,
                note_key=EventNote.UNPARKED,
                note_fields={"deadline": deadline.isoformat()},
                parked_until=None,
                parked_reason=None,
                deadline=deadline,
                escalation_level=0,
                escalated_at=None,
                reminded_at=None,
            )

    async def _remind(self, conn: Connection, now: datetime) -> list[Notice]:
        """催办: ``tips.remind_hours`` working hours before its deadline, the assigned unit
        is reminded once (again after a new deadline)."""
        hours = self.settings.remind_hours
        if hours <= 0:
            return []
        notices: list[Notice] = []
        horizon = now + timedelta(days=60)  # far enough for any working-hour window
        for tip in await tip_repo.due_for_reminder(conn, horizon):
            assert tip.deadline is not None
            if tip.deadline <= now or self.workdays.before(tip.deadline, hours) > now:
                continue
            await self._transition(
                conn,
                None,
                tip,
                TipAction.REMIND,
                at=now,
                note_key=EventNote.REMINDED,
                note_fields={"deadline": tip.deadline.isoformat()},
                reminded_at=now,
            )
            fields = {"number": tip.number, "deadline": tip.deadline}
            for m in await member_repo.active_in_unit(
                conn, tip.assigned_unit_id or 0, WORKERS_AND_UP
            ):
                notices.append(Notice(m.telegram_id, "tip.reminder_notice", fields, tip.id))
        return notices

    async def ask_extension(self, actor: Member, number: str, day: date, reason: str) -> Outcome:
        """延期: the assigned unit asks, before the deadline and with a reason, for a new
        deadline at the end of ``day``; the assigner gets 同意 / 不同意 buttons. At most
        ``tips.max_extensions`` are granted; one asked at a time."""
        reason = checked_text(reason, TEXT_MAX, "tip.reason")
        now, _ = self._times()
        async with self.db.transaction() as conn:
            tip = await self._tip(conn, number)
            if rule(tip.state, TipAction.ASK_EXTENSION) is None or tip.deadline is None:
                raise Refused("tip.wrong_state", number=tip.number)
            if not self._covers(actor, tip.assigned_path):
                raise await self._outside(conn, actor, tip, Refused("tip.unknown", number=number))
            if tip.deadline <= now:
                raise Refused("tip.extension_late", number=tip.number)
            if tip.extensions >= self.settings.max_extensions:
                raise Refused(
                    "tip.extension_limit", number=tip.number, max=self.settings.max_extensions
                )
            if tip.extension_asked is not None:
                raise Refused("tip.extension_pending", number=tip.number)
            asked = periods.start_of(day + timedelta(days=1), self.zone)
            if asked <= tip.deadline:
                raise Refused("tip.extension_not_later", number=tip.number)
            fresh, _ = await self._transition(
                conn,
                actor,
                tip,
                TipAction.ASK_EXTENSION,
                at=now,
                note=reason,
                note_key=EventNote.EXTENSION_ASKED,
                note_fields={"deadline": asked.isoformat()},
                detail={"day": day.isoformat()},
                extension_asked=asked,
                extension_reason=reason,
                extension_by=actor.id,
            )
            assigner = await member_repo.by_id(conn, tip.assigned_by or 0)
        notices = []
        if assigner and assigner.active:
            notices.append(
                Notice(
                    assigner.telegram_id,
                    "tip.extension_notice",
                    {
                        "number": tip.number,
                        "unit": tip.assigned_name,
                        "reason": reason,
                        "deadline": asked,
                        "old": tip.deadline,
                    },
                    tip.id,
                    extension_buttons=True,
                )
            )
        return Outcome(fresh, notices)

    async def decide_extension(self, actor: Member, tip_id: int, grant: bool) -> Outcome:
        """同意: the deadline moves to the one asked (counted); 不同意: it stays. The
        assigner, or an admin over the unit, decides; the asker is told."""
        now, _ = self._times()
        async with self.db.transaction() as conn:
            tip = await tip_repo.by_id(conn, tip_id)
            if tip is None:
                raise Refused("tip.stale")
            action = TipAction.GRANT_EXTENSION if grant else TipAction.REFUSE_EXTENSION
            await self._allowed(conn, actor, tip, action)
            if tip.extension_asked is None:
                raise Refused("tip.stale")
            changes: dict[str, Any] = {
                "extension_asked": None,
                "extension_reason": None,
                "extension_by": None,
            }
            fields: dict[str, Any] = {}
            if grant:
                changes.update(
                    deadline=tip.extension_asked,
                    extensions=tip.extensions + 1,
                    escalation_level=0,
                    escalated_at=None,
                    reminded_at=None,
                )
                fields = {"deadline": tip.extension_asked.isoformat()}
            fresh, _ = await self._transition(
                conn,
                actor,
                tip,
                action,
                at=now,
                note_key=EventNote.EXTENDED if grant else EventNote.EXTENSION_REFUSED,
                note_fields=fields,
                **changes,
            )
            asker = await member_repo.by_id(conn, tip.extension_by or 0)
        notices = []
        if asker and asker.active:
            key = "tip.extension_granted_notice" if grant else "tip.extension_refused_notice"
            notices.append(
                Notice(
                    asker.telegram_id,
                    key,
                    {"number": tip.number, "deadline": fresh.deadline},
                    tip.id,
                )
            )
        return Outcome(fresh, notices)

    async def park(self, actor: Member, number: str, day: date | None, reason: str) -> Tip:
        """挂账: an admin parks an assigned tip with a reason until a later day; it leaves
        the overdue counts and comes back due at the end of that day."""
        now, _ = self._times()
        if not reason.strip():
            raise Refused("tip.park_reason_needed")
        reason = checked_text(reason, TEXT_MAX, "tip.reason")
        if day is None or day <= periods.day_of(now, self.zone):
            raise Refused("tip.park_day")
        async with self.db.transaction() as conn:
            tip = await self._tip(conn, number)
            if not self._sees(actor, tip):
                raise Refused("tip.unknown", number=number)
            fresh, _ = await self._transition(
                conn,
                actor,
                tip,
                TipAction.PARK,
                at=now,
                note=reason,
                note_key=EventNote.PARKED,
                note_fields={"day": day.isoformat()},
                detail={"day": day.isoformat()},
                parked_until=day,
                parked_reason=reason,
            )
            return fresh

    async def decline(self, actor: Member, number: str, reason: Declined, note: str | None) -> Tip:
        """不予受理: a received tip is kept and listed, closed with the reason, and not
        counted as 受理 in the official table."""
        now, _ = self._times()
        async with self.db.transaction() as conn:
            tip = await self._tip(conn, number)
            if not self._sees(actor, tip):
                raise Refused("tip.unknown", number=number)
            fresh, _ = await self._transition(
                conn,
                actor,
                tip,
                TipAction.DECLINE,
                at=now,
                note=note,
                note_key=EventNote.DECLINED,
                note_fields={"reason": reason.value},
                detail={"reason": reason.value},
                declined=reason.value,
                closed_at=now,
                closed_by=actor.id,
            )
            return fresh

    async def link_duplicate(self, actor: Member, number: str, original_number: str) -> Tip:
        """Link a received tip as a duplicate of an earlier one: it follows the original's
        outcome (closed with it) and earns no reward of its own."""
        now, _ = self._times()
        async with self.db.transaction() as conn:
            tip = await self._tip(conn, number)
            original = await self._tip(conn, original_number)
            if not self._sees(actor, tip):
                raise Refused("tip.unknown", number=number)
            if not await self._may_read(conn, actor, original):
                raise Refused("tip.unknown", number=original_number)
            if original.id == tip.id:
                raise Refused("tip.duplicate_self", number=tip.number)
            if original.id > tip.id:
                raise Refused("tip.duplicate_later", number=tip.number, original=original.number)
            if tip.state is not TipState.RECEIVED:
                raise Refused("tip.wrong_state", number=tip.number)
            root = original
            while root.duplicate_of is not None:  # link to the first of the chain
                found = await tip_repo.by_id(conn, root.duplicate_of)
                if found is None:
                    break
                root = found
            await tip_repo.update(conn, tip.id, tip.state, duplicate_of=root.id)
            await audit.record(
                conn,
                self.clock,
                "tip.linked",
                actor=actor,
                target=tip.number,
                unit_id=tip.unit_id,
                original=root.number,
            )
            if root.state is TipState.CLOSED:
                await self._follow(conn, root, now)
            fresh = await tip_repo.by_id(conn, tip.id)
            assert fresh is not None
            return fresh

    async def call_back(
        self,
        actor: Member,
        number: str,
        outcome: Satisfaction,
        fault: bool,
        note: str | None,
    ) -> Outcome:
        """回访 on a closed tip: 满意 / 基本满意 / 不满意 with a note. 不满意 through the
        handler's fault reopens it as rework (返工): back to its unit with a new deadline."""
        now, _ = self._times()
        async with self.db.transaction() as conn:
            tip = await self._tip(conn, number)
            if not self._sees(actor, tip):
                raise Refused("tip.unknown", number=number)
            if tip.declined or tip.duplicate_of:
                raise Refused("tip.wrong_state", number=tip.number)
            reopen = outcome is Satisfaction.DISSATISFIED and fault
            fresh, _ = await self._transition(
                conn,
                actor,
                tip,
                TipAction.CALL_BACK,
                at=now,
                note=note,
                note_key=EventNote.CALLED_BACK,
                note_fields={"outcome": outcome.value, "fault": fault},
                detail={"outcome": outcome.value, "fault": fault},
                satisfaction=outcome.value,
            )
            notices: list[Notice] = []
            if reopen and fresh.assigned_unit_id:
                deadline = self.workdays.due(now, self.limit_of(fresh))
                fresh, _ = await self._transition(
                    conn,
                    actor,
                    fresh,
                    TipAction.REOPEN,
                    at=now,
                    note=note,
                    note_key=EventNote.REOPENED,
                    note_fields={"deadline": deadline.isoformat()},
                    closed_at=None,
                    closed_by=None,
                    valid=None,
                    returns=fresh.returns + 1,
                    deadline=deadline,
                    acknowledged_at=None,
                    acknowledged_by=None,
                    escalation_level=0,
                    escalated_at=None,
                    reminded_at=None,
                )
                members = await member_repo.active_in_unit(
                    conn, fresh.assigned_unit_id, WORKERS_AND_UP
                )
                await tip_repo.add_notified(conn, tip.id, [m.id for m in members])
                notices = [
                    Notice(
                        m.telegram_id,
                        "tip.reopened_notice",
                        {"number": tip.number, "note": note or "", "deadline": deadline},
                        tip.id,
                    )
                    for m in members
                ]
            return Outcome(fresh, notices)

    async def parked_tips(self, actor: Member) -> list[Tip]:
        """Parked tips in the actor's scope."""
        async with self.db.read() as conn:
            return await tip_repo.parked(conn, actor.unit_path)

    # ------------------------------------------------------------------ bulk import

    async def import_rows(self, rows: list[TipRow]) -> int:
        """Import checked rows in one transaction: all of them, or none (a number that is
        already in the database refuses the whole file)."""
        now, _ = self._times()
        async with self.db.transaction() as conn:
            taken = await tip_repo.numbers_exist(conn, [r.number for r in rows])
            if taken:
                clashes = [
                    f"line {r.line}: number {r.number} exists" for r in rows if r.number in taken
                ]
                raise TipFileError(clashes)
            for row in rows:
                state = (
                    TipState.CLOSED
                    if row.closed_at
                    else TipState.ASSIGNED
                    if row.assigned_at
                    else TipState.RECEIVED
                )
                received = row.received_at
                tip_id = await tip_repo.insert(
                    conn,
                    number=row.number,
                    received_at=received,
                    unit_id=row.unit.id,
                    description=row.description,
                    source=row.source,
                    state=state,
                    assigned_unit_id=row.assigned_unit.id if row.assigned_unit else None,
                    assigned_at=row.assigned_at,
                    deadline=row.deadline,
                    closed_at=row.closed_at,
                    valid=None if row.valid is None else int(row.valid),
                    created_at=now,
                )
                await tip_repo.add_event(
                    conn,
                    tip_id=tip_id,
                    at=received,
                    actor_id=None,
                    kind=EventKind.RECEIVED,
                    from_state=None,
                    to_state=TipState.RECEIVED,
                    note_key=EventNote.IMPORTED,
                )
                if row.assigned_at and row.assigned_unit:
                    await tip_repo.add_event(
                        conn,
                        tip_id=tip_id,
                        at=row.assigned_at,
                        actor_id=None,
                        kind=EventKind.ASSIGNED,
                        from_state=TipState.RECEIVED,
                        to_state=TipState.ASSIGNED,
                        note_key=EventNote.ASSIGNED_IMPORTED,
                        note_fields={"unit": row.assigned_unit.name},
                    )
                if row.closed_at:
                    await tip_repo.add_event(
                        conn,
                        tip_id=tip_id,
                        at=row.closed_at,
                        actor_id=None,
                        kind=EventKind.CLOSED,
                        from_state=TipState.ASSIGNED,
                        to_state=TipState.CLOSED,
                        note_key=EventNote.IMPORTED,
                    )
                    if row.valid:
                        await tip_repo.add_reward(conn, tip_id, row.closed_at)
            if rows:
                await audit.record(
                    conn,
                    self.clock,
                    "tips.imported",
                    actor=None,
                    target=f"{rows[0].number} … {rows[-1].number}",
                    unit_id=None,
                    count=len(rows),
                )
        return len(rows)

    async def units(self) -> list[Unit]:
        """Every unit of the tree (to resolve the units named in an import file)."""
        async with self.db.read() as conn:
            return await unit_repo.all_units(conn)
