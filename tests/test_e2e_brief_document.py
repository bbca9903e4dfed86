"""The 简报 as a document (第N期): units offer status updates as items, the admin arranges
the preview with buttons and publishes; the DOCX and the PDF hold the title, the number,
the date, 本期导读, the items and the tip table `gridbot tips table --to LAST` prints
(cumulative to the cut-off); every glyph drawn is in the embedded font; a period is
published once and keeps its number, the next week's is N+1; bad input is answered."""

from __future__ import annotations

import asyncio
import io
import os
import re
from datetime import date, datetime, timedelta
from pathlib import Path

import numpy as np
import pypdfium2
import pytest
from docx import Document
from docx.oxml.ns import qn
from pypdf import PdfReader

from bot.core.access import Role
from bot.formats.briefdoc import (
    BriefDocument,
    DocItem,
    DocTable,
    all_text,
    blocks,
    bold_font_path,
    charmap,
)
from bot.formats.chart import font_path
from bot.runtime.context import GridContext
from handlers.bulletins import send_weekly_bulletins
from tests.cli_helpers import gridbot
from tests.photos import photo
from tests.test_e2e_bulletin import _import_tips
from tests.test_e2e_digests import CITY_GROUP, city_group  # noqa: F401 - fixture

TITLE = "“飓风”行动工作简报"
OFFICE = "市中心城区自备井封停工作领导小组办公室"
PDF_WAIT = 60  # seconds: laying out and subsetting the CJK fonts takes a few on a busy machine


@pytest.fixture
def tg_config() -> str:
    return (
        "[reports]\nalbum_wait_seconds = 0.2\n"
        f'[bulletin]\ntitle = "{TITLE}"\noffice = "{OFFICE}"\n'
        'report_to = "市委、市政府"\nsend_to = "各区领导小组办公室"\nfirst_number = 6\n'
    )


def _docs(tg, chat_id: int, suffix: str) -> list[bytes]:
    calls = [c for c in tg.server.calls_to("sendDocument", chat_id=chat_id) if c.ok]
    return [
        tg.server.file_bytes(c.message["document"]["file_id"])
        for c in calls
        if c.message["document"]["file_name"].endswith(suffix)
    ]


def _docx_text(data: bytes) -> tuple[list[str], list[list[list[str]]]]:
    doc = Document(io.BytesIO(data))
    paragraphs = [p.text for p in doc.paragraphs if p.text.strip()]
    tables = [[[cell.text for cell in row.cells] for row in t.rows] for t in doc.tables]
    return paragraphs, tables


def _pdf_text(data: bytes) -> str:
    pdf = pypdfium2.PdfDocument(data)
    return "".join(page.get_textpage().get_text_range() for page in pdf)


def _cli_rows(stdout: str) -> list[list[str]]:
    return [[c.strip() for c in line.split("|")] for line in stdout.strip().splitlines()]


async def _offer(tg, user_id: int, body: str, title: str) -> None:
    user = tg.server.user(user_id)
    posted = await user.ask(f"/update {body}")
    assert "/item" in posted.text  # the hint how to offer it
    number = re.search(r"#(\d+)", posted.text)[1]
    assert "已报送简报信息" in (await user.ask(f"/item {number} {title}")).text


async def test_a_seeded_week_becomes_the_numbered_document(city_group, tmp_path):  # noqa: F811
    tg = city_group
    await _import_tips(tg, tmp_path)
    offered = [
        (3001, "崔庄社区全面梳理辖区自备井，逐井建立台账。", "全面梳理 压实责任"),
        (3002, "入户走访二百余户，发放宣传册。", "入户走访 宣传到位"),
        (3003, "新华社区封停自备井三眼👍。", "封停自备井三眼"),  # no font draws 👍
    ]
    for user_id, body, title in offered:
        await _offer(tg, user_id, body, title)
    admin = tg.server.user(1001)
    # The city's own item, written directly with a photo (its caption is the command).
    await admin.send_photo(
        photo(7), caption="/item 召开推进会\n领导小组召开推进会，部署下一阶段工作。"
    )
    assert "已写入简报信息（附照片）" in (await admin.next_reply()).text
    tg.clock.advance(timedelta(days=5))  # Sat 2026-11-28: the week ends Friday the 27th

    summary, items, pdf_call = await admin.ask_all("/brief", 3, timeout=PDF_WAIT)
    assert "第6期" in summary.text and "2026-11-21 至 2026-11-27" in summary.text
    assert pdf_call.method == "sendDocument"
    assert "封停自备井三眼" in _pdf_text(
        tg.server.file_bytes(pdf_call.message["document"]["file_id"])
    )
    assert "以上为简报预览" in items.text and "4/4" in summary.text
    # Drop the 入户走访 item, then move the city's own item to the top.
    keyboard = items.params["reply_markup"]["inline_keyboard"]
    await admin.press(items, keyboard[1][0]["callback_data"])  # ✅ 2 → ⬜ 2
    edited = await admin.next_reply("editMessageText")
    assert "⬜ 2. 卧龙区：入户走访 宣传到位" in edited.text
    for _ in range(3):  # 召开推进会 moves up one place a press, from the fourth to the top
        current = tg.server.message(1001, items.message["message_id"])
        row = next(
            n for n, line in enumerate(current["text"].splitlines()[1:5]) if "召开推进会" in line
        )
        up = current["reply_markup"]["inline_keyboard"][row][1]["callback_data"]
        await admin.press(current, up)
        await admin.next_reply("editMessageText")
    lines = tg.server.message(1001, items.message["message_id"])["text"].splitlines()[1:5]
    assert [line.split(". ", 1)[1] for line in lines] == [
        "召开推进会",
        "卧龙区：全面梳理 压实责任",
        "卧龙区：入户走访 宣传到位",
        "宛城区：封停自备井三眼",
    ]
    kept = ["召开推进会", "全面梳理 压实责任", "封停自备井三眼"]

    await admin.press_label(tg.server.message(1001, items.message["message_id"]), "📢 发布")
    assert "已发布到 1 个工作群" in (await admin.next_reply("sendMessage", timeout=PDF_WAIT)).text
    (docx,) = _docs(tg, CITY_GROUP, ".docx")
    (pdf,) = _docs(tg, CITY_GROUP, ".pdf")
    assert _docs(tg, CITY_GROUP, ".xlsx")
    photos = [c for c in tg.server.calls_to("sendPhoto", chat_id=CITY_GROUP) if c.ok]
    assert len(photos) == 1 and "第6期" in photos[0].params["caption"]

    paragraphs, tables = _docx_text(docx)
    _assert_official_look(docx)
    assert paragraphs[0] == TITLE and paragraphs[1] == "第6期"
    assert OFFICE in paragraphs[2] and "2026年11月28日" in paragraphs[2]
    start = paragraphs.index("本期导读")
    assert [p.split(". ", 1)[1] for p in paragraphs[start + 1 : start + 4]] == kept
    assert "【工作动态】" in paragraphs and "【工作信息】" in paragraphs
    for heading, body in (
        ("召开推进会", "领导小组召开推进会，部署下一阶段工作。"),
        ("卧龙区：全面梳理 压实责任", offered[0][1]),
        ("宛城区：封停自备井三眼", offered[2][1]),
    ):
        assert paragraphs[paragraphs.index(heading) + 1] == body
    assert "入户走访 宣传到位" not in "".join(paragraphs)  # dropped
    (picture,) = Document(io.BytesIO(docx)).inline_shapes  # the city's item's photo
    assert picture.width > 0
    assert "截止日期：2026年11月30日".replace("30", "27") in paragraphs
    assert "报：市委、市政府" in paragraphs and "发：各区领导小组办公室" in paragraphs

    config = str(tg.services.config.source)
    cli = await asyncio.to_thread(
        gridbot, "tips", "table", "--to", "2026-11-27", "--config", config, cwd=tmp_path
    )
    assert cli.returncode == 0, cli.stderr
    assert tables[0] == _cli_rows(cli.stdout)  # cumulative to the cut-off
    week = await asyncio.to_thread(
        gridbot, "tips", "table", "--from", "2026-11-21", "--to", "2026-11-27",
        "--config", config, cwd=tmp_path,
    )  # fmt: skip
    new = _cli_rows(week.stdout)[1]
    assert f"新受理举报线索{new[1]}件，办结{new[3]}件。" in "".join(paragraphs)

    text = _pdf_text(pdf)
    _page_one_picture(pdf)
    # 👍 is left out of the PDF (the DOCX keeps it): never a missing-glyph box.
    assert "新华社区封停自备井三眼。" in text and "👍" not in text
    for part in (TITLE, "第6期", "本期导读", *kept, offered[0][1], "2026年11月28日"):
        assert part in text, part
    for row in _cli_rows(cli.stdout)[1:]:
        assert " ".join(row) in re.sub(r"\s+", " ", text), row
    _assert_fonts_embedded_and_cover(pdf, text)
    assert sum(len(page.images) for page in PdfReader(io.BytesIO(pdf)).pages) == 1

    # A second 发布 sends nothing; an older preview's buttons are stale.
    publish = items.params["reply_markup"]["inline_keyboard"][-1][0]["callback_data"]
    await admin.press(items, publish, strict=False)
    assert "已发布过" in (await admin.next_reply("sendMessage", timeout=PDF_WAIT)).text
    assert len(_docs(tg, CITY_GROUP, ".docx")) == 1
    again = await admin.ask_all("/brief 2026-11-27", 3, timeout=PDF_WAIT)
    assert "第6期" in again[0].text and "已于此前发布" in again[0].text
    for old in (keyboard[0][0]["callback_data"], publish):
        await admin.press(items, old, strict=False)
        stale = await admin.next_reply("answerCallbackQuery")
        assert "较早的预览" in stale.params["text"]
    # The latest preview of a published issue: its items can no longer change.
    await admin.press(
        again[1], again[1].params["reply_markup"]["inline_keyboard"][0][0]["callback_data"]
    )
    locked = await admin.next_reply("answerCallbackQuery", timeout=PDF_WAIT)
    assert "本期（第6期）已发布" in locked.params["text"]
    assert len(_docs(tg, CITY_GROUP, ".docx")) == 1


@pytest.mark.slow  # six renderings of the CJK document (about 2 s each on an idle machine)
async def test_an_issue_keeps_its_number_and_the_next_week_is_one_more(city_group, tmp_path):  # noqa: F811
    tg = city_group
    await _import_tips(tg, tmp_path)
    tg.clock.advance(timedelta(days=5))  # Sat 2026-11-28
    admin = tg.server.user(1001)
    _, items, _ = await admin.ask_all("/brief", 3, timeout=PDF_WAIT)
    await admin.press_label(items, "📢 发布")
    assert "已发布到 1 个工作群" in (await admin.next_reply("sendMessage", timeout=PDF_WAIT)).text

    # Republishing the same week to a group bound since keeps its number.
    second = -100777
    other = tg.server.user(1001).in_chat(tg.server.group(second, "第二工作群"))
    assert "已绑定" in (await other.ask("/bindgroup NY")).text
    summary, items, _ = await admin.ask_all("/brief 2026-11-27", 3, timeout=PDF_WAIT)
    assert "第6期" in summary.text and "已于此前发布" in summary.text
    await admin.press_label(items, "📢 发布")
    assert "已发布到 1 个工作群" in (await admin.next_reply("sendMessage", timeout=PDF_WAIT)).text
    (republished,) = _docs(tg, second, ".docx")
    assert _docx_text(republished)[0][1] == "第6期"

    # The next week's issue, sent on schedule (Fri 2026-12-04 17:00), is 第7期 for both.
    tg.clock.set(datetime(2026, 12, 4, 9, 1, tzinfo=tg.clock.now().tzinfo))
    assert await send_weekly_bulletins(GridContext(tg.app)) == 2
    numbers = [_docx_text(d)[0][1] for d in _docs(tg, CITY_GROUP, ".docx")]
    assert numbers == ["第6期", "第7期"]
    assert [_docx_text(d)[0][1] for d in _docs(tg, second, ".docx")] == ["第6期", "第7期"]

    # The shell builds the same document without publishing.
    config = str(tg.services.config.source)
    cli = await asyncio.to_thread(
        gridbot, "tips", "table", "--to", "2026-11-27", "--config", config, cwd=tmp_path
    )
    out = tmp_path / "out"
    built = await asyncio.to_thread(
        gridbot, "bulletin", "build", "--to", "2026-11-27", "--out", str(out),
        "--config", config, cwd=tmp_path,
    )  # fmt: skip
    assert built.returncode == 0, built.stderr
    assert "issue 6 (published)" in built.stdout
    (shell_docx,) = out.glob("*.docx")
    shell_paragraphs, shell_tables = _docx_text(shell_docx.read_bytes())
    assert shell_tables[0] == _cli_rows(cli.stdout) and shell_paragraphs[1] == "第6期"
    assert {p.suffix for p in out.iterdir()} == {".docx", ".pdf", ".png", ".xlsx"}
    assert len(_docs(tg, CITY_GROUP, ".docx")) == 2  # nothing published from the shell
    future = await asyncio.to_thread(
        gridbot, "bulletin", "build", "--to", "2099-01-01", "--out", str(out),
        "--config", config, cwd=tmp_path,
    )  # fmt: skip
    assert future.returncode == 1 and "not over yet" in future.stderr


EXAMPLE = Path(__file__).parent.parent / "docs" / "bulletin-page1.png"


def _page_one_picture(pdf: bytes) -> None:
    """Page 1 as a picture: drawn (not blank) and, with GRIDBOT_WRITE_DOCS=1, kept as the
    example in docs/ that shows a reader what the office gets (page 2 too, the tables)."""
    page = pypdfium2.PdfDocument(pdf)[0]
    image = page.render(scale=100 / 72).to_pil().convert("RGB")
    assert image.width == 827 and image.height in (1169, 1170)  # A4 at 100 dpi
    pixels = np.asarray(image).astype(int)
    dark = int((pixels.sum(axis=2) < 3 * 128).sum())
    assert dark > 10_000  # title, rules, text and table
    r, g, b = pixels[..., 0], pixels[..., 1], pixels[..., 2]
    red = int(((r > 150) & (g < 80) & (b < 80)).sum())
    assert red > 1_000  # the red title and rule of the masthead
    if os.environ.get("GRIDBOT_WRITE_DOCS"):
        image.save(EXAMPLE, optimize=True)
        second = pypdfium2.PdfDocument(pdf)[1].render(scale=100 / 72).to_pil().convert("RGB")
        second.save(EXAMPLE.with_name("bulletin-page2.png"), optimize=True)


def _assert_official_look(data: bytes) -> None:
    """A4, and the customary East Asian fonts named for Word: 方正小标宋 title, 黑体
    headings, 仿宋_GB2312 body."""
    doc = Document(io.BytesIO(data))
    section = doc.sections[0]
    assert (round(section.page_width.mm), round(section.page_height.mm)) == (210, 297)

    def east_asia(paragraph_text: str) -> str:
        paragraph = next(p for p in doc.paragraphs if p.text == paragraph_text)
        fonts = paragraph.runs[0]._element.rPr.rFonts
        return fonts.get(qn("w:eastAsia"))

    assert east_asia(TITLE) == "FZXiaoBiaoSong-B05S"
    assert east_asia("本期导读") == "SimHei"
    assert east_asia("领导小组召开推进会，部署下一阶段工作。") == "FangSong_GB2312"
    header = doc.tables[0].rows[0].cells[0].paragraphs[0].runs[0]._element.rPr.rFonts
    assert header.get(qn("w:eastAsia")) == "SimHei"


def _assert_fonts_embedded_and_cover(pdf: bytes, text: str) -> None:
    """Each font of the PDF is embedded (a font file in its descriptor), and every
    character drawn has a glyph in the font the project embeds."""
    reader = PdfReader(io.BytesIO(pdf))
    names = set()
    for page in reader.pages:
        for font in page["/Resources"]["/Font"].values():
            font = font.get_object()
            descendant = font["/DescendantFonts"][0].get_object()
            descriptor = descendant["/FontDescriptor"].get_object()
            assert any(k in descriptor for k in ("/FontFile", "/FontFile2", "/FontFile3"))
            names.add(str(font["/BaseFont"]))
    assert names and all("NotoSansCJK" in name for name in names), names
    known = charmap(font_path()) & charmap(bold_font_path())
    missing = {ch for ch in text if not ch.isspace() and ord(ch) not in known}
    assert not missing, missing


def test_the_plan_section_is_there_only_with_plans():
    table = DocTable(("区域", "受理(件)"), [("合计", "1")])
    doc = BriefDocument(
        "简报", "第1期", "办公室", "2026年1月1日", "本期导读", [], "【工作动态】", [],
        "【工作信息】", [DocItem("卧龙区：标题", "正文")], "【举报线索办理情况】", table,
        "本周新受理举报线索1件。", "【排名通报】", table, "【通报】", [], ["报：甲", "发：乙"],
    )  # fmt: skip
    assert "【检查任务进展】" not in all_text(doc)
    plans = DocTable(("单位", "应查"), [("卧龙区", "12")])
    planned = BriefDocument(**{**doc.__dict__, "plans_heading": "【检查任务进展】", "plans": plans})
    kinds = [(b.kind, b.text) for b in blocks(planned)]
    assert ("heading", "【检查任务进展】") in kinds
    assert "卧龙区12" in all_text(planned).replace(" ", "")


async def test_bad_input_is_answered_and_nothing_is_published_twice(tg):
    await tg.add(1001, "NY", Role.ADMIN, "市管理员")
    worker = await tg.add(3001, "WL-WH-CZ-01", Role.WORKER, "网格员甲")
    await tg.add(3002, "WL-WH-CZ-02", Role.WORKER, "网格员乙")
    user = tg.server.user(3001)
    number = re.search(r"#(\d+)", (await user.ask("/update 走访")).text)[1]
    too_long = "长" * 41
    assert "超过了 40 字" in (await user.ask(f"/item {number} {too_long}")).text
    assert "只能有一行" in (await user.ask(f"/item {number} 标题\n第二行")).text
    assert "只有负责人和管理员" in (await user.ask("/item 标题\n正文")).text
    other = tg.server.user(3002)
    assert "没有找到您可以报送的第" in (await other.ask(f"/item {number} 别人的")).text
    assert "用法：/item" in (await user.ask("/item")).text
    admin = tg.server.user(1001)
    assert "还没有过完" in (await admin.ask("/brief 2099-01-01")).text
    assert "日期格式" in (await admin.ask("/brief 2026-13-01")).text
    # No item, no figure: a preview with a warning, and publishing is allowed.
    summary, items, _ = await admin.ask_all("/brief 2026-10-01", 3, timeout=PDF_WAIT)
    assert "第6期" in summary.text and "仍可发布" in items.text
    # A forged 发布 of a week not over yet, and an item button of another preview.
    await admin.press(items, "1:bp:NY:20990101:1:pub", strict=False)
    assert (
        "还没有过完"
        in (await admin.next_reply("answerCallbackQuery", timeout=PDF_WAIT)).params["text"]
    )
    await admin.press(items, "1:bi:NY:20261001:99:1:t", strict=False)
    assert "较早的预览" in (await admin.next_reply("answerCallbackQuery")).params["text"]
    # The numbers (the slow test above publishes through the groups): a period published
    # again keeps its number, the next one published gets one more, a preview none.
    briefs = tg.services.briefs
    assert await briefs.publish(None, _period("2026-10-01"), worker) == 6
    assert await briefs.publish(None, _period("2026-10-01"), worker) == 6
    assert (await briefs.edition(None, date(2026, 10, 8), preview=True)).number == 7
    assert await briefs.publish(None, _period("2026-10-15"), None) == 7
    assert await briefs.publish(None, _period("2026-10-08"), None) == 8
    assert await briefs.publish("WL", _period("2026-10-01"), None) == 6  # its own series
    assert (await briefs.edition(None, date(2026, 10, 1))).published


def _period(last: str):
    from bot.domain.bulletin import period_ending

    return period_ending(date.fromisoformat(last))
