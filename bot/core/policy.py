"""Every slash command and every inline-button kind, once: who may use it and where.

``COMMANDS`` is the single policy behind three things that must agree — the guard that
checks each call (``handlers.common.guarded_command``), ``/help``, and the command menus
given to Telegram. ``BUTTONS`` holds the same for each button kind of
``handlers.callbacks``, keyed by its ``KIND``, checked on every press by
``handlers.common.guarded_button``. A command or a button kind with no entry here cannot
be registered (deny by default). What depends on the data a call names — a unit in the
caller's scope, a draft that is the caller's own — is checked by the service.
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
        """The catalogue key of the command's one-line description (menus, /help)."""
        return f"command.{self.name}"


@dataclass(frozen=True)
class ButtonSpec:
    """The policy of one button kind: who may press it, in which kind of chat (that of
    the message it is under), and the command it belongs to — the one a refusal names."""

    kind: str
    command: str
    audience: Audience
    where: frozenset[Where]


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
    CommandSpec("item", Audience.MEMBER, _PRIVATE),  # writing one directly: leads and admins
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
    CommandSpec("todo", Audience.MEMBER, _PRIVATE),
    CommandSpec("near", Audience.MEMBER, _PRIVATE),
    CommandSpec("plan", Audience.LEAD, _PRIVATE),
    CommandSpec("plans", Audience.LEAD, _PRIVATE),
    # Tips handled as cases (issue 17): 延期, 挂账, 回访, 不予受理, duplicates.
    CommandSpec("extend", Audience.MEMBER, _PRIVATE),  # the assigned unit asks
    CommandSpec("park", Audience.ADMIN, _PRIVATE),
    CommandSpec("callback", Audience.LEAD, _PRIVATE),
    CommandSpec("decline", Audience.LEAD, _PRIVATE),
    CommandSpec("dup", Audience.LEAD, _PRIVATE),
)

BUTTONS: tuple[ButtonSpec, ...] = (
    ButtonSpec("mp", "members", Audience.LEAD, _PRIVATE),  # « » under /members
    ButtonSpec("iv", "invites", Audience.LEAD, _PRIVATE),  # 撤销 under /invites
    ButtonSpec("ip", "invites", Audience.LEAD, _PRIVATE),  # « » under /invites
    ButtonSpec("mv", "start", Audience.MEMBER, _PRIVATE),  # an existing member's move
    ButtonSpec("r", "report", Audience.MEMBER, _PRIVATE),  # the report flow
    ButtonSpec("rp", "site", Audience.MEMBER, _PRIVATE),  # 查看照片 under /site
    ButtonSpec("mr", "myreports", Audience.MEMBER, _PRIVATE),  # « » under /myreports
    ButtonSpec("rr", "reports", Audience.LEAD, _PRIVATE),  # « » under /reports
    ButtonSpec("td", "tip", Audience.MEMBER, _PRIVATE),  # receiving (leads) or closing a tip
    ButtonSpec("ta", "close", Audience.MEMBER, _PRIVATE),  # 接单, 通过, 退回, 延期 on a notice
    ButtonSpec("bf", "brief", Audience.ADMIN, _PRIVATE),  # 发布 / 取消 under a preview
    ButtonSpec("tq", "todo", Audience.MEMBER, _PRIVATE),  # a site under /todo or /near
    ButtonSpec("pz", "plans", Audience.LEAD, _PRIVATE),  # 关闭 under /plans
    ButtonSpec("pd", "plan", Audience.LEAD, _PRIVATE),  # the steps of making a plan
    ButtonSpec("bi", "brief", Audience.ADMIN, _PRIVATE),  # keep/drop, up/down an item
    ButtonSpec("bp", "brief", Audience.ADMIN, _PRIVATE),  # 发布 / 取消 of one preview
)

_BY_NAME = {spec.name: spec for spec in COMMANDS}
_BY_KIND = {spec.kind: spec for spec in BUTTONS}


def spec(name: str) -> CommandSpec:
    """The policy of one command; ``KeyError`` for a command nobody declared."""
    return _BY_NAME[name]


def button_spec(kind: str) -> ButtonSpec:
    """The policy of one button kind; ``KeyError`` for a kind nobody declared."""
    return _BY_KIND[kind]


def menu(audience: Audience, where: Where) -> list[CommandSpec]:
    """The commands a caller of ``audience`` may use in a chat of kind ``where``."""
    return [c for c in COMMANDS if where in c.where and audience >= c.audience]
