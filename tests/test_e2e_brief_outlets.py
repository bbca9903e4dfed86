"""发布 sends the 简报 to the configured outlets under the admin's unit too, once: the
tables to every robot, and where the platform takes files (WeCom) the document as PDF
and DOCX, numbered as the Telegram groups get it, besides the workbook."""

from __future__ import annotations

from datetime import date

import pypdfium2
import pytest

from bot.core.access import Role
from bot.domain.bulletin import period_ending
from tests.outlet_helpers import FEISHU_SECRET, FEISHU_TOKEN, WECOM_KEY, outlet_toml
from tests.robots import RobotServer

PDF_WAIT = 60  # seconds: laying out and subsetting the CJK fonts takes a few on a busy machine


@pytest.fixture
async def robots(clock):
    server = await RobotServer(clock.now).start()
    yield server
    await server.close()


@pytest.fixture
def tg_config(robots) -> str:
    return (
        '[bulletin]\ntitle = "“飓风”行动工作简报"\nfirst_number = 6\n'
        + outlet_toml("wx", "wecom", "NY", robots.wecom("wx", WECOM_KEY))
        + outlet_toml(
            "fs", "feishu", "WL", robots.feishu("fs", FEISHU_TOKEN, FEISHU_SECRET), FEISHU_SECRET
        )
    )


async def test_publishing_sends_the_document_to_the_outlets_once(tg, robots):
    await tg.add(1001, "NY", Role.ADMIN, "市管理员")
    # Under 宛城区 there is no outlet (the city's WeCom robot and 卧龙区's Feishu one are not).
    wc = await tg.services.org.unit("WC")
    week = period_ending(date(2026, 11, 22))
    assert (await tg.app.bot_data.outlets.deliver_weekly_for(week, wc.path)).sent == 0
    assert not robots.received

    admin = tg.server.user(1001)
    _, items, _ = await admin.ask_all("/brief", 3, timeout=PDF_WAIT)
    await admin.press_label(items, "📢 发布")
    done = await admin.next_reply("sendMessage", timeout=PDF_WAIT)
    assert "另已发送到 2 个企业微信/钉钉/飞书群机器人" in done.text
    files = dict(robots.robot("wx").media.values())
    assert sorted(files) == [
        "简报_NY_2026-11-16_2026-11-22.xlsx",
        "简报_第6期_NY_2026-11-22.docx",
        "简报_第6期_NY_2026-11-22.pdf",
    ]
    pdf = pypdfium2.PdfDocument(files["简报_第6期_NY_2026-11-22.pdf"])
    text = pdf[0].get_textpage().get_text_range()
    assert "“飓风”行动工作简报" in text and "第6期" in text
    assert [m.body["msgtype"] for m in robots.messages("wx")][-3:] == ["file"] * 3
    assert robots.messages("fs")  # the tables; Feishu takes no files

    count = len(robots.received)
    publish = items.params["reply_markup"]["inline_keyboard"][-1][0]["callback_data"]
    await admin.press(items, publish, strict=False)
    assert "已发布过" in (await admin.next_reply("sendMessage", timeout=PDF_WAIT)).text
    assert len(robots.received) == count
