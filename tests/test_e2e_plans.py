"""Plans end to end: a 30-site registry in two communities, a lead makes a one-off
re-check plan in chat, workers work their /todo, the lead and the group see progress,
and past the deadline the rest show as overdue by unit."""

from __future__ import annotations

import re
from datetime import timedelta
from io import BytesIO

import pytest
from openpyxl import load_workbook

from bot.core.access import Role
from bot.domain.plans import PlanSpec
from bot.runtime.context import GridContext
from handlers.callbacks import TodoButton
from handlers.digests import send_daily_digests, send_reminders
from tests.e2e_reports import press, send_photos
from tests.photos import photo

CAMPAIGN = """
[campaign]
name = "节水专项行动"
[[campaign.categories]]
code = "well"
name = "自备井"
statuses = [
  { code = "in_use", name = "在用" },
  { code = "sealed", name = "已封停", done = true },
]
[[campaign.categories]]
code = "user"
name = "用水户"
statuses = [
  { code = "checked", name = "已核查", done = true },
  { code = "problem", name = "有问题" },
]
"""

GROUP = -100777
CZ, WLG = "WL-WH-CZ", "WL-WH-WLG"


@pytest.fixture
def tg_config() -> str:
    return "[reports]\nalbum_wait_seconds = 0.2\n" + CAMPAIGN


def registry(tmp_path):
    """30 sites: 15 in each community; users (用水户) W-*, wells J-*; every third user is
    tagged 重点用水户 (with a second tag on some)."""
    lines = ["category,code,name,address,unit,lat,lon,tags,status"]
    for community, prefix, full in ((CZ, "C", CZ), (WLG, "L", "卧龙区/武侯街道/卧龙岗社区")):
        for n in range(10):
            tags = "重点用水户;洗浴中心" if n % 3 == 0 else ""
            lat, lon = 33.0 + n / 1000, 112.5 + n / 1000
            lines.append(f"用水户,{prefix}-W{n:02d},用户{n},路{n}号,{full},{lat},{lon},{tags},")
        for n in range(5):
            lines.append(f"well,{prefix}-J{n},井{n},,{community},,,重点用水户,在用")
    path = tmp_path / "sites.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def tagged(prefix: str) -> list[str]:
    return [f"{prefix}-W{n:02d}" for n in range(10) if n % 3 == 0]


async def report_from_todo(worker, todo, site: str, seed: int) -> None:
    """Press the site's button under /todo and walk the report to its end."""
    await worker.press_label(todo, f"上报 {site}")
    started = await worker.next_reply("sendMessage")
    assert f"开始上报地点 {site}" in started.text
    ask_status = await worker.next_reply("sendMessage")
    ask_photos = await press(worker, ask_status, "已核查")
    assert "请发送 1–10 张" in ask_photos.text
    more = await send_photos(worker, [photo(seed)])
    await press(worker, more, "✅ 照片已齐（1 张）")
    await worker.send_text("跳过")
    assert "已跳过位置" in (await worker.next_reply("sendMessage")).text
    ask_note = await worker.next_reply("sendMessage")
    summary = await press(worker, ask_note, "跳过")
    assert f"地点：{site}" in summary.text and "用水户" in summary.text
    done = await press(worker, summary, "✅ 提交")
    assert "上报已提交" in done.text


def table(text: str) -> dict[str, list[str]]:
    """The progress table of a message: unit name → 应查, 已查, 完成率, 逾期."""
    body = re.search(r"<pre>(.*?)</pre>", text, re.S)
    lines = (body[1] if body else text).splitlines()
    start = next(i for i, line in enumerate(lines) if line.split()[:1] == ["单位"])
    return {line.split()[0]: line.split()[1:] for line in lines[start + 1 :] if line.strip()}


async def make_plan(lead, tag: str, deadline: str) -> object:
    """/plan step by step up to the summary card."""
    await lead.send_text("/plan")
    assert "新建检查任务" in (await lead.next_reply("sendMessage")).text
    assert "任务名称" in (await lead.next_reply("sendMessage")).text
    ask_category = await lead.ask("回头看")
    ask_scope = await press(lead, ask_category, "用水户")
    ask_tag = await press(lead, ask_scope, "本单位（武侯街道）")
    assert "标签" in ask_tag.text
    ask_schedule = await lead.ask(tag)
    assert "截止日期" in ask_schedule.text
    ask_rule = await lead.ask(deadline)
    return await press(lead, ask_rule, "任一次上报")


async def test_registry_plan_todo_progress_digest_and_overdue(tg, tmp_path):
    result = await tg.services.sites.import_file(registry(tmp_path))
    assert (result.rows, result.added) == (30, 30)
    await tg.add(1001, "WL", Role.ADMIN, "区管理员")
    await tg.add(2001, "WL-WH", Role.LEAD, "街道负责人")
    await tg.add(3001, CZ, Role.WORKER, "网格员甲")
    await tg.add(3002, WLG, Role.WORKER, "网格员乙")
    lead, a, b = tg.server.user(2001), tg.server.user(3001), tg.server.user(3002)
    admin = tg.server.user(1001).in_chat(tg.server.group(GROUP, "武侯街道工作群"))
    assert "已绑定" in (await admin.ask("/bindgroup WL-WH")).text
    today = tg.services.calendar.today()
    deadline = (today + timedelta(days=3)).isoformat()

    # A tag that matches nothing: the summary says so and offers no 保存, but 修改 goes
    # back to the tag alone; the other answers stay and the summary comes back.
    wrong = await make_plan(lead, "没有这个标签", deadline)
    assert "没有符合条件的地点" in wrong.text
    assert [label for label, _ in wrong.buttons] == ["✏️ 修改", "✖ 取消"]
    await lead.press_label(wrong, "✏️ 修改")
    steps = await lead.next_reply("editMessageReplyMarkup")
    assert [label for label, _ in steps.buttons] == [
        *["名称", "类别", "范围", "标签", "时限", "完成标准", "↩ 返回"]
    ]
    tag_button = dict(steps.buttons)["标签"]
    await lead.press(wrong, tag_button)
    assert "请输入标签" in (await lead.next_reply("sendMessage")).text
    summary = await lead.ask("重点用水户")
    n = len(tagged("C")) + len(tagged("L"))  # wells are tagged too, but not of the category
    assert f"符合条件的地点：{n} 个" in summary.text, summary.text
    assert "回头看" in summary.text and deadline in summary.text  # kept across 修改
    saved = await press(lead, summary, "✅ 保存")
    assert f"已保存，共 {n} 个地点" in saved.text
    # The old card's step button, pressed again (forged) once the plan is saved: stale.
    await lead.press(wrong, tag_button, strict=False)
    stale = await lead.next_reply("answerCallbackQuery")
    assert stale.params.get("text") == "此按钮属于已结束的任务或草稿。"

    # Each worker's /todo lists exactly their community's due sites.
    todo_a, todo_b = await a.ask("/todo"), await b.ask("/todo")
    listed_a = sorted(re.findall(r"(C-W\d\d)", todo_a.text))
    listed_b = sorted(re.findall(r"(L-W\d\d)", todo_b.text))
    assert listed_a == tagged("C") and "L-" not in todo_a.text
    assert listed_b == tagged("L") and "C-" not in todo_b.text
    assert f"共 {len(tagged('C'))} 个" in todo_a.text

    await report_from_todo(a, todo_a, "C-W03", 101)
    await report_from_todo(b, todo_b, "L-W06", 102)
    assert "C-W03" not in (await a.ask("/todo")).text
    site = await a.ask("/site C-W03")
    assert "标签：重点用水户、洗浴中心" in site.text
    assert "检查任务：回头看 — 本轮已查" in site.text
    assert "检查任务：回头看 — 待查" in (await a.ask("/site C-W00")).text

    progress = await lead.ask("/plan 回头看")
    rows = table(progress.text)
    assert rows["合计"] == [str(n), "2", f"{2 * 100 // n}%", "0"]
    assert rows["崔庄社区"] == ["4", "1", "25%", "0"]
    assert rows["卧龙岗社区"] == ["4", "1", "25%", "0"]

    # The digest at digest time carries the plan section with the same numbers.
    tg.clock.advance(timedelta(hours=11, minutes=1))  # 20:01 Asia/Shanghai
    assert await send_daily_digests(GridContext(tg.app)) == 1
    sent = [c.text for c in tg.server.calls_to("sendMessage", chat_id=GROUP) if c.ok]
    section = next(t for t in sent if "检查任务“回头看”" in t)
    assert table(section)["合计"] == [str(n), "2", f"{2 * 100 // n}%", "0"]

    # Past the deadline the rest are overdue, by unit.
    tg.clock.advance(timedelta(days=3, hours=5))
    late = table((await lead.ask("/plan 回头看")).text)
    assert late["合计"] == [str(n), "2", f"{2 * 100 // n}%", str(n - 2)]
    assert late["崔庄社区"][3] == "3" and late["卧龙岗社区"][3] == "3"
    overdue = await a.ask("/todo")
    assert overdue.text.count("⏰逾期") == 3

    # The remaining sites, per unit, as a file to print for door-to-door work.
    await lead.send_text("/export 剩余")
    await lead.next_reply("sendMessage")  # working on it
    document = await lead.next_reply("sendDocument")
    book = load_workbook(BytesIO(tg.server.file_bytes(document.message["document"]["file_id"])))
    rows = list(book.active.iter_rows(values_only=True))
    codes = sorted(row[0] for row in rows[1:])
    assert codes == sorted(c for c in tagged("C") + tagged("L") if c not in ("C-W03", "L-W06"))
    assert all(row[-1] == "回头看：逾期" for row in rows[1:])


async def test_the_reminder_counts_due_sites_and_a_forged_todo_button(tg, tmp_path):
    await tg.services.sites.import_file(registry(tmp_path))
    worker = await tg.add(3001, CZ, Role.WORKER, "网格员甲")
    user = tg.server.user(3001)

    day = tg.services.calendar.today() + timedelta(days=1)
    await tg.services.plans.create(
        None, PlanSpec("回头看", "user", "WL-WH", "重点用水户", day, None, False, "any")
    )
    tg.clock.advance(timedelta(hours=8, minutes=1))  # 17:01, the reminder
    assert await send_reminders(GridContext(tg.app)) == 1
    reminder = await tg.server.wait_for(method="sendMessage", chat_id=3001)
    assert "还有 4 个地点待查，其中 0 个已逾期" in reminder.text
    # A site of another community under a forged button: refused, nothing started.
    todo = await user.ask("/todo")
    async with tg.services.db.read() as conn:
        cur = await conn.execute("SELECT id FROM site WHERE code = 'L-W00'")
        other = (await cur.fetchone())[0]
    await user.press(todo, TodoButton(site=other).encode(), strict=False)
    answer = await user.next_reply("answerCallbackQuery")
    assert "L-W00" in answer.params["text"] and answer.params["show_alert"]
    assert await tg.services.reports.view(worker) is None
    # /near: the due sites nearest to a shared location, with distances.
    asked = await user.ask("/near")
    assert asked.params["reply_markup"]["keyboard"][0][0]["request_location"] is True
    await user.send_location(33.0025, 112.5025)
    nearest = await user.next_reply("sendMessage")
    lines = nearest.text.splitlines()
    assert "最近的 4 个待查地点" in lines[0]
    assert [line.split()[1] for line in lines[1:]] == ["C-W03", "C-W00", "C-W06", "C-W09"]
    assert re.search(r"— \d+ 米", lines[1])
    pick = await user.next_reply("sendMessage")
    assert next(label for label, _ in pick.buttons) == "上报 C-W03"
    # A stale (made-up) site id: a polite refusal too.
    await user.press(todo, TodoButton(site=999999).encode(), strict=False)
    assert "已结束或已过期" in (await user.next_reply("answerCallbackQuery")).params["text"]
