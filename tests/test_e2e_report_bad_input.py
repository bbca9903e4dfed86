"""Bad input in the middle of a report: a clear answer in the user's language, the
draft kept, and no report row written."""

from __future__ import annotations

from datetime import timedelta

import pytest

from bot.core.access import Role
from tests.e2e_reports import count_reports, draft_photos, send_photos, start_at_photos
from tests.photos import photo

WORKER = 3001
GRID = "WL-WH-CZ-01"


@pytest.fixture
def tg_config() -> str:
    """Ten photos of one album are downloaded and hashed one by one; on a loaded machine
    (the quick run has two workers a core) that can take longer than the 0.2 s album wait
    of the other tests, which would answer the album in two parts."""
    return "[reports]\nalbum_wait_seconds = 1.0\n"


@pytest.fixture
async def worker(tg):
    await tg.add(WORKER, GRID, Role.WORKER, "网格员甲")
    return tg.server.user(WORKER)


async def test_text_sticker_and_voice_where_a_photo_is_expected(tg, worker):
    await start_at_photos(worker, "WL-301")
    for send in (
        lambda: worker.send_text("照片稍后补"),
        worker.send_sticker,
        worker.send_voice,
    ):
        await send()
        reply = await worker.next_reply("sendMessage")
        assert "请发送照片（最多 10 张）" in reply.text
        assert "请发送 1–10 张" in (await worker.next_reply("sendMessage")).text  # asked again
    more = await send_photos(worker, [photo(1)])
    assert "已有 1 张照片" in more.text  # the same draft, still at its step
    assert await count_reports(tg) == 0


async def test_a_file_that_is_not_an_image_and_a_fake_image(tg, worker):
    await start_at_photos(worker, "WL-302")
    await worker.send_document(b"%PDF-1.4 not a photo", "scan.pdf", "application/pdf")
    assert "不是可识别的照片" in (await worker.next_reply("sendMessage")).text
    await worker.send_document(b"GIF89a but not really", "x.jpg", "image/jpeg")
    assert "不是可识别的照片" in (await worker.next_reply("sendMessage")).text
    assert await draft_photos(tg) == 0
    assert await count_reports(tg) == 0


async def test_a_file_over_the_download_limit_is_refused_without_downloading(tg, worker):
    await start_at_photos(worker, "WL-303")
    big = b"\xff\xd8\xff" + b"\0" * (20 * 1024 * 1024 + 10)
    await worker.send_document(big, "huge.jpg", "image/jpeg")
    assert "文件超过 20 MB" in (await worker.next_reply("sendMessage")).text
    assert not tg.server.calls_to("getFile")
    assert await count_reports(tg) == 0


async def test_an_image_sent_as_a_file_is_accepted_with_its_exif(tg, worker):
    from tests.photos import with_exif

    await start_at_photos(worker, "WL-304")
    await worker.send_document(
        with_exif(5, "2026:11:20 14:30:00", 33.01, 112.53), "a.jpg", "image/jpeg"
    )
    assert "共 1 张" in (await worker.next_reply("sendMessage")).text
    async with (
        tg.services.db.read() as conn,
        conn.execute("SELECT taken_at, gps_lat, gps_lon FROM evidence") as cur,
    ):
        taken, lat, lon = await cur.fetchone()
        assert (taken, round(lat, 3), round(lon, 3)) == ("2026-11-20T06:30:00Z", 33.01, 112.53)


async def test_a_phone_jpeg_with_extra_mpf_pictures_is_a_photo(tg, worker):
    from tests.photos import mpo

    await start_at_photos(worker, "WL-310")
    await worker.send_photo(mpo(7))
    assert "共 1 张" in (await worker.next_reply("sendMessage")).text
    await worker.send_document(mpo(9), "IMG_0001.jpg", "image/jpeg")
    assert "共 2 张" in (await worker.next_reply("sendMessage")).text
    async with (
        tg.services.db.read() as conn,
        conn.execute("SELECT format, width, height FROM evidence") as cur,
    ):
        assert [tuple(row) for row in await cur.fetchall()] == [("jpeg", 640, 480)] * 2


@pytest.mark.parametrize(
    ("taken", "offset"),
    [
        ("0001:01:01 00:00:00", None),  # before year 1 in UTC
        ("0001:01:01 12:00:00", None),  # year 1: no clock was ever set
        ("9999:12:31 23:59:59", "-05:00"),  # after year 9999 in UTC
        ("9999:12:31 23:59:59", None),  # year 9999: the calendar's end, not a time
    ],
)
async def test_an_unusable_exif_capture_time_is_ignored(tg, worker, taken, offset):
    from tests.photos import with_capture_time

    await start_at_photos(worker, "WL-311")
    await worker.send_document(with_capture_time(6, taken, offset), "a.jpg", "image/jpeg")
    assert "共 1 张" in (await worker.next_reply("sendMessage")).text
    async with (
        tg.services.db.read() as conn,
        conn.execute("SELECT taken_at FROM evidence") as cur,
    ):
        assert [tuple(row) for row in await cur.fetchall()] == [(None,)]


async def test_an_eleventh_photo_is_refused_and_ten_are_kept(tg, worker):
    await start_at_photos(worker, "WL-305")
    for seed in range(10):
        await worker.send_photo(photo(100 + seed), media_group_id="ten")
    assert "共 10 张" in (await worker.next_reply("sendMessage")).text
    await worker.next_reply("sendMessage")
    await worker.send_photo(photo(200))
    assert "最多 10 张照片" in (await worker.next_reply("sendMessage")).text
    assert await draft_photos(tg) == 10
    assert await count_reports(tg) == 0


async def test_forged_malformed_and_foreign_buttons(tg, worker):
    more = await start_at_photos(worker, "WL-306")
    for data in ("1:r:1:ok", "1:r:abc:ok:0", "1:r:1:rm:0", "9:r:1:ok:0", "1:r:1:ok:0:0", "💣"):
        await worker.press(more, data, strict=False)
        answer = await worker.next_reply("answerCallbackQuery")
        assert answer.params["text"] == "无法识别此按钮，请重新发送命令。", data
    # Someone else's draft (its id is not the presser's current draft): stale.
    await worker.press(more, "1:r:999:ok:0", strict=False)
    answer = await worker.next_reply("answerCallbackQuery")
    assert "已结束或已过期" in answer.params["text"]
    assert await count_reports(tg) == 0


async def test_an_expired_draft_says_so_and_its_buttons_are_stale(tg, worker):
    ask_photos = await start_at_photos(worker, "WL-307")
    await send_photos(worker, [photo(1)])
    tg.clock.advance(timedelta(hours=25))
    reply = await worker.ask("还在吗")
    assert "超过 24 小时未完成，已作废" in reply.text
    await worker.press(ask_photos, "1:r:1:pd:0", strict=False)
    assert "已结束或已过期" in (await worker.next_reply("answerCallbackQuery")).params["text"]
    assert await count_reports(tg) == 0


async def test_disabled_members_and_strangers_cannot_report(tg, worker):
    await tg.add(1001, "NY", Role.ADMIN, "市管理员")
    admin = tg.server.user(1001)
    await admin.ask(f"/disable {WORKER}")
    await worker.send_photo(photo(1))
    assert "已被停用" in (await worker.next_reply("sendMessage")).text
    assert "已被停用" in (await worker.ask("/report")).text
    stranger = tg.server.user(4004)
    await stranger.send_photo(photo(2))
    assert "还不是" in (await stranger.next_reply("sendMessage")).text
    assert "还不是" in (await stranger.ask("/report")).text
    assert await draft_photos(tg) == 0 and await count_reports(tg) == 0


async def test_the_same_update_delivered_twice_adds_one_photo(tg, worker):
    await start_at_photos(worker, "WL-308")
    update = await worker.send_photo(photo(1))
    tg.server.push("message", update["message"], chat_id=worker.chat_id)  # redelivered
    assert "共 1 张" in (await worker.next_reply("sendMessage")).text
    assert await draft_photos(tg) == 1
    assert await count_reports(tg) == 0


async def test_cancel_drops_the_draft(tg, worker):
    more = await start_at_photos(worker, "WL-309")
    assert "已取消本次上报" in (await worker.ask("/cancel")).text
    assert "没有进行中的操作" in (await worker.ask("/cancel")).text
    await worker.press(more, "1:r:1:st:0", strict=False)
    assert "已结束或已过期" in (await worker.next_reply("answerCallbackQuery")).params["text"]


async def test_a_photo_after_expiry_says_so_and_starts_a_new_report(tg, worker):
    await start_at_photos(worker, "WL-310")
    tg.clock.advance(timedelta(hours=25))
    await worker.send_photo(photo(3))
    assert "已作废；已为您开始新的上报" in (await worker.next_reply("sendMessage")).text
    assert "共 1 张" in (await worker.next_reply("sendMessage")).text
    assert await draft_photos(tg) == 1 and await count_reports(tg) == 0
