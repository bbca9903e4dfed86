"""Access end to end (issue 14): /close and a forged 提交 give nothing away; who may read
a tip."""

from __future__ import annotations

from bot.access import Role
from tests.e2e_reports import press, send_photos
from tests.e2e_tips import receive
from tests.photos import photo

ADMIN, LEAD, WORKER = 1001, 2001, 3001


async def _answer(user) -> str:
    return str((await user.next_reply("answerCallbackQuery")).params.get("text") or "")


# ---------------------------------------------------------------- item 11


async def test_close_outside_scope_answers_as_tip_does(tg):
    """Fails on main: /close named the unit of a tip the caller cannot see."""
    await tg.add(LEAD, "WL-WH", Role.LEAD, "街道负责人")
    await tg.add(3009, "WC-XH-XH", Role.WORKER, "宛城网格员")
    lead, other = tg.server.user(LEAD), tg.server.user(3009)
    number = await receive(lead)
    await lead.ask(f"/assign {number} WL-WH-CZ 24")
    for ask in (f"/close {number}", f"/tip {number}"):
        assert (await other.ask(ask)).text == f"没有找到您管辖范围内编号为“{number}”的线索。"
    assert "崔庄" not in "".join(c.text for c in tg.server.calls_to("sendMessage", 3009))


async def test_a_forged_submit_of_another_workers_report_is_stale(tg):
    """Fails on main: the press answered with the other worker's report number."""
    await tg.add(WORKER, "WL-WH-CZ-01", Role.WORKER, "网格员甲")
    await tg.add(3002, "WL-WH-CZ-02", Role.WORKER, "网格员乙")
    first, second = tg.server.user(WORKER), tg.server.user(3002)
    await first.send_text("/report")
    await first.next_reply("sendMessage")
    await first.next_reply("sendMessage")
    found = await first.ask("WL-301")
    ask_status = await press(first, found, "➕ 新建地点“WL-301”")
    await press(first, ask_status, "在用")
    more = await send_photos(first, [photo(31)])
    await press(first, more, "✅ 照片已齐（1 张）")
    await first.send_location(33.0, 112.5)
    await first.next_reply("sendMessage")
    summary = await press(first, await first.next_reply("sendMessage"), "跳过")
    submit = next(data for label, data in summary.buttons if label == "✅ 提交")
    assert "R-000001" in (await press(first, summary, "✅ 提交")).text

    await second.send_text("/report")  # a draft of their own, too
    await second.next_reply("sendMessage")
    await second.next_reply("sendMessage")
    await second.press(await second.ask("/whoami"), submit, strict=False)
    answer = await _answer(second)
    assert answer == "此按钮属于已结束或已过期的上报，请发送 /report 查看当前上报。"
    shown = [c.text for c in tg.server.calls_to("sendMessage", 3002)]
    assert not any("R-000001" in text for text in shown)


# ---------------------------------------------------------------- item 12


async def test_who_may_read_a_tip(tg):
    """Fails on main: /tip was for leads only, so no worker could read a tip."""
    await tg.add(ADMIN, "NY", Role.ADMIN, "市管理员")
    await tg.add(LEAD, "WL-WH", Role.LEAD, "街道负责人")
    await tg.add(WORKER, "WL-WH-CZ", Role.WORKER, "社区网格员")
    await tg.add(3002, "WL-WH-CZ", Role.WORKER, "社区网格员乙")
    await tg.add(3003, "WL-WH-CZ-01", Role.WORKER, "网格员丙")  # below: not their unit's
    await tg.add(3009, "WC-XH-XH", Role.WORKER, "宛城网格员")
    admin, lead, worker = (tg.server.user(i) for i in (ADMIN, LEAD, WORKER))
    number = await receive(lead)
    assert "已通知 2 人" in (await lead.ask(f"/assign {number} WL-WH-CZ 24")).text
    notice = await tg.server.wait_for(method="sendMessage", chat_id=WORKER)
    await worker.press_label(notice, "✅ 接单")
    await _answer(worker)
    await worker.next_reply("sendMessage")

    card = await worker.ask(f"/tip {number}")  # assigned to their own unit
    assert card.text.startswith(f"📋 线索 {number}") and "13800000000" not in card.text
    assert "13800000000" not in (await lead.ask(f"/tip {number}")).text
    assert "13800000000" in (await admin.ask(f"/tip {number}")).text  # admins only
    hidden = f"没有找到您管辖范围内编号为“{number}”的线索。"
    for outsider in (3003, 3009):
        assert (await tg.server.user(outsider).ask(f"/tip {number}")).text == hidden

    # Moved away, the one who accepted it and the one who was told of it still may read it.
    for telegram_id, name in ((WORKER, "社区网格员"), (3002, "社区网格员乙")):
        await tg.add(telegram_id, "WC-XH", Role.WORKER, name)
        assert (await tg.server.user(telegram_id).ask(f"/tip {number}")).text.startswith("📋")
    assert "只有负责人和管理员可以受理新线索" in (await worker.ask("/tip")).text
    assert (await tg.server.user(3009).ask(f"/tip {number}")).text == hidden
