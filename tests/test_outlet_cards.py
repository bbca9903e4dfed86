"""Feishu interactive cards: a table as cards under the 20 KB body limit, split between
rows with the header repeated, accepted by the local Feishu robot, which refuses a
malformed card with Feishu's validation error as the platform does."""

from __future__ import annotations

import json
import re
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import httpx

from bot.config import OutletConfig
from bot.core.clock import FakeClock
from bot.domain.outlets import plan_table
from bot.domain.plans import PlanProgress, ProgressRow
from bot.formats.robots import (
    FEISHU_BODY_BYTES,
    Table,
    dingtalk_markdown,
    feishu_cards,
    lark_md_escape,
    wecom_markdown,
)
from bot.i18n import shipped
from bot.outlets.robots import Feishu, Message, Verdict
from storage.plans import Plan
from storage.units import Unit
from tests.outlet_helpers import FEISHU_SECRET, FEISHU_TOKEN, feishu_lines
from tests.robots import RobotServer
from tests.robots.server import CARD_INVALID, Received, card_problem
from tests.test_outlet_parts import COLUMNS, table


def signed_size(body: dict) -> int:
    signed = {"timestamp": "1795000000", "sign": "x" * 44, **body}
    return len(json.dumps(signed, ensure_ascii=False).encode())


def received(body: dict) -> Received:
    return Received("fs", "feishu", datetime.now(UTC), "", {}, body, {"code": 0})


def test_a_long_table_goes_as_cards_under_20_kb_split_between_rows_header_on_each():
    long_note = "⚠️ 未上报：" + "、".join(f"第{n:03}号网格化管理试点示范片区" for n in range(900))
    source = table(1000, ["⚠️ 逾期：卧龙区 2 件", long_note])
    cards = feishu_cards(source)
    assert len(cards) >= 4
    rows, notes = [], []
    for index, body in enumerate(cards, 1):
        assert body["msg_type"] == "interactive" and card_problem(body["card"]) is None
        assert signed_size(body) <= FEISHU_BODY_BYTES
        header = body["card"]["header"]
        assert header["title"]["content"] == f"{source.title} ({index}/{len(cards)})"
        assert header["template"] == "blue"
        lines = feishu_lines(received(body))
        if any(line == " | ".join(COLUMNS) for line in lines):
            assert lines[1] == " | ".join(COLUMNS)  # the column line heads every table part
            rest = lines[2:]
            cut = rest.index("") if "" in rest else len(rest)
            rows += rest[:cut]
            notes += rest[cut + 1 :]
        else:  # a part of notes only
            notes += lines[1:]
    assert rows == [" | ".join(row) for row in source.rows]  # every row once, in order, whole
    assert notes[0] == "⚠️ 逾期：卧龙区 2 件" and "".join(notes[1:]) == long_note
    (one,) = feishu_cards(table(3))
    assert [e["tag"] for e in one["card"]["elements"]] == ["div", "div"]
    assert one["card"]["elements"][0]["text"]["tag"] == "lark_md"  # the bold column line


def test_column_names_are_shown_as_written_inside_lark_md():
    assert lark_md_escape("a*b_c [x] <y> ~z~ `q` &") == (
        "a&#42;b&#95;c &#91;x&#93; &lt;y&gt; &#126;z&#126; &#96;q&#96; &amp;"
    )
    (card,) = feishu_cards(Table("t", ("**名次**", "单位"), [("1", "a_b*")]))
    head, rows = card["card"]["elements"]
    assert head["text"]["content"] == "**&#42;&#42;名次&#42;&#42; | 单位**"
    assert rows["text"] == {"tag": "plain_text", "content": "1 | a_b*"}  # plain: as is


def test_the_feishu_robot_checks_the_card_shape():
    good = feishu_cards(table(2))[0]["card"]
    assert card_problem(good) is None
    assert card_problem([]) == ("", "card must be an object")
    assert card_problem({"header": good["header"]})[0] == "->elements"
    assert card_problem({**good, "elements": []})[0] == "->elements"
    assert card_problem({**good, "elements": [{"tag": "table2"}]})[0] == "->elements[0]->tag"
    bad_text = {"tag": "div", "text": {"tag": "html", "content": "x"}}
    assert card_problem({**good, "elements": [bad_text]})[0] == "->elements[0]->text->tag"
    assert card_problem({**good, "elements": [{"tag": "div"}]})[0] == "->elements[0]"
    assert card_problem({**good, "elements": [{"tag": "note", "elements": []}]})[0] == (
        "->elements[0]->elements"
    )
    header = {**good["header"], "template": "pink"}
    assert card_problem({**good, "header": header})[0] == "->header->template"
    assert card_problem({**good, "header": {"title": "x"}})[0] == "->header->title"
    v2 = {"schema": "2.0", "header": good["header"], "body": {"elements": good["elements"]}}
    assert card_problem(v2) is None


async def test_cards_are_accepted_signed_and_a_malformed_card_is_refused_not_retried():
    clock = FakeClock(datetime(2026, 11, 23, 12, 0, tzinfo=UTC))
    server = await RobotServer(clock.now).start()
    client = httpx.AsyncClient()
    try:
        url = server.feishu("fs", FEISHU_TOKEN, FEISHU_SECRET)
        outlet = OutletConfig.model_validate(
            {"name": "fs", "kind": "feishu", "unit": "NY", "webhook": url, "secret": FEISHU_SECRET}
        )
        robot = Feishu(outlet, client, clock)
        for body in feishu_cards(table(600)):
            assert (await robot.deliver(Feishu.card(body))).ok
        assert len(server.messages("fs")) == len(feishu_cards(table(600))) >= 2

        malformed = {"msg_type": "interactive", "card": {"header": {"title": "南阳市"}}}
        answer = await robot.deliver(Message(malformed))
        assert answer.verdict is Verdict.REFUSED and answer.code == CARD_INVALID
        assert "path: message->card->header->title" in answer.message
        assert "err_type: validation" in answer.message
        no_card = await robot.deliver(Message({"msg_type": "interactive", "content": {}}))
        assert no_card.code == CARD_INVALID
        assert len(server.messages("fs")) == len(feishu_cards(table(600)))
    finally:
        await client.aclose()
        await server.close()


def test_a_plan_of_many_units_is_split_on_every_platform_under_its_limit():
    """Plan progress by 150 child units: each platform's parts under its limit, split
    between rows, the title (plan, unit, day, round) and the column line on every part."""
    zone = ZoneInfo("Asia/Shanghai")
    catalogue = shipped()

    def text(key: str, **fields) -> str:
        return catalogue.text("zh", key, **fields)

    now = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
    street = Unit(2, "WL-WH", "武侯街道", "street", 1, "/1/2/", 0, True)
    plan = Plan(
        1, "回头看", "user", 2, None, None, 7, True, "any", date(2026, 11, 23), "open",
        None, now, None, "WL-WH", "武侯街道", "/1/2/",
    )  # fmt: skip
    children = [
        ProgressRow(Unit(10 + n, f"C{n}", f"第{n:03}社区", "community", 2, f"/1/2/{n}/", n, True),
                    due=10, done=n % 10, overdue=10 - n % 10)
        for n in range(150)
    ]  # fmt: skip
    total = ProgressRow(street, 1500, sum(r.done for r in children), 0)
    ends = datetime(2026, 11, 29, 16, 0, tzinfo=UTC)
    progress = PlanProgress(plan, street, 0, ends, total, children)
    source = plan_table(progress, text, zone, "2026-11-23")
    assert (
        source.title
        == "📋 检查任务“回头看” · 武侯街道 · 2026-11-23 · 第 1 轮，截止 2026-11-30 00:00"
    )
    assert source.rows[0] == ("合计", "1500", str(total.done), total.rate, "0")
    header = "单位 | 应查 | 已查 | 完成率 | 逾期"
    expected = [" | ".join(row) for row in source.rows]

    wecom = wecom_markdown(source, limit=1024)  # a smaller limit: several parts
    dingtalk = dingtalk_markdown(source, limit=1024)
    cards = feishu_cards(source, limit=2048)
    for parts, lines_of in (
        (wecom, lambda p: p.split("\n")),
        (dingtalk, lambda p: re.split(r" {2}\n|\n\n", p[1])),
        (cards, lambda p: feishu_lines(received(p))),
    ):
        assert len(parts) >= 3
        rows, notes = [], []
        for part in parts:
            lines = lines_of(part)
            assert source.title in lines[0]
            if lines[1] != header:  # the notes on a part of their own
                notes += lines[1:]
                continue
            cut = lines.index("") if "" in lines else len(lines)
            rows += lines[2:cut]
            notes += lines[cut + 1 :]
        assert rows == expected
        assert notes == [source.notes[0]] and notes[0].startswith("未开展：第000社区")
    assert all(len(p.encode()) <= 1024 for p in wecom)
    assert all(len(p[1].encode()) <= 1024 for p in dingtalk)
    assert all(signed_size(p) <= 2048 for p in cards)
