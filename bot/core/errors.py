"""The one way a service says no: ``Refused`` carries a catalogue key and its fields.

Handlers catch it and answer in the caller's language; nothing was changed (services
raise it before writing, or inside a transaction that then rolls back).

A refusal often quotes what was typed ("no unit with the code …"), which may be as long
as a Telegram message; every text field of a refusal is shown through ``echo``.
"""

from __future__ import annotations

from typing import Any

ECHO_MAX = 64


def echo(value: str, limit: int = ECHO_MAX) -> str:
    """Input quoted back in an answer: at most ``limit`` characters, "…" marking a cut."""
    return value if len(value) <= limit else value[: limit - 1] + "…"


class Refused(Exception):
    def __init__(self, key: str, **fields: Any) -> None:
        super().__init__(key)
        self.key = key
        self.fields = {
            name: echo(value) if isinstance(value, str) else value for name, value in fields.items()
        }
