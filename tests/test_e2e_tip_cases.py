"""Tips handled as cases, end to end through the real PTB stack (tips.verify on): 延期 asked
and decided with buttons, at most once; 核查 with an after photo and the before/after
album; 返工 counted; a 不满意 call-back reopening the tip; a duplicate linked at intake
earning no reward of its own; and bad input answered with nothing changed."""

from __future__ import annotations

import io
import re
from datetime import timedelta

import pytest
from openpyxl import load_workbook

from bot.domain.tip_kpis import kpi_table
from tests.e2e_reports import press, send_photos
from tests.e2e_tips import (
    LEAD,
    OTHER,
    WORKER,
    add_people,
    assert_reads_as_chinese,
    assert_reads_as_english,
    receive,
)
from tests.photos import photo


@pytest.fixture
def tg_config() -> str:
    return "[reports]\nalbum_wait_seconds = 0.2\n[tips]\nverify = true\nmax_extensions = 1\n"


@pytest.fixture
async def people(tg):
    return await add_people(tg)


def _sheet(tg, call) -> list[tuple]:
    data = tg.server.file_bytes(call.message["document"]["file_id"])
    book = load_workbook(io.BytesIO(data), read_only=True)
    return [tuple(row) for row in book.active.iter_rows(values_only=True)]


async def _tip_row(tg, number: str) -> dict:
    async with (
        tg.services.db.read() as conn,
        conn.execute("SELECT * FROM tip WHERE number = ?", (number,)) as cur,
    ):
        return dict(await cur.fetchone())


async def _receive_with_photo(lead, description: str, seed: int):
    """/tip (较急) with one "before" photo, up to the summary card, which it returns."""
    await lead.send_text("/tip")
    await lead.next_replies(2)
    ask_urgency = await press(lead, await lead.ask(description), "热线")
    ask_place = await press(lead, ask_urgency, "较急")
    ask_place = await press(lead, ask_place, "→ 崔庄社区")
    await press(lead, ask_place, "✔ 就是 崔庄社区")
    ask_photos = await send_photos(lead, [photo(seed)])
    await press(lead, ask_photos, "✅ 照片已齐（1 张）")
    return await lead.ask("张先生 13800000000")


async def _submit(lead, summary) -> str:
    done = await press(lead, summary, "✅ 提交")
    found = re.search(r"T-\d{8}-\d{3}", done.text)
    assert found, done.text
    return found[0]


async def _close(worker, number: str, result: str, seed: int, verdict: str = "有效"):
    await worker.send_text(f"/close {number}")
    await worker.next_replies(2)
    await worker.ask(result)
    ask_photos = await send_photos(worker, [photo(seed)])
    ask_verdict = await press(worker, ask_photos, "✅ 照片已齐（1 张）")
    return await press(worker, ask_verdict, verdict)


async def test_an_extension_moves_the_deadline_once_and_bad_asks_change_nothing(tg, people):
    _, lead, worker = people
    number = await receive(lead)
    await lead.ask(f"/assign {number} WL-WH-CZ 24")  # due Tue 2026-11-24 09:00
    notice = await tg.server.wait_for(method="sendMessage", chat_id=WORKER)
    assert "2026-11-24 09:00" in notice.text

    asked = await worker.ask(f"/extend {number} 2026-11-30 等待村委会出具材料")
    assert f"已申请延期线索 {number} 至 2026-12-01 00:00" in asked.text
    ask = await tg.server.wait_for(method="sendMessage", chat_id=LEAD)
    assert "申请将线索" in ask.text and "等待村委会出具材料" in ask.text

    # Someone without scope over it cannot decide: a worker of another district.
    other = tg.server.user(OTHER)
    grant = ask.params["reply_markup"]["inline_keyboard"][0][0]["callback_data"]
    before = await _tip_row(tg, number)
    await other.press(await other.ask("/whoami"), grant, strict=False)
    refused = await other.next_reply("answerCallbackQuery")
    assert "只有交办人或上级管理员" in refused.params["text"] and refused.params["show_alert"]
    assert await _tip_row(tg, number) == before

    granted = await press(lead, ask, "✅ 同意延期")
    assert f"已同意线索 {number} 延期，新时限 2026-12-01 00:00" in granted.text
    told = await tg.server.wait_for(method="sendMessage", chat_id=WORKER)
    assert "延期已获同意" in told.text
    # A second ask goes beyond max_extensions = 1.
    again = await worker.ask(f"/extend {number} 2026-12-05 仍在等待")
    assert "延期次数已达上限（1 次）" in again.text
    card = await lead.ask(f"/tip {number}")
    assert "时限：2026-12-01 00:00" in card.text and "已延期 1 次" in card.text
    assert "同意延期" in card.text

    # Asked after the deadline: refused, nothing changed.
    late = await receive(lead, "另一处私自打井")
    await lead.ask(f"/assign {late} WL-WH-CZ 1")
    await tg.server.wait_for(method="sendMessage", chat_id=WORKER)
    tg.clock.advance(timedelta(hours=2))
    before = await _tip_row(tg, late)
    refused_late = await worker.ask(f"/extend {late} 2026-11-30 来不及")
    assert "已超过办理时限，不能再申请延期" in refused_late.text
    assert await _tip_row(tg, late) == before


async def test_check_with_after_photo_rework_then_pass_and_a_dissatisfied_call_back(tg, people):
    _, lead, worker = people
    summary = await _receive_with_photo(lead, "崔庄村民反映有人私自打井", 11)
    number = await _submit(lead, summary)
    await lead.ask(f"/assign {number} WL-WH-CZ 24")
    await tg.server.wait_for(method="sendMessage", chat_id=WORKER)

    # Under verification a closure without an after photo is refused, nothing changed.
    await worker.send_text(f"/close {number}")
    await worker.next_replies(2)
    ask_photos = await worker.ask("已封填")
    before = await _tip_row(tg, number)
    await worker.press_label(ask_photos, "跳过（无照片）")
    alert = await worker.next_reply("answerCallbackQuery")
    assert "至少要有一张处置后照片" in alert.params["text"] and alert.params["show_alert"]
    assert await _tip_row(tg, number) == before
    await worker.ask("/cancel")

    waiting = await _close(worker, number, "已封填", 12)
    assert "等待交办人审核" in waiting.text
    # The checker gets the before and after photos together, then the buttons.
    album = await tg.server.wait_for(method="sendMediaGroup", chat_id=LEAD)
    assert len(album.params["media"]) == 2
    check = await tg.server.wait_for(method="sendMessage", chat_id=LEAD)
    ask_reason = await press(lead, check, "↩ 退回")
    assert "退回原因" in ask_reason.text
    await lead.ask("井口未完全封闭")
    await tg.server.wait_for(method="sendMessage", chat_id=WORKER)
    await _close(worker, number, "已重新封闭", 13)
    await tg.server.wait_for(method="sendMessage", chat_id=LEAD)
    check = [
        c for c in tg.server.calls_to("sendMessage", chat_id=LEAD) if "已提交办结" in (c.text or "")
    ][-1]
    await lead.press_label(check, "✅ 通过")
    assert "审核通过" in (await lead.next_reply("sendMessage")).text
    card = await lead.ask(f"/tip {number}")
    assert "被退回 1 次" in card.text and "紧急程度：较急" in card.text
    calendar = tg.services.calendar
    start, end = calendar.since("month"), tg.clock.now() + timedelta(seconds=1)
    total = (await kpi_table(tg.services.db, tg.services.tips.workdays, start, end))[0]
    assert (total.closed, total.reworked, total.rework, total.rework_rate) == (1, 1, 1, 100)
    table = await lead.ask("/tips 表")
    assert "单位办理绩效" in table.text and "返工率" in table.text

    # A call-back on an open tip is refused; on the closed one, 不满意 through the
    # handler's fault reopens it as rework.
    open_tip = await receive(lead, "又一处私自打井")
    assert "尚未办结，不能回访" in (await lead.ask(f"/callback {open_tip} 满意")).text
    said, reopened = await lead.ask_all(f"/callback {number} 不满意 过错 井盖仍松动", 2)
    assert f"已记录线索 {number} 的回访：不满意" in said.text
    assert "重新交由 崔庄社区 办理（返工）" in reopened.text
    told = await tg.server.wait_for(method="sendMessage", chat_id=WORKER)
    assert "返工" in told.text and "井盖仍松动" in told.text
    card = await lead.ask(f"/tip {number}")
    assert "已交办" in card.text and "被退回 2 次" in card.text and "回访：不满意" in card.text
    total = (await kpi_table(tg.services.db, tg.services.tips.workdays, start, end))[0]
    assert (total.rework, total.callbacks, total.satisfied) == (2, 1, 0)
    # Every new event and note reads in the reader's language.
    assert_reads_as_chinese(card.text.replace(number, ""))
    await lead.ask("/lang en")
    english = (await lead.ask(f"/tip {number}")).text
    assert "rework" in english and "Call-back: dissatisfied" in english
    assert "Urgency: Urgent" in english
    typed = ("已封填", "井口未完全封闭", "已重新封闭", "井盖仍松动", "崔庄村民反映有人私自打井")
    for text in typed:
        english = english.replace(text, "")
    assert_reads_as_english(english)


async def test_a_duplicate_linked_at_intake_earns_no_second_reward(tg, people):
    admin, lead, worker = people
    original = await receive(lead, "崔庄村民反映有人私自打井取水")
    summary = await _receive_with_photo(lead, "崔庄有人私自打井取水", 21)
    assert "可能重复的未办结线索（1 条）" in summary.text and original in summary.text
    linked = await press(lead, summary, f"🔗 作为 {original} 的重复线索")
    assert f"作为 {original} 的重复线索受理" in linked.text
    duplicate = await _submit(lead, linked)

    # Linking by hand: never to itself, never to a later tip.
    assert "不能作为自己的重复线索" in (await lead.ask(f"/dup {original} {original}")).text
    assert "晚于线索" in (await lead.ask(f"/dup {original} {duplicate}")).text

    await lead.ask(f"/assign {original} WL-WH-CZ 24")
    await tg.server.wait_for(method="sendMessage", chat_id=WORKER)
    await _close(worker, original, "已封填", 22)
    await tg.server.wait_for(method="sendMessage", chat_id=LEAD)
    check = [
        c for c in tg.server.calls_to("sendMessage", chat_id=LEAD) if "已提交办结" in (c.text or "")
    ][-1]
    await lead.press_label(check, "✅ 通过")
    assert "审核通过" in (await lead.next_reply("sendMessage")).text

    card = await lead.ask(f"/tip {duplicate}")
    assert "已办结" in card.text and "重复线索，随原线索办结" in card.text
    assert "举报奖励" not in card.text
    rewards = await admin.ask("/rewards")
    assert original in rewards.text and duplicate not in rewards.text
    async with tg.services.db.read() as conn, conn.execute("SELECT tip_id FROM reward") as cur:
        assert len(await cur.fetchall()) == 1
    # The export names the original of a duplicate and each tip's urgency.
    await admin.send_text("/export tips")
    await admin.next_reply("sendMessage")
    rows = _sheet(tg, await admin.next_reply("sendDocument"))
    by_number = {row[0]: dict(zip(rows[0], row, strict=False)) for row in rows[1:]}
    assert by_number[duplicate]["重复于"] == original and by_number[original]["重复于"] is None
    assert (by_number[original]["紧急程度"], by_number[duplicate]["紧急程度"]) == ("一般", "较急")


async def test_parking_needs_a_reason_and_leaves_the_overdue_counts(tg, people):
    admin, lead, _ = people
    number = await receive(lead)
    await lead.ask(f"/assign {number} WL-WH-CZ 1")
    await tg.server.wait_for(method="sendMessage", chat_id=WORKER)
    before = await _tip_row(tg, number)
    assert "挂账须写明原因" in (await admin.ask(f"/park {number} 2026-12-31")).text
    assert await _tip_row(tg, number) == before
    parked = await admin.ask(f"/park {number} 2026-11-30 等待管网建设")
    assert "已挂账至 2026-11-30" in parked.text
    tg.clock.advance(timedelta(hours=3))
    assert await tg.services.tips.overdue_by_unit() == {}
    assert await tg.services.tips.escalate() == []
    listed = await lead.ask("/tips WL-WH-CZ")
    assert number in listed.text and "超时" not in listed.text  # parked: not overdue
    # On its target day it comes back, due at the end of that day.
    tg.clock.advance(timedelta(days=7))
    await tg.services.tips.escalate()
    card = await lead.ask(f"/tip {number}")
    assert "时限：2026-12-01 00:00" in card.text and "挂账到期" in card.text
