"""The audit log: who did what, to what, when, and from which chat.

An action is recorded with ``record`` inside the transaction that performs it, so the
log holds exactly the actions that happened. Where a call came from is not a parameter
of every service: the update processor (``bot.runtime.ordering``) and the shell (``bot.ops.cli``)
set ``ORIGIN`` for the task that handles the update or runs the command, and ``record``
reads it. Jobs run with the default origin, ``job``.
"""

from __future__ import annotations

import getpass
import json
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from bot.core.clock import Clock
from storage import audit as audit_repo
from storage.audit import Entry, NewEntry
from storage.db import Connection, Database
from storage.members import Member

ACTIONS = frozenset(
    {
        "invite.created",
        "invite.used",
        "invite.revoked",
        "member.added",
        "member.moved",
        "member.disabled",
        "member.enabled",
        "group.bound",
        "group.unbound",
        "tip.received",
        "tip.assigned",
        "tip.closed",
        "tip.approved",
        "tip.returned",
        "tips.imported",
        "reward.paid",
        "reward.declined",
        "export",
        "bulletin.published",
        "org.imported",
        "sites.imported",
        "plan.created",
        "plan.closed",
        "tip.declined",
        "tip.extension_asked",
        "tip.extended",
        "tip.extension_refused",
        "tip.parked",
        "tip.called_back",
        "tip.reopened",
        "tip.linked",
    }
)


@dataclass(frozen=True)
class Origin:
    source: str  # 'chat' | 'cli' | 'job'
    chat_id: int | None = None
    update_id: int | None = None


# Origin is frozen, so the shared default cannot be changed through it.
ORIGIN: ContextVar[Origin] = ContextVar("gridbot_origin", default=Origin("job"))  # noqa: B039


def shell_origin() -> Origin:
    """Where the shell's commands come from (``cli``, no chat): an entry recorded there without an
    actor is the operator's, named after the OS user."""
    return Origin("cli")


async def record(
    conn: Connection,
    clock: Clock,
    action: str,
    *,
    actor: Member | None,
    target: str,
    unit_id: int | None,
    telegram_id: int | None = None,
    **detail: Any,
) -> None:
    """Append one entry for ``action`` (one of ``ACTIONS``) in the caller's transaction.

    ``actor`` None means the operator at the shell (or the person joining, given by
    ``telegram_id``); ``detail`` is kept as JSON.
    """
    if action not in ACTIONS:
        raise ValueError(f"unknown audit action {action!r}")
    origin = ORIGIN.get()
    if actor is not None:
        name = actor.name
        telegram_id = actor.telegram_id
    elif origin.source == "cli":
        name = f"shell:{_os_user()}"
    else:
        name = "—"
    await audit_repo.insert(
        conn,
        NewEntry(
            at=clock.now(),
            source=origin.source,
            actor_id=actor.id if actor else None,
            actor_name=name,
            telegram_id=telegram_id,
            chat_id=origin.chat_id,
            action=action,
            target=target,
            unit_id=unit_id,
            detail=json.dumps(detail, ensure_ascii=False, sort_keys=True) if detail else None,
        ),
    )


def _os_user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no passwd entry (containers)
        return "?"


class AuditService:
    def __init__(self, db: Database, clock: Clock) -> None:
        self.db = db
        self.clock = clock

    async def latest(self, actor: Member, limit: int) -> list[Entry]:
        """The newest entries about units in the actor's scope."""
        async with self.db.read() as conn:
            return await audit_repo.latest_in_subtree(conn, actor.unit_path, limit)

    async def since(self, moment: datetime) -> list[Entry]:
        """Every entry at or after ``moment``, in the order written, whatever its unit: no scope
        (the shell's ``audit`` command)."""
        async with self.db.read() as conn:
            return await audit_repo.since(conn, moment)

    async def record(
        self,
        action: str,
        *,
        actor: Member | None,
        target: str,
        unit_id: int | None = None,
        **detail: Any,
    ) -> None:
        """An action that has no transaction of its own (an export). The unit is the
        actor's unless given."""
        async with self.db.transaction() as conn:
            await record(
                conn,
                self.clock,
                action,
                actor=actor,
                target=target,
                unit_id=unit_id if unit_id is not None else (actor.unit_id if actor else None),
                **detail,
            )
