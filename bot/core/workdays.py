"""Working days: mainland China's official calendar, with its make-up workdays (调休).

A tip's time limit may be given in working days (12345: requests for help 3 working
days, complaints 13) or in hours; reminders and escalation count *working hours*, the
hours that fall on working days. The official holidays and the weekends worked in their
stead come from the ``holidays`` package (``holidays.China``: the State Council's
announcements, ``weekend_workdays`` for 调休); ``[calendar] extra_holidays`` and
``extra_workdays`` add local days (a district's own day off, a day worked) and win over
it. Every question is asked of local days in the configured zone.

Conventions (those of the city hotline): the day something arrives is not counted; the
N-th working day after it ends at local midnight, which is the deadline. A limit in
hours is plain hours.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta, tzinfo

import holidays

from bot.core.periods import day_of, start_of

_HOUR = timedelta(hours=1)
_DAY = timedelta(days=1)
# A limit as typed in [tips.limits]: "24h" (hours) or "3wd" (working days).
_LIMIT = re.compile(r"^([1-9][0-9]{0,3})(h|wd)$")
MAX_DAYS_SEARCHED = 3660  # ten years of days: no real limit runs further


@dataclass(frozen=True)
class Limit:
    """A time limit: ``amount`` hours, or ``amount`` working days when ``working_days``."""

    amount: int
    working_days: bool

    @classmethod
    def parse(cls, text: str) -> Limit:
        """``24h`` or ``3wd``; ValueError for anything else."""
        found = _LIMIT.fullmatch(text.strip())
        if not found:
            raise ValueError(f"{text!r} is no limit (like 24h or 3wd)")
        return cls(int(found[1]), found[2] == "wd")

    def __str__(self) -> str:
        return f"{self.amount}{'wd' if self.working_days else 'h'}"


@functools.cache
def _official() -> holidays.HolidayBase:
    return holidays.China()


@functools.lru_cache(maxsize=8192)
def _official_workday(day: date) -> bool:
    """A working day of the official calendar (asked of python-holidays once per day:
    its answer takes tens of microseconds, and a KPI table asks it for every day of
    every tip's handling time)."""
    return bool(_official().is_working_day(day))


class WorkCalendar:
    """Which local days are working days, and deadlines and durations counted in them."""

    def __init__(
        self,
        zone: tzinfo,
        extra_holidays: Iterable[date] = (),
        extra_workdays: Iterable[date] = (),
    ) -> None:
        self.zone = zone
        self.extra_holidays = frozenset(extra_holidays)
        self.extra_workdays = frozenset(extra_workdays)

    def is_workday(self, day: date) -> bool:
        """A working day: a local extra workday, else not a local extra holiday and a
        working day of the official calendar (weekdays that are no holiday, and the
        weekends worked in lieu)."""
        if day in self.extra_workdays:
            return True
        if day in self.extra_holidays:
            return False
        return _official_workday(day)

    def add_workdays(self, day: date, count: int) -> date:
        """The ``count``-th working day after ``day`` (``day`` itself not counted)."""
        found = 0
        for _ in range(MAX_DAYS_SEARCHED):
            day += _DAY
            if self.is_workday(day):
                found += 1
                if found >= count:
                    return day
        raise ValueError("no such working day within ten years")

    def due(self, start: datetime, limit: Limit) -> datetime:
        """When a limit that starts at ``start`` runs out: ``amount`` hours later, or the
        end (local midnight) of the ``amount``-th working day after the day of ``start``."""
        if not limit.working_days:
            return start + timedelta(hours=limit.amount)
        last = self.add_workdays(day_of(start, self.zone), limit.amount)
        return start_of(last + _DAY, self.zone)

    def working_hours(self, start: datetime, end: datetime) -> float:
        """Hours of [start, end) that fall on working days (0 when end is not later)."""
        if end <= start:
            return 0.0
        day, last = day_of(start, self.zone), day_of(end, self.zone)
        total = timedelta()
        low = start
        while day <= last:  # each day's boundary is computed once
            following = day + _DAY
            high = end if day == last else start_of(following, self.zone)
            if self.is_workday(day):
                total += high - low
            low, day = high, following
        return total / _HOUR

    def before(self, end: datetime, hours: float) -> datetime:
        """The moment ``hours`` working hours before ``end``: the working hours between
        it and ``end`` add up to ``hours``."""
        left = timedelta(hours=hours)
        day = day_of(end - timedelta(microseconds=1), self.zone)
        for _ in range(MAX_DAYS_SEARCHED):
            if self.is_workday(day):
                low = start_of(day, self.zone)
                high = min(end, start_of(day + _DAY, self.zone))
                if high - low >= left:
                    return high - left
                left -= max(high - low, timedelta())
            day -= _DAY
        raise ValueError("no such moment within ten years")

    def after(self, start: datetime, hours: float) -> datetime:
        """The moment ``hours`` working hours after ``start``."""
        left = timedelta(hours=hours)
        day = day_of(start, self.zone)
        for _ in range(MAX_DAYS_SEARCHED):
            if self.is_workday(day):
                low = max(start, start_of(day, self.zone))
                high = start_of(day + _DAY, self.zone)
                if high - low >= left:
                    return low + left
                left -= max(high - low, timedelta())
            day += _DAY
        raise ValueError("no such moment within ten years")

    def workdays_late(self, deadline: datetime, now: datetime) -> int:
        """Whole working days between the deadline and now (0 when not past it): the
        working days that ended after the deadline and at or before now."""
        if now <= deadline:
            return 0
        count = 0
        day = day_of(deadline, self.zone)
        last = day_of(now, self.zone)
        while day < last:
            if self.is_workday(day) and start_of(day + _DAY, self.zone) > deadline:
                count += 1
            day += _DAY
        return count
