"""`gridbot demo` in a real browser: Chromium (the distribution's package, driven by
Playwright) loads the page, joins as the worker, files a report with a photo from the file
picker and a location picked on the map by clicking through the bot's buttons, switches to
the work group, runs the scheduled jobs and sees the ranking and its chart.

Everything the page shows comes from the real bot through the built-in Bot API server;
the report is checked in the demo's database afterwards (``--keep``)."""

from __future__ import annotations

import os
import re
import shutil
import signal
import sqlite3
import subprocess
import sys

import pytest

from tests.conftest import ROOT
from tests.photos import photo

pytestmark = pytest.mark.slow

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
SITE = "新华路 88 号"


def start_demo(*args: str, env: dict[str, str] | None = None) -> tuple[subprocess.Popen, str]:
    """`gridbot demo --port 0 …` as a process; its page's address once it says so."""
    process = subprocess.Popen(
        [sys.executable, "-m", "bot", "demo", "--port", "0", *args],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT), **(env or {})},
    )
    assert process.stdout is not None
    line = process.stdout.readline()  # the line that says where the page is
    found = re.search(r"http://127\.0\.0\.1:\d+/", line)
    if found is None:
        process.kill()
        raise AssertionError(f"no address: {line!r} {process.stderr.read()[-3000:]}")
    return process, found.group(0)


def stop_demo(process: subprocess.Popen) -> None:
    process.send_signal(signal.SIGINT)
    process.wait(timeout=30)


def test_a_worker_reports_in_the_browser_and_the_group_gets_the_ranking_and_chart(tmp_path):
    playwright = pytest.importorskip("playwright.sync_api")
    kept = tmp_path / "demo"
    picture = tmp_path / "well.jpg"
    picture.write_bytes(photo(2101))
    process, url = start_demo("--keep", str(kept))
    try:
        with playwright.sync_playwright() as driver:
            browser = driver.chromium.launch(executable_path=CHROMIUM, args=ARGS)
            page = browser.new_page(viewport={"width": 1280, "height": 860})
            errors: list[str] = []
            page.on("pageerror", lambda error: errors.append(str(error)))
            page.goto(url)
            expect = playwright.expect
            personas = page.locator(".persona")
            expect(personas).to_have_count(4)
            expect(personas.nth(0)).to_contain_text("网格员 李秀英")
            expect(personas.nth(3)).to_contain_text("工作群")
            page.click("[data-persona=worker]")
            bot = page.locator(".item.bot")

            def press(label: str) -> None:
                """Press a button under the bot's latest message."""
                bot.last.get_by_role("button", name=label, exact=True).click()

            page.click("#start")
            expect(bot.last).to_contain_text("李秀英")
            # Text is drawn as text: markup typed by a user or echoed by the bot is not run.
            page.fill("#text", '<img src=x onerror="window.injected=1"><b>x</b>')
            page.click("#send")
            expect(page.locator(".item.out").last).to_contain_text("<img src=x")
            expect(bot.last).not_to_contain_text("李秀英")  # the bot's answer to it
            assert page.evaluate("window.injected") is None
            assert page.locator("#messages img:not(.photo), #messages script").count() == 0
            page.click("#menu")  # the command menu the bot set for her
            page.locator(".command-item", has_text="/report").click()
            expect(bot.last).to_contain_text("请选择自备井地点")
            page.fill("#text", SITE)
            page.click("#send")
            expect(bot.last).to_contain_text("要新建吗")
            press(f"➕ 新建地点“{SITE}”")
            expect(bot.last).to_contain_text("请选择现场状态")
            press("已封停")
            expect(bot.last).to_contain_text("请发送 1–10 张")
            page.click("#attach-photo")  # the file picker
            page.set_input_files("#photo-input", str(picture))
            expect(page.locator(".msg.out img.photo")).to_have_count(1)
            expect(bot.last).to_contain_text("可继续发送")
            press("✅ 照片已齐（1 张）")
            expect(bot.last).to_contain_text("发送当前位置")
            page.locator("[data-request-location]").click()  # 📍 asks for a point
            expect(page.locator("#location-dialog")).to_be_visible()
            page.click("#map", position={"x": 190, "y": 110})
            page.click("#location-send")
            expect(page.locator(".msg.out .location")).to_have_count(1)
            expect(bot.last).to_contain_text("备注")
            press("跳过")
            expect(bot.last).to_contain_text("请核对")
            press("✅ 提交")
            expect(bot.last).to_contain_text("上报已提交")

            page.click("[data-persona=group]")
            expect(page.locator("#clock")).to_contain_text("09:0")  # the demo's morning
            page.click("#run-jobs")
            expect(page.locator("#clock")).to_contain_text("20:0")  # this evening's sends
            ranking = page.locator(".msg.bot", has_text="巡查排名").first
            expect(ranking).to_be_visible(timeout=20_000)
            # The bot's HTML formatting: the title in bold, the table as preformatted text.
            expect(page.locator(".msg.bot b", has_text="南阳市").first).to_be_visible()
            expect(page.locator(".msg.bot pre").first).to_contain_text("卧龙区")
            chart = page.locator(".msg.bot img.photo").last
            expect(chart).to_be_visible()
            assert chart.evaluate("img => img.complete && img.naturalWidth > 200")
            expect(page.locator(".msg.bot", has_text="卧龙区").first).to_be_visible()
            # docs/demo.png is made so: GRIDBOT_DEMO_SCREENSHOT=docs/demo.png pytest -m slow …
            if os.environ.get("GRIDBOT_DEMO_SCREENSHOT"):
                page.locator("#messages").evaluate("box => box.scrollTop = box.scrollHeight")
                page.screenshot(path=os.environ["GRIDBOT_DEMO_SCREENSHOT"])
            page.click("#language")  # the page in English
            expect(page.locator("#run-jobs")).to_contain_text("Run the scheduled jobs")
            expect(page.locator("[data-persona=worker]")).to_contain_text("Grid worker 李秀英")
            assert errors == []
            browser.close()
    finally:
        stop_demo(process)
    assert process.returncode == 0, process.stderr.read()[-3000:] if process.stderr else ""
    with sqlite3.connect(kept / "gridbot.sqlite3") as conn:
        (reports,) = conn.execute(
            "SELECT count(*) FROM report r JOIN member m ON m.id = r.member_id "
            "JOIN site s ON s.id = r.site_id WHERE m.telegram_id = 1101 AND s.code = ?",
            (SITE,),
        ).fetchone()
    assert reports == 1
