"""Builders for Bot API JSON objects: users, chats, messages, photo sizes, updates.

They only build dicts; ids, dates and files come from the caller (normally the server).
Every builder returns what python-telegram-bot's ``de_json`` needs at least.
"""

from __future__ import annotations

from typing import Any

from bot.botapi.entities import command_entities

Json = dict[str, Any]

#: Update kinds Telegram sends when ``allowed_updates`` is empty or never set.
DEFAULT_UPDATE_KINDS = frozenset(
    {
        "message",
        "edited_message",
        "channel_post",
        "edited_channel_post",
        "business_connection",
        "business_message",
        "edited_business_message",
        "deleted_business_messages",
        "inline_query",
        "chosen_inline_result",
        "callback_query",
        "shipping_query",
        "pre_checkout_query",
        "purchased_paid_media",
        "poll",
        "poll_answer",
        "my_chat_member",
        "chat_join_request",
        "chat_boost",
        "removed_chat_boost",
    }
)


def user_json(
    user_id: int,
    first_name: str,
    last_name: str | None = None,
    username: str | None = None,
    language_code: str | None = None,
    *,
    is_bot: bool = False,
) -> Json:
    """A ``User``; optional fields are left out when None, as Telegram does."""
    user: Json = {"id": user_id, "is_bot": is_bot, "first_name": first_name}
    optional = {"last_name": last_name, "username": username, "language_code": language_code}
    user.update({key: value for key, value in optional.items() if value is not None})
    return user


def private_chat_json(user: Json) -> Json:
    """The private ``Chat`` with ``user`` (its id is the user's id)."""
    chat: Json = {"id": user["id"], "type": "private", "first_name": user["first_name"]}
    for key in ("last_name", "username"):
        if key in user:
            chat[key] = user[key]
    return chat


def group_chat_json(chat_id: int, title: str) -> Json:
    """A group ``Chat``; ids starting with -100 are supergroups, like on Telegram."""
    if chat_id >= 0:
        raise ValueError(f"group chat ids are negative, got {chat_id}")
    kind = "supergroup" if str(chat_id).startswith("-100") else "group"
    return {"id": chat_id, "type": kind, "title": title}


def message_json(
    message_id: int, date: int, chat: Json, sender: Json | None, **content: Any
) -> Json:
    """A ``Message``; ``content`` keys with None values are dropped."""
    message: Json = {"message_id": message_id, "date": date, "chat": chat}
    if sender is not None:
        message["from"] = sender
    message.update({key: value for key, value in content.items() if value is not None})
    return message


def text_content(text: str, entities: list[Json] | None = None) -> Json:
    """``text`` plus its entities; commands get ``bot_command`` entities automatically."""
    found = entities if entities is not None else command_entities(text)
    return {"text": text, "entities": found or None}


def caption_content(caption: str | None, entities: list[Json] | None = None) -> Json:
    """``caption`` plus ``caption_entities`` (commands detected like in texts)."""
    if caption is None:
        return {}
    found = entities if entities is not None else command_entities(caption)
    return {"caption": caption, "caption_entities": found or None}


def photo_size_boxes(width: int, height: int) -> list[tuple[int, int]]:
    """The sizes Telegram keeps for a photo: thumbnails (longest side 90/320/800) + original."""
    longest = max(width, height)
    boxes = [
        (max(1, round(width * side / longest)), max(1, round(height * side / longest)))
        for side in (90, 320, 800)
        if side < longest
    ]
    return [*boxes, (width, height)]


def image_size(data: bytes) -> tuple[int, int] | None:
    """Width and height of PNG, GIF or JPEG bytes; None if not recognised."""
    if data.startswith(b"\x89PNG\r\n\x1a\n") and len(data) >= 24:
        return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    if data[:6] in (b"GIF87a", b"GIF89a") and len(data) >= 10:
        return int.from_bytes(data[6:8], "little"), int.from_bytes(data[8:10], "little")
    if data.startswith(b"\xff\xd8"):
        pos = 2
        while pos + 9 <= len(data) and data[pos] == 0xFF:
            marker, length = data[pos + 1], int.from_bytes(data[pos + 2 : pos + 4], "big")
            if marker in (0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD):
                height = int.from_bytes(data[pos + 5 : pos + 7], "big")
                return int.from_bytes(data[pos + 7 : pos + 9], "big"), height
            pos += 2 + length
    return None


def callback_query_json(
    query_id: str, sender: Json, message: Json, data: str, chat_instance: str
) -> Json:
    """A ``CallbackQuery`` pressed on ``message``."""
    return {
        "id": query_id,
        "from": sender,
        "message": message,
        "chat_instance": chat_instance,
        "data": data,
    }


def update_kind(update: Json) -> str:
    """The update's kind, e.g. ``"message"`` or ``"callback_query"``."""
    kinds = [key for key in update if key != "update_id"]
    return kinds[0] if kinds else ""
