"""End to end through the Bot API test server: joining, /start, /whoami, /help, /lang."""

from __future__ import annotations

import logging
import re
from datetime import timedelta

from bot.core.access import Role

LINK = re.compile(r"https://t\.me/gridbot_test_bot\?start=([A-Za-z0-9_-]+)")


async def _invite(tg, admin_id: int, args: str) -> str:
    reply = await tg.server.user(admin_id).ask(f"/invite {args}")
    match = LINK.search(reply.text)
    assert match, reply.text
    return match[1]


async def _members_count(tg) -> int:
    async with tg.services.db.read() as conn, conn.execute("SELECT count(*) FROM member") as cur:
        return (await cur.fetchone())[0]


async def test_admin_invites_a_worker_who_joins_and_sees_who_they_are(tg):
    await tg.add(1001, "NY", Role.ADMIN, "市管理员")
    token = await _invite(tg, 1001, "WL-WH-CZ worker 2 3")
    reply = tg.server.calls[-1]
    assert "卧龙区 / 武侯街道 / 崔庄社区（WL-WH-CZ）" in reply.text
    assert "可用次数：2" in reply.text

    worker = tg.server.user(2002, "李四")
    asked = await worker.ask(f"/start {token}")
    assert "网格员" in asked.text and "卧龙区 / 武侯街道 / 崔庄社区" in asked.text
    assert "真实姓名" in asked.text

    assert "2–20 个字" in (await worker.ask("王")).text
    assert "2–20 个字" in (await worker.ask("王" * 21)).text
    assert "只能包含文字" in (await worker.ask("李四123")).text
    assert await _members_count(tg) == 1  # none of that joined anyone

    done = await worker.ask("李四")
    assert "加入成功" in done.text and "崔庄社区" in done.text

    whoami = await worker.ask("/whoami")
    assert "姓名：李四" in whoami.text
    assert "单位：卧龙区 / 武侯街道 / 崔庄社区（WL-WH-CZ）" in whoami.text
    assert "角色：网格员" in whoami.text
    assert "Telegram ID：2002" in whoami.text

    refused = await worker.ask("/invite WL-WH-CZ worker")
    assert "没有使用 /invite 的权限" in refused.text


async def test_a_command_while_joining_is_not_taken_as_a_name(tg):
    await tg.add(1001, "NY", Role.ADMIN, "市管理员")
    token = await _invite(tg, 1001, "WL worker")
    worker = tg.server.user(2002)
    await worker.ask(f"/start {token}")
    assert "不能以“/”开头" in (await worker.ask("/李四")).text  # not a command to Telegram
    assert "未知命令" in (await worker.ask("/lisi")).text
    await worker.send_sticker()
    assert "请用文字发送您的真实姓名" in (await worker.next_reply()).text
    assert await tg.services.invites.has_pending_join(2002)
    assert "加入成功" in (await worker.ask("李四")).text


async def test_start_without_or_with_bad_tokens_says_how_to_join(tg):
    await tg.add(1001, "NY", Role.ADMIN, "市管理员")
    stranger = tg.server.user(3003)
    plain = await stranger.ask("/start")
    assert "加入方法" in plain.text and "3003" in plain.text

    unknown = await stranger.ask("/start AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")
    assert "无效" in unknown.text and "Telegram ID：3003" in unknown.text
    garbage = await stranger.ask("/start <script>")
    assert "无效" in garbage.text

    used = await _invite(tg, 1001, "WL worker 1")
    first = tg.server.user(3004)
    await first.ask(f"/start {used}")
    await first.ask("周一")
    assert "使用次数已用完" in (await stranger.ask(f"/start {used}")).text

    expiring = await _invite(tg, 1001, "WL worker 5 1")
    tg.clock.advance(timedelta(days=1, minutes=1))
    expired = await stranger.ask(f"/start {expiring}")
    assert "已过期" in expired.text and "3003" in expired.text
    assert await tg.services.members.by_telegram_id(3003) is None


async def test_non_members_get_a_pointer_not_silence(tg):
    stranger = tg.server.user(4004)
    text = await stranger.ask("你好")
    assert "还不是本机器人的成员" in text.text and "4004" in text.text
    members = await stranger.ask("/members")
    assert "不能使用 /members" in members.text and "4004" in members.text
    for send in (
        stranger.send_sticker(),
        stranger.send_location(32.99, 112.53),
        stranger.send_document(b"%PDF-1.4", "report.pdf", "application/pdf"),
        stranger.send_voice(),
    ):
        await send
        assert "还不是本机器人的成员" in (await stranger.next_reply()).text
    whoami = await stranger.ask("/whoami")
    assert "Telegram ID：4004" in whoami.text


async def test_help_lists_exactly_what_the_role_may_use(tg):
    await tg.add(1001, "NY", Role.ADMIN, "市管理员")
    await tg.add(1002, "WL-WH", Role.LEAD, "街道负责人")
    await tg.add(1003, "WL-WH-CZ-01", Role.WORKER, "网格员甲")

    def commands(reply) -> list[str]:
        return re.findall(r"^/(\w+)", reply.text, flags=re.MULTILINE)

    worker = [
        *["start", "help", "whoami", "lang", "report", "update", "item", "cancel", "myreports"],
        "site",
        *["close", "tip", "extend"],  # /extend: tips as cases, after the plans in the policy table
    ]
    plans = ["todo", "near", "plan", "plans"]  # sites and plans, then tips as cases
    assert commands(await tg.server.user(1003).ask("/help")) == [
        *worker[:-1],
        "todo",
        "near",
        "extend",
    ]
    cases = ["extend", "callback", "decline", "dup"]
    lead_only = [
        *worker[:-2],
        "reports",
        "rank",
        "tip",
        "tips",
        "assign",
        "invite",
        "invites",
        "members",
        "export",
    ]
    assert commands(await tg.server.user(1002).ask("/help")) == [*lead_only, *plans, *cases]
    assert commands(await tg.server.user(1001).ask("/help")) == [
        *lead_only,
        "groups",
        "brief",
        "reward",
        "rewards",
        "audit",
        "disable",
        "enable",
        *plans,
        "extend",
        "park",
        *cases[1:],
    ]
    assert commands(await tg.server.user(5005).ask("/help")) == ["start", "help", "whoami", "lang"]


async def test_language_follows_the_client_and_lang_overrides(tg):
    await tg.add(1001, "NY", Role.ADMIN, "市管理员")
    english = tg.server.user(1001, language_code="en")
    assert "Name: 市管理员" in (await english.ask("/whoami")).text
    chinese = await english.ask("/lang zh")
    assert chinese.text == "已切换为中文。"
    assert "姓名：市管理员" in (await english.ask("/whoami")).text
    assert (await english.ask("/lang en")).text == "Language set to English."
    assert "用法" not in (await english.ask("/lang")).text
    assert "Choose zh" in (await english.ask("/lang fr")).text


async def test_command_menus_are_set_per_scope_and_language(tg):
    server = tg.server

    def menu(*scope) -> list[str]:
        return [c["command"] for c in server.commands(*scope)]

    assert menu("all_private_chats") == ["start", "help", "whoami", "lang"]
    assert menu("all_private_chats", "en") == ["start", "help", "whoami", "lang"]
    assert menu("all_group_chats") == ["help"]
    assert menu("all_chat_administrators") == ["help", "bindgroup", "unbindgroup", "digest"]
    assert menu("all_chat_administrators", "en") == menu("all_chat_administrators")
    assert server.commands("all_private_chats")[0]["description"] == "开始 / 通过邀请链接加入"
    assert server.commands("all_private_chats", "en")[0]["description"].startswith("Start")

    await tg.add(1001, "NY", Role.ADMIN, "市管理员")
    token = await _invite(tg, 1001, "WL lead")
    lead = server.user(2002)
    await lead.ask(f"/start {token}")
    await lead.ask("钱二")
    await server.wait_for(method="setMyCommands")
    await server.wait_for(method="setMyCommands")
    worker_menu = ["start", "help", "whoami", "lang", "report", "update", "item", "cancel"]
    worker_menu.append("myreports")
    lead_menu = [*worker_menu, "site", "close", "reports", "rank", "tip", "tips", "assign"]
    lead_menu += ["invite", "invites", "members", "export", "todo", "near", "plan", "plans"]
    lead_menu += ["extend", "callback", "decline", "dup"]
    assert menu("chat", None, 2002) == lead_menu
    assert menu("chat", "en", 2002) == lead_menu


async def test_edited_commands_are_not_run_again(tg):
    await tg.add(1001, "NY", Role.ADMIN, "市管理员")
    admin = tg.server.user(1001)
    original = await admin.send_text("/whoami")
    await admin.next_reply()
    before = len(tg.server.calls_to("sendMessage"))
    update = await admin.send_edited_text(original["message"], "/invite WL worker")
    await tg.server.wait_until_consumed(update)
    await admin.ask("/whoami")  # a later update proves the edit was handled (and ignored)
    assert len(tg.server.calls_to("sendMessage")) == before + 1


async def test_a_crash_gets_an_apology_in_the_users_language(tg, monkeypatch, caplog):
    await tg.add(1001, "NY", Role.ADMIN, "市管理员")

    async def broken(unit_id: int):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(tg.services.members, "unit_chain", broken)
    reply = await tg.server.user(1001).ask("/whoami")
    assert reply.text.startswith("抱歉，处理您的消息时出错了")
    assert any("update.failed" in r.getMessage() for r in caplog.records)
    english = await tg.server.user(1001, language_code="en").ask("/start")
    assert english.text.startswith("Sorry, something went wrong")


async def test_group_chats(tg):
    await tg.add(1001, "NY", Role.ADMIN, "市管理员")
    group = tg.server.group(-100500, "卧龙区工作群")
    admin = tg.server.user(1001).in_chat(group)
    assert "请在与我的私聊中使用 /invite" in (await admin.ask("/invite WL worker")).text
    assert (await admin.ask("/help")).text.splitlines()[1:] == [
        "/help — 查看可用命令",
        "/bindgroup — 将本群绑定到单位（接收下级单位排名）",
        "/unbindgroup — 解除本群的单位绑定",
        "/digest — 立即发送本群今日排名通报",
    ]


async def test_too_many_requests_is_waited_out(tg):
    await tg.add(1001, "NY", Role.ADMIN, "市管理员")
    tg.server.fail_next("sendMessage", 429, retry_after=1)
    reply = await tg.server.user(1001).ask("/whoami", timeout=10)
    assert "市管理员" in reply.text
    statuses = [c.status for c in tg.server.calls_to("sendMessage", 1001)]
    assert statuses == [429, 200]


async def test_server_errors_are_retried_with_back_off_and_refusals_are_not(tg, caplog):
    await tg.add(1001, "NY", Role.ADMIN, "市管理员")
    tg.server.fail_next("sendMessage", 502, retry_after=None, times=2)
    with caplog.at_level(logging.WARNING, logger="gridbot.sending"):
        await tg.server.user(1001).send_text("/whoami")
        # The back-off waits on the bot's clock: 0.5 s, then 1 s, moved on here.
        assert [await tg.clock.skip_sleep(), await tg.clock.skip_sleep()] == [0.5, 1.0]
        reply = await tg.server.user(1001).next_reply()
    assert "市管理员" in reply.text
    statuses = [c.status for c in tg.server.calls_to("sendMessage", 1001)]
    assert statuses == [502, 502, 200]
    assert [r.fields["attempt"] for r in caplog.records] == [1, 2]

    tg.server.fail_next("sendMessage", 400, retry_after=None, description="Bad Request: nope")
    await tg.server.user(1001).send_text("/whoami")
    await tg.settled()
    assert not tg.clock.sleeping  # no retry waiting: nothing more is sent
    calls = tg.server.calls_to("sendMessage", 1001)[3:]
    assert [c.status for c in calls] == [400, 200]  # not retried; the apology follows
    assert "抱歉" in calls[1].text
