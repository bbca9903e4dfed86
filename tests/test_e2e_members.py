"""End to end: /invite limits, /members with page buttons, /disable and /enable."""

from __future__ import annotations

from bot.core.access import Role

NAMES = "甲乙丙丁戊己庚辛壬癸"


async def _fill(tg, count: int, unit: str = "WL-WH-CZ-01") -> None:
    for i in range(count):
        await tg.add(5000 + i, unit, Role.WORKER, f"网格员{NAMES[i % 10]}{NAMES[i // 10]}")


async def _press(user, message, data: str):
    """Press a button (even one the message does not offer) and return the answer."""
    await user.press(message, data, strict=False)
    return await user.next_reply(method="answerCallbackQuery")


async def _invites(tg) -> int:
    async with tg.services.db.read() as conn, conn.execute("SELECT count(*) FROM invite") as cur:
        return (await cur.fetchone())[0]


async def test_invite_refusals_change_nothing(tg):
    await tg.add(1002, "WL-WH", Role.LEAD, "街道负责人")
    lead = tg.server.user(1002)
    assert "不在您的管辖范围内" in (await lead.ask("/invite WC worker")).text
    assert "只能邀请网格员" in (await lead.ask("/invite WL-WH-CZ lead")).text
    assert "找不到编码为 NOPE 的单位" in (await lead.ask("/invite NOPE worker")).text
    assert "未知角色“boss”" in (await lead.ask("/invite WL-WH boss")).text
    assert "用法：/invite" in (await lead.ask("/invite")).text
    assert "用法：/invite" in (await lead.ask("/invite WL-WH worker many")).text
    assert "1 到 500" in (await lead.ask("/invite WL-WH worker 501")).text
    assert "1 到 90" in (await lead.ask("/invite WL-WH worker 1 365")).text
    assert await _invites(tg) == 0
    ok = await lead.ask("/invite WL-WH-CZ-02 网格员 3 2")
    assert "?start=" in ok.text and "角色：网格员" in ok.text
    assert await _invites(tg) == 1


async def test_members_pages_with_buttons_and_rejects_stale_or_forged_presses(tg):
    await tg.add(1001, "WL", Role.ADMIN, "区管理员")
    await _fill(tg, 25)
    await tg.add(9999, "WC", Role.WORKER, "外区网格员")
    admin = tg.server.user(1001)

    first = await admin.ask("/members")
    assert first.text.startswith("卧龙区 的成员：共 26 人（第 1/2 页）")
    assert "外区网格员" not in first.text
    assert [data for _, data in first.buttons] == ["1:mp:WL:1"]

    answer = await _press(admin, first, "1:mp:WL:1")
    assert answer.params.get("text") is None  # a quiet answer, then the edit
    edited = await admin.next_reply(method="editMessageText")
    assert "第 2/2 页" in edited.text and edited.text.count("\n") == 6
    assert [data for _, data in edited.buttons] == ["1:mp:WL:0"]

    stale = await _press(admin, first, "1:mp:WL:7")
    assert stale.params["text"] == "此按钮已失效，请重新发送命令。"
    forged = await _press(admin, first, "1:mp:WL:0;DROP TABLE member")
    assert forged.params["text"] == "无法识别此按钮，请重新发送命令。"
    foreign = await _press(admin, first, "1:mp:WC:0")
    assert foreign.params["text"] == "抱歉，宛城区 不在您的管辖范围内。"
    alien = await _press(admin, first, "something-else-entirely")
    assert alien.params["show_alert"] is True

    worker = tg.server.user(5000)
    # A worker's client forging a members-page payload under a message of their own chat.
    own = await worker.ask("/whoami")
    pressed = await _press(worker, own, "1:mp:WL:1")
    assert pressed.params["text"].startswith("抱歉，您没有使用 /members 的权限")


async def test_members_scope_and_usage(tg):
    await tg.add(1002, "WL-WH", Role.LEAD, "街道负责人")
    lead = tg.server.user(1002)
    assert "不在您的管辖范围内" in (await lead.ask("/members WL")).text
    assert "用法：/members" in (await lead.ask("/members WL WC")).text
    listed = await lead.ask("/members WL-WH-CZ")
    assert "暂无成员" in listed.text


async def test_disable_and_enable(tg):
    await tg.add(1001, "WL", Role.ADMIN, "区管理员")
    await tg.add(1002, "WL-WH", Role.LEAD, "街道负责人")
    await tg.add(3003, "WC", Role.WORKER, "外区网格员")
    admin = tg.server.user(1001)
    lead = tg.server.user(1002)

    assert "没有使用 /disable 的权限" in (await lead.ask("/disable 1001")).text
    assert "不在您的管辖范围内" in (await admin.ask("/disable 3003")).text
    assert "不能停用或启用您自己" in (await admin.ask("/disable 1001")).text
    assert "找不到 Telegram ID 为 42" in (await admin.ask("/disable 42")).text
    assert "应为数字" in (await admin.ask("/disable abc")).text
    assert "用法：/disable" in (await admin.ask("/disable")).text

    done = await admin.ask("/disable 1002")
    assert done.text.startswith("已停用：街道负责人")
    assert "已被停用" in (await lead.ask("/invite WL-WH worker")).text
    assert "状态：已停用" in (await lead.ask("/whoami")).text
    assert "已经是停用状态" in (await admin.ask("/disable 1002")).text
    members = await admin.ask("/members")
    assert "街道负责人 · 负责人 · 武侯街道（WL-WH）· ID 1002 · 已停用" in members.text

    assert (await admin.ask("/enable 1002")).text.startswith("已启用：街道负责人")
    assert "?start=" in (await lead.ask("/invite WL-WH worker")).text
