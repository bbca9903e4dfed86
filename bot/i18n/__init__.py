"""The message catalogue: every user-facing string, by key, in zh (default) and en.

Catalogues are TOML files beside this module with nested tables: ``zh.toml`` and
``en.toml`` for the core, plus one ``<language>.<area>.toml`` per conversation area
(``zh.reports.toml``, ``en.tips.toml``…) so each area's text sits in its own file. Keys
are looked up dotted (``deny.scope``) and filled with ``str.format`` fields; a key
defined in two files of one language is an error. A missing key in a language falls
back to the default language; a key missing from both is a bug and raises ``KeyError``
(a test checks both languages hold the same keys and the same fields).
"""

from __future__ import annotations

import string
import tomllib
from pathlib import Path
from typing import Any

LANGUAGES = ("zh", "en")
DEFAULT_LANGUAGE = "zh"
_HERE = Path(__file__).parent


def _flatten(table: dict[str, Any], prefix: str = "") -> dict[str, str]:
    flat: dict[str, str] = {}
    for key, value in table.items():
        full = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(_flatten(value, f"{full}."))
        else:
            flat[full] = str(value)
    return flat


def fields_of(template: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(template) if name}


class Catalogue:
    def __init__(self, messages: dict[str, dict[str, str]], default: str = DEFAULT_LANGUAGE):
        self.messages = messages
        self.default = default

    @classmethod
    def load(cls, default: str = DEFAULT_LANGUAGE, folder: Path = _HERE) -> Catalogue:
        messages: dict[str, dict[str, str]] = {}
        for language in LANGUAGES:
            merged: dict[str, str] = {}
            files = [folder / f"{language}.toml", *sorted(folder.glob(f"{language}.*.toml"))]
            for path in files:
                with path.open("rb") as handle:
                    table = _flatten(tomllib.load(handle))
                clash = merged.keys() & table.keys()
                if clash:
                    raise ValueError(f"{path.name}: keys defined twice: {sorted(clash)}")
                merged.update(table)
            messages[language] = merged
        return cls(messages, default)

    def text(self, language: str, key: str, **fields: Any) -> str:
        template = self.messages.get(language, {}).get(key)
        if template is None:
            template = self.messages[self.default][key]
        return template.format(**fields) if fields else template

    def has(self, key: str) -> bool:
        return key in self.messages[self.default]

    def keywords(self, key: str) -> frozenset[str]:
        """The words a user may type for ``key`` in any language, lower-cased: a keyword
        entry lists its synonyms separated by ``|`` (``today = "今天|今日"``)."""
        return frozenset(
            word.strip().lower()
            for table in self.messages.values()
            if key in table
            for word in table[key].split("|")
            if word.strip()
        )

    def resolve_language(self, chosen: str | None, telegram_code: str | None) -> str:
        """The language to answer in: the person's /lang choice, else their Telegram
        client's language when we have it, else the configured default."""
        if chosen in self.messages:
            return chosen
        if telegram_code:
            base = telegram_code.split("-")[0].lower()
            if base in self.messages:
                return base
        return self.default
