"""`gridbot demo`: the throwaway deployment (city, members, bound group, a week of
history), the real bot on the built-in server with the web chat on loopback HTTP, the
page's controls (the evening's scheduled sends, the next day), and the stop."""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
import pytest

from bot.ops import demo
from bot.ops.cli import _parser
from tests.conftest import EXAMPLE_ORG, ROOT


def test_the_demo_ships_the_example_city():
    assert demo.ORG_FILE.read_bytes() == EXAMPLE_ORG.read_bytes()


def test_the_command_line():
    args = _parser().parse_args(["demo"])
    assert (args.port, args.lang, args.keep) == (8080, "zh", None)
    args = _parser().parse_args(["demo", "--port", "0", "--lang", "en", "--keep", "d"])
    assert (args.port, args.lang, args.keep) == (0, "en", "d")
    with pytest.raises(SystemExit):
        _parser().parse_args(["demo", "--lang", "fr"])


def test_the_demo_clock_runs_with_the_wall_clock_and_only_jumps_forward():
    start = datetime(2026, 12, 3, 1, 0, tzinfo=UTC)
    clock = demo.DemoClock(start)
    assert abs(clock.now() - start) < timedelta(seconds=5)
    clock.move_to(start + timedelta(hours=11))
    assert clock.now() >= start + timedelta(hours=11)
    clock.move_to(start)  # never back
    assert clock.now() >= start + timedelta(hours=11)


def chat(web: httpx.AsyncClient, chat_id: int, user_id: int | None = None) -> dict:
    suffix = f"?user_id={user_id}" if user_id else ""
    return web.get(f"/api/chats/{chat_id}{suffix}")


async def until(web, chat_id: int, test, user_id: int | None = None) -> dict:
    """Long-poll a chat until ``test(state)`` holds."""
    state = (await chat(web, chat_id, user_id)).json()
    for _ in range(100):
        if test(state):
            return state
        query = f"?since={state['version']}&wait=2" + (f"&user_id={user_id}" if user_id else "")
        state = (await web.get(f"/api/chats/{chat_id}{query}")).json()
    raise AssertionError(state["messages"][-3:])


def bot_texts(state: dict) -> list[str]:
    return [
        m.get("text") or m.get("caption") or "" for m in state["messages"] if m["from"]["is_bot"]
    ]


async def test_the_demo_builds_a_city_with_members_a_bound_group_and_a_week_of_history(tmp_path):
    today = datetime(2026, 12, 3).date()
    config, cast = await demo.build(tmp_path, "zh", today)
    assert config.database.path.parent == tmp_path
    assert [p.name for p in cast][:3] == ["赵志刚", "孙丽华", "李秀英"]
    with sqlite3.connect(tmp_path / "gridbot.sqlite3") as conn:
        roles = dict(
            conn.execute(
                "SELECT m.telegram_id, m.role || ' ' || u.code FROM member m "
                "JOIN org_unit u ON u.id = m.unit_id"
            ).fetchall()
        )
        days = conn.execute(
            "SELECT count(DISTINCT substr(created_at, 1, 10)) FROM report"
        ).fetchone()[0]
        tips = conn.execute("SELECT state, count(*) FROM tip GROUP BY state").fetchall()
        updates = conn.execute("SELECT count(*) FROM status_update").fetchone()[0]
    assert roles[demo.ADMIN_ID] == "admin NY"
    assert roles[demo.LEAD_ID] == "lead WL-WH"
    street_workers = sorted(v for v in roles.values() if v.startswith("worker WL-WH-"))
    assert street_workers == [
        "worker WL-WH-CZ-01",
        "worker WL-WH-CZ-02",
        "worker WL-WH-WLG-01",
        "worker WL-WH-WLG-02",
    ]
    assert days >= 7
    assert {state for state, _ in tips} == {"received", "assigned", "closed"}
    assert updates > 0

    with sqlite3.connect(tmp_path / "gridbot.sqlite3") as conn:
        group = conn.execute(
            "SELECT g.chat_id, u.code FROM group_chat g JOIN org_unit u ON u.id = g.unit_id"
        ).fetchall()
    assert group == [(demo.GROUP_ID, "NY")]


@pytest.mark.slow  # about 8 s: the week of history, the bot's start, the chart
async def test_the_demo_runs_the_real_bot_on_loopback_and_the_page_controls_its_clock(tmp_path):
    stop = asyncio.Event()
    ready: asyncio.Future[str] = asyncio.get_running_loop().create_future()
    serving = asyncio.ensure_future(demo.serve(tmp_path, "zh", 0, stop, ready.set_result))
    try:
        url = await asyncio.wait_for(asyncio.shield(ready), 60)
        async with httpx.AsyncClient(base_url=url, timeout=30, trust_env=False) as web:
            page = await web.get("/")
            assert "chat.js" in page.text
            config = (await web.get("/api/config")).json()
            assert [p["labels"]["zh"] for p in config["personas"]] == [
                "网格员 李秀英",
                "街道负责人 孙丽华",
                "市管理员 赵志刚",
                "工作群",
            ]
            assert config["personas"][0]["labels"]["en"] == "Grid worker 李秀英"
            assert config["labels"]["en"]["run_jobs"].startswith("⏰")
            assert config["clock"].endswith("09:00")
            worker = config["personas"][0]["user_id"]

            # The worker's own menu (synced after the start) offers /report.
            await until(
                web,
                worker,
                lambda s: any(c["command"] == "report" for c in s["commands"]),
                worker,
            )
            await web.post(f"/api/chats/{worker}/text", json={"user_id": worker, "text": "/start"})
            state = await until(web, worker, lambda s: any("李秀英" in t for t in bot_texts(s)))
            assert "崔庄社区第一网格" in bot_texts(state)[-1]

            # The evening's sends: the group's ranking of the districts with its chart,
            # and the reminder to the worker who has not reported today.
            answer = (await web.post("/api/controls/jobs")).json()
            assert answer["result"]["clock"].endswith("20:00")
            group = await until(
                web,
                demo.GROUP_ID,
                lambda s: any("photo" in m for m in s["messages"]),
            )
            texts = "\n".join(bot_texts(group))
            assert "各区巡查排名" in texts
            for district in ("卧龙区", "宛城区", "高新区", "城乡一体化示范区"):
                assert district in texts
            chart = next(m for m in group["messages"] if "photo" in m)
            image = await web.get(f"/api/files/{chart['photo'][-1]['file_id']}")
            assert image.content.startswith(b"\x89PNG")
            await until(web, worker, lambda s: len(bot_texts(s)) >= 2)  # the reminder

            # A document the bot sends is offered for download: the admin's export.
            admin = config["personas"][2]["user_id"]
            await web.post(
                f"/api/chats/{admin}/text", json={"user_id": admin, "text": "/export 上报"}
            )
            state = await until(web, admin, lambda s: any("document" in m for m in s["messages"]))
            document = next(m["document"] for m in state["messages"] if "document" in m)
            assert document["file_name"].endswith(".xlsx")
            sheet = await web.get(f"/api/files/{document['file_id']}")
            assert sheet.content.startswith(b"PK")  # a zip: the XLSX the bot made

            answer = (await web.post("/api/controls/next_day")).json()
            tomorrow = datetime.now(ZoneInfo("Asia/Shanghai")).date() + timedelta(days=1)
            assert answer["result"]["clock"] == f"{tomorrow.isoformat()} 09:00"
    finally:
        stop.set()
        await asyncio.wait_for(serving, 30)


def start_demo(tmp: Path, *args: str) -> tuple[subprocess.Popen, str]:
    process = subprocess.Popen(
        [sys.executable, "-m", "bot", "demo", "--port", "0", *args],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT), "TMPDIR": str(tmp)},
    )
    assert process.stdout is not None
    line = process.stdout.readline()
    assert "http://127.0.0.1:" in line, line + process.stderr.read()[-3000:]
    return process, line


@pytest.mark.slow
def test_ctrl_c_stops_the_demo_at_once_and_leaves_no_files(tmp_path):
    temporary = tmp_path / "tmp"
    temporary.mkdir()
    process, _ = start_demo(temporary, "--lang", "en")
    assert len(list(temporary.iterdir())) == 1  # the demo's folder, while it runs
    began = time.monotonic()
    process.send_signal(signal.SIGINT)
    assert process.wait(timeout=30) == 0, process.stderr.read()[-3000:]
    print(f"stopped in {time.monotonic() - began:.2f} s")
    assert list(temporary.iterdir()) == []


@pytest.mark.slow
def test_with_keep_the_demo_leaves_its_folder(tmp_path):
    kept = tmp_path / "kept"
    process, line = start_demo(tmp_path, "--keep", str(kept))
    assert line.startswith("演示已启动")
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=30) == 0
    assert (kept / "gridbot.sqlite3").exists() and (kept / "config.toml").exists()
    assert str(kept) in process.stderr.read()
    # Started again on the kept folder, it goes on with the same database.
    with sqlite3.connect(kept / "gridbot.sqlite3") as conn:
        reports = conn.execute("SELECT count(*) FROM report").fetchone()[0]
    process, _ = start_demo(tmp_path, "--keep", str(kept))
    process.send_signal(signal.SIGINT)
    assert process.wait(timeout=30) == 0, process.stderr.read()[-3000:]
    with sqlite3.connect(kept / "gridbot.sqlite3") as conn:
        assert conn.execute("SELECT count(*) FROM report").fetchone()[0] == reports


@pytest.mark.slow
def test_a_port_in_use_is_said_plainly(tmp_path):
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = subprocess.run(
            [sys.executable, "-m", "bot", "demo", "--port", str(port), "--lang", "en"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=120,
            env={**os.environ, "PYTHONPATH": str(ROOT), "TMPDIR": str(tmp_path)},
        )
    assert done.returncode == 1
    assert f"Cannot serve the page on 127.0.0.1:{port}" in done.stderr
    assert "Traceback" not in done.stderr
    assert list(tmp_path.iterdir()) == []


def test_the_page_and_the_demo_city_ship_in_the_package():
    """`pip install .` carries them: every file is matched by a package-data pattern."""
    import fnmatch
    import tomllib

    patterns = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"][
        "package-data"
    ]["bot"]
    shipped = [*(ROOT / "bot" / "botapi" / "page").iterdir(), *demo.DATA.iterdir()]
    assert {p.name for p in shipped} >= {"index.html", "chat.js", "chat.css", "org.toml"}
    for path in shipped:
        name = path.relative_to(ROOT / "bot").as_posix()
        assert any(fnmatch.fnmatch(name, pattern) for pattern in patterns), name


async def test_a_stop_while_the_history_is_written_ends_the_demo_at_once(tmp_path):
    stop = asyncio.Event()
    serving = asyncio.ensure_future(demo.serve(tmp_path, "zh", 0, stop, lambda url: None))
    for _ in range(500):  # until the history has begun
        if (tmp_path / "gridbot.sqlite3").exists():
            break
        await asyncio.sleep(0.01)
    stop.set()
    await asyncio.wait_for(serving, 10)
    with sqlite3.connect(tmp_path / "gridbot.sqlite3") as conn:  # cut short: no group bound
        assert conn.execute("SELECT count(*) FROM group_chat").fetchone()[0] == 0
