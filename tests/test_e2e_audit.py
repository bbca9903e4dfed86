"""The audit log end to end: a scripted run performs every admin and lead action once
through chat, and each appears in /audit with who did it and the chat it came from;
a district admin sees only their district's entries."""

from __future__ import annotations

import re

from bot.core.access import Role
from tests.e2e_reports import press
from tests.e2e_tips import receive
from tests.photos import photo

ADMIN, LEAD, WORKER, DISTRICT_ADMIN = 1001, 2001, 3001, 1002
GROUP = -100555
LINK = re.compile(r"\?start=([A-Za-z0-9_-]+)")

ACTIONS = {  # what the script below does once each → how /audit names it
    "invite.created": "创建邀请",
    "invite.used": "使用邀请加入",
    "invite.revoked": "撤销邀请",
    "member.moved": "调整人员",
    "member.disabled": "停用人员",
    "member.enabled": "启用人员",
    "group.bound": "绑定群",
    "group.unbound": "解绑群",
    "tip.received": "受理线索",
    "tip.assigned": "交办线索",
    "tip.closed": "办结线索",
    "reward.paid": "发放奖励",
    "export": "导出数据",
    "bulletin.published": "发布简报",
}


async def _invite(admin, args: str) -> str:
    return LINK.search((await admin.ask(f"/invite {args}")).text)[1]


async def test_every_admin_and_lead_action_appears_in_audit(tg):
    await tg.add(ADMIN, "NY", Role.ADMIN, "市管理员")
    await tg.add(LEAD, "WL-WH", Role.LEAD, "街道负责人")
    await tg.add(DISTRICT_ADMIN, "WC", Role.ADMIN, "宛城区管理员")
    admin = tg.server.user(ADMIN)
    group = tg.server.group(GROUP, "南阳市网格工作群")
    in_group = admin.in_chat(group)
    start = await _count(tg)

    worker = tg.server.user(WORKER, "网格员甲")
    await worker.ask(f"/start {await _invite(admin, 'WL-WH-CZ worker')}")
    assert "加入成功" in (await worker.ask("网格员甲")).text
    asked = await worker.ask(f"/start {await _invite(admin, 'WL-WH-CZ-01 worker')}")
    await worker.press_label(asked, "确认调动")
    await worker.next_reply("answerCallbackQuery")
    assert "调动成功" in (await worker.next_reply("sendMessage")).text
    await _invite(admin, "WL-WH-CZ worker")
    listed = await admin.ask("/invites")
    await admin.press(listed, listed.buttons[0][1])
    assert "已撤销" in (await admin.next_reply("answerCallbackQuery")).params["text"]
    assert "没有有效的邀请链接" in (await admin.next_reply("editMessageText")).text
    assert "已停用" in (await admin.ask(f"/disable {WORKER}")).text
    assert "已启用" in (await admin.ask(f"/enable {WORKER}")).text
    assert "已绑定" in (await in_group.ask("/bindgroup NY")).text
    assert "解除" in (await in_group.ask("/unbindgroup")).text
    assert "已绑定" in (await in_group.ask("/bindgroup NY")).text

    lead = tg.server.user(LEAD)
    number = await receive(lead)
    assert "已交办" in (await lead.ask(f"/assign {number} WL-WH-CZ-01 24")).text
    await worker.send_text(f"/close {number}")
    await worker.next_reply("sendMessage")
    await worker.next_reply("sendMessage")
    await worker.ask("已现场核实，井已封填")
    await worker.send_photo(photo(77))
    await worker.next_reply("sendMessage")
    verdict = await press(worker, await worker.next_reply("sendMessage"), "✅ 照片已齐（1 张）")
    assert "已办结" in (await press(worker, verdict, "有效")).text
    assert "已发放" in (await admin.ask(f"/reward {number} paid 现金200元")).text

    await admin.send_text("/export tips")
    await admin.next_reply("sendMessage")
    await admin.next_reply("sendDocument")
    await admin.send_text("/brief")
    preview = [await admin.next_reply() for _ in range(2)][1]  # the summary, the items
    await admin.next_reply("sendDocument", timeout=60)  # the PDF
    await admin.press_label(preview, "📢 发布")
    assert "已发布" in (await admin.next_reply("sendMessage", timeout=60)).text

    async with (
        tg.services.db.read() as conn,
        conn.execute(
            "SELECT action, source, chat_id, actor_name FROM audit WHERE id > ? ORDER BY id",
            (start,),
        ) as cur,
    ):
        rows = [tuple(row) for row in await cur.fetchall()]
    assert {row[0] for row in rows} == set(ACTIONS)
    assert all(source == "chat" for _, source, _, _ in rows)
    by_action = {action: (chat, actor) for action, _, chat, actor in rows}
    assert by_action["group.bound"] == (GROUP, "市管理员")
    assert by_action["member.disabled"] == (ADMIN, "市管理员")
    assert by_action["tip.assigned"] == (LEAD, "街道负责人")
    assert by_action["tip.closed"] == (WORKER, "网格员甲")

    shown = await admin.ask("/audit 100")
    assert "操作日志（南阳市" in shown.text
    for label in ACTIONS.values():
        assert label in shown.text, label
    assert f"（群 {GROUP}）" in shown.text
    assert "13800000000" not in shown.text  # the tipster's contact stays out

    other = tg.server.user(DISTRICT_ADMIN)  # 宛城区: only their own placement is theirs
    theirs = (await other.ask("/audit")).text
    assert "最近 1 条" in theirs and "添加人员 宛城区管理员 (1002)" in theirs
    assert "用法" in (await admin.ask("/audit 0")).text
    assert "用法" in (await admin.ask("/audit lots")).text
    assert "没有使用 /audit 的权限" in (await lead.ask("/audit")).text
    three = await admin.ask("/audit 3")
    assert "最近 3 条" in three.text and len(three.text.splitlines()) == 4


async def _count(tg) -> int:
    async with tg.services.db.read() as conn, conn.execute("SELECT max(id) FROM audit") as cur:
        return (await cur.fetchone())[0] or 0
