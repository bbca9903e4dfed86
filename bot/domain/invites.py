"""Invites and joining: create a link, open it, give a name, become a member.

A token is 192 random bits, URL-safe, used as the deep-link ``start`` parameter; only its
SHA-256 is stored. Opening a link leaves a join draft in the database (so a restart
between the link and the name loses nothing); the use is counted, atomically, when the
person actually joins. Joining is a one-step flow, ``JOIN_FLOW``: the name, checked by
``bot.core.names.clean_name``.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from bot.config import InviteConfig
from bot.core import access, paging
from bot.core.access import Role
from bot.core.clock import Clock
from bot.core.codes import typed_code
from bot.core.errors import Refused
from bot.core.names import clean_name
from bot.core.paging import Page
from bot.domain import audit
from bot.domain.flows import Flow, FlowTable, StepSpec
from bot.i18n import Catalogue
from storage import chats as chat_repo
from storage import invites as invite_repo
from storage import members as member_repo
from storage import units as unit_repo
from storage.db import Connection, Database
from storage.invites import Invite
from storage.members import Member
from storage.times import from_text, to_text
from storage.units import Unit

TOKEN_RE = re.compile(r"^[A-Za-z0-9_-]{16,64}$")


class JoinStep(StrEnum):
    NAME = "name"


# Joining after an invite link is opened: the name (the join draft lives in storage.chats).
JOIN_FLOW: FlowTable[JoinStep] = FlowTable(
    Flow.JOIN,
    JoinStep,
    (StepSpec(JoinStep.NAME, "join.ask_name", "join.send_text", parse=clean_name),),
)


@dataclass(frozen=True)
class CreatedInvite:
    token: str
    unit: Unit
    chain: list[Unit]
    role: Role
    max_uses: int
    expires_at: datetime


@dataclass(frozen=True)
class JoinOffer:
    """A valid link was opened: ask for the name. ``moved_from`` when it is an existing
    member's: ``invite_id`` set, the move waits for them to confirm (nothing changed
    yet); without it, the move is done."""

    unit: Unit
    chain: list[Unit]
    role: Role
    moved_from: Member | None = None
    invite_id: int | None = None


@dataclass(frozen=True)
class OpenLink:
    """A link that still admits people, as ``/invites`` lists it."""

    id: int
    unit: Unit
    role: Role
    uses: int
    max_uses: int
    expires_at: datetime
    maker_name: str | None  # None: made by an operator from the shell


@dataclass(frozen=True)
class Joined:
    member: Member
    chain: list[Unit]


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class InviteService:
    def __init__(
        self,
        db: Database,
        clock: Clock,
        limits: InviteConfig,
        catalogue: Catalogue,
        page_size: int = 20,
    ) -> None:
        self.db = db
        self.clock = clock
        self.limits = limits
        self.page_size = page_size  # links per page of /invites
        # the words for each role in every language (``role.word.*``)
        self.role_words = {
            word: role for role in Role for word in catalogue.keywords(f"role.word.{role.value}")
        }

    def parse_role(self, text: str) -> Role:
        """The role a word names (``worker``, ``网格员``…), or ``invite.bad_role``."""
        role = self.role_words.get(text.strip().lower())
        if role is None:
            raise Refused("invite.bad_role", role=text)
        return role

    async def create(
        self,
        actor: Member,
        unit_code: str,
        role_text: str,
        uses: int | None = None,
        days: int | None = None,
    ) -> CreatedInvite:
        role = self.parse_role(role_text)
        uses = self.limits.default_uses if uses is None else uses
        days = self.limits.default_days if days is None else days
        if not 1 <= uses <= self.limits.max_uses:
            raise Refused("invite.bad_uses", max=self.limits.max_uses)
        if not 1 <= days <= self.limits.max_days:
            raise Refused("invite.bad_days", max=self.limits.max_days)
        token = secrets.token_urlsafe(24)
        now = self.clock.now()
        expires_at = now + timedelta(days=days)
        async with self.db.transaction() as conn:
            unit = await unit_repo.get_by_code(conn, typed_code(unit_code))
            if unit is None:
                raise Refused("unit.unknown", code=unit_code)
            reason = access.check_invite(actor, unit, role)
            if reason:
                raise Refused(reason, unit=unit.name)
            invite_id = await invite_repo.insert(
                conn,
                token_hash=hash_token(token),
                unit_id=unit.id,
                role=role.value,
                max_uses=uses,
                expires_at=to_text(expires_at),
                created_by=actor.id,
                maker_unit_id=actor.unit_id,
                now=to_text(now),
            )
            await audit.record(
                conn,
                self.clock,
                "invite.created",
                actor=actor,
                target=f"invite #{invite_id}",
                unit_id=unit.id,
                role=role.value,
                uses=uses,
                days=days,
            )
            chain = await unit_repo.ancestors(conn, unit)
        return CreatedInvite(token, unit, chain, role, uses, expires_at)

    async def open(self, telegram_id: int, token: str) -> JoinOffer:
        """Someone opened ``/start <token>``: check it, then ask a newcomer for their name,
        or an existing member to confirm the move (nothing changes until they do)."""
        if not TOKEN_RE.fullmatch(token):
            raise Refused("start.bad_token")
        now = self.clock.now()
        async with self.db.transaction() as conn:
            invite = await self._usable(conn, token, now)
            unit = await unit_repo.get_by_id(conn, invite.unit_id)
            assert unit is not None
            chain = await unit_repo.ancestors(conn, unit)
            role = Role(invite.role)
            current = await member_repo.by_telegram_id(conn, telegram_id)
            if current is not None:
                await self._check_move(conn, invite, unit, role, current)
            expires = now + timedelta(minutes=self.limits.join_timeout_minutes)
            await chat_repo.put_join_draft(
                conn, telegram_id, invite.id, to_text(now), to_text(expires)
            )
            if current is None:
                return JoinOffer(unit, chain, role)
            return JoinOffer(unit, chain, role, moved_from=current, invite_id=invite.id)

    async def _check_move(
        self, conn: Connection, invite: Invite, unit: Unit, role: Role, current: Member
    ) -> Member | None:
        """May this link move ``current``? Returns the link's maker."""
        if not current.active:
            raise Refused("join.disabled")
        if current.unit_id == unit.id and current.role == role.value:
            raise Refused("join.already", unit=unit.name)
        inviter = await member_repo.by_id(conn, invite.created_by) if invite.created_by else None
        reason = access.check_move(inviter, current)
        if reason:
            raise Refused(reason, unit=current.unit_name)
        return inviter

    async def confirm_move(self, telegram_id: int, invite_id: int) -> JoinOffer:
        """The member pressed 确认调动 under the link ``invite_id`` they opened: everything
        is checked again, then they are moved."""
        now = self.clock.now()
        async with self.db.transaction() as conn:
            draft = await chat_repo.join_draft(conn, telegram_id)
            if draft is None or draft.invite_id != invite_id:
                raise Refused("join.move_stale")
            expired = from_text(draft.expires_at) <= now
            await chat_repo.drop_join_draft(conn, telegram_id)
        if expired:
            raise Refused("join.move_stale")
        async with self.db.transaction() as conn:
            invite = await invite_repo.by_id(conn, invite_id)
            current = await member_repo.by_telegram_id(conn, telegram_id)
            if invite is None or current is None:
                raise Refused("join.move_stale")
            unit = await self._usable_unit(conn, invite, now)
            role = Role(invite.role)
            inviter = await self._check_move(conn, invite, unit, role, current)
            if not await invite_repo.count_use(conn, invite.id):
                raise Refused("start.used_up")
            await member_repo.update_placement(
                conn,
                current.id,
                name=current.name,
                unit_id=unit.id,
                role=role.value,
                invite_id=invite.id,
                now=to_text(now),
            )
            await audit.record(
                conn,
                self.clock,
                "invite.used",
                actor=current,
                target=f"invite #{invite.id}",
                unit_id=unit.id,
            )
            await audit.record(
                conn,
                self.clock,
                "member.moved",
                actor=inviter,
                target=f"{current.name} ({current.telegram_id})",
                unit_id=unit.id,
                by_invite=invite.id,
                **{"from": current.unit_code, "to": unit.code, "role": role.value},
            )
            chain = await unit_repo.ancestors(conn, unit)
            return JoinOffer(unit, chain, role, moved_from=current)

    async def cancel_move(self, telegram_id: int, invite_id: int) -> None:
        """The member pressed 取消 under a move: nothing changes."""
        async with self.db.transaction() as conn:
            draft = await chat_repo.join_draft(conn, telegram_id)
            if draft is None or draft.invite_id != invite_id:
                raise Refused("join.move_stale")
            await chat_repo.drop_join_draft(conn, telegram_id)

    async def has_pending_join(self, telegram_id: int) -> bool:
        async with self.db.read() as conn:
            return await chat_repo.join_draft(conn, telegram_id) is not None

    async def complete_join(self, telegram_id: int, name_text: str, username: str | None) -> Joined:
        """The person typed their name: join them to the invite's unit with its role."""
        now = self.clock.now()
        async with self.db.transaction() as conn:
            draft = await chat_repo.join_draft(conn, telegram_id)
            expired = draft is not None and from_text(draft.expires_at) <= now
            if expired:
                await chat_repo.drop_join_draft(conn, telegram_id)
        if draft is None:
            raise Refused("join.no_draft")
        if expired:
            raise Refused("join.draft_expired")
        # A bad name keeps the draft: they may try again.
        name = JOIN_FLOW.parse(JoinStep.NAME, name_text)
        async with self.db.transaction() as conn:
            draft = await chat_repo.join_draft(conn, telegram_id)
            if draft is None:
                raise Refused("join.no_draft")
            invite = await invite_repo.by_id(conn, draft.invite_id)
            assert invite is not None
            unit = await unit_repo.get_by_id(conn, invite.unit_id)
            assert unit is not None
            problem = await self._problem(conn, invite, unit, now)
            if problem is None and not await invite_repo.count_use(conn, invite.id):
                problem = "start.used_up"
            if problem is not None or await member_repo.by_telegram_id(conn, telegram_id):
                await chat_repo.drop_join_draft(conn, telegram_id)
                problem = problem or "join.already"
            else:
                await member_repo.insert(
                    conn,
                    telegram_id=telegram_id,
                    name=name,
                    unit_id=unit.id,
                    role=invite.role,
                    username=username,
                    invite_id=invite.id,
                    now=to_text(now),
                )
                await chat_repo.drop_join_draft(conn, telegram_id)
                await audit.record(
                    conn,
                    self.clock,
                    "invite.used",
                    actor=await member_repo.by_telegram_id(conn, telegram_id),
                    target=f"invite #{invite.id}",
                    unit_id=unit.id,
                    role=invite.role,
                )
        # The draft is dropped whatever the outcome; say why outside the transaction so
        # that the drop is committed rather than rolled back with the refusal.
        if problem is not None:
            raise Refused(problem, unit=unit.name)
        async with self.db.read() as conn:
            member = await member_repo.by_telegram_id(conn, telegram_id)
            assert member is not None
            chain = await unit_repo.ancestors(conn, unit)
        return Joined(member, chain)

    async def _usable(self, conn: Connection, token: str, now: datetime) -> Invite:
        invite = await invite_repo.by_hash(conn, hash_token(token))
        if invite is None:
            raise Refused("start.bad_token")
        await self._usable_unit(conn, invite, now)
        return invite

    async def _usable_unit(self, conn: Connection, invite: Invite, now: datetime) -> Unit:
        """The unit an invite admits to, once nothing stands against its use (else
        ``Refused`` with the problem)."""
        unit = await unit_repo.get_by_id(conn, invite.unit_id)
        assert unit is not None
        problem = await self._problem(conn, invite, unit, now)
        if problem:
            raise Refused(problem)
        return unit

    async def _problem(
        self, conn: Connection, invite: Invite, unit: Unit, now: datetime
    ) -> str | None:
        """Why a link no longer admits anyone, or None: expired, used up, revoked, its
        unit closed, or its maker disabled, moved or demoted."""
        if invite.revoked_at is not None:
            return "start.revoked"
        if from_text(invite.expires_at) <= now:
            return "start.expired"
        if invite.uses >= invite.max_uses:
            return "start.used_up"
        if not unit.active:
            return "start.unit_inactive"
        maker = await member_repo.by_id(conn, invite.created_by) if invite.created_by else None
        return access.check_invite_maker(maker, unit, Role(invite.role), invite.maker_unit_id)

    # ------------------------------------------------------------------ /invites

    async def open_links(self, actor: Member) -> list[OpenLink]:
        """The links in the actor's scope that still admit people and that the actor could
        have made (a lead sees worker links), newest first."""
        now = self.clock.now()
        found: list[OpenLink] = []
        async with self.db.read() as conn:
            for invite in await invite_repo.open_in_subtree(conn, actor.unit_path, to_text(now)):
                unit = await unit_repo.get_by_id(conn, invite.unit_id)
                assert unit is not None
                role = Role(invite.role)
                if access.check_manage_invite(actor, unit, role) is not None:
                    continue
                if await self._problem(conn, invite, unit, now) is not None:
                    continue
                maker = (
                    await member_repo.by_id(conn, invite.created_by) if invite.created_by else None
                )
                found.append(
                    OpenLink(
                        invite.id,
                        unit,
                        role,
                        invite.uses,
                        invite.max_uses,
                        from_text(invite.expires_at),
                        maker.name if maker else None,
                    )
                )
        return found

    async def open_links_page(
        self, actor: Member, page: int, *, clamp: bool = False
    ) -> Page[OpenLink]:
        """One page of ``open_links``; a page that no longer exists is ``button.stale``, or
        with ``clamp`` the last page (the list redrawn after a revoke emptied its page)."""
        return paging.page_of(await self.open_links(actor), page, self.page_size, clamp=clamp)

    async def revoke(self, actor: Member, invite_id: int) -> OpenLink:
        """Revoke a link the actor could have made; an unknown, foreign or dead one is
        ``invite.revoke_stale`` (no hint whether it exists)."""
        now = self.clock.now()
        async with self.db.transaction() as conn:
            invite = await invite_repo.by_id(conn, invite_id)
            unit = await unit_repo.get_by_id(conn, invite.unit_id) if invite else None
            if (
                invite is None
                or unit is None
                or access.check_manage_invite(actor, unit, Role(invite.role)) is not None
                or await self._problem(conn, invite, unit, now) is not None
                or not await invite_repo.revoke(conn, invite.id, actor.id, to_text(now))
            ):
                raise Refused("invite.revoke_stale")
            maker = await member_repo.by_id(conn, invite.created_by) if invite.created_by else None
            await audit.record(
                conn,
                self.clock,
                "invite.revoked",
                actor=actor,
                target=f"invite #{invite.id}",
                unit_id=unit.id,
                role=invite.role,
            )
        return OpenLink(
            invite.id,
            unit,
            Role(invite.role),
            invite.uses,
            invite.max_uses,
            from_text(invite.expires_at),
            maker.name if maker else None,
        )
