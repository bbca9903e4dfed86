"""Tables as text: monospace columns for Telegram's <pre> blocks, the shell and the robots,
and Markdown. CJK characters take two columns in a monospace font."""

from __future__ import annotations

import unicodedata
from collections.abc import Collection, Sequence


def text_width(text: str) -> int:
    """Columns a string takes in a monospace font (CJK characters take two)."""
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def aligned(
    lines: Sequence[Sequence[str]], separator: str = " | ", left: Collection[int] = (0,)
) -> list[str]:
    """Each line's cells padded to their column's widest: the columns in ``left`` flush
    left (names), the others flush right (numbers), joined with ``separator``."""
    if not lines:
        return []
    widths = [max(text_width(line[i]) for line in lines) for i in range(len(lines[0]))]
    out = []
    for line in lines:
        cells = []
        for i, cell in enumerate(line):
            pad = " " * (widths[i] - text_width(cell))
            cells.append(cell + pad if i in left else pad + cell)
        out.append(separator.join(cells))
    return out


def markdown(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A Markdown table: the first column flush left, the others (numbers) right."""
    rule = ("---", *("---:" for _ in headers[1:]))
    lines = [headers, rule, *rows]
    return "\n".join("| " + " | ".join(line) + " |" for line in lines)
