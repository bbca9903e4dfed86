"""The unit KPI table, the second table beside the official one (``bot.formats.tiptable``,
which stays as it is): 按期办结率, 返工率, extensions, 满意率 and the median handling time
in working hours, per district and in total (``bot.domain.tip_kpis.kpi_table``).

Its headers and the total's name come from the catalogue (``kpitable.*``). Rates are whole
percent, truncated; "—" where there was nothing to count.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from bot.formats.columns import aligned, markdown
from bot.formats.spreadsheet import csv_value

COLUMNS = (
    "area",
    "due",
    "on_time",
    "on_time_rate",
    "closed",
    "rework",
    "rework_rate",
    "extensions",
    "satisfaction_rate",
    "median_hours",
)  # kpitable.column.*


class Row(Protocol):
    """What a row of the table shows (``bot.domain.tip_kpis.UnitKpi``)."""

    area: str
    due: int
    on_time: int
    closed: int
    rework: int
    extensions: int
    median_hours: float | None
    total: bool

    @property
    def on_time_rate(self) -> int | None: ...
    @property
    def rework_rate(self) -> int | None: ...
    @property
    def satisfaction_rate(self) -> int | None: ...


@dataclass(frozen=True)
class Labels:
    headers: tuple[str, ...]
    total: str


def labels(text: Callable[..., str]) -> Labels:
    """The table's words from the catalogue, through ``text(key)`` of one language."""
    return Labels(tuple(text(f"kpitable.column.{c}") for c in COLUMNS), text("kpitable.total"))


def _percent(value: int | None) -> str:
    return "—" if value is None else f"{value}%"


def cells(row: Row, words: Labels) -> tuple[str, ...]:
    return (
        words.total if row.total else row.area,
        str(row.due),
        str(row.on_time),
        _percent(row.on_time_rate),
        str(row.closed),
        str(row.rework),
        _percent(row.rework_rate),
        str(row.extensions),
        _percent(row.satisfaction_rate),
        "—" if row.median_hours is None else f"{row.median_hours:g}",
    )


def render(rows: Sequence[Row], words: Labels) -> str:
    """A monospace table (CJK characters count as two columns)."""
    return "\n".join(aligned([words.headers, *(cells(row, words) for row in rows)]))


def render_markdown(rows: Sequence[Row], words: Labels) -> str:
    return markdown(words.headers, [cells(row, words) for row in rows])


def _delimited(rows: Sequence[Row], words: Labels, delimiter: str) -> str:
    out = io.StringIO()
    writer = csv.writer(out, delimiter=delimiter, lineterminator="\n")
    writer.writerow(words.headers)
    writer.writerows([csv_value(cell) for cell in cells(row, words)] for row in rows)
    return out.getvalue().rstrip("\n")


FORMATS: dict[str, Callable[[Sequence[Row], Labels], str]] = {
    "text": render,
    "md": render_markdown,
    "csv": lambda rows, words: _delimited(rows, words, ","),
    "tsv": lambda rows, words: _delimited(rows, words, "\t"),
}
