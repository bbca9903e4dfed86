"""The unit KPI table as an export kind (`kpis`): `/export kpis FROM TO` in chat, the export
service (XLSX with numbers and percent cells, CSV as printed) and `gridbot export kpis`,
each with the figures of `gridbot tips table --kpi` for the same period and scope."""

from __future__ import annotations

import csv
import io
import random
from datetime import date
from pathlib import Path

from openpyxl import load_workbook

from bot.core.access import Role
from bot.domain.exports import KPIS, export_kpis
from bot.domain.tip_kpis import kpi_table
from bot.formats import kpitable
from tests.cli_helpers import gridbot
from tests.conftest import EXAMPLE_ORG, add_member, write_config
from tests.test_tip_kpis import END, START, _seed
from tests.test_tips_cli import _rows, _write

HEADERS = [
    "区域",
    "到期(件)",
    "按期办结(件)",
    "按期办结率",
    "办结(件)",
    "返工(次)",
    "返工率",
    "延期(次)",
    "满意率",
    "办理时长中位数(工作小时)",
]


def _numbers(kpi) -> list:
    return [kpi.due, kpi.on_time, kpi.closed, kpi.rework, kpi.extensions, kpi.median_hours]


async def test_the_kpi_export_of_a_seeded_month_has_the_tables_figures(city, tmp_path: Path):
    await _seed(city, random.Random(17))
    table = await kpi_table(city.db, city.tips.workdays, START, END)
    admin = await add_member(city, 1002, "NY", Role.ADMIN, "管理员")
    request = city.exports.request(admin, KPIS, date(2026, 11, 1), date(2026, 11, 30), "zh")
    assert await city.exports.count(request) == len(table)

    result = await city.exports.run(admin, request, tmp_path / "kpis.xlsx")
    assert (result.kind, result.total, result.rows) == (KPIS, len(table), len(table))
    sheet = load_workbook(result.parts[0].path).active
    rows = list(sheet.iter_rows())
    assert [c.value for c in rows[0]] == HEADERS
    assert [r[0].value for r in rows[1:]] == ["合计", *(k.area for k in table[1:])]
    for kpi, cells in zip(table, rows[1:], strict=True):
        values = [c.value for c in cells]
        assert [*values[1:3], values[4], values[5], values[7], values[9]] == _numbers(kpi)
        for index, rate in (
            (3, kpi.on_time_rate),
            (6, kpi.rework_rate),
            (8, kpi.satisfaction_rate),
        ):
            assert values[index] == (None if rate is None else rate / 100)
            if rate is not None:
                assert cells[index].number_format == "0%"
    total = table[0]
    assert total.due >= 20 and rows[1][3].value == total.on_time * 100 // total.due / 100

    # CSV: the cells exactly as `tips table --kpi --format csv` prints them.
    out = tmp_path / "kpis.csv"
    await export_kpis(city.exports.exporter, city.db, request, out, "csv")
    words = kpitable.labels(lambda key, **f: city.catalogue.text("zh", key, **f))
    printed = list(csv.reader(io.StringIO(kpitable.FORMATS["csv"](table, words))))
    assert list(csv.reader(io.StringIO(out.read_text(encoding="utf-8-sig")))) == printed

    # A district lead's export: the district's streets.
    lead = await add_member(city, 1003, "WL", Role.LEAD, "区负责人")
    mine = city.exports.request(lead, KPIS, date(2026, 11, 1), date(2026, 11, 30), "en")
    streets = await kpi_table(city.db, city.tips.workdays, START, END, "WL")
    got = await export_kpis(city.exports.exporter, city.db, mine, tmp_path / "wl.xlsx")
    rows = list(load_workbook(got.parts[0].path).active.iter_rows(values_only=True))
    assert rows[0][0] == "Area" and [r[0] for r in rows[1:]] == ["Total"] + [
        s.area for s in streets[1:]
    ]
    assert [list(r[1:3]) for r in rows[1:]] == [[s.due, s.on_time] for s in streets]


async def test_export_kpis_in_chat_sends_the_table_as_a_sheet(tg):
    await tg.add(1001, "NY", Role.ADMIN, "市管理员")
    admin = tg.server.user(1001)
    await admin.send_text("/export 绩效 2026-11-01 2026-11-30")
    working = await admin.next_reply("sendMessage")
    assert "办理绩效" in working.text and "共 5 条" in working.text, working.text
    sent = await admin.next_reply("sendDocument")
    assert sent.message["document"]["file_name"] == "gridbot-kpis-NY-20261101-20261130.xlsx"
    data = tg.server.file_bytes(sent.message["document"]["file_id"])
    rows = list(load_workbook(io.BytesIO(data), read_only=True).active.iter_rows(values_only=True))
    assert list(rows[0]) == HEADERS
    assert [r[0] for r in rows[1:]] == ["合计", "卧龙区", "宛城区", "高新区", "城乡一体化示范区"]
    assert all(list(r[1:3]) == [0, 0] and r[3] is None for r in rows[1:])


def test_gridbot_export_kpis_matches_tips_table_kpi(tmp_path: Path):
    config = write_config(tmp_path)
    assert gridbot("org", "import", str(EXAMPLE_ORG), "--config", str(config), cwd=tmp_path)
    _write(tmp_path / "tips.csv", _rows())
    done = gridbot("tips", "import", "tips.csv", "--config", str(config), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    span = ("--from", "2026-11-01", "--to", "2026-12-31", "--config", str(config))
    table = gridbot("tips", "table", "--kpi", "--format", "csv", *span, cwd=tmp_path)
    assert table.returncode == 0, table.stderr
    exported = gridbot("export", "kpis", "--format", "csv", "--out", "k.csv", *span, cwd=tmp_path)
    assert exported.returncode == 0, exported.stderr
    assert "k.csv: 5 rows" in exported.stdout
    got = list(csv.reader(io.StringIO((tmp_path / "k.csv").read_text(encoding="utf-8-sig"))))
    printed = list(csv.reader(io.StringIO(table.stdout)))
    assert got == printed and got[0] == HEADERS
    assert sum(int(r[1]) for r in got[2:]) == int(got[1][1]) > 0  # tips fell due
