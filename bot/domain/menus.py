"""Which command menu each chat should have, and which ones changed.

Telegram shows a menu per scope: every private chat gets the public menu; a member's
private chat gets the larger one of their role. This module decides; ``handlers.menus``
does the ``setMyCommands`` calls (one chat at a time, under ``applying``) and then
records them here, so a restart only repeats what changed.
"""

from __future__ import annotations

import asyncio
import hashlib
from dataclasses import dataclass

from bot.core.access import Audience, audience_of
from bot.core.clock import Clock
from bot.core.policy import CommandSpec, Where, menu
from bot.i18n import Catalogue
from storage import chats as chat_repo
from storage import members as member_repo
from storage.db import Database

PUBLIC = "public"  # the digest recorded for a chat that uses the public menu


@dataclass(frozen=True)
class MenuChange:
    chat_id: int
    audience: Audience
    digest: str  # PUBLIC means: drop the chat's own menu, fall back to the public one


class MenuService:
    def __init__(self, db: Database, clock: Clock, catalogue: Catalogue) -> None:
        self.db = db
        self.clock = clock
        self.catalogue = catalogue
        # Held while one chat's menu is decided, set and recorded: the start-up sync and
        # a join or move in the same chat never interleave.
        self.applying = asyncio.Lock()

    def commands(self, audience: Audience, where: Where) -> list[CommandSpec]:
        """The commands a caller of ``audience`` may use in a chat of kind ``where``, in menu
        order."""
        return menu(audience, where)

    def digest(self, audience: Audience) -> str:
        """A fingerprint of a private menu in every language (names and descriptions)."""
        if menu(audience, Where.PRIVATE) == menu(Audience.ANYONE, Where.PRIVATE):
            return PUBLIC
        parts = []
        for spec in menu(audience, Where.PRIVATE):
            for language in sorted(self.catalogue.messages):
                parts.append(f"{spec.name}={self.catalogue.text(language, spec.description_key)}")
        return hashlib.sha256("|".join(parts).encode()).hexdigest()[:16]

    async def pending_changes(self) -> list[MenuChange]:
        """Members whose private chat does not have the menu their role calls for."""
        changes = []
        async with self.db.read() as conn:
            members = await member_repo.with_roles(conn, ("worker", "lead", "admin"))
            for member in members:
                audience = audience_of(member)
                wanted = self.digest(audience)
                have = await chat_repo.command_digest(conn, member.telegram_id)
                if have != wanted and not (have is None and wanted == PUBLIC):
                    changes.append(MenuChange(member.telegram_id, audience, wanted))
        return changes

    async def change_for(self, telegram_id: int) -> MenuChange | None:
        """The menu this person's private chat needs for the audience they have now, or None when
        it has it (a non-member: the public one). Call under ``applying``; nothing is recorded."""
        async with self.db.read() as conn:
            member = await member_repo.by_telegram_id(conn, telegram_id)
            have = await chat_repo.command_digest(conn, telegram_id)
        audience = audience_of(member)
        wanted = self.digest(audience)
        if have == wanted or (have is None and wanted == PUBLIC):
            return None
        return MenuChange(telegram_id, audience, wanted)

    async def record(self, change: MenuChange) -> None:
        """Note that ``change`` was applied to its chat (after ``setMyCommands`` succeeded), so a
        restart does not repeat it."""
        async with self.db.transaction() as conn:
            await chat_repo.set_command_digest(
                conn, change.chat_id, change.digest, self.clock.now()
            )
