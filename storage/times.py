"""How times are stored: UTC text that sorts as it reads, ``2026-11-23T01:17:00Z``.

Private to ``storage``: repositories take and return aware datetimes and convert in
their row mapping, so nothing above storage knows the format (an import-linter contract
in pyproject.toml forbids ``bot`` and ``handlers`` to import this module)."""

from __future__ import annotations

from datetime import UTC, datetime

_FORMAT = "%Y-%m-%dT%H:%M:%SZ"


def to_text(moment: datetime) -> str:
    """An aware datetime as stored text (UTC, whole seconds)."""
    if moment.tzinfo is None:
        raise ValueError("naive datetime: store aware times only")
    return moment.astimezone(UTC).strftime(_FORMAT)


def from_text(text: str) -> datetime:
    """Stored text back to an aware UTC datetime (``ValueError`` for any other text).

    Every record read converts its times here, so it uses ``fromisoformat`` (about 0.3 µs
    against 18 µs for ``strptime``) once the text has the stored shape."""
    if len(text) != 20 or text[10] != "T" or text[19] != "Z":
        raise ValueError(f"not a stored time: {text!r}")
    return datetime.fromisoformat(text)


def to_text_or_none(moment: datetime | None) -> str | None:
    """``to_text`` that keeps None (an open end, a time not yet reached)."""
    return None if moment is None else to_text(moment)


def from_text_or_none(text: str | None) -> datetime | None:
    """``from_text`` that keeps None (a column that is NULL)."""
    return None if text is None else from_text(text)
