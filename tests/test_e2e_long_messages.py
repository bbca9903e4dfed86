"""Texts over one Telegram message (4,096 UTF-16 code units after entity parsing) go out
whole, in parts cut between lines and never inside an HTML tag, the keyboard under the
last part; echoed input is clipped; an edit that changes nothing is not sent."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import datetime

import pytest
from telegram.request import HTTPXRequest

from bot.botapi.entities import parse_html, utf16_len
from bot.core.access import Role
from bot.core.errors import ECHO_MAX, Refused, echo
from bot.formats.orgfile import UnitRow, read_org_file
from bot.formats.tipfile import TEXT_MAX, TipFileError, read_tip_file
from bot.runtime import longtext
from bot.runtime.context import GridContext
from bot.runtime.sending import GridBot
from handlers.bulletins import send_weekly_bulletins
from tests.conftest import EXAMPLE_ORG
from tests.e2e_reports import press, send_photos
from tests.e2e_tips import ADMIN, LEAD, WORKER, add_people, receive
from tests.photos import photo
from tests.test_tips_cli import _write

LIMIT = 4096


@pytest.fixture
def tg_config() -> str:
    return "[reports]\nalbum_wait_seconds = 0.2\n[tips]\nverify = true\n"


@pytest.fixture
async def people(tg):
    return await add_people(tg)


def _refused(tg) -> list[str]:
    return [f"{c.summary()} {c.description}" for c in tg.server.calls if c.status == 400]


def _texts(calls) -> list[str]:
    return [c.text for c in calls if c.ok and c.method == "sendMessage"]


# ---------------------------------------------------------------------- the splitter


def test_a_text_that_fits_is_one_part():
    assert longtext.split_text("短消息\n第二行") == ["短消息\n第二行"]


def test_plain_text_is_cut_between_lines_and_counted_in_utf16():
    lines = [f"{n:03d} 😀 线索" + "字" * 30 for n in range(300)]
    text = "\n".join(lines)
    parts = longtext.split_text(text)
    assert len(parts) > 1
    assert all(utf16_len(p) <= LIMIT for p in parts)
    # Cut only between lines: every line arrives whole, once, in order.
    assert [line for p in parts for line in p.split("\n")] == lines
    # Characters alone would fit 4,096 emoji; in UTF-16 they do not.
    emoji = longtext.split_text("😀" * 4096)
    assert len(emoji) == 2 and all(utf16_len(p) <= LIMIT for p in emoji)
    assert "".join(emoji) == "😀" * 4096


def test_html_parts_are_balanced_and_never_cut_inside_a_tag_or_entity():
    rows = "\n".join(f"第{n}街道 &amp; &lt;{n}&gt; | {n:>4} | {n % 7}" for n in range(400))
    text = f"<b>简报</b>\n\n<b>举报线索</b>\n<pre>{rows}</pre>\n\n<i>排名第一：<b>卧龙区</b></i>"
    parts = longtext.split_text(text, html=True)
    assert len(parts) > 1
    seen = []
    for part in parts:
        visible, _ = parse_html(part)  # raises on an unbalanced or broken tag or entity
        assert utf16_len(visible) <= utf16_len(part) <= LIMIT
        seen.append(visible)
    whole, _ = parse_html(text)
    assert "\n".join(seen) == whole  # nothing lost, nothing doubled
    # A <pre> table cut in two is a <pre> in both parts.
    assert all(p.count("<pre>") == p.count("</pre>") for p in parts)
    assert parts[1].startswith("<pre>")


def test_a_line_longer_than_a_message_is_cut_at_a_space_or_between_characters():
    words = " ".join(["网格"] * 3000)
    parts = longtext.split_text(words)
    assert all(utf16_len(p) <= LIMIT for p in parts)
    assert all(not p.startswith("格") for p in parts)  # at a space, not inside a word
    marks = longtext.split_text("e\u0301" * 4000)  # é as a letter and a combining mark
    assert all(not p.startswith("\u0301") for p in marks)
    assert "".join(marks) == "e\u0301" * 4000
    tags = longtext.split_text("<b>" + "&amp;" * 3000 + "</b>", html=True)
    for part in tags:
        parse_html(part)


def test_shorten_fits_an_edit_in_one_message():
    text = "\n".join(f"行 {n}" for n in range(2000))
    short = longtext.shorten(text)
    assert utf16_len(short) <= LIMIT and short.endswith("…")
    assert longtext.shorten("短") == "短"


def test_echoed_input_is_clipped_in_one_helper():
    assert echo("WL") == "WL"
    clipped = echo("x" * 4000)
    assert len(clipped) == ECHO_MAX and clipped.endswith("…")
    assert Refused("unit.unknown", code="x" * 4000).fields["code"] == clipped
    assert Refused("report.photos_needed", max=10).fields["max"] == 10


# ---------------------------------------------------------------------- in chat


def _whole(parts: list[str]) -> str:
    return "\n".join(parts)


async def test_a_tip_timeline_over_the_limit_arrives_whole(tg, people):
    """Every text typed within its limit (1,000): a 退回 pushes the timeline over 4,096."""
    _, lead, worker = people
    number = await receive(lead, "述" * TEXT_MAX)
    await lead.ask(f"/assign {number} WL-WH-CZ 24")
    await tg.server.wait_for(method="sendMessage", chat_id=WORKER)
    for attempt, result in enumerate(("果" * TEXT_MAX, "再" * TEXT_MAX)):
        await worker.send_text(f"/close {number}")
        await worker.next_reply("sendMessage")
        await worker.next_reply("sendMessage")
        ask_photos = await worker.ask(result)
        # A checked closure needs an "after" photo (tips.after_photo).
        ask_photos = await send_photos(worker, [photo(40 + attempt)])
        verdict = await press(worker, ask_photos, "✅ 照片已齐（1 张）")
        assert "等待交办人审核" in (await press(worker, verdict, "有效")).text
        check = await tg.server.wait_for(method="sendMessage", chat_id=LEAD)
        if attempt == 0:
            await press(lead, check, "↩ 退回")
            assert "已退回" in (await lead.ask("因" * TEXT_MAX)).text
            await tg.server.wait_for(method="sendMessage", chat_id=WORKER)
    await lead.send_text(f"/tip {number}")
    first = await lead.next_reply("sendMessage")
    parts = [first.text]
    while sum(utf16_len(p) for p in parts) < 4 * TEXT_MAX:
        parts.append((await lead.next_reply("sendMessage")).text)
    timeline = _whole(parts)
    assert len(parts) >= 2 and all(utf16_len(p) <= LIMIT for p in parts)
    assert f"线索 {number}" in parts[0] and "被退回 1 次" in timeline
    for typed in ("述", "果", "因", "再"):
        assert typed * TEXT_MAX in timeline  # every text whole, none cut across parts
    assert not _refused(tg)


async def test_an_imported_long_description_is_refused_like_a_typed_one(tg, tmp_path):
    row = {
        "number": "T-IMP-001",
        "received_at": "2026-11-20T08:00",
        "unit": "WL",
        "description": "长" * (TEXT_MAX + 1),
        "source": "热线",
        "assigned_at": "",
        "assigned_unit": "",
        "deadline": "",
        "closed_at": "",
        "valid": "",
    }
    _write(tmp_path / "long.csv", [row, {**row, "number": "T-IMP-002", "description": "短"}])
    units = await tg.services.tips.units()
    with pytest.raises(TipFileError) as refused:
        read_tip_file(tmp_path / "long.csv", units, tg.services.config.locale.zone)
    assert refused.value.problems == [
        f"long.csv:2: description is {TEXT_MAX + 1} characters long "
        f"(at most {TEXT_MAX}, as when typed in chat)"
    ]
    _write(tmp_path / "ok.csv", [{**row, "description": "长" * TEXT_MAX}])
    assert len(read_tip_file(tmp_path / "ok.csv", units, tg.services.config.locale.zone)) == 1


async def test_a_long_tip_and_its_assignment_notice_arrive_whole_with_the_button(
    tg, people, tmp_path
):
    """A tip imported before the limit (a description of 6,000 characters): its timeline
    and the assignment notice arrive in parts, 接单 under the last one, and work."""
    _, lead, worker = people
    row = {
        "number": "T-IMP-001",
        "received_at": "2026-11-22T08:00",
        "unit": "WL-WH",
        "description": "短",
        "source": "热线",
        "assigned_at": "",
        "assigned_unit": "",
        "deadline": "",
        "closed_at": "",
        "valid": "",
    }
    _write(tmp_path / "tips.csv", [row])
    units = await tg.services.tips.units()
    (parsed,) = read_tip_file(tmp_path / "tips.csv", units, tg.services.config.locale.zone)
    long = "\n".join(f"第{n}段：" + "群众反映的情况" * 8 for n in range(100))
    await tg.services.tips.import_rows([replace(parsed, description=long)])

    assigned = await lead.ask("/assign T-IMP-001 WL-WH-CZ 24")
    assert "已交办" in assigned.text and "已通知 1 人" in assigned.text
    notice = [await tg.server.wait_for(method="sendMessage", chat_id=WORKER)]
    while "接单" not in str(notice[-1].params.get("reply_markup")):
        notice.append(await worker.next_reply("sendMessage"))
    assert len(notice) >= 2 and all(utf16_len(c.text) <= LIMIT for c in notice)
    assert all(c.params.get("reply_markup") is None for c in notice[:-1])
    assert "T-IMP-001" in notice[0].text and long in _whole([c.text for c in notice])
    await worker.press_label(notice[-1], "✅ 接单")
    assert "已接单" in (await worker.next_reply("answerCallbackQuery")).params["text"]
    assert not _refused(tg)


async def test_rewards_with_a_hundred_pending_arrive_whole(tg):
    await tg.add(ADMIN, "NY", Role.ADMIN, "市管理员")
    admin = tg.server.user(ADMIN)
    now = "2026-11-20T00:00:00Z"
    async with tg.services.db.transaction() as conn:
        unit = await (await conn.execute("SELECT id FROM org_unit WHERE code = 'WL-WH'")).fetchone()
        for n in range(1, 101):
            cursor = await conn.execute(
                "INSERT INTO tip (number, received_at, unit_id, description, source, state, "
                "closed_at, valid, created_at) VALUES (?, ?, ?, ?, 'hotline', 'closed', ?, 1, ?) "
                "RETURNING id",
                (f"T-20261120-{n:03d}-有效举报奖励待发放", now, unit[0], "线索", now, now),
            )
            await conn.execute(
                "INSERT INTO reward (tip_id, state, created_at) VALUES (?, 'pending', ?)",
                ((await cursor.fetchone())[0], now),
            )
    await admin.send_text("/rewards")
    parts = [(await admin.next_reply("sendMessage")).text]
    while len(re.findall(r"T-20261120-\d{3}-", _whole(parts))) < 100:
        parts.append((await admin.next_reply("sendMessage")).text)
    assert len(parts) >= 2 and all(utf16_len(p) <= LIMIT for p in parts)
    listed = re.findall(r"T-20261120-(\d{3})-", _whole(parts))
    assert sorted(listed) == [f"{n:03d}" for n in range(1, 101)]
    assert not _refused(tg)


async def test_groups_with_sixty_six_bound_arrive_whole(tg):
    admin_member = await tg.add(ADMIN, "NY", Role.ADMIN, "市管理员")
    for n in range(66):
        await tg.services.groups.bind(
            admin_member,
            -1001234567000 - n,
            f"南阳市卧龙区武侯街道第{n:02d}网格工作群（网格员、负责人）",
            "WL-WH",
        )
    admin = tg.server.user(ADMIN)
    await admin.send_text("/groups")
    parts = [(await admin.next_reply("sendMessage")).text]
    while len(re.findall(r"第\d\d网格工作群", _whole(parts))) < 66:
        parts.append((await admin.next_reply("sendMessage")).text)
    assert len(parts) >= 2 and all(utf16_len(p) <= LIMIT for p in parts)
    assert len(re.findall(r"第\d\d网格工作群", _whole(parts))) == 66
    assert not _refused(tg)


async def test_the_weekly_bulletin_of_a_unit_with_a_hundred_children_is_sent_whole(tg):
    rows = read_org_file(EXAMPLE_ORG)
    rows += [UnitRow("BIG", "大区", "district", "NY", 0)]
    rows += [UnitRow(f"BIG-{n:03d}", f"大区第{n:03d}街道", "street", "BIG", 0) for n in range(100)]
    await tg.services.org.import_rows(rows, "big")
    admin_member = await tg.add(ADMIN, "BIG", Role.ADMIN, "大区管理员")
    group = tg.server.group(-100777, "大区工作群")["id"]
    await tg.services.groups.bind(admin_member, group, "大区工作群", "BIG")
    context = GridContext(tg.app)
    tg.clock.set(datetime(2026, 11, 27, 9, 1, tzinfo=tg.clock.now().tzinfo))  # Fri 17:01 CST
    assert await send_weekly_bulletins(context) == 1
    sent = [c for c in tg.server.calls_to("sendMessage", chat_id=group) if c.ok]
    assert len(sent) > 2 and all(utf16_len(c.text) <= LIMIT for c in sent)
    visible = "\n".join(parse_html(c.text)[0] for c in sent)
    for n in range(100):
        assert visible.count(f"大区第{n:03d}街道") >= 2  # in the tip table and the reports
    assert "本期排名第一" in sent[-1].text
    assert all(c.text.count("<pre>") == c.text.count("</pre>") for c in sent)
    async with tg.services.db.read() as conn:
        cursor = await conn.execute(
            "SELECT d.state FROM digest_send d JOIN group_chat g ON g.id = d.group_id "
            "WHERE g.chat_id = ? AND d.kind = 'weekly'",
            (group,),
        )
        assert [tuple(r) for r in await cursor.fetchall()] == [("sent",)]
    # the 简报 as PDF and DOCX, and the XLSX
    assert [c.ok for c in tg.server.calls_to("sendDocument", chat_id=group)] == [True] * 3
    assert not _refused(tg)


#: Commands that quote an argument back ("no unit with the code …"), with where it goes.
ECHOING = (
    "/bindgroup {x}",
    "/invite {x} worker",
    "/invite WL-WH {x}",
    "/members {x}",
    "/reports {x}",
    "/site {x}",
    "/tips {x}",
    "/tip {x}",
    "/close {x}",
    "/assign {x} WL-WH-CZ",
    "/reward {x} paid",
)


@pytest.mark.parametrize("command", ECHOING)
async def test_a_long_argument_is_quoted_back_clipped(tg, command):
    await tg.add(ADMIN, "NY", Role.ADMIN, "市管理员")
    admin = tg.server.user(ADMIN)
    if command.startswith("/bindgroup"):
        admin = admin.in_chat(tg.server.group(-100999, "工作群"))
    argument = "Q" * 4000
    answer = await admin.ask(command.format(x=argument))
    assert echo(argument) in answer.text and argument not in answer.text, answer.text[:200]
    assert utf16_len(answer.text) < 400
    assert not _refused(tg)


# ---------------------------------------------------------------------- edits


async def test_a_double_tap_edits_once(tg, people):
    """Both presses carry the keyboard as it was; the second would change nothing."""
    _, lead, _ = people
    await lead.send_text("/tip")
    await lead.next_reply("sendMessage")
    await lead.next_reply("sendMessage")
    ask_source = await lead.ask("两次点击")
    button = ask_source.params["reply_markup"]["inline_keyboard"][0][0]["callback_data"]
    await lead.press(ask_source, button)
    await lead.press(ask_source, button, strict=False)
    await tg.settled()
    edits = tg.server.calls_to("editMessageReplyMarkup")
    assert [c.ok for c in edits] == [True]
    assert not _refused(tg)


async def test_an_unchanged_edit_is_not_sent_and_a_long_one_is_shortened(tg, people):
    bot = tg.app.bot
    sent = await bot.send_message(LEAD, "第一版")
    await bot.edit_message_text("第二版", chat_id=LEAD, message_id=sent.message_id)
    await bot.edit_message_text("第二版", chat_id=LEAD, message_id=sent.message_id)
    assert len(tg.server.calls_to("editMessageText")) == 1
    long = "\n".join(f"第{n}行" for n in range(2000))
    await bot.edit_message_text(long, chat_id=LEAD, message_id=sent.message_id)
    (edited,) = [c for c in tg.server.calls_to("editMessageText") if "第0行" in c.text]
    assert edited.ok and edited.text.endswith("…") and utf16_len(edited.text) <= LIMIT
    # Telegram's own "not modified" (after a restart: nothing remembered) is no error.
    fresh = GridBot(
        bot.token,
        base_url=tg.services.config.telegram.base_url,
        request=HTTPXRequest(httpx_kwargs={"transport": tg.server.transport()}),
    )
    await fresh.initialize()
    assert await fresh.edit_message_text(long, chat_id=LEAD, message_id=sent.message_id)
    assert [c.status for c in tg.server.calls_to("editMessageText")][-1] == 400
    await fresh.shutdown()


async def test_after_a_failed_edit_the_next_edit_is_sent_whatever_was_remembered(tg, people):
    """An edit that failed may still have taken effect (a timeout after Telegram applied
    it), and another edit may overtake one on its way: until Telegram answers, what the
    message shows is not known, so an edit back to the earlier text is sent, not skipped."""
    from telegram.error import TelegramError

    bare = GridBot(  # no rate limiter: no retries of the failure
        tg.app.bot.token,
        base_url=tg.services.config.telegram.base_url,
        request=HTTPXRequest(httpx_kwargs={"transport": tg.server.transport()}),
    )
    await bare.initialize()
    try:
        sent = await bare.send_message(LEAD, "原样")
        tg.server.fail_next("editMessageText", 500)
        with pytest.raises(TelegramError):
            await bare.edit_message_text("改过", chat_id=LEAD, message_id=sent.message_id)
        await bare.edit_message_text("原样", chat_id=LEAD, message_id=sent.message_id)
        assert [c.text for c in tg.server.calls_to("editMessageText")][-1] == "原样"
    finally:
        await bare.shutdown()


async def test_a_long_reply_keeps_its_keyboard_on_the_last_part(tg, people):
    from telegram import InlineKeyboardButton, InlineKeyboardMarkup

    markup = InlineKeyboardMarkup([[InlineKeyboardButton("好", callback_data="1:mr:0")]])
    text = "\n".join(f"第{n}行 <b>不是标签</b> &amp;" for n in range(600))
    last = await tg.app.bot.send_message(LEAD, text, reply_markup=markup)
    calls = tg.server.calls_to("sendMessage", chat_id=LEAD)
    assert len(calls) >= 2 and all(c.ok for c in calls)
    assert [c.params.get("reply_markup") is not None for c in calls] == [False] * (
        len(calls) - 1
    ) + [True]
    assert last.message_id == calls[-1].message["message_id"]
    assert "\n".join(c.text for c in calls) == text
