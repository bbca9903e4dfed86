"""Ranking the children of a unit: figures from the per-day aggregates agree with plain
SQL over the raw rows; scores, ties, the minimum of cases and movement."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from bot.core.access import Role
from bot.domain.ranking import Period, Ranking, RankingService, RankRow
from bot.domain.reports import IncomingPhoto
from tests.conftest import add_member
from tests.photos import photo

SEED = iter(range(5000, 100_000))  # explicit seeds below 5000 never collide


async def submit(
    services, member, site: str, status: int = 0, seed: int | None = None, note: str | None = None
):
    reports = services.reports
    draft = (await reports.open(member)).view.draft.id
    await reports.new_site(member, draft, site)
    await reports.choose_status(member, draft, status)
    n = seed if seed is not None else next(SEED)
    await reports.add_photo(member, n, IncomingPhoto(photo(n), f"f{n}", f"u{n}", False), None)
    await reports.photos_done(member, draft)
    await reports.set_location(member, draft, 33.0, 112.5)
    await reports.set_note(member, draft, note)
    return await reports.submit(member, draft)


async def plain_counts(services, first: date, last: date) -> dict[str, tuple[int, int, int]]:
    """Per district: (reports, grids with a report, reporters) straight from `report`."""
    zone = services.config.locale.zone
    from datetime import datetime, time

    from storage.times import to_text

    start = to_text(datetime.combine(first, time(0), zone))
    end = to_text(datetime.combine(last + timedelta(days=1), time(0), zone))
    out = {}
    async with services.db.read() as conn:
        async with conn.execute(
            "SELECT id, code, path FROM org_unit WHERE level = 'district'"
        ) as cur:
            districts = list(await cur.fetchall())
        for district in districts:
            low, high = district["path"], district["path"][:-1] + "0"
            async with conn.execute(
                "SELECT COUNT(*), COUNT(DISTINCT CASE WHEN u.level = 'grid' THEN u.id END), "
                "COUNT(DISTINCT r.member_id) FROM report r JOIN org_unit u ON u.id = r.unit_id "
                "WHERE u.path >= ? AND u.path < ? AND r.created_at >= ? AND r.created_at < ?",
                (low, high, start, end),
            ) as cur:
                out[district["code"]] = tuple(await cur.fetchone())
    return out


async def test_figures_match_plain_sql_and_silent_units_are_named(city, clock):
    a = await add_member(city, 1, "WL-WH-CZ-01", Role.WORKER, "网格员甲")
    b = await add_member(city, 2, "WL-WH-CZ-02", Role.WORKER, "网格员乙")
    c = await add_member(city, 3, "WC-XH-XH-01", Role.WORKER, "网格员丙")
    await submit(city, a, "A-1", status=1, seed=1000)  # 已封停: done
    await submit(city, a, "A-2")
    await submit(city, b, "B-1")
    await submit(city, c, "C-1", seed=1000)  # the same photo as A-1: flagged
    ranking = RankingService(city.db, clock, city.config)
    today = ranking.today()
    result = await ranking.rank_children(None, Period.of("day", today))
    rows = {row.unit.code: row for row in result.rows}
    plain = await plain_counts(city, today, today)
    for code, (reports, grids, reporters) in plain.items():
        assert (rows[code].reports, rows[code].grids_covered, rows[code].members_active) == (
            reports,
            grids,
            reporters,
        ), code
    assert rows["WL"].reports == 3 and rows["WC"].reports == 1
    assert rows["WC"].flagged == 1 and rows["WL"].flagged == 0
    assert (rows["WL"].sites, rows["WL"].sites_done) == (3, 1)
    assert [u.code for u in result.silent] == ["GX", "SF"]
    assert [row.rank for row in result.rows] == [1, 2, 3, 4]
    assert result.rows[0].unit.code == "WL"
    # GX and SF tie at zero: the tie breaks by unit code.
    assert [row.unit.code for row in result.rows[2:]] == ["GX", "SF"]
    # A day with nothing: every child is silent, and the day before has no movement data.
    empty = await ranking.rank_children(None, Period.of("day", today - timedelta(days=3)))
    assert len(empty.silent) == 4 and all(row.move is None for row in empty.rows)


async def test_streets_of_one_district_and_movement(city, clock):
    a = await add_member(city, 1, "WL-WH-CZ-01", Role.WORKER, "网格员甲")
    await submit(city, a, "A-1")
    ranking = RankingService(city.db, clock, city.config)
    yesterday = await ranking.rank_children("WL", Period.of("day", ranking.today()))
    assert yesterday.rows[0].unit.code == "WL-WH"
    clock.advance(timedelta(days=1))
    other = await add_member(city, 2, "WL-QY-QY-01", Role.WORKER, "网格员乙")
    await submit(city, other, "Q-1")
    await submit(city, other, "Q-2")
    today = await ranking.rank_children("WL", Period.of("day", ranking.today()))
    rows = {row.unit.code: row for row in today.rows}
    assert today.rows[0].unit.code == "WL-QY"
    before = {row.unit.code: row.rank for row in yesterday.rows}
    assert before["WL-QY"] > 1 and rows["WL-QY"].move == before["WL-QY"] - 1
    # First yesterday; today it ties at zero with two streets of lower code: fourth.
    assert (rows["WL-WH"].rank, rows["WL-WH"].move) == (4, -3)


def test_a_rate_over_too_few_cases_does_not_count(config, clock):
    from storage.units import Unit

    service = RankingService(None, clock, config)  # type: ignore[arg-type]
    one_of_one = RankRow(
        Unit(1, "A", "A", "district", None, "/1/", 0, True), tips_assigned=1, tips_closed=1
    )
    many = RankRow(
        Unit(2, "B", "B", "district", None, "/2/", 0, True), tips_assigned=10, tips_closed=8
    )
    scored = {r.unit.code: r for r in service._score([one_of_one, many])}
    assert scored["B"].rank == 1 and scored["A"].score == 0


def test_periods():
    day = date(2026, 11, 25)  # a Wednesday
    assert Period.of("week", day).first == date(2026, 11, 23)
    assert Period.of("week", day).previous().last == date(2026, 11, 22)
    assert Period.of("month", day).previous() == Period(
        "month", date(2026, 10, 1), date(2026, 10, 31)
    )
    with pytest.raises(ValueError):
        Period.of("year", day)


def test_a_long_table_is_split_between_rows_with_the_header_on_every_part():
    from bot.domain.digest import MESSAGE_LIMIT, render_daily
    from bot.i18n import Catalogue
    from storage.units import Unit

    catalogue = Catalogue.load()
    parent = Unit(1, "NY", "南阳市", "city", None, "/1/", 0, True)
    rows = [
        RankRow(
            Unit(
                i + 2,
                f"U{i:03d}",
                f"第{i:03d}号超长名称的社区居民委员会",
                "district",
                1,
                f"/1/{i + 2}/",
                i,
                True,
            ),
            reports=i,
            score=300 - i,
            rank=i + 1,
        )
        for i in range(300)
    ]
    ranking = Ranking(parent, Period.of("day", date(2026, 11, 23)), rows)
    messages = render_daily(ranking, lambda key, **f: catalogue.text("zh", key, **f))
    assert len(messages) > 3
    seen = []
    for message in messages:
        assert len(message) <= 4096
        body = message.split("<pre>", 1)[1].split("</pre>", 1)[0].splitlines()
        assert body[0].split()[:2] == ["名次", "单位"]
        seen += [line.split()[1] for line in body[1:]]
    assert seen == [row.unit.name for row in rows]  # every row once, whole, in order
    assert MESSAGE_LIMIT < 4096
