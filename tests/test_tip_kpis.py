"""The unit KPI table for a seeded month matches figures computed here, independently,
from the timeline's event rows: deadlines from the assigned / extended / reopened events'
fields, closures from the submitted and closed events, rework, extensions and call-backs
counted as events. Also the 通报 list and the parked list."""

from __future__ import annotations

import json
import random
import statistics
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from bot.core.access import Role
from bot.core.workdays import WorkCalendar
from bot.domain.tip_kpis import kpi_table, named_units, parked_list
from bot.domain.tips import TipService
from storage.tips import Declined, Satisfaction
from tests.conftest import add_member

CST = ZoneInfo("Asia/Shanghai")
UNITS = ("WL-WH-CZ", "WL-WH-WLG", "WC-XH-XH")  # two in 卧龙区, one in 宛城区
START, END = datetime(2026, 11, 1, tzinfo=CST), datetime(2026, 12, 1, tzinfo=CST)


async def _receive(service: TipService, actor, unit_id: int, text: str) -> str:
    draft = (await service.begin_receive(actor)).draft.id
    await service.receive_text(actor, text)
    await service.choose_source(actor, draft, 0)
    await service.choose_urgency(actor, draft, 0)
    await service.place_here(actor, draft, unit_id)
    await service.receive_photos_done(actor, draft)
    await service.no_contact(actor, draft)
    return (await service.submit_receive(actor, draft)).number


async def _seed(city, rng: random.Random) -> None:
    """Forty tips over November (and a few running into December), each along a random
    road: extended or not, closed on time or late or not at all, checked and sent back,
    called back, reopened; one not accepted."""
    config = city.config
    tips = config.tips.model_copy(update={"verify": True, "after_photo": False})
    checked = TipService(city.db, city.clock, config.model_copy(update={"tips": tips}))
    plain = city.tips
    admin = await add_member(city, 1001, "NY", Role.ADMIN, "市管理员")
    units = {code: await city.org.unit(code) for code in UNITS}
    for i in range(40):
        start = datetime(2026, 11, 1, 9, tzinfo=CST) + timedelta(hours=17 * i)
        city.clock.set(start.astimezone(UTC))
        service = checked if rng.random() < 0.4 else plain
        code = rng.choice(UNITS)
        number = await _receive(plain, admin, units[code].id, f"第{i}条 私自打井")
        if i == 7:
            await plain.decline(admin, number, Declined.REMIT, "不归本单位")
            continue
        hours = rng.choice((None, 24, 48, 96))
        tip = (await plain.assign(admin, number, code, hours)).tip
        assert tip.deadline is not None
        clock = start
        if rng.random() < 0.3:
            clock += timedelta(hours=2)
            city.clock.set(clock.astimezone(UTC))
            day = (tip.deadline + timedelta(days=rng.randint(1, 4))).astimezone(CST).date()
            await plain.ask_extension(admin, number, day, "等待材料")
            tip = (await plain.decide_extension(admin, tip.id, rng.random() < 0.7)).tip
        fate = rng.random()
        if fate < 0.15:
            continue  # left open (due, maybe overdue)
        late = fate > 0.75
        clock = (tip.deadline + timedelta(hours=rng.randint(1, 30))) if late else clock
        clock += timedelta(hours=rng.randint(1, 5))
        city.clock.set(clock.astimezone(UTC))
        step = await service.begin_close(admin, number)
        await service.close_text(admin, "已处理")
        await service.close_photos_done(admin, step.draft.id)
        outcome = await service.close(admin, step.draft.id, rng.random() < 0.8)
        if service is checked:
            if rng.random() < 0.5:
                clock += timedelta(hours=1)
                city.clock.set(clock.astimezone(UTC))
                await checked.begin_return(admin, tip.id)
                await checked.send_back(admin, "照片不清楚")
                clock += timedelta(hours=3)
                city.clock.set(clock.astimezone(UTC))
                step = await checked.begin_close(admin, number)
                await checked.close_text(admin, "已补充")
                await checked.close_photos_done(admin, step.draft.id)
                await checked.close(admin, step.draft.id, True)
            clock += timedelta(hours=1)
            city.clock.set(clock.astimezone(UTC))
            outcome = await checked.approve(admin, tip.id)
        assert outcome.tip.state == "closed"
        if rng.random() < 0.6:
            clock += timedelta(hours=5)
            city.clock.set(clock.astimezone(UTC))
            said = rng.choice(list(Satisfaction))
            fault = said is Satisfaction.DISSATISFIED and rng.random() < 0.7
            await plain.call_back(admin, number, said, fault, "回访")


async def _expected(city, workdays: WorkCalendar) -> dict[str, dict[str, object]]:
    """The KPIs per district and in total, from the event rows alone."""
    async with (
        city.db.read() as conn,
        conn.execute(
            "SELECT tip_id, kind, at, from_state, to_state, note_fields FROM tip_event ORDER BY id"
        ) as cur,
    ):
        rows = [dict(r) for r in await cur.fetchall()]
    by_tip: dict[int, list[dict]] = {}
    for row in rows:
        row["at"] = datetime.fromisoformat(row["at"].replace("Z", "+00:00"))
        row["fields"] = json.loads(row["note_fields"]) if row["note_fields"] else {}
        by_tip.setdefault(row["tip_id"], []).append(row)
    district_of = {}
    for code in UNITS:
        unit = await city.org.unit(code)
        district_of[unit.name] = "卧龙区" if code.startswith("WL") else "宛城区"
    names = ("卧龙区", "宛城区", "total")
    figures = {
        n: {k: 0 for k in ("due", "on_time", "closed", "reworked", "rework", "ext", "cb", "ok")}
        for n in names
    }
    hours: dict[str, list[float]] = {n: [] for n in names}

    def within(moment: datetime | None) -> bool:
        return moment is not None and START <= moment < END

    for events in by_tip.values():
        kinds = [e["kind"] for e in events]
        if "declined" in kinds or "assigned" not in kinds:
            continue
        assigned = [e for e in events if e["kind"] == "assigned"][-1]
        district = district_of[assigned["fields"]["unit"]]
        deadline = None
        for e in events:
            if e["kind"] in ("assigned", "extended", "reopened", "unparked"):
                deadline = datetime.fromisoformat(e["fields"]["deadline"])
        moves = [e for e in events if e["to_state"] is not None]
        stands = moves[-1]["to_state"] == "closed"
        closed_at = None
        for e in events:
            unit_closed = e["kind"] == "closed" and e["from_state"] == "assigned"
            if e["kind"] == "submitted" or unit_closed:
                closed_at = e["at"]  # the unit's closure (a check's 通过 is not)
            if e["kind"] in ("returned", "reopened"):
                closed_at = None
        for name in (district, "total"):
            f = figures[name]
            if within(deadline):
                f["due"] += 1
                f["on_time"] += bool(stands and closed_at and closed_at <= deadline)
            if stands and within(closed_at):
                f["closed"] += 1
                f["reworked"] += any(k in ("returned", "reopened") for k in kinds)
                hours[name].append(workdays.working_hours(assigned["at"], closed_at))
            for e in events:
                if not within(e["at"]):
                    continue
                f["rework"] += e["kind"] in ("returned", "reopened")
                f["ext"] += e["kind"] == "extended"
                f["cb"] += e["kind"] == "called_back"
                f["ok"] += e["kind"] == "called_back" and e["fields"]["outcome"] != "dissatisfied"
    for name in names:
        figures[name]["median"] = round(statistics.median(hours[name]), 1) if hours[name] else None
    return figures


async def test_the_kpi_table_of_a_seeded_month_matches_the_event_rows(city):
    await _seed(city, random.Random(17))
    workdays = city.tips.workdays
    rows = await kpi_table(city.db, workdays, START, END)
    expected = await _expected(city, workdays)
    got = {
        ("total" if r.total else r.area): {
            "due": r.due,
            "on_time": r.on_time,
            "closed": r.closed,
            "reworked": r.reworked,
            "rework": r.rework,
            "ext": r.extensions,
            "cb": r.callbacks,
            "ok": r.satisfied,
            "median": r.median_hours,
        }
        for r in rows
        if r.total or r.area in ("卧龙区", "宛城区")
    }
    assert got == expected
    total = rows[0]
    # A month with every kind of case in it, so the comparison means something.
    assert total.due >= 20 and 0 < total.on_time < total.due
    assert total.rework >= 3 and total.extensions >= 2 and total.callbacks >= 5
    assert 0 < total.satisfied < total.callbacks and total.median_hours
    assert total.on_time_rate == total.on_time * 100 // total.due


async def test_the_named_units_and_the_parked_list(city):
    admin = await add_member(city, 1001, "NY", Role.ADMIN, "市管理员")
    unit = await city.org.unit("WL-WH-CZ")
    late = await _receive(city.tips, admin, unit.id, "私自打井")
    parked = await _receive(city.tips, admin, unit.id, "崔庄社区等待管网")
    for number in (late, parked):
        await city.tips.assign(admin, number, "WL-WH-CZ", 24)  # due Tue 24 Nov 09:00
    await city.tips.park(admin, parked, date(2026, 12, 31), "等待管网建设")
    workdays = city.tips.workdays
    # Wed 25 Nov 10:00 CST: one working day over (Tue after 09:00 does not complete one).
    wednesday = datetime(2026, 11, 26, 10, tzinfo=CST)
    assert await named_units(city.db, workdays, wednesday, 3) == []
    monday = datetime(2026, 11, 30, 10, tzinfo=CST)  # Tue, Wed, Thu, Fri ended: 4 days
    (named,) = await named_units(city.db, workdays, monday, 3)
    assert (named.unit, named.tips, named.worst) == ("崔庄社区", (late,), 4)
    (listed,) = await parked_list(city.db)
    assert (listed.number, listed.until, listed.reason) == (
        parked,
        date(2026, 12, 31),
        "等待管网建设",
    )


async def test_the_ranking_scores_on_time_closure_with_the_minimum_cases_rule(city):
    """[ranking] weights on_time / rework / satisfaction: a rate over fewer than min_cases
    tips scores nothing, so one tip closed on time out of one does not top the table."""
    from bot.core.periods import WEEK, Period
    from bot.domain.ranking import RankingService

    admin = await add_member(city, 1001, "NY", Role.ADMIN, "市管理员")
    plan = {"WL-WH-CZ": [True, False], "WL-WH-WLG": [True]}  # closed on time?
    for code, fates in plan.items():
        unit = await city.org.unit(code)
        for on_time in fates:
            city.clock.set(datetime(2026, 11, 23, 9, tzinfo=CST).astimezone(UTC))
            number = await _receive(city.tips, admin, unit.id, "私自打井")
            await city.tips.assign(admin, number, code, 24)
            if not on_time:
                city.clock.set(datetime(2026, 11, 25, 9, tzinfo=CST).astimezone(UTC))
            step = await city.tips.begin_close(admin, number)
            await city.tips.close_text(admin, "已处理")
            await city.tips.close_photos_done(admin, step.draft.id)
            await city.tips.close(admin, step.draft.id, True)
    weights = {name: 0.0 for name in city.config.ranking.weights} | {"on_time": 2.0}
    ranking = city.config.ranking.model_copy(update={"weights": weights, "min_cases": 2})
    service = RankingService(
        city.db, city.clock, city.config.model_copy(update={"ranking": ranking})
    )
    week = Period.of(WEEK, date(2026, 11, 23))
    rows = {r.unit.code: r for r in (await service.rank_children("WL-WH", week)).rows}
    cz, wlg = rows["WL-WH-CZ"], rows["WL-WH-WLG"]
    assert (cz.tips_due, cz.tips_on_time, wlg.tips_due, wlg.tips_on_time) == (2, 1, 1, 1)
    assert (cz.score, wlg.score) == (1.0, 0.0)  # 2 × 1/2; WLG's 1 of 1 is below min_cases
    assert cz.rank < wlg.rank


async def test_the_weekly_bulletin_adds_the_kpis_the_named_units_and_the_parked_tips(city, clock):
    from bot.domain.bulletin import render_bulletin, workbook

    admin = await add_member(city, 1001, "NY", Role.ADMIN, "市管理员")
    unit = await city.org.unit("WL-WH-CZ")
    numbers = [await _receive(city.tips, admin, unit.id, f"私自打井{n}") for n in range(3)]
    for number in numbers:
        await city.tips.assign(admin, number, "WL-WH-CZ", 24)  # due Tue 24 Nov 09:00
    done, late, parked = numbers
    step = await city.tips.begin_close(admin, done)
    await city.tips.close_text(admin, "已处理")
    await city.tips.close_photos_done(admin, step.draft.id)
    await city.tips.close(admin, step.draft.id, True)
    await city.tips.park(admin, parked, date(2027, 3, 31), "等待管网建设")

    bulletin = await city.bulletins.build(None, date(2026, 11, 29))  # Mon 23 – Sun 29
    total = bulletin.kpis[0]
    assert (total.due, total.on_time, total.closed) == (3, 1, 1)
    assert [(u.unit, u.tips, u.worst) for u in bulletin.named] == [("崔庄社区", (late,), 4)]
    assert [p.number for p in bulletin.parked] == [parked]

    catalogue = city.catalogue

    def say(key: str, **fields: object) -> str:
        return catalogue.text("zh", key, **fields)

    parts = render_bulletin(bulletin, say)
    assert "单位办理绩效" in parts[2] and "按期办结率" in parts[2] and "33%" in parts[2]
    assert "通报" in parts[3] and f"崔庄社区：1 条超期，最长 4 个工作日（{late}）" in parts[3]
    assert f"{parked} 崔庄社区 挂账至 2027-03-31：等待管网建设" in parts[4]
    assert len(workbook(bulletin, say)) > 0
    # The 简报 document names the same units and lists the parked tip apart.
    clock.set(datetime(2026, 11, 30, 1, tzinfo=UTC))  # Monday 09:00 local: the week is over
    document = city.briefs.document(await city.briefs.edition(None, date(2026, 11, 29)), say)
    assert document.overdue[1:] == [
        "予以通报（线索超期未办结）：",
        f"崔庄社区：1 条超期，最长 4 个工作日（{late}）",
        "挂账线索（1条，不计入超期）：",
        f"{parked} 崔庄社区 挂账至 2027-03-31：等待管网建设",
    ]


async def test_a_parked_tip_closed_after_all_leaves_the_parked_list(city):
    admin = await add_member(city, 1001, "NY", Role.ADMIN, "市管理员")
    unit = await city.org.unit("WL-WH-CZ")
    number = await _receive(city.tips, admin, unit.id, "崔庄社区等待管网")
    await city.tips.assign(admin, number, "WL-WH-CZ", 24)
    await city.tips.park(admin, number, date(2026, 11, 30), "等待管网建设")
    step = await city.tips.begin_close(admin, number)
    await city.tips.close_text(admin, "管网已通")
    await city.tips.close_photos_done(admin, step.draft.id)
    await city.tips.close(admin, step.draft.id, True)
    assert await parked_list(city.db) == []
    city.clock.set(datetime(2026, 12, 1, 9, tzinfo=CST).astimezone(UTC))
    assert await city.tips.escalate() == []  # its target day passes quietly


async def test_a_tip_not_accepted_is_kept_and_listed_but_not_counted_as_received(city):
    from bot.formats.tiptable import tip_table

    admin = await add_member(city, 1001, "NY", Role.ADMIN, "市管理员")
    unit = await city.org.unit("WL-WH-CZ")
    kept = await _receive(city.tips, admin, unit.id, "私自打井")
    declined = await _receive(city.tips, admin, unit.id, "邻居家装修噪音")
    tip = await city.tips.decline(admin, declined, Declined.REMIT, "不属网格职责")
    assert (tip.state, tip.declined) == ("closed", "remit")
    end = city.clock.now() + timedelta(minutes=1)
    total = (await tip_table(city.db, None, end))[0]
    assert total.received == 1  # 不予受理 is no 受理
    timeline = await city.tips.timeline(admin, declined)  # kept, with its reason
    assert [e.note_key for e in timeline.events][-1] == "declined"
    assert timeline.events[-1].note == "不属网格职责"
    assert (await city.tips.timeline(admin, kept)).tip.declined is None
