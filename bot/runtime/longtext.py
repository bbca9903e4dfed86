"""Texts longer than one Telegram message: cut into parts that each fit.

Telegram refuses a message over 4,096 characters, counted after entity parsing in UTF-16
code units (Bot API ``sendMessage``: "1-4096 characters after entities parsing"). Parts
are measured on the text as sent, tags and entities included, which is never less than
what Telegram counts: a part that fits here fits there.

A cut falls between lines (table rows) when it can, else after a space, else between two
characters — never inside an HTML tag or entity (``&amp;``), nor before a combining mark
or next to a joiner. In HTML, the elements open at a cut are closed at the end of the
part and opened again, with the same attributes, at the start of the next, so every part
is balanced (a table in ``<pre>`` stays a ``<pre>`` in each part). Telegram-free.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

MESSAGE_LIMIT = 4096
ELLIPSIS = "…"

_HTML_ATOM = re.compile(r"<[^<>]*>|&(?:#\d+|#[xX][0-9a-fA-F]+|[A-Za-z][A-Za-z0-9]*);|.", re.S)
_TAG = re.compile(r"<\s*(/?)\s*([A-Za-z][A-Za-z0-9-]*)")
_JOINERS = {"\u200d", "\u200c", "\u2060"}


def size(text: str) -> int:
    """Length in UTF-16 code units, as Telegram counts."""
    return len(text.encode("utf-16-le")) // 2


@dataclass(frozen=True)
class _Open:
    name: str
    tag: str  # the opening tag as written, attributes included

    @property
    def closing(self) -> str:
        return f"</{self.name}>"


def _atoms(text: str, html: bool) -> list[str]:
    return _HTML_ATOM.findall(text) if html else list(text)


def _apply(stack: tuple[_Open, ...], atom: str) -> tuple[_Open, ...]:
    """The open elements after ``atom`` (a tag changes them, anything else does not)."""
    if len(atom) < 2 or atom[0] != "<":
        return stack
    match = _TAG.match(atom)
    if match is None:
        return stack
    closing, name = match[1], match[2].lower()
    if not closing:
        return (*stack, _Open(name, atom))
    for index in range(len(stack) - 1, -1, -1):
        if stack[index].name == name:
            return stack[:index]
    return stack


def _closing(stack: tuple[_Open, ...]) -> str:
    return "".join(element.closing for element in reversed(stack))


def _opening(stack: tuple[_Open, ...]) -> str:
    return "".join(element.tag for element in stack)


def _glued(before: str, after: str) -> bool:
    """True where a cut would break one visible character (a mark, a joined emoji)."""
    if before in _JOINERS or after in _JOINERS:
        return True
    return len(after) == 1 and bool(unicodedata.combining(after) or "\ufe00" <= after <= "\ufe0f")


def _level(atoms: list[str], end: int) -> int:
    """How good a cut before ``atoms[end]`` is: 2 after a line, 1 after a space, 0
    elsewhere, -1 where it would split what is seen as one character."""
    before = atoms[end - 1]
    after = atoms[end] if end < len(atoms) else ""
    if after and _glued(before, after):
        return -1
    if before == "\n":
        return 2
    if before.isspace():
        return 1
    return 0


def _visible(part: str, html: bool) -> str:
    return re.sub(r"<[^<>]*>", "", part) if html else part


def split_text(text: str, html: bool = False, limit: int = MESSAGE_LIMIT) -> list[str]:
    """``text`` as parts of at most ``limit`` (UTF-16 code units), in order; one part
    when it fits. A part with nothing to show (only blank lines) is left out."""
    if size(text) <= limit:
        return [text]
    atoms = _atoms(text, html)
    parts: list[str] = []
    start, stack = 0, ()
    while start < len(atoms):
        prefix = _opening(stack)
        used = size(prefix)
        current = stack
        best: dict[int, tuple[int, tuple[_Open, ...]]] = {}
        end = start
        while end < len(atoms):
            after = _apply(current, atoms[end])
            grown = used + size(atoms[end])
            if grown + size(_closing(after)) > limit and end > start:
                break
            current, used, end = after, grown, end + 1
            level = _level(atoms, end)
            if level >= 0:
                best[level] = (end, current)
        if end < len(atoms) and best:
            end, current = best[max(best)]
        body = "".join(atoms[start:end])
        if body.endswith("\n"):
            body = body[:-1]
        part = prefix + body + _closing(current)
        if _visible(part, html).strip():
            parts.append(part)
        start, stack = end, current
    return parts


def shorten(text: str, html: bool = False, limit: int = MESSAGE_LIMIT) -> str:
    """``text`` if it fits, else its first part with "…" (for an edit, which cannot
    become two messages)."""
    if size(text) <= limit:
        return text
    first = split_text(text, html, limit - size(ELLIPSIS) - 1)[0]
    return first + "\n" + ELLIPSIS
