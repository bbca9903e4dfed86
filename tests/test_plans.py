"""Plans and the site registry at the domain and storage level: rounds of a weekly cycle
on the FakeClock, the import's checks and idempotence, bad input, sites joining open
plans, and progress kept by the submit transaction agreeing with the reports."""

from __future__ import annotations

import random
from datetime import timedelta

import pytest

from bot.config import load_config
from bot.core.access import Role
from bot.core.errors import Refused
from bot.domain.plans import PlanSpec
from bot.domain.sites import SiteFileProblems
from bot.services import Services
from tests.conftest import EXAMPLE_ORG, add_member, example_rows, sql_rows, write_config
from tests.test_ranking import SEED

CAMPAIGN = """
[campaign]
[[campaign.categories]]
code = "well"
name = "自备井"
statuses = [
  { code = "in_use", name = "在用" },
  { code = "sealed", name = "已封停", done = true },
]
[[campaign.categories]]
code = "hazard"
name = "防汛隐患"
statuses = [{ code = "ok", name = "正常" }, { code = "fixed", name = "已整改", done = true }]
[[reports.areas]]
unit = "WL-WH-CZ"
centre = [33.0, 112.5]
radius_m = 3000
[[reports.areas]]
unit = "WL-WH-WLG"
centre = [40.0, 80.0]
radius_m = 3000
"""


async def submit(services, member, site: str, status: int = 0, category: int = 0):
    """A report on ``site`` of the ``category``-th category (the first: wells)."""
    from bot.domain.reports import IncomingPhoto
    from tests.photos import photo

    reports = services.reports
    draft = (await reports.open(member)).view.draft.id
    await reports.choose_category(member, draft, category)
    await reports.new_site(member, draft, site)
    await reports.choose_status(member, draft, status)
    n = next(SEED)
    await reports.add_photo(member, n, IncomingPhoto(photo(n), f"f{n}", f"u{n}", False), None)
    await reports.photos_done(member, draft)
    await reports.skip_location(member, draft)
    await reports.set_note(member, draft, None)
    return await reports.submit(member, draft)


@pytest.fixture
async def town(tmp_path, clock):
    config = load_config(write_config(tmp_path, CAMPAIGN))
    services = await Services.open(config, clock=clock)
    await services.org.import_rows(example_rows(), str(EXAMPLE_ORG))
    try:
        yield services
    finally:
        await services.close()


def write(tmp_path, rows: list[str], name: str = "sites.csv"):
    path = tmp_path / name
    path.write_text("category,code,name,address,unit,lat,lon,tags,status\n" + "\n".join(rows))
    return path


def dump(services) -> str:
    """Every row of the registry's and the plans' tables, as text (either backend)."""
    lines = []
    for table in ("site", "site_tag", "plan", "plan_site", "plan_tally", "plan_draft"):
        for row in sql_rows(services.config, f"SELECT * FROM {table} ORDER BY 1, 2"):
            lines.append(f'INSERT INTO "{table}" VALUES{tuple(row)!r}')
    return "\n".join(lines)


async def due_codes(services, member) -> list[str]:
    return sorted(item.site.code for item in (await services.plans.todo(member)).items)


async def test_a_weekly_site_is_due_again_on_day_seven_not_before(town, tmp_path):
    services = town
    await services.sites.import_file(
        write(tmp_path, ["防汛隐患,H-1,桥下,,WL-WH-CZ-01,,,,", "hazard,H-2,涵洞,,WL-WH-CZ-01,,,,"])
    )
    worker = await add_member(services, 3001, "WL-WH-CZ-01", Role.WORKER, "网格员甲")
    spec = PlanSpec("汛期轮检", "hazard", "WL-WH", None, None, 7, True, "any")
    _, joined = await services.plans.create(None, spec)
    assert joined == 2
    assert await due_codes(services, worker) == ["H-1", "H-2"]
    await submit(services, worker, "H-1", category=1)  # day 0
    assert await due_codes(services, worker) == ["H-2"]
    for day in range(1, 7):
        services.clock.advance(timedelta(days=1))
        assert await due_codes(services, worker) == ["H-2"], day
    services.clock.advance(timedelta(days=1))  # day 7: a new round
    assert await due_codes(services, worker) == ["H-1", "H-2"]
    todo = await services.plans.todo(worker)
    overdue = {item.site.code: item.overdue for item in todo.items}
    assert overdue == {"H-1": False, "H-2": True}  # H-2 missed the whole first round
    (progress,) = (await services.plans.progress_many(["WL-WH"]))["WL-WH"]
    assert (progress.round, progress.total.due, progress.total.done) == (1, 2, 0)
    assert progress.total.overdue == 1


async def test_importing_twice_changes_nothing_and_updates_follow_the_file(town, tmp_path):
    services = town
    rows = [
        "自备井,J-1,一号井,建设路1号,WL-WH-CZ-01,33.001,112.501,重点用水户;洗浴中心,已封停",
        "well,J-2,二号井,,卧龙区/武侯街道/崔庄社区,,,重点用水户,in_use",
        "well,J-3,,,WL-WH-WLG,,,,",
    ]
    first = await services.sites.import_file(write(tmp_path, rows))
    assert (first.added, first.updated, first.unchanged) == (3, 0, 0)
    before = dump(services)
    again = await services.sites.import_file(write(tmp_path, rows))
    assert (again.added, again.updated, again.unchanged, again.missing) == (0, 0, 3, [])
    assert dump(services) == before
    async with services.db.read() as conn:
        from storage import sites as site_repo

        one = await site_repo.by_code(conn, "well", "J-1")
        two = await site_repo.by_code(conn, "well", "J-2")
    assert one.status == "sealed" and one.tag_list == ["重点用水户", "洗浴中心"]
    assert (one.latitude, one.longitude, one.address, one.registered) == (
        33.001,
        112.501,
        "建设路1号",
        True,
    )
    assert two.unit_code == "WL-WH-CZ"
    # Renamed, moved, re-tagged; J-3 left out (kept, reported as missing).
    changed = await services.sites.import_file(
        write(
            tmp_path,
            [
                "well,J-1,一号井（新）,建设路1号,WL-WH-CZ-02,33.001,112.501,洗浴中心,",
                "well,J-2,二号井,,WL-WH-CZ,,,重点用水户,",
            ],
        )
    )
    assert (changed.added, changed.updated, changed.unchanged) == (0, 1, 1)
    assert changed.missing == ["well:J-3"]
    async with services.db.read() as conn:
        one = await site_repo.by_code(conn, "well", "J-1")
        assert await site_repo.by_code(conn, "well", "J-3") is not None
    assert (one.name, one.unit_code, one.tag_list, one.status) == (
        "一号井（新）",
        "WL-WH-CZ-02",
        ["洗浴中心"],
        "sealed",
    )


async def test_a_bad_file_lists_every_mistake_with_its_line_and_imports_nothing(town, tmp_path):
    services = town
    bad = write(
        tmp_path,
        [
            "well,J-1,,,WL-WH-CZ-01,33.0,112.5,,",
            "well,J-2,,,NO-SUCH-UNIT,,,,",  # line 3
            "水井,J-3,,,WL-WH-CZ-01,,,,",  # line 4: unknown category
            "well,j-1,,,WL-WH-CZ-01,,,,",  # line 5: J-1 twice
            "well,J-5,,,WL-WH-CZ-01,112.5,33.0,,",  # line 6: swapped, by the area
            "well,J-6,,,WL-WH-CZ-01,95,10,,",  # line 7: out of range
            "well,J-7,,,WL-WH-CZ-01,,,,拆除",  # line 8: unknown status
            "well,J-8,,,WL-WH-WLG-01,80.0,40.0,,",  # line 9: swapped, by the area
        ],
    )
    with pytest.raises(SiteFileProblems) as caught:
        await services.sites.import_file(bad)
    lines = caught.value.problems
    assert [line.split(": ")[1] for line in lines] == [f"line {n}" for n in range(3, 10)]
    assert "unknown unit 'NO-SUCH-UNIT'" in lines[0]
    assert "unknown category '水井'" in lines[1]
    assert "twice in the file (first on line 2)" in lines[2]
    assert "out of range: latitude and longitude swapped?" in lines[3]
    assert "out of range" in lines[4]
    assert "unknown status '拆除'" in lines[5]
    assert "swapped (outside the area of WL-WH-WLG; 40.0, 80.0 is inside)" in lines[6]
    assert dump(services) == ""


async def test_bad_plans_are_refused_and_change_nothing(town, tmp_path):
    services = town
    await services.sites.import_file(write(tmp_path, ["well,J-1,,,WL-WH-CZ-01,,,重点用水户,"]))
    lead = await add_member(services, 2001, "WL-WH", Role.LEAD, "街道负责人")
    worker = await add_member(services, 3001, "WL-WH-CZ-01", Role.WORKER, "网格员甲")
    today = services.calendar.today()

    def spec(**changes):
        base = dict(
            name="回头看",
            category="well",
            unit_code="WL-WH",
            tag="重点用水户",
            deadline=today + timedelta(days=3),
            cycle_days=None,
            weekly=False,
            done_rule="any",
        )
        return PlanSpec(**{**base, **changes})

    cases = {
        "deny.scope": spec(unit_code="WC"),
        "plan.past_deadline": spec(deadline=today - timedelta(days=1)),
        "plan.bad_cycle": spec(deadline=None, cycle_days=0),
        "plan.no_sites": spec(tag="没有"),
        "plan.bad_category": spec(category="nope"),
    }
    for key, bad in cases.items():
        with pytest.raises(Refused) as caught:
            await services.plans.create(lead, bad)
        assert caught.value.key == key
    with pytest.raises(Refused) as caught:
        await services.plans.create(worker, spec())
    assert caught.value.key == "deny.role"
    assert (await services.plans.preview(lead, spec(tag="没有"))).matching == 0
    assert 'INSERT INTO "plan' not in dump(services)
    with pytest.raises(Refused):
        services.plans.schedule("0")
    with pytest.raises(Refused):
        await services.plans.start_draft(worker)


async def test_sites_join_open_plans_and_the_done_rule_counts(town, tmp_path):
    services = town
    await services.sites.import_file(write(tmp_path, ["well,J-1,,,WL-WH-CZ-01,,,重点用水户,"]))
    worker = await add_member(services, 3001, "WL-WH-CZ-01", Role.WORKER, "网格员甲")
    day = services.calendar.today() + timedelta(days=2)
    sealed, _ = await services.plans.create(
        None, PlanSpec("封停", "well", "WL-WH", None, day, None, False, "done")
    )
    tagged, _ = await services.plans.create(
        None, PlanSpec("回头看", "well", "WL-WH", "重点用水户", day, None, False, "any")
    )
    # A site a worker creates joins the untagged plan; an in-use report counts only
    # where any report does.
    await submit(services, worker, "NEW-1", status=0)  # 在用
    progress = {
        p.plan.name: p.total for p in (await services.plans.progress_many(["WL-WH"]))["WL-WH"]
    }
    assert (progress["封停"].due, progress["封停"].done) == (2, 0)
    assert (progress["回头看"].due, progress["回头看"].done) == (1, 0)
    await submit(services, worker, "J-1", status=1)  # 已封停
    progress = {
        p.plan.name: p.total for p in (await services.plans.progress_many(["WL-WH"]))["WL-WH"]
    }
    assert (progress["封停"].due, progress["封停"].done) == (2, 1)
    assert (progress["回头看"].due, progress["回头看"].done) == (1, 1)
    # Tagged later: the worker's site joins the tagged plan.
    async with services.db.read() as conn:
        from storage import sites as site_repo

        new = await site_repo.by_code(conn, "well", "NEW-1")
    assert await services.sites.tag(new.id, ["重点用水户"]) == 1
    found = await services.plans.site_plans(new.id)
    assert sorted(p.plan.name for p in found) == ["回头看", "封停"]
    # Closed plans drop out of /todo and progress; closing is audited.
    await services.plans.close(None, tagged.id)
    assert [p.plan.name for p in (await services.plans.progress_many(["WL-WH"]))["WL-WH"]] == [
        "封停"
    ]
    actions = [e.action for e in await services.audit.since(services.clock.now() - timedelta(1))]
    assert actions.count("plan.created") == 2 and "plan.closed" in actions
    assert "sites.imported" in actions
    assert sealed.id != tagged.id


async def test_progress_agrees_with_the_reports(town, tmp_path):
    services = town
    rng = random.Random(7)
    grids = ["WL-WH-CZ-01", "WL-WH-CZ-02", "WL-WH-WLG-01", "WL-QY-GN-01"]
    rows = [f"well,S-{i},,,{rng.choice(grids)},,,{'k' if i % 2 else ''}," for i in range(40)]
    await services.sites.import_file(write(tmp_path, rows))
    day = services.calendar.today() + timedelta(days=5)
    await services.plans.create(None, PlanSpec("p", "well", "WL", "k", day, None, False, "any"))
    workers = {
        g: await add_member(services, 3000 + i, g, Role.WORKER, "网格员" + "甲乙丙丁"[i])
        for i, g in enumerate(grids)
    }
    async with services.db.read() as conn:
        cur = await conn.execute(
            "SELECT s.code, u.code FROM site s JOIN org_unit u ON u.id = s.unit_id"
        )
        where = dict(await cur.fetchall())
    for code in rng.sample(sorted(where), 15):
        await submit(services, workers[where[code]], code)
    (progress,) = (await services.plans.progress_many(["WL"]))["WL"]
    for row in progress.rows:
        low, high = row.unit.path, row.unit.path[:-1] + "0"
        ((due, done),) = sql_rows(
            services.config,
            "SELECT COUNT(*), COUNT(DISTINCT r.site_id) FROM site s "
            "JOIN org_unit u ON u.id = s.unit_id "
            "JOIN site_tag t ON t.site_id = s.id AND t.tag = 'k' "
            "LEFT JOIN report r ON r.site_id = s.id "
            "WHERE u.path >= ? AND u.path < ?",
            (low, high),
        )
        assert (row.due, row.done) == (due, done), row.unit.code


async def test_ranking_columns_and_the_bulletin_plan_table(town, tmp_path):
    from io import BytesIO

    from openpyxl import load_workbook

    from bot.domain.bulletin import render_bulletin, workbook
    from handlers.grouppost import texts_in

    services = town
    rows = [f"well,S-{i},,,WL-WH-CZ-01,,,," for i in range(6)]
    rows += [f"well,T-{i},,,WL-WH-WLG-01,,,," for i in range(3)]  # below min_cases (5)
    await services.sites.import_file(write(tmp_path, rows))
    day = services.calendar.today() + timedelta(days=2)
    await services.plans.create(
        None, PlanSpec("回头看", "well", "WL-WH", None, day, None, False, "any")
    )
    cz = await add_member(services, 3001, "WL-WH-CZ-01", Role.WORKER, "网格员甲")
    wlg = await add_member(services, 3002, "WL-WH-WLG-01", Role.WORKER, "网格员乙")
    for code in ("S-0", "S-1", "S-2"):
        await submit(services, cz, code)
    await submit(services, wlg, "T-0")
    ranking = await services.ranking.rank_children("WL-WH", services.calendar.period("day"))
    by_code = {row.unit.code: row for row in ranking.rows}
    cz_row, wlg_row = by_code["WL-WH-CZ"], by_code["WL-WH-WLG"]
    assert (cz_row.plan_due, cz_row.plan_done, cz_row.plan_on_time) == (6, 3, 3)
    assert (wlg_row.plan_due, wlg_row.plan_done) == (3, 1)
    # Same reports and coverage; only 崔庄 has enough sites for the plan rates to score.
    weights = services.config.ranking.weights
    assert cz_row.score - wlg_row.score == pytest.approx(
        weights["plan_done"] * 0.5 + weights["reports"] * (1 - 1 / 3), abs=0.02
    )
    bulletin = await services.bulletins.build("WL-WH", services.calendar.today())
    say = texts_in(services)
    parts = render_bulletin(bulletin, say)
    assert "检查任务“回头看”" in parts[-1] and "崔庄社区" in parts[-1]
    book = load_workbook(BytesIO(workbook(bulletin, say)))
    sheet = book["检查任务"]
    values = [[c.value for c in row] for row in sheet.iter_rows()]
    assert values[1][:6] == ["回头看", "合计", 9, 4, 0.44, 0]
    assert values[2][:6] == ["回头看", "崔庄社区", 6, 3, 0.5, 0]
    # The 简报 document (DOCX, PDF) carries the same table: the plan, 合计, each unit.
    edition = await services.briefs.edition("WL-WH", services.calendar.today())
    document = services.briefs.document(edition, say)
    assert document.plans is not None
    assert document.plans.headers == ("检查任务", "单位", "应查", "已查", "逾期", "完成率")
    assert document.plans.rows[:2] == [
        ("回头看", "合计", "9", "4", "0", "44%"),
        ("", "崔庄社区", "6", "3", "0", "50%"),
    ]


async def test_the_sites_export_carries_each_sites_plan_state(town, tmp_path):
    from openpyxl import load_workbook

    from bot.domain.exports import Exporter, ExportRequest

    services = town
    await services.sites.import_file(
        write(
            tmp_path, ["well,J-1,一号井,,WL-WH-CZ-01,33.0,112.5,k,", "well,J-2,,,WL-WH-CZ-01,,,,"]
        )
    )
    worker = await add_member(services, 3001, "WL-WH-CZ-01", Role.WORKER, "网格员甲")
    day = services.calendar.today() + timedelta(days=1)
    await services.plans.create(
        None, PlanSpec("回头看", "well", "WL", "k", day, None, False, "any")
    )
    await services.plans.create(None, PlanSpec("轮检", "well", "WL", None, None, 3, False, "any"))
    await submit(services, worker, "J-2")
    root = await services.org.unit("WL")
    exporter = Exporter(services.config, services.catalogue)

    def export(kind, at):
        out = tmp_path / f"{kind}.xlsx"
        exporter.run(ExportRequest(kind, root.path, at=at), out)
        rows = list(load_workbook(out).active.iter_rows(values_only=True))
        return {row[0]: row[-1] for row in rows[1:]}

    now = services.clock.now()
    assert export("sites", now) == {"J-1": "回头看：待查、轮检：待查", "J-2": "轮检：本轮已查"}
    assert export("remaining", now) == {"J-1": "回头看：待查、轮检：待查"}
    later = now + timedelta(days=6)  # past the deadline; the cycle in its third round
    assert export("sites", later) == {"J-1": "回头看：逾期、轮检：逾期", "J-2": "轮检：逾期"}
    assert set(export("remaining", later)) == {"J-1", "J-2"}


async def test_an_xlsx_registry_and_a_workers_site_registered_later(town, tmp_path):
    from openpyxl import Workbook

    services = town
    worker = await add_member(services, 3001, "WL-WH-CZ-01", Role.WORKER, "网格员甲")
    day = services.calendar.today() + timedelta(days=2)
    await submit(services, worker, "NEW-9")  # a site a worker made
    await services.plans.create(
        None, PlanSpec("回头看", "well", "WL-WH", None, day, None, False, "any")
    )
    tagged = PlanSpec("重点", "well", "WL-WH", "重点用水户", day, None, False, "any")
    with pytest.raises(Refused):
        await services.plans.create(None, tagged)  # nothing has the tag yet
    book = Workbook()
    sheet = book.active
    sheet.append(["category", "code", "name", "address", "unit", "lat", "lon", "tags", "status"])
    sheet.append(["自备井", "X-1", "一号", None, "WL-WH-CZ-02", 33.01, 112.51, "重点用水户", None])
    sheet.append(["well", "new-9", "九号", None, "WL-WH-CZ-01", None, None, "重点用水户", None])
    path = tmp_path / "sites.xlsx"
    book.save(path)
    result = await services.sites.import_file(path)
    assert (result.rows, result.added, result.updated) == (2, 1, 1)
    async with services.db.read() as conn:
        from storage import sites as site_repo

        nine = await site_repo.by_code(conn, "well", "NEW-9")
    assert nine.registered and nine.tag_list == ["重点用水户"] and nine.name == "九号"
    _, joined = await services.plans.create(None, tagged)
    assert joined == 2
    (progress,) = [
        p
        for p in (await services.plans.progress_many(["WL-WH"]))["WL-WH"]
        if p.plan.name == "回头看"
    ]
    assert (progress.total.due, progress.total.done) == (2, 0)  # X-1 joined on import
    await submit(services, worker, "NEW-9")
    (progress,) = [
        p
        for p in (await services.plans.progress_many(["WL-WH"]))["WL-WH"]
        if p.plan.name == "回头看"
    ]
    assert (progress.total.due, progress.total.done) == (2, 1)
