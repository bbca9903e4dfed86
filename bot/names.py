"""Checking the real name a person gives when they join."""

from __future__ import annotations

import re
import unicodedata

from bot.errors import Refused

NAME_MIN = 2
NAME_MAX = 20
_SPACES = re.compile(r"\s+")


def clean_name(text: str) -> str:
    """A tidy real name, or ``Refused('join.name_invalid')``.

    2–20 characters after trimming (a Chinese name counts one per character); letters,
    spaces, '·' (as in 买买提·艾力), '.', ''' and '-'; no commands, links or mentions.
    """
    name = _SPACES.sub(" ", unicodedata.normalize("NFC", text)).strip()
    if name.startswith("/"):
        raise Refused("join.name_command")
    if not NAME_MIN <= len(name) <= NAME_MAX:
        raise Refused("join.name_length", min=NAME_MIN, max=NAME_MAX)
    for char in name:
        if char in " ·.'-" or unicodedata.category(char).startswith(("L", "M")):
            continue
        raise Refused("join.name_chars")
    if not any(unicodedata.category(char).startswith("L") for char in name):
        raise Refused("join.name_chars")
    return name
