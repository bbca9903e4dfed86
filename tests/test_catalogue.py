"""The message catalogue: plural forms, and that the code's text lives in it — every key
the code looks up exists in both languages, and no Chinese text is left in Python."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from bot.i18n import Catalogue, fields_of, plural_category


@pytest.fixture(scope="module")
def catalogue() -> Catalogue:
    return Catalogue.load()


# ---------------------------------------------------------------------- plurals


@pytest.mark.parametrize(
    ("count", "form"), [(0, "other"), (1, "one"), (2, "other"), (11, "other"), (1.5, "other")]
)
def test_the_english_plural_rule(count, form):
    assert plural_category("en", count) == form


@pytest.mark.parametrize("count", [0, 1, 2, 21])
def test_chinese_has_no_plural(count):
    assert plural_category("zh", count) == "other"


def test_an_english_count_takes_its_plural_form(catalogue):
    assert catalogue.text("en", "tip.event_photos", count=1) == " (1 photo)"
    assert catalogue.text("en", "tip.event_photos", count=2) == " (2 photos)"
    assert catalogue.text("en", "tip.event_photos", count=0) == " (0 photos)"
    assert catalogue.text("en", "tip.returns", count=1) == "Sent back 1 time"
    assert catalogue.text("en", "tip.returns", count=3) == "Sent back 3 times"
    # the form may be chosen by another field than ``count``
    one = catalogue.text("en", "report.started", hours=1)
    many = catalogue.text("en", "report.started", hours=24)
    assert "kept for 1 hour " in one and "kept for 24 hours " in many
    # Chinese: one form for every count
    assert catalogue.text("zh", "tip.event_photos", count=1) == "（1 张照片）"
    assert catalogue.text("zh", "tip.event_photos", count=2) == "（2 张照片）"


def test_plural_tables_in_a_catalogue_file(tmp_path):
    (tmp_path / "zh.toml").write_text('[a]\nn = "{count} 个"\n', encoding="utf-8")
    (tmp_path / "en.toml").write_text(
        '[a]\nn = { one = "{count} thing", other = "{count} things" }\n', encoding="utf-8"
    )
    catalogue = Catalogue.load(folder=tmp_path)
    assert catalogue.messages["en"]["a.n"] == "{count} things"  # the template for checks
    assert [catalogue.text("en", "a.n", count=n) for n in (1, 2)] == ["1 thing", "2 things"]
    assert catalogue.text("zh", "a.n", count=1) == "1 个"
    # a count that is not a number (already formatted) takes the ``other`` form
    assert catalogue.text("en", "a.n", count="1") == "1 things"


def test_plural_forms_use_the_fields_of_the_other_language(catalogue):
    """Every form of an English plural uses only fields the Chinese text has, and the
    field that chooses the form is one of them."""
    assert catalogue.plurals["en"], "English has plural entries"
    for key, forms in catalogue.plurals["en"].items():
        expected = fields_of(catalogue.messages["zh"][key])
        assert forms.get("by", "count") in expected, key
        for name, form in forms.items():
            if name != "by":
                assert fields_of(form) <= expected, (key, name)


# ---------------------------------------------------------------------- no text in Python

ROOT = Path(__file__).resolve().parent.parent
_CJK = re.compile(
    "[\u3000-\u303f"  # CJK symbols and punctuation: 、。「」〈〉…
    "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0002ffff"  # Han characters
    "\uff01-\uff60]"  # full-width punctuation and forms: ，：（）！？…
)


def _python_files() -> list[Path]:
    """The application's modules: bot/ and handlers/, the catalogues' package excepted, and
    the built-in Bot API server (bot/botapi), which plays Telegram and its users: its
    Chinese is a user's name, not the bot's text."""
    files = [*(ROOT / "bot").rglob("*.py"), *(ROOT / "handlers").rglob("*.py")]
    skipped = ("i18n", "botapi")
    return sorted(p for p in files if not set(skipped) & set(p.relative_to(ROOT).parts))


def _docstrings(tree: ast.AST) -> set[int]:
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            first = node.body[0] if node.body else None
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                found.add(id(first.value))
    return found


def cjk_literals(source: str) -> list[tuple[int, str]]:
    """The string literals of a module with Chinese text or punctuation in them
    (docstrings and comments are not literals the user sees)."""
    tree = ast.parse(source)
    docs = _docstrings(tree)
    return [
        (node.lineno, node.value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant)
        and isinstance(node.value, str)
        and id(node) not in docs
        and _CJK.search(node.value)
    ]


def test_no_chinese_text_is_left_in_python():
    """Every word and mark a person reads lives in the catalogues (bot/i18n), so that
    the other language never shows through: no Chinese string literal in bot/ or
    handlers/ outside it."""
    assert len(_python_files()) > 50
    found = [
        f"{path.relative_to(ROOT)}:{line}: {value!r}"
        for path in _python_files()
        for line, value in cjk_literals(path.read_text(encoding="utf-8"))
    ]
    assert not found, "\n".join(found)


def test_the_literal_check_sees_literals_not_docstrings_or_comments():
    source = '''"""模块说明。"""
# 注释
def f():
    """函数说明。"""
    return "、".join(["a"]) + f"{1}个" + "plain"
'''
    assert sorted(value for _, value in cjk_literals(source)) == sorted(["、", "个"])


# ---------------------------------------------------------------------- lists


@pytest.mark.parametrize(
    ("language", "silent", "overdue"),
    [
        ("zh", "未上报：甲区、乙区", "超时未办结线索：甲区 2、乙区 1"),
        ("en", "No report: 甲区, 乙区", "Overdue tips: 甲区 2, 乙区 1"),
    ],
)
def test_a_digest_joins_its_lists_the_way_its_language_does(catalogue, language, silent, overdue):
    from datetime import date

    from bot.domain.digest import render_daily
    from bot.domain.ranking import Period, Ranking, RankRow
    from storage.units import Unit

    parent = Unit(1, "NY", "南阳市", "city", None, "/1/", 0, True)
    rows = [
        RankRow(Unit(i + 2, f"D{i}", name, "district", 1, f"/1/{i + 2}/", i, True), overdue=n)
        for i, (name, n) in enumerate([("甲区", 2), ("乙区", 1)])
    ]
    ranking = Ranking(parent, Period.of("day", date(2026, 11, 23)), rows)
    text = "\n".join(render_daily(ranking, lambda key, **f: catalogue.text(language, key, **f)))
    assert silent in text and overdue in text
