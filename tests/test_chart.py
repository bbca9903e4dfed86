"""The score chart: a PNG, Chinese labels drawn with a font that has every glyph."""

from __future__ import annotations

import io
import logging
import warnings

from PIL import Image

from bot.domain.ranking import Period, Ranking, RankRow
from bot.formats.chart import missing_glyphs, score_chart
from bot.formats.orgfile import read_org_file
from storage.units import Unit
from tests.conftest import EXAMPLE_ORG


def _ranking() -> Ranking:
    parent = Unit(1, "NY", "南阳市", "city", None, "/1/", 0, True)
    names = ["卧龙区", "宛城区", "高新区", "城乡一体化示范区"]
    rows = [
        RankRow(
            Unit(i + 2, f"D{i}", name, "district", 1, f"/1/{i + 2}/", i, True), score=s, rank=i + 1
        )
        for i, (name, s) in enumerate(zip(names, [5.2, 3.1, 0.75, 0.0], strict=True))
    ]
    from datetime import date

    return Ranking(parent, Period.of("day", date(2026, 11, 23)), rows)


def test_every_unit_name_and_label_has_a_glyph():
    names = "".join(row.name for row in read_org_file(EXAMPLE_ORG))
    labels = "南阳市 各区得分 · 2026-11-23 得分 各街道（乡镇） 各社区（村） 各网格"
    assert missing_glyphs(names + labels) == set()
    assert missing_glyphs("\U0001f600") == {"\U0001f600"}  # the check can fail


def test_the_chart_is_a_png_drawn_without_missing_glyph_warnings(caplog):
    caplog.set_level(logging.WARNING)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        png = score_chart(_ranking(), "南阳市 各区得分 · 2026-11-23", "得分")
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    image = Image.open(io.BytesIO(png))
    assert image.width >= 600 and image.height >= 250
    problems = [str(w.message) for w in caught] + [r.getMessage() for r in caplog.records]
    assert not [p for p in problems if "missing from" in p or "findfont" in p], problems
