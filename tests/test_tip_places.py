"""Tips located at intake (a shared location, or the registered site a typed address names)
and the duplicates offered within ``tips.duplicate_distance_m``; who earns the reward of a
case reported several times (``tips.reward_to``) and never a member. TipService on the
real storage, without Telegram."""

from __future__ import annotations

from typing import Any

import pytest

from bot.config import ConfigError, load_config
from bot.core.errors import Refused
from bot.domain.tip_cycle import RewardState
from bot.domain.tips import RECEIVE, ReceiveStep, TipService
from bot.formats.tipfile import SOURCES
from storage import sites as site_repo
from storage import tips as tip_repo
from storage.tips import Tip
from tests.conftest import ROOT
from tests.test_tip_service import UNIT, City

# Two points about 110 m apart across the boundary of 崔庄社区 and 卧龙岗社区, and one
# about 1.1 km away.
HERE = (32.990000, 112.530000)
NEAR = (32.991000, 112.530000)
FAR = (33.000000, 112.530000)
NEIGHBOUR = "WL-WH-WLG"


@pytest.fixture
async def town(city) -> City:
    town = City(city)
    await town.people()
    return town


def _service(town: City, **tips: Any) -> TipService:
    config = town.services.config
    settings = config.tips.model_copy(update=tips)
    return TipService(town.db, town.clock, config.model_copy(update={"tips": settings}))


async def _draft_up_to_place(tips: TipService, town: City, description: str, source: int = 0):
    draft = (await tips.begin_receive(town.lead)).draft.id
    await tips.receive_text(town.lead, description)
    await tips.choose_source(town.lead, draft, source)
    await tips.choose_urgency(town.lead, draft, 0)
    await tips.browse_down(town.lead, draft, await town.unit_id(NEIGHBOUR))
    return draft


async def _finish(tips: TipService, town: City, draft: int, contact: str | None = None):
    await tips.receive_photos_done(town.lead, draft)
    if contact is None:
        return await tips.no_contact(town.lead, draft)
    return await tips.receive_text(town.lead, contact)


async def _receive_at(
    tips: TipService,
    town: City,
    description: str,
    where: tuple[float, float] | None,
    *,
    unit: str = UNIT,
    contact: str | None = None,
    duplicate_of: Tip | None = None,
) -> Tip:
    """A tip received for ``unit``, located at ``where`` (shared before the place step)."""
    draft = (await tips.begin_receive(town.lead)).draft.id
    await tips.receive_text(town.lead, description)
    await tips.choose_source(town.lead, draft, 0)
    if where is not None:
        await tips.receive_location(town.lead, *where)
    await tips.choose_urgency(town.lead, draft, 0)
    await tips.place_here(town.lead, draft, await town.unit_id(unit))
    step = await _finish(tips, town, draft, contact)
    assert step.step is ReceiveStep.CONFIRM
    if duplicate_of is not None:
        await tips.link_at_intake(town.lead, draft, duplicate_of.id)
    return await tips.submit_receive(town.lead, draft)


async def _site(town: City, code: str, unit: str, where: tuple[float, float] | None) -> int:
    async with town.db.transaction() as conn:
        site_id = await site_repo.insert(
            conn, "well", code, await town.unit_id(unit), town.admin.id, town.clock.now()
        )
        if where is not None:
            await conn.execute(
                "UPDATE site SET latitude = ?, longitude = ? WHERE id = ?", (*where, site_id)
            )
    return site_id


async def test_a_tip_located_near_an_open_one_in_another_unit_is_offered_as_its_duplicate(
    town: City,
):
    tips = town.plain
    first = await _receive_at(tips, town, "有人私自打井取水，噪音很大", HERE)
    assert (first.latitude, first.longitude) == HERE
    await _receive_at(tips, town, "有人私自打井取水", FAR)  # similar, but 1.1 km away
    await _receive_at(tips, town, "路灯不亮", NEAR)  # near, but about something else

    # In the neighbouring community, shared at the place step: 110 m from the first.
    draft = await _draft_up_to_place(tips, town, "私自打井取水")
    placed = await tips.receive_location(town.lead, *NEAR)
    assert placed.step is ReceiveStep.PHOTOS  # the location answered the place step
    card = await _finish(tips, town, draft)
    assert card.where == NEAR and card.place[-1].code == NEIGHBOUR
    assert [t.number for t in card.similar] == [first.number]
    linked = await tips.link_at_intake(town.lead, draft, first.id)
    assert linked.original is not None and linked.original.id == first.id
    tip = await tips.submit_receive(town.lead, draft)
    assert tip.duplicate_of == first.id and (tip.latitude, tip.longitude) == NEAR

    # Within 50 m only, the same tip 110 m away is not offered, and cannot be linked.
    close_only = _service(town, duplicate_distance_m=50)
    draft = await _draft_up_to_place(close_only, town, "私自打井取水")
    await close_only.receive_location(town.lead, *NEAR)
    card = await _finish(close_only, town, draft)
    assert card.similar == []
    with pytest.raises(Refused, match=r"tip\.stale"):
        await close_only.link_at_intake(town.lead, draft, first.id)


async def test_a_tip_naming_a_registered_site_is_located_by_its_coordinates(town: City):
    tips = town.plain
    site_id = await _site(town, "WLG-井-007", NEIGHBOUR, NEAR)
    await _site(town, "WLG-井-008", NEIGHBOUR, None)
    first = await _receive_at(tips, town, "崔庄东头有人私自打井", HERE)

    draft = await _draft_up_to_place(tips, town, "东头私自打井")
    await tips.receive_text(town.lead, "wlg-井-007")  # the site's code, any case
    card = await _finish(tips, town, draft)
    assert card.site == "WLG-井-007" and card.where == NEAR
    assert [t.number for t in card.similar] == [first.number]
    tip = await tips.submit_receive(town.lead, draft)
    assert tip.site_id == site_id and tip.latitude is None  # located through the site

    # A site without coordinates locates nothing: only the open tip of the same unit is
    # offered, not the one 110 m away in 崔庄.
    draft = await _draft_up_to_place(tips, town, "东头私自打井")
    await tips.receive_text(town.lead, "WLG-井-007")
    card = await _finish(tips, town, draft)
    assert [t.number for t in card.similar][:2] == [tip.number, first.number]
    await tips.cancel(town.lead, RECEIVE)
    draft = await _draft_up_to_place(tips, town, "东头私自打井")
    await tips.receive_text(town.lead, "WLG-井-008")
    card = await _finish(tips, town, draft)
    assert card.where is None and card.site == "WLG-井-008"
    assert [t.number for t in card.similar] == [tip.number]


async def test_a_location_out_of_range_or_at_the_wrong_time_changes_nothing(town: City):
    tips = town.plain
    draft = await _draft_up_to_place(tips, town, "私自打井")
    with pytest.raises(Refused, match=r"tip\.bad_location"):
        await tips.receive_location(town.lead, 91.0, 0.0)
    step, _ = await tips.current(town.lead, RECEIVE)
    assert step is not None and step.step is ReceiveStep.PLACE
    assert "latitude" not in step.draft.data
    # A contact card is only the answer to the contact question.
    with pytest.raises(Refused, match=r"tip\.expect\.place"):
        await tips.receive_contact(town.lead, "张三", "13800000000", 9999)
    assert draft == step.draft.id


async def _rewards(town: City) -> dict[int, RewardState]:
    async with (
        town.db.read() as conn,
        conn.execute("SELECT tip_id, state FROM reward") as cur,
    ):
        return {row[0]: RewardState(row[1]) for row in await cur.fetchall()}


async def _close_case(town: City, tips: TipService, original: Tip) -> Any:
    tip = (await tips.assign(town.lead, original.number, UNIT, 24)).tip
    return await town.close(tips, tip, valid=True)


async def test_the_earliest_named_tipster_of_a_case_earns_its_one_reward(town: City):
    tips = town.plain  # reward_to = "first_named" by default
    assert tips.settings.reward_to == "first_named"
    anonymous = await _receive_at(tips, town, "有人私自打井取水", HERE)
    named = await _receive_at(
        tips, town, "有人私自打井取水", HERE, contact="李四 13900000000", duplicate_of=anonymous
    )
    later = await _receive_at(
        tips, town, "有人私自打井取水", HERE, contact="王五 13700000000", duplicate_of=anonymous
    )
    outcome = await _close_case(town, tips, anonymous)
    assert not outcome.reward_created  # the reward is the duplicate's, not the original's
    assert await _rewards(town) == {named.id: RewardState.PENDING}
    assert (await town.tip(later.id)).state.value == "closed"

    # With reward_to = "original", only the original's tipster: anonymous earns it
    # (tips.reward_needs_contact off), a duplicate never.
    only = _service(town, reward_to="original")
    first = await _receive_at(only, town, "路口井盖缺失", FAR)
    await _receive_at(
        only, town, "路口井盖缺失", FAR, contact="赵六 13600000000", duplicate_of=first
    )
    assert (await _close_case(town, only, first)).reward_created
    assert (await _rewards(town))[first.id] is RewardState.PENDING
    # With a contact needed, an anonymous original earns nothing under "original".
    strict = _service(town, reward_to="original", reward_needs_contact=True)
    lone = await _receive_at(strict, town, "河道有人倾倒垃圾", FAR)
    await _receive_at(
        strict, town, "河道有人倾倒垃圾", FAR, contact="钱七 13500000000", duplicate_of=lone
    )
    await _close_case(town, strict, lone)
    assert lone.id not in await _rewards(town) and len(await _rewards(town)) == 2


async def test_a_member_never_earns_a_reward(town: City):
    tips = town.plain
    # A tipster given as the contact card of a member's Telegram account.
    draft = await _draft_up_to_place(tips, town, "有人私自打井")
    await tips.place_here(town.lead, draft, await town.unit_id(UNIT))
    await tips.receive_photos_done(town.lead, draft)
    step = await tips.receive_contact(
        town.lead, "社区网格员", "13800000000", town.worker.telegram_id
    )
    assert step.step is ReceiveStep.CONFIRM
    carded = await tips.submit_receive(town.lead, draft)
    assert carded.tipster_id == town.worker.telegram_id and "13800000000" in carded.contact
    # A member named by @username in the typed contact (any case).
    async with town.db.transaction() as conn:
        await conn.execute("UPDATE member SET username = 'Wangge' WHERE id = ?", (town.worker.id,))
    named = await _receive_at(tips, town, "有人私自打井取水", FAR, contact="@wangge 网格员")
    # A duplicate by a member first, then a real tipster: the real tipster earns it.
    patrol_draft = await _draft_up_to_place(tips, town, "路口井盖缺失", SOURCES.index("patrol"))
    await tips.place_here(town.lead, patrol_draft, await town.unit_id(UNIT))
    await _finish(tips, town, patrol_draft, "网格员 13800000001")
    patrol = await tips.submit_receive(town.lead, patrol_draft)
    citizen = await _receive_at(
        tips, town, "路口井盖缺失", FAR, contact="孙八 13400000000", duplicate_of=patrol
    )
    for tip in (carded, named, patrol):
        outcome = await _close_case(town, tips, tip)
        assert not outcome.reward_created
    assert await _rewards(town) == {citizen.id: RewardState.PENDING}

    # A reward made before the tipster was known as a member cannot be paid, only declined.
    stranger = await _receive_at(tips, town, "河道有人倾倒垃圾", HERE, contact="@newbie")
    assert (await _close_case(town, tips, stranger)).reward_created
    async with town.db.transaction() as conn:
        await conn.execute("UPDATE member SET username = 'newbie' WHERE id = ?", (town.worker.id,))
    with pytest.raises(Refused, match=r"reward\.member"):
        await tips.settle(town.admin, stranger.number, RewardState.PAID, None)
    assert (await _rewards(town))[stranger.id] is RewardState.PENDING
    settled = await tips.settle(town.admin, stranger.number, RewardState.DECLINED, "工作人员")
    assert settled.state is RewardState.DECLINED


async def test_located_candidates_come_from_one_bounded_query(town: City):
    """The repository's box: a tip just outside it is not read at all."""
    tips = town.plain
    inside = await _receive_at(tips, town, "私自打井", HERE)
    await _receive_at(tips, town, "私自打井", FAR)
    async with town.db.read() as conn:
        box = (HERE[0] - 0.002, HERE[0] + 0.002, HERE[1] - 0.002, HERE[1] + 0.002)
        found = await tip_repo.open_located(conn, None, box)
    assert [f.tip.id for f in found] == [inside.id]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "[tips]\nduplicate_distance_m = -1\n",
            "tips.duplicate_distance_m: -1: input should be greater than or equal to 0",
        ),
        (
            "[tips]\nduplicate_distance_m = 60000\n",
            "tips.duplicate_distance_m: 60000: input should be less than or equal to 50000",
        ),
        ('[tips]\nreward_to = "everyone"\n', "tips.reward_to: 'everyone': input should be"),
    ],
)
def test_bad_settings_are_named(tmp_path, text, expected):
    path = tmp_path / "config.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    (line,) = caught.value.lines
    assert line.startswith(f"config.toml: {expected}"), line


def test_the_example_config_sets_the_defaults():
    example = load_config(ROOT / "config.example.toml").tips
    assert (example.duplicate_distance_m, example.reward_to) == (200, "first_named")
