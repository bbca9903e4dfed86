"""Regressions for what tests/test_fuzz.py found, each reduced to the few updates it takes."""

from __future__ import annotations

import logging

from bot.core.access import Role
from tests.photos import photo
from tests.test_e2e_reports import report_new_site
from tests.test_ranking import submit

WL_WORKER, WC_WORKER, LEAD = 3001, 3002, 2001


async def test_a_reused_photo_does_not_name_a_report_outside_the_scope(tg):
    """The duplicate-photo warning named the earlier report city-wide: a Wancheng worker
    learnt the numbers of Wolong's reports. Now it says "another unit's report"."""
    await tg.add(WL_WORKER, "WL-WH-CZ-01", Role.WORKER, "卧龙网格员")
    await tg.add(WC_WORKER, "WC-XH-XH-01", Role.WORKER, "宛城网格员")
    wolong, wancheng = tg.server.user(WL_WORKER), tg.server.user(WC_WORKER)
    reused = photo(31)
    first = await report_new_site(tg, wolong, "WL-501", "在用", [reused])
    assert "R-000001" in first.text

    second = await report_new_site(tg, wancheng, "WC-501", "在用", [reused])
    assert "R-000002" in second.text
    assert "重复照片" in second.text and "其他单位" in second.text
    seen = [c.text for c in tg.server.calls if c.chat_id == WC_WORKER]
    assert seen and not any("R-000001" in t for t in seen), seen
    # The flag keeps the number for those who may see it: the same worker's own reuse.
    again = await report_new_site(tg, wolong, "WL-502", "在用", [reused])
    assert "重复照片" in again.text and "R-000001" in again.text
    async with (
        tg.services.db.read() as conn,
        conn.execute("SELECT report_id, detail FROM report_flag ORDER BY 1") as cur,
    ):
        assert [tuple(r) for r in await cur.fetchall()] == [(2, "R-000001"), (3, "R-000001")]


async def test_cancel_while_receiving_a_tip(tg, caplog):
    """/cancel in the middle of /tip dropped the draft and then failed on the missing
    catalogue key ``cancel.done.tip``: the person got an apology instead."""
    await tg.add(LEAD, "WL-WH", Role.LEAD, "街道负责人")
    lead = tg.server.user(LEAD)
    await lead.send_text("/tip")
    assert "开始受理" in (await lead.next_reply("sendMessage")).text
    await lead.next_reply("sendMessage")
    with caplog.at_level(logging.ERROR):
        assert "已取消本次线索受理" in (await lead.ask("/cancel")).text
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert "没有进行中的操作" in (await lead.ask("/cancel")).text


async def test_a_page_button_on_a_message_that_is_gone(tg, caplog):
    """Turning a page of /myreports on a message that no longer exists raised
    "message to edit not found" into the error handler; now the press is just answered."""
    member = await tg.add(WL_WORKER, "WL-WH-CZ-01", Role.WORKER, "卧龙网格员")
    worker = tg.server.user(WL_WORKER)
    for n in range(12):  # two pages (the report flow itself is tested in test_e2e_reports)
        await submit(tg.services, member, f"WL-6{n:02d}", seed=200 + n)
    listing = await worker.ask("/myreports")
    page_two = next(data for _, data in listing.buttons if data and data.endswith(":1"))
    gone = {**listing.message, "reply_markup": listing.params["reply_markup"]}
    tg.server.forget_message(WL_WORKER, gone["message_id"])  # deleted while pressed
    with caplog.at_level(logging.ERROR):
        query = await _press_gone(tg, worker, gone, page_two)
        await tg.server.wait_for(
            lambda c: c.params.get("callback_query_id") == query, method="answerCallbackQuery"
        )
        await worker.ask("/whoami")  # later updates are handled
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


async def _press_gone(tg, user, message: dict, data: str) -> str:
    from bot.botapi.updates import callback_query_json

    query_id = str(4000000000000000000 + tg.server.new_id())
    user.queries.add(query_id)
    tg.server.open_queries.add(query_id)
    tg.server.push(
        "callback_query",
        callback_query_json(query_id, user.user, message, data, "1"),
        chat_id=user.chat_id,
    )
    return query_id
