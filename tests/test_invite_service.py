"""Invites and joining, at the service level (no Telegram)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from bot.core.access import Role
from bot.core.errors import Refused
from bot.domain.invites import hash_token
from bot.services import Services
from tests.conftest import add_member


async def _refused(awaitable) -> str:
    with pytest.raises(Refused) as caught:
        await awaitable
    return caught.value.key


async def test_token_is_long_random_and_stored_only_as_a_hash(city: Services):
    admin = await add_member(city, 1, "NY", Role.ADMIN, "市管理员")
    created = await city.invites.create(admin, "WL-WH-CZ", "worker", 3, 2)
    assert len(created.token) >= 32  # 24 random bytes → 192 bits
    async with city.db.read() as conn, conn.execute("SELECT token_hash FROM invite") as cur:
        stored = [r[0] for r in await cur.fetchall()]
    assert stored == [hash_token(created.token)]
    assert created.token not in stored[0]


async def test_join_counts_uses_and_expires(city: Services, clock):
    lead = await add_member(city, 1, "WL-WH", Role.LEAD, "街道负责人")
    created = await city.invites.create(lead, "WL-WH-CZ", "网格员", 1, 1)
    offer = await city.invites.open(2, created.token)
    assert offer.role is Role.WORKER and offer.unit.code == "WL-WH-CZ"
    joined = await city.invites.complete_join(2, " 王 五 ", "wangwu")
    assert (joined.member.name, joined.member.role, joined.member.unit_code) == (
        "王 五",
        "worker",
        "WL-WH-CZ",
    )
    assert await _refused(city.invites.open(3, created.token)) == "start.used_up"

    second = await city.invites.create(lead, "WL-WH-CZ", "worker", 5, 1)
    clock.advance(timedelta(days=1, seconds=1))
    assert await _refused(city.invites.open(3, second.token)) == "start.expired"
    assert await _refused(city.invites.open(3, "x" * 32)) == "start.bad_token"
    assert await _refused(city.invites.open(3, "bad token")) == "start.bad_token"


async def test_bad_name_keeps_the_draft_and_expired_draft_is_dropped(city: Services, clock):
    admin = await add_member(city, 1, "NY", Role.ADMIN, "市管理员")
    created = await city.invites.create(admin, "WL", "lead", 2, 7)
    await city.invites.open(5, created.token)
    assert await _refused(city.invites.complete_join(5, "/whoami", None)) == "join.name_command"
    assert await city.invites.has_pending_join(5)
    clock.advance(timedelta(minutes=61))
    assert await _refused(city.invites.complete_join(5, "赵六", None)) == "join.draft_expired"
    assert not await city.invites.has_pending_join(5)
    assert await city.members.by_telegram_id(5) is None


async def test_a_used_up_link_between_open_and_name_is_refused(city: Services):
    admin = await add_member(city, 1, "NY", Role.ADMIN, "市管理员")
    created = await city.invites.create(admin, "WL", "worker", 1, 7)
    await city.invites.open(5, created.token)
    await city.invites.open(6, created.token)
    await city.invites.complete_join(5, "赵六", None)
    assert await _refused(city.invites.complete_join(6, "钱七", None)) == "start.used_up"
    assert await city.members.by_telegram_id(6) is None
    assert not await city.invites.has_pending_join(6)


async def test_scope_and_role_limits(city: Services):
    lead = await add_member(city, 1, "WL-WH", Role.LEAD, "街道负责人")
    assert await _refused(city.invites.create(lead, "WL-QY", "worker")) == "deny.scope"
    assert (
        await _refused(city.invites.create(lead, "WL-WH", "admin")) == "deny.lead_invites_workers"
    )
    assert await _refused(city.invites.create(lead, "NOPE", "worker")) == "unit.unknown"
    assert await _refused(city.invites.create(lead, "WL-WH", "boss")) == "invite.bad_role"
    assert await _refused(city.invites.create(lead, "WL-WH", "worker", 0)) == "invite.bad_uses"
    assert await _refused(city.invites.create(lead, "WL-WH", "worker", 1, 91)) == "invite.bad_days"
    async with city.db.read() as conn, conn.execute("SELECT count(*) FROM invite") as cur:
        assert (await cur.fetchone())[0] == 0


async def test_second_token_moves_only_when_its_inviter_covers_the_member(city: Services):
    wl_admin = await add_member(city, 1, "WL", Role.ADMIN, "卧龙区管理员")
    wh_lead = await add_member(city, 2, "WL-WH", Role.LEAD, "武侯负责人")
    worker = await add_member(city, 3, "WL-QY-GN", Role.WORKER, "孙八")

    foreign = await city.invites.create(wh_lead, "WL-WH-CZ", "worker")
    assert (
        await _refused(city.invites.open(worker.telegram_id, foreign.token)) == "join.move_refused"
    )
    assert (await city.members.by_telegram_id(3)).unit_code == "WL-QY-GN"  # type: ignore[union-attr]

    own = await city.invites.create(wl_admin, "WL-WH-CZ", "lead")
    offer = await city.invites.open(worker.telegram_id, own.token)
    assert offer.moved_from is not None and offer.moved_from.unit_code == "WL-QY-GN"
    assert offer.invite_id is not None
    unmoved = await city.members.by_telegram_id(3)
    assert unmoved is not None and unmoved.unit_code == "WL-QY-GN"  # until they confirm
    await city.invites.confirm_move(worker.telegram_id, offer.invite_id)
    moved = await city.members.by_telegram_id(3)
    assert moved is not None and (moved.unit_code, moved.role, moved.name) == (
        "WL-WH-CZ",
        "lead",
        "孙八",
    )
    again = await city.invites.create(wl_admin, "WL-WH-CZ", "lead")
    assert await _refused(city.invites.open(3, again.token)) == "join.already"


async def test_disabled_members_cannot_rejoin_by_link(city: Services):
    admin = await add_member(city, 1, "NY", Role.ADMIN, "市管理员")
    await add_member(city, 3, "WL-QY-GN", Role.WORKER, "孙八")
    await city.members.set_active(admin, 3, False)
    created = await city.invites.create(admin, "WL-QY-GN", "worker")
    assert await _refused(city.invites.open(3, created.token)) == "join.disabled"


async def test_members_page_and_set_active(city: Services):
    admin = await add_member(city, 1, "WL", Role.ADMIN, "区管理员")
    for i in range(45):
        await add_member(
            city,
            100 + i,
            "WL-WH-CZ-01",
            Role.WORKER,
            "网格员" + "甲乙丙丁戊己庚辛壬癸"[i % 10] + "子丑寅卯辰"[i // 10],
        )
    await add_member(city, 999, "WC", Role.WORKER, "外区人员")
    page = await city.members.members_page(admin, None, 0)
    assert (page.total, page.pages, len(page.members)) == (46, 3, 20)
    last = await city.members.members_page(admin, "WL-WH-CZ-01", 2)
    assert len(last.members) == 5
    assert await _refused(city.members.members_page(admin, "WL", 3)) == "button.stale"
    assert await _refused(city.members.members_page(admin, "WC", 0)) == "deny.scope"
    assert await _refused(city.members.set_active(admin, 999, False)) == "deny.scope"
    assert await _refused(city.members.set_active(admin, 1, False)) == "deny.self"
    assert await _refused(city.members.set_active(admin, 5, False)) == "member.unknown"
    assert not (await city.members.set_active(admin, 100, False)).active
    assert await _refused(city.members.set_active(admin, 100, False)) == "member.already_disabled"
