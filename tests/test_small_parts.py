"""Names, the message catalogue, button payloads, the command policy table."""

from __future__ import annotations

import pytest

from bot.core.access import Audience
from bot.core.errors import Refused
from bot.core.names import clean_name
from bot.core.paging import check_page, page_count, page_of
from bot.core.policy import COMMANDS, Where, menu, spec
from bot.i18n import Catalogue, fields_of
from handlers.callbacks import MembersPageButton, decode


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("张三", "张三"),
        ("  李  四 ", "李 四"),
        ("买买提·艾力", "买买提·艾力"),
        ("Anna Li", "Anna Li"),
    ],
)
def test_good_names(raw, expected):
    assert clean_name(raw) == expected


@pytest.mark.parametrize(
    ("raw", "key"),
    [
        ("/start", "join.name_command"),
        ("王", "join.name_length"),
        ("王" * 21, "join.name_length"),
        ("张三123", "join.name_chars"),
        ("<b>张三</b>", "join.name_chars"),
        ("···", "join.name_chars"),
    ],
)
def test_bad_names(raw, key):
    with pytest.raises(Refused) as caught:
        clean_name(raw)
    assert caught.value.key == key


def test_catalogues_have_the_same_keys_and_fields():
    catalogue = Catalogue.load()
    zh, en = catalogue.messages["zh"], catalogue.messages["en"]
    assert set(zh) == set(en)
    for key in zh:
        assert fields_of(zh[key]) == fields_of(en[key]), key


def test_every_command_has_a_description_and_every_refusal_a_text():
    catalogue = Catalogue.load()
    for command in COMMANDS:
        assert catalogue.has(command.description_key), command.name
    for key in ("deny.role", "deny.scope", "deny.self", "deny.unit_inactive", "button.stale"):
        assert catalogue.has(key)


def test_language_resolution():
    catalogue = Catalogue.load()
    assert catalogue.resolve_language(None, None) == "zh"
    assert catalogue.resolve_language(None, "en-US") == "en"
    assert catalogue.resolve_language(None, "zh-hans") == "zh"
    assert catalogue.resolve_language(None, "ru") == "zh"
    assert catalogue.resolve_language("zh", "en") == "zh"


def test_button_round_trip_and_forgeries():
    button = MembersPageButton(unit="WL-WH", page=3)
    assert decode(button.encode()) == button
    for forged in [
        None,
        "",
        "1:mp:WL",
        "2:mp:WL:1",
        "1:mp:WL:-1",
        "1:mp:W L:1",
        "1:xx:WL:1",
        "1:mp:WL:1:extra",
        "1:mp:" + "A" * 70 + ":1",
        "1:mp:WL:１",
    ]:
        assert decode(forged) is None, forged


def test_pages_of_a_list():
    """The pager behind /members, /invites, /myreports and /reports."""
    assert [page_count(total, 20) for total in (0, 1, 20, 21, 45)] == [1, 1, 1, 2, 3]
    assert check_page(2, 45, 20) == 3
    for page in (-1, 3):
        with pytest.raises(Refused) as refused:
            check_page(page, 45, 20)
        assert refused.value.key == "button.stale"
    items = list(range(45))
    third = page_of(items, 2, 20)
    assert (third.items, third.page, third.pages, third.total, third.offset) == (
        [40, 41, 42, 43, 44],
        2,
        3,
        45,
        40,
    )
    assert page_of(items[:40], 2, 20, clamp=True).page == 1  # the last page emptied
    assert page_of([], 5, 20, clamp=True).items == []
    with pytest.raises(Refused):
        page_of(items[:40], 2, 20)


def test_menus_follow_the_policy():
    assert [c.name for c in menu(Audience.ANYONE, Where.PRIVATE)] == [
        "start",
        "help",
        "whoami",
        "lang",
    ]
    assert "invite" in [c.name for c in menu(Audience.LEAD, Where.PRIVATE)]
    assert "disable" not in [c.name for c in menu(Audience.LEAD, Where.PRIVATE)]
    assert [c.name for c in menu(Audience.ADMIN, Where.GROUP)] == [
        "help",
        "bindgroup",
        "unbindgroup",
        "digest",
    ]
    with pytest.raises(KeyError):
        spec("undeclared")


def test_catalogue_merges_area_files_and_refuses_a_key_twice(tmp_path):
    for language in ("zh", "en"):
        (tmp_path / f"{language}.toml").write_text('[a]\nx = "1"\n', encoding="utf-8")
        (tmp_path / f"{language}.area.toml").write_text('[b]\ny = "2"\n', encoding="utf-8")
    catalogue = Catalogue.load(folder=tmp_path)
    assert catalogue.text("en", "b.y") == "2"
    (tmp_path / "zh.other.toml").write_text('[a]\nx = "3"\n', encoding="utf-8")
    with pytest.raises(ValueError, match=r"a\.x"):
        Catalogue.load(folder=tmp_path)


def test_button_kinds_are_unique_and_stay_within_64_bytes():
    from typing import ClassVar

    from handlers.callbacks import Button

    with pytest.raises(ValueError):

        class Again(Button):
            KIND: ClassVar[str] = "mp"

    with pytest.raises(ValueError):
        MembersPageButton(unit="A" * 32, page=1).model_copy(update={"unit": "A" * 70}).encode()
