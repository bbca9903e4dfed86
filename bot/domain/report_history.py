"""Looking back at reports: a site's history, a member's own reports, a lead's scope.

Scope is checked here, on every call (a button pressed later is checked again): a site
or report is visible to a member whose unit's subtree holds the site's unit.
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.config import Config
from bot.core import access, paging
from bot.core.clock import Clock
from bot.core.codes import typed_code
from bot.core.errors import Refused
from bot.core.periods import DAY, WEEK, Calendar
from bot.domain.scope import unit_in_view
from storage import reports as report_repo
from storage import sites as site_repo
from storage import units as unit_repo
from storage.db import Database
from storage.members import Member
from storage.reports import Photo, Report
from storage.sites import Site
from storage.units import Unit

SITE_HISTORY = 15
PERIODS = ("today", "week", "all")


@dataclass(frozen=True)
class SiteHistory:
    site: Site
    reports: list[Report]


@dataclass(frozen=True)
class ReportPage:
    reports: list[Report]
    page: int
    pages: int
    total: int
    unit: Unit | None = None
    period: str = "all"


class ReportHistory:
    def __init__(self, db: Database, clock: Clock, config: Config) -> None:
        self.db = db
        self.clock = clock
        self.zone = config.locale.zone
        self.calendar = Calendar(clock, self.zone)
        self.page_size = config.reports.page_size

    def period_start(self, period: str) -> str | None:
        """UTC start of today or of this week (Monday) in the configured zone."""
        if period == "all":
            return None
        return self.calendar.since(DAY if period == "today" else WEEK)

    async def sites(self, member: Member, code: str) -> list[SiteHistory]:
        """The sites of any category with this code in the member's subtree, each with its latest
        ``SITE_HISTORY`` reports, newest first; empty when there is none in scope."""
        async with self.db.read() as conn:
            found = await site_repo.with_code_in_subtree(conn, typed_code(code), member.unit_path)
            return [
                SiteHistory(site, await report_repo.for_site(conn, site.id, SITE_HISTORY))
                for site in found
            ]

    async def photos(self, member: Member, report_id: int) -> tuple[Report, list[Photo]]:
        """A report and its photos in order, for a member whose subtree holds its unit or who made
        it; ``button.stale`` when the report is unknown, ``deny.scope`` for anyone else."""
        async with self.db.read() as conn:
            report = await report_repo.by_id(conn, report_id)
            unit = await unit_repo.get_by_id(conn, report.unit_id) if report else None
            if report is None or unit is None:
                raise Refused("button.stale")
            if not access.in_scope(member, unit) and report.member_id != member.id:
                raise Refused("deny.scope", unit=unit.name)
            return report, await report_repo.photos(conn, report_id)

    def _pages(self, total: int, page: int) -> int:
        return paging.check_page(page, total, self.page_size)

    async def mine(self, member: Member, page: int) -> ReportPage:
        """A page (from 0) of the member's own reports, newest first; ``button.stale`` for a page
        that is not one."""
        async with self.db.read() as conn:
            total = await report_repo.count_for_member(conn, member.id)
            pages = self._pages(total, page)
            rows = await report_repo.page_for_member(
                conn, member.id, self.page_size, page * self.page_size
            )
        return ReportPage(rows, page, pages, total)

    async def in_scope(
        self, member: Member, unit_code: str | None, period: str, page: int
    ) -> ReportPage:
        """A page of the reports in the subtree of ``unit_code`` (the member's unit when None)
        since the start of ``period`` (today, this week, all), newest first. Refused:
        ``button.stale``, ``unit.unknown``, ``deny.role``, ``deny.scope``."""
        if period not in PERIODS:
            raise Refused("button.stale")
        async with self.db.read() as conn:
            unit = await unit_in_view(conn, member, unit_code)
            since = self.period_start(period)
            total = await report_repo.count_in_subtree(conn, unit.path, since)
            pages = self._pages(total, page)
            rows = await report_repo.page_in_subtree(
                conn, unit.path, since, self.page_size, page * self.page_size
            )
        return ReportPage(rows, page, pages, total, unit, period)
