"""The site registry (台账): importing and exporting lists of sites, tagging. Telegram-free.

An import reads the file once as a stream inside one transaction: every row is checked
(every problem collected with its line number) and the good rows are staged in batches
while the next batch is read; any problem rolls the whole transaction back, so nothing is
written from a bad file. Re-importing the same file changes nothing;
names, addresses, units, tags and coordinates follow the file; nothing is deleted, and
the registered sites missing from the file are reported. Afterwards the open plans take
in the sites that now match them.
"""

from __future__ import annotations

import asyncio
import functools
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bot.config import Config
from bot.core import geo
from bot.core.clock import Clock
from bot.domain import audit
from bot.domain.plans import PlanService
from bot.formats.sitefile import read_rows
from storage import sites as site_repo
from storage import units as unit_repo
from storage.db import Database, fetch_all
from storage.members import Member
from storage.sites import RegistryRow, code_key
from storage.units import Unit

BATCH = 1000
MAX_PROBLEMS = 200  # lines printed; the count says how many more
TAG_SEPARATORS = (";", chr(0xFF1B))  # and the full-width semicolon

Progress = Callable[[int, int], None]


@dataclass
class ImportResult:
    rows: int = 0
    added: int = 0
    updated: int = 0
    unchanged: int = 0
    missing: list[str] = field(default_factory=list)  # registered codes not in the file
    joined: int = 0  # plan memberships added


class SiteFileProblems(Exception):
    def __init__(self, problems: list[str], count: int) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems
        self.count = count


@functools.lru_cache(maxsize=4096)  # a registry repeats a few combinations of tags
def split_tags(text: str) -> tuple[str, ...]:
    """The tags of a cell, split at semicolons (either width), trimmed, each once."""
    if not text:
        return ()
    for separator in TAG_SEPARATORS[1:]:
        text = text.replace(separator, TAG_SEPARATORS[0])
    seen: dict[str, None] = {}
    for tag in text.split(TAG_SEPARATORS[0]):
        tag = " ".join(tag.split())
        if tag:
            seen.setdefault(tag, None)
    return tuple(seen)


class _Checker:
    """Turns the text of a row into a ``RegistryRow`` or problems."""

    def __init__(self, config: Config, units: list[Unit]) -> None:
        self.config = config
        self.campaign = config.campaign
        self.by_code = {u.code.casefold(): u for u in units}
        by_id = {u.id: u for u in units}
        self.by_name: dict[str, list[Unit]] = {}
        for unit in units:
            chain = [by_id[int(p)] for p in unit.path.strip("/").split("/") if int(p) in by_id]
            names = [u.name for u in chain]
            for start in range(len(names)):
                self.by_name.setdefault("/".join(names[start:]), []).append(unit)
        self.areas = {area.unit: area for area in config.reports.areas}
        self.chains = {u.id: [by_id[int(p)] for p in u.path.strip("/").split("/")] for u in units}
        # Every way a category or status may be written, to its code.
        self.categories: dict[str, str] = {}
        self.statuses: dict[tuple[str, str], str] = {}
        for category in self.campaign.categories:
            for word in (category.code, category.name, category.name_en):
                if word:
                    self.categories.setdefault(word, category.code)
            for status in category.statuses:
                for word in (status.code, status.name, status.name_en):
                    if word:
                        self.statuses.setdefault((category.code, word), status.code)
        self.area_by_unit = {u.id: self._area(u) for u in units} if self.areas else {}
        self._seen_units: dict[str, Unit | None] = {}

    def unit(self, text: str) -> Unit | None:
        """The unit written as ``text`` (its code or its full name down the tree); the
        answer per text is kept, as a file names each unit on many rows."""
        try:
            return self._seen_units[text]
        except KeyError:
            found = self._seen_units[text] = self._unit(text)
            return found

    def _unit(self, text: str) -> Unit | None:
        found = self.by_code.get(text.strip().casefold())
        if found is not None:
            return found
        key = "/".join(
            part.strip() for part in text.replace(chr(0xFF0F), "/").split("/") if part.strip()
        )
        matches = self.by_name.get(key, [])
        return matches[0] if len(matches) == 1 else None

    def category(self, text: str) -> str | None:
        """The code of the category written as ``text`` (its code or a name)."""
        return self.categories.get(text)

    def status(self, category: str, text: str) -> str | None:
        """The code of the status of ``category`` written as ``text``."""
        return self.statuses.get((category, text))

    def area_of(self, unit: Unit) -> Any:
        """The configured area of the unit or of the nearest unit above it."""
        return self.area_by_unit.get(unit.id)

    def _area(self, unit: Unit) -> Any:
        for ancestor in reversed(self.chains.get(unit.id, [])):
            if ancestor.code in self.areas:
                return self.areas[ancestor.code]
        return None

    def check(self, raw: dict[str, str]) -> tuple[RegistryRow | None, list[str]]:
        problems = []
        category = self.category(raw.get("category", ""))
        if category is None:
            problems.append(f"unknown category {raw.get('category', '')!r}")
        code = " ".join(raw.get("code", "").split())
        if not 1 <= len(code) <= 60:
            problems.append("a code of 1 to 60 characters is needed")
        unit = self.unit(raw.get("unit", ""))
        if unit is None:
            problems.append(f"unknown unit {raw.get('unit', '')!r}")
        status = None
        if raw.get("status") and category is not None:
            status = self.status(category, raw["status"])
            if status is None:
                problems.append(f"unknown status {raw['status']!r} for {raw['category']!r}")
        lat, lon = raw.get("lat", ""), raw.get("lon", "")
        latitude = longitude = None
        if lat or lon:
            try:
                latitude, longitude = float(lat), float(lon)
                if not (math.isfinite(latitude) and math.isfinite(longitude)):
                    raise ValueError
            except ValueError:
                problems.append(f"coordinates {lat!r}, {lon!r} are not two numbers")
            else:
                problem = self._place(latitude, longitude, unit)
                if problem:
                    problems.append(problem)
        if problems:
            return None, problems
        assert category is not None and unit is not None
        return (
            RegistryRow(
                category=category,
                code=code,
                name=raw.get("name") or None,
                address=raw.get("address") or None,
                unit_id=unit.id,
                latitude=latitude,
                longitude=longitude,
                tags=split_tags(raw.get("tags", "")),
                status=status,
                key=" ".join(code.split()).casefold(),
            ),
            [],
        )

    def _place(self, lat: float, lon: float, unit: Unit | None) -> str | None:
        if not (-90 <= lat <= 90 and -180 <= lon <= 180):
            if -90 <= lon <= 90 and -180 <= lat <= 180:
                return f"coordinates {lat}, {lon} out of range: latitude and longitude swapped?"
            return f"coordinates {lat}, {lon} out of range"
        area = self.area_of(unit) if unit is not None else None
        if (
            area is not None
            and geo.outside_by(area, (lat, lon)) is not None
            and -90 <= lon <= 90
            and geo.outside_by(area, (lon, lat)) is None
        ):
            return (
                f"coordinates {lat}, {lon} are latitude and longitude swapped "
                f"(outside the area of {area.unit}; {lon}, {lat} is inside)"
            )
        return None


class SiteRegistry:
    def __init__(self, db: Database, clock: Clock, config: Config, plans: PlanService) -> None:
        self.db = db
        self.clock = clock
        self.config = config
        self.plans = plans

    async def _checker(self) -> _Checker:
        async with self.db.read() as conn:
            return _Checker(self.config, await unit_repo.all_units(conn))

    async def import_file(
        self, path: Path, actor: Member | None = None, progress: Progress | None = None
    ) -> ImportResult:
        """Read the file once, checking every row and writing the good ones in batches,
        all in one transaction; when any row is wrong, every problem is raised
        (``SiteFileProblems``, with line numbers) and the transaction rolls back, so
        nothing at all is imported from a bad file."""
        checker = await self._checker()
        total = count_rows(path)
        result = ImportResult()
        now = self.clock.now()
        seen: dict[tuple[str, str], int] = {}  # (category, code key): first line
        problems: list[str] = []
        count = 0
        writing: asyncio.Future[None] | None = None
        async with self.db.transaction() as conn:
            await site_repo.stage_begin(conn)
            batch: list[RegistryRow] = []
            try:
                for line, raw in read_rows(path):
                    result.rows += 1
                    row, found = checker.check(raw)
                    found += _twice(checker, raw, row, line, seen)
                    if found:
                        count += len(found)
                        problems.extend(
                            f"{path}: line {line}: {problem}"
                            for problem in found[: max(0, MAX_PROBLEMS - len(problems))]
                        )
                        continue
                    if count:
                        continue  # nothing will be kept: only look for more problems
                    assert row is not None
                    batch.append(row)
                    if len(batch) >= BATCH:
                        # Staged in the database's thread while the next batch is read.
                        if writing is not None:
                            await writing
                        writing = asyncio.ensure_future(site_repo.stage_rows(conn, batch))
                        await asyncio.sleep(0)  # let it start
                        batch = []
                        if progress:
                            progress(result.rows, max(total, result.rows))
            finally:  # the last write ends before the transaction does (commit or rollback)
                if writing is not None:
                    await asyncio.wait([writing])
            if writing is not None:
                writing.result()
            if count:
                if count > len(problems):
                    problems.append(f"{path}: … and {count - len(problems)} more problem(s)")
                raise SiteFileProblems(problems, count)
            await site_repo.stage_rows(conn, batch)
            if progress:
                progress(result.rows, result.rows)
            result.added, result.updated, result.missing = await site_repo.stage_apply(conn, now)
            result.unchanged = result.rows - result.added - result.updated
            if result.added or result.updated:
                result.joined = await self.plans.refresh_all(conn)
            await audit.record(
                conn,
                self.clock,
                "sites.imported",
                actor=actor,
                target=path.name,
                unit_id=None,
                rows=result.rows,
                added=result.added,
                updated=result.updated,
                missing=len(result.missing),
            )
        return result

    async def export_rows(self) -> list[list[Any]]:
        """Every site, in the import's columns (the unit by its code)."""
        return [row async for row in self.iter_export()]

    async def iter_export(self) -> Any:
        """Every site in the import's columns, read in batches by id."""
        after = 0
        while True:
            async with self.db.read() as conn:
                rows = await fetch_all(
                    conn,
                    "SELECT s.id, s.category, s.code, s.name, s.address, u.code, s.latitude, "
                    "s.longitude, s.tags, s.status FROM site s JOIN org_unit u ON u.id = s.unit_id "
                    "WHERE s.id > ? ORDER BY s.id LIMIT ?",
                    (after, BATCH),
                )
            for row in rows:
                yield [row[i] for i in range(1, 10)]
            if len(rows) < BATCH:
                return
            after = rows[-1][0]

    async def tag(self, site_id: int, tags: list[str]) -> int:
        """Set a site's tags (a worker-created site tagged later); it joins the open plans it
        now matches. Returns how many it joined."""
        async with self.db.transaction() as conn:
            await site_repo.set_tags(conn, site_id, tuple(tags))
            return await self.plans.site_joined(conn, site_id)


def _twice(
    checker: _Checker,
    raw: dict[str, str],
    row: RegistryRow | None,
    line: int,
    seen: dict[tuple[str, str], int],
) -> list[str]:
    """A code seen before in the file (whatever else is wrong with either row)."""
    if row is not None:
        code, key = row.code, (row.category, row.key)
    else:
        code = " ".join(raw.get("code", "").split())
        if not code:
            return []
        category = checker.category(raw.get("category", "")) or raw.get("category") or ""
        key = (category, code_key(code))
    first = seen.setdefault(key, line)
    return [] if first == line else [f"code {code!r} twice in the file (first on line {first})"]


def count_rows(path: Path) -> int:
    """About how many rows a file holds (for the progress bar): a CSV's lines, an XLSX
    sheet's recorded size."""
    if path.suffix.lower() == ".xlsx":
        from openpyxl import load_workbook

        try:
            book = load_workbook(path, read_only=True)
            rows = book.worksheets[0].max_row or 0
            book.close()
            return max(0, rows - 1)
        except Exception:  # read_rows reports it
            return 0
    lines = 0
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 20):
            lines += chunk.count(b"\n")
    return max(0, lines - 1)
