"""Benchmark: build every digest of a day and of a week on a city-sized database.

    python bench/digest.py [--reports 1000000] [--tips 100000] [--keep DIR]

Builds synthetic data — 4 districts, 40 streets, 400 communities, 4,000 grids, 20,000
members, 200,000 sites, the reports spread over 60 days, the tips over 90 — with
45 bound groups (the city, each district, each street). Then it times:

- gridbot: the ranking of every group's children (per-day aggregates, indexed reads)
  and the rendered text, for a day and for a week; the score charts separately;
- plain SQL: the same counts (reports, grids covered, reporters, tips received /
  assigned / closed / valid, sites and sites done, members per child) straight from
  the ``report``, ``tip``, ``site`` and ``member`` tables, one GROUP BY per group;

and prints the figures with the process's peak RSS. Not part of the test run.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import resource
import sqlite3
import sys
import tempfile
import time
from datetime import date, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.city import insert_city
from bot.config import load_config
from bot.core.clock import FakeClock
from bot.domain.digest import render_daily
from bot.domain.ranking import Period
from bot.formats.chart import score_chart
from bot.services import Services

UTC8 = timedelta(hours=8)
TODAY = date(2026, 11, 23)


def build(db_path: Path, reports: int, tips: int, seed: int = 1) -> None:
    rng = random.Random(seed)
    conn = sqlite3.connect(db_path)
    conn.execute("PRAGMA synchronous = OFF")
    now = "2026-11-23T00:00:00Z"
    units, grids = insert_city(conn, now)
    members = []
    for index, (gid, _) in enumerate(grids):
        for k in range(5):
            mid = index * 5 + k + 1
            members.append((mid, 10_000_000 + mid, f"网格员{mid}", gid, "worker", 1, now, now))
    conn.executemany(
        "INSERT INTO member (id, telegram_id, name, unit_id, role, active, joined_at, "
        "updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        members,
    )
    sites = []
    for index, (gid, code) in enumerate(grids):
        for k in range(50):
            sid = index * 50 + k + 1
            status = rng.choice(["in_use", "sealed", "sealed", "to_check"])
            sites.append(
                (sid, "well", f"{code}-W{k}", f"{code.lower()}-w{k}", gid, status, now, now)
            )
    conn.executemany(
        "INSERT INTO site (id, category, code, code_key, unit_id, status, created_at, "
        "updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        sites,
    )
    start = datetime(2026, 9, 25)
    batch = []
    for rid in range(1, reports + 1):
        grid_index = rng.randrange(len(grids))
        gid = grids[grid_index][0]
        site = grid_index * 50 + rng.randrange(50) + 1
        member = grid_index * 5 + rng.randrange(5) + 1
        moment = start + timedelta(seconds=rng.randrange(60 * 86400))
        batch.append((rid, rid, site, "well", "sealed", gid, member, 0, int(rng.random() < 0.02),
                      moment.strftime("%Y-%m-%dT%H:%M:%SZ")))  # fmt: skip
        if len(batch) == 50_000:
            _reports(conn, batch)
            batch = []
    _reports(conn, batch)
    conn.execute(
        "INSERT INTO unit_day (unit_id, day, reports, flagged) SELECT unit_id, "
        "date(created_at, '+8 hours'), COUNT(*), SUM(flagged) FROM report GROUP BY 1, 2"
    )
    conn.execute(
        "INSERT INTO member_day (member_id, day, reports) SELECT member_id, "
        "date(created_at, '+8 hours'), COUNT(*) FROM report GROUP BY 1, 2"
    )
    tip_rows = []
    tip_start = datetime(2026, 8, 25)
    for tid in range(1, tips + 1):
        gid = grids[rng.randrange(len(grids))][0]
        received = tip_start + timedelta(seconds=rng.randrange(90 * 86400))
        assigned = received + timedelta(hours=rng.randrange(1, 48))
        closed = assigned + timedelta(hours=rng.randrange(1, 200))
        state = rng.choice(["received", "assigned", "closed", "closed", "closed"])
        fmt = "%Y-%m-%dT%H:%M:%SZ"
        tip_rows.append((
            tid, f"T-B-{tid:06d}", received.strftime(fmt), gid, "井", "hotline", state,
            gid if state != "received" else None,
            assigned.strftime(fmt) if state != "received" else None,
            (assigned + timedelta(hours=72)).strftime(fmt) if state != "received" else None,
            closed.strftime(fmt) if state == "closed" else None,
            rng.choice([0, 1]) if state == "closed" else None, now,
        ))  # fmt: skip
    conn.executemany(
        "INSERT INTO tip (id, number, received_at, unit_id, description, source, state, "
        "assigned_unit_id, assigned_at, deadline, closed_at, valid, created_at) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        tip_rows,
    )
    groups = [u for u in units if u[3] in ("city", "district", "street")]
    conn.executemany(
        "INSERT INTO group_chat (chat_id, unit_id, title, bound_at) VALUES (?, ?, ?, ?)",
        [(-1_000_000 - u[0], u[0], u[2], "2026-01-01T00:00:00Z") for u in groups],
    )
    conn.commit()
    conn.execute("ANALYZE")
    conn.close()


def _reports(conn: sqlite3.Connection, batch: list[tuple]) -> None:
    conn.executemany(
        "INSERT INTO report (id, draft_id, site_id, category, status, unit_id, member_id, "
        "recheck, flagged, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        batch,
    )


def plain_sql(db_path: Path, parents: list[str], first: date, last: date) -> float:
    """The same counts from the raw tables, one GROUP BY per group, timed."""
    conn = sqlite3.connect(db_path)
    start = (datetime.combine(first, datetime.min.time()) - UTC8).strftime("%Y-%m-%dT%H:%M:%SZ")
    end = (datetime.combine(last + timedelta(days=1), datetime.min.time()) - UTC8).strftime(
        "%Y-%m-%dT%H:%M:%SZ"
    )
    began = time.perf_counter()
    for code in parents:
        (path,) = conn.execute("SELECT path FROM org_unit WHERE code = ?", (code,)).fetchone()
        depth = len(path)
        child = f"substr(u.path, 1, instr(substr(u.path, {depth + 1}), '/') + {depth})"
        conn.execute(
            f"SELECT {child}, COUNT(*), COUNT(DISTINCT r.unit_id), COUNT(DISTINCT r.member_id) "
            "FROM report r JOIN org_unit u ON u.id = r.unit_id WHERE u.path > ? AND "
            "u.path < ? AND r.created_at >= ? AND r.created_at < ? GROUP BY 1",
            (path, path[:-1] + "0", start, end),
        ).fetchall()
        conn.execute(
            f"SELECT {child}, COUNT(*), SUM(t.assigned_at < ?), SUM(t.state = 'closed' AND "
            "t.closed_at < ?), SUM(t.valid = 1 AND t.closed_at < ?) FROM tip t JOIN org_unit u "
            "ON u.id = coalesce(t.assigned_unit_id, t.unit_id) WHERE u.path > ? AND u.path < ? "
            "AND t.received_at >= ? AND t.received_at < ? GROUP BY 1",
            (end, end, end, path, path[:-1] + "0", start, end),
        ).fetchall()
        conn.execute(
            f"SELECT {child}, COUNT(*), SUM(s.status = 'sealed') FROM site s JOIN org_unit u "
            "ON u.id = s.unit_id WHERE u.path > ? AND u.path < ? GROUP BY 1",
            (path, path[:-1] + "0"),
        ).fetchall()
        conn.execute(
            f"SELECT {child}, COUNT(*) FROM member m JOIN org_unit u ON u.id = m.unit_id "
            "WHERE m.active = 1 AND u.path > ? AND u.path < ? GROUP BY 1",
            (path, path[:-1] + "0"),
        ).fetchall()
    elapsed = time.perf_counter() - began
    conn.close()
    return elapsed


async def gridbot(services: Services, parents: list[str], kind: str, charts: bool) -> float:
    say = lambda key, **f: services.catalogue.text("zh", key, **f)  # noqa: E731
    began = time.perf_counter()
    rankings = await services.ranking.rank_many(list(parents), Period.of(kind, TODAY))
    for code in parents:
        ranking = rankings[code]
        render_daily(ranking, say)
        if charts:
            await asyncio.to_thread(score_chart, ranking, code, "得分")
    return time.perf_counter() - began


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reports", type=int, default=1_000_000)
    parser.add_argument("--tips", type=int, default=100_000)
    parser.add_argument("--keep", type=Path, help="build the database in this folder")
    args = parser.parse_args()
    folder = args.keep or Path(tempfile.mkdtemp(prefix="gridbot-bench-"))
    folder.mkdir(parents=True, exist_ok=True)
    config_path = folder / "config.toml"
    config_path.write_text('[database]\npath = "bench.sqlite3"\n', encoding="utf-8")
    config = load_config(config_path)
    clock = FakeClock(datetime(2026, 11, 23, 13, 0, tzinfo=__import__("datetime").UTC))
    if not config.database.path.exists():
        services = await Services.open(config, clock=clock)
        await services.close()
        began = time.perf_counter()
        build(config.database.path, args.reports, args.tips)
        took = time.perf_counter() - began
        print(f"built {args.reports:,} reports, {args.tips:,} tips in {took:.1f} s")
    services = await Services.open(config, clock=clock)
    try:
        groups = await services.groups.active_groups()
        parents = [g.unit_code for g in groups]
        size = config.database.path.stat().st_size / 1e6
        print(f"{len(groups)} bound groups; database {size:.0f} MB")
        await gridbot(services, parents[:1], "day", False)  # warm the page cache
        for kind, period in (("day", Period.of("day", TODAY)), ("week", Period.of("week", TODAY))):
            ours = await gridbot(services, parents, kind, False)
            plain = plain_sql(config.database.path, parents, period.first, period.last)
            print(
                f"{kind:>4}: gridbot {ours * 1000:8.0f} ms for all digests "
                f"({ours * 1000 / len(parents):.1f} ms each) | plain SQL {plain * 1000:8.0f} ms "
                f"| ratio {plain / ours:5.1f}× faster"
            )
        charts = await gridbot(services, parents, "day", True)
        print(
            f" day with charts: {charts * 1000:.0f} ms ({charts * 1000 / len(parents):.0f} ms each)"
        )
    finally:
        await services.close()
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak RSS {rss:.0f} MB")


if __name__ == "__main__":
    asyncio.run(main())
