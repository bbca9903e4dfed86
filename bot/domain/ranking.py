"""Ranking the children of a unit over a period (通报排队). Telegram-free.

Every figure comes from indexed reads: per-day report aggregates (``unit_day``,
``member_day``), the current site statuses and member counts of the subtree, the tips
received in the period (an index range on ``received_at``) and the tips overdue now.
Each row is attributed to the child whose subtree holds it by its materialised path.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import date

from bot.config import Config
from bot.core import access
from bot.core.clock import Clock
from bot.core.errors import Refused
from bot.core.periods import Calendar, Period
from bot.core.workdays import WorkCalendar
from bot.domain.plans import PlanService
from bot.domain.tip_kpis import unit_figures
from storage import daily as daily_repo
from storage import members as member_repo
from storage import sites as site_repo
from storage import tips as tip_repo
from storage import units as unit_repo
from storage.db import Database
from storage.members import Member
from storage.units import Unit

RATES = (
    "coverage",
    "active",
    "sites_done",
    "closure",
    "plan_done",
    "plan_on_time",
    "on_time",
    "rework",
    "satisfaction",
)
# Rates that score only over at least ``ranking.min_cases`` cases.
CASE_RATES = (
    "closure",
    "sites_done",
    "plan_done",
    "plan_on_time",
    "on_time",
    "rework",
    "satisfaction",
)
COUNTS = ("reports", "valid", "overdue", "flagged")


@dataclass(frozen=True)
class RankRow:
    unit: Unit
    reports: int = 0
    flagged: int = 0
    grids: int = 0
    grids_covered: int = 0
    members: int = 0
    members_active: int = 0
    sites: int = 0
    sites_done: int = 0
    tips_received: int = 0
    tips_assigned: int = 0
    tips_closed: int = 0
    tips_valid: int = 0
    overdue: int = 0
    plan_due: int = 0  # sites due in the current round of open plans
    plan_done: int = 0  # of them, done
    plan_on_time: int = 0  # of those done, done on time
    tips_due: int = 0  # tips whose deadline fell in the period (bot.domain.tip_kpis)
    tips_on_time: int = 0
    tips_done: int = 0  # closures that stand, closed in the period
    tips_reworked: int = 0
    callbacks: int = 0
    satisfied: int = 0
    score: float = 0.0
    rank: int = 0
    move: int | None = None  # places gained since the previous period; None: no data then

    def rate(self, column: str) -> tuple[int, int]:
        """(numerator, denominator) of a rate column."""
        return {
            "coverage": (self.grids_covered, self.grids),
            "active": (self.members_active, self.members),
            "sites_done": (self.sites_done, self.sites),
            "closure": (self.tips_closed, self.tips_assigned),
            "plan_done": (self.plan_done, self.plan_due),
            "plan_on_time": (self.plan_on_time, self.plan_done),
            "on_time": (self.tips_on_time, self.tips_due),
            "rework": (self.tips_reworked, self.tips_done),
            "satisfaction": (self.satisfied, self.callbacks),
        }[column]

    def count(self, column: str) -> int:
        """The figure of a count column, one of ``COUNTS``."""
        return {
            "reports": self.reports,
            "valid": self.tips_valid,
            "overdue": self.overdue,
            "flagged": self.flagged,
        }[column]


@dataclass(frozen=True)
class Ranking:
    parent: Unit
    period: Period
    rows: list[RankRow] = field(default_factory=list)

    @property
    def silent(self) -> list[Unit]:
        """Children with no report in the period (未上报)."""
        return [row.unit for row in self.rows if row.reports == 0]


@dataclass(frozen=True)
class _State:
    units: list[Unit]
    members: list[tuple[str, int]]
    sites: list[tuple[str, str, str | None, int]]
    overdue: list[tuple[str, int]]
    plans: dict[int, tuple[int, int, int]] = field(default_factory=dict)


class _Snapshot:
    """A period's figures summed per unit path, for the whole city."""

    def __init__(self, units: list[Unit]) -> None:
        self.units = units
        self.by_code = {u.code: u for u in units}
        self.by_path: dict[str, dict[str, int]] = {}
        self.children: dict[int, list[Unit]] = {}
        for unit in sorted(units, key=lambda u: (u.sort_order, u.code)):
            if unit.parent_id is not None and unit.active:
                self.children.setdefault(unit.parent_id, []).append(unit)
        self._totals: dict[str, dict[str, int]] | None = None
        self.plans: dict[int, tuple[int, int, int]] = {}  # unit id: plan due, done, on time

    def totals(self) -> dict[str, dict[str, int]]:
        """Each unit's figures summed over its whole subtree (computed once)."""
        if self._totals is None:
            rolled: dict[str, dict[str, int]] = {}
            for path, values in self.by_path.items():
                parts = path.strip("/").split("/")
                for depth in range(1, len(parts) + 1):
                    slot = rolled.setdefault("/" + "/".join(parts[:depth]) + "/", {})
                    for name, value in values.items():
                        slot[name] = slot.get(name, 0) + value
            self._totals = rolled
        return self._totals

    def add(self, path: str, **values: int) -> None:
        slot = self.by_path.setdefault(path, {})
        for name, value in values.items():
            slot[name] = slot.get(name, 0) + value

    def unit(self, code: str | None) -> Unit:
        found = (
            self.by_code.get(code)
            if code
            else next((u for u in self.units if u.parent_id is None), None)
        )
        if found is None:
            raise Refused("unit.unknown", code=code or "")
        return found


class RankingService:
    def __init__(self, db: Database, clock: Clock, config: Config) -> None:
        self.db = db
        self.clock = clock
        self.config = config
        self.zone = config.locale.zone
        self.calendar = Calendar(clock, self.zone)
        self.settings = config.ranking
        self.workdays = WorkCalendar(
            self.zone, config.calendar.extra_holidays, config.calendar.extra_workdays
        )
        self.done = {
            (category.code, status.code)
            for category in config.campaign.categories
            for status in category.statuses
            if status.done
        }

    def today(self) -> date:
        """Today in the configured zone."""
        return self.calendar.today()

    async def rank_children(self, parent_code: str | None, period: Period) -> Ranking:
        """The children of a unit (the city when no code), ranked over ``period``, with
        their movement against the period before."""
        return (await self.rank_many([parent_code], period))[parent_code]

    async def rank_in_scope(self, actor: Member, code: str | None, kind: str) -> Ranking:
        """/rank: the children of ``code`` (the actor's own unit when None) over the
        day, week or month (``kind``) that holds today. A unit outside the actor's scope
        is refused exactly like one that does not exist; a unit with nothing below it
        (a grid) cannot be ranked."""
        async with self.db.read() as conn:
            unit = await (
                unit_repo.get_by_code(conn, code)
                if code
                else unit_repo.get_by_id(conn, actor.unit_id)
            )
            if unit is None or not access.in_scope(actor, unit):
                raise Refused("unit.unknown", code=code or "")
            children = [kid for kid in await unit_repo.children(conn, unit.id) if kid.active]
        if not children:
            raise Refused("rank.no_children", unit=unit.name, code=unit.code)
        return await self.rank_children(unit.code, self.calendar.period(kind))

    async def rank_many(
        self, parent_codes: list[str | None], period: Period
    ) -> dict[str | None, Ranking]:
        """Rankings for several parents over one period (every group's digest of a day):
        the figures are read once for the whole city, then attributed to each parent's
        children."""
        state = await self._current_state(parent_codes)
        current = await self._snapshot(period, state)
        before = await self._snapshot(period.previous(), state)
        rankings: dict[str | None, Ranking] = {}
        for code in parent_codes:
            parent = current.unit(code)
            now_rows = self._rows(parent, current)
            before_rows = self._rows(parent, before)
            active_before = any(row.reports or row.tips_received for row in before_rows)
            earlier = {row.unit.id: row.rank for row in before_rows} if active_before else {}
            rows = [
                replace(
                    row,
                    move=(earlier[row.unit.id] - row.rank) if row.unit.id in earlier else None,
                )
                for row in now_rows
            ]
            rankings[code] = Ranking(parent, period, rows)
        return rankings

    async def _current_state(self, parent_codes: list[str | None]) -> _State:
        """What does not depend on the period: the tree, members, sites, overdue tips, and
        the plan figures of the parents' children."""
        async with self.db.read() as conn:
            units = await unit_repo.all_units(conn)
            root = await unit_repo.root(conn)
            members = await member_repo.active_by_path(conn, root.path) if root else []
            sites = await site_repo.status_counts(conn, root.path) if root else []
            overdue = await tip_repo.overdue_paths(conn, self.clock.now())
        parents = {u.id for u in units if u.code in parent_codes}
        if None in parent_codes:
            parents |= {u.id for u in units if u.parent_id is None}
        children = [u.id for u in units if u.parent_id in parents]
        plans = await PlanService(self.db, self.clock, self.config).ranking_figures(
            children, self.clock.now()
        )
        return _State(units, members, sites, overdue, plans)

    async def _snapshot(self, period: Period, state: _State) -> _Snapshot:
        """Every figure of the period, summed per unit (by path), for the whole city."""
        first, last = period.first, period.last
        start, end = period.bounds(self.zone)
        async with self.db.read() as conn:
            days = await daily_repo.units_between(conn, first, last)
            reporters = await daily_repo.members_between(conn, first, last)
            tips = await tip_repo.cohort(conn, start, end)
        cases = await unit_figures(self.db, self.workdays, start, end)
        units, members, sites, overdue = state.units, state.members, state.sites, state.overdue
        snapshot = _Snapshot(units)
        add = snapshot.add
        for unit in units:
            if unit.level == "grid" and unit.active:
                add(unit.path, grids=1)
        for row in days:
            add(row.unit_path, reports=row.reports, flagged=row.flagged)
            if row.level == "grid" and row.reports:
                add(row.unit_path, grids_covered=1)
        for _, path in reporters:
            add(path, members_active=1)
        for path, count in members:
            add(path, members=count)
        for path, category, status, count in sites:
            add(path, sites=count, sites_done=count if (category, status) in self.done else 0)
        for tip in tips:
            add(
                tip["path"],
                tips_received=1,
                tips_assigned=int(tip["assigned"]),
                tips_closed=int(tip["closed"]),
                tips_valid=int(tip["valid"]),
            )
        for path, count in overdue:
            add(path, overdue=count)
        snapshot.plans = state.plans
        for path, kpi in cases.items():
            add(
                path,
                tips_due=kpi.due,
                tips_on_time=kpi.on_time,
                tips_done=kpi.closed,
                tips_reworked=kpi.reworked,
                callbacks=kpi.callbacks,
                satisfied=kpi.satisfied,
            )
        return snapshot

    def _rows(self, parent: Unit, snapshot: _Snapshot) -> list[RankRow]:
        kids = snapshot.children.get(parent.id, [])
        totals = snapshot.totals()
        rows = []
        for kid in kids:
            due, done, on_time = snapshot.plans.get(kid.id, (0, 0, 0))
            figures = totals.get(kid.path, {})
            rows.append(RankRow(kid, **figures, plan_due=due, plan_done=done, plan_on_time=on_time))
        return self._score(rows)

    def _score(self, rows: list[RankRow]) -> list[RankRow]:
        weights = self.settings.weights
        highest = {c: max((row.count(c) for row in rows), default=0) for c in COUNTS}
        scored = []
        for row in rows:
            score = 0.0
            for column in COUNTS:
                if highest[column]:
                    score += weights.get(column, 0.0) * row.count(column) / highest[column]
            for column in RATES:
                numerator, denominator = row.rate(column)
                minimum = self.settings.min_cases if column in CASE_RATES else 1
                if denominator >= minimum:
                    score += weights.get(column, 0.0) * numerator / denominator
            scored.append(replace(row, score=round(score * 100) / 100))
        ordered = sorted(scored, key=lambda r: (-r.score, r.unit.code))
        return [replace(row, rank=index) for index, row in enumerate(ordered, start=1)]
