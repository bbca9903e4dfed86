"""Reading and checking an org file (the unit tree) before anything is written.

Two formats give the same rows:
- TOML, nested: ``[city]``, ``[[city.districts]]``, ``[[city.districts.streets]]``,
  ``[[city.districts.streets.communities]]`` with an optional ``grids = [{code, name}]``.
- CSV with the header ``code,name,level,parent_code`` (UTF-8, a BOM is fine; levels in
  English or Chinese: 市/区/县/街道/乡镇/社区/村/网格).

``read_org_file`` returns every problem at once, each with its line number, or the rows
in file order. Nothing here touches the database.
"""

from __future__ import annotations

import csv
import io
import re
import tomllib
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bot.i18n import shipped

LEVELS = ("city", "district", "street", "community", "grid")


def level_words() -> dict[str, str]:
    """The words a level column may hold (区, 街道, county…; ``unit.word.*`` of every
    language), each with its level."""
    words = shipped().keywords
    return {word: level for level in LEVELS for word in words(f"unit.word.{level}")}


CODE_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,31}$")
NAME_MAX = 30
CSV_HEADER = ("code", "name", "level", "parent_code")
_TOML_CHILDREN = {"city": "districts", "district": "streets", "street": "communities"}


@dataclass(frozen=True)
class UnitRow:
    code: str
    name: str
    level: str
    parent_code: str | None
    line: int


@dataclass(frozen=True)
class OrgProblem:
    line: int | None
    message: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.message}" if self.line else self.message


class OrgFileError(Exception):
    def __init__(self, source: str, problems: list[OrgProblem]) -> None:
        super().__init__(f"{source}: {len(problems)} problem(s)")
        self.source = source
        self.problems = problems

    def lines(self) -> list[str]:
        return [f"{self.source}: {problem}" for problem in self.problems]


def read_org_file(path: Path) -> list[UnitRow]:
    """Parse and validate ``path`` (``.toml`` or ``.csv``); raise ``OrgFileError``."""
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except FileNotFoundError:
        raise OrgFileError(str(path), [OrgProblem(None, "file not found")]) from None
    except UnicodeDecodeError:
        raise OrgFileError(str(path), [OrgProblem(None, "not UTF-8 text")]) from None
    suffix = path.suffix.lower()
    if suffix == ".toml":
        rows, problems = _parse_toml(text)
    elif suffix == ".csv":
        rows, problems = _parse_csv(text)
    else:
        problems, rows = [OrgProblem(None, "unknown format: use a .toml or .csv file")], []
    problems += validate_rows(rows)
    if problems:
        problems.sort(key=lambda p: p.line or 0)
        raise OrgFileError(str(path), problems)
    return rows


def validate_rows(rows: list[UnitRow]) -> list[OrgProblem]:
    """Every structural problem of a set of rows: codes, names, parents, levels, cycles."""
    problems: list[OrgProblem] = []
    first_line: dict[str, int] = {}
    by_code: dict[str, UnitRow] = {}
    for row in rows:
        if not CODE_RE.fullmatch(row.code):
            problems.append(
                OrgProblem(
                    row.line,
                    f"code {row.code!r} is not valid "
                    "(letters, digits, '-' and '_', at most 32 characters)",
                )
            )
        if not row.name.strip():
            problems.append(OrgProblem(row.line, f"unit {row.code!r} has no name"))
        elif len(row.name) > NAME_MAX:
            problems.append(
                OrgProblem(row.line, f"name of {row.code!r} is longer than {NAME_MAX} characters")
            )
        if row.level not in LEVELS:
            problems.append(OrgProblem(row.line, f"unknown level {row.level!r}"))
        if row.code in first_line:
            problems.append(
                OrgProblem(
                    row.line,
                    f"duplicate code {row.code!r} (first used on line {first_line[row.code]})",
                )
            )
            continue
        first_line[row.code] = row.line
        by_code[row.code] = row

    roots = [row for row in by_code.values() if not row.parent_code]
    if not roots and rows:
        problems.append(OrgProblem(None, "no root: one unit of level 'city' must have no parent"))
    for row in roots:
        if row.level != "city":
            problems.append(
                OrgProblem(row.line, f"{row.code!r} has no parent but is a {row.level}, not a city")
            )
    if len(roots) > 1:
        for row in roots[1:]:
            problems.append(
                OrgProblem(row.line, f"second root {row.code!r}: a file holds one city")
            )

    for row in by_code.values():
        if not row.parent_code:
            continue
        parent = by_code.get(row.parent_code)
        if parent is None:
            problems.append(
                OrgProblem(row.line, f"unknown parent {row.parent_code!r} of {row.code!r}")
            )
            continue
        if parent.level in LEVELS and row.level in LEVELS:
            expected = LEVELS.index(parent.level) + 1
            if LEVELS.index(row.level) != expected:
                wanted = LEVELS[expected] if expected < len(LEVELS) else "nothing (a leaf)"
                problems.append(
                    OrgProblem(
                        row.line,
                        f"level out of order: {row.code!r} is a {row.level} under the "
                        f"{parent.level} {parent.code!r}, which holds {wanted}",
                    )
                )
    problems += _cycles(by_code)
    return problems


def _cycles(by_code: dict[str, UnitRow]) -> list[OrgProblem]:
    problems = []
    settled: set[str] = set()
    for start in by_code:
        trail: list[str] = []
        code: str | None = start
        while code and code in by_code and code not in settled:
            if code in trail:
                loop = [*trail[trail.index(code) :], code]
                lines = ", ".join(str(by_code[c].line) for c in loop[:-1])
                problems.append(
                    OrgProblem(
                        by_code[code].line,
                        f"cycle: {' → '.join(loop)} (lines {lines})",
                    )
                )
                break
            trail.append(code)
            code = by_code[code].parent_code
        settled.update(trail)
    return problems


def _parse_csv(text: str) -> tuple[list[UnitRow], list[OrgProblem]]:
    reader = csv.reader(io.StringIO(text))
    problems: list[OrgProblem] = []
    rows: list[UnitRow] = []
    header = next(reader, None)
    aliases = level_words()
    if header is None or tuple(h.strip().lower() for h in header) != CSV_HEADER:
        return [], [OrgProblem(1, f"the header must be {','.join(CSV_HEADER)}")]
    for fields in reader:
        line = reader.line_num
        if not any(field.strip() for field in fields):
            continue
        if len(fields) != len(CSV_HEADER):
            problems.append(
                OrgProblem(line, f"expected {len(CSV_HEADER)} fields, found {len(fields)}")
            )
            continue
        code, name, level, parent = (field.strip() for field in fields)
        rows.append(
            UnitRow(code, name, aliases.get(level.lower(), level.lower()), parent or None, line)
        )
    return rows, problems


def _parse_toml(text: str) -> tuple[list[UnitRow], list[OrgProblem]]:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        return [], [OrgProblem(None, f"not valid TOML: {exc}")]
    problems: list[OrgProblem] = []
    rows: list[UnitRow] = []
    lines = _code_lines(text)
    unknown = set(data) - {"city"}
    for key in sorted(unknown):
        problems.append(OrgProblem(_key_line(text, key), f"unknown key {key!r}"))
    city = data.get("city")
    if not isinstance(city, dict):
        problems.append(OrgProblem(None, "missing [city] table"))
        return rows, problems
    _walk_toml(city, "city", None, "city", lines, rows, problems)
    return rows, problems


def _walk_toml(
    table: dict[str, Any],
    level: str,
    parent_code: str | None,
    where: str,
    lines: dict[str, list[int]],
    rows: list[UnitRow],
    problems: list[OrgProblem],
) -> None:
    code, name = table.get("code"), table.get("name")
    line = lines[code].pop(0) if isinstance(code, str) and lines.get(code) else None
    if not isinstance(code, str) or not isinstance(name, str):
        problems.append(OrgProblem(line, f"{where}: needs text 'code' and 'name'"))
        return
    rows.append(UnitRow(code.strip(), name.strip(), level, parent_code, line or 0))
    child_key = _TOML_CHILDREN.get(level)
    allowed = {"code", "name"} | ({child_key} if child_key else set())
    if level == "community":
        allowed.add("grids")
    for key in sorted(set(table) - allowed):
        problems.append(OrgProblem(line, f"{where} {code!r}: unknown key {key!r}"))
    if child_key:
        _walk_list(
            table.get(child_key, []), LEVELS[LEVELS.index(level) + 1], code, lines, rows, problems
        )
    if level == "community":
        _walk_list(table.get("grids", []), "grid", code, lines, rows, problems)


def _walk_list(
    items: Any,
    level: str,
    parent_code: str,
    lines: dict[str, list[int]],
    rows: list[UnitRow],
    problems: list[OrgProblem],
) -> None:
    if not isinstance(items, list):
        problems.append(OrgProblem(None, f"{parent_code!r}: its {level}s must be a list"))
        return
    for item in items:
        if not isinstance(item, dict):
            problems.append(OrgProblem(None, f"{parent_code!r}: a {level} must be a table"))
            continue
        _walk_toml(item, level, parent_code, level, lines, rows, problems)


def _code_lines(text: str) -> dict[str, list[int]]:
    """Line numbers of every ``code = "X"`` in the file, in order, by X.

    The TOML walk visits tables in document order (arrays of tables are written
    depth-first), so the n-th unit with a given code is on the n-th such line.
    """
    found: dict[str, list[int]] = defaultdict(list)
    pattern = re.compile(r"""(?:^|[{,\s])code\s*=\s*(?:"([^"]*)"|'([^']*)')""")
    for number, line in enumerate(text.splitlines(), start=1):
        for match in pattern.finditer(line):
            found[match[1] if match[1] is not None else match[2]].append(number)
    return found


def _key_line(text: str, key: str) -> int | None:
    for number, line in enumerate(text.splitlines(), start=1):
        if re.match(rf"^\s*\[*\s*{re.escape(key)}\b", line):
            return number
    return None


def level_counts(rows: list[UnitRow]) -> Counter[str]:
    return Counter(row.level for row in rows)
