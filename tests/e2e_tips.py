"""Steps of the tip flow shared by the end-to-end tests."""

from __future__ import annotations

import re

from bot.core.access import Role
from tests.e2e_reports import press

ADMIN, LEAD, WORKER, OTHER = 1001, 2001, 3001, 3002

_ENGLISH_WORD = re.compile(r"[A-Za-z]{2,}")
_CHINESE_PUNCTUATION = re.compile("[，。、：；！？（）「」【】《》]")


def assert_reads_as_chinese(text: str) -> None:
    """No English word in what a Chinese reader is shown (a tip number's ``T`` is no word)."""
    assert not _ENGLISH_WORD.findall(text), (_ENGLISH_WORD.findall(text), text)


def assert_reads_as_english(text: str) -> None:
    """No Chinese punctuation in what an English reader is shown (names may be Chinese)."""
    assert not _CHINESE_PUNCTUATION.findall(text), (_CHINESE_PUNCTUATION.findall(text), text)


async def add_people(tg):
    """An admin, a street lead, a community worker there and a worker elsewhere; returns
    the first three as TestUsers."""
    await tg.add(ADMIN, "NY", Role.ADMIN, "市管理员")
    await tg.add(LEAD, "WL-WH", Role.LEAD, "街道负责人")
    await tg.add(WORKER, "WL-WH-CZ", Role.WORKER, "社区网格员")
    await tg.add(OTHER, "WC-XH-XH", Role.WORKER, "宛城网格员")
    return tg.server.user(ADMIN), tg.server.user(LEAD), tg.server.user(WORKER)


async def receive(lead, description: str = "崔庄村民反映有人私自打井") -> str:
    await lead.send_text("/tip")
    assert "开始受理" in (await lead.next_reply("sendMessage")).text
    assert "线索内容" in (await lead.next_reply("sendMessage")).text
    ask_source = await lead.ask(description)
    ask_urgency = await press(lead, ask_source, "热线")
    assert "紧急程度" in ask_urgency.text
    ask_place = await press(lead, ask_urgency, "一般")
    assert "线索所在：武侯街道" in ask_place.text
    ask_place = await press(lead, ask_place, "→ 崔庄社区")
    ask_photos = await press(lead, ask_place, "✔ 就是 崔庄社区")
    ask_contact = await press(lead, ask_photos, "跳过（无照片）")
    summary = await lead.ask("13800000000")
    assert "请核对线索" in summary.text and "13800000000" in summary.text
    assert "所在单位：卧龙区 / 武侯街道 / 崔庄社区" in summary.text, summary.text
    done = await press(lead, summary, "✅ 提交")
    number = re.search(r"T-\d{8}-\d{3}", done.text)
    assert number, done.text
    assert ask_contact
    return number[0]
