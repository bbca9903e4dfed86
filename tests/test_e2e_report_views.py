"""Status updates, looking back (/myreports, /reports, /site and its photos), two
categories and English — end to end."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from bot.core.access import Role
from tests.e2e_reports import press, send_photos
from tests.photos import photo


@pytest.fixture
def tg_config() -> str:
    return """
[reports]
album_wait_seconds = 0.2
page_size = 5

[campaign]
name = "专项行动"

[[campaign.categories]]
code = "well"
name = "自备井"
name_en = "Well"
statuses = [{ code = "in_use", name = "在用", name_en = "In use" },
            { code = "sealed", name = "已封停", name_en = "Sealed", done = true }]

[[campaign.categories]]
code = "flood"
name = "防汛隐患"
name_en = "Flood hazard"
location_required = false
statuses = [{ code = "to_fix", name = "待整改", name_en = "To fix" }]

[[campaign.counters]]
code = "visits"
name = "走访户数"
name_en = "Households visited"

[[campaign.counters]]
code = "talks"
name = "宣传场次"
name_en = "Talks given"
"""


async def _report(user, site: str, seed: int, category: str = "自备井", status: str = "在用"):
    await user.send_text("/report")
    await user.next_reply("sendMessage")
    ask_category = await user.next_reply("sendMessage")
    ask_site = await press(user, ask_category, category)
    assert "编号" in ask_site.text
    found = await user.ask(site)
    ask_status = await press(user, found, f"➕ 新建地点“{site}”")
    await press(user, ask_status, status)
    more = await send_photos(user, [photo(seed)])
    ask_location = await press(user, more, "✅ 照片已齐（1 张）")
    assert ask_location.params["reply_markup"]["keyboard"][1][0]["text"] == "跳过"
    await user.send_text("跳过")  # the reply-keyboard button sends its label as text
    assert "已跳过位置" in (await user.next_reply("sendMessage")).text
    ask_note = await user.next_reply("sendMessage")
    summary = await press(user, ask_note, "跳过")
    return await press(user, summary, "✅ 提交")


async def test_status_update_asks_each_counter_as_a_number(tg):
    await tg.add(3001, "WL-WH-CZ-01", Role.WORKER, "网格员甲")
    worker = tg.server.user(3001)
    assert "走访户数" in (await worker.ask("/update 今天走访了崔庄一组")).text
    assert "0 到 1000000 之间的整数" in (await worker.ask("三十")).text
    assert "宣传场次" in (await worker.ask("30")).text
    done = await worker.ask("2")
    assert "工作动态已记录（#1）：走访户数 30、宣传场次 2" in done.text
    assert "请输入工作动态内容" in (await worker.ask("/update")).text
    assert "走访户数" in (await worker.ask("第二条：入户宣传")).text
    assert "已取消本次工作动态" in (await worker.ask("/cancel")).text
    async with (
        tg.services.db.read() as conn,
        conn.execute(
            "SELECT u.body, c.counter, c.value FROM status_update u "
            "JOIN status_update_counter c ON c.update_id = u.id ORDER BY c.counter"
        ) as cur,
    ):
        rows = [tuple(r) for r in await cur.fetchall()]
    assert rows == [("今天走访了崔庄一组", "talks", 2), ("今天走访了崔庄一组", "visits", 30)]


async def test_looking_back_in_scope_with_flags_and_photos(tg):
    await tg.add(3001, "WL-WH-CZ-01", Role.WORKER, "网格员甲")
    await tg.add(3002, "WC-XH-XH-01", Role.WORKER, "网格员丙")
    await tg.add(2001, "WL-WH", Role.LEAD, "街道负责人")
    a, c = tg.server.user(3001), tg.server.user(3002)
    assert "R-000001" in (await _report(a, "WL-1", 1)).text
    assert "重复照片" in (await _report(a, "WL-2", 1, "防汛隐患", "待整改")).text
    assert "R-000003" in (await _report(c, "WC-1", 3)).text

    mine = await a.ask("/myreports")
    assert "我的上报（共 2 份" in mine.text
    assert "R-000002" in mine.text and "防汛隐患 WL-2 待整改" in mine.text
    assert "⚠重复照片" in mine.text and "WC-1" not in mine.text

    lead = tg.server.user(2001)
    scope = await lead.ask("/reports today")
    assert "武侯街道 · 今日上报（共 2 份" in scope.text
    assert "⚠重复照片" in scope.text and "WC-1" not in scope.text
    assert "不在您的管辖范围内" in (await lead.ask("/reports WC")).text
    assert "没有使用 /reports 的权限" in (await a.ask("/reports")).text

    history = await lead.ask("/site WL-1")
    assert "共 1 次上报" in history.text
    await lead.press_label(history, "查看照片 R-000001（1 张）")
    sent = await lead.next_reply("sendPhoto")
    assert sent.params["photo"] == tg.server.calls_to("getFile")[0].params["file_id"]
    # The worker of another district sees nothing of it, and cannot fetch its photos.
    assert "没有找到编号为“WL-1”" in (await c.ask("/site WL-1")).text
    own = await c.ask("/site WC-1")
    await c.press(own, "1:rp:1", strict=False)  # a forged press for R-000001
    answer = await c.next_reply("answerCallbackQuery")
    assert "不在您的管辖范围内" in answer.params["text"]


async def test_reports_today_and_this_week_are_local_days(tg):
    """23:30 UTC on Sunday is already Monday in Shanghai: a report then is today's and
    this week's, one half an hour earlier (23:30 local on Sunday) is neither. Every
    language's period words are taken (period.word.*)."""
    await tg.add(3001, "WL-WH-CZ-01", Role.WORKER, "网格员甲")
    await tg.add(2001, "WL-WH", Role.LEAD, "街道负责人")
    worker, lead = tg.server.user(3001), tg.server.user(2001)
    tg.clock.set(datetime(2026, 11, 29, 15, 30, tzinfo=UTC))  # Sunday 23:30 local
    assert "R-000001" in (await _report(worker, "WL-1", 1)).text
    tg.clock.set(datetime(2026, 11, 29, 23, 30, tzinfo=UTC))  # Monday 07:30 local
    assert "R-000002" in (await _report(worker, "WL-2", 2)).text
    for word, period in (("今日", "今日"), ("today", "今日"), ("本周", "本周"), ("WEEK", "本周")):
        scope = await lead.ask(f"/reports {word}")
        assert f"武侯街道 · {period}上报（共 1 份" in scope.text, word
        assert "R-000002" in scope.text and "R-000001" not in scope.text
    assert "武侯街道 · 全部上报（共 2 份" in (await lead.ask("/reports")).text


async def test_paging_and_english(tg):
    await tg.add(3001, "WL-WH-CZ-01", Role.WORKER, "网格员甲")
    worker = tg.server.user(3001)
    for i in range(6):
        await _report(worker, f"P-{i}", 50 + i)
    first = await worker.ask("/myreports")
    assert "第 1/2 页" in first.text and "R-000006" in first.text
    await worker.press_label(first, "▶")
    second = await worker.next_reply("editMessageText")
    assert "第 2/2 页" in second.params["text"] and "R-000001" in second.params["text"]
    english = tg.server.user(3001, language_code="en")
    assert "My reports (6, page 1/2)" in (await english.ask("/myreports")).text
    await english.send_text("/report")
    assert "New inspection report" in (await english.next_reply("sendMessage")).text
    category = await english.next_reply("sendMessage")
    labels = [b["text"] for row in category.params["reply_markup"]["inline_keyboard"] for b in row]
    assert labels == ["Well", "Flood hazard"]
