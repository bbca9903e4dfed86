"""The unit a lead or admin asks to look at: named by its code, or their own unit."""

from __future__ import annotations

from bot.core import access
from bot.core.codes import typed_code
from bot.core.errors import Refused
from storage import units as unit_repo
from storage.db import Connection
from storage.members import Member
from storage.units import Unit


async def unit_in_view(conn: Connection, actor: Member, code: str | None) -> Unit:
    """The unit ``code`` names (as typed: ``typed_code``), or the actor's own unit when
    ``code`` is None or empty, once ``actor`` may look at it. Refused: ``unit.unknown``,
    ``deny.role`` (not a lead or admin), ``deny.scope`` (outside their unit)."""
    if code:
        unit = await unit_repo.get_by_code(conn, typed_code(code))
        if unit is None:
            raise Refused("unit.unknown", code=code)
    else:
        unit = await unit_repo.get_by_id(conn, actor.unit_id)
        if unit is None:
            raise Refused("unit.unknown", code="")
    reason = access.check_view_unit(actor, unit)
    if reason:
        raise Refused(reason, unit=unit.name)
    return unit
