"""The access rules, as a table: role × where the target is."""

from __future__ import annotations

import pytest

from bot.core.access import (
    Audience,
    Role,
    audience_of,
    check_invite,
    check_invite_maker,
    check_manage_member,
    check_move,
    check_receive_tip,
    check_view_unit,
)
from storage.members import Member
from storage.units import Unit

CITY = Unit(1, "NY", "南阳市", "city", None, "/1/", 0, True)
WL = Unit(2, "WL", "卧龙区", "district", 1, "/1/2/", 0, True)
WL_WH = Unit(3, "WL-WH", "武侯街道", "street", 2, "/1/2/3/", 0, True)
WL_QY = Unit(4, "WL-QY", "七一街道", "street", 2, "/1/2/4/", 1, True)
WC = Unit(20, "WC", "宛城区", "district", 1, "/1/20/", 1, True)
CLOSED = Unit(21, "WL-OLD", "撤并街道", "street", 2, "/1/2/21/", 2, False)


def member(id_: int, role: str, unit: Unit, active: bool = True) -> Member:
    return Member(
        id_,
        1000 + id_,
        f"成员{id_}",
        unit.id,
        role,
        active,
        None,
        "",
        unit.code,
        unit.name,
        unit.path,
    )


CITY_ADMIN = member(1, "admin", CITY)
WL_ADMIN = member(2, "admin", WL)
WH_LEAD = member(3, "lead", WL_WH)
WH_WORKER = member(4, "worker", WL_WH)
QY_WORKER = member(5, "worker", WL_QY)
GONE_ADMIN = member(6, "admin", CITY, active=False)


def test_audience():
    assert audience_of(None) is Audience.ANYONE
    assert audience_of(GONE_ADMIN) is Audience.ANYONE
    assert audience_of(WH_WORKER) is Audience.MEMBER
    assert audience_of(WH_LEAD) is Audience.LEAD
    assert audience_of(CITY_ADMIN) is Audience.ADMIN


@pytest.mark.parametrize(
    ("actor", "unit", "role", "expected"),
    [
        (CITY_ADMIN, WC, Role.ADMIN, None),
        (WL_ADMIN, WL_QY, Role.LEAD, None),
        (WL_ADMIN, WC, Role.WORKER, "deny.scope"),
        (WL_ADMIN, CITY, Role.WORKER, "deny.scope"),
        (WL_ADMIN, CLOSED, Role.WORKER, "deny.unit_inactive"),
        (WH_LEAD, WL_WH, Role.WORKER, None),
        (WH_LEAD, WL_WH, Role.LEAD, "deny.lead_invites_workers"),
        (WH_LEAD, WL_QY, Role.WORKER, "deny.scope"),
        (WH_WORKER, WL_WH, Role.WORKER, "deny.role"),
        (GONE_ADMIN, WL, Role.WORKER, "deny.role"),
    ],
)
def test_check_invite(actor, unit, role, expected):
    assert check_invite(actor, unit, role) == expected


@pytest.mark.parametrize(
    ("actor", "target", "expected"),
    [
        (CITY_ADMIN, QY_WORKER, None),
        (WL_ADMIN, QY_WORKER, None),
        (WL_ADMIN, CITY_ADMIN, "deny.scope"),
        (WL_ADMIN, WL_ADMIN, "deny.self"),
        (WH_LEAD, WH_WORKER, "deny.role"),
        (WH_WORKER, QY_WORKER, "deny.role"),
    ],
)
def test_check_manage_member(actor, target, expected):
    assert check_manage_member(actor, target) == expected


@pytest.mark.parametrize(
    ("actor", "unit", "expected"),
    [
        (WH_LEAD, WL_WH, None),
        (WH_LEAD, WL, "deny.scope"),
        (WL_ADMIN, WL_QY, None),
        (WH_WORKER, WL_WH, "deny.role"),
    ],
)
def test_check_view_unit(actor, unit, expected):
    assert check_view_unit(actor, unit) == expected


def test_prefix_of_an_id_is_not_scope():
    # '/1/2/' must not cover '/1/20/': paths end with '/'.
    assert check_view_unit(WL_ADMIN, WC) == "deny.scope"


@pytest.mark.parametrize(
    ("inviter", "current", "expected"),
    [
        (None, WH_WORKER, None),
        (WL_ADMIN, WH_WORKER, None),
        (WH_LEAD, QY_WORKER, "join.move_refused"),
        (WH_LEAD, member(9, "worker", WL_WH, active=False), "join.disabled"),
        (WH_LEAD, member(10, "admin", WL_WH), "join.move_refused"),  # a higher role
        (WH_LEAD, member(11, "lead", WL_WH), "join.move_refused"),  # an equal one
        (WL_ADMIN, member(12, "admin", WL_WH), "join.move_refused"),
        (WL_ADMIN, member(13, "lead", WL_WH), None),
        (None, member(14, "admin", WL), None),
        (GONE_ADMIN, WH_WORKER, "join.move_refused"),
    ],
)
def test_check_move(inviter, current, expected):
    assert check_move(inviter, current) == expected


@pytest.mark.parametrize(
    ("maker", "unit", "role", "made_in", "expected"),
    [
        (None, WL_WH, Role.ADMIN, None, None),  # an operator's link
        (WH_LEAD, WL_WH, Role.WORKER, WL_WH.id, None),
        (WH_LEAD, WL_WH, Role.WORKER, WL_QY.id, "start.revoked"),  # moved since
        (member(3, "worker", WL_WH), WL_WH, Role.WORKER, WL_WH.id, "start.revoked"),  # demoted
        (member(3, "lead", WL_WH, active=False), WL_WH, Role.WORKER, WL_WH.id, "start.revoked"),
        (member(2, "lead", WL), WL_WH, Role.LEAD, WL.id, "start.revoked"),  # admin → lead
        (member(2, "lead", WL), WL_WH, Role.WORKER, WL.id, None),  # still may make it
    ],
)
def test_check_invite_maker(maker, unit, role, made_in, expected):
    assert check_invite_maker(maker, unit, role, made_in) == expected


def test_check_receive_tip():
    assert check_receive_tip(WH_WORKER) == "tip.receive_leads_only"
    assert check_receive_tip(WH_LEAD) is None and check_receive_tip(WL_ADMIN) is None
