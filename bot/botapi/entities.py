"""Message entities the way Telegram computes them: UTF-16 offsets, bot commands, HTML.

Telegram measures entity ``offset``/``length`` in UTF-16 code units, so a Chinese character
counts 1 and an emoji outside the BMP counts 2. ``parse_html`` implements the Bot API's
``parse_mode=HTML`` subset and raises :class:`EntityParseError` with a Telegram-like message
for markup Telegram would refuse.
"""

from __future__ import annotations

import html
import re
from typing import Any

Json = dict[str, Any]

_COMMAND = re.compile(r"(?<![\w/@])/[A-Za-z0-9_]{1,32}(?:@[A-Za-z0-9_]{3,32})?(?![\w/@])")


def utf16_len(text: str) -> int:
    """Length of ``text`` in UTF-16 code units (Telegram's unit for entity offsets)."""
    return len(text.encode("utf-16-le", "surrogatepass")) // 2


def command_entities(text: str) -> list[Json]:
    """``bot_command`` entities for every ``/command`` or ``/command@bot`` in ``text``."""
    return [
        {
            "type": "bot_command",
            "offset": utf16_len(text[: match.start()]),
            "length": utf16_len(match.group()),
        }
        for match in _COMMAND.finditer(text)
    ]


class EntityParseError(ValueError):
    """Markup Telegram would reject with "Bad Request: can't parse entities: ..."."""


_SIMPLE_TAGS = {
    "b": "bold",
    "strong": "bold",
    "i": "italic",
    "em": "italic",
    "u": "underline",
    "ins": "underline",
    "s": "strikethrough",
    "strike": "strikethrough",
    "del": "strikethrough",
    "tg-spoiler": "spoiler",
    "code": "code",
    "pre": "pre",
    "blockquote": "blockquote",
}
_OTHER_TAGS = {"a", "span", "tg-emoji"}
_NAMED = {"lt": "<", "gt": ">", "amp": "&", "quot": '"'}
_TAG = re.compile(
    r"<(/?)([A-Za-z0-9-]*)((?:\s+[A-Za-z-]+(?:\s*=\s*(?:\"[^\"]*\"|'[^']*'|[^\s>]*))?)*)\s*>"
)
_ATTR = re.compile(r"([A-Za-z-]+)(?:\s*=\s*(?:\"([^\"]*)\"|'([^']*)'|([^\s>]*)))?")
_CHAR_REF = re.compile(r"&(#x[0-9A-Fa-f]{1,6}|#[0-9]{1,7}|[A-Za-z]+);")


def _byte_offset(source: str, index: int) -> int:
    return len(source[:index].encode("utf-8"))


def _entity_for(tag: str, attrs: dict[str, str], at: str) -> Json:
    """The entity (without offset/length) a start tag opens."""
    if tag in _SIMPLE_TAGS:
        kind = _SIMPLE_TAGS[tag]
        if tag == "blockquote" and "expandable" in attrs:
            kind = "expandable_blockquote"
        return {"type": kind}
    if tag == "a":
        url = attrs.get("href", "")
        match = re.fullmatch(r"tg://user\?id=(\d+)", url)
        if match:
            return {"type": "text_mention", "user": {"id": int(match.group(1))}}
        return {"type": "text_link", "url": url}
    if tag == "span" and attrs.get("class") == "tg-spoiler":
        return {"type": "spoiler"}
    if tag == "tg-emoji" and attrs.get("emoji-id"):
        return {"type": "custom_emoji", "custom_emoji_id": attrs["emoji-id"]}
    raise EntityParseError(f'Unsupported start tag "{tag}" at byte offset {at}')


def parse_html(source: str) -> tuple[str, list[Json]]:
    """Plain text and entities for ``source`` in Telegram's HTML parse mode."""
    out: list[str] = []
    entities: list[Json] = []
    stack: list[tuple[str, Json, int]] = []  # (tag, entity, start offset in UTF-16)
    pos = 0
    while pos < len(source):
        char = source[pos]
        if char == "&":
            match = _CHAR_REF.match(source, pos)
            name = match.group(1) if match else ""
            if match and (name.startswith("#") or name in _NAMED):
                out.append(_NAMED.get(name) or html.unescape(match.group()))
                pos = match.end()
            else:
                out.append("&")  # Telegram keeps an unknown "&..." as literal text
                pos += 1
            continue
        if char != "<":
            out.append(char)
            pos += 1
            continue
        at = str(_byte_offset(source, pos))
        match = _TAG.match(source, pos)
        if match is None:
            if ">" not in source[pos:]:
                raise EntityParseError(f"Unclosed start tag at byte offset {at}")
            raise EntityParseError(f'Unsupported start tag "" at byte offset {at}')
        closing, tag = match.group(1) == "/", match.group(2).lower()
        here = utf16_len("".join(out))
        if closing:
            if not stack:
                raise EntityParseError(f"Unexpected end tag at byte offset {at}")
            open_tag, entity, start = stack.pop()
            if tag != open_tag:
                raise EntityParseError(
                    f'Unmatched end tag at byte offset {at}, expected "</{open_tag}>", '
                    f'found "</{tag}>"'
                )
            if here > start and not entity.get("absorbed"):
                entities.append({**entity, "offset": start, "length": here - start})
        else:
            if tag not in _SIMPLE_TAGS and tag not in _OTHER_TAGS:
                raise EntityParseError(f'Unsupported start tag "{tag}" at byte offset {at}')
            attrs = {
                m.group(1).lower(): m.group(2) or m.group(3) or m.group(4) or ""
                for m in _ATTR.finditer(match.group(3))
            }
            entity = _entity_for(tag, attrs, at)
            if tag == "code" and stack and stack[-1][0] == "pre":
                # <pre><code class="language-x"> is one "pre" entity with a language
                entity["absorbed"] = True
                if "class" in attrs:
                    stack[-1][1]["language"] = attrs["class"].removeprefix("language-")
            stack.append((tag, entity, here))
        pos = match.end()
    if stack:
        raise EntityParseError(f'Can\'t find end tag corresponding to start tag "{stack[-1][0]}"')
    entities.sort(key=lambda e: (e["offset"], -e["length"]))
    return "".join(out), entities
