"""Numbers and days typed into commands (issue 14, item 16): superscript and other
scripts' digits, days at the calendar's edge, reversed ranges and impossible days in a
forged button each get a usage or "stale" answer — never the apology for a crash."""

from __future__ import annotations

from datetime import date

import pytest

from bot.core import arguments, periods
from tests.e2e_tips import add_people, receive

APOLOGY = "出错了"


def test_numbers_are_ascii_digits_within_their_range():
    assert arguments.number("42") == 42
    assert arguments.number("-7", arguments.INT64_MIN) == -7
    for text in ("²", "1²", "٣", "３", "-7", "+7", " 7", "7.0", "", "9" * 20, "9" * 5000):
        assert arguments.number(text) is None, text
    assert arguments.number("101", 1, 100) is None
    assert arguments.number("0", 1, 100) is None
    assert arguments.number(str(2**63)) is None


def test_days_are_real_calendar_days_with_room_around_them():
    assert periods.day("2026-11-20") == date(2026, 11, 20)
    for text in (
        "9999-12-31",
        "0001-01-01",
        "2026-02-30",
        "2026-13-01",
        "２０２６-11-20",
        "20261120",
    ):
        assert periods.day(text) is None, text
    assert periods.day_from_number(20261122) == date(2026, 11, 22)
    assert periods.day_from_number(20261340) is None


@pytest.mark.parametrize(
    ("who", "command", "answer"),
    [
        ("lead", "/assign {tip} WL-WH-CZ ²", "用法：/assign"),
        ("lead", "/assign {tip} WL-WH-CZ 9999999999999999999999", "用法：/assign"),
        ("admin", "/invite WL-WH-CZ worker ²", "用法：/invite"),
        ("admin", "/invite WL-WH-CZ worker 1 ³", "用法：/invite"),
        ("admin", "/audit ²", "用法：/audit"),
        ("admin", "/disable ²", "Telegram ID 应为数字"),
        ("admin", "/enable ²", "Telegram ID 应为数字"),
        ("admin", "/disable 99999999999999999999", "Telegram ID 应为数字"),
        ("admin", "/tips table 2026-11-01 9999-12-31", "用法：/tips"),
        ("admin", "/tips table 9999-12-31", "用法：/tips"),
        ("admin", "/tips table 2026-11-20 2026-11-01", "用法：/tips"),
        ("admin", "/tips table 2099-01-01", "用法：/tips"),  # later than today
        ("admin", "/export tips 2026-11-01 9999-12-31", "无法识别"),
        ("admin", "/export tips 9999-12-31", "无法识别"),
        ("admin", "/brief 0001-01-01", "日期格式"),
    ],
)
async def test_odd_numbers_and_days_get_a_usage_answer(tg, who, command, answer):
    admin, lead, _ = await add_people(tg)
    tip = await receive(lead) if "{tip}" in command else ""
    user = {"admin": admin, "lead": lead}[who]
    reply = await user.ask(command.format(tip=tip))
    assert answer in reply.text and APOLOGY not in reply.text


async def test_a_forged_publish_button_with_an_impossible_day_is_stale(tg):
    admin, _, _ = await add_people(tg)
    await admin.send_text("/brief")
    preview = (await admin.next_replies(2))[-1]  # the summary, then the items and buttons
    assert "以上为简报预览" in preview.text
    await admin.press(preview, "1:bf:NY:20261340:pub", strict=False)
    answer = await admin.next_reply("answerCallbackQuery", timeout=60)  # after the PDF
    assert answer.params["text"] == "此按钮已失效，请重新发送命令。"
