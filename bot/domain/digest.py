"""The daily digest: when it is due, for which groups, claimed exactly once; and its
text. Telegram-free.

A send is claimed (a ``digest_send`` row, unique per group, kind and period) before it
is sent, so neither a second run nor a restart sends it twice. The schedule comes from
the database, not from the job queue's memory: every run looks at the latest due time,
so a digest due while the bot was down is found on start — sent if it is at most
``schedule.catch_up_hours`` late, else recorded as skipped and reported to the admins.
The same holds for a send an earlier run claimed and never finished (it stopped or
crashed mid-send): the first plan of each kind after start takes it over (``Interrupted``).
A digest an admin asks for with /digest (``on_demand``) is recorded apart, in
``digest_request``, so it never stands in for the scheduled send.
"""

from __future__ import annotations

import html
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from bot.config import Config
from bot.core import access
from bot.core.access import Role
from bot.core.clock import Clock
from bot.core.errors import Refused
from bot.core.periods import DAY, Calendar, Period
from bot.domain.ranking import Ranking
from bot.formats.columns import aligned
from storage import digests as digest_repo
from storage import groups as group_repo
from storage import members as member_repo
from storage import units as unit_repo
from storage.db import Connection, Database
from storage.groups import Group
from storage.members import Member

# Telegram allows 4096 characters in a message; leave room for the markup.
MESSAGE_LIMIT = 3800
ON_DEMAND = "on_demand"  # the kind of a digest asked for with /digest
_COLUMNS = ("rank", "unit", "score", "reports", "coverage", "closure", "overdue", "move")


@dataclass(frozen=True)
class DueDigest:
    group: Group
    kind: str
    period: Period
    due_at: datetime
    request_id: int | None = None  # an on-demand send (/digest): its ``digest_request`` row

    @property
    def key(self) -> str:
        """The period's first day (YYYY-MM-DD), which names the send in ``digest_send``."""
        return self.period.first.isoformat()


@dataclass(frozen=True)
class Plan:
    send: list[DueDigest] = field(default_factory=list)
    skipped: list[DueDigest] = field(default_factory=list)


def period_of(kind: str, key: str) -> Period:
    """The period of a recorded send: a day, or the seven days a bulletin covers."""
    first = date.fromisoformat(key)  # written by ``DueDigest.key``, never typed
    if kind == "daily":
        return Period.of(DAY, first)
    return Period.starting(first, 7)


class Interrupted:
    """Sends an earlier run claimed (``sending``) and never finished, taken over once per
    kind by the first plan after start: sent again if at most ``catch_up_hours`` late,
    else recorded as skipped (and the admins told, like any skipped send). Only sends due
    before this run started count: what this run claims is its own."""

    def __init__(self, clock: Clock, catch_up_hours: float) -> None:
        self.clock = clock
        self.started = clock.now()
        self.catch_up = timedelta(hours=catch_up_hours)
        self._done: set[str] = set()

    async def take_over(self, conn: Connection, kind: str) -> Plan:
        """Call inside the plan's transaction; then ``taken(kind)`` once it committed."""
        plan = Plan()
        if kind in self._done:
            return plan
        now = self.clock.now()
        groups = {group.id: group for group in await group_repo.active(conn)}
        for group_id, key, due in await digest_repo.stale_sending(conn, kind, self.started):
            group = groups.get(group_id)
            if group is None:  # unbound since: nobody expects it any more
                await digest_repo.finish(
                    conn, group_id, kind, key, "skipped", now, "interrupted, unbound"
                )
                continue
            digest = DueDigest(group, kind, period_of(kind, key), due)
            if now - due > self.catch_up:
                await digest_repo.finish(conn, group_id, kind, key, "skipped", now, "interrupted")
                plan.skipped.append(digest)
            else:
                plan.send.append(digest)
        return plan

    def taken(self, kind: str) -> None:
        """Note that ``kind``'s interrupted sends were taken over. Call once the plan's transaction
        committed; later plans of ``kind`` then take over nothing."""
        self._done.add(kind)


class DigestService:
    def __init__(self, db: Database, clock: Clock, config: Config) -> None:
        self.db = db
        self.clock = clock
        self.zone = config.locale.zone
        self.calendar = Calendar(clock, self.zone)
        self.schedule = config.schedule
        self.interrupted = Interrupted(clock, config.schedule.catch_up_hours)

    def latest_daily_due(self) -> datetime:
        """The most recent daily digest time at or before now."""
        return self.calendar.latest(self.schedule.daily_time())

    async def plan_daily(self) -> Plan:
        """Claim the daily digest of every bound group that has not had it yet, with the
        sends an earlier run left unfinished (``Interrupted``)."""
        now = self.clock.now()
        due = self.latest_daily_due()
        period = Period.of(DAY, due.date())
        late = now - due > timedelta(hours=self.schedule.catch_up_hours)
        async with self.db.transaction() as conn:
            plan = await self.interrupted.take_over(conn, "daily")
            for group in await group_repo.active(conn):
                if group.bound_at > due:
                    continue  # bound after this digest was due
                claimed = await digest_repo.claim(
                    conn,
                    group.id,
                    "daily",
                    period.first.isoformat(),
                    due,
                    "skipped" if late else "sending",
                )
                if claimed:
                    (plan.skipped if late else plan.send).append(
                        DueDigest(group, "daily", period, due)
                    )
        self.interrupted.taken("daily")
        return plan

    async def on_demand(self, actor: Member, chat_id: int) -> DueDigest:
        """/digest in a group: today's daily digest of the group's unit, to send now.

        Recorded as a request of its own (``digest_request``), never as the scheduled
        send of the day, so the scheduled digest still goes out at its time."""
        now = self.clock.now()
        period = self.calendar.period(DAY)
        async with self.db.transaction() as conn:
            group = await group_repo.by_chat(conn, chat_id)
            if group is None or not group.active:
                raise Refused("digest.not_bound")
            unit = await unit_repo.get_by_id(conn, group.unit_id)
            if unit is None or not access.in_scope(actor, unit):
                raise Refused("deny.scope", unit=group.unit_name)
            request_id = await digest_repo.request(
                conn, group.id, period.first.isoformat(), actor.id, now
            )
        return DueDigest(group, ON_DEMAND, period, now, request_id)

    async def finish(self, digest: DueDigest, state: str, detail: str | None = None) -> None:
        """Record how a claimed send (digest or bulletin) ended: ``state`` (sent or failed) and
        ``detail`` on its ``digest_send`` row, or its ``digest_request`` row when on demand."""
        async with self.db.transaction() as conn:
            if digest.request_id is not None:
                await digest_repo.finish_request(
                    conn, digest.request_id, state, self.clock.now(), detail
                )
                return
            await digest_repo.finish(
                conn,
                digest.group.id,
                digest.kind,
                digest.key,
                state,
                self.clock.now(),
                detail,
            )

    async def plan_reminders(self) -> list[Member]:
        """Today's reminder, once it is due (and not past the catch-up window): the
        active workers who have submitted nothing today, each claimed once."""
        now = self.clock.now()
        today = self.calendar.period(DAY)
        due = datetime.combine(today.first, self.schedule.reminder_time(), self.zone)
        if now < due or now - due > timedelta(hours=self.schedule.catch_up_hours):
            return []
        start, end = today.bounds(self.zone)
        async with self.db.transaction() as conn:
            ids = await digest_repo.claim_reminders(
                conn,
                today.first,
                start,
                end,
                due,
                now,
            )
            found = [await member_repo.by_id(conn, member_id) for member_id in ids]
        return [member for member in found if member is not None]

    async def admins_over(self, group: Group) -> list[Member]:
        """The active admins whose scope covers the group's unit (their unit is it or one above
        it), to tell about a skipped send."""
        async with self.db.read() as conn:
            return await member_repo.active_over(conn, group.unit_path, (Role.ADMIN.value,))


def percent(numerator: int, denominator: int) -> str:
    """``numerator`` as a whole percentage of ``denominator``, rounded down (57%); a dash when the
    denominator is 0."""
    return f"{numerator * 100 // denominator}%" if denominator else "—"


def _move(move: int | None) -> str:
    if move is None:
        return "–"
    if move > 0:
        return f"↑{move}"
    if move < 0:
        return f"↓{-move}"
    return "–"


def table_lines(ranking: Ranking, headers: tuple[str, ...]) -> list[str]:
    """The ranking as aligned monospace lines: a header line, then one line per unit."""
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
    return aligned([headers, *rows], separator=" ", left=(1,))


def period_label(period: Period, text: Callable[..., str]) -> str:
    """The day of a daily ranking; first and last day of a longer one."""
    if period.first == period.last:
        return period.first.isoformat()
    return text("digest.period_range", first=period.first.isoformat(), last=period.last.isoformat())


def chart_caption(ranking: Ranking, text: Callable[..., str]) -> str:
    """The title of the score chart (the photo's caption)."""
    return text(
        "digest.chart_title",
        unit=ranking.parent.name,
        children=text(f"digest.children.{ranking.parent.level}"),
        day=period_label(ranking.period, text),
    )


def render_daily(ranking: Ranking, text: Callable[..., str]) -> list[str]:
    """The digest as HTML messages, each under Telegram's limit, the table split only
    between rows (the header repeated on every part)."""
    title = text(
        "digest.title",
        unit=html.escape(ranking.parent.name),
        children=text(f"digest.children.{ranking.parent.level}"),
        day=period_label(ranking.period, text),
    )
    headers = tuple(text(f"digest.column.{c}") for c in _COLUMNS)
    lines = table_lines(ranking, headers)
    tail = []
    if ranking.silent:
        separator = text("list.separator")
        names = separator.join(html.escape(u.name) for u in ranking.silent)
        tail.append(text("digest.silent", units=names))
    overdue = [row for row in ranking.rows if row.overdue]
    if overdue:
        items = text("list.separator").join(
            text("digest.overdue_item", unit=html.escape(r.unit.name), count=r.overdue)
            for r in overdue
        )
        tail.append(text("digest.overdue", items=items))
    messages: list[str] = []
    header, body = html.escape(lines[0]), [html.escape(line) for line in lines[1:]]
    current: list[str] = []
    for line in body:
        candidate = [*current, line]
        size = len(title) + len(header) + sum(len(x) + 1 for x in candidate) + 32
        if current and size > MESSAGE_LIMIT:
            messages.append(_message(title, header, current))
            current = [line]
        else:
            current = candidate
    messages.append(_message(title, header, current))
    for extra in tail:
        if len(messages[-1]) + len(extra) + 2 > MESSAGE_LIMIT:
            messages.append(extra)
        else:
            messages[-1] += "\n\n" + extra
    return messages


def _message(title: str, header: str, lines: list[str]) -> str:
    return f"{title}\n<pre>{header}\n" + "\n".join(lines) + "</pre>"
