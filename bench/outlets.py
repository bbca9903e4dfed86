"""Benchmark: outlets (WeCom, DingTalk, Feishu group robots) over loopback HTTP.

    python bench/outlets.py [--robots 60]

Against the local robot servers of the tests (tests/robots), on the example city:

- rendering: a ranking of N rows as WeCom markdown parts, DingTalk markdown, Feishu
  posts and Feishu interactive cards (what the hub sends) — parts, largest part in bytes
  (a Feishu part as its JSON body, before signing), milliseconds;
- delivery: the daily digest to ``--robots`` outlets (a third of each platform, each its
  own robot, signed where the platform signs) through the real job — sends per second
  and the wall time, the chart rendered once for the WeCom ones;
- the limiter: 25 digests due at once for one robot, on a FakeClock moved past each
  wait — how many went out in each minute.

Prints the figures. Not part of the test run.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from collections import Counter
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bot.config import load_config
from bot.core.clock import FakeClock
from bot.formats.robots import (
    Table,
    dingtalk_markdown,
    feishu_body_size,
    feishu_cards,
    feishu_posts,
    wecom_markdown,
)
from bot.outlets.hub import OutletHub
from bot.services import Services
from tests.conftest import EXAMPLE_ORG, example_rows, write_config
from tests.outlet_helpers import DING_SECRET, FEISHU_SECRET, outlet_toml, run_past_waits
from tests.robots import RobotServer


def rendering() -> None:
    print("rendering (rows: parts, largest bytes, ms)")
    for rows in (40, 400, 4000):
        table = Table(
            "南阳市 各区巡查排名 · 2026-11-23",
            ("名次", "单位", "得分", "上报", "覆盖率", "办结率", "超时", "变化"),
            [
                (str(n), f"第{n:04}号网格化管理片区", "0.92", "12", "80%", "50%", "1", "↑2")
                for n in range(1, rows + 1)
            ],
        )
        for name, render, size in (
            ("wecom", wecom_markdown, lambda p: len(p.encode())),
            ("dingtalk", dingtalk_markdown, lambda p: len(p[1].encode())),
            ("feishu", feishu_posts, feishu_body_size),
            ("feishu-card", feishu_cards, feishu_body_size),
        ):
            start = time.perf_counter()
            parts = render(table)
            ms = (time.perf_counter() - start) * 1000
            largest = max(map(size, parts))
            print(f"  {rows:5} {name:11} {len(parts):4} parts  max {largest:6} B  {ms:7.1f} ms")


async def delivery(count: int) -> None:
    clock = FakeClock()
    robots = await RobotServer(clock.now).start()
    extra = ""
    for n in range(count):
        kind = ("wecom", "dingtalk", "feishu")[n % 3]
        token = f"bench-robot-token-{n:04}-0123456789"
        if kind == "wecom":
            extra += outlet_toml(f"o{n}", kind, "NY", robots.wecom(f"r{n}", token))
        elif kind == "dingtalk":
            url = robots.dingtalk(f"r{n}", token, DING_SECRET)
            extra += outlet_toml(f"o{n}", kind, "NY", url, DING_SECRET)
        else:
            url = robots.feishu(f"r{n}", token, FEISHU_SECRET)
            extra += outlet_toml(f"o{n}", kind, "NY", url, FEISHU_SECRET)
    with tempfile.TemporaryDirectory() as folder:
        config = load_config(write_config(Path(folder), extra))
        services = await Services.open(config, clock=clock)
        await services.org.import_rows(example_rows(), str(EXAMPLE_ORG))
        await services.outlets.sync()
        hub = OutletHub(services)
        clock.advance(timedelta(hours=11, minutes=1))
        start = time.perf_counter()
        report = await run_past_waits(clock, hub.deliver_daily())
        seconds = time.perf_counter() - start
        requests = len(robots.received)
        print(
            f"delivery: {report.sent} digests to {count} robots, {requests} requests "
            f"in {seconds:.2f} s ({requests / seconds:.0f} requests/s)"
        )
        await hub.close()
        await services.close()
    await robots.close()


async def limiter() -> None:
    clock = FakeClock()
    robots = await RobotServer(clock.now).start()
    url = robots.dingtalk("one", "bench-one-robot-0123456789", DING_SECRET)
    extra = "".join(
        outlet_toml(f"d{n}", "dingtalk", "NY", url, DING_SECRET, sends=["daily"]) for n in range(25)
    )
    with tempfile.TemporaryDirectory() as folder:
        config = load_config(write_config(Path(folder), extra))
        services = await Services.open(config, clock=clock)
        await services.org.import_rows(example_rows(), str(EXAMPLE_ORG))
        await services.outlets.sync()
        hub = OutletHub(services)
        clock.advance(timedelta(hours=11, minutes=1))
        first = clock.now()
        await run_past_waits(clock, hub.deliver_daily())
        minutes = Counter(int((r.at - first).total_seconds() // 60) for r in robots.received)
        codes = Counter(r.code for r in robots.received)
        print(
            f"limiter: 25 digests to one robot, by minute {dict(sorted(minutes.items()))}, "
            f"answers {dict(codes)}"
        )
        await hub.close()
        await services.close()
    await robots.close()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--robots", type=int, default=60)
    args = parser.parse_args()
    rendering()
    asyncio.run(delivery(args.robots))
    asyncio.run(limiter())


if __name__ == "__main__":
    main()
