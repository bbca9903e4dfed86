"""Inline-button payloads: short, versioned, validated.

Telegram gives 64 bytes of ``callback_data`` and sends back whatever the client says, so
every press is parsed strictly here (a pydantic model per button kind) and anything that
does not parse is treated as forged. Permissions are checked again by the handler.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

VERSION = "1"
SEPARATOR = ":"


class MembersPageButton(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: Literal["mp"] = "mp"
    unit: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_-]{0,31}$")
    page: int = Field(ge=0, le=100_000)

    def encode(self) -> str:
        return SEPARATOR.join((VERSION, self.kind, self.unit, str(self.page)))


Button = MembersPageButton


def decode(data: str | None) -> Button | None:
    """The button a press stands for, or None for anything stale, foreign or forged."""
    if not data or len(data.encode()) > 64:
        return None
    parts = data.split(SEPARATOR)
    if len(parts) != 4 or parts[0] != VERSION or parts[1] != "mp":
        return None
    try:
        return MembersPageButton(unit=parts[2], page=parts[3])  # type: ignore[arg-type]
    except ValidationError:
        return None
