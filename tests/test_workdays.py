"""Working days from mainland China's official calendar (holidays and 调休 make-up days):
limits, deadlines, reminders and escalation counted on them, with the injected clock."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from bot.config import load_config
from bot.core.access import Role
from bot.core.workdays import Limit, WorkCalendar
from bot.domain.tips import TipService
from tests.conftest import add_member, write_config

CST = ZoneInfo("Asia/Shanghai")
CAL = WorkCalendar(CST)


def cst(*args: int) -> datetime:
    return datetime(*args, tzinfo=CST)


def test_the_official_calendar_knows_holidays_and_make_up_workdays():
    # National Day 2025: Oct 1-8 off; Sun Sep 28 and Sat Oct 11 worked (调休).
    assert [CAL.is_workday(date(2025, 10, d)) for d in range(1, 9)] == [False] * 8
    assert CAL.is_workday(date(2025, 9, 28)) and CAL.is_workday(date(2025, 10, 11))
    assert not CAL.is_workday(date(2025, 9, 27)) and not CAL.is_workday(date(2025, 10, 12))
    assert CAL.is_workday(date(2025, 10, 9))
    # National Day 2022: Oct 1-7 off; Sat Oct 8 and Sun Oct 9 worked.
    assert CAL.is_workday(date(2022, 10, 8)) and CAL.is_workday(date(2022, 10, 9))
    # Local days win: [calendar] extra_holidays / extra_workdays.
    local = WorkCalendar(CST, [date(2025, 10, 9)], [date(2025, 10, 12)])
    assert not local.is_workday(date(2025, 10, 9)) and local.is_workday(date(2025, 10, 12))


def test_working_day_limits_cross_weekends_holidays_and_make_up_days():
    three = Limit(3, True)
    # Friday afternoon 30 Sep 2022: the holiday (1-7 Oct, its weekend inside), then the
    # 调休 Saturday 8th and Sunday 9th, then Monday the 10th: due at its end.
    assert CAL.due(cst(2022, 9, 30, 15, 0), three) == cst(2022, 10, 11)
    # Friday afternoon 26 Sep 2025: Saturday off, the 调休 Sunday 28th counts.
    assert CAL.due(cst(2025, 9, 26, 15, 0), three) == cst(2025, 10, 1)
    # Five and six: over National Day 2025 to Friday the 10th, then the 调休 Saturday.
    assert CAL.due(cst(2025, 9, 26, 15, 0), Limit(5, True)) == cst(2025, 10, 11)
    assert CAL.due(cst(2025, 9, 26, 15, 0), Limit(6, True)) == cst(2025, 10, 12)
    # Hours are plain hours.
    assert CAL.due(cst(2025, 9, 30, 15, 0), Limit(24, False)) == cst(2025, 10, 1, 15, 0)
    # Working hours skip the days off.
    assert CAL.working_hours(cst(2025, 9, 30, 12, 0), cst(2025, 10, 9, 12, 0)) == 24
    assert CAL.before(cst(2022, 10, 11), 40) == cst(2022, 10, 9, 8, 0)  # the 调休 Sunday
    assert CAL.before(cst(2022, 10, 11), 56) == cst(2022, 10, 8, 16, 0)  # and Saturday
    assert CAL.after(cst(2022, 10, 1, 15, 0), 24) == cst(2022, 10, 9)
    assert CAL.workdays_late(cst(2025, 9, 30), cst(2025, 10, 10, 9, 0)) == 2  # 30 Sep, 9 Oct
    assert [Limit.parse(t) for t in ("24h", "3wd")] == [Limit(24, False), Limit(3, True)]
    with pytest.raises(ValueError):
        Limit.parse("3 days")


def test_a_limit_that_is_no_limit_is_a_config_error(tmp_path):
    from bot.config import ConfigError

    with pytest.raises(ConfigError) as bad:
        load_config(write_config(tmp_path, '[tips.limits]\nnormal = "3 days"\n'))
    assert "tips.limits.normal" in str(bad.value)
    with pytest.raises(ConfigError) as bad:
        load_config(write_config(tmp_path, '[tips.limits.sources.fax]\nnormal = "3wd"\n'))
    assert "fax" in str(bad.value)


@pytest.fixture
async def practice(city):
    """The tip service with [tips.limits] normal = 3wd, emergency = 24h, reminders 56
    working hours ahead, escalation every 24 working hours."""
    config = city.config
    limits = config.tips.limits.model_copy(update={"normal": "3wd", "emergency": "24h"})
    tips = config.tips.model_copy(
        update={"limits": limits, "remind_hours": 56, "escalate_every_hours": 24}
    )
    service = TipService(city.db, city.clock, config.model_copy(update={"tips": tips}))
    lead = await add_member(city, 2001, "WL-WH", Role.LEAD, "街道负责人")
    worker = await add_member(city, 3001, "WL-WH-CZ", Role.WORKER, "社区网格员")
    await add_member(city, 1002, "WL", Role.LEAD, "区负责人")
    return city, service, lead, worker


async def _receive(city, service: TipService, lead, urgency: int) -> str:
    draft = (await service.begin_receive(lead)).draft.id
    await service.receive_text(lead, "崔庄村民反映有人私自打井")
    await service.choose_source(lead, draft, 0)
    await service.choose_urgency(lead, draft, urgency)
    unit = await city.org.unit("WL-WH-CZ")
    await service.place_here(lead, draft, unit.id)
    await service.receive_photos_done(lead, draft)
    await service.no_contact(lead, draft)
    return (await service.submit_receive(lead, draft)).number


async def test_assign_takes_the_limit_and_the_deadline_job_follows_the_same_days(practice):
    city, service, lead, worker = practice
    city.clock.set(cst(2022, 9, 30, 15, 0).astimezone(UTC))  # a Friday afternoon
    number = await _receive(city, service, lead, 0)  # 一般: 3 working days
    tip = (await service.assign(lead, number, "WL-WH-CZ", None)).tip
    assert tip.deadline == cst(2022, 10, 11)  # the end of Monday 10 October
    assert tip.urgency == "normal"

    # The reminder comes 56 working hours before: on the 调休 Saturday 8 October, 16:00.
    assert await service.escalate() == []
    city.clock.set(cst(2022, 10, 8, 15, 59).astimezone(UTC))
    assert await service.escalate() == []
    city.clock.set(cst(2022, 10, 8, 16, 0).astimezone(UTC))
    reminded = await service.escalate()
    assert [(n.telegram_id, n.key) for n in reminded] == [
        (worker.telegram_id, "tip.reminder_notice")
    ]
    assert await service.escalate() == []  # once

    # Overdue at the deadline, not before.
    city.clock.set(cst(2022, 10, 10, 23, 59).astimezone(UTC))
    assert await service.escalate() == []
    city.clock.set(cst(2022, 10, 11, 0, 1).astimezone(UTC))
    assert {n.key for n in await service.escalate()} == {
        "tip.overdue_notice",
        "tip.escalated_notice",
    }


async def test_escalation_steps_count_working_hours_over_a_holiday(practice):
    city, service, lead, _ = practice
    city.clock.set(cst(2022, 9, 30, 15, 0).astimezone(UTC))
    number = await _receive(city, service, lead, 2)  # 紧急: 24 hours, plain hours
    tip = (await service.assign(lead, number, "WL-WH-CZ", None)).tip
    assert tip.deadline == cst(2022, 10, 1, 15, 0)
    await service.escalate()  # the reminder (already within 56 working hours)
    city.clock.set(cst(2022, 10, 1, 15, 1).astimezone(UTC))
    first = await service.escalate()
    assert [n.fields.get("level") for n in first if n.key == "tip.escalated_notice"] == [1]
    # The next level after 24 working hours: the holiday does not count, the 调休
    # Saturday does: at the end of Saturday 8 October.
    city.clock.set(cst(2022, 10, 8, 23, 59).astimezone(UTC))
    assert await service.escalate() == []
    city.clock.set(cst(2022, 10, 9, 0, 0).astimezone(UTC))
    second = await service.escalate()
    assert [n.fields.get("level") for n in second] == [2]


async def test_the_default_limit_stays_deadline_hours_without_limits(city):
    lead = await add_member(city, 2001, "WL-WH", Role.LEAD, "街道负责人")
    await add_member(city, 3001, "WL-WH-CZ", Role.WORKER, "社区网格员")
    number = await _receive(city, city.tips, lead, 1)
    start = city.clock.now()
    tip = (await city.tips.assign(lead, number, "WL-WH-CZ", None)).tip
    assert tip.deadline == start + timedelta(hours=city.config.tips.deadline_hours)


def test_local_days_come_from_the_calendar_table(tmp_path):
    config = load_config(
        write_config(
            tmp_path,
            '[calendar]\nextra_holidays = ["2026-11-24"]\nextra_workdays = ["2026-11-28"]\n'
            '[tips.limits]\nnormal = "3wd"\n[tips.limits.sources.hotline]\nemergency = "4h"\n',
        )
    )
    assert config.calendar.extra_holidays == [date(2026, 11, 24)]
    local = WorkCalendar(CST, config.calendar.extra_holidays, config.calendar.extra_workdays)
    # Monday 23rd + 3: Tuesday off, Wednesday, Thursday, Friday.
    assert local.due(cst(2026, 11, 23, 9, 0), Limit(3, True)) == cst(2026, 11, 28)
    assert local.due(cst(2026, 11, 26, 9, 0), Limit(2, True)) == cst(2026, 11, 29)  # Sat worked
    limits = config.tips.limits
    assert (limits.of("hotline", "emergency"), limits.of("online", "emergency")) == ("4h", None)
    assert limits.of("hotline", "normal") == "3wd"
