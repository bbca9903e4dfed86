"""Outlets: group robots of WeCom, DingTalk and Feishu (``[[outlets]]`` in the config) that
receive what a Telegram group bound to the same unit receives. Telegram-free and
HTTP-free: this decides what is due for which outlet and claims it exactly once; the
sending is ``bot.outlets``.

A send is claimed per (outlet, kind, period) before it goes out (``outlet_send``, like
``digest_send`` for groups), with the number of its parts already delivered, so neither a
second run, a retry nor a restart sends a part twice. What is due comes from the same
schedule as the Telegram digests: a send due while the bot was down is sent on start if
at most ``schedule.catch_up_hours`` late, else recorded as skipped (and the admins told).
An outlet is known from the first start that read it in the config (``first_seen``), as
a group from its binding: what was due before is not sent. An outlet whose platform
refused its signature or address is *failing*: nothing more is claimed for it until its
address or secret is changed in the config or ``gridbot outlets test`` gets through.

The kinds (``KINDS``): the daily digest, the weekly bulletin, overdue alerts (one message
listing the tips that became overdue since the last one, each tip claimed once) and plan
progress (``PLANS``): at the daily digest time, once a day, the progress of the open
plans covering the outlet's unit, as the Telegram digest's plan section shows it —
claimed only when the unit has an open plan made before that day's digest was due, so
nothing is sent (nor recorded) on a day without plans.
"""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from bot.config import Config, OutletConfig
from bot.core.access import Role
from bot.core.clock import Clock
from bot.core.periods import DAY, Period
from bot.domain.bulletin import Bulletin, BulletinService, period_ending
from bot.domain.digest import DigestService, percent, period_label
from bot.domain.plans import PROGRESS_COLUMNS, PlanProgress, covering
from bot.domain.ranking import Ranking
from bot.formats.robots import Table
from bot.formats.tiptable import labels
from storage import members as member_repo
from storage import outlets as outlet_repo
from storage import plans as plan_repo
from storage import tips as tip_repo
from storage import units as unit_repo
from storage.db import Connection, Database
from storage.members import Member
from storage.outlets import SendRow
from storage.units import Unit

DAILY, WEEKLY, OVERDUE, PLANS = "daily", "weekly", "overdue", "plans"
KINDS = (DAILY, WEEKLY, OVERDUE, PLANS)
OVERDUE_COLUMNS = ("number", "unit", "deadline")  # outlet.overdue_column.*


def fingerprint(outlet: OutletConfig) -> str:
    """A digest of what reaches the robot (platform, address, secret): a changed one means
    the operator edited the outlet, which clears its failing state. Not reversible."""
    material = "\n".join((outlet.kind, outlet.webhook_url(), outlet.secret_value() or ""))
    return hashlib.sha256(material.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class Outlet:
    config: OutletConfig
    first_seen: datetime
    failing_since: datetime | None = None
    failing_reason: str | None = None

    @property
    def name(self) -> str:
        """The outlet's name in the config."""
        return self.config.name


@dataclass(frozen=True)
class OverdueTip:
    number: str
    unit: str  # the assigned unit's name
    deadline: datetime


@dataclass(frozen=True)
class OutletDue:
    """A claimed send: to which outlet, what (``kind``, ``period``), the claim keys (one; an
    overdue alert has one a tip), the parts a stopped run already delivered."""

    outlet: OutletConfig
    kind: str
    keys: tuple[str, ...]
    due_at: datetime
    period: Period | None = None
    parts_sent: int = 0
    unit_name: str = ""
    tips: tuple[OverdueTip, ...] = ()


@dataclass(frozen=True)
class OutletPlan:
    send: list[OutletDue] = field(default_factory=list)
    skipped: list[OutletDue] = field(default_factory=list)


def _period_of(kind: str, key: str) -> Period:
    first = date.fromisoformat(key)
    return Period.of(DAY, first) if kind in (DAILY, PLANS) else Period.starting(first, 7)


class OutletService:
    def __init__(
        self,
        db: Database,
        clock: Clock,
        config: Config,
        digests: DigestService,
        bulletins: BulletinService,
    ) -> None:
        self.db = db
        self.clock = clock
        self.config = config
        self.zone = config.locale.zone
        self.catch_up = timedelta(hours=config.schedule.catch_up_hours)
        self.digests = digests
        self.bulletins = bulletins
        self.started = clock.now()
        self._taken_over: set[str] = set()

    @property
    def configured(self) -> list[OutletConfig]:
        """The outlets of the config, in its order."""
        return list(self.config.outlets)

    def named(self, name: str) -> OutletConfig | None:
        """The configured outlet called ``name``, if any."""
        return next((o for o in self.config.outlets if o.name == name), None)

    async def _register(self, conn: Connection, outlet: OutletConfig) -> Outlet:
        row = await outlet_repo.register(conn, outlet.name, fingerprint(outlet), self.clock.now())
        return Outlet(outlet, row.first_seen, row.failing_since, row.failing_reason)

    async def sync(self) -> list[Outlet]:
        """Every outlet of the config, remembered from now if new (called at start)."""
        async with self.db.transaction() as conn:
            return [await self._register(conn, outlet) for outlet in self.configured]

    # ------------------------------------------------------------------ planning

    async def plan(self, kind: str) -> OutletPlan:
        """Claim what ``kind`` (one of ``KINDS``) has due for the outlets that take it."""
        planner = {
            DAILY: self.plan_daily,
            WEEKLY: self.plan_weekly,
            OVERDUE: self.plan_overdue,
            PLANS: self.plan_plans,
        }
        return await planner[kind]()

    async def plan_daily(self) -> OutletPlan:
        """Claim the latest daily digest for every outlet that takes it and has not had it."""
        due = self.digests.latest_daily_due()
        return await self._plan(DAILY, due, Period.of(DAY, due.date()))

    async def plan_weekly(self) -> OutletPlan:
        """Claim the latest weekly bulletin for every outlet that takes it and has not had
        it (the seven days before it was due, as for the Telegram groups)."""
        due = self.bulletins.latest_due()
        return await self._plan(WEEKLY, due, period_ending(due.date() - timedelta(days=1)))

    async def plan_plans(self) -> OutletPlan:
        """Claim the day's plan progress, due with the daily digest, for every outlet that
        takes it, has not had it, and whose unit has an open plan covering it that was made
        before the digest was due (no plans: nothing claimed, nothing sent)."""
        due = self.digests.latest_daily_due()
        return await self._plan(PLANS, due, Period.of(DAY, due.date()), _has_plans)

    async def plan_weekly_for(self, period: Period, within: str) -> OutletPlan:
        """Claim the weekly bulletin of ``period`` for the outlets whose unit lies under
        the path ``within`` that take it and have not had it: an admin's 发布, never late."""
        now = self.clock.now()
        plan = OutletPlan()
        key = period.first.isoformat()
        async with self.db.transaction() as conn:
            for outlet in self.configured:
                if WEEKLY not in outlet.sends:
                    continue
                known = await self._register(conn, outlet)
                unit = await unit_repo.get_by_code(conn, outlet.unit)
                if known.failing_since is not None or unit is None:
                    continue
                if not unit.path.startswith(within):
                    continue
                if await outlet_repo.claim(conn, outlet.name, WEEKLY, key, now, "sending"):
                    plan.send.append(OutletDue(outlet, WEEKLY, (key,), now, period, 0, unit.name))
        return plan

    async def _plan(
        self,
        kind: str,
        due: datetime,
        period: Period,
        wanted: Callable[[Connection, Unit, datetime], Awaitable[bool]] | None = None,
    ) -> OutletPlan:
        now = self.clock.now()
        late = now - due > self.catch_up
        plan = OutletPlan()
        async with self.db.transaction() as conn:
            await self._take_over(conn, kind, plan)
            for outlet in self.configured:
                if kind not in outlet.sends:
                    continue
                known = await self._register(conn, outlet)
                if known.failing_since is not None or known.first_seen > due:
                    continue
                unit = await unit_repo.get_by_code(conn, outlet.unit)
                if unit is None:
                    continue  # ``gridbot check`` and ``outlets list`` say so
                if wanted is not None and not await wanted(conn, unit, due):
                    continue
                key = period.first.isoformat()
                state = "skipped" if late else "sending"
                if await outlet_repo.claim(conn, outlet.name, kind, key, due, state):
                    (plan.skipped if late else plan.send).append(
                        OutletDue(outlet, kind, (key,), due, period, 0, unit.name)
                    )
        self._taken_over.add(kind)
        return plan

    async def _take_over(self, conn: Connection, kind: str, plan: OutletPlan) -> None:
        """Sends of ``kind`` an earlier run claimed and never finished: the rest of their
        parts sent if at most the catch-up window late, else recorded as skipped."""
        if kind in self._taken_over:
            return
        now = self.clock.now()
        for row in await outlet_repo.stale_sending(conn, kind, self.started):
            outlet = self.named(row.outlet)
            unit = await unit_repo.get_by_code(conn, outlet.unit) if outlet else None
            if outlet is None or unit is None:
                await outlet_repo.finish(
                    conn, row.outlet, kind, row.period, "skipped", now, "interrupted, removed"
                )
                continue
            known = await self._register(conn, outlet)
            if known.failing_since is not None:  # given back: sent once the outlet works
                await outlet_repo.release(conn, row.outlet, kind, row.period)
                await outlet_repo.finish(
                    conn, row.outlet, kind, row.period, "failed", now, "interrupted, failing"
                )
                continue
            due = OutletDue(
                outlet,
                kind,
                (row.period,),
                row.due_at,
                _period_of(kind, row.period),
                row.parts_sent,
                unit.name,
            )
            if now - row.due_at > self.catch_up:
                await outlet_repo.finish(conn, row.outlet, kind, row.period, "skipped", now)
                plan.skipped.append(due)
            else:
                plan.send.append(due)

    async def plan_overdue(self) -> OutletPlan:
        """An alert for each outlet that takes them, listing the tips under its unit that are
        overdue and not yet alerted to it (each tip claimed once per outlet). An alert an
        earlier run left unfinished is released, so its tips, if still overdue, are listed
        again — unless a part of it went out."""
        now = self.clock.now()
        plan = OutletPlan()
        async with self.db.transaction() as conn:
            if OVERDUE not in self._taken_over:
                for row in await outlet_repo.stale_sending(conn, OVERDUE, self.started):
                    if row.parts_sent:
                        await outlet_repo.finish(conn, row.outlet, OVERDUE, row.period, "sent", now)
                    else:
                        await outlet_repo.release(conn, row.outlet, OVERDUE, row.period)
            tips = await tip_repo.overdue(conn, now)
            for outlet in self.configured:
                if OVERDUE not in outlet.sends:
                    continue
                known = await self._register(conn, outlet)
                unit = await unit_repo.get_by_code(conn, outlet.unit)
                if known.failing_since is not None or unit is None:
                    continue
                keys: list[str] = []
                items: list[OverdueTip] = []
                for tip in tips:
                    path = tip.assigned_path or ""
                    if not path.startswith(unit.path) or tip.deadline is None:
                        continue
                    if tip.deadline < known.first_seen:
                        continue  # overdue before the outlet was known
                    key = f"tip-{tip.id}"
                    if await outlet_repo.claim(conn, outlet.name, OVERDUE, key, now, "sending"):
                        keys.append(key)
                        items.append(OverdueTip(tip.number, tip.assigned_name or "", tip.deadline))
                if keys:
                    plan.send.append(
                        OutletDue(
                            outlet, OVERDUE, tuple(keys), now, None, 0, unit.name, tuple(items)
                        )
                    )
        self._taken_over.add(OVERDUE)
        return plan

    # ------------------------------------------------------------------ outcomes

    async def progress(self, due: OutletDue, parts: int) -> None:
        """``parts`` parts of the send are delivered (recorded at once: never sent again)."""
        async with self.db.transaction() as conn:
            for key in due.keys:
                await outlet_repo.progress(conn, due.outlet.name, due.kind, key, parts)

    async def finish(self, due: OutletDue, state: str, detail: str | None = None) -> None:
        """Record how a claimed send ended (sent or failed) and why."""
        async with self.db.transaction() as conn:
            for key in due.keys:
                await outlet_repo.finish(
                    conn, due.outlet.name, due.kind, key, state, self.clock.now(), detail
                )

    async def give_back(self, due: OutletDue, detail: str) -> None:
        """The outlet failed before any part went out: forget the claim (so the send is
        made once the outlet works again, within the window); a send partly delivered is
        recorded as failed instead."""
        async with self.db.transaction() as conn:
            for key in due.keys:
                await outlet_repo.release(conn, due.outlet.name, due.kind, key)
                await outlet_repo.finish(
                    conn, due.outlet.name, due.kind, key, "failed", self.clock.now(), detail
                )

    async def mark_failing(self, name: str, reason: str) -> bool:
        """Mark an outlet failing; True the first time (tell the admins once)."""
        async with self.db.transaction() as conn:
            return await outlet_repo.mark_failing(conn, name, reason, self.clock.now())

    async def clear_failing(self, name: str) -> None:
        """The outlet works again (its test message got through)."""
        async with self.db.transaction() as conn:
            await outlet_repo.clear_failing(conn, name)

    async def admins_over(self, unit_code: str) -> list[Member]:
        """The active admins whose scope covers the unit, to tell about a failing outlet."""
        async with self.db.read() as conn:
            unit = await unit_repo.get_by_code(conn, unit_code)
            if unit is None:
                return []
            return await member_repo.active_over(conn, unit.path, (Role.ADMIN.value,))

    async def state_of(self, name: str) -> outlet_repo.OutletRow | None:
        """What is remembered of an outlet (since when, failing); None before its first start."""
        async with self.db.read() as conn:
            return await outlet_repo.get_outlet(conn, name)

    async def sends_of(self, name: str) -> list[SendRow]:
        """An outlet's recorded sends, oldest first."""
        async with self.db.read() as conn:
            return await outlet_repo.sends_of(conn, name)

    async def unit_name(self, code: str) -> str | None:
        """The name of the unit with ``code``; None when there is none."""
        async with self.db.read() as conn:
            unit = await unit_repo.get_by_code(conn, code)
        return unit.name if unit else None


async def _has_plans(conn: Connection, unit: Unit, due: datetime) -> bool:
    """Whether an open plan covering ``unit`` was made by ``due``."""
    plans = covering(unit, await plan_repo.open_plans(conn))
    return any(plan.created_at <= due for plan in plans)


# ---------------------------------------------------------------------- tables


def _part_label(text: Callable[..., str]) -> Callable[[int, int], str]:
    return lambda index, total: text("outlet.part", index=index, total=total)


def _move(move: int | None) -> str:
    if not move:
        return "–"
    return f"↑{move}" if move > 0 else f"↓{-move}"


_DIGEST_COLUMNS = ("rank", "unit", "score", "reports", "coverage", "closure", "overdue", "move")


def digest_table(ranking: Ranking, text: Callable[..., str]) -> Table:
    """The daily digest as a table for a robot: the same figures, columns and notes as the
    Telegram message (``bot.domain.digest.render_daily``)."""
    rows = [
        (
            str(row.rank),
            row.unit.name,
            f"{row.score:.2f}",
            str(row.reports),
            percent(row.grids_covered, row.grids),
            percent(row.tips_closed, row.tips_assigned),
            str(row.overdue),
            _move(row.move),
        )
        for row in ranking.rows
    ]
    notes = []
    separator = text("list.separator")
    if ranking.silent:
        notes.append(text("digest.silent", units=separator.join(u.name for u in ranking.silent)))
    overdue = [row for row in ranking.rows if row.overdue]
    if overdue:
        items = separator.join(
            text("digest.overdue_item", unit=r.unit.name, count=r.overdue) for r in overdue
        )
        notes.append(text("digest.overdue", items=items))
    title = text(
        "outlet.digest_title",
        unit=ranking.parent.name,
        children=text(f"digest.children.{ranking.parent.level}"),
        day=period_label(ranking.period, text),
    )
    columns = tuple(text(f"digest.column.{c}") for c in _DIGEST_COLUMNS)
    return Table(title, columns, rows, notes, _part_label(text))


_REPORT_COLUMNS = ("unit", "reports", "grids", "coverage", "active", "sites")


def bulletin_tables(bulletin: Bulletin, text: Callable[..., str], with_file: bool) -> list[Table]:
    """The weekly bulletin for a robot: the official tip table and the reports table, each
    titled with the unit and the period; where the robot takes no file, a note says where
    the workbook is."""
    period = bulletin.period
    title = text(
        "outlet.bulletin_title",
        unit=bulletin.parent_name,
        first=period.first.isoformat(),
        last=period.last.isoformat(),
    )
    words = labels(text)
    tip_rows = [row.cells(words) for row in bulletin.tips]
    reports = [
        (
            row.unit.name,
            str(row.reports),
            f"{row.grids_covered}/{row.grids}",
            percent(row.grids_covered, row.grids),
            str(row.members_active),
            f"{row.sites_done}/{row.sites}",
        )
        for row in bulletin.ranking.rows
    ]
    notes = []
    rows = bulletin.ranking.rows
    if rows:
        notes.append(text("bulletin.top_bottom", top=rows[0].unit.name, bottom=rows[-1].unit.name))
    if not with_file:
        notes.append(text("outlet.no_file"))
    return [
        Table(
            f"{title} · {text('bulletin.tips_heading')}",
            tuple(words.headers),
            tip_rows,
            [],
            _part_label(text),
        ),
        Table(
            f"{title} · {text('bulletin.reports_heading')}",
            tuple(text(f"bulletin.column.{c}") for c in _REPORT_COLUMNS),
            reports,
            notes,
            _part_label(text),
        ),
    ]


def overdue_table(due: OutletDue, text: Callable[..., str], zone: ZoneInfo) -> Table:
    """An overdue alert: the unit, the day, one row a tip (number, unit, deadline)."""
    day = due.due_at.astimezone(zone).date().isoformat()
    rows = [
        (tip.number, tip.unit, tip.deadline.astimezone(zone).strftime("%Y-%m-%d %H:%M"))
        for tip in due.tips
    ]
    return Table(
        text("outlet.overdue_title", unit=due.unit_name, day=day, count=len(rows)),
        tuple(text(f"outlet.overdue_column.{c}") for c in OVERDUE_COLUMNS),
        rows,
        [],
        _part_label(text),
    )


def plan_table(progress: PlanProgress, text: Callable[..., str], zone: ZoneInfo, day: str) -> Table:
    """One open plan's progress for a robot: the figures of the Telegram digest's plan
    section (``bot.domain.plans.render_progress``) — 合计 then one row a child unit with
    sites due (应查, 已查, 完成率, 逾期) — titled with the plan, the unit, the day and the
    round with its end; the units that have not started after the table."""
    cells = [
        (
            text("plan.total") if index == 0 else row.unit.name,
            str(row.due),
            str(row.done),
            row.rate,
            str(row.overdue),
        )
        for index, row in enumerate([progress.total, *progress.rows])
    ]
    notes = []
    if progress.not_started:
        names = text("list.separator").join(u.name for u in progress.not_started)
        notes.append(text("plan.not_started", units=names))
    title = text(
        "outlet.plan_title",
        name=progress.plan.name,
        unit=progress.unit.name,
        day=day,
        round=progress.round + 1,
        ends=f"{progress.round_ends.astimezone(zone):%Y-%m-%d %H:%M}",
    )
    columns = tuple(text(f"plan.column.{c}") for c in PROGRESS_COLUMNS)
    return Table(title, columns, cells, notes, _part_label(text))
