"""Work groups bound to units: who may bind them, and what happens when a group goes.

A bound group receives the digests that rank its unit's children. The bot being removed
from a group, or the group moving to a new chat id (a supergroup), is recorded here; the
admins whose scope covers the group's unit are the ones to tell.
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.core import access
from bot.core.access import Role
from bot.core.clock import Clock
from bot.core.codes import typed_code
from bot.core.errors import Refused
from bot.domain import audit
from storage import groups as group_repo
from storage import members as member_repo
from storage import units as unit_repo
from storage.db import Connection, Database
from storage.groups import Group
from storage.members import Member
from storage.times import to_text
from storage.units import Unit

# Why a group stopped receiving (group.state.<reason>): unbound by an admin, the bot
# removed from it, or the group gone (Telegram refuses to send there).
END_REASONS = ("unbound", "removed", "gone")


@dataclass(frozen=True)
class Bound:
    group: Group
    unit: Unit
    chain: list[Unit]
    previous_unit: str | None  # the unit it was bound to before, if it changes


@dataclass(frozen=True)
class Ended:
    group: Group
    tell: list[Member]  # admins over the group's unit


class GroupService:
    def __init__(self, db: Database, clock: Clock) -> None:
        self.db = db
        self.clock = clock

    async def bind(self, actor: Member, chat_id: int, title: str, code: str) -> Bound:
        now = to_text(self.clock.now())
        async with self.db.transaction() as conn:
            unit = await unit_repo.get_by_code(conn, typed_code(code))
            if unit is None:
                raise Refused("unit.unknown", code=code)
            if not access.in_scope(actor, unit):
                raise Refused("deny.scope", unit=unit.name)
            if not unit.active:
                raise Refused("group.unit_inactive", unit=unit.name)
            before = await group_repo.by_chat(conn, chat_id)
            if (
                before
                and before.active
                and not access.in_scope(actor, await self._unit(conn, before.unit_id))
            ):
                raise Refused("deny.scope", unit=before.unit_name)
            await group_repo.bind(conn, chat_id, unit.id, title[:128], actor.id, now)
            group = await group_repo.by_chat(conn, chat_id)
            assert group is not None
            await audit.record(
                conn,
                self.clock,
                "group.bound",
                actor=actor,
                target=f"{group.title} ({chat_id})",
                unit_id=unit.id,
            )
            changed = (
                before.unit_name if before and before.active and before.unit_id != unit.id else None
            )
            return Bound(group, unit, await unit_repo.ancestors(conn, unit), changed)

    @staticmethod
    async def _unit(conn: Connection, unit_id: int) -> Unit:
        unit = await unit_repo.get_by_id(conn, unit_id)
        assert unit is not None
        return unit

    async def unbind(self, actor: Member, chat_id: int) -> Group:
        now = to_text(self.clock.now())
        async with self.db.transaction() as conn:
            group = await group_repo.by_chat(conn, chat_id)
            if group is None or not group.active:
                raise Refused("group.not_bound")
            if not access.in_scope(actor, await self._unit(conn, group.unit_id)):
                raise Refused("deny.scope", unit=group.unit_name)
            await group_repo.end(conn, chat_id, "unbound", now)
            await audit.record(
                conn,
                self.clock,
                "group.unbound",
                actor=actor,
                target=f"{group.title} ({chat_id})",
                unit_id=group.unit_id,
            )
            return group

    async def listed(self, actor: Member) -> list[Group]:
        async with self.db.read() as conn:
            return await group_repo.in_subtree(conn, actor.unit_path)

    async def active_groups(self) -> list[Group]:
        async with self.db.read() as conn:
            return await group_repo.active(conn)

    async def ended(self, chat_id: int, reason: str) -> Ended | None:
        """The bot left, was removed, or the chat is gone: stop sending there. Returns
        the group and the admins to tell, or None if it was not an active bound group."""
        now = to_text(self.clock.now())
        async with self.db.transaction() as conn:
            group = await group_repo.by_chat(conn, chat_id)
            if group is None or not await group_repo.end(conn, chat_id, reason, now):
                return None
            tell = await member_repo.active_over(conn, group.unit_path, (Role.ADMIN.value,))
            return Ended(group, tell)

    async def moved(self, old_chat_id: int, new_chat_id: int) -> bool:
        """Follow a group to its new (supergroup) chat id."""
        async with self.db.transaction() as conn:
            return await group_repo.move_chat(conn, old_chat_id, new_chat_id)
