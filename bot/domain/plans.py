"""Inspection plans (检查任务): which sites must get a report by a deadline (回头看) or
once every round of N days (轮检), and how far each unit has got. Telegram-free.

Rounds. A one-off plan has one round, 0, from its making to its deadline (the end of
the deadline day); a report after the deadline still counts, late. A cycle plan's round
``k`` is the ``N`` local days from ``start_day + k·N`` (a weekly plan's rounds are the
calendar weeks, Monday to Sunday). A site is *due* while no report counted for it in the
current round; it is *overdue* once the one-off deadline has passed, or (a cycle) when it
missed the whole previous round as well. A report counts for the round it falls in when
the plan's rule says so: any report, or one whose status the campaign marks done.

Progress is kept by the submit transaction (``record_report``): each site's last round
moves, and with it one count in ``plan_tally`` (per plan, unit and round). Reading
progress sums those few rows by unit path — never the reports.

``plan_progress`` is the plain function other parts (the bulletin's documents) call for
a unit's plan tables.
"""

from __future__ import annotations

import html
import json
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from enum import StrEnum
from typing import Any

from bot.config import Config
from bot.core import access, geo, periods
from bot.core.access import Audience
from bot.core.clock import Clock
from bot.core.errors import Refused
from bot.domain import audit
from bot.domain.flows import Flow, FlowTable, StepSpec
from bot.formats.columns import aligned
from storage import chats as chat_repo
from storage import plans as plan_repo
from storage import sites as site_repo
from storage import units as unit_repo
from storage.db import Connection, Database
from storage.members import Member
from storage.plans import NEVER, DueSite, Membership, NewPlan, Plan
from storage.units import Unit

NAME_MAX = 30
TAG_MAX = 20
CYCLE_MAX = 366
DRAFT_HOURS = 24
TODO_LIMIT = 20  # sites shown by /todo (the rest are counted)
NEAR_LIMIT = 10
RULES = ("any", "done")
PROGRESS_COLUMNS = ("unit", "due", "done", "rate", "overdue")


# ---------------------------------------------------------------------- rounds


def round_of(plan: Plan, moment: datetime, zone: Any) -> int:
    """The round ``moment`` falls in (0 for a one-off plan)."""
    if plan.cycle_days is None:
        return 0
    days = (periods.day_of(moment, zone) - plan.start_day).days
    return max(0, days // plan.cycle_days)


def round_end(plan: Plan, round_: int, zone: Any) -> datetime:
    """When round ``round_`` ends: the one-off deadline, or the start of the next round."""
    if plan.cycle_days is None:
        assert plan.deadline is not None
        return plan.deadline
    return periods.start_of(plan.start_day + timedelta(days=(round_ + 1) * plan.cycle_days), zone)


def overdue_below(plan: Plan, now: datetime, zone: Any) -> int:
    """Sites whose last round is below this are overdue now (0 when none can be)."""
    if plan.cycle_days is None:
        assert plan.deadline is not None
        return 0 if now >= plan.deadline else NEVER
    current = round_of(plan, now, zone)
    return current - 1 if current >= 1 else NEVER


def start_day_for(day: date, weekly: bool) -> date:
    """A plan's first round starts on the day it is made; a weekly plan's on that Monday."""
    return day - timedelta(days=day.weekday()) if weekly else day


def percent(done: int, due: int) -> str:
    """完成率 as the official table prints it: truncated to a whole percent."""
    return f"{done * 100 // due}%" if due else "—"


def _overlaps(unit: Unit, plan: Plan) -> bool:
    """Whether the plan's scope and the unit's subtree share any unit."""
    return unit.path.startswith(plan.unit_path) or plan.unit_path.startswith(unit.path)


def covering(unit: Unit, plans: list[Plan]) -> list[Plan]:
    """The plans among ``plans`` that ``progress_many`` shows for ``unit`` (those whose
    scope and the unit's subtree share a unit)."""
    return [plan for plan in plans if _overlaps(unit, plan)]


# ---------------------------------------------------------------------- results


@dataclass(frozen=True)
class ProgressRow:
    unit: Unit
    due: int = 0  # 应查
    done: int = 0  # 已查 this round
    overdue: int = 0  # 逾期
    on_time: int = 0

    @property
    def rate(self) -> str:
        """完成率, truncated to a whole percent."""
        return percent(self.done, self.due)

    @property
    def started(self) -> bool:
        """Whether the unit has done any of its sites this round."""
        return self.done > 0 or self.due == 0


@dataclass(frozen=True)
class PlanProgress:
    plan: Plan
    unit: Unit
    round: int
    round_ends: datetime
    total: ProgressRow
    rows: list[ProgressRow] = field(default_factory=list)

    @property
    def not_started(self) -> list[Unit]:
        """Child units with sites due and none done (未开展)."""
        return [row.unit for row in self.rows if not row.started]


@dataclass(frozen=True)
class TodoItem:
    plan: Plan
    site: DueSite
    deadline: datetime
    overdue: bool
    distance_m: float | None = None


@dataclass(frozen=True)
class Todo:
    items: list[TodoItem]
    due: int
    overdue: int


@dataclass(frozen=True)
class PlanSpec:
    """A plan as someone asked for it, before it is checked."""

    name: str
    category: str
    unit_code: str
    tag: str | None
    deadline: date | None
    cycle_days: int | None
    weekly: bool
    done_rule: str


@dataclass(frozen=True)
class Preview:
    spec: PlanSpec
    unit: Unit
    matching: int


@dataclass(frozen=True)
class SitePlans:
    plan: Plan
    done: bool
    overdue: bool


# ---------------------------------------------------------------------- the flow


class PlanDraftStep(StrEnum):
    """The questions of a plan drafted with /plan, in the order ``PLAN_FLOW`` asks them."""

    NAME = "name"
    CATEGORY = "category"
    SCOPE = "scope"
    TAG = "tag"
    SCHEDULE = "schedule"
    RULE = "rule"
    SUMMARY = "summary"


def name_text(text: str) -> str:
    """A plan name as typed: spaces collapsed, 1 to ``NAME_MAX`` long."""
    text = " ".join(text.split())
    if not 1 <= len(text) <= NAME_MAX:
        raise Refused("plan.bad_name", max=NAME_MAX)
    return text


def tag_text(text: str) -> str:
    """A tag filter as typed: trimmed, 1 to ``TAG_MAX`` long, no semicolon."""
    text = text.strip()
    if not 1 <= len(text) <= TAG_MAX or ";" in text:
        raise Refused("plan.bad_tag", max=TAG_MAX)
    return text


def _draft_step(step: PlanDraftStep, key: str | None, parse: Any = None) -> StepSpec[Any]:
    """A step answered by ``key`` in the draft's data; 修改 back to it removes that key
    (``clears`` names it), so the step is asked again and the others keep their answers."""
    done = (lambda d: key in d) if key else None
    return StepSpec(
        step,
        f"plan.ask.{step}",
        f"plan.expect.{step}",
        done=done,
        parse=parse,
        clears={key: None} if key else None,
        label=f"plan.step.{step}" if key else None,
    )


PLAN_FLOW = FlowTable(
    Flow.PLAN,
    PlanDraftStep,
    (
        _draft_step(PlanDraftStep.NAME, "name", name_text),
        _draft_step(PlanDraftStep.CATEGORY, "category"),
        _draft_step(PlanDraftStep.SCOPE, "unit", lambda t: t.strip()),
        _draft_step(PlanDraftStep.TAG, "tag", tag_text),
        _draft_step(PlanDraftStep.SCHEDULE, "schedule", lambda t: t.strip()),
        _draft_step(PlanDraftStep.RULE, "rule"),
        _draft_step(PlanDraftStep.SUMMARY, None),
    ),
)


EDITABLE = PLAN_FLOW.editable  # the steps 修改 offers; a button carries the index


@dataclass(frozen=True)
class PlanDraft:
    id: int
    data: dict[str, Any]
    step: PlanDraftStep
    preview: Preview | None = None


# ---------------------------------------------------------------------- the service


class PlanService:
    def __init__(self, db: Database, clock: Clock, config: Config) -> None:
        self.db = db
        self.clock = clock
        self.config = config
        self.zone = config.locale.zone
        self.done_statuses = {
            (category.code, status.code)
            for category in config.campaign.categories
            for status in category.statuses
            if status.done
        }

    # ------------------------------------------------------------ the submit hook

    def counts(self, plan: Plan, status: str) -> bool:
        """Whether a report with ``status`` counts for the plan."""
        return plan.done_rule == "any" or (plan.category, status) in self.done_statuses

    async def record_report(
        self, conn: Connection, site_id: int, status: str, now: datetime
    ) -> int:
        """Inside the submit transaction: the report counts for the round it falls in, in
        every open plan the site is in. Returns in how many plans it counted."""
        memberships = await plan_repo.memberships(conn, site_id)
        if not memberships:
            return 0
        counted = 0
        for member in memberships:
            plan = await plan_repo.by_id(conn, member.plan_id)
            if plan is None or not self.counts(plan, status):
                continue
            current = round_of(plan, now, self.zone)
            if member.last_round >= current:
                continue
            await plan_repo.mark_done(conn, member, current, self._on_time(plan, member, now), now)
            counted += 1
        return counted

    def _on_time(self, plan: Plan, member: Membership, now: datetime) -> bool:
        if plan.cycle_days is None:
            assert plan.deadline is not None
            return now < plan.deadline
        current = round_of(plan, now, self.zone)
        return current == 0 or member.last_round >= current - 1

    async def site_joined(self, conn: Connection, site_id: int) -> int:
        """Inside a transaction: a new (or newly tagged) site joins the open plans it
        matches. Returns how many."""
        site = await site_repo.by_id(conn, site_id)
        if site is None:
            return 0
        tags = set(site.tag_list)
        joined = 0
        for plan in await plan_repo.open_plans(conn):
            if (
                plan.category == site.category
                and site.unit_path.startswith(plan.unit_path)
                and (plan.tag is None or plan.tag in tags)
            ):
                joined += await plan_repo.join_one(
                    conn, plan.id, site.id, site.unit_id, site.unit_path
                )
        return joined

    async def refresh_all(self, conn: Connection) -> int:
        """Inside a transaction, after a bulk import: sites that moved take their plan rows
        along, sites that now match join; each open plan's tally is counted again."""
        joined = 0
        for plan in await plan_repo.open_plans(conn):
            await plan_repo.follow_moves(conn, plan.id)
            joined += await plan_repo.join_matching(conn, plan)
        return joined

    # ------------------------------------------------------------ making plans

    async def preview(self, actor: Member | None, spec: PlanSpec) -> Preview:
        """Check a plan and count the sites it would cover, saving nothing."""
        async with self.db.read() as conn:
            return await self._check(conn, actor, spec)

    async def _check(self, conn: Connection, actor: Member | None, spec: PlanSpec) -> Preview:
        name_text(spec.name)
        if self.config.campaign.category(spec.category) is None:
            raise Refused("plan.bad_category", category=spec.category)
        unit = await unit_repo.get_by_code(conn, spec.unit_code)
        if unit is None:
            raise Refused("plan.unknown_unit", code=spec.unit_code)
        if actor is not None and access.audience_of(actor) < Audience.LEAD:
            raise Refused("deny.role")
        if actor is not None and not access.in_scope(actor, unit):
            raise Refused("deny.scope", unit=unit.name)
        if spec.done_rule not in RULES:
            raise Refused("plan.bad_rule")
        if (spec.deadline is None) == (spec.cycle_days is None):
            raise Refused("plan.bad_schedule")
        if spec.cycle_days is not None and not 1 <= spec.cycle_days <= CYCLE_MAX:
            raise Refused("plan.bad_cycle", max=CYCLE_MAX)
        today = periods.day_of(self.clock.now(), self.zone)
        if spec.deadline is not None and spec.deadline < today:
            raise Refused("plan.past_deadline", day=spec.deadline.isoformat())
        matching = await plan_repo.count_matching(conn, self._new(spec, unit, actor), unit.path)
        return Preview(spec, unit, matching)

    def _new(self, spec: PlanSpec, unit: Unit, actor: Member | None) -> NewPlan:
        now = self.clock.now()
        today = periods.day_of(now, self.zone)
        deadline = (
            periods.start_of(spec.deadline + timedelta(days=1), self.zone)
            if spec.deadline
            else None
        )
        return NewPlan(
            name=spec.name,
            category=spec.category,
            unit_id=unit.id,
            tag=spec.tag,
            deadline=deadline,
            cycle_days=spec.cycle_days,
            weekly=spec.weekly,
            done_rule=spec.done_rule,
            start_day=start_day_for(today, spec.weekly),
            created_by=actor.id if actor else None,
            created_at=now,
        )

    async def create(self, actor: Member | None, spec: PlanSpec) -> tuple[Plan, int]:
        """Save a plan (checked again) with every matching site; audited. A plan that
        would cover no site is refused."""
        async with self.db.transaction() as conn:
            preview = await self._check(conn, actor, spec)
            if preview.matching == 0:
                raise Refused("plan.no_sites")
            plan_id = await plan_repo.insert(conn, self._new(spec, preview.unit, actor))
            plan = await plan_repo.by_id(conn, plan_id)
            assert plan is not None
            joined = await plan_repo.join_matching(conn, plan)
            await audit.record(
                conn,
                self.clock,
                "plan.created",
                actor=actor,
                target=plan.name,
                unit_id=plan.unit_id,
                category=plan.category,
                tag=plan.tag,
                deadline=spec.deadline.isoformat() if spec.deadline else None,
                cycle_days=plan.cycle_days,
                rule=plan.done_rule,
                sites=joined,
            )
        return plan, joined

    async def close(self, actor: Member | None, plan_id: int) -> Plan:
        """Close an open plan in the actor's scope; audited."""
        async with self.db.transaction() as conn:
            plan = await plan_repo.by_id(conn, plan_id)
            if plan is None or plan.state != "open":
                raise Refused("plan.stale")
            if actor is not None and not plan.unit_path.startswith(actor.unit_path):
                raise Refused("deny.scope", unit=plan.unit_name)
            await plan_repo.close(conn, plan.id, actor.id if actor else None, self.clock.now())
            await audit.record(
                conn, self.clock, "plan.closed", actor=actor, target=plan.name, unit_id=plan.unit_id
            )
        return plan

    async def visible(self, actor: Member) -> list[Plan]:
        """The open plans that cover any of the actor's scope."""
        async with self.db.read() as conn:
            plans = await plan_repo.open_plans(conn)
        return [
            p
            for p in plans
            if p.unit_path.startswith(actor.unit_path) or actor.unit_path.startswith(p.unit_path)
        ]

    async def find(self, actor: Member, name: str) -> Plan:
        """The open plan of that name the actor can see (the newest); ``plan.unknown``."""
        async with self.db.read() as conn:
            found = await plan_repo.by_name(conn, name)
        for plan in found:
            if plan.state == "open" and (
                plan.unit_path.startswith(actor.unit_path)
                or actor.unit_path.startswith(plan.unit_path)
            ):
                return plan
        raise Refused("plan.unknown", name=name)

    # ------------------------------------------------------------ progress

    async def progress(self, actor: Member, plan: Plan) -> PlanProgress:
        """/plan NAME: the plan's progress by child unit of the actor's unit (or of the
        plan's scope, when that lies below the actor's)."""
        code = plan.unit_code if plan.unit_path.startswith(actor.unit_path) else actor.unit_code
        result = await self.progress_many([code], [plan])
        return result[code][0]

    async def progress_many(
        self, unit_codes: list[str], plans: list[Plan] | None = None, at: datetime | None = None
    ) -> dict[str, list[PlanProgress]]:
        """For each unit, the progress of every open plan that covers it, by child unit. Per
        plan one read: the tally rows of the units asked for and their children, for the
        current round, the one before and the count of all sites."""
        now = at or self.clock.now()
        async with self.db.read() as conn:
            if plans is None:
                plans = await plan_repo.open_plans(conn)
            asked = []
            kids: dict[int, list[Unit]] = {}
            for code in unit_codes:
                unit = await unit_repo.get_by_code(conn, code)
                if unit is None:
                    raise Refused("unit.unknown", code=code)
                asked.append(unit)
                children = await unit_repo.children(conn, unit.id)
                kids[unit.id] = sorted(
                    (u for u in children if u.active), key=lambda u: (u.sort_order, u.code)
                )
            figures: dict[int, dict[int, dict[str, int]]] = {}
            for plan in plans:
                wanted = {
                    u.id
                    for unit in asked
                    if _overlaps(unit, plan)
                    for u in (unit, *kids.get(unit.id, []))
                }
                figures[plan.id] = await self._figures(conn, plan, sorted(wanted), now)
        out: dict[str, list[PlanProgress]] = {}
        for code, unit in zip(unit_codes, asked, strict=True):
            found = []
            for plan in plans:
                if not _overlaps(unit, plan):
                    continue
                slots = figures[plan.id]
                current = round_of(plan, now, self.zone)
                total = ProgressRow(unit, **slots.get(unit.id, {}))
                rows = [
                    ProgressRow(child, **slots[child.id])
                    for child in kids.get(unit.id, [])
                    if slots.get(child.id, {}).get("due")
                ]
                ends = round_end(plan, current, self.zone)
                found.append(PlanProgress(plan, unit, current, ends, total, rows))
            out[code] = found
        return out

    async def _figures(
        self, conn: Connection, plan: Plan, unit_ids: list[int], now: datetime
    ) -> dict[int, dict[str, int]]:
        """Due, done, overdue and on time of one plan for these units (any level)."""
        current = round_of(plan, now, self.zone)
        late = overdue_below(plan, now, self.zone)
        rounds = sorted({plan_repo.ALL, current, *([late] if late > NEVER else [])})
        counts: dict[int, dict[int, tuple[int, int]]] = {}
        for unit_id, round_, sites, on_time in await plan_repo.tallies(
            conn, plan.id, unit_ids, rounds
        ):
            counts.setdefault(unit_id, {})[round_] = (sites, on_time)
        out = {}
        for unit_id, by_round in counts.items():
            due = by_round.get(plan_repo.ALL, (0, 0))[0]
            done, on_time = by_round.get(current, (0, 0))
            kept = done + (by_round.get(late, (0, 0))[0] if late not in (NEVER, current) else 0)
            overdue = due - kept if late > NEVER else 0
            out[unit_id] = {"due": due, "done": done, "overdue": overdue, "on_time": on_time}
        return out

    async def ranking_figures(
        self, unit_ids: list[int], now: datetime
    ) -> dict[int, tuple[int, int, int]]:
        """(due, done, on time) over the open plans' current rounds, for these units: the
        ranking's plan columns."""
        out: dict[int, tuple[int, int, int]] = {}
        async with self.db.read() as conn:
            for plan in await plan_repo.open_plans(conn):
                for unit_id, slot in (await self._figures(conn, plan, unit_ids, now)).items():
                    due, done, on_time = out.get(unit_id, (0, 0, 0))
                    out[unit_id] = (
                        due + slot["due"],
                        done + slot["done"],
                        on_time + slot["on_time"],
                    )
        return out

    # ------------------------------------------------------------ for workers

    async def todo(self, member: Member, limit: int = TODO_LIMIT) -> Todo:
        """The sites of the member's unit due in open plans: overdue first, then by deadline."""
        return await self._due(member, limit)

    async def _due(self, member: Member, limit: int) -> Todo:
        now = self.clock.now()
        async with self.db.read() as conn:
            plans = await plan_repo.open_plans(conn)
            unit = await unit_repo.get_by_id(conn, member.unit_id)
            assert unit is not None
            plans = [p for p in plans if _overlaps(unit, p)]
            unit_ids = (
                [unit.id]
                if unit.level == "grid"
                else [u.id for u in await unit_repo.subtree(conn, unit)]
            )
            rows = await plan_repo.rows_in_units(conn, [p.id for p in plans], unit_ids)
            by_id = {p.id: p for p in plans}
            state = {
                p.id: (
                    round_of(p, now, self.zone),
                    overdue_below(p, now, self.zone),
                    round_end(p, round_of(p, now, self.zone), self.zone),
                )
                for p in plans
            }
            listed = []
            due = overdue = 0
            for plan_id, site_id, last in rows:
                current, late, deadline = state[plan_id]
                if last >= current:
                    continue
                due += 1
                overdue += last < late
                listed.append((last >= late, deadline, site_id, plan_id))
            listed.sort()
            shown = listed[:limit]
            sites = {
                (s.plan_id, s.site_id): s
                for s in await plan_repo.due_sites(conn, [(p, i) for _, _, i, p in shown])
            }
        items = [
            TodoItem(by_id[plan_id], sites[(plan_id, site_id)], deadline, not in_time)
            for in_time, deadline, site_id, plan_id in shown
        ]
        items.sort(key=lambda i: (not i.overdue, i.deadline, i.site.code))
        return Todo(items, due, overdue)

    async def near(
        self, member: Member, latitude: float, longitude: float, limit: int = NEAR_LIMIT
    ) -> list[TodoItem]:
        """The due sites with coordinates in the member's scope nearest to a point."""
        todo = await self._due(member, 2000)
        placed = [
            replace(
                item,
                distance_m=geo.distance_m(
                    (latitude, longitude), (item.site.latitude, item.site.longitude)
                ),
            )
            for item in todo.items
            if item.site.latitude is not None and item.site.longitude is not None
        ]
        placed.sort(key=lambda i: (i.distance_m, i.site.code))
        return placed[:limit]

    async def due_counts(self, member: Member) -> tuple[int, int]:
        """(due, overdue) for the daily reminder."""
        todo = await self._due(member, 0)
        return todo.due, todo.overdue

    async def site_plans(self, site_id: int) -> list[SitePlans]:
        """The open plans a site is in, and whether it is done or overdue in each."""
        now = self.clock.now()
        async with self.db.read() as conn:
            found = await plan_repo.site_plans(conn, site_id)
        return [
            SitePlans(
                plan,
                last >= round_of(plan, now, self.zone),
                last < overdue_below(plan, now, self.zone),
            )
            for plan, last in found
        ]

    async def remaining(self, actor: Member, plan: Plan) -> list[DueSite]:
        """The sites of the actor's scope in the plan still to be inspected this round."""
        current = round_of(plan, self.clock.now(), self.zone)
        path = actor.unit_path if actor.unit_path.startswith(plan.unit_path) else plan.unit_path
        async with self.db.read() as conn:
            return await plan_repo.remaining_in_subtree(conn, plan.id, path, current)

    # ------------------------------------------------------------ the /plan draft

    async def draft(self, member: Member) -> PlanDraft | None:
        """The member's plan draft (an expired one is dropped), or None."""
        async with self.db.read() as conn:
            found = await plan_repo.draft_of(conn, member.telegram_id)
        if found is None:
            return None
        draft_id, data, expires = found
        if expires <= self.clock.now():
            await self.cancel_draft(member)
            return None
        return await self._view(member, draft_id, json.loads(data))

    async def start_draft(self, member: Member) -> PlanDraft:
        """/plan: a new draft (a lead or admin only), replacing any earlier one."""
        if access.audience_of(member) < Audience.LEAD:
            raise Refused("deny.role")
        now = self.clock.now()
        async with self.db.transaction() as conn:
            draft_id = await plan_repo.draft_create(
                conn, member.telegram_id, member.id, now, now + timedelta(hours=DRAFT_HOURS)
            )
            await chat_repo.set_active_flow(conn, member.telegram_id, Flow.PLAN, now)
        return await self._view(member, draft_id, {})

    async def answer(self, member: Member, draft_id: int, **changes: Any) -> PlanDraft:
        """Record answers on the member's draft ``draft_id`` (``plan.stale`` otherwise)."""
        draft = await self.draft(member)
        if draft is None or draft.id != draft_id:
            raise Refused("plan.stale")
        data = {**draft.data, **changes}
        now = self.clock.now()
        async with self.db.transaction() as conn:
            await plan_repo.draft_save(
                conn, draft_id, json.dumps(data), now + timedelta(hours=DRAFT_HOURS)
            )
        return await self._view(member, draft_id, data)

    async def edit(self, member: Member, draft_id: int, index: int) -> PlanDraft:
        """修改 at the summary: go back to editable step ``index`` (its answer removed, the
        others kept, so the summary comes back once it is answered again); ``plan.stale``
        unless the draft is the member's current one at its summary."""
        draft = await self.draft(member)
        if (
            draft is None
            or draft.id != draft_id
            or draft.step is not PlanDraftStep.SUMMARY
            or not 0 <= index < len(EDITABLE)
        ):
            raise Refused("plan.stale")
        clears = PLAN_FLOW[EDITABLE[index]].clears
        assert clears is not None
        data = {key: value for key, value in draft.data.items() if key not in clears}
        async with self.db.transaction() as conn:
            await plan_repo.draft_save(
                conn, draft_id, json.dumps(data), self.clock.now() + timedelta(hours=DRAFT_HOURS)
            )
        return await self._view(member, draft_id, data)

    async def answer_text(self, member: Member, draft: PlanDraft, text: str) -> PlanDraft:
        """Typed text at the draft's step, checked."""
        value = PLAN_FLOW.parse(draft.step, text)
        if draft.step is PlanDraftStep.SCOPE:
            async with self.db.read() as conn:
                unit = await unit_repo.get_by_code(conn, value)
            if unit is None:
                raise Refused("plan.unknown_unit", code=value)
            if not access.in_scope(member, unit):
                raise Refused("deny.scope", unit=unit.name)
            return await self.answer(member, draft.id, unit=unit.code)
        if draft.step is PlanDraftStep.SCHEDULE:
            return await self.answer(member, draft.id, schedule=self.schedule(value))
        if draft.step is PlanDraftStep.NAME:
            return await self.answer(member, draft.id, name=value)
        if draft.step is PlanDraftStep.TAG:
            return await self.answer(member, draft.id, tag=value)
        raise Refused(PLAN_FLOW[draft.step].expect)

    def schedule(self, value: str) -> dict[str, Any]:
        """A deadline (YYYY-MM-DD), a number of days, or the word for weekly (checked)."""
        day = periods.day(value)
        if day is not None:
            if day < periods.day_of(self.clock.now(), self.zone):
                raise Refused("plan.past_deadline", day=day.isoformat())
            return {"deadline": day.isoformat()}
        digits = value.strip()
        if digits.isascii() and digits.isdigit():
            days = int(digits)
            if not 1 <= days <= CYCLE_MAX:
                raise Refused("plan.bad_cycle", max=CYCLE_MAX)
            return {"cycle_days": days}
        raise Refused("plan.expect.schedule")

    def spec_of(self, data: dict[str, Any]) -> PlanSpec:
        """The plan a complete draft asks for."""
        schedule = data.get("schedule") or {}
        deadline = schedule.get("deadline")
        return PlanSpec(
            name=data["name"],
            category=data["category"],
            unit_code=data["unit"],
            tag=data.get("tag") or None,
            deadline=date.fromisoformat(deadline) if deadline else None,
            cycle_days=schedule.get("cycle_days"),
            weekly=bool(schedule.get("weekly")),
            done_rule=data["rule"],
        )

    async def _view(self, member: Member, draft_id: int, data: dict[str, Any]) -> PlanDraft:
        step = PLAN_FLOW.next_step(data)
        preview = None
        if step is PlanDraftStep.SUMMARY:
            preview = await self.preview(member, self.spec_of(data))
        return PlanDraft(draft_id, data, step, preview)

    async def save_draft(self, member: Member, draft_id: int) -> tuple[Plan, int]:
        """保存: the draft becomes a plan (checked again); ``plan.stale`` unless at its summary."""
        draft = await self.draft(member)
        if draft is None or draft.id != draft_id or draft.step is not PlanDraftStep.SUMMARY:
            raise Refused("plan.stale")
        made = await self.create(member, self.spec_of(draft.data))
        await self.cancel_draft(member)
        return made

    async def cancel_draft(self, member: Member, draft_id: int | None = None) -> bool:
        """Drop the member's plan draft (only if it is ``draft_id``, when given); False when
        there was none."""
        async with self.db.transaction() as conn:
            found = await plan_repo.draft_of(conn, member.telegram_id)
            if found is None or (draft_id is not None and found[0] != draft_id):
                return False
            await plan_repo.draft_delete(conn, found[0])
            await chat_repo.end_active_flow(conn, member.telegram_id, Flow.PLAN)
        return True


def progress_lines(progress: PlanProgress, text: Callable[..., str]) -> list[str]:
    """The progress table as aligned monospace lines: header, 合计, one line per child."""
    headers = tuple(text(f"plan.column.{c}") for c in PROGRESS_COLUMNS)
    rows = [progress.total, *progress.rows]
    cells = [
        (
            text("plan.total") if index == 0 else row.unit.name,
            str(row.due),
            str(row.done),
            row.rate,
            str(row.overdue),
        )
        for index, row in enumerate(rows)
    ]
    return aligned([headers, *cells], separator=" ")


def render_progress(progress: PlanProgress, text: Callable[..., str], ends: str) -> str:
    """/plan NAME and the digest's plan section: title, the table, who has not started."""
    plan = progress.plan
    title = text(
        "plan.progress_title",
        name=html.escape(plan.name),
        unit=html.escape(progress.unit.name),
        ends=ends,
        round=progress.round + 1,
    )
    body = "<pre>" + "\n".join(html.escape(line) for line in progress_lines(progress, text))
    body += "</pre>"
    parts = [title, body]
    if progress.not_started:
        names = text("list.separator").join(html.escape(u.name) for u in progress.not_started)
        parts.append(text("plan.not_started", units=names))
    return "\n".join(parts)


def plan_sheet(book: Any, progress: list[PlanProgress], text: Callable[..., str]) -> None:
    """A sheet of plan progress in a workbook (the bulletin's XLSX): per plan, 合计 and one
    row per child unit — 应查, 已查, 完成率 (truncated, as printed), 逾期, on time."""
    from bot.formats.spreadsheet import xlsx_row

    sheet = book.create_sheet(text("plan.sheet"))
    headers = [text("plan.column.plan"), *(text(f"plan.column.{c}") for c in PROGRESS_COLUMNS)]
    sheet.append(xlsx_row(sheet, [*headers, text("plan.column.on_time")]))
    for item in progress:
        for index, row in enumerate([item.total, *item.rows]):
            name = text("plan.total") if index == 0 else row.unit.name
            rate = None if not row.due else (row.done * 100 // row.due) / 100
            values = [item.plan.name, name, row.due, row.done, rate, row.overdue, row.on_time]
            sheet.append(xlsx_row(sheet, values))
    for cell in sheet["E"][1:]:
        cell.number_format = "0%"


async def plan_progress(
    db: Database, clock: Clock, config: Config, unit_code: str, at: datetime | None = None
) -> list[PlanProgress]:
    """The progress of every open plan covering ``unit_code``, by its child units, as of
    ``at`` (now when None): the plan table of a bulletin or digest."""
    service = PlanService(db, clock, config)
    return (await service.progress_many([unit_code], at=at))[unit_code]
