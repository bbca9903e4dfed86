"""Access end to end (issue 14, items 9–12): invite links die with their maker's standing
and can be revoked with /invites; a link moves only someone its maker could manage, and
only once they confirm; /close and a forged 提交 give nothing away; who may read a tip."""

from __future__ import annotations

import re

from bot.core.access import Role
from tests.e2e_reports import press, send_photos
from tests.e2e_tips import receive
from tests.photos import photo

LINK = re.compile(r"\?start=([A-Za-z0-9_-]+)")
ADMIN, STREET_ADMIN, LEAD, WORKER = 1001, 1002, 2001, 3001
DEAD = "这个邀请链接已失效，请向负责人重新索取。"


async def _invite(user, args: str) -> str:
    reply = await user.ask(f"/invite {args}")
    match = LINK.search(reply.text)
    assert match, reply.text
    return match[1]


async def _member(tg, telegram_id: int) -> tuple[str, str] | None:
    member = await tg.services.members.by_telegram_id(telegram_id)
    return (member.unit_code, member.role) if member else None


async def _uses(tg) -> list[int]:
    async with (
        tg.services.db.read() as conn,
        conn.execute("SELECT uses FROM invite ORDER BY id") as cur,
    ):
        return [row[0] for row in await cur.fetchall()]


async def _answer(user) -> str:
    return str((await user.next_reply("answerCallbackQuery")).params.get("text") or "")


async def _confirm(user, asked) -> str:
    """Press 确认调动 under a move question; the bot's next message."""
    await user.press_label(asked, "确认调动")
    await _answer(user)
    return (await user.next_reply("sendMessage")).text


# ---------------------------------------------------------------- item 9


async def test_a_link_stops_once_its_maker_is_disabled_moved_or_demoted(tg):
    """Fails on main: each link kept admitting people after its maker lost their place."""
    await tg.add(ADMIN, "NY", Role.ADMIN, "市管理员")
    admin = tg.server.user(ADMIN)
    makers = {}
    for telegram_id, name in ((2001, "甲负责人"), (2002, "乙负责人"), (2003, "丙负责人")):
        await tg.add(telegram_id, "WL-WH", Role.LEAD, name)
        makers[telegram_id] = tg.server.user(telegram_id)
    links = {i: await _invite(user, "WL-WH-CZ worker 5") for i, user in makers.items()}
    half_joined = tg.server.user(5009)  # opened 2001's link before 2001 was disabled
    assert "真实姓名" in (await half_joined.ask(f"/start {links[2001]}")).text

    assert "已停用" in (await admin.ask("/disable 2001")).text  # disabled
    await tg.add(2002, "WL-QY", Role.LEAD, "乙负责人")  # moved to another street
    await tg.add(2003, "WL-WH", Role.WORKER, "丙负责人")  # now a worker: makes no links

    for number, token in enumerate(links.values()):
        stranger = tg.server.user(5000 + number)
        assert (await stranger.ask(f"/start {token}")).text.startswith(DEAD)
    assert (await half_joined.ask("王小明")).text == DEAD
    assert "已启用" in (await admin.ask("/enable 2001")).text  # coming back revives nothing
    assert (await tg.server.user(5005).ask(f"/start {links[2001]}")).text.startswith(DEAD)
    assert [await _member(tg, i) for i in (5000, 5001, 5002, 5005, 5009)] == [None] * 5
    assert await _uses(tg) == [0, 0, 0]

    # A link whose maker still stands keeps working.
    await tg.add(2004, "WL-WH", Role.LEAD, "丁负责人")
    token = await _invite(tg.server.user(2004), "WL-WH-CZ worker")
    joiner = tg.server.user(5010)
    await joiner.ask(f"/start {token}")
    assert "加入成功" in (await joiner.ask("赵小红")).text


async def test_invites_lists_open_links_in_scope_and_a_button_revokes_one(tg):
    """Fails on main: there is no /invites."""
    await tg.add(ADMIN, "NY", Role.ADMIN, "市管理员")
    await tg.add(LEAD, "WL-WH", Role.LEAD, "街道负责人")
    await tg.add(WORKER, "WL-WH-CZ", Role.WORKER, "社区网格员")
    admin, lead, worker = (tg.server.user(i) for i in (ADMIN, LEAD, WORKER))
    own = await _invite(lead, "WL-WH-CZ-01 worker 3 2")
    await _invite(admin, "WL-WH-CZ worker")  # a worker link in the lead's street
    await _invite(admin, "WL-WH lead")  # a lead link: not the lead's to see
    outside = await _invite(admin, "WC worker")
    used = await _invite(lead, "WL-WH-CZ worker 1")
    await tg.server.user(5001).ask(f"/start {used}")
    await tg.server.user(5001).ask("钱小二")

    listed = await lead.ask("/invites")
    lines = listed.text.splitlines()
    assert lines[0] == "您辖区内有效的邀请链接：共 2 个"
    assert lines[1].startswith("#2 · 崔庄社区（WL-WH-CZ）· 网格员 · 已用 0/1 次 · 有效期至 ")
    assert lines[1].endswith("· 创建人：市管理员")
    assert lines[2].startswith("#1 · 崔庄社区第一网格（WL-WH-CZ-01）· 网格员 · 已用 0/3 次")
    assert lines[2].endswith("· 创建人：街道负责人") and len(lines) == 3
    assert [label for label, _ in listed.buttons] == ["撤销 #2", "撤销 #1"]
    assert "负责人 ·" not in listed.text and "宛城" not in listed.text

    everything = await admin.ask("/invites")
    assert "共 4 个" in everything.text and "宛城区（WC）" in everything.text

    await lead.press(listed, "1:iv:1:0")
    assert await _answer(lead) == "已撤销邀请链接 #1（崔庄社区第一网格，网格员）。"
    edited = await lead.next_reply("editMessageText")
    assert "共 1 个" in edited.text and [b for b, _ in edited.buttons] == ["撤销 #2"]
    assert (await tg.server.user(5002).ask(f"/start {own}")).text.startswith(DEAD)

    stale = "这个邀请链接已失效或已被撤销，请重新发送 /invites。"
    await lead.press(listed, "1:iv:1:0", strict=False)  # the old keyboard, pressed again
    assert await _answer(lead) == stale
    await lead.press(listed, "1:iv:4:0", strict=False)  # forged: 宛城区's link
    assert await _answer(lead) == stale
    await lead.press(listed, "1:iv:3:0", strict=False)  # forged: a lead link in their street
    assert await _answer(lead) == stale
    await lead.press(listed, "1:iv:x", strict=False)
    assert await _answer(lead) == "无法识别此按钮，请重新发送命令。"
    await worker.press(await worker.ask("/whoami"), "1:iv:2:0", strict=False)
    assert "没有使用 /invites 的权限" in await _answer(worker)
    assert "没有使用 /invites 的权限" in (await worker.ask("/invites")).text
    assert "真实姓名" in (await tg.server.user(5003).ask(f"/start {outside}")).text

    async with tg.services.db.read() as conn, conn.execute("SELECT action FROM audit") as cur:
        assert [r[0] for r in await cur.fetchall()].count("invite.revoked") == 1


def _ids(message) -> list[int]:
    """The link numbers a /invites page lists, top to bottom."""
    return [int(line.split(" ")[0][1:]) for line in message.text.splitlines()[1:]]


def _down(first: int, last: int) -> list[int]:
    return list(range(first, last - 1, -1))


async def test_invites_pages_a_long_list_with_buttons(tg):
    """Fails before paging (issue 14, item 15): /invites showed the newest 20 links with
    no way to reach the others."""
    await tg.add(LEAD, "WL-WH", Role.LEAD, "街道负责人")
    await tg.add(WORKER, "WL-WH-CZ", Role.WORKER, "社区网格员")
    maker = await tg.services.members.by_telegram_id(LEAD)
    for _ in range(45):
        await tg.services.invites.create(maker, "WL-WH-CZ", "worker")
    lead, worker = tg.server.user(LEAD), tg.server.user(WORKER)

    listed = await lead.ask("/invites")
    assert listed.text.splitlines()[0] == "您辖区内有效的邀请链接：共 45 个（第 1/3 页）"
    assert _ids(listed) == _down(45, 26)
    assert listed.buttons[-1] == ("下一页 »", "1:ip:1")
    assert [data for _, data in listed.buttons[:-1]] == [f"1:iv:{i}:0" for i in _down(45, 26)]

    await lead.press(listed, "1:ip:1")
    assert await _answer(lead) == ""  # a quiet answer, then the page
    second = await lead.next_reply("editMessageText")
    assert second.text.splitlines()[0] == "您辖区内有效的邀请链接：共 45 个（第 2/3 页）"
    assert _ids(second) == _down(25, 6)
    assert second.buttons[-2:] == [("« 上一页", "1:ip:0"), ("下一页 »", "1:ip:2")]
    await lead.press(listed, "1:ip:2")
    await _answer(lead)
    third = await lead.next_reply("editMessageText")
    assert "（第 3/3 页）" in third.text and _ids(third) == _down(5, 1)
    assert [data for _, data in third.buttons] == [
        *(f"1:iv:{i}:2" for i in _down(5, 1)),
        "1:ip:1",
    ]
    await lead.press(listed, "1:ip:1")  # back again
    await _answer(lead)
    assert _ids(await lead.next_reply("editMessageText")) == _down(25, 6)

    # Revoking on page 2 draws page 2 again, one link further down the list.
    await lead.press(listed, "1:iv:10:1")
    assert await _answer(lead) == "已撤销邀请链接 #10（崔庄社区，网格员）。"
    redrawn = await lead.next_reply("editMessageText")
    assert redrawn.text.splitlines()[0] == "您辖区内有效的邀请链接：共 44 个（第 2/3 页）"
    assert _ids(redrawn) == [*_down(25, 11), *_down(9, 5)]
    assert ("撤销 #5", "1:iv:5:1") in redrawn.buttons

    # Emptying the last page draws the one before it.
    await lead.press(listed, "1:ip:2")
    await _answer(lead)
    assert _ids(await lead.next_reply("editMessageText")) == _down(4, 1)
    for number in _down(4, 2):
        await lead.press(listed, f"1:iv:{number}:2")
        await _answer(lead)
        assert _ids(await lead.next_reply("editMessageText")) == _down(number - 1, 1)
    await lead.press(listed, "1:iv:1:2")
    assert await _answer(lead) == "已撤销邀请链接 #1（崔庄社区，网格员）。"
    last = await lead.next_reply("editMessageText")
    assert last.text.splitlines()[0] == "您辖区内有效的邀请链接：共 40 个（第 2/2 页）"
    assert _ids(last) == [*_down(25, 11), *_down(9, 5)]
    assert last.buttons[-1] == ("« 上一页", "1:ip:0")

    # A page that is not there (forged, or gone since the list shrank) is stale.
    stale = "此按钮已失效，请重新发送命令。"
    for data in ("1:ip:2", "1:ip:7", "1:ip:100000"):
        await lead.press(listed, data, strict=False)
        assert await _answer(lead) == stale
    for data in ("1:ip:-1", "1:ip:x", "1:ip:1:1", "1:ip:100001"):
        await lead.press(listed, data, strict=False)
        assert await _answer(lead) == "无法识别此按钮，请重新发送命令。"

    # A worker's client forging the lead's page button is refused; so is the lead once
    # demoted, under the very list they were shown.
    await worker.press(await worker.ask("/whoami"), "1:ip:1", strict=False)
    assert (await _answer(worker)).startswith("抱歉，您没有使用 /invites 的权限")
    english = tg.server.user(2002)
    await tg.add(2002, "WL-WH", Role.LEAD, "英文负责人")
    await english.ask("/lang en")
    shown = await english.ask("/invites")
    assert shown.text.splitlines()[0] == "Open invite links in your area: 40 (page 1/2)"
    assert shown.buttons[-1] == ("Next »", "1:ip:1")
    await tg.add(LEAD, "WL-WH", Role.WORKER, "街道负责人")
    await lead.press(listed, "1:ip:0")
    assert (await _answer(lead)).startswith("抱歉，您没有使用 /invites 的权限")
    await lead.press(listed, "1:iv:25:1", strict=False)
    assert (await _answer(lead)).startswith("抱歉，您没有使用 /invites 的权限")
    assert len(await tg.services.invites.open_links(maker)) == 0  # maker demoted: all dead
    async with tg.services.db.read() as conn, conn.execute("SELECT action FROM audit") as cur:
        assert [r[0] for r in await cur.fetchall()].count("invite.revoked") == 5


# ---------------------------------------------------------------- item 10


async def test_a_leads_worker_link_cannot_demote_an_admin_or_a_lead(tg):
    """Fails on main: the street's admin became a worker at once."""
    await tg.add(LEAD, "WL-WH", Role.LEAD, "街道负责人")
    await tg.add(STREET_ADMIN, "WL-WH", Role.ADMIN, "街道管理员")
    await tg.add(2002, "WL-WH-CZ", Role.LEAD, "社区负责人")
    token = await _invite(tg.server.user(LEAD), "WL-WH-CZ-01 worker 5")
    for telegram_id in (STREET_ADMIN, 2002):
        refused = await tg.server.user(telegram_id).ask(f"/start {token}")
        assert "这个邀请链接不能调动您" in refused.text
    assert await _member(tg, STREET_ADMIN) == ("WL-WH", "admin")
    assert await _member(tg, 2002) == ("WL-WH-CZ", "lead")
    assert await _uses(tg) == [0]


async def test_moving_an_existing_member_waits_for_their_confirmation(tg):
    """Fails on main: opening the link moved the member at once, with no question."""
    await tg.add(ADMIN, "NY", Role.ADMIN, "市管理员")
    await tg.add(WORKER, "WL-WH-CZ", Role.WORKER, "社区网格员")
    admin, worker = tg.server.user(ADMIN), tg.server.user(WORKER)
    token = await _invite(admin, "WL-WH-CZ-01 worker 2")

    asked = await worker.ask(f"/start {token}")
    assert asked.text.startswith("您目前是 崔庄社区 的网格员。")
    assert "崔庄社区第一网格" in asked.text and "在您确认前不会有任何变化" in asked.text
    assert [label for label, _ in asked.buttons] == ["确认调动", "取消"]
    assert await _member(tg, WORKER) == ("WL-WH-CZ", "worker") and await _uses(tg) == [0]

    await worker.press_label(asked, "取消")
    await _answer(worker)
    assert (await worker.next_reply("sendMessage")).text == "已取消，您的单位和角色没有变化。"
    assert await _member(tg, WORKER) == ("WL-WH-CZ", "worker") and await _uses(tg) == [0]
    await worker.press(asked, asked.buttons[0][1], strict=False)  # 确认 after 取消: stale
    assert await _answer(worker) == "这个调动确认已失效，请重新点开邀请链接。"
    assert await _member(tg, WORKER) == ("WL-WH-CZ", "worker")

    again = await worker.ask(f"/start {token}")
    assert "调动成功" in await _confirm(worker, again)
    assert await _member(tg, WORKER) == ("WL-WH-CZ-01", "worker") and await _uses(tg) == [1]
    await worker.press(again, again.buttons[0][1], strict=False)  # pressed twice
    assert await _answer(worker) == "这个调动确认已失效，请重新点开邀请链接。"
    assert await _uses(tg) == [1]

    # Checked again on the press: the link revoked between the question and the answer.
    other = await _invite(admin, "WL-WH-CZ-02 worker")
    asked = await worker.ask(f"/start {other}")
    listed = await admin.ask("/invites")
    await admin.press(listed, f"1:iv:{asked.buttons[0][1].split(':')[2]}:0")
    await _answer(admin)
    await worker.press_label(asked, "确认调动")
    assert await _answer(worker) == DEAD
    assert await _member(tg, WORKER) == ("WL-WH-CZ-01", "worker")


# ---------------------------------------------------------------- item 11


async def test_close_outside_scope_answers_as_tip_does(tg):
    """Fails on main: /close named the unit of a tip the caller cannot see."""
    await tg.add(LEAD, "WL-WH", Role.LEAD, "街道负责人")
    await tg.add(3009, "WC-XH-XH", Role.WORKER, "宛城网格员")
    lead, other = tg.server.user(LEAD), tg.server.user(3009)
    number = await receive(lead)
    await lead.ask(f"/assign {number} WL-WH-CZ 24")
    for ask in (f"/close {number}", f"/tip {number}"):
        assert (await other.ask(ask)).text == f"没有找到您管辖范围内编号为“{number}”的线索。"
    await other.press(await other.ask("/whoami"), "1:ta:1:ack", strict=False)  # forged 接单
    assert await _answer(other) == "此按钮或操作已失效（线索状态已变化或草稿已结束）。"
    assert "崔庄" not in "".join(c.text for c in tg.server.calls_to("sendMessage", 3009))


async def test_a_forged_submit_of_another_workers_report_is_stale(tg):
    """Fails on main: the press answered with the other worker's report number."""
    await tg.add(WORKER, "WL-WH-CZ-01", Role.WORKER, "网格员甲")
    await tg.add(3002, "WL-WH-CZ-02", Role.WORKER, "网格员乙")
    first, second = tg.server.user(WORKER), tg.server.user(3002)
    await first.send_text("/report")
    await first.next_reply("sendMessage")
    await first.next_reply("sendMessage")
    found = await first.ask("WL-301")
    ask_status = await press(first, found, "➕ 新建地点“WL-301”")
    await press(first, ask_status, "在用")
    more = await send_photos(first, [photo(31)])
    await press(first, more, "✅ 照片已齐（1 张）")
    await first.send_location(33.0, 112.5)
    await first.next_reply("sendMessage")
    summary = await press(first, await first.next_reply("sendMessage"), "跳过")
    submit = next(data for label, data in summary.buttons if label == "✅ 提交")
    assert "R-000001" in (await press(first, summary, "✅ 提交")).text

    await second.send_text("/report")  # a draft of their own, too
    await second.next_reply("sendMessage")
    await second.next_reply("sendMessage")
    await second.press(await second.ask("/whoami"), submit, strict=False)
    answer = await _answer(second)
    assert answer == "此按钮属于已结束或已过期的上报，请发送 /report 查看当前上报。"
    shown = [c.text for c in tg.server.calls_to("sendMessage", 3002)]
    assert not any("R-000001" in text for text in shown)


# ---------------------------------------------------------------- item 12


async def test_who_may_read_a_tip(tg):
    """Fails on main: /tip was for leads only, so no worker could read a tip."""
    await tg.add(ADMIN, "NY", Role.ADMIN, "市管理员")
    await tg.add(LEAD, "WL-WH", Role.LEAD, "街道负责人")
    await tg.add(WORKER, "WL-WH-CZ", Role.WORKER, "社区网格员")
    await tg.add(3002, "WL-WH-CZ", Role.WORKER, "社区网格员乙")
    await tg.add(3003, "WL-WH-CZ-01", Role.WORKER, "网格员丙")  # below: not their unit's
    await tg.add(3009, "WC-XH-XH", Role.WORKER, "宛城网格员")
    admin, lead, worker, second = (tg.server.user(i) for i in (ADMIN, LEAD, WORKER, 3002))
    number = await receive(lead)
    assert "已通知 2 人" in (await lead.ask(f"/assign {number} WL-WH-CZ 24")).text
    assert number in (await tg.server.wait_for(method="sendMessage", chat_id=3002)).text
    notice = await tg.server.wait_for(method="sendMessage", chat_id=WORKER)
    await worker.press_label(notice, "✅ 接单")
    await _answer(worker)
    await worker.next_reply("sendMessage")

    card = await worker.ask(f"/tip {number}")  # assigned to their own unit
    assert card.text.startswith(f"📋 线索 {number}") and "13800000000" not in card.text
    assert "13800000000" not in (await lead.ask(f"/tip {number}")).text
    assert "13800000000" in (await admin.ask(f"/tip {number}")).text  # admins only
    hidden = f"没有找到您管辖范围内编号为“{number}”的线索。"
    for outsider in (3003, 3009):
        assert (await tg.server.user(outsider).ask(f"/tip {number}")).text == hidden

    # Moved away, the one who accepted it and the one who was told of it still may read it.
    for user, name in ((worker, "社区网格员"), (second, "社区网格员乙")):
        await tg.add(user.id, "WC-XH", Role.WORKER, name)
        assert (await user.ask(f"/tip {number}")).text.startswith(f"📋 线索 {number}")
    assert "只有负责人和管理员可以受理新线索" in (await worker.ask("/tip")).text
    assert (await tg.server.user(3009).ask(f"/tip {number}")).text == hidden
