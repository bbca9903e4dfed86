"""Numbers typed by people — command arguments, CLI flags, button payloads.

One parser, so no caller runs ``int()`` on raw text: ``str.isdigit()`` is true for
superscripts (``²``) that ``int()`` refuses, and ``int()`` takes other scripts' digits
(``٣``, ``３``). It returns None for anything it does not accept; the caller answers with
its usage (or "stale", for a button). Days are parsed by ``bot.core.periods``.
"""

from __future__ import annotations

import re

# What SQLite stores in an INTEGER column.
INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1
_NUMBER = re.compile(r"-?[0-9]{1,19}")


def number(text: str, low: int = 0, high: int = INT64_MAX) -> int | None:
    """A whole number written in ASCII digits (a leading ``-`` when ``low`` is negative)
    within ``low``…``high``; None otherwise."""
    if not _NUMBER.fullmatch(text) or (text.startswith("-") and low >= 0):
        return None
    value = int(text)
    return value if low <= value <= high else None
