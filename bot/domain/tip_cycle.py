"""The life cycle of a tip as data: which action moves a tip from which state to which,
who may take it, and what it records (the event of the timeline and the audit entry).

``TipService._transition`` (``bot.domain.tips``) is the one path that applies a row of
``TRANSITIONS``; a state and action with no row there is refused with the action's
``REFUSALS`` key. Telegram-free and storage-free: the states and event kinds are the
stored words (``storage.tips``), re-exported here.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from storage.tips import EventKind, RewardState, TipState

__all__ = [
    "REFUSALS",
    "TRANSITIONS",
    "EventKind",
    "Refusal",
    "RewardState",
    "TipAction",
    "TipState",
    "Transition",
    "Who",
    "rule",
]


class TipAction(StrEnum):
    """What someone (or the deadline job) does to a tip."""

    RECEIVE = "receive"  # 受理: a new tip
    ASSIGN = "assign"  # 交办 to a unit with a deadline (again: to another unit, a new deadline)
    ACKNOWLEDGE = "acknowledge"  # 接单, once per assignment
    CLOSE = "close"  # 办结 with a verdict, when closures are not checked
    SUBMIT = "submit"  # 办结 with a verdict, for the assigner to check (tips.verify)
    APPROVE = "approve"  # 通过: the checked closure stands
    RETURN = "return"  # 退回 with a reason: back to the assigned unit
    ESCALATE = "escalate"  # overdue: told one level further up
    DECLINE = "decline"  # 不予受理 with a reason: kept, listed, not counted as 受理
    ASK_EXTENSION = "ask_extension"  # 延期 asked by the assigned unit before the deadline
    GRANT_EXTENSION = "grant_extension"  # the assigner grants it: the new deadline
    REFUSE_EXTENSION = "refuse_extension"  # the assigner refuses it
    PARK = "park"  # 挂账: an admin parks it with a reason and a target day
    UNPARK = "unpark"  # its target day came: due again
    REMIND = "remind"  # 催办: the unit reminded before the deadline
    CALL_BACK = "call_back"  # 回访 after closure: satisfied, basically, or not
    REOPEN = "reopen"  # not satisfied through the handler's fault: back as rework (返工)
    FOLLOW = "follow"  # a duplicate closes with its original's outcome


class Who(StrEnum):
    """Who may take an action (on top of the command policy that lets them send it)."""

    RECEIVER = "receiver"  # a lead or an admin (``access.check_receive_tip``)
    SCOPE = "scope"  # someone whose scope covers where the tip was received or is assigned
    ASSIGNED_UNIT = "assigned_unit"  # someone in the assigned unit or above it
    VERIFIER = "verifier"  # the assigner, or an admin over the assigned unit
    ADMIN = "admin"  # an admin whose scope covers the tip
    LEAD = "lead"  # a lead or an admin whose scope covers the tip
    SYSTEM = "system"  # the deadline job: no person


@dataclass(frozen=True)
class Transition:
    """One allowed move: ``action`` takes a tip in ``source`` (None: no tip yet) to
    ``target``, by ``who``; it records an ``event`` and, unless None, the ``audit`` action."""

    source: TipState | None
    action: TipAction
    target: TipState
    who: Who
    event: EventKind
    audit: str | None


_S, _A = TipState, TipAction

TRANSITIONS: tuple[Transition, ...] = (
    Transition(None, _A.RECEIVE, _S.RECEIVED, Who.RECEIVER, EventKind.RECEIVED, "tip.received"),
    Transition(_S.RECEIVED, _A.ASSIGN, _S.ASSIGNED, Who.SCOPE, EventKind.ASSIGNED, "tip.assigned"),
    Transition(_S.ASSIGNED, _A.ASSIGN, _S.ASSIGNED, Who.SCOPE, EventKind.ASSIGNED, "tip.assigned"),
    Transition(
        _S.ASSIGNED, _A.ACKNOWLEDGE, _S.ASSIGNED, Who.ASSIGNED_UNIT, EventKind.ACKNOWLEDGED, None
    ),
    Transition(_S.ASSIGNED, _A.CLOSE, _S.CLOSED, Who.ASSIGNED_UNIT, EventKind.CLOSED, "tip.closed"),
    Transition(
        _S.ASSIGNED, _A.SUBMIT, _S.VERIFYING, Who.ASSIGNED_UNIT, EventKind.SUBMITTED, "tip.closed"
    ),
    Transition(_S.VERIFYING, _A.APPROVE, _S.CLOSED, Who.VERIFIER, EventKind.CLOSED, "tip.approved"),
    Transition(
        _S.VERIFYING, _A.RETURN, _S.ASSIGNED, Who.VERIFIER, EventKind.RETURNED, "tip.returned"
    ),
    Transition(_S.ASSIGNED, _A.ESCALATE, _S.ASSIGNED, Who.SYSTEM, EventKind.ESCALATED, None),
    Transition(_S.RECEIVED, _A.DECLINE, _S.CLOSED, Who.SCOPE, EventKind.DECLINED, "tip.declined"),
    Transition(
        _S.ASSIGNED,
        _A.ASK_EXTENSION,
        _S.ASSIGNED,
        Who.ASSIGNED_UNIT,
        EventKind.EXTENSION_ASKED,
        "tip.extension_asked",
    ),
    Transition(
        _S.ASSIGNED,
        _A.GRANT_EXTENSION,
        _S.ASSIGNED,
        Who.VERIFIER,
        EventKind.EXTENDED,
        "tip.extended",
    ),
    Transition(
        _S.ASSIGNED,
        _A.REFUSE_EXTENSION,
        _S.ASSIGNED,
        Who.VERIFIER,
        EventKind.EXTENSION_REFUSED,
        "tip.extension_refused",
    ),
    Transition(_S.ASSIGNED, _A.PARK, _S.ASSIGNED, Who.ADMIN, EventKind.PARKED, "tip.parked"),
    Transition(_S.ASSIGNED, _A.UNPARK, _S.ASSIGNED, Who.SYSTEM, EventKind.UNPARKED, None),
    Transition(_S.ASSIGNED, _A.REMIND, _S.ASSIGNED, Who.SYSTEM, EventKind.REMINDED, None),
    Transition(
        _S.CLOSED, _A.CALL_BACK, _S.CLOSED, Who.LEAD, EventKind.CALLED_BACK, "tip.called_back"
    ),
    Transition(_S.CLOSED, _A.REOPEN, _S.ASSIGNED, Who.LEAD, EventKind.REOPENED, "tip.reopened"),
    Transition(_S.RECEIVED, _A.FOLLOW, _S.CLOSED, Who.SYSTEM, EventKind.FOLLOWED, None),
)

_BY_MOVE = {(t.source, t.action): t for t in TRANSITIONS}
assert len(_BY_MOVE) == len(TRANSITIONS), "one row per state and action"


def rule(state: TipState | None, action: TipAction) -> Transition | None:
    """The row that lets ``action`` leave ``state`` (None: no tip yet), or None."""
    return _BY_MOVE.get((state, action))


@dataclass(frozen=True)
class Refusal:
    """The catalogue keys of an action refused: the tip is in no state the action leaves
    (``wrong_state``), or the person may not take it (``not_allowed``). With
    ``name_unit``, someone who may read the tip is told whose unit it is (``deny.scope``)
    instead of ``not_allowed``."""

    wrong_state: str
    not_allowed: str
    name_unit: bool = False


# A button pressed on a tip that moved on is stale; a number typed names the tip.
REFUSALS: dict[TipAction, Refusal] = {
    _A.RECEIVE: Refusal("tip.stale", "tip.receive_leads_only"),
    _A.ASSIGN: Refusal("tip.wrong_state", "tip.unknown"),
    _A.ACKNOWLEDGE: Refusal("tip.stale", "tip.stale", name_unit=True),
    _A.CLOSE: Refusal("tip.stale", "tip.stale"),
    _A.SUBMIT: Refusal("tip.stale", "tip.stale"),
    _A.APPROVE: Refusal("tip.stale", "tip.not_verifier"),
    _A.RETURN: Refusal("tip.stale", "tip.not_verifier"),
    _A.ESCALATE: Refusal("tip.stale", "tip.stale"),
    _A.DECLINE: Refusal("tip.wrong_state", "tip.unknown"),
    _A.ASK_EXTENSION: Refusal("tip.wrong_state", "tip.unknown", name_unit=True),
    _A.GRANT_EXTENSION: Refusal("tip.stale", "tip.not_verifier"),
    _A.REFUSE_EXTENSION: Refusal("tip.stale", "tip.not_verifier"),
    _A.PARK: Refusal("tip.wrong_state", "tip.unknown"),
    _A.UNPARK: Refusal("tip.stale", "tip.stale"),
    _A.REMIND: Refusal("tip.stale", "tip.stale"),
    _A.CALL_BACK: Refusal("tip.callback_open", "tip.unknown"),
    _A.REOPEN: Refusal("tip.callback_open", "tip.unknown"),
    _A.FOLLOW: Refusal("tip.stale", "tip.stale"),
}
assert set(REFUSALS) == set(TipAction), "every action has its refusals"
