"""With tips.verify on, the assigner checks each closure: 退回 with a reason sends it back
(and is counted), 通过 closes it."""

from __future__ import annotations

import pytest

from tests.e2e_reports import press, send_photos
from tests.e2e_tips import (
    LEAD,
    WORKER,
    add_people,
    assert_reads_as_chinese,
    assert_reads_as_english,
    receive,
)
from tests.photos import photo


@pytest.fixture
def tg_config() -> str:
    return "[reports]\nalbum_wait_seconds = 0.2\n[tips]\nverify = true\n"


@pytest.fixture
async def people(tg):
    return await add_people(tg)


async def _close(worker, number: str, result: str):
    await worker.send_text(f"/close {number}")
    await worker.next_reply("sendMessage")
    await worker.next_reply("sendMessage")
    await worker.ask(result)
    # A checked closure needs an "after" photo (tips.after_photo).
    ask_photos = await send_photos(worker, [photo(len(result))])
    verdict = await press(worker, ask_photos, "✅ 照片已齐（1 张）")
    return await press(worker, verdict, "有效")


async def test_send_back_then_approve(tg, people):
    _, lead, worker = people
    number = await receive(lead)
    await lead.ask(f"/assign {number} WL-WH-CZ 24")
    await tg.server.wait_for(method="sendMessage", chat_id=WORKER)
    waiting = await _close(worker, number, "已处理")
    assert "等待交办人审核" in waiting.text
    check = await tg.server.wait_for(method="sendMessage", chat_id=LEAD)
    assert f"线索 {number} 已提交办结" in check.text
    ask_reason = await press(lead, check, "↩ 退回")
    assert "退回原因" in ask_reason.text
    assert f"已退回线索 {number}" in (await lead.ask("照片不清楚，请补充")).text
    back = await tg.server.wait_for(method="sendMessage", chat_id=WORKER)
    assert "照片不清楚" in back.text

    await _close(worker, number, "已补充核查")
    check = await tg.server.wait_for(method="sendMessage", chat_id=LEAD)
    await lead.press_label(check, "✅ 通过")
    assert "审核通过" in (await lead.next_reply("sendMessage")).text
    timeline = await lead.ask(f"/tip {number}")
    assert "已办结" in timeline.text and "被退回 1 次" in timeline.text
    assert "举报奖励：待发放" in timeline.text
    assert "有效：已补充核查" in timeline.text and "办结 街道负责人 — 审核通过" in timeline.text
    assert_reads_as_chinese(timeline.text.replace(number, ""))
    await lead.ask("/lang en")
    english = (await lead.ask(f"/tip {number}")).text
    assert "valid: 已补充核查" in english and "closed 街道负责人 — approved" in english
    assert "Sent back 1 time\n" in english
    assert_reads_as_english(english.replace("照片不清楚，请补充", ""))  # as the lead typed it
