"""What units are judged on for tips (12345 / 数字城管 practice), beside the official table.

Plain functions over the database that return dataclasses, Telegram-free, for ``/tips
table``, ``gridbot tips table --kpi``, the ranking and the bulletins:

- ``kpi_table``: per district (or per child of a unit) and in total, over a period:
  按期办结率 (tips due in the period closed by their deadline ÷ tips due), 返工率
  (tips closed in the period that were reworked ÷ tips closed), the extensions granted,
  满意率 (满意 and 基本满意 ÷ call-backs) and the median handling time in working hours
  (assigned → closed by the unit, see ``bot.core.workdays``);
- ``named_units``: the 通报 list, units with tips at least N working days past their
  deadline (parked tips are not late);
- ``parked_list``: the parked tips (挂账), listed apart with reason and target day.

Tips not accepted (不予受理) and duplicates are no cases of their own and count nowhere.
A tip counts for the unit it is assigned to now. The closure time is when the unit
closed it (``tip.closed_at``: with verification, its submission); only tips whose
closure stands (closed) count as closed.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime

from bot.core.workdays import WorkCalendar
from bot.domain.tip_cycle import EventKind, TipState
from storage import tips as tip_repo
from storage import units as unit_repo
from storage.db import Database

_REWORK = (EventKind.RETURNED.value, EventKind.REOPENED.value)
_SATISFIED = ("satisfied", "basic")


def rate(part: int, whole: int) -> int | None:
    """A rate in whole percent, truncated as the official table truncates; None of 0."""
    return None if whole == 0 else part * 100 // whole


@dataclass(frozen=True)
class UnitKpi:
    """The figures of one area (or the total, ``total``) over a period."""

    area: str
    code: str
    due: int = 0  # tips whose deadline fell in the period
    on_time: int = 0  # of those, closed by the unit at or before the deadline
    closed: int = 0  # tips whose closure stands, closed by the unit in the period
    reworked: int = 0  # of those, sent back or reopened at least once (返工)
    rework: int = 0  # rework events in the period (退回 and reopenings after a call-back)
    extensions: int = 0  # extensions granted in the period
    callbacks: int = 0  # call-backs recorded in the period
    satisfied: int = 0  # of those, 满意 or 基本满意
    median_hours: float | None = None  # assigned → closed, working hours, closed ones
    total: bool = False

    @property
    def on_time_rate(self) -> int | None:
        """按期办结率: closed on time ÷ due, whole percent."""
        return rate(self.on_time, self.due)

    @property
    def rework_rate(self) -> int | None:
        """返工率: reworked ÷ closed, whole percent."""
        return rate(self.reworked, self.closed)

    @property
    def satisfaction_rate(self) -> int | None:
        """满意率: 满意 and 基本满意 ÷ call-backs, whole percent."""
        return rate(self.satisfied, self.callbacks)


@dataclass
class _Tally:
    due: int = 0
    on_time: int = 0
    closed: int = 0
    reworked: int = 0
    rework: int = 0
    extensions: int = 0
    callbacks: int = 0
    satisfied: int = 0
    hours: list[float] | None = None

    def kpi(self, area: str, code: str, total: bool = False) -> UnitKpi:
        hours = self.hours or []
        median = round(statistics.median(hours), 1) if hours else None
        return UnitKpi(
            area,
            code,
            self.due,
            self.on_time,
            self.closed,
            self.reworked,
            self.rework,
            self.extensions,
            self.callbacks,
            self.satisfied,
            median,
            total,
        )


def _within(moment: datetime | None, start: datetime | None, end: datetime) -> bool:
    return moment is not None and moment < end and (start is None or moment >= start)


async def _tallies(
    db: Database, workdays: WorkCalendar, start: datetime | None, end: datetime
) -> dict[str, _Tally]:
    """The figures over [start, end) of each unit tips are assigned to, by its path."""
    # Stored times come back in UTC: bounds in UTC too compare without a zone lookup.
    start = start.astimezone(UTC) if start else None
    end = end.astimezone(UTC)
    async with db.read() as conn:
        cases = await tip_repo.case_rows(conn, start, end)
        events = await tip_repo.events_between(
            conn,
            (*_REWORK, EventKind.EXTENDED.value, EventKind.CALLED_BACK.value),
            start,
            end,
        )
    tallies: dict[str, _Tally] = {}

    def tally_of(path: str) -> _Tally:
        return tallies.setdefault(path, _Tally(hours=[]))

    for event in events:
        tally = tally_of(event.path)
        if event.kind in _REWORK:
            tally.rework += 1
        elif event.kind == EventKind.EXTENDED:
            tally.extensions += 1
        else:
            tally.callbacks += 1
            tally.satisfied += event.note_fields.get("outcome") in _SATISFIED
    for row in cases:
        deadline, closed_at, assigned_at = row.deadline, row.closed_at, row.assigned_at
        closed = row.state is TipState.CLOSED and closed_at is not None
        tally = tally_of(row.path)
        if deadline is not None and _within(deadline, start, end):
            tally.due += 1
            if closed and closed_at is not None:
                tally.on_time += closed_at <= deadline
        if closed and closed_at is not None and _within(closed_at, start, end):
            tally.closed += 1
            tally.reworked += row.reworks > 0
            if assigned_at is not None and tally.hours is not None:
                tally.hours.append(workdays.working_hours(assigned_at, closed_at))
    return tallies


async def unit_figures(
    db: Database, workdays: WorkCalendar, start: datetime | None, end: datetime
) -> dict[str, UnitKpi]:
    """The KPIs over [start, end) of each unit tips are assigned to, by its path (the
    ranking rolls the counts up its tree)."""
    tallies = await _tallies(db, workdays, start, end)
    return {path: tally.kpi("", "") for path, tally in tallies.items()}


def _sum(tallies: Iterable[_Tally], area: str, code: str, total: bool) -> UnitKpi:
    summed = _Tally(hours=[])
    for tally in tallies:
        for name in ("due", "on_time", "closed", "reworked", "rework", "extensions"):
            setattr(summed, name, getattr(summed, name) + getattr(tally, name))
        summed.callbacks += tally.callbacks
        summed.satisfied += tally.satisfied
        assert summed.hours is not None
        summed.hours += tally.hours or []
    return summed.kpi(area, code, total)


async def kpi_table(
    db: Database,
    workdays: WorkCalendar,
    start: datetime | None,
    end: datetime,
    parent_code: str | None = None,
) -> list[UnitKpi]:
    """The KPIs over [start, end): the total first, then one row per district (per child
    of ``parent_code`` when given), in the tree's order."""
    async with db.read() as conn:
        root = (
            await unit_repo.get_by_code(conn, parent_code)
            if parent_code
            else await unit_repo.root(conn)
        )
        areas = await unit_repo.children(conn, root.id) if root else []
    if root is None:
        return [_Tally(hours=[]).kpi("", "", total=True)]
    tallies = await _tallies(db, workdays, start, end)
    inside = {path: t for path, t in tallies.items() if path.startswith(root.path)}
    rows = [_sum(inside.values(), "", root.code, True)]
    for area in areas:
        found = (t for path, t in inside.items() if path.startswith(area.path))
        rows.append(_sum(found, area.name, area.code, False))
    return rows


@dataclass(frozen=True)
class NamedUnit:
    """A unit named in the bulletin's 通报 section: its tips at least N working days past
    their deadline, the latest first."""

    unit: str
    code: str
    tips: tuple[str, ...]  # numbers
    worst: int  # working days past the deadline of the latest one


async def named_units(
    db: Database, workdays: WorkCalendar, now: datetime, days: int, path: str | None = None
) -> list[NamedUnit]:
    """Units with assigned tips at least ``days`` working days past their deadline (parked
    ones are not late), within the subtree of ``path`` when given; the worst first."""
    async with db.read() as conn:
        late = await tip_repo.late(conn, now)
    by_unit: dict[str, list[tuple[int, str, str]]] = {}
    for tip in late:
        if tip.deadline is None or tip.assigned_path is None:
            continue
        if path is not None and not tip.assigned_path.startswith(path):
            continue
        behind = workdays.workdays_late(tip.deadline, now)
        if behind >= days:
            key = tip.assigned_code or ""
            by_unit.setdefault(key, []).append((behind, tip.number, tip.assigned_name or ""))
    named = [
        NamedUnit(
            found[0][2],
            code,
            tuple(n for _, n, _ in sorted(found, reverse=True)),
            max(b for b, _, _ in found),
        )
        for code, found in by_unit.items()
    ]
    return sorted(named, key=lambda u: (-u.worst, u.code))


@dataclass(frozen=True)
class ParkedTip:
    """A parked tip (挂账): listed apart, with why and until when."""

    number: str
    unit: str
    until: date
    reason: str
    description: str


async def parked_list(db: Database, path: str | None = None) -> list[ParkedTip]:
    """The parked tips (within the subtree of ``path`` when given), by target day."""
    async with db.read() as conn:
        found = await tip_repo.parked(conn, path)
    return [
        ParkedTip(
            t.number,
            t.assigned_name or t.unit_name,
            t.parked_until,
            t.parked_reason or "",
            t.description,
        )
        for t in found
        if t.parked_until is not None
    ]
