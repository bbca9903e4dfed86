"""Long lists shown a page at a time under ◀ ▶ buttons (/members, /invites, /myreports,
/reports): how many pages, whether a pressed page exists, and one page of a list."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

from bot.core.errors import Refused

T = TypeVar("T")


def page_count(total: int, size: int) -> int:
    """Pages of ``size`` lines for ``total`` lines; an empty list still has one page."""
    return max(1, -(-total // size))


def check_page(page: int, total: int, size: int) -> int:
    """The number of pages; ``button.stale`` for a page that is not one of them (a forged
    press, or a button under a list that has shrunk since)."""
    pages = page_count(total, size)
    if not 0 <= page < pages:
        raise Refused("button.stale")
    return pages


@dataclass(frozen=True)
class Page(Generic[T]):
    items: list[T]
    page: int  # from 0
    pages: int
    total: int
    offset: int  # how many lines come before this page's first


def page_of(items: Sequence[T], page: int, size: int, *, clamp: bool = False) -> Page[T]:
    """Page ``page`` of ``items``; with ``clamp`` a page past the end is the last page
    (the list was redrawn after it shrank), else it is ``button.stale``."""
    if clamp:
        page = max(0, min(page, page_count(len(items), size) - 1))
    pages = check_page(page, len(items), size)
    offset = page * size
    return Page(list(items[offset : offset + size]), page, pages, len(items), offset)
