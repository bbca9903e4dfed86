"""Members as a service: who is calling, their language, listing and (dis)abling members,
and the operator's bootstrap of the first admin."""

from __future__ import annotations

from dataclasses import dataclass

from bot.core import access, paging
from bot.core.access import Role
from bot.core.clock import Clock
from bot.core.codes import typed_code
from bot.core.errors import Refused
from bot.core.names import clean_name
from bot.domain import audit
from bot.domain.scope import unit_in_view
from bot.i18n import Catalogue
from storage import chats as chat_repo
from storage import invites as invite_repo
from storage import members as member_repo
from storage import units as unit_repo
from storage.db import Database
from storage.members import Member
from storage.units import Unit


@dataclass(frozen=True)
class Caller:
    """The person behind an update, as the domain sees them."""

    telegram_id: int
    member: Member | None
    language: str
    flow: str | None = None
    """The multi-step conversation (``storage.chats.active_flow``) this person is in."""

    @property
    def audience(self) -> access.Audience:
        """What the caller counts as (``access.audience_of``): ``ANYONE`` when not a member, or
        disabled."""
        return access.audience_of(self.member)


@dataclass(frozen=True)
class MembersPage:
    unit: Unit
    members: list[Member]
    page: int
    pages: int
    total: int


class MemberService:
    def __init__(self, db: Database, clock: Clock, catalogue: Catalogue, page_size: int) -> None:
        self.db = db
        self.clock = clock
        self.catalogue = catalogue
        self.page_size = page_size

    async def caller(self, telegram_id: int, telegram_language: str | None) -> Caller:
        """Who is behind an update: their member row (None if none; disabled ones too), the
        language to answer in (their /lang choice, else their client's, else the default) and
        the flow they are in."""
        async with self.db.read() as conn:
            member = await member_repo.by_telegram_id(conn, telegram_id)
            chosen, flow = await chat_repo.language_and_flow(conn, telegram_id)
        return Caller(
            telegram_id, member, self.catalogue.resolve_language(chosen, telegram_language), flow
        )

    async def set_language(self, telegram_id: int, language: str) -> None:
        """Keep ``language`` as this person's /lang choice, member or not; ``lang.unknown`` when
        the catalogue has no such language."""
        if language not in self.catalogue.messages:
            raise Refused("lang.unknown")
        async with self.db.transaction() as conn:
            await chat_repo.set_language(conn, telegram_id, language, self.clock.now())

    async def by_telegram_id(self, telegram_id: int) -> Member | None:
        """The member with this Telegram id, disabled or not; None when there is none."""
        async with self.db.read() as conn:
            return await member_repo.by_telegram_id(conn, telegram_id)

    async def unit_chain(self, unit_id: int) -> list[Unit]:
        """The chain from the city down to unit ``unit_id``; empty when there is no such unit."""
        async with self.db.read() as conn:
            unit = await unit_repo.get_by_id(conn, unit_id)
            return await unit_repo.ancestors(conn, unit) if unit else []

    async def add_by_operator(
        self, telegram_id: int, unit_code: str, role: Role, name: str
    ) -> Member:
        """Create or re-place a member from the shell (the first admin, a lost admin)."""
        name = clean_name(name)
        now = self.clock.now()
        async with self.db.transaction() as conn:
            unit = await unit_repo.get_by_code(conn, typed_code(unit_code))
            if unit is None:
                raise Refused("unit.unknown", code=unit_code)
            if not unit.active:
                raise Refused("deny.unit_inactive", unit=unit.name)
            current = await member_repo.by_telegram_id(conn, telegram_id)
            if current is None:
                await member_repo.insert(
                    conn,
                    telegram_id=telegram_id,
                    name=name,
                    unit_id=unit.id,
                    role=role.value,
                    username=None,
                    invite_id=None,
                    now=now,
                )
            else:
                await member_repo.update_placement(
                    conn,
                    current.id,
                    name=name,
                    unit_id=unit.id,
                    role=role.value,
                    invite_id=None,
                    now=now,
                )
                if not current.active:
                    await member_repo.set_active(conn, current.id, True, now)
            member = await member_repo.by_telegram_id(conn, telegram_id)
            assert member is not None
            await audit.record(
                conn,
                self.clock,
                "member.added" if current is None else "member.moved",
                actor=None,
                target=f"{member.name} ({telegram_id})",
                unit_id=unit.id,
                role=role.value,
                **({"from": current.unit_code} if current is not None else {}),
            )
        return member

    async def set_active(self, actor: Member, telegram_id: int, active: bool) -> Member:
        """Disable or enable a member in the actor's scope; returns the member as now."""
        async with self.db.transaction() as conn:
            target = await member_repo.by_telegram_id(conn, telegram_id)
            if target is None:
                raise Refused("member.unknown", id=telegram_id)
            reason = access.check_manage_member(actor, target)
            if reason:
                raise Refused(reason, unit=target.unit_name)
            if target.active == active:
                raise Refused(
                    "member.already_enabled" if active else "member.already_disabled",
                    name=target.name,
                )
            now = self.clock.now()
            await member_repo.set_active(conn, target.id, active, now)
            if not active:  # their links die with them, and stay dead if they come back
                await invite_repo.revoke_made_by(conn, target.id, now)
            await audit.record(
                conn,
                self.clock,
                "member.enabled" if active else "member.disabled",
                actor=actor,
                target=f"{target.name} ({target.telegram_id})",
                unit_id=target.unit_id,
            )
            updated = await member_repo.by_telegram_id(conn, telegram_id)
        assert updated is not None
        return updated

    async def members_page(self, actor: Member, unit_code: str | None, page: int) -> MembersPage:
        """One page of the members of a unit's subtree (the actor's own unit by default)."""
        async with self.db.read() as conn:
            unit = await unit_in_view(conn, actor, unit_code)
            total = await member_repo.count_in_subtree(conn, unit.path)
            pages = paging.check_page(page, total, self.page_size)
            rows = await member_repo.page_in_subtree(
                conn, unit.path, offset=page * self.page_size, limit=self.page_size
            )
        return MembersPage(unit, rows, page, pages, total)

    async def leads_and_admins(self) -> list[Member]:
        """Every lead and admin, disabled ones included, in the order they joined."""
        async with self.db.read() as conn:
            return await member_repo.with_roles(conn, (Role.LEAD.value, Role.ADMIN.value))

    async def all_members(self) -> list[Member]:
        """Every member of any role, disabled ones included, in the order they joined."""
        async with self.db.read() as conn:
            return await member_repo.with_roles(
                conn, (Role.WORKER.value, Role.LEAD.value, Role.ADMIN.value)
            )
