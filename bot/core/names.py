"""Checking the real name a person gives when they join."""

from __future__ import annotations

import re
import unicodedata

from bot.core.errors import Refused

NAME_MIN = 2
NAME_MAX = 20
# Combining marks one letter may carry: Vietnamese, Thai and Devanagari need at most three;
# a letter under a stack of them ("Zalgo" text) is no name.
MARKS_MAX = 4
_SPACES = re.compile(r"\s+")
# Characters that are letters or marks to Unicode but show nothing (Default_Ignorable
# code points): Hangul fillers, the combining grapheme joiner, invisible Khmer vowels,
# variation selectors. A name of them looks blank, or like someone else's.
_INVISIBLE = re.compile(
    "[\u034f\u115f\u1160\u17b4\u17b5\u180b-\u180f\u3164\ufe00-\ufe0f\uffa0\U000e0100-\U000e01ef]"
)


def clean_name(text: str) -> str:
    """A tidy real name, or ``Refused('join.name_invalid')``.

    2–20 characters after trimming (a Chinese name counts one per character); letters,
    spaces, '·' (as in 买买提·艾力), '.', ''' and '-'; no commands, links or mentions; nothing
    invisible (Hangul fillers, variation selectors) and no letter under more than
    ``MARKS_MAX`` combining marks.
    """
    name = _SPACES.sub(" ", unicodedata.normalize("NFC", text)).strip()
    if name.startswith("/"):
        raise Refused("join.name_command")
    if not NAME_MIN <= len(name) <= NAME_MAX:
        raise Refused("join.name_length", min=NAME_MIN, max=NAME_MAX)
    if _INVISIBLE.search(name):
        raise Refused("join.name_chars")
    marks = 0
    for char in name:
        category = unicodedata.category(char)
        marks = marks + 1 if category.startswith("M") else 0
        if marks > MARKS_MAX:
            raise Refused("join.name_chars")
        if char in " ·.'-" or category.startswith(("L", "M")):
            continue
        raise Refused("join.name_chars")
    if not any(unicodedata.category(char).startswith("L") for char in name):
        raise Refused("join.name_chars")
    return name
