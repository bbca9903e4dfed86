"""Importing the unit tree into a real database."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.formats.orgfile import OrgFileError, read_org_file
from bot.services import Services
from tests.conftest import EXAMPLE_ORG


async def _dump(services: Services) -> list[tuple]:
    async with (
        services.db.read() as conn,
        conn.execute("SELECT * FROM org_unit ORDER BY id") as cur,
    ):
        return [tuple(row) for row in await cur.fetchall()]


def _csv(tmp_path: Path, body: str) -> list:
    path = tmp_path / "org.csv"
    path.write_text("code,name,level,parent_code\n" + body, encoding="utf-8")
    return read_org_file(path)


async def test_reimport_changes_nothing(city: Services, clock):
    before = await _dump(city)
    clock.advance(__import__("datetime").timedelta(days=1))
    result = await city.org.import_rows(read_org_file(EXAMPLE_ORG), "org.toml")
    assert not result.changed
    assert result.unchanged == len(before)
    assert await _dump(city) == before


async def test_tree_lists_the_districts_in_file_order(city: Services):
    root = await city.org.root()
    assert root is not None and root.code == "NY"
    nodes = await city.org.tree(root)
    assert [n.unit.code for n in nodes if n.depth == 1] == ["WL", "WC", "GX", "SF"]
    # parents come before their children, and every child sits right under its subtree
    for index, node in enumerate(nodes[1:], start=1):
        parent = next(p for p in reversed(nodes[:index]) if p.depth == node.depth - 1)
        assert node.unit.parent_id == parent.unit.id


async def test_rename_move_add_and_deactivate(services: Services, tmp_path):
    first = _csv(
        tmp_path,
        "NY,南阳市,city,\nWL,卧龙区,district,NY\nWC,宛城区,district,NY\n"
        "S1,一街道,street,WL\nC1,一社区,community,S1\nS2,二街道,street,WC\n",
    )
    await services.org.import_rows(first, "org.csv")
    second = _csv(
        tmp_path,
        "NY,南阳市,city,\nWL,卧龙区,district,NY\nWC,宛城区,district,NY\n"
        "S1,第一街道,street,WL\nS3,三街道,street,WC\nC1,一社区,community,S3\n",
    )
    result = await services.org.import_rows(second, "org.csv")
    assert result.added == ["S3"]
    assert result.renamed == [("S1", "一街道", "第一街道")]
    assert result.moved == ["C1"]
    assert [u.code for u in result.deactivated] == ["S2"]

    wc = await services.org.unit("WC")
    c1 = await services.org.unit("C1")
    s2 = await services.org.unit("S2")
    assert wc and c1 and s2
    assert c1.path.startswith(wc.path)  # the moved unit's path follows its new parent
    assert not s2.active  # kept, not deleted

    third = await services.org.import_rows(first, "org.csv")
    assert third.reactivated == ["S2"]
    assert (await services.org.unit("S2")).active  # type: ignore[union-attr]


async def test_another_city_is_refused_and_nothing_changes(city: Services, tmp_path):
    before = await _dump(city)
    with pytest.raises(OrgFileError) as caught:
        await city.org.import_rows(_csv(tmp_path, "XY,信阳市,city,\n"), "other.csv")
    assert "is not the database's city 'NY'" in caught.value.lines()[0]
    assert await _dump(city) == before
