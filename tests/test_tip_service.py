"""TipService without Telegram, on the real storage and a FakeClock: every transition of
the life-cycle table allowed, every state and action it does not list refused with
nothing changed, who may act, and the deadline, escalation and reward rules."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pytest

from bot.core.access import Role
from bot.core.errors import Refused
from bot.domain.reports import IncomingPhoto
from bot.domain.tip_cycle import (
    REFUSALS,
    TRANSITIONS,
    EventKind,
    RewardState,
    TipAction,
    TipState,
    Transition,
    Who,
    rule,
)
from bot.domain.tips import CLOSE, TipService
from storage import tips as tip_repo
from storage import units as unit_repo
from storage.tips import Declined, Satisfaction, Tip
from tests.conftest import add_member
from tests.photos import photo

# Tips are received at 武侯街道 (WL-WH) by its lead and assigned to 崔庄社区 (WL-WH-CZ).
UNIT = "WL-WH-CZ"


class City:
    """The example city, its people, and the tip service twice: closures closed at once
    (``plain``) and closures checked by the assigner (``checked``, tips.verify)."""

    def __init__(self, services: Any) -> None:
        self.services = services
        self.db = services.db
        self.clock = services.clock
        self.plain: TipService = services.tips
        config = services.config
        verify = config.tips.model_copy(update={"verify": True})
        self.checked = TipService(self.db, self.clock, config.model_copy(update={"tips": verify}))
        self.photos = 0

    async def people(self) -> None:
        s = self.services
        self.admin = await add_member(s, 1001, "NY", Role.ADMIN, "市管理员")
        self.district_lead = await add_member(s, 1002, "WL", Role.LEAD, "区负责人")
        self.lead = await add_member(s, 2001, "WL-WH", Role.LEAD, "街道负责人")
        self.worker = await add_member(s, 3001, UNIT, Role.WORKER, "社区网格员")
        self.grid_worker = await add_member(s, 3003, "WL-WH-CZ-01", Role.WORKER, "网格员")
        self.outsider = await add_member(s, 3002, "WC-XH-XH", Role.WORKER, "宛城网格员")
        self.other_lead = await add_member(s, 2002, "WL-MX", Role.LEAD, "梅溪街道负责人")

    async def unit_id(self, code: str) -> int:
        async with self.db.read() as conn:
            unit = await unit_repo.get_by_code(conn, code)
        assert unit is not None
        return unit.id

    async def tip(self, tip_id: int) -> Tip:
        async with self.db.read() as conn:
            tip = await tip_repo.by_id(conn, tip_id)
        assert tip is not None
        return tip

    async def events(self, tip_id: int) -> list[tip_repo.Event]:
        async with self.db.read() as conn:
            return await tip_repo.events(conn, tip_id)

    async def audit_actions(self, target: str | None = None) -> list[str]:
        """The audit actions in order (those on the tip numbered ``target``, when given)."""
        where, params = ("WHERE target = ?", (target,)) if target else ("", ())
        async with (
            self.db.read() as conn,
            conn.execute(f"SELECT action FROM audit {where} ORDER BY id", params) as cur,
        ):
            return [row[0] for row in await cur.fetchall()]

    async def snapshot(self, tip_id: int) -> dict[str, Any]:
        """Everything a refused action must leave as it was."""
        queries = {
            "tip": ("SELECT * FROM tip WHERE id = ?", (tip_id,)),
            "events": ("SELECT * FROM tip_event ORDER BY id", ()),
            "audit": ("SELECT * FROM audit ORDER BY id", ()),
            "rewards": ("SELECT * FROM reward ORDER BY tip_id", ()),
            "drafts": ("SELECT telegram_id, kind FROM tip_draft ORDER BY id", ()),
            "notified": ("SELECT * FROM tip_notified ORDER BY tip_id, member_id", ()),
        }
        seen: dict[str, Any] = {}
        async with self.db.read() as conn:
            for name, (sql, params) in queries.items():
                async with conn.execute(sql, params) as cur:
                    seen[name] = [tuple(row) for row in await cur.fetchall()]
        return seen

    # ---------------------------------------------------------------- the flows

    async def receive(self) -> Tip:
        tips = self.plain
        draft = (await tips.begin_receive(self.lead)).draft.id
        await tips.receive_text(self.lead, "崔庄村民反映有人私自打井")
        await tips.choose_source(self.lead, draft, 0)
        await tips.choose_urgency(self.lead, draft, 0)
        await tips.place_here(self.lead, draft, await self.unit_id(UNIT))
        await tips.receive_photos_done(self.lead, draft)
        await tips.no_contact(self.lead, draft)
        return await tips.submit_receive(self.lead, draft)

    async def close(self, service: TipService, tip: Tip, valid: bool = True) -> Any:
        step = await service.begin_close(self.worker, tip.number)
        await service.close_text(self.worker, "已现场核实，井已封填")
        if service.settings.verify:  # a checked closure needs an "after" photo
            self.photos += 1
            after = IncomingPhoto(photo(self.photos), f"after-{self.photos}", "u", False)
            await service.add_photo(self.worker, CLOSE, self.photos, after)
        await service.close_photos_done(self.worker, step.draft.id)
        return await service.close(self.worker, step.draft.id, valid)

    async def send_back(self, tip: Tip, reason: str = "照片不清楚") -> Any:
        await self.checked.begin_return(self.lead, tip.id)
        return await self.checked.send_back(self.lead, reason)

    async def tip_in(self, state: TipState) -> Tip:
        """A fresh tip moved to ``state`` along the usual road."""
        tip = await self.receive()
        if state is TipState.RECEIVED:
            return tip
        tip = (await self.plain.assign(self.lead, tip.number, UNIT, 24)).tip
        if state is TipState.ASSIGNED:
            return tip
        service = self.checked if state is TipState.VERIFYING else self.plain
        tip = (await self.close(service, tip)).tip
        assert tip.state is state
        return tip

    def today(self) -> date:
        return self.services.calendar.today()

    async def prepare(self, action: TipAction, tip: Tip) -> Tip:
        """What must have happened for ``action`` to be taken on ``tip`` (in the state it
        leaves): an extension asked, a tip parked, an original to follow. Returns the tip
        the action is then taken on."""
        if action in (TipAction.GRANT_EXTENSION, TipAction.REFUSE_EXTENSION):
            later = self.today() + timedelta(days=5)
            await self.plain.ask_extension(self.worker, tip.number, later, "等待材料")
        elif action is TipAction.UNPARK:
            later = self.today() + timedelta(days=1)
            await self.plain.park(self.admin, tip.number, later, "等待管网")
        elif action is TipAction.FOLLOW:  # ``tip`` becomes the original of a new one
            await self.plain.assign(self.lead, tip.number, UNIT, 24)
            dup = await self.receive()
            await self.plain.link_duplicate(self.lead, dup.number, tip.number)
            self.original = tip
            return await self.tip(dup.id)
        return await self.tip(tip.id)

    async def attempt(self, action: TipAction, tip: Tip) -> Any:
        """Take ``action`` on ``tip`` through the service's public entry point, as the
        person who may take it."""
        later = self.today() + timedelta(days=5)
        if action is TipAction.DECLINE:
            return await self.plain.decline(self.lead, tip.number, Declined.REMIT, "不归本单位")
        if action is TipAction.ASK_EXTENSION:
            return await self.plain.ask_extension(self.worker, tip.number, later, "等待材料")
        if action in (TipAction.GRANT_EXTENSION, TipAction.REFUSE_EXTENSION):
            grant = action is TipAction.GRANT_EXTENSION
            return await self.plain.decide_extension(self.lead, tip.id, grant)
        if action is TipAction.PARK:
            return await self.plain.park(self.admin, tip.number, later, "等待管网")
        if action is TipAction.UNPARK:
            self.clock.advance(timedelta(days=1))
            return await self.plain.escalate()
        if action is TipAction.REMIND:  # 8 working hours before a 24 h deadline
            self.clock.advance(timedelta(hours=17))
            return await self.plain.escalate()
        if action is TipAction.CALL_BACK:
            return await self.plain.call_back(
                self.lead, tip.number, Satisfaction.SATISFIED, False, "满意"
            )
        if action is TipAction.REOPEN:
            return await self.plain.call_back(
                self.lead, tip.number, Satisfaction.DISSATISFIED, True, "井未封好"
            )
        if action is TipAction.FOLLOW:
            return await self.close(self.plain, self.original)
        if action is TipAction.ASSIGN:
            return await self.plain.assign(self.lead, tip.number, UNIT, 24)
        if action is TipAction.ACKNOWLEDGE:
            return await self.plain.acknowledge(self.worker, tip.id)
        if action is TipAction.CLOSE:
            return await self.close(self.plain, tip)
        if action is TipAction.SUBMIT:
            return await self.close(self.checked, tip)
        if action is TipAction.APPROVE:
            return await self.checked.approve(self.lead, tip.id)
        if action is TipAction.RETURN:
            return await self.send_back(tip)
        if action is TipAction.ESCALATE:
            self.clock.advance(timedelta(hours=25))  # past the 24 h deadline
            return await self.plain.escalate()
        raise AssertionError(f"no entry point takes {action} on an existing tip")


@pytest.fixture
async def town(city) -> City:
    town = City(city)
    await town.people()
    return town


def _pairs_not_in_table() -> list[tuple[TipState, TipAction]]:
    return [(s, a) for s in TipState for a in TipAction if rule(s, a) is None]


# ---------------------------------------------------------------------- the table


def test_the_table_has_one_row_per_state_and_action_and_reaches_every_state():
    moves = [(t.source, t.action) for t in TRANSITIONS]
    assert len(moves) == len(set(moves))
    assert {t.target for t in TRANSITIONS} == set(TipState)
    assert [t.action for t in TRANSITIONS if t.source is None] == [TipAction.RECEIVE]
    assert set(REFUSALS) == set(TipAction)
    # The stored words did not change: rows written before the enums read the same.
    assert [s.value for s in TipState] == ["received", "assigned", "verifying", "closed"]
    assert {t.action for t in TRANSITIONS} == set(TipAction)
    assert {k.value for k in EventKind} >= {"received", "assigned", "closed", "returned"}


@pytest.mark.parametrize("move", TRANSITIONS, ids=lambda t: f"{t.source}-{t.action}")
async def test_every_allowed_transition_moves_the_tip_and_records_event_and_audit(
    town: City, move: Transition
):
    if move.source is None:
        before_audit = await town.audit_actions()
        tip = await town.receive()
        added = (await town.audit_actions())[len(before_audit) :]
    else:
        tip = await town.prepare(move.action, await town.tip_in(move.source))
        before_audit = await town.audit_actions(tip.number)
        await town.attempt(move.action, tip)
        added = (await town.audit_actions(tip.number))[len(before_audit) :]
    after = await town.tip(tip.id)
    assert after.state is move.target
    last = (await town.events(tip.id))[-1]
    assert (last.kind, last.from_state, last.to_state) == (move.event, move.source, move.target)
    assert (last.actor_name is None) == (move.who is Who.SYSTEM)
    # Reopening is what a call-back does when the tipster is not satisfied: both recorded.
    before = ["tip.called_back"] if move.action is TipAction.REOPEN else []
    assert added == before + ([move.audit] if move.audit else [])


@pytest.mark.parametrize("state", list(TipState))
async def test_every_state_and_action_not_in_the_table_is_refused_and_changes_nothing(
    town: City, state: TipState
):
    tip = await town.tip_in(state)
    refused = [a for s, a in _pairs_not_in_table() if s is state]
    assert refused, state
    for action in refused:
        before = await town.snapshot(tip.id)
        # The one path itself, whoever asks.
        system = (TipAction.ESCALATE, TipAction.UNPARK, TipAction.REMIND, TipAction.FOLLOW)
        actor = None if action in system else town.admin
        async with town.db.transaction() as conn:
            with pytest.raises(Refused) as no:
                await town.plain._transition(conn, actor, tip, action, at=town.clock.now())
        assert no.value.key == REFUSALS[action].wrong_state, action
        assert await town.snapshot(tip.id) == before, action
        if action in (TipAction.RECEIVE, TipAction.FOLLOW):
            continue  # receiving makes a new tip; following comes of closing another
        # And the public entry point, as someone who could take it in the right state.
        if action in (TipAction.ESCALATE, TipAction.UNPARK, TipAction.REMIND):
            assert await town.attempt(action, tip) == []
        else:
            with pytest.raises(Refused) as no:
                await town.attempt(action, tip)
            expected = REFUSALS[action].wrong_state
            if action in (TipAction.CLOSE, TipAction.SUBMIT):  # /close NUMBER checks the
                # unit first: a tip assigned to nobody is outside everyone's reach.
                unassigned = state is TipState.RECEIVED
                expected = "deny.scope" if unassigned else "tip.wrong_state"
            assert no.value.key == expected, action
        assert await town.snapshot(tip.id) == before, action


async def test_without_a_tip_only_receiving_is_in_the_table(town: City):
    for action in TipAction:
        async with town.db.read() as conn:
            if action is TipAction.RECEIVE:
                assert (await town.plain._allowed(conn, town.lead, None, action)).target is (
                    TipState.RECEIVED
                )
            else:
                with pytest.raises(Refused):
                    await town.plain._allowed(conn, town.admin, None, action)


@pytest.mark.parametrize("move", TRANSITIONS, ids=lambda t: f"{t.source}-{t.action}")
async def test_who_may_not_take_a_transition_is_refused_and_nothing_changes(
    town: City, move: Transition
):
    tip = await town.tip_in(move.source) if move.source else None
    before = await town.snapshot(tip.id if tip else 0)
    # A worker of another district is in nobody's ``who``, and is not the deadline job.
    async with town.db.transaction() as conn:
        with pytest.raises(Refused) as no:
            await town.plain._transition(conn, town.outsider, tip, move.action, at=town.clock.now())
    assert no.value.key == REFUSALS[move.action].not_allowed
    assert await town.snapshot(tip.id if tip else 0) == before


async def test_who_may_act_through_the_entry_points(town: City):
    plain, checked = town.plain, town.checked
    with pytest.raises(Refused) as no:
        await plain.begin_receive(town.worker)  # leads and admins receive
    assert no.value.key == "tip.receive_leads_only"

    tip = await town.receive()
    with pytest.raises(Refused) as no:
        await plain.assign(town.other_lead, tip.number, "WL-MX", 24)
    assert no.value.key == "tip.unknown"  # another street's lead: as if there were none
    tip = (await plain.assign(town.lead, tip.number, UNIT, 24)).tip

    # Only the assigned unit and the units above it acknowledge and close.
    before = await town.snapshot(tip.id)
    with pytest.raises(Refused) as no:
        await plain.acknowledge(town.grid_worker, tip.id)
    assert no.value.key == "tip.stale"
    with pytest.raises(Refused) as no:
        await plain.begin_close(town.outsider, tip.number)
    assert no.value.key == "tip.unknown"
    assert await town.snapshot(tip.id) == before
    # Someone told of it before a reassignment is told whose unit it is now.
    tip = (await plain.assign(town.lead, tip.number, "WL-WH-WLG", 24)).tip
    with pytest.raises(Refused) as no:
        await plain.acknowledge(town.worker, tip.id)
    assert (no.value.key, no.value.fields["unit"]) == ("deny.scope", "卧龙岗社区")
    tip = (await plain.assign(town.lead, tip.number, UNIT, 24)).tip

    # Only the assigner (or an admin over the unit) checks a closure.
    tip = (await town.close(checked, tip)).tip
    for verify in (checked.approve, checked.begin_return):
        with pytest.raises(Refused) as no:
            await verify(town.worker, tip.id)
        assert no.value.key == "tip.not_verifier"
    assert (await checked.approve(town.admin, tip.id)).tip.state is TipState.CLOSED


async def test_a_tip_moved_since_it_was_read_is_not_moved_again(town: City):
    """Two people at once, or a button pressed twice: the state read guards the write."""
    read = await town.tip_in(TipState.VERIFYING)
    await town.checked.approve(town.lead, read.id)
    before = await town.snapshot(read.id)
    async with town.db.transaction() as conn:
        with pytest.raises(Refused) as no:
            # ``read`` still says verifying, so the table lets it through; the row does not.
            await town.checked._transition(
                conn, town.lead, read, TipAction.APPROVE, at=town.clock.now()
            )
    assert no.value.key == "tip.stale"
    assert await town.snapshot(read.id) == before


# ---------------------------------------------------------------------- acknowledging


async def test_acknowledged_once_per_assignment(town: City):
    tip = await town.tip_in(TipState.ASSIGNED)
    acked = await town.plain.acknowledge(town.worker, tip.id)
    assert acked.acknowledged_by == town.worker.id
    with pytest.raises(Refused) as no:
        await town.plain.acknowledge(town.lead, tip.id)
    assert no.value.key == "tip.already_acknowledged"
    again = (await town.plain.assign(town.lead, tip.number, UNIT, 24)).tip
    assert again.acknowledged_at is None and again.acknowledged_by is None
    assert (await town.plain.acknowledge(town.lead, tip.id)).acknowledged_by == town.lead.id


# ---------------------------------------------------------------------- deadlines


async def test_deadline_default_bounds_and_overdue(town: City):
    tip = await town.receive()
    for hours in (0, 24 * 90 + 1):
        with pytest.raises(Refused) as no:
            await town.plain.assign(town.lead, tip.number, UNIT, hours)
        assert no.value.key == "tip.bad_hours"
    start = town.clock.now()
    outcome = await town.plain.assign(town.lead, tip.number, UNIT, None)
    tip = outcome.tip
    hours = town.plain.settings.deadline_hours
    assert tip.deadline == start + timedelta(hours=hours)
    assert [n.telegram_id for n in outcome.notices] == [town.worker.telegram_id]
    assert all(n.acknowledge_button for n in outcome.notices)
    assert not town.plain.is_overdue(tip)
    town.clock.advance(timedelta(hours=hours, seconds=1))
    assert town.plain.is_overdue(tip)
    assert await town.plain.overdue_by_unit() == {await town.unit_id(UNIT): 1}
    closed = (await town.close(town.plain, tip)).tip
    assert not town.plain.is_overdue(closed)
    assert await town.plain.overdue_by_unit() == {}


# ---------------------------------------------------------------------- escalation


async def test_overdue_tips_escalate_one_level_at_a_time(town: City):
    tip = (await town.plain.assign(town.lead, (await town.receive()).number, UNIT, 1)).tip
    every = timedelta(hours=town.plain.settings.escalate_every_hours)
    # Not overdue yet; due within tips.remind_hours, so the unit is reminded (once).
    reminded = await town.plain.escalate()
    assert [(n.telegram_id, n.key) for n in reminded] == [
        (town.worker.telegram_id, "tip.reminder_notice")
    ]
    assert await town.plain.escalate() == []

    town.clock.advance(timedelta(hours=1, seconds=1))
    first = await town.plain.escalate()
    # The unit is reminded, and the leads of its parent (the street) are told.
    assert [(n.telegram_id, n.key) for n in first] == [
        (town.worker.telegram_id, "tip.overdue_notice"),
        (town.lead.telegram_id, "tip.escalated_notice"),
    ]
    assert await town.plain.escalate() == []  # never twice for one level
    town.clock.advance(every - timedelta(seconds=1))
    assert await town.plain.escalate() == []  # not yet time for the next level

    town.clock.advance(timedelta(seconds=1))
    second = await town.plain.escalate()
    assert [(n.telegram_id, n.fields["level"]) for n in second] == [
        (town.district_lead.telegram_id, 2)
    ]
    town.clock.advance(every)
    third = await town.plain.escalate()
    assert [n.telegram_id for n in third] == [town.admin.telegram_id]
    town.clock.advance(every)
    assert await town.plain.escalate() == []  # nobody above the top

    escalated = [e for e in await town.events(tip.id) if e.kind is EventKind.ESCALATED]
    assert [(e.note_key, e.note_fields, e.actor_name) for e in escalated] == [
        ("escalated", {"unit": "武侯街道"}, None),
        ("escalated", {"unit": "卧龙区"}, None),
        ("escalated", {"unit": "南阳市"}, None),
    ]
    assert (await town.tip(tip.id)).escalation_level == 3
    # Those told may read it now; a new assignment starts the ladder again.
    assert (await town.plain.timeline(town.district_lead, tip.number)).tip.id == tip.id
    again = (await town.plain.assign(town.lead, tip.number, UNIT, 1)).tip
    assert (again.escalation_level, again.escalated_at) == (0, None)


async def test_a_closed_or_checked_tip_does_not_escalate(town: City):
    for state in (TipState.VERIFYING, TipState.CLOSED):
        await town.tip_in(state)
    town.clock.advance(timedelta(hours=25))
    assert await town.plain.escalate() == []


# ---------------------------------------------------------------------- closing and rewards


async def test_a_valid_closure_makes_a_pending_reward_an_invalid_one_none(town: City):
    valid = await town.tip_in(TipState.ASSIGNED)
    outcome = await town.close(town.plain, valid, valid=True)
    assert outcome.reward_created and outcome.tip.valid is True
    invalid = await town.tip_in(TipState.ASSIGNED)
    outcome = await town.close(town.plain, invalid, valid=False)
    assert not outcome.reward_created and outcome.tip.valid is False
    async with town.db.read() as conn:
        assert (await tip_repo.reward_of(conn, valid.id)).state is RewardState.PENDING
        assert await tip_repo.reward_of(conn, invalid.id) is None
    assert [r.number for r in await town.plain.pending_rewards(town.admin)] == [valid.number]


async def test_a_checked_closure_rewards_only_when_approved(town: City):
    tip = await town.tip_in(TipState.ASSIGNED)
    submitted = await town.close(town.checked, tip)
    assert not submitted.reward_created and submitted.tip.state is TipState.VERIFYING
    assert [(n.telegram_id, n.verify_buttons) for n in submitted.notices] == [
        (town.lead.telegram_id, True)
    ]
    returned = await town.send_back(submitted.tip, "照片不清楚")
    tip = returned.tip
    assert (tip.state, tip.returns, tip.valid, tip.closed_at) == (TipState.ASSIGNED, 1, None, None)
    assert [n.telegram_id for n in returned.notices] == [town.worker.telegram_id]
    assert (await town.events(tip.id))[-1].note == "照片不清楚"

    again = await town.close(town.checked, tip, valid=False)
    approved = await town.checked.approve(town.lead, again.tip.id)
    assert approved.tip.state is TipState.CLOSED and not approved.reward_created
    tip = await town.tip_in(TipState.VERIFYING)
    approved = await town.checked.approve(town.lead, tip.id)
    assert approved.reward_created


async def test_a_reward_is_settled_once_by_someone_over_the_unit(town: City):
    tip = await town.tip_in(TipState.CLOSED)
    plain = town.plain
    with pytest.raises(Refused) as no:
        await plain.settle(town.admin, tip.number, "maybe", None)
    assert no.value.key == "usage.reward"
    with pytest.raises(Refused) as no:
        await plain.settle(town.other_lead, tip.number, "paid", None)
    assert no.value.key == "tip.unknown"
    before = await town.audit_actions()
    settled = await plain.settle(town.admin, tip.number, "paid", "现金200元")
    assert (settled.state, settled.note) == (RewardState.PAID, "现金200元")
    last = (await town.events(tip.id))[-1]
    assert (last.kind, last.from_state, last.to_state) == (EventKind.REWARD_PAID, None, None)
    assert (await town.audit_actions())[len(before) :] == ["reward.paid"]
    assert (await town.tip(tip.id)).state is TipState.CLOSED  # a reward is not a state
    with pytest.raises(Refused) as no:
        await plain.settle(town.admin, tip.number, "declined", None)
    assert (no.value.key, no.value.fields["state"]) == ("reward.settled", RewardState.PAID)

    invalid = await town.tip_in(TipState.ASSIGNED)
    await town.close(plain, invalid, valid=False)
    with pytest.raises(Refused) as no:
        await plain.settle(town.admin, invalid.number, "declined", None)
    assert no.value.key == "reward.none"


# ---------------------------------------------------------------------- case practice


async def test_staff_sources_are_stored_and_earn_no_reward(town: City):
    """网格员巡查发现 and 部门交办 are sources (migration 16 widened the CHECK); a tip found
    by staff or handed over by a department has no tipster to reward."""
    from bot.formats.tipfile import SOURCES

    tips = town.plain
    unit_id = await town.unit_id(UNIT)
    for source in ("patrol", "department"):
        draft = (await tips.begin_receive(town.lead)).draft.id
        await tips.receive_text(town.lead, "巡查发现有人私自打井")
        await tips.choose_source(town.lead, draft, SOURCES.index(source))
        await tips.choose_urgency(town.lead, draft, 0)
        await tips.place_here(town.lead, draft, unit_id)
        await tips.receive_photos_done(town.lead, draft)
        await tips.no_contact(town.lead, draft)
        tip = await tips.submit_receive(town.lead, draft)
        assert tip.source == source
        tip = (await tips.assign(town.lead, tip.number, UNIT, 24)).tip
        outcome = await town.close(tips, tip, valid=True)
        assert outcome.tip.valid and not outcome.reward_created
    async with town.db.transaction() as conn:
        with pytest.raises(Exception, match=r"(?i)check"):
            await tip_repo.update(conn, tip.id, None, source="fax")
