"""The weekly bulletin (简报): the official tip table, the week's reports and grid
coverage by unit, the top and bottom units — as text and as an XLSX workbook with one
sheet per table. Telegram-free.

A bulletin covers the seven days that end the day before it is due (a Friday bulletin
covers Friday to Thursday) and is cut off at midnight after its last day, so
``gridbot tips table --from FIRST --to LAST`` prints the same tip table.
"""

from __future__ import annotations

import html
import io
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta

from openpyxl import Workbook

from bot.config import WEEKDAYS, Config
from bot.core.clock import Clock
from bot.core.periods import Calendar, Period
from bot.core.workdays import WorkCalendar
from bot.domain import audit
from bot.domain.digest import DueDigest, Interrupted, Plan, percent
from bot.domain.plans import PlanProgress, PlanService, plan_sheet, render_progress
from bot.domain.ranking import Ranking, RankingService
from bot.domain.tip_kpis import NamedUnit, ParkedTip, UnitKpi, kpi_table, named_units, parked_list
from bot.formats import kpitable
from bot.formats.columns import aligned
from bot.formats.spreadsheet import xlsx_row
from bot.formats.tiptable import TableRow, labels, render, tip_table
from storage import digests as digest_repo
from storage import groups as group_repo
from storage.db import Database
from storage.members import Member


@dataclass(frozen=True)
class Bulletin:
    period: Period
    tips: list[TableRow]
    ranking: Ranking
    plans: list[PlanProgress] = field(default_factory=list)  # open plans over the unit
    # Tips handled as cases: the unit KPIs beside the official table, the units named
    # (通报) for tips N working days overdue, and the parked tips (挂账), listed apart.
    kpis: list[UnitKpi] = field(default_factory=list)
    named: list[NamedUnit] = field(default_factory=list)
    parked: list[ParkedTip] = field(default_factory=list)

    @property
    def parent_name(self) -> str:
        """The name of the unit whose children the bulletin ranks."""
        return self.ranking.parent.name


def period_ending(last: date) -> Period:
    """The seven days a bulletin covers, ending with ``last``."""
    return Period.ending(last, 7)


class BulletinService:
    def __init__(self, db: Database, clock: Clock, config: Config, ranking: RankingService):
        self.db = db
        self.clock = clock
        self.zone = config.locale.zone
        self.calendar = Calendar(clock, self.zone)
        self.schedule = config.schedule
        self.ranking = ranking
        self.interrupted = Interrupted(clock, config.schedule.catch_up_hours)
        self.plans = PlanService(db, clock, config)
        self.workdays = WorkCalendar(
            self.zone, config.calendar.extra_holidays, config.calendar.extra_workdays
        )
        self.name_after = config.tips.name_after_workdays

    def latest_due(self) -> datetime:
        """The most recent weekly bulletin time at or before now."""
        weekday, hhmm = self.schedule.weekly_bulletin.split()
        hour, minute = (int(x) for x in hhmm.split(":"))
        return self.calendar.latest(time(hour, minute), WEEKDAYS.index(weekday))

    async def build(self, parent_code: str | None, last: date) -> Bulletin:
        """The bulletin of the children of ``parent_code`` (the city when None) for the seven days
        ending ``last``; ``unit.unknown`` for a code no unit has. No scope check, nothing
        recorded (``plan`` publishes)."""
        return (await self.build_many([parent_code], last))[parent_code]

    async def build_many(
        self, parent_codes: list[str | None], last: date
    ) -> dict[str | None, Bulletin]:
        """Bulletins of several units for one period, the figures read once."""
        period = period_ending(last)
        start, end = period.bounds(self.zone)
        rankings = await self.ranking.rank_many(parent_codes, period)
        codes = [code or rankings[code].parent.code for code in parent_codes]
        plans = await self.plans.progress_many(codes, at=end)
        built = {}
        for code in parent_codes:
            path = rankings[code].parent.path
            built[code] = Bulletin(
                period,
                await tip_table(self.db, start, end, code),
                rankings[code],
                plans[code or rankings[code].parent.code],
                await kpi_table(self.db, self.workdays, start, end, code),
                await named_units(self.db, self.workdays, end, self.name_after, path),
                await parked_list(self.db, path),
            )
        return built

    async def plan(
        self,
        groups_in: str | None = None,
        last: date | None = None,
        publisher: Member | None = None,
    ) -> Plan:
        """Claim the bulletin of every bound group (within the subtree at ``groups_in``)
        that has not had it: the scheduled one (``last`` None), with the sends an earlier
        run left unfinished, or one an admin (``publisher``) publishes, which is audited."""
        now = self.clock.now()
        scheduled = last is None
        if last is None:
            due = self.latest_due()
            last = due.date() - timedelta(days=1)
            late = now - due > timedelta(hours=self.schedule.catch_up_hours)
        else:
            due, late = now, False
        period = period_ending(last)
        async with self.db.transaction() as conn:
            plan = await self.interrupted.take_over(conn, "weekly") if scheduled else Plan()
            groups = (
                await group_repo.in_subtree(conn, groups_in)
                if groups_in
                else await group_repo.active(conn)
            )
            for group in groups:
                if not group.active or group.bound_at > due:
                    continue
                state = "skipped" if late else "sending"
                key = period.first.isoformat()
                if await digest_repo.claim(conn, group.id, "weekly", key, due, state):
                    (plan.skipped if late else plan.send).append(
                        DueDigest(group, "weekly", period, due)
                    )
            if publisher is not None and plan.send:
                await audit.record(
                    conn,
                    self.clock,
                    "bulletin.published",
                    actor=publisher,
                    target=f"{period.first.isoformat()} — {period.last.isoformat()}",
                    unit_id=publisher.unit_id,
                    groups=len(plan.send),
                )
        if scheduled:
            self.interrupted.taken("weekly")
        return plan


def _pre(lines: list[str]) -> str:
    return "<pre>" + "\n".join(html.escape(line) for line in lines) + "</pre>"


def _report_rows(ranking: Ranking) -> list[tuple[str, ...]]:
    return [
        (
            row.unit.name,
            str(row.reports),
            f"{row.grids_covered}/{row.grids}",
            percent(row.grids_covered, row.grids),
            str(row.members_active),
            f"{row.sites_done}/{row.sites}",
        )
        for row in ranking.rows
    ]


def render_bulletin(bulletin: Bulletin, text: Callable[..., str]) -> list[str]:
    """The bulletin as HTML messages, one per table; a table too long for one Telegram
    message is sent in several, cut between rows (``bot.runtime.sending.GridBot``)."""
    period = bulletin.period
    title = text(
        "bulletin.title",
        unit=html.escape(bulletin.parent_name),
        first=period.first.isoformat(),
        last=period.last.isoformat(),
    )
    report_headers = tuple(text(f"bulletin.column.{c}") for c in _REPORT_COLUMNS)
    tip_lines = render(bulletin.tips, labels(text)).splitlines()
    parts = [
        f"{title}\n\n{text('bulletin.tips_heading')}\n" + _pre(tip_lines),
        f"{text('bulletin.reports_heading')}\n"
        + _pre(aligned([report_headers, *_report_rows(bulletin.ranking)])),
    ]
    rows = bulletin.ranking.rows
    if rows:
        parts[-1] += "\n\n" + text(
            "bulletin.top_bottom",
            top=html.escape(rows[0].unit.name),
            bottom=html.escape(rows[-1].unit.name),
        )
    for progress in bulletin.plans:  # the plan table, one per open plan
        parts.append(render_progress(progress, text, progress.round_ends.strftime("%Y-%m-%d")))
    parts += render_cases(bulletin, text)
    return parts


def _counts_something(total: UnitKpi) -> bool:
    return any((total.due, total.closed, total.rework, total.extensions, total.callbacks))


def render_cases(bulletin: Bulletin, text: Callable[..., str]) -> list[str]:
    """The case-practice parts of a bulletin: the KPI table, the 通报 list, the parked
    tips (each only when there is something in it)."""
    parts = []
    if bulletin.kpis and _counts_something(bulletin.kpis[0]):
        kpi_lines = kpitable.render(bulletin.kpis, kpitable.labels(text)).splitlines()
        parts.append(f"{text('bulletin.kpis_heading')}\n" + _pre(kpi_lines))
    if bulletin.named:
        lines = [text("bulletin.named_heading")]
        for unit in bulletin.named:
            numbers = text("list.separator").join(unit.tips)
            lines.append(
                text(
                    "bulletin.named_line",
                    unit=html.escape(unit.unit),
                    count=len(unit.tips),
                    days=unit.worst,
                    numbers=numbers,
                )
            )
        parts.append("\n".join(lines))
    if bulletin.parked:
        lines = [text("bulletin.parked_heading", count=len(bulletin.parked))]
        for tip in bulletin.parked:
            lines.append(
                text(
                    "bulletin.parked_line",
                    number=tip.number,
                    unit=html.escape(tip.unit),
                    day=tip.until.isoformat(),
                    reason=html.escape(tip.reason),
                )
            )
        parts.append("\n".join(lines))
    return parts


def workbook(bulletin: Bulletin, text: Callable[..., str]) -> bytes:
    """The bulletin's tables as XLSX, one sheet each."""
    book = Workbook()
    tips = book.active
    assert tips is not None
    tips.title = text("bulletin.sheet.tips")
    words = labels(text)
    tips.append(xlsx_row(tips, list(words.headers)))
    for row in bulletin.tips:
        # The truncated percentage, so that the sheet shows what the printed table shows.
        rate = None if row.percent is None else row.percent / 100
        values = [row.name(words), row.received, row.assigned, row.closed, rate, row.valid]
        tips.append(xlsx_row(tips, values))
    for cell in tips["E"][1:]:
        cell.number_format = "0%"
    reports = book.create_sheet(text("bulletin.sheet.reports"))
    reports.append(xlsx_row(reports, [text(f"bulletin.column.{c}") for c in _XLSX_REPORT_COLUMNS]))
    for r in bulletin.ranking.rows:
        reports.append(
            xlsx_row(
                reports,
                [
                    r.rank,
                    r.unit.code,
                    r.unit.name,
                    r.score,
                    r.reports,
                    r.grids_covered,
                    r.grids,
                    r.members_active,
                    r.members,
                    r.sites_done,
                    r.sites,
                    r.flagged,
                    r.overdue,
                    r.plan_done,
                    r.plan_due,
                    r.plan_on_time,
                ],
            )
        )
    if bulletin.plans:
        plan_sheet(book, bulletin.plans, text)
    if bulletin.kpis:
        kpis = book.create_sheet(text("bulletin.sheet.kpis"))
        said = kpitable.labels(text)
        kpis.append(xlsx_row(kpis, list(said.headers)))
        for kpi in bulletin.kpis:
            kpis.append(xlsx_row(kpis, list(kpitable.cells(kpi, said))))
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


_REPORT_COLUMNS = ("unit", "reports", "grids", "coverage", "active", "sites")
_XLSX_REPORT_COLUMNS = (
    "rank",
    "code",
    "unit",
    "score",
    "reports",
    "grids_covered",
    "grids",
    "active",
    "members",
    "sites_done",
    "sites",
    "flagged",
    "overdue",
    "plan_done",
    "plan_due",
    "plan_on_time",
)
