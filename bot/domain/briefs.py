"""The 简报 as a numbered document (第N期): the items units offer for it, the preview an
admin arranges (include or drop each item, move it up or down), the issue number given on
publishing, and the document itself. Telegram-free.

- An **item** is a status update offered with a title (``/item N TITLE``) or one a lead
  or admin writes directly; it belongs to its author's unit and to the local day it was
  written, so it is in every bulletin whose seven days hold that day and whose issuing
  unit holds its unit. Items of the issuing unit itself are 【工作动态】; those of units
  below are 【工作信息】, headed "单位：标题" with the issuing unit's child that holds them.
- An **issue** is (issuing unit, period). Each preview raises its revision, so a button of
  an older preview is known as stale. Publishing gives it the unit's next number once; a
  period published again keeps its number.
- The **document**: the tip table is cumulative from the campaign's first tip to the
  cut-off (``tip_table`` from the beginning, as ``gridbot tips table --to LAST`` prints
  it), followed by the week's new tips; the ranking and the overdue units come from the
  weekly bulletin's ranking (``BulletinService``); plan progress is a section only when
  there are plans (``plans`` rows).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import date, timedelta

from bot.config import Config
from bot.core import access
from bot.core.access import Audience
from bot.core.clock import Clock
from bot.core.errors import Refused
from bot.core.periods import Calendar, Period, day_of
from bot.domain.bulletin import Bulletin, BulletinService, period_ending
from bot.domain.digest import percent
from bot.domain.evidence import EvidenceStore
from bot.domain.plans import PlanProgress
from bot.formats.briefdoc import BriefDocument, DocItem, DocTable
from bot.formats.tiptable import TableRow, labels, tip_table
from storage import bulletin_issues as issue_repo
from storage import status_updates as update_repo
from storage import units as unit_repo
from storage.bulletin_issues import Issue, Item
from storage.db import Database
from storage.evidence import EvidenceFiles
from storage.members import Member
from storage.units import Unit

TITLE_MAX = 40
BODY_MAX = 2000
ITEMS_MAX = 30  # items shown (and buttons drawn) in one preview


def item_title(text: str) -> str:
    """An item's title: one line, not empty, at most ``TITLE_MAX`` characters."""
    title = text.strip()
    if not title:
        raise Refused("item.title_needed", max=TITLE_MAX)
    if "\n" in title or "\r" in title:
        raise Refused("item.title_one_line")
    if len(title) > TITLE_MAX:
        raise Refused("item.title_too_long", max=TITLE_MAX, length=len(title))
    return title


def item_body(text: str) -> str:
    """An item's text written directly: not empty, at most ``BODY_MAX`` characters."""
    body = text.strip()
    if not body:
        raise Refused("item.body_needed")
    if len(body) > BODY_MAX:
        raise Refused("item.body_too_long", max=BODY_MAX)
    return body


@dataclass(frozen=True)
class ItemView:
    item: Item
    unit: str  # the issuing unit's child that holds the item's unit ("" for its own)
    news: bool  # from the issuing level (工作动态), else a unit's (工作信息)
    photos: tuple[str, ...] = ()  # SHA-256s in the evidence store

    @property
    def included(self) -> bool:
        """Kept for the issue (not dropped in the preview)."""
        return not self.item.dropped


@dataclass(frozen=True)
class Edition:
    """One bulletin as it stands: the figures, the items, the issue and its number."""

    unit: Unit  # the issuing unit
    period: Period
    issue: Issue | None  # None until previewed or published
    number: int  # its number, or the one it will get when published
    bulletin: Bulletin  # the week: its tip table and ranking
    cumulative: list[TableRow]  # from the first tip to the cut-off
    items: list[ItemView]

    @property
    def published(self) -> bool:
        """The issue has its number (it was published)."""
        return self.issue is not None and self.issue.number is not None

    @property
    def revision(self) -> int:
        """The latest preview's revision (0 before any preview)."""
        return self.issue.revision if self.issue else 0

    @property
    def included(self) -> list[ItemView]:
        """The items kept, in their order."""
        return [view for view in self.items if view.included]

    @property
    def empty(self) -> bool:
        """No item included and no figure: published all the same, with a warning."""
        week = self.bulletin.tips[0] if self.bulletin.tips else None
        total = self.cumulative[0] if self.cumulative else None
        reports = sum(row.reports for row in self.bulletin.ranking.rows)
        return (
            not self.included
            and (total is None or total.received == 0)
            and (week is None or week.received == 0)
            and reports == 0
        )


class BriefService:
    def __init__(self, db: Database, clock: Clock, config: Config, bulletins: BulletinService):
        self.db = db
        self.clock = clock
        self.zone = config.locale.zone
        self.calendar = Calendar(clock, self.zone)
        self.settings = config.bulletin
        self.bulletins = bulletins
        self.files = EvidenceFiles(config.evidence.path)
        self.evidence = EvidenceStore(self.files, config.locale.zone)

    # ------------------------------------------------------------------ items

    async def offer(self, member: Member, update_id: int, title: str) -> int:
        """Offer status update ``update_id`` as an item: one's own, or (leads, admins) one
        in scope; offered again, it keeps its item and takes the new title."""
        title = item_title(title)
        async with self.db.transaction() as conn:
            update = await update_repo.get(conn, update_id)
            unit = await unit_repo.get_by_id(conn, update.unit_id) if update else None
            if update is None or unit is None or not self._may_offer(member, update, unit):
                raise Refused("item.no_update", number=update_id)
            day = day_of(update.created_at, self.zone)
            return await issue_repo.put_item(
                conn, unit.id, member.id, update.id, title, update.body, day, self.clock.now()
            )

    @staticmethod
    def _may_offer(member: Member, update: update_repo.StatusUpdate, unit: Unit) -> bool:
        if update.member_id == member.id:
            return True
        return access.audience_of(member) >= Audience.LEAD and access.in_scope(member, unit)

    async def write(self, member: Member, title: str, body: str, photo: bytes | None = None) -> int:
        """An item a lead or admin writes directly, for their own unit, dated today; with a
        photo (then the text may be left out)."""
        if access.audience_of(member) < Audience.LEAD:
            raise Refused("item.leads_only")
        title = item_title(title)
        body = item_body(body) if body.strip() or photo is None else ""
        facts = await self.evidence.keep(photo) if photo is not None else None
        now = self.clock.now()
        async with self.db.transaction() as conn:
            item_id = await issue_repo.put_item(
                conn, member.unit_id, member.id, None, title, body, self.calendar.today(), now
            )
            if facts is not None:
                await self.evidence.record(conn, facts, now)
                await issue_repo.add_photo(conn, item_id, facts.sha256)
            return item_id

    # ------------------------------------------------------------------ editions

    async def edition(self, unit_code: str | None, last: date, *, preview: bool = False) -> Edition:
        """The bulletin of ``unit_code`` (the city when None) for the seven days ending
        ``last``; a preview raises the issue's revision."""
        if last > self.calendar.today():
            raise Refused("bulletin.future", day=last.isoformat())
        period = period_ending(last)
        async with self.db.transaction() if preview else self.db.read() as conn:
            unit = await (
                unit_repo.get_by_code(conn, unit_code) if unit_code else unit_repo.root(conn)
            )
            if unit is None:
                raise Refused("unit.unknown", code=unit_code or "")
            if preview:
                issue: Issue | None = await issue_repo.new_revision(
                    conn, unit.id, period.first, period.last
                )
            else:
                issue = await issue_repo.issue(conn, unit.id, period.first)
            number = (
                issue.number
                if issue is not None and issue.number is not None
                else await issue_repo.next_number(conn, unit.id, self.settings.first_number)
            )
            children = await unit_repo.children(conn, unit.id)
            items = await issue_repo.items_in(conn, unit.path, period.first, period.last)
            photos = await issue_repo.photos_of(conn, [item.id for item in items[:ITEMS_MAX]])
        bulletin = await self.bulletins.build(unit.code if unit.parent_id else None, last)
        _, end = period.bounds(self.zone)
        cumulative = await tip_table(self.db, None, end, unit.code if unit.parent_id else None)
        views = [
            replace(self._view(item, unit, children), photos=tuple(photos[item.id]))
            for item in items[:ITEMS_MAX]
        ]
        return Edition(unit, period, issue, number, bulletin, cumulative, views)

    def _doc_item(self, heading: str, view: ItemView) -> DocItem:
        """An item as printed, its photos read from the evidence store."""
        return DocItem(heading, view.item.body, tuple(self.files.read(s) for s in view.photos))

    @staticmethod
    def _view(item: Item, unit: Unit, children: list[Unit]) -> ItemView:
        if item.unit_id == unit.id:
            return ItemView(item, "", True)
        holder = next((c for c in children if item.unit_path.startswith(c.path)), None)
        return ItemView(item, holder.name if holder else "", False)

    async def arrange(
        self, unit_code: str, last: date, revision: int, item_id: int, action: str
    ) -> Edition:
        """A preview button: ``toggle`` includes or drops the item, ``up``/``down`` moves it
        one place; a button of an older preview (or a published issue) is stale."""
        period = period_ending(last)
        async with self.db.transaction() as conn:  # checked and changed in one go
            unit = await unit_repo.get_by_code(conn, unit_code)
            issue = await issue_repo.issue(conn, unit.id, period.first) if unit else None
            items = (
                await issue_repo.items_in(conn, unit.path, period.first, period.last)
                if unit
                else []
            )[:ITEMS_MAX]
            ids = [item.id for item in items]
            if issue is None or issue.revision != revision or item_id not in ids:
                raise Refused("brief.stale")
            if issue.number is not None:
                raise Refused("brief.stale_published", number=issue.number)
            index = ids.index(item_id)
            if action == "toggle":
                await issue_repo.set_dropped(conn, item_id, not items[index].dropped)
            else:
                other = index - 1 if action == "up" else index + 1
                if 0 <= other < len(ids):
                    # Distinct positions in the shown order, then swap the two.
                    fresh = _distinct([item.position for item in items])
                    fresh[index], fresh[other] = fresh[other], fresh[index]
                    for item, position in zip(items, fresh, strict=True):
                        if item.position != position:
                            await issue_repo.set_position(conn, item.id, position)
        return await self.edition(unit_code, last)

    async def publish(
        self, unit_code: str | None, period: Period, publisher: Member | None = None
    ) -> int:
        """The issue's number, given now if it has none (a republished period keeps its)."""
        async with self.db.transaction() as conn:
            unit = await (
                unit_repo.get_by_code(conn, unit_code) if unit_code else unit_repo.root(conn)
            )
            if unit is None:
                raise Refused("unit.unknown", code=unit_code or "")
            issue = await issue_repo.publish(
                conn,
                unit.id,
                period.first,
                period.last,
                self.settings.first_number,
                self.clock.now(),
                publisher.id if publisher else None,
            )
        assert issue.number is not None
        return issue.number

    # ------------------------------------------------------------------ the document

    def document(self, edition: Edition, text: Callable[..., str]) -> BriefDocument:
        """The edition as the office prints it, in the language of ``text``."""
        settings = self.settings
        unit = edition.unit.name
        cutoff = edition.period.last
        issued = cutoff + timedelta(days=1)
        words = labels(text)
        views = edition.included
        headings = [heading(view, text) for view in views]
        week = edition.bulletin.tips[0] if edition.bulletin.tips else None
        rows = edition.bulletin.ranking.rows
        overdue = [
            text("brief.doc.overdue_unit", unit=row.unit.name, count=row.overdue)
            for row in rows
            if row.overdue > 0
        ]
        overdue_lines = (
            [text("brief.doc.overdue_lead") + text("list.separator").join(overdue)]
            if overdue
            else [text("brief.doc.overdue_none")]
        )
        overdue_lines += _cases_lines(edition.bulletin, text)
        footer = [
            text(
                "brief.doc.report_to",
                names=settings.report_to or text("brief.doc.default_report_to"),
            ),
            text("brief.doc.send_to", names=settings.send_to or text("brief.doc.default_send_to")),
        ]
        ranking = DocTable(
            tuple(text(f"brief.doc.rank.{c}") for c in RANK_COLUMNS),
            [
                (
                    str(row.rank),
                    row.unit.name,
                    f"{row.score:.1f}",
                    str(row.reports),
                    percent(row.grids_covered, row.grids),
                    str(row.overdue),
                    _move(row.move),
                )
                for row in rows
            ],
            caption=text(
                "brief.doc.ranking_caption",
                first=edition.period.first.isoformat(),
                last=cutoff.isoformat(),
            ),
            widths=(0.8, 2.4, 1.0, 1.0, 1.0, 1.3, 0.8),
        )
        plans = None
        if edition.bulletin.plans:
            plans = DocTable(
                tuple(text(f"brief.doc.plan.{c}") for c in PLAN_COLUMNS),
                plan_rows(edition.bulletin.plans, text),
                widths=(2.0, 2.0, 0.9, 0.9, 0.9, 1.0),
            )
        return BriefDocument(
            title=settings.title or text("brief.doc.default_title", unit=unit),
            number_line=text("brief.doc.number", number=edition.number),
            office=settings.office or text("brief.doc.default_office", unit=unit),
            date_line=_date(issued, text),
            contents_heading=text("brief.doc.contents"),
            contents=[view.item.title for view in views],
            news_heading=text("brief.doc.news"),
            news=[self._doc_item(h, v) for h, v in zip(headings, views, strict=True) if v.news],
            info_heading=text("brief.doc.info"),
            info=[self._doc_item(h, v) for h, v in zip(headings, views, strict=True) if not v.news],
            tips_heading=text("brief.doc.tips"),
            tips=DocTable(
                words.headers,
                [row.cells(words) for row in edition.cumulative],
                caption=text("brief.doc.tips_caption"),
                note=text("brief.doc.cutoff", date=_date(cutoff, text)),
            ),
            week_line=text(
                "brief.doc.week",
                first=_date(edition.period.first, text),
                last=_date(cutoff, text),
                received=week.received if week else 0,
                closed=week.closed if week else 0,
            ),
            ranking_heading=text("brief.doc.ranking"),
            ranking=ranking,
            overdue_heading=text("brief.doc.overdue"),
            overdue=overdue_lines,
            footer=footer,
            indent=text("brief.doc.indent"),
            plans_heading=text("brief.doc.plans"),
            plans=plans,
        )


PLAN_COLUMNS = ("plan", "unit", "due", "done", "overdue", "rate")  # brief.doc.plan.*


def plan_rows(progress: list[PlanProgress], text: Callable[..., str]) -> list[tuple[str, ...]]:
    """The plan table of the document: per open plan, its 合计 row (with the plan's name)
    and one row per unit under the issuing one, for the round the week ended in."""
    rows: list[tuple[str, ...]] = []
    for item in progress:
        for index, row in enumerate([item.total, *item.rows]):
            rows.append(
                (
                    item.plan.name if index == 0 else "",
                    text("plan.total") if index == 0 else row.unit.name,
                    str(row.due),
                    str(row.done),
                    str(row.overdue),
                    row.rate,
                )
            )
    return rows


def _cases_lines(bulletin: Bulletin, text: Callable[..., str]) -> list[str]:
    """The units named (通报) for tips overdue by working days, and the parked tips (挂账),
    listed apart: they do not count as overdue."""
    lines = []
    if bulletin.named:
        lines.append(text("brief.doc.named_lead"))
        for unit in bulletin.named:
            lines.append(
                text(
                    "bulletin.named_line",
                    unit=unit.unit,
                    count=len(unit.tips),
                    days=unit.worst,
                    numbers=text("list.separator").join(unit.tips),
                )
            )
    if bulletin.parked:
        lines.append(text("brief.doc.parked_lead", count=len(bulletin.parked)))
        for tip in bulletin.parked:
            lines.append(
                text(
                    "bulletin.parked_line",
                    number=tip.number,
                    unit=tip.unit,
                    day=tip.until.isoformat(),
                    reason=tip.reason,
                )
            )
    return lines


RANK_COLUMNS = ("rank", "unit", "score", "reports", "coverage", "overdue", "move")  # .rank.*


def heading(view: ItemView, text: Callable[..., str]) -> str:
    """An item's heading as printed: its title, or "单位：标题" for a unit's item."""
    if view.news or not view.unit:
        return view.item.title
    return text("brief.doc.info_heading", unit=view.unit, title=view.item.title)


def _date(day: date, text: Callable[..., str]) -> str:
    return text("brief.doc.date", year=day.year, month=day.month, day=day.day)


def _move(move: int | None) -> str:
    if move is None or move == 0:
        return "–"
    return f"↑{move}" if move > 0 else f"↓{-move}"


def _distinct(positions: list[int]) -> list[int]:
    out: list[int] = []
    for position in positions:
        out.append(max(position, out[-1] + 1) if out else position)
    return out
