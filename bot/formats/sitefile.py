"""Site registry files (台账): CSV or XLSX with the columns
``category,code,name,address,unit,lat,lon,tags,status``, read as a stream (the csv module;
openpyxl in read-only mode) so a file of 200,000 rows never sits in memory, and written
back the same way (``gridbot sites export``)."""

from __future__ import annotations

import csv
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

COLUMNS = ("category", "code", "name", "address", "unit", "lat", "lon", "tags", "status")
REQUIRED = ("category", "code", "unit")


class SiteFileError(Exception):
    """The file cannot be read as a site list at all (not its rows: those are checked one
    by one and reported together)."""


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer() and abs(value) > 1000:
        return str(int(value))
    return str(value).strip()


def read_rows(path: Path) -> Iterator[tuple[int, dict[str, str]]]:
    """(line number, column → text) of every non-blank row after the header."""
    suffix = path.suffix.lower()
    if suffix == ".xlsx":
        yield from _xlsx(path)
    elif suffix in (".csv", ".txt"):
        yield from _csv(path)
    else:
        raise SiteFileError(f"{path}: not a .csv or .xlsx file")


def _header(cells: list[str], path: Path) -> list[str]:
    names = [cell.strip().lower() for cell in cells]
    missing = [name for name in REQUIRED if name not in names]
    unknown = [name for name in names if name and name not in COLUMNS]
    if missing or unknown:
        problem = []
        if missing:
            problem.append("missing column(s) " + ", ".join(missing))
        if unknown:
            problem.append("unknown column(s) " + ", ".join(unknown))
        raise SiteFileError(f"{path}: line 1: {'; '.join(problem)} (columns: {','.join(COLUMNS)})")
    return names


def _rows(
    lines: Iterable[tuple[int, list[Any]]], path: Path, text: bool = False
) -> Iterator[tuple[int, dict[str, str]]]:
    names: list[str] | None = None
    for number, row in lines:
        cells = [c.strip() for c in row] if text else [_cell(c) for c in row]
        if names is None:
            names = _header(cells, path)
            continue
        if not any(cells):
            continue
        if len(cells) < len(names):
            cells += [""] * (len(names) - len(cells))
        yield number, dict(zip(names, cells, strict=False))
    if names is None:
        raise SiteFileError(f"{path}: empty file")


def _csv(path: Path) -> Iterator[tuple[int, dict[str, str]]]:
    try:
        with path.open(encoding="utf-8-sig", newline="") as handle:
            reader = csv.reader(handle)
            yield from _rows(((reader.line_num, row) for row in reader), path, text=True)
    except UnicodeDecodeError:
        raise SiteFileError(f"{path}: not UTF-8 text") from None


def _xlsx(path: Path) -> Iterator[tuple[int, dict[str, str]]]:
    from openpyxl import load_workbook

    try:
        book = load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:  # a broken or foreign file
        raise SiteFileError(f"{path}: not a readable XLSX workbook ({exc})") from None
    try:
        sheet = book.worksheets[0]
        lines = (
            (number, list(row))
            for number, row in enumerate(sheet.iter_rows(values_only=True), start=1)
        )
        yield from _rows(lines, path)
    finally:
        book.close()


def write_rows(path: Path, rows: Iterable[list[Any]]) -> int:
    """Write the header and ``rows`` (in ``COLUMNS`` order) as CSV or XLSX; returns rows."""
    count = 0
    if path.suffix.lower() == ".xlsx":
        from openpyxl import Workbook

        from bot.formats.spreadsheet import xlsx_row

        book = Workbook(write_only=True)
        sheet = book.create_sheet()
        sheet.append(list(COLUMNS))
        for row in rows:
            sheet.append(xlsx_row(sheet, row))
            count += 1
        book.save(path)
        return count
    with path.open("w", encoding="utf-8-sig", newline="") as handle:
        out = csv.writer(handle)
        out.writerow(COLUMNS)
        for row in rows:
            out.writerow(["" if v is None else v for v in row])
            count += 1
    return count
