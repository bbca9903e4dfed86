"""Work groups: binding, unbinding, listing, the bot removed, a group upgraded."""

from __future__ import annotations

from bot.core.access import Role

GROUP = -1001234
CITY_GROUP = -100777


async def test_bind_unbind_and_list(tg):
    await tg.add(1001, "NY", Role.ADMIN, "市管理员")
    await tg.add(1002, "WL", Role.ADMIN, "区管理员")
    await tg.add(2001, "WL-WH", Role.LEAD, "街道负责人")
    city = tg.server.user(1001).in_chat(tg.server.group(CITY_GROUP, "南阳市工作群"))
    district_admin = tg.server.user(1002).in_chat(tg.server.group(GROUP, "卧龙区工作群"))
    bound = await city.ask("/bindgroup NY")
    assert "已绑定到 南阳市（NY）" in bound.text
    assert "不在您的管辖范围内" in (await district_admin.ask("/bindgroup WC")).text
    assert "已绑定到 卧龙区（WL）" in (await district_admin.ask("/bindgroup WL")).text
    lead = tg.server.user(2001).in_chat(tg.server.chat(GROUP))
    assert "没有使用 /unbindgroup 的权限" in (await lead.ask("/unbindgroup")).text
    # A district admin cannot take over the city's group.
    intruder = tg.server.user(1002).in_chat(tg.server.chat(CITY_GROUP))
    assert "不在您的管辖范围内" in (await intruder.ask("/bindgroup WL")).text
    assert "请在要绑定的工作群中使用" in (await tg.server.user(1001).ask("/bindgroup NY")).text

    listing = await tg.server.user(1002).ask("/groups")
    assert "卧龙区工作群" in listing.text and "南阳市工作群" not in listing.text
    assert "不再接收" in (await district_admin.ask("/unbindgroup")).text
    assert "尚未绑定" in (await district_admin.ask("/unbindgroup")).text
    listing = await tg.server.user(1001).ask("/groups")
    assert "南阳市工作群" in listing.text and "接收中" in listing.text
    assert "已于" in listing.text and "解除绑定" in listing.text
    assert [g.chat_id for g in await tg.services.groups.active_groups()] == [CITY_GROUP]


async def test_the_bot_removed_stops_sends_and_tells_the_admins(tg):
    await tg.add(1001, "NY", Role.ADMIN, "市管理员")
    await tg.add(1002, "WL", Role.ADMIN, "区管理员")
    await tg.add(1003, "WC", Role.ADMIN, "宛城区管理员")
    admin = tg.server.user(1002).in_chat(tg.server.group(GROUP, "卧龙区工作群"))
    await admin.ask("/bindgroup WL")
    update = tg.server.remove_bot(GROUP, 1002)
    await tg.server.wait_until_consumed(update)
    notices = [
        await tg.server.wait_for(method="sendMessage", chat_id=chat_id) for chat_id in (1001, 1002)
    ]
    assert all("已被移出工作群“卧龙区工作群”" in n.text for n in notices)
    assert await tg.services.groups.active_groups() == []
    await tg.settled()  # the removal is handled: nothing for 1003
    assert not tg.server.calls_to("sendMessage", chat_id=1003)


async def test_a_group_upgraded_to_a_supergroup_is_followed(tg):
    await tg.add(1002, "WL", Role.ADMIN, "区管理员")
    old = -4001
    admin = tg.server.user(1002).in_chat(tg.server.group(old, "卧龙区工作群"))
    await admin.ask("/bindgroup WL")
    update = tg.server.migrate_group(old, -1004001, 1002)
    await tg.server.wait_until_consumed(update)
    await tg.settled()  # handled (another chat's reply would not say so: chats run side by side)
    assert [g.chat_id for g in await tg.services.groups.active_groups()] == [-1004001]


async def test_a_group_command_for_this_bot_is_answered_others_are_left_alone(tg):
    await tg.add(1001, "NY", Role.ADMIN, "市管理员")
    admin = tg.server.user(1001).in_chat(tg.server.group(GROUP, "闲聊群"))
    await admin.send_text("/nosuch")  # perhaps another bot's command
    await admin.send_text("/nosuch@some_other_bot")
    reply = await admin.ask("/nosuch@GridBot_Test_Bot")
    assert reply.text == "未知命令。发送 /help 查看可用命令。"
    await tg.settled()
    assert len(tg.server.calls_to("sendMessage", chat_id=GROUP)) == 1
