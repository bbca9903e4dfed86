"""Numbers and days typed by people — command arguments, CLI flags, button payloads.

One parser for each, so no caller runs ``int()`` or ``date.fromisoformat()`` on raw text:
``str.isdigit()`` is true for superscripts (``²``) that ``int()`` refuses, ``int()`` takes
other scripts' digits (``٣``, ``３``), and a day at the calendar's edge (``9999-12-31``)
overflows as soon as a period is built around it. Each returns None for anything it does
not accept; the caller answers with its usage (or "stale", for a button).
"""

from __future__ import annotations

import re
from datetime import date

# What SQLite stores in an INTEGER column.
INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1
# Days people may name: wide enough for any real record, narrow enough that a period of a
# year either side (a week's window, "the day after the last day") stays on the calendar.
FIRST_DAY = date(1900, 1, 1)
LAST_DAY = date(9998, 12, 31)

_NUMBER = re.compile(r"-?[0-9]{1,19}")
_DAY = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


def number(text: str, low: int = 0, high: int = INT64_MAX) -> int | None:
    """A whole number written in ASCII digits (a leading ``-`` when ``low`` is negative)
    within ``low``…``high``; None otherwise."""
    if not _NUMBER.fullmatch(text) or (text.startswith("-") and low >= 0):
        return None
    value = int(text)
    return value if low <= value <= high else None


def day(text: str) -> date | None:
    """A day written ``YYYY-MM-DD`` in ASCII digits, a real calendar day between
    ``FIRST_DAY`` and ``LAST_DAY``; None otherwise."""
    if not _DAY.fullmatch(text):
        return None
    try:
        value = date.fromisoformat(text)
    except ValueError:  # 2026-02-30, month 13
        return None
    return value if FIRST_DAY <= value <= LAST_DAY else None


def day_from_number(value: int) -> date | None:
    """A day packed as the number ``YYYYMMDD`` (as in button payloads); None when it is no
    real day in range."""
    return day(f"{value // 10000:04d}-{value // 100 % 100:02d}-{value % 100:02d}")
