"""Tips received outside the bot, from a CSV file: read, check every line, import all
or nothing.

Columns: ``number,received_at,unit,description,source,assigned_at,assigned_unit,
deadline,closed_at,valid``. ``unit``/``assigned_unit`` are a unit code, a unit's name
(when it is unique) or its full name down the tree (``卧龙区/武侯街道/崔庄社区``); times
are ISO 8601 in the configured time zone (an explicit offset is honoured); empty means
"not yet"; ``valid`` is 1, 0 or empty.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from bot.core.codes import typed_code
from bot.i18n import shipped
from storage.units import Unit

COLUMNS = (
    "number",
    "received_at",
    "unit",
    "description",
    "source",
    "assigned_at",
    "assigned_unit",
    "deadline",
    "closed_at",
    "valid",
)

# tip.source.*; new ones go at the end (a source button carries its index).
SOURCES = ("hotline", "online", "visit", "other", "patrol", "department")
# Sources with no tipster to reward: found by grid staff on patrol, or handed over by a
# department (the reward rules pay real-name members of the public, never staff).
STAFF_SOURCES = ("patrol", "department")


def source_words() -> dict[str, str]:
    """The words a source column may hold: a source's name in every language (热线,
    hotline…; ``tip.source.*``) or its code, each with its code."""
    words = shipped().keywords
    return {word: code for code in SOURCES for word in {code, *words(f"tip.source.{code}")}}


#: The longest text of a tip (its description, a closing result, a reason), typed in chat
#: (``bot.domain.tips``) or imported: it must fit a message with the rest of the tip's card.
TEXT_MAX = 1000
_NUMBER = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,39}$")


class TipFileError(Exception):
    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


@dataclass(frozen=True)
class TipRow:
    line: int
    number: str
    received_at: datetime
    unit: Unit
    description: str
    source: str
    assigned_at: datetime | None
    assigned_unit: Unit | None
    deadline: datetime | None
    closed_at: datetime | None
    valid: bool | None


class UnitNames:
    """Finds a unit by code, by unique name, or by its names down the tree."""

    def __init__(self, units: list[Unit]) -> None:
        self.by_code = {u.code: u for u in units}
        self.by_id = {u.id: u for u in units}
        names: dict[str, list[Unit]] = {}
        for unit in units:
            # A district's full name down the tree is its name: index it once.
            for key in dict.fromkeys((typed_code(unit.name), typed_code(self.full(unit)))):
                names.setdefault(key, []).append(unit)
        self.by_name = names

    def full(self, unit: Unit) -> str:
        """The unit's names down the tree, below the root: ``卧龙区/武侯街道/崔庄社区``."""
        chain = []
        current: Unit | None = unit
        while current is not None and current.parent_id is not None:
            chain.append(current.name)
            current = self.by_id.get(current.parent_id)
        return "/".join(reversed(chain))

    def find(self, text: str) -> Unit | list[Unit] | None:
        """The unit; None if unknown; every unit it fits when a name fits several."""
        text = typed_code(text)
        if text in self.by_code:
            return self.by_code[text]
        key = "/".join(part.strip() for part in text.split("/"))
        found = self.by_name.get(key, [])
        if len(found) > 1:
            return found
        return found[0] if found else None


def _time(text: str, zone: ZoneInfo) -> datetime:
    moment = datetime.fromisoformat(text.strip())
    return moment if moment.tzinfo else moment.replace(tzinfo=zone)


class _Line:
    """One CSV line being checked; its problems collect in ``problems``."""

    def __init__(self, cell: dict[str, str], where: str, names: UnitNames, zone: ZoneInfo):
        self.cell, self.where, self.names, self.zone = cell, where, names, zone
        self.problems: list[str] = []

    def when(self, column: str, required: bool = False) -> datetime | None:
        value = self.cell[column]
        if not value:
            if required:
                self.problems.append(f"{self.where}: {column} is empty")
            return None
        try:
            return _time(value, self.zone)
        except ValueError:
            self.problems.append(f"{self.where}: {column} {value!r} is not an ISO 8601 time")
            return None

    def unit(self, column: str, required: bool = False) -> Unit | None:
        value = self.cell[column]
        if not value:
            if required:
                self.problems.append(f"{self.where}: {column} is empty")
            return None
        found = self.names.find(value)
        if isinstance(found, list):
            paths = ", ".join(self.names.full(unit) for unit in found)
            self.problems.append(f"{self.where}: {column} {value!r} names several units: {paths}")
        elif found is None:
            self.problems.append(f"{self.where}: {column} {value!r} is not a known unit")
        return found if isinstance(found, Unit) else None


def read_tip_file(path: Path, units: list[Unit], zone: ZoneInfo) -> list[TipRow]:
    """Every row, or ``TipFileError`` with every problem and its line number."""
    try:
        raw = path.read_bytes().decode("utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise TipFileError([f"{path.name}: cannot be read as UTF-8 ({exc})"]) from None
    reader = csv.DictReader(io.StringIO(raw))
    header = tuple(h.strip() for h in reader.fieldnames or ())
    if header != COLUMNS:
        wanted, got = ",".join(COLUMNS), ",".join(header)
        raise TipFileError([f"{path.name}:1: the header must be exactly {wanted} (got {got})"])
    names = UnitNames(units)
    sources = source_words()
    problems: list[str] = []
    rows: list[TipRow] = []
    seen: dict[str, int] = {}
    for index, record in enumerate(reader, start=2):
        line = reader.line_num if reader.line_num else index
        where = f"{path.name}:{line}"
        if None in record or any(v is None for v in record.values()):
            problems.append(f"{where}: expected {len(COLUMNS)} columns")
            continue
        cell = {k.strip(): (v or "").strip() for k, v in record.items()}
        check = _Line(cell, where, names, zone)
        row_problems = check.problems
        when, unit = check.when, check.unit

        number = cell["number"]
        if not _NUMBER.fullmatch(number):
            row_problems.append(f"{where}: number {number!r} is not a tip number")
        elif number.upper() in seen:
            row_problems.append(f"{where}: number {number} repeats line {seen[number.upper()]}")
        else:
            seen[number.upper()] = line
        received = when("received_at", required=True)
        place = unit("unit", required=True)
        if not cell["description"]:
            row_problems.append(f"{where}: description is empty")
        elif len(cell["description"]) > TEXT_MAX:
            row_problems.append(
                f"{where}: description is {len(cell['description'])} characters long "
                f"(at most {TEXT_MAX}, as when typed in chat)"
            )
        source = sources.get(cell["source"].lower())
        if source is None:
            row_problems.append(
                f"{where}: source {cell['source']!r} is not one of {'/'.join(sorted(sources))}"
            )
        assigned_at, assigned_unit = when("assigned_at"), unit("assigned_unit")
        deadline, closed_at = when("deadline"), when("closed_at")
        valid: bool | None = None
        if cell["valid"] not in ("", "0", "1"):
            row_problems.append(f"{where}: valid {cell['valid']!r} must be 1, 0 or empty")
        elif cell["valid"]:
            valid = cell["valid"] == "1"
        if (assigned_at is None) != (assigned_unit is None) and not row_problems:
            row_problems.append(f"{where}: assigned_at and assigned_unit go together")
        if deadline and not assigned_at and not row_problems:
            row_problems.append(f"{where}: a deadline needs assigned_at")
        if closed_at and not assigned_at and not row_problems:
            row_problems.append(f"{where}: closed_at needs assigned_at")
        if valid is not None and not closed_at and not row_problems:
            row_problems.append(f"{where}: valid needs closed_at")
        if received and assigned_at and assigned_at < received:
            row_problems.append(f"{where}: assigned_at is before received_at")
        if assigned_at and closed_at and closed_at < assigned_at:
            row_problems.append(f"{where}: closed_at is before assigned_at")
        if assigned_at and deadline and deadline < assigned_at:
            row_problems.append(f"{where}: deadline is before assigned_at")
        if row_problems:
            problems.extend(row_problems)
            continue
        assert received is not None and place is not None and source is not None
        rows.append(
            TipRow(
                line,
                number.upper(),
                received,
                place,
                cell["description"],
                source,
                assigned_at,
                assigned_unit,
                deadline,
                closed_at,
                valid,
            )
        )
    if problems:
        raise TipFileError(problems)
    return rows
