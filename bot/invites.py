"""Invites and joining: create a link, open it, give a name, become a member.

A token is 192 random bits, URL-safe, used as the deep-link ``start`` parameter; only its
SHA-256 is stored. Opening a link leaves a join draft in the database (so a restart
between the link and the name loses nothing); the use is counted, atomically, when the
person actually joins.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from bot import access, audit
from bot.access import ROLE_ALIASES, Role
from bot.clock import Clock
from bot.codes import typed_code
from bot.config import InviteConfig
from bot.errors import Refused
from bot.names import clean_name
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
    """A valid link was opened: ask for the name. ``moved`` when an existing member was
    moved at once instead (they already have a name)."""

    unit: Unit
    chain: list[Unit]
    role: Role
    moved_from: Member | None = None


@dataclass(frozen=True)
class Joined:
    member: Member
    chain: list[Unit]


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class InviteService:
    def __init__(self, db: Database, clock: Clock, limits: InviteConfig) -> None:
        self.db = db
        self.clock = clock
        self.limits = limits

    def parse_role(self, text: str) -> Role:
        role = ROLE_ALIASES.get(text.strip().lower())
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
        """Someone opened ``/start <token>``: check it and either ask for a name or move
        the existing member at once."""
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
            if current is None:
                expires = now + timedelta(minutes=self.limits.join_timeout_minutes)
                await chat_repo.put_join_draft(
                    conn, telegram_id, invite.id, to_text(now), to_text(expires)
                )
                return JoinOffer(unit, chain, role)
            if not current.active:
                raise Refused("join.disabled")
            if current.unit_id == unit.id and current.role == role.value:
                raise Refused("join.already", unit=unit.name)
            inviter = (
                await member_repo.by_id(conn, invite.created_by) if invite.created_by else None
            )
            reason = access.check_move(inviter, current)
            if reason:
                raise Refused(reason, unit=current.unit_name)
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
            return JoinOffer(unit, chain, role, moved_from=current)

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
        name = clean_name(name_text)  # a bad name keeps the draft: they may try again
        async with self.db.transaction() as conn:
            draft = await chat_repo.join_draft(conn, telegram_id)
            if draft is None:
                raise Refused("join.no_draft")
            invite = await invite_repo.by_id(conn, draft.invite_id)
            assert invite is not None
            problem = _problem(invite, now)
            if problem is None and not await invite_repo.count_use(conn, invite.id):
                problem = "start.used_up"
            unit = await unit_repo.get_by_id(conn, invite.unit_id)
            assert unit is not None
            if problem is None and not unit.active:
                problem = "start.unit_inactive"
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
        problem = _problem(invite, now)
        if problem is None:
            unit = await unit_repo.get_by_id(conn, invite.unit_id)
            if unit is None or not unit.active:
                problem = "start.unit_inactive"
        if problem:
            raise Refused(problem)
        return invite


def _problem(invite: Invite, now: datetime) -> str | None:
    if from_text(invite.expires_at) <= now:
        return "start.expired"
    if invite.uses >= invite.max_uses:
        return "start.used_up"
    return None
