"""Who may do what, where. Pure functions over plain data: no database, no Telegram.

Scope is a subtree: a member sees and acts on their own unit and everything below it.
Every rule returns ``None`` when allowed, or the catalogue key of the reason it is not.
"""

from __future__ import annotations

from enum import IntEnum, StrEnum

from storage.members import Member
from storage.units import Unit


class Role(StrEnum):
    WORKER = "worker"
    LEAD = "lead"
    ADMIN = "admin"


class Audience(IntEnum):
    """The least a caller must be to use a command; ordered, so ``>=`` compares them."""

    ANYONE = 0
    MEMBER = 1
    LEAD = 2
    ADMIN = 3


_ROLE_AUDIENCE = {
    Role.WORKER: Audience.MEMBER,
    Role.LEAD: Audience.LEAD,
    Role.ADMIN: Audience.ADMIN,
}


def audience_of(member: Member | None) -> Audience:
    """What a caller counts as: a disabled member counts as nobody."""
    if member is None or not member.active:
        return Audience.ANYONE
    return _ROLE_AUDIENCE[Role(member.role)]


def may_use(member: Member | None, needed: Audience) -> bool:
    return audience_of(member) >= needed


def in_scope(actor: Member, unit: Unit) -> bool:
    return unit.path.startswith(actor.unit_path)


def check_manage_invite(actor: Member, unit: Unit, role: Role) -> str | None:
    """May ``actor`` see and revoke links into ``unit`` for ``role``? Those they could make."""
    actor_audience = audience_of(actor)
    if actor_audience < Audience.LEAD:
        return "deny.role"
    if not in_scope(actor, unit):
        return "deny.scope"
    if actor_audience == Audience.LEAD and role is not Role.WORKER:
        return "deny.lead_invites_workers"
    return None


def check_invite(actor: Member, unit: Unit, role: Role) -> str | None:
    """May ``actor`` create an invite into ``unit`` for ``role``?"""
    reason = check_manage_invite(actor, unit, role)
    if reason is None and not unit.active:
        return "deny.unit_inactive"
    return reason


def check_invite_maker(
    maker: Member | None, unit: Unit, role: Role, maker_unit_id: int | None
) -> str | None:
    """Does a link still stand behind its maker? Not once they are disabled, moved to
    another unit, or no longer in a role that may make it. An operator's link (no maker)
    always does."""
    if maker is None:
        return None
    if maker.unit_id != maker_unit_id or check_manage_invite(maker, unit, role) is not None:
        return "start.revoked"
    return None


def check_manage_member(actor: Member, target: Member) -> str | None:
    """May ``actor`` disable or enable ``target``? Admins, within scope, never themselves."""
    if audience_of(actor) < Audience.ADMIN:
        return "deny.role"
    if actor.id == target.id:
        return "deny.self"
    if not target.unit_path.startswith(actor.unit_path):
        return "deny.scope"
    return None


def check_view_unit(actor: Member, unit: Unit) -> str | None:
    """May ``actor`` see the members of ``unit``? Leads and admins, within scope."""
    if audience_of(actor) < Audience.LEAD:
        return "deny.role"
    if not in_scope(actor, unit):
        return "deny.scope"
    return None


def check_move(inviter: Member | None, current: Member) -> str | None:
    """May an invite created by ``inviter`` move the existing member ``current``?

    Only when the inviter could manage that member where they are now: within their
    scope, and of a lower role — a lead of one street cannot pull a worker out of another
    street, nor turn an admin of their own street into a worker, by sending them a link.
    """
    if not current.active:
        return "join.disabled"
    if inviter is None:
        return None  # created by an operator from the shell, who has every scope
    if (
        audience_of(inviter) < Audience.LEAD
        or not current.unit_path.startswith(inviter.unit_path)
        or audience_of(current) >= audience_of(inviter)
    ):
        return "join.move_refused"
    return None


def check_receive_tip(actor: Member) -> str | None:
    """May ``actor`` receive a new tip (受理)? Leads and admins; anyone may read one."""
    if audience_of(actor) < Audience.LEAD:
        return "tip.receive_leads_only"
    return None
