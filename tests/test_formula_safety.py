"""Formula injection (issue 14, item 18): a unit name that starts like a formula stays
text in every file gridbot writes — the bulletin's XLSX and `gridbot tips table` as CSV
or TSV — as it already did in /export."""

from __future__ import annotations

import csv
import io
from datetime import date

from openpyxl import load_workbook

from bot.domain.bulletin import workbook
from bot.formats.orgfile import read_org_file
from handlers.grouppost import texts_in
from tests.cli_helpers import gridbot
from tests.conftest import EXAMPLE_ORG, write_config

FORMULA = '=HYPERLINK("http://x.cn","卧龙")'
PLUS = "+1+卧龙区"


def _org(tmp_path):
    """The example city with 卧龙区 named like a formula and 宛城区 starting with '+'."""
    text = EXAMPLE_ORG.read_text(encoding="utf-8")
    text = text.replace('code = "WL"\nname = "卧龙区"', f"code = \"WL\"\nname = '{FORMULA}'")
    text = text.replace('code = "WC"\nname = "宛城区"', f'code = "WC"\nname = "{PLUS}"')
    assert FORMULA in text and PLUS in text
    path = tmp_path / "org.toml"
    path.write_text(text, encoding="utf-8")
    return path


async def test_the_bulletin_workbook_keeps_a_formula_like_unit_name_as_text(services, tmp_path):
    path = _org(tmp_path)
    await services.org.import_rows(read_org_file(path), str(path))
    bulletin = await services.bulletins.build(None, date(2026, 11, 26))
    book = load_workbook(io.BytesIO(workbook(bulletin, texts_in(services))))
    for sheet in book.worksheets:
        cells = [cell for row in sheet.iter_rows() for cell in row]
        assert not [cell.coordinate for cell in cells if cell.data_type == "f"], sheet.title
    tips_areas = [row[0].value for row in book.worksheets[0].iter_rows(min_row=2)]
    assert FORMULA in tips_areas and PLUS in tips_areas
    units = [row[2].value for row in book.worksheets[1].iter_rows(min_row=2)]
    assert FORMULA in units


def test_the_cli_tip_table_as_csv_or_tsv_escapes_formula_like_names(tmp_path):
    config = write_config(tmp_path)
    _org(tmp_path)
    done = gridbot("org", "import", "org.toml", "--config", str(config), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    for fmt, delimiter in (("csv", ","), ("tsv", "\t")):
        shown = gridbot("tips", "table", "--format", fmt, "--config", str(config), cwd=tmp_path)
        assert shown.returncode == 0, shown.stderr
        areas = [row[0] for row in csv.reader(shown.stdout.splitlines(), delimiter=delimiter)]
        assert "'" + FORMULA in areas and "'" + PLUS in areas, areas
        assert not any(area.startswith(("=", "+", "-", "@")) for area in areas)
    text = gridbot("tips", "table", "--config", str(config), cwd=tmp_path)
    assert FORMULA in text.stdout  # the plain text table shows the name as it is
