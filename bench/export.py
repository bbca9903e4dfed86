"""Benchmark: export a city's reports as XLSX and CSV, and back the database up.

    python bench/export.py [--reports 200000] [--keep DIR]

Builds the synthetic city of ``bench/digest.py`` (with fewer reports by default), then
times, in this one process:

- the city-wide reports export as XLSX (openpyxl write-only, split at 49 MB as /export
  does) and as CSV, with rows per second and how much the peak RSS grew — streaming
  should keep memory flat however many rows there are;
- a plain ``SELECT`` of the same rows into memory, as the floor for reading them;
- ``gridbot backup``'s database copy (SQLite's online backup API) and the quick check.

The synthetic reports have photo rows but no photo files, so evidence is not part of
these figures. Not part of the test run.
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import sqlite3
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.digest import build
from bot.config import load_config
from bot.core.clock import FakeClock
from bot.domain.exports import Exporter, ExportRequest
from bot.i18n import Catalogue
from bot.services import Services
from storage import maintenance


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


async def prepare(folder: Path, reports: int) -> Path:
    config_path = folder / "config.toml"
    config_path.write_text('[database]\npath = "bench.sqlite3"\n', encoding="utf-8")
    config = load_config(config_path)
    if not config.database.path.exists():
        services = await Services.open(config, clock=FakeClock(datetime(2026, 11, 23, tzinfo=UTC)))
        await services.close()
        began = time.perf_counter()
        build(config.database.path, reports, reports // 10)
        print(f"built {reports:,} reports in {time.perf_counter() - began:.1f} s")
    return config_path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reports", type=int, default=200_000)
    parser.add_argument("--keep", type=Path, help="build the database in this folder")
    args = parser.parse_args()
    folder = args.keep or Path(tempfile.mkdtemp(prefix="gridbot-bench-"))
    folder.mkdir(parents=True, exist_ok=True)
    config = load_config(asyncio.run(prepare(folder, args.reports)))
    size = config.database.path.stat().st_size / 1e6
    print(f"database {size:.0f} MB")

    conn = sqlite3.connect(config.database.path)
    began = time.perf_counter()
    rows = conn.execute(
        "SELECT r.*, (SELECT group_concat(sha256, ' ') FROM report_photo p "
        "WHERE p.report_id = r.id) FROM report r"
    ).fetchall()
    plain = time.perf_counter() - began
    count = len(rows)
    del rows
    conn.close()
    print(f"plain SELECT of {count:,} reports into memory: {plain:.1f} s")

    exporter = Exporter(config, Catalogue.load())
    request = ExportRequest("reports", "/1/", language="zh")
    for fmt in ("xlsx", "csv"):
        before = rss_mb()
        began = time.perf_counter()
        result = exporter.run(
            request, folder / f"reports.{fmt}", fmt=fmt, max_bytes=49 * 1024 * 1024
        )
        took = time.perf_counter() - began
        total = sum(part.size for part in result.parts) / 1e6
        print(
            f"export {fmt}: {result.rows:,} rows in {took:.1f} s ({result.rows / took:,.0f} rows/s,"
            f" {took / plain:.1f}× the plain SELECT), {len(result.parts)} file(s), "
            f"{total:.0f} MB; peak RSS {before:.0f} → {rss_mb():.0f} MB"
        )

    target = folder / "backup.sqlite3"
    target.unlink(missing_ok=True)
    began = time.perf_counter()
    maintenance.backup(config.database.path, target)
    took = time.perf_counter() - began
    print(f"backup copy of {size:.0f} MB: {took:.1f} s ({size / took:.0f} MB/s)")
    began = time.perf_counter()
    check = maintenance.connect(target)
    problems = maintenance.integrity_problems(check)
    check.close()
    print(f"integrity_check: {time.perf_counter() - began:.1f} s, {len(problems)} problems")


if __name__ == "__main__":
    main()
