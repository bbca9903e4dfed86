"""The one way a service says no: ``Refused`` carries a catalogue key and its fields.

Handlers catch it and answer in the caller's language; nothing was changed (services
raise it before writing, or inside a transaction that then rolls back).
"""

from __future__ import annotations

from typing import Any


class Refused(Exception):
    def __init__(self, key: str, **fields: Any) -> None:
        super().__init__(key)
        self.key = key
        self.fields = fields
