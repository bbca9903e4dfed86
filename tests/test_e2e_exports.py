"""/export end to end: an XLSX of exactly the caller's scope, safe against formulas; a
worker is refused; dates narrow the rows; a large export is split under the upload
limit and no row is lost or repeated."""

from __future__ import annotations

import hashlib
import io
import secrets

import pytest
from openpyxl import load_workbook

from bot.core.access import Role
from tests.photos import photo
from tests.test_ranking import submit

DISTRICT_ADMIN, WORKER_WL, WORKER_WC, LEAD_WC = 1101, 3101, 3102, 2102


def _sheet(tg, call) -> list[tuple]:
    data = tg.server.file_bytes(call.message["document"]["file_id"])
    book = load_workbook(io.BytesIO(data), read_only=True)
    return [tuple(row) for row in book.active.iter_rows(values_only=True)]


def _column(rows: list[tuple], header: str) -> list:
    index = rows[0].index(header)
    return [row[index] for row in rows[1:]]


async def test_district_admin_exports_the_reports_of_their_district_only(tg):
    await tg.add(DISTRICT_ADMIN, "WL", Role.ADMIN, "卧龙区管理员")
    wl = await tg.add(WORKER_WL, "WL-WH-CZ-01", Role.WORKER, "卧龙网格员")
    wc = await tg.add(WORKER_WC, "WC-XH-XH-01", Role.WORKER, "宛城网格员")
    mine = [
        await submit(tg.services, wl, "井-A1", seed=11, note='=HYPERLINK("http://evil","x")'),
        await submit(tg.services, wl, "井-A2", seed=12),
    ]
    await submit(tg.services, wc, "井-B1", seed=13)

    admin = tg.server.user(DISTRICT_ADMIN)
    await admin.send_text("/export reports")
    working = await admin.next_reply("sendMessage")
    assert "正在导出上报记录（卧龙区，全部时间），共 2 条" in working.text
    document = await admin.next_reply("sendDocument")
    assert document.message["document"]["file_name"].startswith("gridbot-reports-WL")
    assert "上报记录 · 卧龙区 · 全部时间 · 2 条" in document.message["caption"]

    rows = _sheet(tg, document)
    assert _column(rows, "上报编号") == [report.number for report in mine]
    assert set(_column(rows, "区")) == {"卧龙区"}
    assert _column(rows, "网格")[0] and _column(rows, "上报人") == ["卧龙网格员"] * 2
    assert _column(rows, "点位") == ["井-A1", "井-A2"]
    expected = [hashlib.sha256(photo(seed)).hexdigest() for seed in (11, 12)]
    assert _column(rows, "照片 SHA-256") == expected
    assert _column(rows, "备注")[0] == '=HYPERLINK("http://evil","x")'  # text, not a formula
    assert "宛城网格员" not in str(rows) and "井-B1" not in str(rows)

    audit = await admin.ask("/audit")
    assert "导出数据 reports" in audit.text


async def test_a_worker_is_refused_and_dates_and_bad_input_get_answers(tg):
    await tg.add(DISTRICT_ADMIN, "WL", Role.ADMIN, "卧龙区管理员")
    wl = await tg.add(WORKER_WL, "WL-WH-CZ-01", Role.WORKER, "卧龙网格员")
    await tg.add(LEAD_WC, "WC", Role.LEAD, "宛城区负责人")
    await submit(tg.services, wl, "井-A1", seed=21)

    worker = tg.server.user(WORKER_WL)
    assert "没有使用 /export 的权限" in (await worker.ask("/export reports")).text
    admin = tg.server.user(DISTRICT_ADMIN)
    assert "用法" in (await admin.ask("/export")).text
    assert "用法" in (await admin.ask("/export wells")).text
    assert "无法识别" in (await admin.ask("/export reports 11月1日")).text
    assert "不能晚于" in (await admin.ask("/export reports 2026-11-05 2026-11-01")).text
    assert "没有上报记录" in (await admin.ask("/export reports 2020-01-01 2020-01-31")).text
    lead = tg.server.user(LEAD_WC)  # a lead elsewhere sees none of 卧龙区's reports
    assert "宛城区在全部时间内没有上报记录" in (await lead.ask("/export reports")).text

    today = tg.clock.now().astimezone(tg.services.config.locale.zone).date()
    await admin.send_text(f"/export reports {today.isoformat()}")
    await admin.next_reply("sendMessage")
    document = await admin.next_reply("sendDocument")
    assert len(_sheet(tg, document)) == 2
    assert tg.server.calls_to("sendDocument", WORKER_WL) == []


@pytest.fixture
def tg_config() -> str:
    return "[exports]\nmax_file_mb = 0.03\n"


async def test_a_large_export_is_split_under_the_upload_limit_without_losing_a_row(tg):
    tg.server.upload_limit = int(0.03 * 1024 * 1024)  # what this bot's config promises
    await tg.add(DISTRICT_ADMIN, "WL", Role.ADMIN, "卧龙区管理员")
    unit = (await tg.services.org.unit("WL-WH-CZ-01")).id
    now = "2026-01-01T00:00:00Z"
    names = {secrets.token_hex(12) for _ in range(1500)}  # random: compresses badly
    async with tg.services.db.transaction() as conn:
        await conn.executemany(
            "INSERT INTO member (telegram_id, name, unit_id, role, joined_at, updated_at) "
            "VALUES (?, ?, ?, 'worker', ?, ?)",
            [(5_000_000 + i, name, unit, now, now) for i, name in enumerate(sorted(names))],
        )

    admin = tg.server.user(DISTRICT_ADMIN)
    await admin.send_text("/export members")
    assert "共 1501 条" in (await admin.next_reply("sendMessage")).text
    split = await admin.next_reply("sendMessage")
    assert "已分为" in split.text and "不超过 0.03 MB" in split.text
    parts = int(split.text.split("已分为 ")[1].split(" ")[0])
    assert parts >= 2
    exported: list = []
    for number in range(1, parts + 1):
        document = await admin.next_reply("sendDocument", timeout=20)
        assert document.ok and document.message["document"]["file_size"] <= tg.server.upload_limit
        assert f"第 {number}/{parts} 部分" in document.message["caption"]
        assert f"-part{number}.xlsx" in document.message["document"]["file_name"]
        exported += _column(_sheet(tg, document), "姓名")
    assert len(exported) == 1501 and set(exported) == names | {"卧龙区管理员"}
