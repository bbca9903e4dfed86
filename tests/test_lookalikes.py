"""Lookalikes (issue 14, item 17): a code typed with a zero-width or bidi character, or in
fullwidth forms, is the code it looks like — never a second site, unit or tip that
displays the same; a real name made of invisible fillers or stacked marks is refused."""

from __future__ import annotations

import pytest

from bot.core.access import Role
from bot.core.codes import typed_code
from bot.core.errors import Refused
from bot.core.names import clean_name
from tests.conftest import add_member
from tests.e2e_tips import add_people, receive
from tests.test_e2e_onboarding import _invite
from tests.test_report_service import _submit, city  # noqa: F401 - fixture

LOOKALIKES = [
    "井\u200b-7",  # zero-width space
    "\u200f井-7",  # right-to-left mark
    "井-7\u2066",  # bidi isolate
    "井\ufeff-7",  # byte order mark
    "井－７",  # fullwidth hyphen and digit
]


def test_typed_codes_are_compared_in_one_form():
    assert typed_code(" WL\u200d-WH\u202e ") == "WL-WH"
    assert typed_code("ＷＬ－ＷＨ") == "WL-WH"
    assert typed_code("T\u2060-20261122-001") == "T-20261122-001"
    assert typed_code("老  井\t1号") == "老 井 1号"


@pytest.mark.parametrize("code", LOOKALIKES)
async def test_a_lookalike_site_code_is_the_existing_site(city, code):  # noqa: F811
    a = await add_member(city, 1, "WL-WH-CZ-01", Role.WORKER, "网格员甲")
    b = await add_member(city, 2, "WL-WH-CZ-02", Role.WORKER, "网格员乙")
    await _submit(city, a, "井-7", None, 1, 10)
    # Another unit: "code used in another unit", not a second 井-7.
    opened = await city.reports.open(b)
    with pytest.raises(Refused) as refused:
        await city.reports.new_site(b, opened.view.draft.id, code)
    assert refused.value.key == "report.site_out_of_scope"
    # The same unit: a re-check of the site that exists.
    again = await city.reports.open(a)
    view = await city.reports.new_site(a, again.view.draft.id, code)
    assert view.site is not None and view.site.code == "井-7"
    async with city.db.read() as conn, conn.execute("SELECT code FROM site") as cur:
        assert [row[0] for row in await cur.fetchall()] == ["井-7"]
    # /site looks it up too.
    found = await city.report_history.sites(a, code)
    assert [history.site.code for history in found] == ["井-7"]


async def test_typed_unit_codes_and_tip_numbers_with_invisible_characters(tg):
    admin, lead, _ = await add_people(tg)
    number = await receive(lead)
    shown = await lead.ask(f"/tip {number[:2]}\u200b{number[2:]}")
    assert f"线索 {number}" in shown.text, shown.text
    assigned = await lead.ask(f"/assign \ufeff{number} WL\u200b-WH-CZ 24")
    assert "已交办给 崔庄社区" in assigned.text
    members = await admin.ask("/members ＷＬ-WH\u200e")
    assert "武侯街道" in members.text
    link = await admin.ask("/invite WL-WH-CZ\u2069 worker")
    assert "?start=" in link.text


@pytest.mark.parametrize(
    "name",
    [
        "\u3164\u3164",  # Hangul filler
        "张\u3164",
        "\u115f\u1160",  # Hangul choseong and jungseong fillers
        "\uffa0\uffa0",  # halfwidth Hangul filler
        "\u2800\u2800",  # braille blank
        "李四\ufe0f",  # variation selector
        "a" + "\u0301" * 19,  # one letter under 19 combining marks
        "王" + "\u0336" * 5,
    ],
)
async def test_invisible_or_stacked_names_are_refused(tg, name):
    await tg.add(1001, "NY", Role.ADMIN, "市管理员")
    token = await _invite(tg, 1001, "WL-WH-CZ worker")
    worker = tg.server.user(2002, "李四")
    await worker.ask(f"/start {token}")
    assert "姓名只能包含文字" in (await worker.ask(name)).text
    assert "还不是本机器人的成员" in (await worker.ask("/whoami")).text
    with pytest.raises(Refused):
        clean_name(name)


def test_real_names_in_many_scripts_are_still_accepted():
    for name in ("张三", "买买提·艾力", "Nguyễn Văn An", "राम कुमार", "สมชาย ใจดี", "O'Neil-Smith"):
        assert clean_name(name) == name
