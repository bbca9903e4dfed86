"""The official tip table (DESIGN §4): area, received, assigned, closed, closure rate, valid.

Counted over the tips *received* in the period, each as it stood at the period's end:
received, assigned by then, closed by then, and closed as valid by then. A tip belongs
to the district that holds its responsible unit (the assigned one, else the one it was
received for). The closure rate is closed ÷ received, truncated to a whole percent
(46 of 49 is 93%), and "—" when nothing was received. A total row comes first, then one
row per district in the tree's order. Telegram-free: the weekly bulletin reuses it.

The headers and the total's name come from the catalogue (``tiptable.*``): in Chinese
they are the official ones, 区域 | 受理(件) | 交办(件) | 办结(件) | 办结率 | 有效(件) and 合计.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from bot.formats.columns import aligned, markdown
from bot.formats.spreadsheet import csv_value
from storage import tips as tip_repo
from storage import units as unit_repo
from storage.db import Database

COLUMNS = ("area", "received", "assigned", "closed", "rate", "valid")  # tiptable.column.*


@dataclass(frozen=True)
class Labels:
    """The table's words in one language: its headers and the name of the total row."""

    headers: tuple[str, ...]
    total: str


def labels(text: Callable[..., str]) -> Labels:
    """The table's words from the catalogue, through ``text(key)`` of one language."""
    return Labels(tuple(text(f"tiptable.column.{c}") for c in COLUMNS), text("tiptable.total"))


@dataclass(frozen=True)
class TableRow:
    area: str
    received: int
    assigned: int
    closed: int
    valid: int
    total: bool = False  # the total row (its area is the table's word for it)

    @property
    def percent(self) -> int | None:
        """办结率 = 办结 ÷ 受理 in whole percent, truncated (never rounded up); None when
        nothing was received."""
        if self.received == 0:
            return None
        return self.closed * 100 // self.received

    @property
    def rate(self) -> str:
        return "—" if self.percent is None else f"{self.percent}%"

    def name(self, words: Labels) -> str:
        return words.total if self.total else self.area

    def cells(self, words: Labels) -> tuple[str, ...]:
        return (
            self.name(words),
            str(self.received),
            str(self.assigned),
            str(self.closed),
            self.rate,
            str(self.valid),
        )


async def tip_table(
    db: Database, start: datetime | None, end: datetime, parent_code: str | None = None
) -> list[TableRow]:
    """The table for tips received in [start, end) (from the beginning when no start),
    one row per district — or per child of ``parent_code`` (a district's streets)."""
    async with db.read() as conn:
        root = (
            await unit_repo.get_by_code(conn, parent_code)
            if parent_code
            else await unit_repo.root(conn)
        )
        districts = await unit_repo.children(conn, root.id) if root else []
        rows = await tip_repo.cohort(conn, start if start else None, end)
        if root is not None:
            rows = [row for row in rows if row["path"].startswith(root.path)]
    counts = {d.path: [0, 0, 0, 0] for d in districts}
    total = [0, 0, 0, 0]
    for row in rows:
        figures = (1, int(row["assigned"]), int(row["closed"]), int(row["valid"]))
        total = [a + b for a, b in zip(total, figures, strict=True)]
        for district in districts:
            if row["path"].startswith(district.path):
                counts[district.path] = [
                    a + b for a, b in zip(counts[district.path], figures, strict=True)
                ]
                break
    table = [TableRow("", *total, total=True)]
    table += [TableRow(d.name, *counts[d.path]) for d in districts]
    return table


def render(rows: list[TableRow], words: Labels) -> str:
    """A monospace table (CJK characters count as two columns)."""
    return "\n".join(aligned([words.headers, *(row.cells(words) for row in rows)]))


def render_markdown(rows: list[TableRow], words: Labels) -> str:
    """A Markdown table: numbers and rates right-aligned."""
    return markdown(words.headers, [row.cells(words) for row in rows])


def _delimited(rows: list[TableRow], words: Labels, delimiter: str) -> str:
    out = io.StringIO()
    writer = csv.writer(out, delimiter=delimiter, lineterminator="\n")
    writer.writerow(words.headers)
    writer.writerows([csv_value(cell) for cell in row.cells(words)] for row in rows)
    return out.getvalue().rstrip("\n")


FORMATS: dict[str, Callable[[list[TableRow], Labels], str]] = {
    "text": render,
    "md": render_markdown,
    "csv": lambda rows, words: _delimited(rows, words, ","),
    "tsv": lambda rows, words: _delimited(rows, words, "\t"),
}
