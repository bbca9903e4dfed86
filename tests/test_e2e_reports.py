"""The report flow end to end: the real Application against the Bot API test server."""

from __future__ import annotations

import hashlib
import re

from bot.botapi import ApiCall
from bot.core.access import Role
from tests.e2e_reports import count_reports, press, send_photos
from tests.photos import photo, recompressed

WORKER = 3001
GRID = "WL-WH-CZ-01"


async def report_new_site(tg, user, site: str, status: str, photos: list[bytes]) -> ApiCall:
    """Walk the whole flow for a new site; return the confirmation."""
    await user.send_text("/report")
    assert "开始巡查上报" in (await user.next_reply("sendMessage")).text
    ask_site = await user.next_reply("sendMessage")
    assert "编号" in ask_site.text
    found = await user.ask(site)
    assert "没有找到" in found.text
    ask_status = await press(user, found, f"➕ 新建地点“{site}”")
    ask_photos = await press(user, ask_status, status)
    assert "请发送 1–10 张" in ask_photos.text
    more = await send_photos(user, photos, album="album-1" if len(photos) > 1 else None)
    assert f"已有 {len(photos)} 张照片" in more.text
    ask_location = await press(user, more, f"✅ 照片已齐（{len(photos)} 张）")
    assert ask_location.params["reply_markup"]["keyboard"][0][0]["request_location"] is True
    await user.send_location(33.0, 112.5)
    assert "位置已记录" in (await user.next_reply("sendMessage")).text
    ask_note = await user.next_reply("sendMessage")
    summary = await press(user, ask_note, "跳过")
    assert "请核对" in summary.text and f"地点：{site}（新地点）" in summary.text
    return await press(user, summary, "✅ 提交")


async def test_album_on_a_new_site_then_a_recheck_changes_its_status(tg):
    await tg.add(WORKER, GRID, Role.WORKER, "网格员甲")
    worker = tg.server.user(WORKER)
    album = [photo(1), photo(2), photo(3)]
    done = await report_new_site(tg, worker, "WL-001", "已封停", album)
    assert "上报已提交，编号 R-000001" in done.text

    root = tg.services.config.evidence.path
    for data in album:
        sha = hashlib.sha256(data).hexdigest()
        assert (root / sha[:2] / sha).read_bytes() == data

    history = await worker.ask("/site WL-001")
    assert "当前状态：已封停" in history.text and "共 1 次上报" in history.text
    assert "已封停 网格员甲 3张" in history.text

    # A re-check: the site is offered as a recent one; the status changes.
    await worker.send_text("/report")
    await worker.next_reply("sendMessage")
    ask_site = await worker.next_reply("sendMessage")
    ask_status = await press(worker, ask_site, "WL-001 · 已封停")
    ask_photos = await press(worker, ask_status, "在用")
    assert "请发送" in ask_photos.text
    more = await send_photos(worker, [photo(4)])
    ask_location = await press(worker, more, "✅ 照片已齐（1 张）")
    await worker.send_location(33.0, 112.5)
    await worker.next_reply("sendMessage")
    await worker.next_reply("sendMessage")
    summary = await worker.ask("井口仍在使用，已告知业主")
    assert "（回头看）" in summary.text and "备注：井口仍在使用" in summary.text
    second = await press(worker, summary, "✅ 提交")
    assert "R-000002" in second.text and "回头看" in second.text
    history = await worker.ask("/site wl-001")
    assert "当前状态：在用" in history.text and "共 2 次上报" in history.text
    assert ask_location is not None


async def test_the_same_photo_again_is_flagged_and_so_is_a_recompressed_copy(tg):
    await tg.add(WORKER, GRID, Role.WORKER, "网格员甲")
    worker = tg.server.user(WORKER)
    original = photo(7)
    first = await report_new_site(tg, worker, "WL-101", "在用", [original])
    assert "R-000001" in first.text and "⚠️" not in first.text

    same = await report_new_site(tg, worker, "WL-102", "在用", [original])
    assert "R-000002" in same.text
    assert "重复照片" in same.text and "R-000001" in same.text

    copy = recompressed(original)
    assert copy != original
    near = await report_new_site(tg, worker, "WL-103", "在用", [copy])
    assert "R-000003" in near.text and "疑似重复照片" in near.text

    fresh = await report_new_site(tg, worker, "WL-104", "在用", [photo(8)])
    assert "⚠️" not in fresh.text
    async with (
        tg.services.db.read() as conn,
        conn.execute("SELECT report_id, kind, detail FROM report_flag ORDER BY 1") as cur,
    ):
        flags = [tuple(row) for row in await cur.fetchall()]
    assert flags == [(2, "duplicate_photo", "R-000001"), (3, "similar_photo", "R-000001")]


async def test_pressing_submit_twice_makes_one_report(tg):
    await tg.add(WORKER, GRID, Role.WORKER, "网格员甲")
    worker = tg.server.user(WORKER)
    await worker.send_text("/report")
    await worker.next_reply("sendMessage")
    ask_site = await worker.next_reply("sendMessage")
    found = await worker.ask("WL-201")
    ask_status = await press(worker, found, "➕ 新建地点“WL-201”")
    await press(worker, ask_status, "在用")
    more = await send_photos(worker, [photo(11)])
    ask_location = await press(worker, more, "✅ 照片已齐（1 张）")
    await worker.send_location(33.0, 112.5)
    await worker.next_reply("sendMessage")
    summary = await press(worker, await worker.next_reply("sendMessage"), "跳过")
    submit = next(
        b["callback_data"]
        for row in summary.params["reply_markup"]["inline_keyboard"]
        for b in row
        if b["text"] == "✅ 提交"
    )
    await worker.press(summary, submit)
    await worker.press(summary, submit, strict=False)  # the double tap, before any edit
    replies = [await worker.next_reply("sendMessage") for _ in range(2)]
    texts = sorted(r.text for r in replies)
    assert "✅ 上报已提交，编号 R-000001。" in texts
    assert any("上报已提交，编号 R-000001。（这份上报之前已提交过" in t for t in texts)
    assert await count_reports(tg) == 1
    assert ask_site and ask_location


async def test_two_workers_interleaved_each_get_their_own_report_in_order(tg):
    await tg.add(WORKER, GRID, Role.WORKER, "网格员甲")
    await tg.add(WORKER + 1, "WL-WH-CZ-02", Role.WORKER, "网格员乙")
    a, b = tg.server.user(WORKER), tg.server.user(WORKER + 1)
    # Both start with an album; updates of one chat arrive in order, the chats mix.
    for i in range(3):
        await a.send_photo(photo(20 + i), media_group_id="a")
        await b.send_photo(photo(30 + i), media_group_id="b")
    for user in (a, b):
        assert "共 3 张" in (await user.next_reply("sendMessage")).text
    ask_a = await a.next_reply("sendMessage")
    ask_b = await b.next_reply("sendMessage")
    found_a, found_b = await a.ask("A-1"), await b.ask("B-1")
    status_a = await press(a, found_a, "➕ 新建地点“A-1”")
    status_b = await press(b, found_b, "➕ 新建地点“B-1”")
    photos_a = await press(a, status_a, "在用")
    photos_b = await press(b, status_b, "已封停")
    loc_a = await press(a, photos_a, "✅ 照片已齐（3 张）")
    loc_b = await press(b, photos_b, "✅ 照片已齐（3 张）")
    await a.send_location(33.0, 112.5)
    await b.send_location(33.1, 112.6)
    for user in (a, b):
        await user.next_reply("sendMessage")
    note_a, note_b = await a.next_reply("sendMessage"), await b.next_reply("sendMessage")
    sum_a, sum_b = await press(a, note_a, "跳过"), await press(b, note_b, "跳过")
    done_a, done_b = await press(a, sum_a, "✅ 提交"), await press(b, sum_b, "✅ 提交")
    numbers = {re.search(r"R-\d+", done_a.text)[0], re.search(r"R-\d+", done_b.text)[0]}
    assert numbers == {"R-000001", "R-000002"}
    async with (
        tg.services.db.read() as conn,
        conn.execute(
            "SELECT m.name, s.code, r.status, COUNT(p.position) FROM report r "
            "JOIN member m ON m.id = r.member_id JOIN site s ON s.id = r.site_id "
            "JOIN report_photo p ON p.report_id = r.id GROUP BY r.id, m.name, s.code "
            "ORDER BY m.name"
        ) as cur,
    ):
        rows = [tuple(row) for row in await cur.fetchall()]
    assert rows == [("网格员乙", "B-1", "sealed", 3), ("网格员甲", "A-1", "in_use", 3)]
    assert ask_a and ask_b and loc_a and loc_b


async def test_a_slow_download_holds_up_its_own_chat_only(tg):
    await tg.add(WORKER, GRID, Role.WORKER, "网格员甲")
    await tg.add(WORKER + 1, "WL-WH-CZ-02", Role.WORKER, "网格员乙")
    a, b = tg.server.user(WORKER), tg.server.user(WORKER + 1)
    tg.server.delay_next("getFile", 1.5)
    await a.send_photo(photo(40))
    await a.send_text("/myreports")  # same chat: must wait for the photo to be stored
    started = tg.server.mark()
    whoami = await b.ask("/whoami")  # another chat: answered while A's download hangs
    assert "网格员乙" in whoami.text
    a_calls = [c for c in tg.server.calls[started:] if c.chat_id == a.chat_id]
    assert a_calls == [], "chat A was answered before its slow photo finished"
    replies = [await a.next_reply("sendMessage") for _ in range(3)]
    assert "我的上报" in replies[0].text or "还没有上报记录" in replies[0].text
    assert any("已收到照片，共 1 张" in r.text for r in replies[1:])


async def test_a_photo_with_a_caption_starts_a_report_and_becomes_its_note(tg):
    await tg.add(WORKER, GRID, Role.WORKER, "网格员甲")
    worker = tg.server.user(WORKER)
    await worker.send_photo(photo(60), caption="井盖已焊死")
    assert "共 1 张" in (await worker.next_reply("sendMessage")).text
    ask_site = await worker.next_reply("sendMessage")
    assert "编号" in ask_site.text
    resumed = await worker.ask_all("/report", 2)
    assert "继续您未完成的上报" in resumed[0].text and "编号" in resumed[1].text
    found = await worker.ask("WL-601")
    ask_status = await press(worker, found, "➕ 新建地点“WL-601”")
    more = await press(worker, ask_status, "已封停")
    assert "已有 1 张照片" in more.text
    ask_location = await press(worker, more, "✅ 照片已齐（1 张）")
    await worker.send_location(33.0, 112.5)
    await worker.next_reply("sendMessage")
    summary = await worker.next_reply("sendMessage")  # no note step: the caption is the note
    assert "备注：井盖已焊死" in summary.text and ask_location


async def test_change_a_step_from_the_summary_search_and_clear_photos(tg):
    await tg.add(WORKER, GRID, Role.WORKER, "网格员甲")
    worker = tg.server.user(WORKER)
    await report_new_site(tg, worker, "崔庄村东井", "在用", [photo(70)])
    # A second report: the typed text finds the existing site.
    await worker.send_text("/report")
    await worker.next_reply("sendMessage")
    await worker.next_reply("sendMessage")
    found = await worker.ask("村东")
    assert "找到 1 个包含“村东”的地点" in found.text
    ask_status = await press(worker, found, "崔庄村东井 · 在用")
    ask_photos = await press(worker, ask_status, "已封停")
    more = await send_photos(worker, [photo(71), photo(72)], album="x")
    again = await press(worker, more, "🗑 清空照片重新上传")
    assert "请发送 1–10 张" in again.text
    more = await send_photos(worker, [photo(73)])
    ask_location = await press(worker, more, "✅ 照片已齐（1 张）")
    await worker.send_location(33.0, 112.5)
    await worker.next_reply("sendMessage")
    summary = await press(worker, await worker.next_reply("sendMessage"), "跳过")
    assert "状态：已封停" in summary.text and "照片：1 张" in summary.text
    await worker.press_label(summary, "✏️ 修改")
    steps = await worker.next_reply("editMessageReplyMarkup")
    labels = [b["text"] for row in steps.params["reply_markup"]["inline_keyboard"] for b in row]
    assert labels == ["地点", "状态", "照片", "位置", "备注", "↩ 返回"]
    ask_status = await press(worker, summary, "状态")
    summary = await press(worker, ask_status, "在用")  # everything else is done: the card
    assert "状态：在用" in summary.text and "（回头看）" in summary.text
    done = await press(worker, summary, "✅ 提交")
    assert "R-000002" in done.text
    assert ask_photos and ask_location and more is not None
