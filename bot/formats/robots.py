"""Messages for group robots (WeCom, DingTalk, Feishu), rendered from plain tables.

A table reads well on a phone when each row is one short line, the columns in a fixed
order, with the column names as a line above: ``1 | 卧龙区 | 0.92 | 3 | 50% …``. A table
too long for one message is split between rows, each part under the platform's byte
limit, with the title (the unit and the period), the part number and the column line
repeated on every part; the notes after the table (units with no report, overdue tips)
go on the last part, or on parts of their own when they do not fit.

Limits (the platforms' robot documentation): WeCom markdown ``content`` at most 4,096
bytes of UTF-8; a Feishu request body at most 20 KB (measured here as the whole JSON
body, with room kept for the timestamp and signature); DingTalk states no figure for a
robot's markdown, so its parts are kept under the same 4,096 bytes as WeCom's.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field

WECOM_MARKDOWN_BYTES = 4096
DINGTALK_MARKDOWN_BYTES = 4096
FEISHU_BODY_BYTES = 20 * 1024
_FEISHU_RESERVE = 160  # "timestamp" and "sign" added to the body when it is sent
CELL_SEPARATOR = " | "


@dataclass(frozen=True)
class Table:
    """What one message shows: a title naming the unit and the period, the column names,
    one tuple of cells a row, and notes after the table."""

    title: str
    columns: tuple[str, ...]
    rows: list[tuple[str, ...]]
    notes: list[str] = field(default_factory=list)
    part_label: Callable[[int, int], str] = lambda index, total: f"({index}/{total})"


def row_line(cells: tuple[str, ...]) -> str:
    return CELL_SEPARATOR.join(cells)


@dataclass(frozen=True)
class _Measure:
    """How big a message of a title and lines is, in bytes: ``frame(title)`` plus each
    line's ``line(text)`` plus ``joiner`` between two lines — exact for each platform's
    shape, and added up row by row (a 4,000-row table is split in a few milliseconds)."""

    frame: Callable[[str], int]
    line: Callable[[str], int]
    joiner: int

    def size(self, title: str, lines: list[str]) -> int:
        return (
            self.frame(title)
            + sum(self.line(text) for text in lines)
            + self.joiner * max(0, len(lines) - 1)
        )


def _split(table: Table, measure: _Measure, limit: int) -> list[list[str]]:
    """The rows as lines, cut into parts each of whose rendering (the title, the column
    line and the rows) stays within ``limit`` bytes; then the notes."""
    widest = table.title + " " + table.part_label(99, 99)
    header = row_line(table.columns)
    start = measure.frame(widest) + measure.line(header)
    parts: list[list[str]] = []
    current: list[str] = []
    size = start
    for row in table.rows:
        line = row_line(row)
        grown = size + measure.joiner + measure.line(line)
        if current and grown > limit:
            parts.append(current)
            current = []
            grown = start + measure.joiner + measure.line(line)
        current.append(line)
        size = grown
    parts.append(current)
    with_header = [[header, *part] for part in parts]
    for note in table.notes:
        if size + 2 * measure.joiner + measure.line("") + measure.line(note) <= limit:
            with_header[-1] += ["", note]
            size += 2 * measure.joiner + measure.line("") + measure.line(note)
            continue
        while note:  # on parts of its own, cut where it must be (a very long list)
            end = len(note)
            while end > 1 and measure.size(widest, [note[:end]]) > limit:
                end = end * 9 // 10
            with_header.append([note[:end]])
            size = measure.size(widest, [note[:end]])
            note = note[end:]
    return with_header


def _titled(table: Table, parts: list[list[str]]) -> list[tuple[str, list[str]]]:
    total = len(parts)
    if total == 1:
        return [(table.title, parts[0])]
    return [
        (f"{table.title} {table.part_label(index, total)}", lines)
        for index, lines in enumerate(parts, 1)
    ]


def _wecom(title: str, lines: list[str]) -> str:
    return f"**{title}**\n" + "\n".join(lines)


def wecom_markdown(table: Table, limit: int = WECOM_MARKDOWN_BYTES) -> list[str]:
    """WeCom ``markdown`` contents, each at most ``limit`` bytes of UTF-8."""
    measure = _Measure(lambda t: len(f"**{t}**\n".encode()), lambda x: len(x.encode()), 1)
    parts = _split(table, measure, limit)
    return [_wecom(title, lines) for title, lines in _titled(table, parts)]


def _dingtalk(title: str, lines: list[str]) -> str:
    # DingTalk's markdown joins single new lines: two spaces before one break the line.
    return f"#### {title}\n\n" + "  \n".join(lines)


def dingtalk_markdown(table: Table, limit: int = DINGTALK_MARKDOWN_BYTES) -> list[tuple[str, str]]:
    """DingTalk ``markdown`` messages: (title shown in the notification, text)."""
    measure = _Measure(lambda t: len(f"#### {t}\n\n".encode()), lambda x: len(x.encode()), 3)
    parts = _split(table, measure, limit)
    return [(title, _dingtalk(title, lines)) for title, lines in _titled(table, parts)]


def _feishu(title: str, lines: list[str]) -> dict[str, object]:
    return {
        "msg_type": "post",
        "content": {
            "post": {
                "zh_cn": {
                    "title": title,
                    "content": [[{"tag": "text", "text": line}] for line in lines],
                }
            }
        },
    }


def feishu_body_size(body: dict[str, object]) -> int:
    return len(json.dumps(body, ensure_ascii=False).encode())


def feishu_posts(table: Table, limit: int = FEISHU_BODY_BYTES) -> list[dict[str, object]]:
    """Feishu ``post`` request bodies (without the signature), each under ``limit`` bytes
    once signed."""
    measure = _Measure(
        lambda t: feishu_body_size(_feishu(t, [])),
        lambda x: len(json.dumps([{"tag": "text", "text": x}], ensure_ascii=False).encode()),
        2,  # ", " between two lines of the content list
    )
    parts = _split(table, measure, limit - _FEISHU_RESERVE)
    return [_feishu(title, lines) for title, lines in _titled(table, parts)]


# ---------------------------------------------------------------------- Feishu cards
#
# A Feishu custom robot also takes ``{"msg_type": "interactive", "card": {…}}`` (card JSON
# 1.0: ``header`` with a ``plain_text`` title and a colour ``template``, then ``elements``,
# each with a ``tag``). A table reads better on a phone as a card than as a ``post``: the
# title — the unit and the period — stands in the coloured header, the column names in
# bold, the rows as plain lines below, the notes in the grey ``note`` under a rule. The
# whole body stays under the same 20 KB.

_LARK_MD_ESCAPES = {
    "&": "&amp;",
    "<": "&lt;",
    ">": "&gt;",
    "*": "&#42;",
    "_": "&#95;",
    "~": "&#126;",
    "`": "&#96;",
    "[": "&#91;",
    "]": "&#93;",
}
FEISHU_CARD_TEMPLATE = "blue"


def lark_md_escape(text: str) -> str:
    """``text`` shown as written inside ``lark_md`` (its markup characters as entities)."""
    return "".join(_LARK_MD_ESCAPES.get(ch, ch) for ch in text)


def _card(title: str, head: str | None, rows: list[str], notes: list[str]) -> dict[str, object]:
    elements: list[dict[str, object]] = []
    if head is not None:
        content = f"**{lark_md_escape(head)}**"
        elements.append({"tag": "div", "text": {"tag": "lark_md", "content": content}})
    if rows:
        elements.append({"tag": "div", "text": {"tag": "plain_text", "content": "\n".join(rows)}})
    if notes:
        if elements:
            elements.append({"tag": "hr"})
        note = {"tag": "plain_text", "content": "\n".join(notes)}
        elements.append({"tag": "note", "elements": [note]})
    return {
        "msg_type": "interactive",
        "card": {
            "config": {"wide_screen_mode": True},
            "header": {
                "title": {"tag": "plain_text", "content": title},
                "template": FEISHU_CARD_TEMPLATE,
            },
            "elements": elements,
        },
    }


def _json_size(text: str) -> int:
    return len(json.dumps(text, ensure_ascii=False).encode()) - 2


def feishu_cards(table: Table, limit: int = FEISHU_BODY_BYTES) -> list[dict[str, object]]:
    """Feishu ``interactive`` request bodies (without the signature) for a table, split
    between rows like the other platforms' parts, each under ``limit`` bytes once signed.

    Measured as the card with every element present and empty (``frame``) plus each line
    as written into ``lark_md`` (never shorter than as plain text) and the two bytes of
    ``\\n`` between two lines: an upper bound of the body's size."""
    frame = lambda t: feishu_body_size(_card(t, "", [""], [""]))  # noqa: E731
    measure = _Measure(frame, lambda x: _json_size(lark_md_escape(x)), 2)
    parts = _split(table, measure, limit - _FEISHU_RESERVE)
    header = row_line(table.columns)
    bodies = []
    for title, lines in _titled(table, parts):
        head = lines[0] if lines and lines[0] == header else None
        rest = lines[1:] if head is not None else lines
        if "" in rest:  # the notes after the rows
            cut = rest.index("")
            rows, notes = rest[:cut], rest[cut + 1 :]
        elif head is None:  # a part of notes only
            rows, notes = [], rest
        else:
            rows, notes = rest, []
        bodies.append(_card(title, head, rows, [n for n in notes if n]))
    return bodies


def plain_text(table: Table) -> str:
    """The whole table as plain text (a test message, a log-free preview)."""
    return "\n".join([table.title, row_line(table.columns), *map(row_line, table.rows)])
