"""Access end to end (issue 14): a forged 提交 gives nothing away."""

from __future__ import annotations

from bot.access import Role
from tests.e2e_reports import press, send_photos
from tests.photos import photo

WORKER = 3001


async def _answer(user) -> str:
    return str((await user.next_reply("answerCallbackQuery")).params.get("text") or "")


# ---------------------------------------------------------------- item 11


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
