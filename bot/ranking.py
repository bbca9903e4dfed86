"""Ranking the children of a unit over a period (通报排队). Telegram-free.

Every figure comes from indexed reads: per-day report aggregates (``unit_day``,
``member_day``), the current site statuses and member counts of the subtree, the tips
received in the period (an index range on ``received_at``) and the tips overdue now.
Each row is attributed to the child whose subtree holds it by its materialised path.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from bot.clock import Clock
from bot.config import Config
from bot.errors import Refused
from storage import daily as daily_repo
from storage import members as member_repo
from storage import sites as site_repo
from storage import tips as tip_repo
from storage import units as unit_repo
from storage.db import Database
from storage.times import to_text
from storage.units import Unit

RATES = ("coverage", "active", "sites_done", "closure")
COUNTS = ("reports", "valid", "overdue", "flagged")


@dataclass(frozen=True)
class Period:
    """Local days ``first``…``last`` (inclusive)."""

    kind: str  # 'day' | 'week' | 'month' | 'range'
    first: date
    last: date

    @classmethod
    def of(cls, kind: str, day: date) -> Period:
        if kind == "day":
            return cls(kind, day, day)
        if kind == "week":
            monday = day - timedelta(days=day.weekday())
            return cls(kind, monday, monday + timedelta(days=6))
        if kind == "month":
            first = day.replace(day=1)
            following = (first + timedelta(days=32)).replace(day=1)
            return cls(kind, first, following - timedelta(days=1))
        raise ValueError(f"unknown period kind {kind!r}")

    def previous(self) -> Period:
        if self.kind == "month":
            return Period.of("month", self.first - timedelta(days=1))
        length = (self.last - self.first).days + 1
        return Period(
            self.kind, self.first - timedelta(days=length), self.first - timedelta(days=1)
        )

    def bounds(self, zone: ZoneInfo) -> tuple[datetime, datetime]:
        """[start, end) as aware datetimes."""
        start = datetime.combine(self.first, time(0), zone)
        return start, datetime.combine(self.last + timedelta(days=1), time(0), zone)


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
        }[column]

    def count(self, column: str) -> int:
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


def _child_of(path: str, depth: int, children: dict[str, Unit]) -> Unit | None:
    """The child (at ``depth`` segments) whose subtree holds ``path``."""
    parts = path.strip("/").split("/")
    if len(parts) < depth:
        return None
    return children.get("/" + "/".join(parts[:depth]) + "/")


class RankingService:
    def __init__(self, db: Database, clock: Clock, config: Config) -> None:
        self.db = db
        self.clock = clock
        self.config = config
        self.zone = config.locale.zone
        self.settings = config.ranking
        self.done = {
            (category.code, status.code)
            for category in config.campaign.categories
            for status in category.statuses
            if status.done
        }

    def today(self) -> date:
        return self.clock.now().astimezone(self.zone).date()

    async def rank_children(self, parent_code: str | None, period: Period) -> Ranking:
        """The children of a unit (the city when no code), ranked over ``period``, with
        their movement against the period before."""
        current = await self._figures(parent_code, period)
        before = await self._figures(parent_code, period.previous())
        active_before = any(row.reports or row.tips_received for row in before.rows)
        earlier = {row.unit.id: row.rank for row in before.rows} if active_before else {}
        rows = [
            replace(row, move=(earlier[row.unit.id] - row.rank) if row.unit.id in earlier else None)
            for row in current.rows
        ]
        return Ranking(current.parent, period, rows)

    async def _figures(self, parent_code: str | None, period: Period) -> Ranking:
        first, last = period.first.isoformat(), period.last.isoformat()
        start, end = period.bounds(self.zone)
        async with self.db.read() as conn:
            parent = (
                await unit_repo.get_by_code(conn, parent_code)
                if parent_code
                else await unit_repo.root(conn)
            )
            if parent is None:
                raise Refused("unit.unknown", code=parent_code or "")
            kids = [u for u in await unit_repo.children(conn, parent.id) if u.active]
            subtree = await unit_repo.subtree(conn, parent)
            days = await daily_repo.units_between(conn, first, last)
            reporters = await daily_repo.members_between(conn, first, last)
            members = await member_repo.active_by_path(conn, parent.path)
            sites = await site_repo.status_counts(conn, parent.path)
            tips = await tip_repo.cohort(conn, to_text(start), to_text(end))
            overdue = await tip_repo.overdue_paths(conn, to_text(self.clock.now()))
        depth = len(parent.path.strip("/").split("/")) + 1
        by_path = {kid.path: kid for kid in kids}
        figures: dict[int, dict[str, int]] = {kid.id: {} for kid in kids}

        def add(path: str, **values: int) -> None:
            kid = _child_of(path, depth, by_path)
            if kid is not None:
                slot = figures[kid.id]
                for name, value in values.items():
                    slot[name] = slot.get(name, 0) + value

        for unit in subtree:
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
        rows = [RankRow(kid, **figures[kid.id]) for kid in kids]
        return Ranking(parent, period, self._score(rows))

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
                minimum = self.settings.min_cases if column in ("closure", "sites_done") else 1
                if denominator >= minimum:
                    score += weights.get(column, 0.0) * numerator / denominator
            scored.append(replace(row, score=round(score * 100) / 100))
        ordered = sorted(scored, key=lambda r: (-r.score, r.unit.code))
        return [replace(row, rank=index) for index, row in enumerate(ordered, start=1)]
