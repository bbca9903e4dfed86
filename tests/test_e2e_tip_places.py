"""Tips located at intake, end to end through the real PTB stack: a location shared at the
place question locates the tip, and an open tip within ``tips.duplicate_distance_m`` with
similar text — in another community — is offered as its original on the summary card; a
tipster given as a member's contact card earns no reward."""

from __future__ import annotations

import re

import pytest

from tests.e2e_reports import press
from tests.e2e_tips import LEAD, WORKER, add_people

HERE = (32.990000, 112.530000)
NEAR = (32.991000, 112.530000)  # about 110 m north, in the neighbouring community


@pytest.fixture
def tg_config() -> str:
    return "[tips]\nduplicate_distance_m = 200\n"


@pytest.fixture
async def people(tg):
    return await add_people(tg)


async def _up_to_place(lead, description: str, community: str):
    await lead.send_text("/tip")
    await lead.next_replies(2)
    ask_urgency = await press(lead, await lead.ask(description), "热线")
    ask_place = await press(lead, ask_urgency, "一般")
    assert "发送位置" in ask_place.text
    return await press(lead, ask_place, f"→ {community}")


async def _located_summary(lead, description: str, community: str, where, contact=None):
    await _up_to_place(lead, description, community)
    await lead.send_location(*where)
    recorded = await lead.next_reply("sendMessage")
    assert f"已记录线索位置（{where[0]:.6f}, {where[1]:.6f}）" in recorded.text
    ask_photos = await lead.next_reply("sendMessage")
    await press(lead, ask_photos, "跳过（无照片）")
    if contact is None:
        return await lead.ask("13800000000")
    await contact()
    return await lead.next_reply("sendMessage")


async def _submit(lead, summary) -> str:
    done = await press(lead, summary, "✅ 提交")
    found = re.search(r"T-\d{8}-\d{3}", done.text)
    assert found, done.text
    return found[0]


async def test_an_open_tip_nearby_in_another_unit_is_offered_and_linked(tg, people):
    _, lead, _ = people
    summary = await _located_summary(lead, "崔庄东头有人私自打井取水", "崔庄社区", HERE)
    assert "位置：32.990000, 112.530000" in summary.text
    assert "可能重复" not in summary.text
    original = await _submit(lead, summary)

    summary = await _located_summary(lead, "东头有人私自打井取水", "卧龙岗社区", NEAR)
    assert "所在单位：卧龙区 / 武侯街道 / 卧龙岗社区" in summary.text, summary.text
    assert "可能重复的未办结线索（1 条）" in summary.text and original in summary.text
    linked = await press(lead, summary, f"🔗 作为 {original} 的重复线索")
    assert f"作为 {original} 的重复线索受理" in linked.text
    duplicate = await _submit(lead, linked)
    async with (
        tg.services.db.read() as conn,
        conn.execute(
            "SELECT number, duplicate_of, latitude, longitude FROM tip ORDER BY id"
        ) as cur,
    ):
        rows = [tuple(r) for r in await cur.fetchall()]
    assert rows == [(original, None, *HERE), (duplicate, 1, *NEAR)]
    card = await lead.ask(f"/tip {duplicate}")
    assert "位置：32.991000, 112.530000" in card.text and "重复线索" in card.text


async def test_a_tipster_given_as_a_members_contact_card_earns_no_reward(tg, people):
    admin, lead, worker = people

    async def own_card():  # the lead shares their own account's card: a member
        await lead.send_contact("13800000001", own=True)

    summary = await _located_summary(lead, "有人私自打井", "崔庄社区", HERE, own_card)
    assert "13800000001" in summary.text
    number = await _submit(lead, summary)
    await lead.ask(f"/assign {number} WL-WH-CZ 24")
    await tg.server.wait_for(method="sendMessage", chat_id=WORKER)
    await worker.send_text(f"/close {number}")
    await worker.next_replies(2)
    ask_photos = await worker.ask("已封填")
    ask_verdict = await press(worker, ask_photos, "跳过（无照片）")
    closed = await press(worker, ask_verdict, "有效")
    assert "已办结" in closed.text
    assert "奖励" not in closed.text
    rewards = await admin.ask("/rewards")
    assert number not in rewards.text
    async with tg.services.db.read() as conn, conn.execute("SELECT tipster_id FROM tip") as cur:
        assert [r[0] for r in await cur.fetchall()] == [LEAD]
    async with tg.services.db.read() as conn, conn.execute("SELECT COUNT(*) FROM reward") as cur:
        assert (await cur.fetchone())[0] == 0
