"""bot/core/periods.py: local days, weeks, months and ranges in the configured zone, and
the date arguments commands accept."""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from zoneinfo import ZoneInfo

import pytest

from bot.core import periods
from bot.core.clock import FakeClock
from bot.core.periods import DAY, MONTH, RANGE, WEEK, BadDays, Calendar, Days, Period
from bot.i18n import Catalogue

SHANGHAI = ZoneInfo("Asia/Shanghai")


def calendar_at(moment: datetime) -> Calendar:
    return Calendar(FakeClock(moment), SHANGHAI)


def test_a_moment_late_in_the_utc_day_is_the_next_local_day():
    late = datetime(2026, 11, 22, 23, 30, tzinfo=UTC)
    assert periods.day_of(late, SHANGHAI) == date(2026, 11, 23)
    assert periods.day_of(late, UTC) == date(2026, 11, 22)
    assert calendar_at(late).today() == date(2026, 11, 23)
    # 15:59 UTC is 23:59 in Shanghai: still the same day; 16:00 UTC is the next one.
    assert calendar_at(datetime(2026, 11, 22, 15, 59, tzinfo=UTC)).today() == date(2026, 11, 22)
    assert calendar_at(datetime(2026, 11, 22, 16, 0, tzinfo=UTC)).today() == date(2026, 11, 23)


def test_a_local_day_starts_at_local_midnight():
    start = periods.start_of(date(2026, 11, 23), SHANGHAI)
    assert start.astimezone(UTC) == datetime(2026, 11, 22, 16, 0, tzinfo=UTC)
    start, end = Period.of(DAY, date(2026, 11, 23)).bounds(SHANGHAI)
    assert (start.astimezone(UTC), end.astimezone(UTC)) == (
        datetime(2026, 11, 22, 16, 0, tzinfo=UTC),
        datetime(2026, 11, 23, 16, 0, tzinfo=UTC),
    )


def test_a_week_runs_monday_to_sunday():
    for day in (date(2026, 11, 23), date(2026, 11, 26), date(2026, 11, 29)):  # Mon, Thu, Sun
        week = Period.of(WEEK, day)
        assert (week.first, week.last) == (date(2026, 11, 23), date(2026, 11, 29))
    assert Period.of(WEEK, date(2026, 11, 30)).first == date(2026, 11, 30)
    assert Period.of(WEEK, date(2026, 11, 23)).previous() == Period(
        WEEK, date(2026, 11, 16), date(2026, 11, 22)
    )
    # Sunday 23:30 UTC is already Monday in Shanghai: a new week.
    monday = calendar_at(datetime(2026, 11, 29, 23, 30, tzinfo=UTC))
    assert monday.period(WEEK).first == date(2026, 11, 30)
    assert monday.since(WEEK).astimezone(UTC) == datetime(2026, 11, 29, 16, 0, tzinfo=UTC)


def test_a_month_ends_on_its_last_day():
    assert Period.of(MONTH, date(2026, 2, 14)) == Period(MONTH, date(2026, 2, 1), date(2026, 2, 28))
    assert Period.of(MONTH, date(2028, 2, 14)).last == date(2028, 2, 29)
    assert Period.of(MONTH, date(2026, 12, 31)).last == date(2026, 12, 31)
    assert Period.of(MONTH, date(2026, 3, 1)).previous() == Period(
        MONTH, date(2026, 2, 1), date(2026, 2, 28)
    )
    with pytest.raises(ValueError):
        Period.of("year", date(2026, 3, 1))


def test_ranges_of_days():
    week = Period.ending(date(2026, 11, 26), 7)
    assert week == Period(RANGE, date(2026, 11, 20), date(2026, 11, 26))
    assert Period.starting(date(2026, 11, 20), 7) == week
    assert week.previous() == Period(RANGE, date(2026, 11, 13), date(2026, 11, 19))
    start, end = periods.span(date(2026, 11, 1), date(2026, 11, 30), SHANGHAI)
    assert start == datetime(2026, 11, 1, tzinfo=SHANGHAI)
    assert end == datetime(2026, 12, 1, tzinfo=SHANGHAI)
    assert periods.span(None, date(2026, 11, 30), SHANGHAI)[0] is None
    assert periods.span(date(2026, 11, 1), None, SHANGHAI)[1] is None
    assert Days().bounds(SHANGHAI) == (None, None)


def test_the_latest_scheduled_time_at_or_before_now():
    # 2026-11-27 is a Friday; 09:00 UTC is 17:00 in Shanghai.
    friday_five = datetime(2026, 11, 27, 17, 0, tzinfo=SHANGHAI)
    at_five = calendar_at(friday_five.astimezone(UTC))
    assert at_five.latest(time(17, 0), weekday=4) == friday_five
    assert at_five.latest(time(17, 1), weekday=4) == datetime(2026, 11, 20, 17, 1, tzinfo=SHANGHAI)
    assert at_five.latest(time(18, 0)) == datetime(2026, 11, 26, 18, 0, tzinfo=SHANGHAI)
    assert at_five.latest(time(9, 0)) == datetime(2026, 11, 27, 9, 0, tzinfo=SHANGHAI)
    # Saturday 00:30 local (Friday 16:30 UTC): the Friday of the same week is the latest.
    saturday = calendar_at(datetime(2026, 11, 27, 16, 30, tzinfo=UTC))
    assert saturday.latest(time(17, 0), weekday=4) == friday_five


def test_days_are_real_calendar_days_with_room_around_them():
    assert periods.day("2026-11-20") == date(2026, 11, 20)
    assert periods.day("1900-01-01") == periods.FIRST_DAY
    for text in ("9999-12-31", "0001-01-01", "2026-02-30", "2026-13-01", "２０２６-11-20"):
        assert periods.day(text) is None, text
    for text in ("20261120", "2026-1-20", " 2026-11-20", "today", ""):
        assert periods.day(text) is None, text
    assert periods.day_from_number(20261122) == date(2026, 11, 22)
    assert periods.day_from_number(periods.as_number(date(2026, 1, 5))) == date(2026, 1, 5)
    assert periods.day_from_number(20261340) is None


def test_from_and_to_days():
    today = date(2026, 11, 23)
    assert periods.days([], today) == Days(None, None)
    assert periods.days(["2026-11-01"], today) == Days(date(2026, 11, 1), today)
    assert periods.days(["2026-11-01", "2026-11-10"], today) == Days(
        date(2026, 11, 1), date(2026, 11, 10)
    )
    assert periods.days(["2026-11-10", "2026-11-10"], today).first == date(2026, 11, 10)
    with pytest.raises(BadDays) as bad:
        periods.days(["2026-11-01", "tomorrow"], today)
    assert bad.value.text == "tomorrow"
    with pytest.raises(BadDays) as bad:
        periods.days(["2026-11-01²"], today)
    assert bad.value.text == "2026-11-01²"
    for texts in (
        ["2026-11-10", "2026-11-01"],  # FROM after TO
        ["2026-11-24"],  # FROM after today
        ["2026-11-01", "2026-11-02", "2026-11-03"],
    ):
        with pytest.raises(BadDays) as bad:
            periods.days(texts, today)
        assert bad.value.text is None, texts


def test_period_words_come_from_the_catalogue_in_every_language():
    keywords = Catalogue.load().keywords
    assert periods.kind_of("今天", keywords) == DAY
    assert periods.kind_of("今日", keywords) == DAY
    assert periods.kind_of("Today", keywords) == DAY
    assert periods.kind_of("本周", keywords) == WEEK
    assert periods.kind_of("week", keywords) == WEEK
    assert periods.kind_of("本月", keywords) == MONTH
    assert periods.kind_of("MONTH", keywords) == MONTH
    for word in ("year", "WL-WH", "2026-11-20", ""):
        assert periods.kind_of(word, keywords) is None, word
    only_english = {"period.word.today": {"now"}}
    assert periods.kind_of("now", lambda key: only_english.get(key, set())) == DAY
    assert periods.kind_of("today", lambda key: only_english.get(key, set())) is None
