"""Every slash command, once: who may use it and where.

This table is the single policy behind three things that must agree — the guard that
checks each call, ``/help``, and the command menus given to Telegram. A command with no
entry here cannot be registered (deny by default).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from bot.core.access import Audience


class Where(StrEnum):
    PRIVATE = "private"
    GROUP = "group"


@dataclass(frozen=True)
class CommandSpec:
    name: str
    audience: Audience
    where: frozenset[Where]

    @property
    def description_key(self) -> str:
        return f"command.{self.name}"


_PRIVATE = frozenset({Where.PRIVATE})
_GROUP = frozenset({Where.GROUP})
_ANYWHERE = frozenset({Where.PRIVATE, Where.GROUP})

COMMANDS: tuple[CommandSpec, ...] = (
    CommandSpec("start", Audience.ANYONE, _PRIVATE),
    CommandSpec("help", Audience.ANYONE, _ANYWHERE),
    CommandSpec("whoami", Audience.ANYONE, _PRIVATE),
    CommandSpec("lang", Audience.ANYONE, _PRIVATE),
    CommandSpec("report", Audience.MEMBER, _PRIVATE),
    CommandSpec("update", Audience.MEMBER, _PRIVATE),
    CommandSpec("cancel", Audience.MEMBER, _PRIVATE),
    CommandSpec("myreports", Audience.MEMBER, _PRIVATE),
    CommandSpec("site", Audience.MEMBER, _PRIVATE),
    CommandSpec("close", Audience.MEMBER, _PRIVATE),
    CommandSpec("reports", Audience.LEAD, _PRIVATE),
    CommandSpec("rank", Audience.LEAD, _PRIVATE),
    CommandSpec("tip", Audience.MEMBER, _PRIVATE),  # receiving a new one: leads and admins
    CommandSpec("tips", Audience.LEAD, _PRIVATE),
    CommandSpec("assign", Audience.LEAD, _PRIVATE),
    CommandSpec("invite", Audience.LEAD, _PRIVATE),
    CommandSpec("invites", Audience.LEAD, _PRIVATE),
    CommandSpec("members", Audience.LEAD, _PRIVATE),
    CommandSpec("export", Audience.LEAD, _PRIVATE),
    CommandSpec("groups", Audience.ADMIN, _PRIVATE),
    CommandSpec("brief", Audience.ADMIN, _PRIVATE),
    CommandSpec("reward", Audience.ADMIN, _PRIVATE),
    CommandSpec("rewards", Audience.ADMIN, _PRIVATE),
    CommandSpec("audit", Audience.ADMIN, _PRIVATE),
    CommandSpec("bindgroup", Audience.ADMIN, _GROUP),
    CommandSpec("unbindgroup", Audience.ADMIN, _GROUP),
    CommandSpec("digest", Audience.ADMIN, _GROUP),
    CommandSpec("disable", Audience.ADMIN, _PRIVATE),
    CommandSpec("enable", Audience.ADMIN, _PRIVATE),
)

_BY_NAME = {spec.name: spec for spec in COMMANDS}


def spec(name: str) -> CommandSpec:
    """The policy of one command; ``KeyError`` for a command nobody declared."""
    return _BY_NAME[name]


def menu(audience: Audience, where: Where) -> list[CommandSpec]:
    """The commands a caller of ``audience`` may use in a chat of kind ``where``."""
    return [c for c in COMMANDS if where in c.where and audience >= c.audience]
