"""The message catalogue: every user-facing string, by key, in zh (default) and en.

Catalogues are TOML files beside this module with nested tables: ``zh.toml`` and
``en.toml`` for the core, plus one ``<language>.<area>.toml`` per conversation area
(``zh.reports.toml``, ``en.tips.toml``…) so each area's text sits in its own file. Keys
are looked up dotted (``deny.scope``) and filled with ``str.format`` fields; a key
defined in two files of one language is an error. A missing key in a language falls
back to the default language; a key missing from both is a bug and raises ``KeyError``
(a test checks both languages hold the same keys and the same fields).

A text that shows a count may have plural forms: a table of CLDR categories instead of
a string, ``photos = { one = "{count} photo", other = "{count} photos" }``. The form is
chosen by the ``count`` field (or the field named by ``by``) with the language's plural
rule (English: ``one`` for exactly 1, else ``other``; Chinese has no plural, so a zh
entry is a plain string). A plural entry's ``other`` form is its template for checks.
"""

from __future__ import annotations

import functools
import string
import tomllib
from pathlib import Path
from typing import Any

LANGUAGES = ("zh", "en")
DEFAULT_LANGUAGE = "zh"
_HERE = Path(__file__).parent


PLURAL_CATEGORIES = frozenset({"zero", "one", "two", "few", "many", "other"})


def _english_plural(count: int | float) -> str:
    return "one" if count == 1 else "other"


def _no_plural(count: int | float) -> str:
    return "other"


# The plural rule of each language: the CLDR category of a count.
PLURAL_RULES = {"en": _english_plural, "zh": _no_plural}


def plural_category(language: str, count: int | float) -> str:
    """The plural form a count takes in a language (``one`` or ``other`` in English;
    always ``other`` in a language without plurals, such as Chinese)."""
    return PLURAL_RULES.get(language, _no_plural)(count)


def _is_plural(value: dict[str, Any]) -> bool:
    return "other" in value and set(value) <= PLURAL_CATEGORIES | {"by"}


def _flatten(
    table: dict[str, Any], prefix: str = "", plurals: dict[str, dict[str, str]] | None = None
) -> dict[str, str]:
    flat: dict[str, str] = {}
    for key, value in table.items():
        full = f"{prefix}{key}"
        if isinstance(value, dict) and plurals is not None and _is_plural(value):
            plurals[full] = {name: str(form) for name, form in value.items()}
            flat[full] = str(value["other"])
        elif isinstance(value, dict):
            flat.update(_flatten(value, f"{full}.", plurals))
        else:
            flat[full] = str(value)
    return flat


def fields_of(template: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(template) if name}


@functools.lru_cache(maxsize=64)
def _parsed(
    path: Path, mtime_ns: int, size: int
) -> tuple[dict[str, str], dict[str, dict[str, str]]]:
    """One catalogue file, flattened, and its plural forms: parsed once per version of
    the file (every ``Services.open`` loads the catalogue; the callers only read it)."""
    forms: dict[str, dict[str, str]] = {}
    with path.open("rb") as handle:
        table = _flatten(tomllib.load(handle), plurals=forms)
    return table, forms


class Catalogue:
    def __init__(
        self,
        messages: dict[str, dict[str, str]],
        default: str = DEFAULT_LANGUAGE,
        plurals: dict[str, dict[str, dict[str, str]]] | None = None,
    ):
        self.messages = messages
        self.default = default
        # language -> key -> {"one": …, "other": …, optionally "by": field name}
        self.plurals = plurals or {}

    @classmethod
    def load(cls, default: str = DEFAULT_LANGUAGE, folder: Path = _HERE) -> Catalogue:
        messages: dict[str, dict[str, str]] = {}
        plurals: dict[str, dict[str, dict[str, str]]] = {}
        for language in LANGUAGES:
            merged: dict[str, str] = {}
            forms: dict[str, dict[str, str]] = {}
            files = [folder / f"{language}.toml", *sorted(folder.glob(f"{language}.*.toml"))]
            for path in files:
                stat = path.stat()
                table, file_forms = _parsed(path, stat.st_mtime_ns, stat.st_size)
                forms.update(file_forms)
                clash = merged.keys() & table.keys()
                if clash:
                    raise ValueError(f"{path.name}: keys defined twice: {sorted(clash)}")
                merged.update(table)
            messages[language] = merged
            plurals[language] = forms
        return cls(messages, default, plurals)

    def text(self, language: str, key: str, **fields: Any) -> str:
        table = self.messages.get(language, {})
        if key not in table:
            language, table = self.default, self.messages[self.default]
        template = table[key]
        forms = self.plurals.get(language, {}).get(key)
        if forms is not None:
            count = fields.get(forms.get("by", "count"))
            if isinstance(count, int | float):
                template = forms.get(plural_category(language, count), forms["other"])
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


@functools.cache
def shipped() -> Catalogue:
    """The catalogue shipped with gridbot, for the words a file may use in any language
    (``keywords``) where no configured catalogue is at hand (file formats)."""
    return Catalogue.load()
