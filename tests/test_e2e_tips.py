"""Tips end to end: receive, assign, acknowledge, close with a photo, timeline, reward;
escalation of overdue tips with a moved clock."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest

from bot.core.access import Role
from bot.runtime.context import GridContext
from handlers.jobs import tip_deadlines
from tests.e2e_reports import press
from tests.e2e_tips import (
    ADMIN,
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
async def people(tg):
    return await add_people(tg)


async def test_receive_assign_acknowledge_close_timeline_and_reward(tg, people):
    admin, lead, worker = people
    number = await receive(lead)
    assert number.endswith("-001")
    assigned = await lead.ask(f"/assign {number} WL-WH-CZ 1")
    assert f"线索 {number} 已交办给 崔庄社区" in assigned.text and "已通知 1 人" in assigned.text
    notice = await tg.server.wait_for(method="sendMessage", chat_id=WORKER)
    assert f"新交办线索 {number}" in notice.text

    await worker.press_label(notice, "✅ 接单")
    assert "已接单" in (await worker.next_reply("answerCallbackQuery")).params["text"]
    await worker.next_reply("sendMessage")
    await worker.press(
        notice,
        notice.params["reply_markup"]["inline_keyboard"][0][0]["callback_data"],
        strict=False,
    )
    assert "已有人接单" in (await worker.next_reply("answerCallbackQuery")).params["text"]

    await worker.send_text(f"/close {number}")
    assert "办结线索" in (await worker.next_reply("sendMessage")).text
    await worker.next_reply("sendMessage")
    ask_photos = await worker.ask("已现场核实，井已封填")
    assert "现场照片" in ask_photos.text
    await worker.send_photo(photo(90))
    assert "共 1 张" in (await worker.next_reply("sendMessage")).text
    more = await worker.next_reply("sendMessage")
    verdict = await press(worker, more, "✅ 照片已齐（1 张）")
    closed = await press(worker, verdict, "有效")
    assert f"线索 {number} 已办结（有效）" in closed.text

    timeline = await lead.ask(f"/tip {number}")
    events = [line for line in timeline.text.splitlines() if re.match(r"\d{4}-\d\d-\d\d ", line)]
    assert [e.split()[2] for e in events] == ["受理", "交办", "接单", "办结"]
    assert "（1 张照片）" in events[3] and "13800000000" not in timeline.text
    assert "举报奖励：待发放" in timeline.text
    assert "13800000000" in (await admin.ask(f"/tip {number}")).text  # admins only

    assert number in (await admin.ask("/rewards")).text
    assert "已记为：已发放" in (await admin.ask(f"/reward {number} paid 现金200元")).text
    assert "不能重复结算" in (await admin.ask(f"/reward {number} declined")).text
    assert "没有待结算" in (await admin.ask("/rewards")).text
    async with tg.services.db.read() as conn, conn.execute("SELECT state, note FROM reward") as cur:
        assert tuple(await cur.fetchone()) == ("paid", "现金200元")


async def test_the_timeline_speaks_the_readers_language(tg, people):
    """The bot's notes on a tip's events are stored as data and rendered for whoever
    reads the timeline: no English word to a Chinese reader, no Chinese punctuation to
    an English one."""
    admin, lead, worker = people
    number = await receive(lead)
    await lead.ask(f"/assign {number} WL-WH-CZ 1")
    notice = await tg.server.wait_for(method="sendMessage", chat_id=WORKER)
    tg.clock.advance(timedelta(hours=1, minutes=5))
    await tip_deadlines(GridContext(tg.app))  # overdue: escalated to the street
    await worker.press_label(notice, "✅ 接单")
    await worker.next_reply("answerCallbackQuery")
    await worker.next_reply("sendMessage")
    await worker.send_text(f"/close {number}")
    await worker.next_reply("sendMessage")
    await worker.next_reply("sendMessage")
    ask_photos = await worker.ask("井已封填")
    await worker.send_photo(photo(91))
    await worker.next_reply("sendMessage")
    more = await worker.next_reply("sendMessage")
    verdict = await press(worker, more, "✅ 照片已齐（1 张）")
    assert ask_photos and "已办结" in (await press(worker, verdict, "有效")).text
    assert "已发放" in (await admin.ask(f"/reward {number} 已发放 200")).text  # a Chinese word

    chinese = (await admin.ask(f"/tip {number}")).text
    for note in ("— 崔庄社区，时限 1 小时", "提请武侯街道督办", "有效：井已封填", "（1 张照片）"):
        assert note in chinese, chinese
    assert_reads_as_chinese(chinese.replace(number, ""))

    assert "English" in (await lead.ask("/lang en")).text
    english = (await lead.ask(f"/tip {number}")).text
    for note in ("to 崔庄社区, 1 hour to close", "escalated to 武侯街道", "valid: 井已封填"):
        assert note in english, english
    assert " (1 photo)" in english and "reward paid 市管理员 — 200" in english
    assert_reads_as_english(english)

    # An event written before notes were data shows its text as it was written.
    async with tg.services.db.transaction() as conn:
        await conn.execute(
            "INSERT INTO tip_event (tip_id, at, kind, note) SELECT id, received_at, "
            "'escalated', '旧系统备注' FROM tip WHERE number = ?",
            (number,),
        )
    assert "— 旧系统备注" in (await lead.ask(f"/tip {number}")).text


async def test_usage_replies_name_the_words_of_the_readers_language(tg, people):
    """Commands take their words in both languages, and each usage reply names those of
    its reader: no English word to a Chinese reader (commands and unit codes aside)."""
    admin, _, _ = people
    asks = ("/reward", "/tips a b c d", "/export", "/reports a b c", "/invite", "/rank a b c")
    for ask in asks:
        usage = (await admin.ask(ask)).text
        assert usage.startswith("用法："), usage
        assert_reads_as_chinese(re.sub(r"/[a-z]+|\b[A-Z]{2}(-[A-Z]{2})*\b", "", usage))
    assert "用法" not in (await admin.ask("/export 上报")).text  # a Chinese kind word
    await admin.ask("/lang en")
    for ask in asks:
        usage = (await admin.ask(ask)).text
        assert usage.startswith("Usage: "), usage
        assert_reads_as_english(usage)


async def test_the_official_table_in_the_readers_language(tg, people):
    admin, lead, _ = people
    await receive(lead)
    chinese = (await admin.ask("/tips 表")).text
    header = [c.strip() for c in chinese.splitlines()[1].split("|")]
    assert header == ["区域", "受理(件)", "交办(件)", "办结(件)", "办结率", "有效(件)"]
    assert "\n合计 " in chinese and "举报线索办理情况（… – 2026-" in chinese
    await admin.ask("/lang en")
    english = (await admin.ask("/tips table")).text
    header = [c.strip() for c in english.splitlines()[1].split("|")]
    assert header == ["Area", "Received", "Assigned", "Closed", "Closure rate", "Valid"]
    assert "\nTotal " in english and "Tips handled (… – 2026-" in english
    assert_reads_as_english(english)


async def test_assign_counts_only_the_notices_delivered_and_names_the_rest(tg, people):
    _, lead, worker = people
    await tg.add(3003, "WL-WH-CZ", Role.WORKER, "社区网格员乙")
    await tg.add(3004, "WL-WH-CZ", Role.WORKER, "社区网格员丙")
    assert "社区网格员乙" in (await tg.server.user(3003).ask("/whoami")).text
    worker.block_bot()
    tg.server.user(3004).block_bot()
    number = await receive(lead)
    assigned, unreached = await lead.ask_all(f"/assign {number} WL-WH-CZ 24", 2)
    assert "已通知 1 人" in assigned.text, assigned.text
    assert "未能通知：社区网格员、社区网格员丙" in unreached.text
    assert await tg.server.wait_for(method="sendMessage", chat_id=3003)
    # Nobody reachable: 0, and both named.
    tg.server.user(3003).block_bot()
    number = await receive(lead, "又有人私自打井")
    assigned, unreached = await lead.ask_all(f"/assign {number} WL-WH-CZ 24", 2)
    assert "已通知 0 人" in assigned.text
    assert "社区网格员乙" in unreached.text and "社区网格员丙" in unreached.text


async def test_the_intake_summary_shows_the_unit_picked_or_typed_at(tg, people):
    _, lead, _ = people
    await lead.send_text("/tip")
    await lead.next_replies(2)
    ask_place = await press(lead, await press(lead, await lead.ask("有人私自打井"), "热线"), "一般")
    ask_place = await press(lead, ask_place, "→ 崔庄社区")
    ask_place = await press(lead, ask_place, "→ 崔庄社区第二网格")
    ask_contact = await press(
        lead, await press(lead, ask_place, "✔ 就是 崔庄社区第二网格"), "跳过（无照片）"
    )
    summary = await press(lead, ask_contact, "跳过")
    assert "所在单位：卧龙区 / 武侯街道 / 崔庄社区 / 崔庄社区第二网格" in summary.text
    assert "地址：—" in summary.text
    await press(lead, summary, "✖ 取消")
    # An address typed at the place step: the unit browsed to, and the address.
    await lead.send_text("/tip")
    await lead.next_replies(2)
    ask_place = await press(lead, await press(lead, await lead.ask("有人私自打井"), "热线"), "一般")
    ask_photos = await lead.ask("武侯街道 幸福路 12 号")
    ask_contact = await press(lead, ask_photos, "跳过（无照片）")
    summary = await press(lead, ask_contact, "跳过")
    assert "所在单位：卧龙区 / 武侯街道" in summary.text
    assert "地址：武侯街道 幸福路 12 号" in summary.text


async def test_scope_and_bad_input(tg, people):
    admin, lead, worker = people
    number = await receive(lead)
    assert "不在您的管辖范围内" in (await lead.ask(f"/assign {number} WC-XH 24")).text
    assert "用法" in (await lead.ask(f"/assign {number}")).text
    assert "用法" in (await lead.ask(f"/assign {number} WL-WH-CZ soon")).text
    assert "办理时限应为" in (await lead.ask(f"/assign {number} WL-WH-CZ 0")).text  # due now
    assert "没有找到" in (await lead.ask("/tip T-20990101-999")).text
    assert "只有负责人和管理员可以受理新线索" in (await worker.ask("/tip")).text
    other = tg.server.user(OTHER)
    assert "没有找到" in (await other.ask(f"/tip {number}")).text
    await lead.ask(f"/assign {number} WL-WH-CZ 24")
    assert "没有找到" in (await other.ask(f"/close {number}")).text
    assert "没有使用 /reward 的权限" in (await lead.ask(f"/reward {number} paid")).text
    assert "没有奖励记录" in (await admin.ask(f"/reward {number} paid")).text
    await worker.press(await worker.ask("/whoami"), "1:ta:1:nope", strict=False)
    assert "无法识别" in (await worker.next_reply("answerCallbackQuery")).params["text"]
    # Closing twice: the second /close finds the tip no longer open.
    await worker.send_text(f"/close {number}")
    await worker.next_reply("sendMessage")
    await worker.next_reply("sendMessage")
    ask_photos = await worker.ask("无此事")
    verdict = await press(worker, ask_photos, "跳过（无照片）")
    await press(worker, verdict, "无效")
    await worker.press(
        verdict,
        verdict.params["reply_markup"]["inline_keyboard"][0][1]["callback_data"],
        strict=False,
    )
    assert "已失效" in (await worker.next_reply("answerCallbackQuery")).params["text"]
    assert "当前状态不能" in (await worker.ask(f"/close {number}")).text
    async with (
        tg.services.db.read() as conn,
        conn.execute("SELECT COUNT(*) FROM tip_event WHERE kind = 'closed'") as cur,
    ):
        assert (await cur.fetchone())[0] == 1


async def test_overdue_tips_escalate_once_per_level(tg, people):
    _, lead, _ = people
    await tg.add(1002, "WL", Role.ADMIN, "区管理员")
    number = await receive(lead)
    await lead.ask(f"/assign {number} WL-WH-CZ 1")
    await tg.server.wait_for(method="sendMessage", chat_id=WORKER)
    context = GridContext(tg.app)

    def sent_to(chat_id: int) -> list[str]:
        return [
            c.text for c in tg.server.calls_to("sendMessage", chat_id=chat_id) if "⏰" in c.text
        ]

    await tip_deadlines(context)
    assert sent_to(WORKER) == [] and sent_to(LEAD) == []  # not due yet
    tg.clock.advance(timedelta(hours=1, minutes=5))
    await tip_deadlines(context)
    assert len(sent_to(WORKER)) == 1 and "已超过办理时限" in sent_to(WORKER)[0]
    assert len(sent_to(LEAD)) == 1 and "第 1 级督办" in sent_to(LEAD)[0]
    assert sent_to(1002) == []
    tg.clock.advance(timedelta(hours=2))
    await tip_deadlines(context)  # the next run: nothing new
    assert len(sent_to(WORKER)) == 1 and len(sent_to(LEAD)) == 1 and sent_to(1002) == []
    tg.clock.advance(timedelta(hours=24))
    await tip_deadlines(context)  # one level further up: the district
    assert len(sent_to(1002)) == 1 and "第 2 级督办" in sent_to(1002)[0]
    assert len(sent_to(WORKER)) == 1 and len(sent_to(LEAD)) == 1 and sent_to(ADMIN) == []
    overdue = await tg.services.tips.overdue_by_unit()
    assert list(overdue.values()) == [1]
    assert "⏰超时" in (await lead.ask("/tips")).text
