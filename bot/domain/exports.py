"""Exports: the records an admin or lead may see, as XLSX (or CSV) files.

Telegram-free and synchronous: ``Exporter.run`` is meant for a worker thread (the bot
calls it through ``asyncio.to_thread``; the shell calls it directly). It reads on its own
read-only connection in batches, streams rows into openpyxl's write-only workbook (or a
CSV file), and splits the output into parts:

- an XLSX sheet holds at most 1,048,576 rows;
- a file sent through the Bot API must stay under its upload limit (50 MB, or what a
  self-hosted server allows). A part is closed when the estimated size of what it holds
  reaches a budget; if the finished file is still too large, that part is written again
  with a smaller budget, so no part is ever over the limit.

Text a person typed is written as text: a note starting with ``=`` never becomes an
Excel formula, and characters XML cannot hold are dropped.
"""

from __future__ import annotations

import asyncio
import csv
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.worksheet._write_only import WriteOnlyWorksheet

from bot.config import Config
from bot.core import periods
from bot.core.errors import Refused
from bot.core.workdays import WorkCalendar
from bot.domain.tip_kpis import UnitKpi, kpi_table
from bot.formats import kpitable
from bot.formats.spreadsheet import csv_value, xlsx_row
from bot.i18n import Catalogue
from storage import exports as export_repo
from storage import units as unit_repo
from storage.db import Database
from storage.members import Member
from storage.reports import number_of

KPIS = "kpis"  # the unit KPI table of a period (``bot.domain.tip_kpis``), not records
KINDS = (*export_repo.KINDS, KPIS)
# One exported record: column name → value, times as aware datetimes (``export_repo.batch``).
Row = dict[str, Any]
FORMATS = ("xlsx", "csv")
XLSX_MAX_ROWS = 1_048_576 - 1  # one row is the header
BATCH = 1000
# Bytes of XML around each cell, and how much better than 1:1 an XLSX part is assumed to
# compress before its size is checked (tabular XML deflates 4-10x; SHA-256 hex about 2x).
_CELL_OVERHEAD = 40
_FIRST_GUESS = 3.0

LEVELS = ("district", "street", "community", "grid")

Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class ExportRequest:
    kind: str
    scope_path: str
    start: datetime | None = None
    """First moment included (aware); None for no lower bound."""
    end: datetime | None = None
    """First moment excluded (aware); None for no upper bound."""
    language: str = "zh"
    at: datetime | None = None
    """The moment plan states (sites, remaining) are taken at; now when None."""


@dataclass(frozen=True)
class ExportPart:
    path: Path
    rows: int
    size: int


@dataclass
class ExportResult:
    kind: str
    total: int
    parts: list[ExportPart] = field(default_factory=list)

    @property
    def rows(self) -> int:
        """The rows written, over all parts (``total`` is what was counted before writing)."""
        return sum(part.rows for part in self.parts)


class Exporter:
    def __init__(self, config: Config, catalogue: Catalogue) -> None:
        self.config = config
        self.catalogue = catalogue
        self.zone: ZoneInfo = config.locale.zone

    def run(
        self,
        request: ExportRequest,
        out: Path,
        *,
        fmt: str = "xlsx",
        max_bytes: int | None = None,
        progress: Progress | None = None,
    ) -> ExportResult:
        """Write the export to ``out`` (``out-part2.xlsx``… when it takes several files).
        With ``max_bytes``, every file is at most that large."""
        if request.kind not in export_repo.KINDS:  # the KPI table: ``export_kpis``
            raise ValueError(f"unknown export kind {request.kind!r}")
        if fmt not in FORMATS:
            raise ValueError(f"unknown export format {fmt!r}")
        conn = export_repo.connect(self.config.database.target)
        try:
            return self._run(conn, request, Path(out), fmt, max_bytes, progress)
        finally:
            conn.close()

    def _run(
        self,
        conn: Any,
        request: ExportRequest,
        out: Path,
        fmt: str,
        max_bytes: int | None,
        progress: Progress | None,
    ) -> ExportResult:
        start, end = request.start, request.end
        at = request.at or datetime.now(UTC)
        today = periods.day_of(at, self.zone).isoformat()
        total = export_repo.count(conn, request.kind, request.scope_path, start, end, at, today)
        table = _Table(self, request.language, export_repo.units(conn), request.kind)
        result = ExportResult(request.kind, total)

        def rows_after(after: int) -> Iterator[tuple[int, list[Any]]]:
            while True:
                found = export_repo.batch(
                    conn, request.kind, request.scope_path, start, end, after, BATCH, at, today
                )
                for row in found:
                    yield row["id"], table.values(row)
                if len(found) < BATCH:
                    return
                after = found[-1]["id"]

        row_limit = XLSX_MAX_ROWS if fmt == "xlsx" else None
        budget = int(max_bytes * _FIRST_GUESS) if max_bytes and fmt == "xlsx" else max_bytes
        after, done = 0, 0
        while True:
            path = _part_path(out, len(result.parts) + 1)
            writer = _write_xlsx if fmt == "xlsx" else _write_csv
            written, last_id, more = writer(
                path, table.headers, rows_after(after), budget, row_limit
            )
            size = path.stat().st_size
            if max_bytes and size > max_bytes and written > 1:
                assert budget is not None
                budget = max(1, int(budget * max_bytes / size * 0.9))
                continue  # the same rows again, in a smaller part
            result.parts.append(ExportPart(path, written, size))
            done += written
            if progress:
                progress(done, total)
            after = last_id
            if not more:
                break
        if len(result.parts) > 1:
            first = result.parts[0]
            renamed = _numbered(out, 1)
            first.path.replace(renamed)
            result.parts[0] = ExportPart(renamed, first.rows, first.size)
        return result


def _part_path(out: Path, number: int) -> Path:
    return out if number == 1 else _numbered(out, number)


def _numbered(out: Path, number: int) -> Path:
    return out.with_name(f"{out.stem}-part{number}{out.suffix}")


def _estimate(values: list[Any]) -> int:
    return sum(len(str(v).encode()) + _CELL_OVERHEAD for v in values if v is not None)


def _write_xlsx(
    path: Path,
    headers: list[str],
    rows: Iterator[tuple[int, list[Any]]],
    budget: int | None,
    row_limit: int | None,
) -> tuple[int, int, bool]:
    """Write rows until the budget or the row limit; returns (rows, last id, more?)."""
    book = Workbook(write_only=True)
    sheet: WriteOnlyWorksheet = book.create_sheet()
    sheet.freeze_panes = "A2"
    sheet.append(headers)
    written, last_id, used = 0, 0, _estimate(headers)
    more = False
    for row_id, values in rows:
        cost = _estimate(values)
        if written and (
            (budget is not None and used + cost > budget)
            or (row_limit is not None and written >= row_limit)
        ):
            more = True
            break
        sheet.append(xlsx_row(sheet, values))
        written, last_id, used = written + 1, row_id, used + cost
    book.save(path)
    return written, last_id, more


def _write_csv(
    path: Path,
    headers: list[str],
    rows: Iterator[tuple[int, list[Any]]],
    budget: int | None,
    row_limit: int | None,
) -> tuple[int, int, bool]:
    written, last_id, more = 0, 0, False
    with path.open("w", encoding="utf-8-sig", newline="") as handle:
        out = csv.writer(handle)
        out.writerow(headers)
        used = handle.tell()
        for row_id, values in rows:
            line = _csv_line([csv_value(v) for v in values])
            cost = len(line.encode())
            if written and budget is not None and used + cost > budget:
                more = True
                break
            handle.write(line)
            written, last_id, used = written + 1, row_id, used + cost
    return written, last_id, more


class _Line:
    def __init__(self) -> None:
        self.text = ""

    def write(self, text: str) -> None:
        self.text += text


def _csv_line(values: list[Any]) -> str:
    line = _Line()
    csv.writer(line).writerow(values)
    return line.text


class _Table:
    """Headers and row values of one kind, in one language."""

    def __init__(
        self,
        exporter: Exporter,
        language: str,
        units: dict[int, tuple[str, str, str, str]],
        kind: str,
    ) -> None:
        self.text = lambda key, **f: exporter.catalogue.text(language, key, **f)
        self.language = language
        self.zone = exporter.zone
        self.campaign = exporter.config.campaign
        self.units = units
        self.by_path = {info[3]: info for info in units.values()}
        self.kind = kind
        self.values: Callable[[Row], list[Any]] = getattr(self, f"_{kind}")
        self.headers = [self.text(f"export.col.{c}") for c in _COLUMNS[kind]]

    def _time(self, moment: datetime | None) -> str | None:
        if moment is None:
            return None
        return moment.astimezone(self.zone).strftime("%Y-%m-%d %H:%M")

    def _levels(self, unit_id: int | None) -> list[str | None]:
        """The unit's district, street, community and grid names (blank below it)."""
        names: dict[str, str] = {}
        info = self.units.get(unit_id) if unit_id is not None else None
        if info is not None:
            path = info[3]
            ids = [part for part in path.strip("/").split("/") if part]
            for index in range(len(ids)):
                ancestor = self.by_path.get("/" + "/".join(ids[: index + 1]) + "/")
                if ancestor is not None:
                    names[ancestor[2]] = ancestor[1]
        return [names.get(level) for level in LEVELS]

    def _unit(self, unit_id: int | None) -> str | None:
        info = self.units.get(unit_id) if unit_id is not None else None
        return self.text("export.unit_with_code", unit=info[1], code=info[0]) if info else None

    def _named(self, item: Any) -> str:
        english = getattr(item, "name_en", None)
        return english if self.language == "en" and english else item.name

    def _category(self, code: str) -> str:
        found = self.campaign.category(code)
        return self._named(found) if found else code

    def _status(self, category: str, code: str | None) -> str | None:
        found = self.campaign.category(category)
        for option in found.statuses if found else []:
            if option.code == code:
                return self._named(option)
        return code

    def _yes(self, flag: int | None) -> str | None:
        return None if flag is None else self.text("export.yes" if flag else "export.no")

    def _reports(self, row: Row) -> list[Any]:
        flags = (row["flags"] or "").split()
        photos = (row["photos"] or "").split()
        return [
            number_of(row["id"]),
            self._time(row["at"]),
            *self._levels(row["unit_id"]),
            row["member"],
            row["telegram_id"],
            self._category(row["category"]),
            row["site"],
            self._status(row["category"], row["status"]),
            self._yes(row["recheck"]),
            row["latitude"],
            row["longitude"],
            self.text("list.separator").join(self.text(f"report.flag_name.{f}") for f in flags)
            or None,
            row["note"],
            len(photos),
            "\n".join(photos) or None,
        ]

    def _tips(self, row: Row) -> list[Any]:
        reward = row["reward"]
        return [
            row["number"],
            self._time(row["at"]),
            self.text(f"tip.source.{row['source']}"),
            *self._levels(row["unit_id"]),
            row["address"],
            row["description"],
            self._unit(row["assigned_unit_id"]),
            self._time(row["assigned_at"]),
            self._time(row["deadline"]),
            self._time(row["acknowledged_at"]),
            self.text(f"tip.state.{row['state']}"),
            self._time(row["closed_at"]),
            self._yes(row["valid"]),
            row["result"],
            row["returns"],
            row["escalation_level"],
            self.text(f"export.reward.{reward}") if reward else None,
            # Case practice (issue 17): urgency, 不予受理, duplicate, 延期, 挂账, 回访.
            self.text(f"tip.urgency.{row['urgency']}"),
            self.text(f"tip.declined_reason.{row['declined']}") if row["declined"] else None,
            row["duplicate_of"],
            row["extensions"],
            row["parked_until"],
            self.text(f"tip.satisfaction.{row['satisfaction']}") if row["satisfaction"] else None,
        ]

    def _members(self, row: Row) -> list[Any]:
        return [
            row["telegram_id"],
            row["name"],
            row["username"],
            self.text(f"role.{row['role']}"),
            *self._levels(row["unit_id"]),
            self.text("export.active" if row["active"] else "export.disabled"),
            self._time(row["at"]),
            row["reports"],
            self._time(row["last_report"]),
        ]

    def _sites(self, row: Row) -> list[Any]:
        plans = []
        for entry in (row["plans"] or "").split(chr(30)):
            if entry:
                name, _, state = entry.partition(chr(31))
                plans.append(
                    self.text(
                        "export.plan_state", plan=name, state=self.text(f"site_plans.{state}")
                    )
                )
        return [
            row["code"],
            self._category(row["category"]),
            row["name"],
            row["address"],
            *self._levels(row["unit_id"]),
            row["latitude"],
            row["longitude"],
            row["tags"] or None,
            self._status(row["category"], row["status"]),
            self._yes(row["registered"]),
            row["report_count"],
            self.text("list.separator").join(plans) or None,
        ]

    _remaining = _sites

    def _updates(self, row: Row) -> list[Any]:
        names = {c.code: self._named(c) for c in self.campaign.counters}
        counters = []
        for pair in (row["counters"] or "").split():
            code, _, value = pair.partition("=")
            counters.append(f"{names.get(code, code)}={value}")
        return [
            self._time(row["at"]),
            *self._levels(row["unit_id"]),
            row["member"],
            row["telegram_id"],
            row["body"],
            " ".join(counters) or None,
        ]


_SITE_COLUMNS = (
    "site",
    "category",
    "site_name",
    "address",
    *LEVELS,
    "latitude",
    "longitude",
    "tags",
    "status",
    "registered",
    "reports",
    "plans",
)
_COLUMNS: dict[str, tuple[str, ...]] = {
    "reports": (
        "number",
        "time",
        *LEVELS,
        "reporter",
        "telegram_id",
        "category",
        "site",
        "status",
        "recheck",
        "latitude",
        "longitude",
        "flags",
        "note",
        "photo_count",
        "photos",
    ),
    "tips": (
        "tip_number",
        "received",
        "source",
        *LEVELS,
        "address",
        "description",
        "assigned_unit",
        "assigned",
        "deadline",
        "acknowledged",
        "state",
        "closed",
        "valid",
        "result",
        "returns",
        "escalation",
        "reward",
        "urgency",
        "declined",
        "duplicate_of",
        "extensions",
        "parked_until",
        "satisfaction",
    ),
    "members": (
        "telegram_id",
        "name",
        "username",
        "role",
        *LEVELS,
        "member_state",
        "joined",
        "reports",
        "last_report",
    ),
    "updates": ("time", *LEVELS, "reporter", "telegram_id", "body", "counters"),
    "sites": _SITE_COLUMNS,
    "remaining": _SITE_COLUMNS,
}


class ExportService:
    """The bot's side of exports: one at a time, in a worker thread, audited."""

    def __init__(
        self,
        config: Config,
        catalogue: Catalogue,
        audit: Any,
        clock: Any,
        db: Database | None = None,
    ) -> None:
        self.config = config
        self.db = db  # the KPI table is computed on the bot's database
        self.exporter = Exporter(config, catalogue)
        self.audit = audit
        self.clock = clock
        self._lock = asyncio.Lock()

    @property
    def busy(self) -> bool:
        """Whether an export is being written now; a ``run`` would wait for it."""
        return self._lock.locked()

    def request(
        self, actor: Member, kind: str, first: date | None, last: date | None, language: str
    ) -> ExportRequest:
        """The export of ``kind`` in the actor's scope for local days ``first``…``last``."""
        if first and last and first > last:
            raise Refused("export.bad_range")
        start, end = periods.span(first, last, self.exporter.zone)
        return ExportRequest(kind, actor.unit_path, start, end, language, self.clock.now())

    async def count(self, request: ExportRequest) -> int:
        """How many rows ``request`` would export, counted in a worker thread on a read-only
        connection of its own (the KPI table: its total and one row per area)."""
        if request.kind == KPIS:
            assert self.db is not None
            async with self.db.read() as conn:
                _, areas = await _kpi_scope(conn, request.scope_path)
            return 1 + len(areas)

        def work() -> int:
            conn = export_repo.connect(self.config.database.target)
            try:
                at = request.at or datetime.now(UTC)
                today = periods.day_of(at, self.exporter.zone).isoformat()
                return export_repo.count(
                    conn, request.kind, request.scope_path, request.start, request.end, at, today
                )
            finally:
                conn.close()

        return await asyncio.to_thread(work)

    async def run(self, actor: Member, request: ExportRequest, out: Path) -> ExportResult:
        """Write ``request`` as XLSX to ``out`` in a worker thread, in parts each within
        ``exports.max_file_mb``, one export at a time (waiting for one under way); then audit
        it."""
        max_bytes = int(self.config.exports.max_file_mb * 1024 * 1024)
        async with self._lock:
            if request.kind == KPIS:
                assert self.db is not None
                result = await export_kpis(self.exporter, self.db, request, out)
            else:
                result = await asyncio.to_thread(
                    self.exporter.run, request, out, fmt="xlsx", max_bytes=max_bytes
                )
        zone = self.exporter.zone
        first = periods.day_of(request.start, zone) if request.start else None
        last = periods.day_of(request.end, zone) - timedelta(days=1) if request.end else None
        await self.audit.record(
            "export",
            actor=actor,
            target=request.kind,
            rows=result.rows,
            parts=len(result.parts),
            start=first.isoformat() if first else None,
            end=last.isoformat() if last else None,
        )
        return result


# ---------------------------------------------------------------------- the KPI table


async def _kpi_scope(conn: Any, path: str) -> tuple[Any, list[Any]]:
    """The unit at ``path`` (the scope) and its children, the KPI table's areas."""
    unit_id = int(path.strip("/").split("/")[-1])
    unit = await unit_repo.get_by_id(conn, unit_id)
    if unit is None:
        raise Refused("unit.unknown", code=path)
    return unit, await unit_repo.children(conn, unit.id)


def _kpi_values(row: UnitKpi, words: kpitable.Labels, sheet: WriteOnlyWorksheet) -> list[Any]:
    """A row of the KPI table as typed cells: counts and the median as numbers, rates as
    percent cells (whole percent, truncated as in the table), empty where nothing counted."""

    def percent(value: int | None) -> Any:
        if value is None:
            return None
        cell = WriteOnlyCell(sheet, value=value / 100)
        cell.number_format = "0%"
        return cell

    return [
        words.total if row.total else row.area,
        row.due,
        row.on_time,
        percent(row.on_time_rate),
        row.closed,
        row.rework,
        percent(row.rework_rate),
        row.extensions,
        percent(row.satisfaction_rate),
        row.median_hours,
    ]


async def export_kpis(
    exporter: Exporter, db: Database, request: ExportRequest, out: Path, fmt: str = "xlsx"
) -> ExportResult:
    """The unit KPI table (按期办结率, 返工率, extensions, 满意率, median handling time in
    working hours) of ``request``'s period for the children of its scope unit, with the
    total first: the columns of ``gridbot tips table --kpi``, one file (XLSX: numbers and
    percent cells; CSV: the table's cells as printed)."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown export format {fmt!r}")
    config = exporter.config
    workdays = WorkCalendar(
        config.locale.zone, config.calendar.extra_holidays, config.calendar.extra_workdays
    )
    async with db.read() as conn:
        unit, _ = await _kpi_scope(conn, request.scope_path)
    end = request.end or request.at or datetime.now(UTC)
    rows = await kpi_table(db, workdays, request.start, end, unit.code)
    words = kpitable.labels(lambda key, **f: exporter.catalogue.text(request.language, key, **f))

    def write() -> ExportPart:
        if fmt == "csv":
            with out.open("w", encoding="utf-8-sig", newline="") as handle:
                writer = csv.writer(handle)
                writer.writerow(words.headers)
                for row in rows:
                    writer.writerow([csv_value(c) for c in kpitable.cells(row, words)])
        else:
            book = Workbook(write_only=True)
            sheet: WriteOnlyWorksheet = book.create_sheet()
            sheet.freeze_panes = "A2"
            sheet.append(list(words.headers))
            for row in rows:
                sheet.append(xlsx_row(sheet, _kpi_values(row, words, sheet)))
            book.save(out)
        return ExportPart(out, len(rows), out.stat().st_size)

    result = ExportResult(KPIS, len(rows))
    result.parts.append(await asyncio.to_thread(write))
    return result
