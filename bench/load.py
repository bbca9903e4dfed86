"""Load benchmark: a bare PTB echo bot and gridbot under the same load of report flows.

    python bench/load.py [--workers 60] [--seconds 120] [--rate UPDATES_PER_S]
                         [--only echo|gridbot|flood] [--flood-size 1000] [--flood-rate 100]
                         [--flood-seconds 60]

    python bench/load.py --backend sqlite|postgresql|both [--processes N] [--pg-url URL]

With ``--backend``: gridbot alone, in webhook mode behind a round-robin proxy
(``tests/roundrobin.py``), on SQLite with one process and on PostgreSQL (a throwaway
cluster, or ``--pg-url``) with one and with ``--processes`` processes; updates per
second and the bot's CPU per update (all its processes together) for each.

One process tree, one run. This process serves the project's Bot API test server on
loopback HTTP and plays N grid workers; the bots run as child processes polling it:

(a) ``bench/echo_bot.py`` — python-telegram-bot with nothing behind its handlers;
(b) ``gridbot run`` — the real bot, SQLite, evidence files and the durable inbox.

Every worker repeats a full report flow — /report, a site, 新建地点, a status, a photo,
照片已齐, a location, 跳过 the note, 提交 — waiting for the bot's answer to each step
as a person would (closed loop), for ``--seconds`` per bot; with ``--rate`` the workers
are paced to offer that many updates per second in all, for latency at a given load.
The echo bot gets the same updates in the same order (its buttons are pressed where
gridbot's would be). gridbot's album wait (a pause for more photos of an album, 1.5 s
by default) is set to 0, so a photo is answered right after its commit. Printed
for both: updates per second and their ratio; p50/p95/p99 from an update's arrival at
the server to the bot's first answer to it (gridbot answers only after its commit, so
this bounds arrival-to-commit from above), overall and per step of the flow; outgoing
calls per second and the number of 429 answers; the bot process's peak RSS (VmHWM);
CPU time per update of the bot and of this process (the test server and the simulated
workers), which share the machine.

(c) the flood case, ``gridbot run`` with the production limits (30 sends a second, 100
updates queued per chat): another chat's ``/whoami`` (one every ``--probe-every`` s)
answer time, p50/p99 from arrival at the server to the answer, first with the bot
otherwise idle, then while a stranger's chat floods it with ``--flood-size`` messages,
``--flood-rate`` a second (0: all at once), wave after wave (the next once the bot has
answered the last); ``--flood-seconds`` split between the two, printed side by side with
the bot's CPU. The target: the flooded p99 within 2× the idle p99. (Sent all at once,
the flood is ahead of the other chat's update in Telegram's one stream of updates: that
update is seen only once the bot has fetched and stored the flood's.)
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bot.botapi import ApiCall, BotApiServer
from bot.botapi.users import TestUser
from bot.config import load_config
from bot.core.access import Role
from bot.core.clock import SystemClock
from bot.formats.orgfile import read_org_file
from bot.services import Services
from tests import pgcluster
from tests.conftest import EXAMPLE_ORG, TEST_TOKEN, fresh_schema_url, write_config
from tests.photos import photo
from tests.roundrobin import RoundRobin, free_port, serving

ROOT = Path(__file__).resolve().parent.parent
UNITS = ["WL-WH-CZ-01", "WL-WH-CZ-02", "WC-XH-XH-01", "WL-WH-CZ"]
ANSWERS = ("sendMessage", "answerCallbackQuery", "editMessageText")
WEBHOOK_PATH = "/gridbot/hook"
WEBHOOK_CONNECTIONS = 16
STEPS = ("/report", "site", "新建地点", "status", "photo", "照片已齐", "location", "跳过", "提交")


# Waits for a worker's next turn to send; returns when it sends.
Pace = Callable[[], Awaitable[float]]


@dataclass
class Figures:
    updates: int = 0
    latencies: list[float] = field(default_factory=list)
    by_step: dict[int, list[float]] = field(default_factory=dict)
    flows: int = 0
    errors: int = 0


def _name(number: int) -> str:
    digits = "零一二三四五六七八九"
    return "网格员" + "".join(digits[int(d)] for d in str(number))


async def _answer(
    user: TestUser, pushed: float, figures: Figures, want: Callable[[ApiCall], bool], step: int
):
    """Wait for the answer ``want`` describes to step ``step`` of a flow; count the update
    and its latency."""
    first: ApiCall | None = None
    while True:
        call = await user.next_reply(timeout=30)
        if first is None:
            first = call
            figures.latencies.append(call.at - pushed)
            figures.by_step.setdefault(step, []).append(call.at - pushed)
        if want(call):
            figures.updates += 1
            return call


def _has(label: str) -> Callable[[ApiCall], bool]:
    return lambda c: c.method == "sendMessage" and any(x.startswith(label) for x, _ in c.buttons)


def _says(text: str) -> Callable[[ApiCall], bool]:
    return lambda c: c.method == "sendMessage" and text in c.text


def _label(call: ApiCall, prefix: str) -> str:
    return next(x for x, _ in call.buttons if x.startswith(prefix))


async def gridbot_flow(
    user: TestUser, number: int, flow: int, figures: Figures, pace: Pace
) -> None:
    pushed = await pace()
    await user.send_text("/report")
    ask = await _answer(user, pushed, figures, _says("编号"), 0)
    pushed = await pace()
    await user.send_text(f"L{number}-{flow}")
    found = await _answer(user, pushed, figures, _has("➕ 新建地点"), 1)
    pushed = await pace()
    await user.press_label(found, _label(found, "➕ 新建地点"))
    status = await _answer(user, pushed, figures, _says("请选择现场状态"), 2)
    pushed = await pace()
    await user.press_label(status, "在用")
    await _answer(user, pushed, figures, _says("请发送 1–10 张"), 3)
    pushed = await pace()
    await user.send_photo(photo(100_000 + number * 1000 + flow))
    more = await _answer(user, pushed, figures, _has("✅ 照片已齐"), 4)
    pushed = await pace()
    await user.press_label(more, _label(more, "✅ 照片已齐"))
    await _answer(user, pushed, figures, _says("发送当前位置"), 5)
    pushed = await pace()
    await user.send_location(33.0, 112.5)
    note = await _answer(user, pushed, figures, _has("跳过"), 6)
    pushed = await pace()
    await user.press_label(note, "跳过")
    summary = await _answer(user, pushed, figures, _has("✅ 提交"), 7)
    pushed = await pace()
    await user.press_label(summary, _label(summary, "✅ 提交"))
    await _answer(user, pushed, figures, _says("上报已提交"), 8)
    assert ask
    figures.flows += 1


async def echo_flow(user: TestUser, number: int, flow: int, figures: Figures, pace: Pace) -> None:
    """The same nine updates, in the same order, to the echo bot."""
    ok = lambda c: c.method == "sendMessage"  # noqa: E731
    last: ApiCall | None = None
    number_of_step = 0

    async def step(send) -> None:
        nonlocal last, number_of_step
        pushed = await pace()
        await send()
        last = await _answer(user, pushed, figures, ok, number_of_step)
        number_of_step += 1

    await step(lambda: user.send_text("/report"))
    await step(lambda: user.send_text(f"L{number}-{flow}"))
    await step(lambda: user.press_label(last, "next"))
    await step(lambda: user.press_label(last, "next"))
    await step(lambda: user.send_photo(photo(100_000 + number * 1000 + flow)))
    await step(lambda: user.press_label(last, "next"))
    await step(lambda: user.send_location(33.0, 112.5))
    await step(lambda: user.press_label(last, "next"))
    await step(lambda: user.press_label(last, "next"))
    figures.flows += 1


def pacer(rate: float | None, workers: int, number: int) -> Pace:
    """When the worker may send its next update; returns the time it does.

    Without a rate, at once (closed loop: as fast as the bot answers). With one, each
    worker sends every ``workers / rate`` seconds (staggered), so the bot is offered
    ``rate`` updates per second in all; a worker whose answer came late sends at once."""
    if not rate:

        async def now() -> float:
            return time.time()

        return now
    interval = workers / rate
    slot = time.time() + interval * number / workers

    async def paced() -> float:
        nonlocal slot
        wait = slot - time.time()
        if wait > 0:
            await asyncio.sleep(wait)
        slot = max(slot + interval, time.time())
        return time.time()

    return paced


def _cpu_seconds(pid: int) -> float:
    """User + system CPU time the process has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _peak_rss_mb(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


async def run_one(
    name: str,
    command: list[str] | list[list[str]],
    server: BotApiServer,
    workers: int,
    seconds: float,
    flow,
    rate: float | None = None,
    ports: list[int] | None = None,
) -> dict[str, float]:
    """One bot under load: ``command`` polling, or several ``commands`` (each a
    ``gridbot run --webhook`` on one of ``ports``) behind a round-robin proxy that the
    test server posts updates to, up to ``WEBHOOK_CONNECTIONS`` at once (as Telegram
    does). CPU is that of all the bot's processes together."""
    env = {**os.environ, "GRIDBOT_TOKEN": TEST_TOKEN, "PYTHONUNBUFFERED": "1"}
    log = os.environ.get("GRIDBOT_BENCH_LOG")
    commands = command if isinstance(command[0], list) else [command]
    bots = []
    for index, one in enumerate(commands):
        errors = open(f"{log}.{name}.{index}", "wb") if log else asyncio.subprocess.DEVNULL  # noqa: SIM115, ASYNC230
        started = await asyncio.create_subprocess_exec(
            *one, cwd=ROOT, env=env, stdout=asyncio.subprocess.DEVNULL, stderr=errors,
        )  # fmt: skip
        bots.append(started)
    figures = Figures()
    stop = asyncio.Event()
    balancer = RoundRobin(ports) if ports else None
    delivery = None
    try:
        if balancer is not None and ports:
            for port in ports:
                await serving(port)
            front = await balancer.start()
            delivery = asyncio.create_task(
                server.deliver_webhook(f"{front}{WEBHOOK_PATH}", stop, WEBHOOK_CONNECTIONS)
            )
        else:
            await server.wait_polling(timeout=60)
        users = [server.user(5000 + n, _name(n)) for n in range(workers)]
        calls_before = len(server.calls)
        cpu_bot, cpu_here = sum(_cpu_seconds(b.pid) for b in bots), time.process_time()
        began = time.time()
        deadline = began + seconds

        async def work(number: int) -> None:
            flow = 0
            pace = pacer(rate, workers, number)
            while time.time() < deadline:
                flow += 1
                try:
                    await flow_fn(users[number], number, flow, figures, pace)
                except AssertionError as exc:
                    figures.errors += 1
                    if os.environ.get("GRIDBOT_BENCH_DEBUG"):
                        user = users[number]
                        seen = [c for c in server.calls if user.shows(c)][-8:]
                        print(str(exc).splitlines()[0], file=sys.stderr)
                        for c in seen:
                            print(
                                f"   #{c.seq} {c.method} {c.status} {c.text[:60]!r} "
                                f"{c.params.get('text', '')!r}",
                                file=sys.stderr,
                            )

        flow_fn = flow
        await asyncio.gather(*(work(n) for n in range(workers)))
        elapsed = time.time() - began
        cpu_bot = sum(_cpu_seconds(b.pid) for b in bots) - cpu_bot
        cpu_here = time.process_time() - cpu_here
        rss = max((_peak_rss_mb(b.pid) or 0.0) for b in bots)
        calls = server.calls[calls_before:]
    finally:
        stop.set()
        server.signal.notify()
        for bot in bots:
            bot.terminate()
        for bot in bots:
            await asyncio.wait_for(bot.wait(), 60)
        if delivery is not None:
            await asyncio.wait_for(delivery, 10)
        if balancer is not None:
            await balancer.close()
    outgoing = [c for c in calls if c.method not in ("getUpdates", "getFile")]
    lat = sorted(figures.latencies)

    def pct(p: float, values: list[float] = lat) -> float:
        return values[min(len(values) - 1, int(p * len(values)))] * 1000 if values else float("nan")

    result = {
        "updates_per_s": figures.updates / elapsed,
        "updates": figures.updates,
        "flows": figures.flows,
        "errors": figures.errors,
        "p50": pct(0.50),
        "p95": pct(0.95),
        "p99": pct(0.99),
        "mean": statistics.fmean(lat) * 1000 if lat else float("nan"),
        "out_per_s": len(outgoing) / elapsed,
        "429s": sum(1 for c in calls if c.status == 429),
        "rss": rss or float("nan"),
        "elapsed": elapsed,
        "cpu_ms": cpu_bot * 1000 / max(figures.updates, 1),
        "cpu_load_ms": cpu_here * 1000 / max(figures.updates, 1),
    }
    print(
        f"{name:>8}: {result['updates_per_s']:7.1f} updates/s ({figures.updates} updates, "
        f"{figures.flows} flows, {figures.errors} stuck, {elapsed:.0f} s) | update→answer "
        f"p50 {result['p50']:.1f} ms p95 {result['p95']:.1f} ms p99 {result['p99']:.1f} ms | "
        f"out {result['out_per_s']:.1f} calls/s, {result['429s']} × 429 | "
        f"peak RSS {result['rss']:.0f} MB | CPU per update: bot {result['cpu_ms']:.1f} ms, "
        f"test server and workers {result['cpu_load_ms']:.1f} ms",
        flush=True,
    )
    steps = []
    for index, label in enumerate(STEPS):
        values = sorted(figures.by_step.get(index, []))
        steps.append(f"{label} {pct(0.5, values):.0f}/{pct(0.99, values):.0f}")
    print(f"{'':>10}per step, p50/p99 ms: " + ", ".join(steps), flush=True)
    return result


async def prepare_gridbot(
    folder: Path,
    workers: int,
    telegram: str = "max_messages_per_second = 0\n",
    database_url: str | None = None,
) -> Path:
    config = write_config(
        folder,
        f"[reports]\nalbum_wait_seconds = 0\n[telegram]\npoll_timeout = 2\n{telegram}",
    )
    if database_url:  # PostgreSQL: a fresh schema of its own
        url = fresh_schema_url(database_url, folder)
        text = config.read_text(encoding="utf-8")
        config.write_text(text.replace("[database]\n", f'[database]\nurl = "{url}"\n', 1))
    services = await Services.open(load_config(config), clock=SystemClock())
    try:
        await services.org.import_rows(read_org_file(EXAMPLE_ORG), str(EXAMPLE_ORG))
        for n in range(workers):
            await services.members.add_by_operator(
                5000 + n, UNITS[n % len(UNITS)], Role.WORKER, _name(n)
            )
    finally:
        await services.close()
    return config


FLOODER = 9_000_001  # a stranger


async def _probe(user: TestUser, until: float, every: float, out: list[float]) -> None:
    """/whoami from ``user`` every ``every`` seconds (at once when an answer was late)
    until ``until``; each answer time in ms goes to ``out``."""
    while time.time() < until:
        pushed = time.time()
        await user.send_text("/whoami")
        call = await user.next_reply("sendMessage", timeout=120)
        out.append((call.at - pushed) * 1000)
        wait = pushed + every - time.time()
        if wait > 0:
            await asyncio.sleep(wait)


async def _quiet(server: BotApiServer, chat_id: int, for_seconds: float = 0.5) -> None:
    """Until every update was fetched and the bot has sent nothing to ``chat_id`` for
    ``for_seconds``."""
    seen, still = -1, 0.0
    while still < for_seconds:
        await asyncio.sleep(0.1)
        count = len(server.sent_messages(chat_id))
        if count != seen or server.pending_updates:
            seen, still = count, 0.0
        else:
            still += 0.1


async def _flood(
    server: BotApiServer, flooder: TestUser, until: float, size: int, rate: float
) -> int:
    """Waves of ``size`` updates from ``flooder``, ``rate`` a second (0: all at once),
    the next once the bot has answered the last, until ``until``; returns how many."""
    waves = 0
    while time.time() < until:
        began = time.time()
        for number in range(size):
            if rate and (wait := began + number / rate - time.time()) > 0:
                await asyncio.sleep(wait)
            await flooder.send_text(f"flood {number}")
        waves += 1
        await _quiet(server, flooder.chat_id)
    return waves


def _p(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p * len(ordered)))] if ordered else float("nan")


async def run_flood(
    command: list[str],
    server: BotApiServer,
    seconds: float,
    size: int,
    rate: float,
    every: float,
) -> dict[str, float]:
    env = {**os.environ, "GRIDBOT_TOKEN": TEST_TOKEN, "PYTHONUNBUFFERED": "1"}
    log = os.environ.get("GRIDBOT_BENCH_LOG")
    errors = open(f"{log}.flood", "wb") if log else asyncio.subprocess.DEVNULL  # noqa: SIM115, ASYNC230
    bot = await asyncio.create_subprocess_exec(
        *command, cwd=ROOT, env=env, stdout=asyncio.subprocess.DEVNULL, stderr=errors,
    )  # fmt: skip
    idle: list[float] = []
    flooded: list[float] = []
    try:
        await server.wait_polling(timeout=60)
        prober = server.user(5000, _name(0))
        flooder = server.user(FLOODER, "陌生人")
        await _probe(prober, time.time() + 1, every, [])  # warm up
        cpu, began = _cpu_seconds(bot.pid), time.time()
        await _probe(prober, time.time() + seconds / 2, every, idle)
        cpu_idle = (_cpu_seconds(bot.pid) - cpu) / (time.time() - began) * 100
        cpu, began = _cpu_seconds(bot.pid), time.time()
        until = time.time() + seconds / 2
        flood = asyncio.create_task(_flood(server, flooder, until, size, rate))
        await _probe(prober, until, every, flooded)
        waves = await flood
        cpu_flood = (_cpu_seconds(bot.pid) - cpu) / (time.time() - began) * 100
        sent = [c.text for c in server.sent_messages(FLOODER)]
        polls = [c for c in server.calls if c.method == "getUpdates" and c.at >= began and c.ok]
    finally:
        bot.terminate()
        await asyncio.wait_for(bot.wait(), 60)
    told = sum(1 for text in sent if "发送得太快" in text)
    result = {
        "idle_p50": _p(idle, 0.5),
        "idle_p99": _p(idle, 0.99),
        "flood_p50": _p(flooded, 0.5),
        "flood_p99": _p(flooded, 0.99),
    }
    ratio = result["flood_p99"] / result["idle_p99"]
    pace = f"at {rate:g}/s" if rate else "at once"
    print(
        f"   flood: another chat's /whoami, update→answer | idle: p50 {result['idle_p50']:.1f} "
        f"ms p99 {result['idle_p99']:.1f} ms ({len(idle)} asked) | one chat flooding "
        f"{size:,} updates {pace}, {waves} waves: p50 {result['flood_p50']:.1f} ms p99 "
        f"{result['flood_p99']:.1f} ms ({len(flooded)} asked) | p99 flooded / idle "
        f"{ratio:.2f}× (target ≤ 2×)",
        flush=True,
    )
    print(
        f"{'':>10}the flooding chat: {waves * size} updates sent, {len(sent) - told} answered, "
        f"{waves * size - (len(sent) - told)} dropped, told {told} times | bot CPU: idle "
        f"{cpu_idle:.0f}%, flooded {cpu_flood:.0f}% | flooded: {len(polls)} getUpdates, "
        f"{sum(len(c.result) for c in polls) / max(len(polls), 1):.2f} updates each",
        flush=True,
    )
    return result


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=60)
    parser.add_argument("--seconds", type=float, default=120)
    parser.add_argument(
        "--rate", type=float, help="offer this many updates/s in all (default: closed loop)"
    )
    parser.add_argument(
        "--profile", type=Path, help="run gridbot (or the flood case's) under cProfile, write here"
    )
    parser.add_argument(
        "--only", choices=["echo", "gridbot", "flood"], help="run one bot, or the flood case"
    )
    parser.add_argument("--flood-size", type=int, default=1000, help="updates per flood wave")
    parser.add_argument(
        "--flood-seconds", type=float, default=60, help="the flood case: idle half, flooded half"
    )
    parser.add_argument(
        "--flood-rate", type=float, default=100, help="flood updates a second (0: all at once)"
    )
    parser.add_argument(
        "--probe-every", type=float, default=0.1, help="the flood case: seconds between probes"
    )
    parser.add_argument(
        "--backend",
        choices=("sqlite", "postgresql", "both"),
        default="sqlite",
        help="gridbot's store: SQLite (default), PostgreSQL (a throwaway server, or "
        "--pg-url), or both one after the other",
    )
    parser.add_argument("--pg-url", help="a PostgreSQL database to use (a schema is made)")
    parser.add_argument(
        "--processes",
        type=int,
        default=1,
        choices=(1, 2, 3, 4),
        help="gridbot processes on PostgreSQL, each `gridbot run --webhook` behind a "
        "round-robin proxy; with --backend both: SQLite ×1, PostgreSQL ×1 and ×N",
    )
    args = parser.parse_args()
    if args.backend != "sqlite":
        await _postgres_runs(args)
        return
    config = await prepare_gridbot(Path(tempfile.mkdtemp(prefix="gridbot-load-")), args.workers)
    flood_config = await prepare_gridbot(
        Path(tempfile.mkdtemp(prefix="gridbot-flood-")), 1, telegram=""
    )
    print(
        f"{args.workers} workers, {args.seconds:.0f} s per bot, {os.cpu_count()} CPUs; "
        "full report flows (9 updates each), "
        + (f"paced at {args.rate:g} updates/s" if args.rate else "closed loop"),
        flush=True,
    )
    results = {}
    profile = ["-m", "cProfile", "-o", str(args.profile)] if args.profile else []
    bots = (
        ("echo", [sys.executable, "bench/echo_bot.py"], echo_flow),
        (
            "gridbot",
            [sys.executable, *profile, "-m", "bot", "run", "--config", str(config)],
            gridbot_flow,
        ),
    )
    for name, command, flow in bots:
        if args.only and name != args.only:
            continue
        server = BotApiServer(TEST_TOKEN)
        async with server.serve_http() as url:
            if name == "echo":
                command = [*command, url, TEST_TOKEN]
            else:
                command = [*command, "--api-url", url]
            results[name] = await run_one(
                name, command, server, args.workers, args.seconds, flow, args.rate
            )
    if args.only in (None, "flood"):
        server = BotApiServer(TEST_TOKEN)
        async with server.serve_http() as url:
            command = [sys.executable, *profile, "-m", "bot", "run", "--config", str(flood_config)]
            results["flood"] = await run_flood(
                [*command, "--api-url", url],
                server,
                args.flood_seconds,
                args.flood_size,
                args.flood_rate,
                args.probe_every,
            )
    if "echo" in results and "gridbot" in results:
        ratio = results["gridbot"]["updates_per_s"] / results["echo"]["updates_per_s"]
        print(f"gridbot / echo update rate: {ratio:.2f}×")


def _webhook_configs(config: Path, processes: int) -> tuple[list[Path], list[int]]:
    """The config of each of ``processes`` webhook processes (one port each, one secret)."""
    text = config.read_text(encoding="utf-8")
    paths, ports = [], []
    for index in range(processes):
        port = free_port()
        path = config.with_name(f"config-{index}.toml")
        path.write_text(
            text + '[webhook]\nurl = "https://bot.example.org/gridbot/hook"\n'
            f'listen = "127.0.0.1"\nport = {port}\nsecret = "bench-secret-0123456789"\n'
            "max_connections = 40\n",
            encoding="utf-8",
        )
        paths.append(path)
        ports.append(port)
    return paths, ports


async def _postgres_runs(args: argparse.Namespace) -> None:
    """gridbot's report flows on SQLite with one process (with ``both``) and on PostgreSQL
    with one process (with ``both``) and with ``--processes``; every run in webhook mode
    behind the round-robin proxy, so the runs compare."""
    folder = None
    url = args.pg_url
    if url is None:
        folder = Path(tempfile.mkdtemp(prefix="gridbot-load-pg-"))
        url = pgcluster.start(folder)
    try:
        print(
            f"{args.workers} workers, {args.seconds:.0f} s per run, {os.cpu_count()} CPUs; "
            "full report flows (9 updates each), closed loop; webhook mode, "
            f"{WEBHOOK_CONNECTIONS} connections through a round-robin proxy",
            flush=True,
        )
        runs = [("postgresql", args.processes)]
        if args.backend == "both":
            runs = [("sqlite", 1), ("postgresql", 1)]
            if args.processes > 1:
                runs.append(("postgresql", args.processes))
        for backend, processes in runs:
            config = await prepare_gridbot(
                Path(tempfile.mkdtemp(prefix=f"gridbot-load-{backend}-")),
                args.workers,
                database_url=url if backend == "postgresql" else None,
            )
            configs, ports = _webhook_configs(config, processes)
            server = BotApiServer(TEST_TOKEN)
            async with server.serve_http() as api:
                run = [sys.executable, "-m", "bot", "run", "--webhook", "--api-url", api]
                commands = [[*run, "--config", str(path)] for path in configs]
                await run_one(
                    f"{backend}×{processes}",
                    commands,
                    server,
                    args.workers,
                    args.seconds,
                    gridbot_flow,
                    args.rate,
                    ports=ports,
                )
    finally:
        if folder is not None:
            pgcluster.stop(folder)
            shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    asyncio.run(main())
