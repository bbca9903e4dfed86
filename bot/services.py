"""Everything the handlers and jobs use, opened and closed together."""

from __future__ import annotations

from dataclasses import dataclass

from bot.config import Config
from bot.core.clock import Clock, SystemClock
from bot.core.periods import Calendar
from bot.domain.audit import AuditService
from bot.domain.briefs import BriefService
from bot.domain.bulletin import BulletinService
from bot.domain.digest import DigestService
from bot.domain.exports import ExportService
from bot.domain.groups import GroupService
from bot.domain.inbox import Inbox
from bot.domain.invites import InviteService
from bot.domain.members import MemberService
from bot.domain.menus import MenuService
from bot.domain.org import OrgService
from bot.domain.outlets import OutletService
from bot.domain.plans import PlanService
from bot.domain.ranking import RankingService
from bot.domain.report_history import ReportHistory
from bot.domain.reports import ReportService
from bot.domain.send_rate import SharedRate
from bot.domain.sites import SiteRegistry
from bot.domain.status_updates import StatusUpdateService
from bot.domain.tips import TipService
from bot.i18n import Catalogue
from storage.db import Database


@dataclass
class Services:
    config: Config
    db: Database
    clock: Clock
    calendar: Calendar
    catalogue: Catalogue
    org: OrgService
    members: MemberService
    invites: InviteService
    menus: MenuService
    reports: ReportService
    report_history: ReportHistory
    status_updates: StatusUpdateService
    groups: GroupService
    tips: TipService
    ranking: RankingService
    digests: DigestService
    bulletins: BulletinService
    briefs: BriefService
    audit: AuditService
    exports: ExportService
    inbox: Inbox
    plans: PlanService
    sites: SiteRegistry
    outlets: OutletService
    send_rate: SharedRate

    @classmethod
    async def open(
        cls, config: Config, *, clock: Clock | None = None, migrate: bool = True
    ) -> Services:
        """Open the database (migrating it unless told not to) and build the services."""
        clock = clock or SystemClock()
        catalogue = Catalogue.load(config.locale.language)
        db = await Database.open(
            config.database.target, busy_timeout_ms=config.database.busy_timeout_ms
        )
        try:
            if migrate:
                await db.migrate()
        except BaseException:
            await db.close()
            raise
        ranking = RankingService(db, clock, config)
        audit = AuditService(db, clock)
        plans = PlanService(db, clock, config)
        digests = DigestService(db, clock, config)
        bulletins = BulletinService(db, clock, config, ranking)
        return cls(
            config=config,
            db=db,
            clock=clock,
            calendar=Calendar(clock, config.locale.zone),
            catalogue=catalogue,
            org=OrgService(db, clock),
            members=MemberService(db, clock, catalogue, config.members.page_size),
            invites=InviteService(db, clock, config.invites, catalogue, config.members.page_size),
            menus=MenuService(db, clock, catalogue),
            reports=ReportService(db, clock, config),
            report_history=ReportHistory(db, clock, config),
            status_updates=StatusUpdateService(db, clock, config),
            groups=GroupService(db, clock),
            tips=TipService(db, clock, config),
            ranking=ranking,
            digests=digests,
            bulletins=bulletins,
            briefs=BriefService(db, clock, config, bulletins),
            audit=audit,
            exports=ExportService(config, catalogue, audit, clock, db=db),
            inbox=Inbox(db, clock),
            plans=plans,
            sites=SiteRegistry(db, clock, config, plans),
            outlets=OutletService(db, clock, config, digests, bulletins),
            send_rate=SharedRate(db, config.telegram.max_messages_per_second),
        )

    async def close(self) -> None:
        await self.db.close()
