"""gridbot backup and gridbot check, run as real processes while a writer inserts
reports; gridbot export and gridbot audit from the shell."""

from __future__ import annotations

import asyncio
import csv
import json
import os
import re
import threading
import time
from pathlib import Path

import pytest
from openpyxl import load_workbook

from bot.config import load_config
from bot.core.access import Role
from bot.core.clock import SystemClock
from bot.services import Services
from tests.cli_helpers import gridbot
from tests.conftest import EXAMPLE_ORG, sql_rows, sqlite_only, write_config
from tests.test_ranking import submit


def _setup(folder: Path) -> Path:
    config = write_config(folder)
    for args in (
        ("db", "migrate"),
        ("org", "import", str(EXAMPLE_ORG)),
        ("admin", "add", "1001", "--unit", "NY", "--role", "admin", "--name", "市管理员"),
    ):
        done = gridbot(*args, "--config", str(config), cwd=folder)
        assert done.returncode == 0, done.stderr
    return config


class Writer(threading.Thread):
    """Submits reports with photos through the real services, in a loop of its own,
    until stopped."""

    def __init__(self, config: Path, seeds: range) -> None:
        super().__init__(daemon=True)
        self.config = load_config(config)
        self.seeds = iter(seeds)
        self.stop = threading.Event()
        self.saved = 0
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            asyncio.run(self._write())
        except BaseException as exc:
            self.error = exc

    async def _write(self) -> None:
        services = await Services.open(self.config, clock=SystemClock())
        try:
            member = await services.members.add_by_operator(
                3001, "WL-WH-CZ-01", Role.WORKER, "网格员甲"
            )
            while not self.stop.is_set():
                seed = next(self.seeds)
                await submit(services, member, f"井-{seed}", seed=seed)
                self.saved += 1
        finally:
            await services.close()

    def wait_for(self, count: int) -> None:
        deadline = time.monotonic() + 60
        while self.saved < count:
            assert self.error is None, self.error
            assert time.monotonic() < deadline, "the writer is stuck"
            time.sleep(0.02)


def _reports(database: Path) -> int:
    import sqlite3

    with sqlite3.connect(database) as conn:
        return conn.execute("SELECT count(*) FROM report").fetchone()[0]


@sqlite_only
def test_backup_while_writing_passes_check_and_a_lost_file_is_named(tmp_path):
    config = _setup(tmp_path)
    backups = tmp_path / "backups"
    writer = Writer(config, range(100, 10_000))
    writer.start()
    try:
        writer.wait_for(5)
        during = [writer.saved]
        first = gridbot("backup", str(backups / "a"), "--config", str(config), cwd=tmp_path)
        during.append(writer.saved)
        writer.wait_for(during[-1] + 5)
        second = gridbot("backup", str(backups / "a"), "--config", str(config), cwd=tmp_path)
        during.append(writer.saved)
    finally:
        writer.stop.set()
        writer.join(30)
    assert writer.error is None, writer.error
    assert first.returncode == 0, first.stderr
    assert second.returncode == 0, second.stderr
    assert during[1] > during[0] and during[2] > during[1]  # the writer wrote meanwhile
    assert "evidence:" in first.stdout and "copied" in first.stdout
    copied = [int(out.stdout.split(" files, ")[1].split()[0]) for out in (first, second)]
    totals = [int(out.stdout.split("evidence: ")[1].split()[0]) for out in (first, second)]
    assert copied[0] == totals[0] and 0 < copied[1] < totals[1]  # the second is incremental

    checked = gridbot("check", "--backup", str(backups / "a"), cwd=tmp_path)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert checked.stdout.strip().endswith("ok")
    copies = sorted((backups / "a").glob("gridbot-*.sqlite3"))
    assert len(copies) == 2 and _reports(copies[0]) < _reports(copies[1])
    assert _reports(copies[1]) <= _reports(tmp_path / "gridbot.sqlite3")

    live = gridbot("check", "--config", str(config), cwd=tmp_path)
    assert live.returncode == 0, live.stdout + live.stderr

    victim = next(p for p in sorted((tmp_path / "evidence").rglob("*")) if p.is_file())
    victim.unlink()
    broken = gridbot("check", "--config", str(config), cwd=tmp_path)
    assert broken.returncode == 1
    assert f"missing: missing evidence file: {victim}" in broken.stdout
    assert re.search(r"\(used by R-\d{6}\)", broken.stdout), broken.stdout
    again = gridbot("backup", str(backups / "b"), "--config", str(config), cwd=tmp_path)
    assert again.returncode == 1 and victim.name in again.stderr

    stray = tmp_path / "evidence" / "ab" / ("ab" + "0" * 62)
    stray.parent.mkdir(exist_ok=True)
    stray.write_bytes(b"not known")
    assert stray.name not in gridbot("check", "--config", str(config), cwd=tmp_path).stdout
    old = time.time() - 3600
    os.utime(stray, (old, old))  # older than the grace for files in flight
    orphaned = gridbot("check", "--quick", "--config", str(config), cwd=tmp_path)
    assert f"orphan: orphaned file (no row refers to it): {stray}" in orphaned.stdout

    copy = next(p for p in sorted((backups / "a" / "evidence").rglob("*")) if p.is_file())
    copy.write_bytes(copy.read_bytes()[:-1] + b"\x00")  # same size, other bytes
    damaged = gridbot("check", "--backup", str(backups / "a"), cwd=tmp_path)
    assert damaged.returncode == 1 and f"does not match its hash: {copy}" in damaged.stdout
    assert gridbot("check", "--quick", "--backup", str(backups / "a"), cwd=tmp_path).returncode == 0
    empty = gridbot("check", "--backup", str(tmp_path / "nowhere"), cwd=tmp_path)
    assert empty.returncode == 1 and "no gridbot-*.sqlite3 backup" in empty.stderr


@pytest.fixture
def filled(tmp_path) -> Path:
    config = _setup(tmp_path)
    writer = Writer(config, range(200, 300))
    writer.start()
    writer.wait_for(30)
    writer.stop.set()
    writer.join(30)
    return config


def test_export_and_audit_from_the_shell(tmp_path, filled):
    config = str(filled)
    out = tmp_path / "reports.csv"
    done = gridbot(
        "export", "reports", "--format", "csv", "--out", str(out), "--progress", "--config", config,
        cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "100%" in done.stderr and f"{out}: " in done.stdout
    rows = list(csv.reader(out.open(encoding="utf-8-sig")))
    total = sql_rows(load_config(filled), "SELECT count(*) FROM report")[0][0]
    assert rows[0][0] == "上报编号" and len(rows) == total + 1 >= 31
    assert {row[rows[0].index("区")] for row in rows[1:]} == {"卧龙区"}

    elsewhere = gridbot("export", "reports", "--unit", "WC", "--config", config, cwd=tmp_path)
    assert elsewhere.returncode == 0, elsewhere.stderr
    book = load_workbook(tmp_path / "gridbot-reports-WC.xlsx", read_only=True)
    assert len(list(book.active.iter_rows())) == 1  # the header only: WC has no reports
    assert "nothing to export" in elsewhere.stdout

    split = gridbot(
        "export", "reports", "--max-mb", "0.006", "--out", str(tmp_path / "r.xlsx"),
        "--config", config, cwd=tmp_path,
    )  # fmt: skip
    assert split.returncode == 0, split.stderr
    parts = sorted(tmp_path.glob("r-part*.xlsx"))
    assert len(parts) >= 2 and all(p.stat().st_size <= 0.006 * 1024 * 1024 for p in parts)
    assert sum(len(list(load_workbook(p).active.iter_rows())) - 1 for p in parts) == total

    assert gridbot("export", "reports", "--unit", "XX", "--config", config, cwd=tmp_path).returncode
    bad = gridbot("export", "reports", "--from", "2026-11-05", "--to", "2026-11-01",
                  "--config", config, cwd=tmp_path)  # fmt: skip
    assert bad.returncode == 2 and "--from" in bad.stderr

    log = gridbot("audit", "--config", config, cwd=tmp_path)
    assert log.returncode == 0, log.stderr
    lines = log.stdout.splitlines()
    actions = [line.split("\t")[3] for line in lines]
    assert actions[:3] == ["org.imported", "member.added", "member.added"]
    assert actions.count("export") == 3  # the failed ones did nothing
    assert all(line.split("\t")[1] == "cli" for line in lines if "\tshell:" in line)
    assert lines[1].split("\t")[2].startswith("shell:")

    jsonl = gridbot("audit", "--format", "jsonl", "--since", "2020-01-01", "--config", config,
                    cwd=tmp_path)  # fmt: skip
    entries = [json.loads(line) for line in jsonl.stdout.splitlines()]
    assert entries[1]["action"] == "member.added" and entries[1]["unit"] == "NY"
    assert entries[-1]["detail"]["rows"] == total
    future = gridbot("audit", "--since", "2099-01-01", "--config", config, cwd=tmp_path)
    assert future.returncode == 0 and future.stdout == ""
