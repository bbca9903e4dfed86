"""Values written into files that people open in a spreadsheet program (XLSX sheets,
CSV and TSV tables): text that would start a formula stays text.

A name such as ``=HYPERLINK(…)`` typed into the bot must never run when an official opens
the export or the bulletin. XLSX cells get the string type (openpyxl would otherwise store
a formula) and lose the control characters XLSX cannot hold; CSV/TSV fields that start
like a formula get a leading ``'``, which spreadsheet programs show as text.
"""

from __future__ import annotations

from typing import Any

from openpyxl.cell import Cell, WriteOnlyCell
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from openpyxl.worksheet._write_only import WriteOnlyWorksheet
from openpyxl.worksheet.worksheet import Worksheet

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def xlsx_cell(sheet: Worksheet | WriteOnlyWorksheet, value: Any) -> Any:
    """``value`` ready for ``sheet.append``: text as a text cell, anything else as is."""
    if not isinstance(value, str):
        return value
    value = ILLEGAL_CHARACTERS_RE.sub("", value)
    if value.startswith("="):  # openpyxl would store it as a formula
        cell = (
            WriteOnlyCell(sheet, value=value)
            if isinstance(sheet, WriteOnlyWorksheet)
            else Cell(sheet, value=value)
        )
        cell.data_type = "s"
        return cell
    return value


def xlsx_row(sheet: Worksheet | WriteOnlyWorksheet, values: list[Any]) -> list[Any]:
    return [xlsx_cell(sheet, value) for value in values]


def csv_value(value: Any) -> Any:
    """A CSV or TSV field: text that starts like a formula gets a leading ``'``."""
    if isinstance(value, str) and value.startswith(FORMULA_START):
        return "'" + value  # spreadsheet programs would run it as a formula
    return value
