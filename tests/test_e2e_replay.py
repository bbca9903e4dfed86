"""A crash between a step's commit and its answer: the update is handled again at the
next start, and the person must get the question the lost answer carried — not a
"stale button" alert that leaves them with nothing to press.

Each button of a report flow is pressed, answered, then replayed as if the bot had died
before marking it done. By then Telegram has forgotten the callback query (it was
answered, or it is too old), so answering it again fails: that must not stop the reply.
"""

from __future__ import annotations

import logging

from bot.botapi import ApiCall
from bot.core.access import Role
from tests.e2e_reports import count_reports, send_photos
from tests.photos import photo

WORKER = 3101
GRID = "WL-WH-CZ-01"


async def _press_then_replay(tg, user, message: ApiCall, label: str) -> ApiCall:
    """Press ``label``; then replay that press after a restart. Both answers must be the
    same question; return it."""
    pressed = await user.press_label(message, label)
    first = await user.next_reply("sendMessage")
    await tg.settled()
    await tg.restart(unfinished=(pressed["update_id"],))
    again = await user.next_reply("sendMessage")
    assert again.text == first.text, (label, first.text, again.text)
    await tg.settled()
    return again


async def test_every_report_button_replayed_after_a_crash_asks_its_question_again(tg):
    await tg.add(WORKER, GRID, Role.WORKER, "网格员甲")
    user = tg.server.user(WORKER, "网格员甲")
    await user.send_text("/report")
    await user.next_reply("sendMessage")
    await user.next_reply("sendMessage")
    found = await user.ask("WL-301")
    assert "没有找到" in found.text

    ask_status = await _press_then_replay(tg, user, found, "➕ 新建地点“WL-301”")
    assert "请选择现场状态" in ask_status.text
    ask_photos = await _press_then_replay(tg, user, ask_status, "在用")
    assert "请发送 1–10 张" in ask_photos.text
    more = await send_photos(user, [photo(31)])
    ask_location = await _press_then_replay(tg, user, more, "✅ 照片已齐（1 张）")
    assert "发送当前位置" in ask_location.text
    await user.send_location(33.0, 112.5)
    assert "位置已记录" in (await user.next_reply("sendMessage")).text
    ask_note = await user.next_reply("sendMessage")
    summary = await _press_then_replay(tg, user, ask_note, "跳过")
    assert "请核对" in summary.text
    submitted = await user.press_label(summary, "✅ 提交")
    first = await user.next_reply("sendMessage")
    await tg.settled()
    await tg.restart(unfinished=(submitted["update_id"],))
    again = await user.next_reply("sendMessage")
    # The worker may never have seen the first answer: the second one confirms too.
    assert first.text == "✅ 上报已提交，编号 R-000001。"
    assert again.text.startswith("✅ 上报已提交，编号 R-000001。"), again.text
    await tg.settled()
    assert await count_reports(tg) == 1


async def test_an_alert_for_a_press_telegram_has_forgotten_is_logged_as_lost(tg, caplog):
    """A refusal shown only as an alert cannot reach the person once the query is gone:
    the bot goes on, and says so in its log."""
    await tg.add(WORKER, GRID, Role.WORKER, "网格员甲")
    user = tg.server.user(WORKER, "网格员甲")
    await user.send_text("/report")
    await user.next_reply("sendMessage")
    question = await user.next_reply("sendMessage")
    pressed = await user.press(question, "1:r:999:cx:0", strict=False)  # someone else's draft
    alert = await user.next_reply("answerCallbackQuery")
    assert alert.params.get("show_alert") and alert.ok
    await tg.settled()
    caplog.set_level(logging.INFO, logger="gridbot.sending")
    await tg.restart(unfinished=(pressed["update_id"],))
    await tg.settled()
    lost = [r for r in caplog.records if r.getMessage() == "send.query_expired"]
    assert [r.levelno for r in lost] == [logging.WARNING], lost
    assert lost[0].fields == {"alert_lost": True}
