"""Benchmark: inspection plans on a city-sized registry.

    python bench/plans.py [--sites 200000] [--reports 1000000] [--plans 20] [--keep DIR]
    python bench/plans.py --quick          # 20,000 sites, 100,000 reports: a check

Builds a city of 4 districts, 40 streets, 400 communities and 4,000 grids with 20,000
workers and 45 bound groups (the city, each district, each street); imports the sites
with ``gridbot sites import`` (a CSV of ``--sites`` rows, 50 per grid, tagged) in a
process of its own; makes ``--plans`` plans through the service (half one-off re-checks
with a deadline, half cycles of 3 days, 7 days or weekly, at city, district and street
scope, some with a tag); adds ``--reports`` reports over 60 days and sets each site's
plan rounds from them as the submit transaction would have (then the tallies are
counted once). Then it prints:

- the import: wall time and the importing process's peak RSS (targets: 20 s, 250 MB);
- plan progress for all 45 bound groups, every open plan by child unit — one call as
  the daily digest makes it, and one call per group (target: 300 ms in all);
- /todo for one worker: p50 / p99 over 1,000 workers (target p99: 20 ms);
- the submit hook (a report counted in every plan its site is in), per report.

Not part of the test run.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import resource
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.city import insert_city  # noqa: E402
from bot.config import load_config  # noqa: E402
from bot.core.clock import FakeClock  # noqa: E402
from bot.domain.plans import PlanSpec  # noqa: E402
from bot.services import Services  # noqa: E402
from storage import plans as plan_repo  # noqa: E402

NOW = datetime(2026, 11, 23, 4, 0, tzinfo=UTC)  # 12:00 Asia/Shanghai
START = NOW - timedelta(days=60)
TAGS = ("重点用水户", "洗浴中心", "小区", "宾馆", "企事业单位")


def build_city(db_path: Path) -> list[tuple[int, str]]:
    """The tree, the workers and the bound groups; returns the grids (id, code)."""
    conn = sqlite3.connect(db_path)
    now = "2026-09-01T00:00:00Z"
    units, grids = insert_city(conn, now)
    conn.executemany(
        "INSERT INTO member (id, telegram_id, name, unit_id, role, active, joined_at, "
        "updated_at) VALUES (?, ?, ?, ?, 'worker', 1, ?, ?)",
        [
            (i * 5 + k + 1, 10_000_000 + i * 5 + k + 1, "网格员", gid, now, now)
            for i, (gid, _) in enumerate(grids)
            for k in range(5)
        ],
    )
    groups = [u for u in units if u[3] in ("city", "district", "street")]
    conn.executemany(
        "INSERT INTO group_chat (chat_id, unit_id, title, bound_at) VALUES (?, ?, ?, ?)",
        [(-1_000_000 - u[0], u[0], u[2], now) for u in groups],
    )
    conn.commit()
    conn.close()
    return grids


def write_registry(path: Path, grids: list[tuple[int, str]], sites: int, rng: random.Random):
    per_grid = max(1, sites // len(grids))
    with path.open("w", encoding="utf-8") as out:
        out.write("category,code,name,address,unit,lat,lon,tags,status\n")
        for index, (_, code) in enumerate(grids):
            for k in range(per_grid):
                category = "well" if k % 5 else "hazard"
                tags = ";".join(t for t in TAGS if rng.random() < 0.25)
                lat = 32.9 + (index % 64) / 500 + rng.random() / 1000
                lon = 112.4 + (index // 64) / 500 + rng.random() / 1000
                out.write(
                    f"{category},{code}-S{k},单位{k},{code}路{k}号,{code},{lat:.6f},{lon:.6f},"
                    f"{tags},\n"
                )


def run_import(config: Path, registry: Path) -> tuple[float, float, str]:
    """``gridbot sites import`` in a process of its own: wall time, peak RSS, its output."""
    began = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "bot", "sites", "import", str(registry), "--config", str(config),
         "--progress"],
        cwd=ROOT, capture_output=True, text=True, check=False,
    )  # fmt: skip
    took = time.perf_counter() - began
    if done.returncode:
        raise SystemExit(done.stderr)
    rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return took, rss, done.stdout.strip().splitlines()[0]


def plan_specs(count: int, today: date) -> list[PlanSpec]:
    scopes = ["NY", "D0", "D1", "D2", "D3", "D0-S1", "D1-S2", "D2-S3", "D3-S4", "D0-S5"]
    specs = []
    for n in range(count):
        unit = scopes[n % len(scopes)]
        tag = TAGS[n % len(TAGS)] if n % 3 else None
        category = "hazard" if n % 4 == 3 else "well"
        if n % 2 == 0:
            deadline = today + timedelta(days=45 + 5 * (n % 5))  # some past by NOW
            specs.append(PlanSpec(f"回头看{n}", category, unit, tag, deadline, None, False, "any"))
        else:
            days, weekly = [(3, False), (7, False), (7, True)][n % 3]
            specs.append(PlanSpec(f"轮检{n}", category, unit, tag, None, days, weekly, "any"))
    return specs


def add_reports(db_path: Path, reports: int, rng: random.Random) -> None:
    conn = sqlite3.connect(db_path)
    conn.execute("PRAGMA synchronous = OFF")
    sites = conn.execute("SELECT id, unit_id, category FROM site ORDER BY id").fetchall()
    members = {u: m for m, u in conn.execute("SELECT id, unit_id FROM member")}
    batch = []
    for rid in range(1, reports + 1):
        site_id, unit_id, category = sites[rng.randrange(len(sites))]
        moment = START + timedelta(seconds=rng.randrange(60 * 86400))
        status = "sealed" if category == "well" else "fixed"
        batch.append((rid, rid, site_id, category, status, unit_id, members[unit_id],
                      moment.strftime("%Y-%m-%dT%H:%M:%SZ")))  # fmt: skip
        if len(batch) == 50_000:
            _insert_reports(conn, batch)
            batch = []
    _insert_reports(conn, batch)
    # Each site's plan rounds as the submit transaction would have set them: the latest
    # round (local day since the plan's first, over its cycle) with a report.
    conn.execute("CREATE TEMP TABLE last_report AS SELECT site_id, MAX(created_at) AS at "
                 "FROM report GROUP BY site_id")  # fmt: skip
    conn.execute("CREATE INDEX temp.last_site ON last_report (site_id)")
    for plan_id, start_day, cycle, created in conn.execute(
        "SELECT id, start_day, cycle_days, created_at FROM plan"
    ).fetchall():
        if cycle is None:
            conn.execute(
                "UPDATE plan_site SET last_round = 0, on_time = 1, last_done_at = "
                "(SELECT at FROM last_report l WHERE l.site_id = plan_site.site_id) "
                "WHERE plan_id = ? AND site_id IN (SELECT site_id FROM last_report WHERE at >= ?)",
                (plan_id, created),
            )
        else:
            conn.execute(
                "UPDATE plan_site SET on_time = 1, last_done_at = l.at, last_round = "
                "CAST(julianday(date(l.at, '+8 hours')) - julianday(?) AS INTEGER) / ? "
                "FROM last_report l WHERE l.site_id = plan_site.site_id AND plan_id = ? "
                "AND l.at >= ?",
                (start_day, cycle, plan_id, created),
            )
    conn.commit()
    conn.execute("ANALYZE")
    conn.close()


def _insert_reports(conn: sqlite3.Connection, batch: list[tuple]) -> None:
    conn.executemany(
        "INSERT INTO report (id, draft_id, site_id, category, status, unit_id, member_id, "
        "recheck, flagged, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, 0, 0, ?)",
        batch,
    )


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


async def measure(services: Services, rng: random.Random) -> None:
    groups = await services.groups.active_groups()
    codes = [g.unit_code for g in groups]
    await services.plans.progress_many(codes[:1])  # warm the page cache
    began = time.perf_counter()
    found = await services.plans.progress_many(codes)
    once = time.perf_counter() - began
    tables = sum(len(p) for p in found.values())
    began = time.perf_counter()
    for code in codes:
        await services.plans.progress_many([code])
    each = time.perf_counter() - began
    print(
        f"plan progress, {len(codes)} groups ({tables} plan tables): {once * 1000:.0f} ms in "
        f"one call; {each * 1000:.0f} ms one call per group (target 300 ms)"
    )
    city = found["NY"]
    done = sum(p.total.done for p in city)
    due = sum(p.total.due for p in city)
    print(f"  city: {len(city)} open plans, {done:,} of {due:,} site rounds done")

    async with services.db.read() as conn:
        cur = await conn.execute("SELECT max(id) FROM member")
        top = (await cur.fetchone())[0]
    times, listed = [], 0
    for _ in range(1000):
        member = await services.members.by_telegram_id(10_000_000 + rng.randrange(1, top + 1))
        began = time.perf_counter()
        todo = await services.plans.todo(member)
        times.append(time.perf_counter() - began)
        listed += len(todo.items)
    print(
        f"/todo, 1,000 workers: p50 {percentile(times, 0.5) * 1000:.1f} ms, "
        f"p99 {percentile(times, 0.99) * 1000:.1f} ms, mean {statistics.mean(times) * 1000:.1f} ms "
        f"({listed / 1000:.1f} sites listed each; target p99 20 ms)"
    )

    async with services.db.read() as conn:
        cur = await conn.execute("SELECT site_id FROM plan_site ORDER BY random() LIMIT 500")
        site_ids = [row[0] for row in await cur.fetchall()]
    began = time.perf_counter()
    counted = 0
    for site_id in site_ids:
        async with services.db.transaction() as conn:
            counted += await services.plans.record_report(conn, site_id, "sealed", NOW)
    took = time.perf_counter() - began
    print(
        f"submit hook: {took / len(site_ids) * 1000:.2f} ms a report in its own transaction "
        f"({counted / len(site_ids):.1f} plans counted each)"
    )


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sites", type=int, default=200_000)
    parser.add_argument("--reports", type=int, default=1_000_000)
    parser.add_argument("--plans", type=int, default=20)
    parser.add_argument("--quick", action="store_true", help="20,000 sites, 100,000 reports")
    parser.add_argument("--keep", type=Path, help="build the database in this folder")
    args = parser.parse_args()
    if args.quick:
        args.sites, args.reports = 20_000, 100_000
    rng = random.Random(1)
    folder = args.keep or Path(tempfile.mkdtemp(prefix="gridbot-bench-plans-"))
    folder.mkdir(parents=True, exist_ok=True)
    config_path = folder / "config.toml"
    config_path.write_text(
        '[database]\npath = "bench.sqlite3"\n'
        "[[campaign.categories]]\n"
        'code = "well"\nname = "自备井"\n'
        'statuses = [{ code = "in_use", name = "在用" }, '
        '{ code = "sealed", name = "已封停", done = true }]\n'
        "[[campaign.categories]]\n"
        'code = "hazard"\nname = "防汛隐患"\n'
        'statuses = [{ code = "open", name = "存在" }, '
        '{ code = "fixed", name = "已整改", done = true }]\n',
        encoding="utf-8",
    )
    config = load_config(config_path)
    clock = FakeClock(START)
    services = await Services.open(config, clock=clock)
    await services.close()

    began = time.perf_counter()
    grids = build_city(config.database.path)
    registry = folder / "sites.csv"
    write_registry(registry, grids, args.sites, rng)
    print(f"city of {len(grids):,} grids and a {args.sites:,}-site file in "
          f"{time.perf_counter() - began:.1f} s")  # fmt: skip
    took, rss, said = run_import(config_path, registry)
    print(f"import: {took:.1f} s, peak RSS {rss:.0f} MB (targets 20 s, 250 MB) — {said}")
    again, _, said = run_import(config_path, registry)
    print(f"import again: {again:.1f} s — {said}")

    services = await Services.open(config, clock=clock)
    try:
        began = time.perf_counter()
        joined = 0
        for spec in plan_specs(args.plans, START.date()):
            joined += (await services.plans.create(None, spec))[1]
        print(f"{args.plans} plans, {joined:,} plan sites, in {time.perf_counter() - began:.1f} s")
    finally:
        await services.close()
    began = time.perf_counter()
    add_reports(config.database.path, args.reports, rng)
    print(f"{args.reports:,} reports over 60 days in {time.perf_counter() - began:.1f} s")

    clock.set(NOW)
    services = await Services.open(config, clock=clock)
    try:
        async with services.db.transaction() as conn:  # the tallies, counted once
            for plan in await plan_repo.open_plans(conn):
                await plan_repo.recount(conn, plan.id)
        await measure(services, rng)
    finally:
        await services.close()
    size = config.database.path.stat().st_size / 1e6
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"database {size:.0f} MB; this process's peak RSS {rss:.0f} MB")


if __name__ == "__main__":
    asyncio.run(main())
