"""Days, weeks, months and ranges of days in the configured zone, and the days people type.

Moments are aware datetimes (stored in UTC); a *day* is a calendar day in the configured
zone (``config.locale.zone``). This module is the one place that turns a moment into its
local day (``day_of``, ``Calendar.today``), a day into the moments it spans
(``start_of``, ``span``, ``Period.bounds``), knows that a week starts on Monday and where
a month ends (``Period.of``), and finds the latest local time of day or of the week at or
before now (``Calendar.latest``).

It also parses every date argument commands and the ``gridbot`` command accept:

- a day: ``YYYY-MM-DD`` in ASCII digits, between ``FIRST_DAY`` and ``LAST_DAY`` (``day``);
  packed as the number ``YYYYMMDD`` in button payloads (``day_from_number``);
- a range of days: ``FROM [TO]``, FROM alone running until today (``days``);
- a period word: today / week / month, in every language's words from the catalogue
  keys ``period.word.*`` (``kind_of``).

Each parser returns None (or raises ``BadDays``) for anything it does not accept; the
caller answers with its usage. ``date.fromisoformat`` on raw text is not enough:
``str.isdigit()`` is true for superscripts, it takes other scripts' digits, and a day at
the calendar's edge (``9999-12-31``) overflows as soon as a period is built around it.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, tzinfo

from bot.core.clock import Clock

DAY = "day"
WEEK = "week"
MONTH = "month"
RANGE = "range"

# Days people may name: wide enough for any real record, narrow enough that a period of a
# year either side (a week's window, "the day after the last day") stays on the calendar.
FIRST_DAY = date(1900, 1, 1)
LAST_DAY = date(9998, 12, 31)

# The catalogue keys of period words (``period.word.<name>``) and the kind each names.
WORDS = {"today": DAY, "week": WEEK, "month": MONTH}

_DAY = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


@dataclass(frozen=True)
class Period:
    """Local days ``first``…``last`` (inclusive)."""

    kind: str  # DAY | WEEK | MONTH | RANGE
    first: date
    last: date

    @classmethod
    def of(cls, kind: str, day: date) -> Period:
        """The day, week (Monday to Sunday) or month that holds ``day``."""
        if kind == DAY:
            return cls(kind, day, day)
        if kind == WEEK:
            monday = day - timedelta(days=day.weekday())
            return cls(kind, monday, monday + timedelta(days=6))
        if kind == MONTH:
            first = day.replace(day=1)
            following = (first + timedelta(days=32)).replace(day=1)
            return cls(kind, first, following - timedelta(days=1))
        raise ValueError(f"unknown period kind {kind!r}")

    @classmethod
    def ending(cls, last: date, days: int) -> Period:
        """The ``days`` days that end with ``last`` (a bulletin's week)."""
        return cls(RANGE, last - timedelta(days=days - 1), last)

    @classmethod
    def starting(cls, first: date, days: int) -> Period:
        """The ``days`` days that begin with ``first``."""
        return cls(RANGE, first, first + timedelta(days=days - 1))

    def previous(self) -> Period:
        """The period of the same kind (and length) just before this one."""
        if self.kind == MONTH:
            return Period.of(MONTH, self.first - timedelta(days=1))
        length = (self.last - self.first).days + 1
        return Period(
            self.kind, self.first - timedelta(days=length), self.first - timedelta(days=1)
        )

    def bounds(self, zone: tzinfo) -> tuple[datetime, datetime]:
        """[start, end) as aware datetimes."""
        return start_of(self.first, zone), start_of(self.last + timedelta(days=1), zone)


def start_of(day: date, zone: tzinfo) -> datetime:
    """Local midnight at the start of ``day``, aware."""
    return datetime.combine(day, time(0), zone)


def day_of(moment: datetime, zone: tzinfo) -> date:
    """The local day an aware moment falls on (23:30 UTC is the next day in Shanghai)."""
    return moment.astimezone(zone).date()


def span(
    first: date | None, last: date | None, zone: tzinfo
) -> tuple[datetime | None, datetime | None]:
    """The moments [start of ``first``, start of the day after ``last``); an open end
    (None) stays open."""
    start = start_of(first, zone) if first else None
    end = start_of(last + timedelta(days=1), zone) if last else None
    return start, end


class Calendar:
    """The clock read in the configured zone: today, the current period, the latest
    scheduled time."""

    def __init__(self, clock: Clock, zone: tzinfo) -> None:
        self.clock = clock
        self.zone = zone

    def now(self) -> datetime:
        """Now, aware, in the configured zone."""
        return self.clock.now().astimezone(self.zone)

    def today(self) -> date:
        """Today in the configured zone."""
        return day_of(self.clock.now(), self.zone)

    def period(self, kind: str) -> Period:
        """The day, week or month that holds today."""
        return Period.of(kind, self.today())

    def since(self, kind: str) -> datetime:
        """The start of the day, week or month that holds today."""
        return start_of(self.period(kind).first, self.zone)

    def latest(self, at: time, weekday: int | None = None) -> datetime:
        """The latest local ``at`` (on ``weekday``, Monday = 0, when given) at or before
        now, aware in the configured zone."""
        local = self.now()
        back = 0 if weekday is None else (local.weekday() - weekday) % 7
        due = datetime.combine(local.date() - timedelta(days=back), at, self.zone)
        return due if due <= local else due - timedelta(days=1 if weekday is None else 7)


def day(text: str) -> date | None:
    """A day written ``YYYY-MM-DD`` in ASCII digits, a real calendar day between
    ``FIRST_DAY`` and ``LAST_DAY``; None otherwise."""
    if not _DAY.fullmatch(text):
        return None
    try:
        value = date.fromisoformat(text)
    except ValueError:  # 2026-02-30, month 13
        return None
    return value if FIRST_DAY <= value <= LAST_DAY else None


def day_from_number(value: int) -> date | None:
    """A day packed as the number ``YYYYMMDD`` (as in button payloads); None when it is no
    real day in range."""
    return day(f"{value // 10000:04d}-{value // 100 % 100:02d}-{value % 100:02d}")


def as_number(value: date) -> int:
    """A day packed as the number ``YYYYMMDD`` (for button payloads)."""
    return value.year * 10000 + value.month * 100 + value.day


@dataclass(frozen=True)
class Days:
    """Local days ``first``…``last``; None is an open end."""

    first: date | None = None
    last: date | None = None

    def bounds(self, zone: tzinfo) -> tuple[datetime | None, datetime | None]:
        """[start, end) as aware datetimes; an open end stays None."""
        return span(self.first, self.last, zone)


class BadDays(ValueError):
    """Date arguments that are no range: ``text`` is the one that is no day, or None
    when there are too many or FROM is later than TO."""

    def __init__(self, text: str | None = None) -> None:
        super().__init__(text or "not a range of days")
        self.text = text


def days(texts: Sequence[str], today: date) -> Days:
    """``FROM [TO]`` typed as days: none is all time (both ends open), FROM alone runs
    until ``today``. Raises ``BadDays`` for a text that is no day, for more than two, or
    for FROM later than TO."""
    if len(texts) > 2:
        raise BadDays()
    parsed: list[date] = []
    for text in texts:
        value = day(text)
        if value is None:
            raise BadDays(text)
        parsed.append(value)
    if not parsed:
        return Days()
    first, last = parsed[0], parsed[1] if len(parsed) == 2 else today
    if first > last:
        raise BadDays()
    return Days(first, last)


def kind_of(word: str, keywords: Callable[[str], Collection[str]]) -> str | None:
    """The period kind (``DAY``, ``WEEK``, ``MONTH``) a word names, or None. ``keywords``
    gives the lower-cased words of a catalogue key in every language (the catalogue's
    ``keywords``): ``今天``, ``today`` and ``今日`` all name ``DAY``."""
    folded = word.strip().lower()
    for name, kind in WORDS.items():
        if folded in keywords(f"period.word.{name}"):
            return kind
    return None
