"""The weekly bulletin: on schedule, once; its tip table is what `gridbot tips table`
prints for the same days; the XLSX holds the same numbers; /brief previews and publishes."""

from __future__ import annotations

import asyncio
import io
import re
from datetime import datetime

from openpyxl import load_workbook

from bot.formats.tipfile import read_tip_file
from bot.runtime.context import GridContext
from handlers.bulletins import send_weekly_bulletins
from tests.cli_helpers import gridbot
from tests.test_e2e_digests import CITY_GROUP, city_group  # noqa: F401 - fixture
from tests.test_tips_cli import _rows, _write


async def _import_tips(tg, tmp_path) -> None:
    rows = _rows(seed=11, count=40, start=datetime(2026, 11, 12, 8, 0))
    _write(tmp_path / "week.csv", rows)
    units = await tg.services.tips.units()
    parsed = read_tip_file(tmp_path / "week.csv", units, tg.services.config.locale.zone)
    await tg.services.tips.import_rows(parsed)


def _pre_lines(message: str) -> list[str]:
    import html

    return html.unescape(re.search(r"<pre>(.*?)</pre>", message, re.S)[1]).splitlines()


async def test_scheduled_bulletin_matches_the_cli_table_and_its_xlsx(city_group, tmp_path):  # noqa: F811
    tg = city_group
    await _import_tips(tg, tmp_path)
    context = GridContext(tg.app)
    assert await send_weekly_bulletins(context) == 0  # bound after last Friday's
    tg.clock.set(datetime(2026, 11, 27, 9, 1, tzinfo=tg.clock.now().tzinfo))  # Fri 17:01 CST
    assert await send_weekly_bulletins(context) == 1
    assert await send_weekly_bulletins(context) == 0  # once

    sent = [c for c in tg.server.calls_to("sendMessage", chat_id=CITY_GROUP) if c.ok]
    bulletin = [c.text for c in sent if "网格工作简报" in c.text]
    assert len(bulletin) == 1 and "2026-11-20 至 2026-11-26" in bulletin[0]
    config = str(tg.services.config.source)
    cli = await asyncio.to_thread(
        gridbot, "tips", "table", "--from", "2026-11-20", "--to", "2026-11-26",
        "--config", config, cwd=tmp_path,
    )  # fmt: skip
    assert cli.returncode == 0, cli.stderr
    assert _pre_lines(bulletin[0]) == cli.stdout.strip().splitlines()
    total = cli.stdout.strip().splitlines()[1].split("|")
    assert total[0].strip() == "合计" and int(total[1]) >= 10  # a real week of tips
    reports_part = [c.text for c in sent if "巡查上报与网格覆盖情况" in c.text]
    assert reports_part and "本期排名第一：卧龙区" in reports_part[0]

    (document,) = [
        c
        for c in tg.server.calls_to("sendDocument", chat_id=CITY_GROUP)
        if c.ok and c.message["document"]["file_name"].endswith(".xlsx")
    ]
    data = tg.server.file_bytes(document.message["document"]["file_id"])
    book = load_workbook(io.BytesIO(data))
    sheet = book["举报线索"]
    cells = [[c.value for c in row] for row in sheet.iter_rows()]
    cli_rows = [[c.strip() for c in line.split("|")] for line in cli.stdout.strip().splitlines()]
    assert cells[0] == cli_rows[0]
    for xlsx_row, text_row in zip(cells[1:], cli_rows[1:], strict=True):
        assert [xlsx_row[0], *map(str, xlsx_row[1:4]), str(xlsx_row[5])] == [
            text_row[0], *text_row[1:4], text_row[5]
        ]  # fmt: skip
        rate = "—" if xlsx_row[4] is None else f"{int(xlsx_row[4] * 100 + 1e-9)}%"
        assert rate == text_row[4]
    assert "巡查上报" in book.sheetnames


async def test_brief_previews_then_publishes_once(city_group):  # noqa: F811
    tg = city_group
    admin = tg.server.user(1001)
    await admin.send_text("/brief")
    parts = [await admin.next_reply(timeout=60) for _ in range(3)]
    assert "2026-11-16 至 2026-11-22" in parts[0].text
    assert parts[2].method == "sendDocument"  # the PDF
    preview = parts[1]
    assert "以上为简报预览" in preview.text
    assert not [
        c for c in tg.server.calls_to("sendMessage", chat_id=CITY_GROUP) if "简报" in c.text
    ]
    await admin.press_label(preview, "📢 发布")
    done = await admin.next_reply("sendMessage", timeout=60)
    assert "已发布到 1 个工作群" in done.text
    group = [
        c for c in tg.server.calls_to("sendMessage", chat_id=CITY_GROUP) if "网格工作简报" in c.text
    ]
    assert len(group) == 1
    await admin.press(
        preview,
        preview.params["reply_markup"]["inline_keyboard"][0][0]["callback_data"],
        strict=False,
    )
    assert "已发布过" in (await admin.next_reply("sendMessage")).text
    assert "还没有过完" in (await admin.ask("/brief 2099-01-01")).text
    worker = tg.server.user(3001)
    assert "没有使用 /brief 的权限" in (await worker.ask("/brief")).text
