"""The org file reader and validator: every error at once, with line numbers."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.formats.orgfile import OrgFileError, read_org_file
from tests.conftest import EXAMPLE_ORG


def _csv(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "org.csv"
    path.write_text("code,name,level,parent_code\n" + body, encoding="utf-8")
    return path


def _problems(path: Path) -> list[str]:
    with pytest.raises(OrgFileError) as caught:
        read_org_file(path)
    return [str(p) for p in caught.value.problems]


def test_example_city_has_the_four_districts_and_full_depth():
    rows = read_org_file(EXAMPLE_ORG)
    districts = [r for r in rows if r.level == "district"]
    assert [(d.code, d.name) for d in districts] == [
        ("WL", "卧龙区"),
        ("WC", "宛城区"),
        ("GX", "高新区"),
        ("SF", "城乡一体化示范区"),
    ]
    by_parent: dict[str, list[str]] = {}
    for row in rows:
        by_parent.setdefault(row.parent_code or "", []).append(row.code)
    for district in districts:
        streets = by_parent[district.code]
        assert len(streets) >= 3
        for street in streets:
            assert len(by_parent[street]) >= 2
            for community in by_parent[street]:
                assert len(by_parent[community]) >= 2
    assert all(row.line > 0 for row in rows)


def test_csv_accepts_chinese_levels_and_a_bom(tmp_path):
    path = tmp_path / "org.csv"
    path.write_bytes("\ufeffcode,name,level,parent_code\nNY,南阳市,市,\nWL,卧龙区,区,NY\n".encode())
    rows = read_org_file(path)
    assert [(r.code, r.level, r.line) for r in rows] == [("NY", "city", 2), ("WL", "district", 3)]


def test_three_mistakes_are_all_reported_with_line_numbers(tmp_path):
    path = _csv(
        tmp_path,
        "NY,南阳市,city,\n"
        "WL,卧龙区,district,NY\n"
        "WL,卧龙区副本,district,NY\n"  # line 4: duplicate
        "WL-X,某街道,street,NOPE\n"  # line 5: unknown parent
        "WL-G,某网格,grid,WL\n",  # line 6: level out of order
    )
    assert _problems(path) == [
        "line 4: duplicate code 'WL' (first used on line 3)",
        "line 5: unknown parent 'NOPE' of 'WL-X'",
        "line 6: level out of order: 'WL-G' is a grid under the district 'WL', which holds street",
    ]


def test_cycle_is_found(tmp_path):
    path = _csv(
        tmp_path,
        "NY,南阳市,city,\nA,甲,community,B\nB,乙,community,A\n",
    )
    problems = _problems(path)
    assert any(p.startswith("line 3: cycle: A → B → A") for p in problems), problems


def test_root_rules(tmp_path):
    assert "line 2: 'WL' has no parent but is a district, not a city" in _problems(
        _csv(tmp_path, "WL,卧龙区,district,\n")
    )
    problems = _problems(_csv(tmp_path, "NY,南阳市,city,\nXY,信阳市,city,\n"))
    assert "line 3: second root 'XY': a file holds one city" in problems


def test_bad_header_codes_names_and_field_counts(tmp_path):
    path = tmp_path / "org.csv"
    path.write_text("id,name\n", encoding="utf-8")
    assert _problems(path) == ["line 1: the header must be code,name,level,parent_code"]
    problems = _problems(
        _csv(tmp_path, "NY,南阳市,city,\nbad code!,名,district,NY\nWL,,district,NY\nX,y\n")
    )
    assert problems[0].startswith("line 3: code 'bad code!' is not valid")
    assert "line 4: unit 'WL' has no name" in problems
    assert "line 5: expected 4 fields, found 2" in problems


def test_toml_duplicates_and_unknown_keys_have_lines(tmp_path):
    path = tmp_path / "org.toml"
    path.write_text(
        '[city]\ncode = "NY"\nname = "南阳市"\n\n'
        '[[city.districts]]\ncode = "WL"\nname = "卧龙区"\ncolour = "red"\n\n'
        '[[city.districts]]\ncode = "WL"\nname = "又一个"\n',
        encoding="utf-8",
    )
    assert _problems(path) == [
        "line 6: district 'WL': unknown key 'colour'",
        "line 11: duplicate code 'WL' (first used on line 6)",
    ]


def test_unknown_format_and_missing_file(tmp_path):
    assert _problems(tmp_path / "org.xlsx") == ["file not found"]
    path = tmp_path / "org.json"
    path.write_text("{}", encoding="utf-8")
    assert _problems(path) == ["unknown format: use a .toml or .csv file"]
