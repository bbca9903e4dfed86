"""Benchmark: render one 简报 (第N期) as PDF, DOCX and the tip table's PNG.

    python bench/bulletin.py [--items 12] [--rows 10] [--runs 5]

A document of ``--items`` items (a third from the issuing level, each about 200
characters), a tip table and a ranking of ``--rows`` units. Prints the time of the first
render in this process (imports included) and the median of the next ``--runs``, with
the files' sizes. Most of the PDF's time is fpdf2 reading the two 16 MB Noto Sans CJK
fonts and fontTools subsetting them into the file. Not part of the test run.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bot.formats.briefdoc import BriefDocument, DocItem, DocTable, docx_bytes, pdf_bytes, table_png
from bot.formats.tiptable import TableRow, labels
from bot.i18n import Catalogue

SENTENCE = "网格员入户走访，逐井核查自备井使用情况，建立台账并督促封停。"


def document(items: int, rows: int) -> BriefDocument:
    catalogue = Catalogue.load()

    def say(key: str, **fields: object) -> str:
        return catalogue.text("zh", key, **fields)

    words = labels(say)
    table = [TableRow("", 49 * rows, 45 * rows, 40 * rows, 30 * rows, total=True)]
    table += [TableRow(f"第{n}区", 49, 45, 40, 30) for n in range(1, rows + 1)]
    entries = [DocItem(f"第{n}区：工作信息标题{n}", SENTENCE * 7) for n in range(1, items + 1)]
    ranking = [(str(n), f"第{n}区", "1.5", "12", "40%", "1", "↑1") for n in range(1, rows + 1)]
    return BriefDocument(
        title="“飓风”行动工作简报",
        number_line="第6期",
        office="市中心城区自备井封停工作领导小组办公室",
        date_line="2026年11月28日",
        contents_heading="本期导读",
        contents=[entry.heading for entry in entries],
        news_heading="【工作动态】",
        news=entries[: items // 3],
        info_heading="【工作信息】",
        info=entries[items // 3 :],
        tips_heading="【举报线索办理情况】",
        tips=DocTable(
            words.headers,
            [row.cells(words) for row in table],
            caption="举报线索办理情况表",
            note="截止日期：2026年11月27日",
        ),
        week_line="本周新受理举报线索14件，办结5件。",
        ranking_heading="【排名通报】",
        ranking=DocTable(("名次", "单位", "得分", "上报", "覆盖率", "超期线索", "变化"), ranking),
        overdue_heading="【通报】",
        overdue=["截至发稿时，以下单位有超期未办结的举报线索：第1区（1件）"],
        footer=["报：市委、市政府", "发：各区领导小组办公室"],
        indent="\u3000\u3000",
    )


def timed(render: Callable[[], bytes], runs: int) -> tuple[float, float, int]:
    start = time.perf_counter()
    data = render()
    first = time.perf_counter() - start
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        render()
        times.append(time.perf_counter() - start)
    return first, statistics.median(times), len(data)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=12)
    parser.add_argument("--rows", type=int, default=10)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    doc = document(args.items, args.rows)
    print(f"bulletin: {args.items} items, {args.rows} units, median of {args.runs} runs")
    for name, render in (
        ("pdf", lambda: pdf_bytes(doc)),
        ("docx", lambda: docx_bytes(doc)),
        ("png", lambda: table_png(doc.tips, doc.tips.caption)),
    ):
        first, median, size = timed(render, args.runs)
        print(f"  {name:4}  first {first:6.2f} s  then {median:6.2f} s  {size / 1024:8.1f} KiB")


if __name__ == "__main__":
    main()
