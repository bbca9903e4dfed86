"""Steps of the report flow shared by the end-to-end tests."""

from __future__ import annotations

from bot.botapi import ApiCall


async def count_reports(tg) -> int:
    async with tg.services.db.read() as conn, conn.execute("SELECT COUNT(*) FROM report") as cur:
        return (await cur.fetchone())[0]


async def draft_photos(tg) -> int:
    async with (
        tg.services.db.read() as conn,
        conn.execute("SELECT COUNT(*) FROM draft_photo") as cur,
    ):
        return (await cur.fetchone())[0]


async def press(user, message: ApiCall, label: str, timeout: float = 5.0) -> ApiCall:
    """Press the button labelled ``label`` and return the bot's next message."""
    await user.press_label(message, label)
    return await user.next_reply("sendMessage", timeout=timeout)


async def send_photos(user, datas: list[bytes], album: str | None = None) -> ApiCall:
    """Send photos (as an album when ``album`` is given); return the question asked after
    the photo count."""
    for data in datas:
        await user.send_photo(data, media_group_id=album)
    received = await user.next_reply("sendMessage")
    assert "已收到照片" in received.text, received.text
    return await user.next_reply("sendMessage")


async def start_at_photos(user, site: str, status: str = "在用", timeout: float = 5.0) -> ApiCall:
    """/report, a new site, a status: return the request for photos."""
    await user.send_text("/report")
    await user.next_reply("sendMessage", timeout=timeout)
    await user.next_reply("sendMessage", timeout=timeout)
    found = await user.ask(site, timeout=timeout)
    ask_status = await press(user, found, f"➕ 新建地点“{site}”", timeout)
    ask_photos = await press(user, ask_status, status, timeout)
    assert "请发送 1–10 张" in ask_photos.text
    return ask_photos
