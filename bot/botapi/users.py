"""The test's side of a chat: a Telegram user who writes, presses buttons and waits.

A :class:`TestUser` is one user in one chat (their private chat, or a group via
``in_chat``). Every ``send_*``/``press`` pushes an update and moves this sender's cursor;
``next_reply`` then waits for the next bot call that shows something in that chat (or
answers this sender's button press) made after the cursor. Each call is handed out once.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from bot.botapi.records import SHOWING_METHODS, ApiCall
from bot.botapi.updates import (
    callback_query_json,
    caption_content,
    image_size,
    message_json,
    text_content,
)

if TYPE_CHECKING:
    from bot.botapi.server import BotApiServer

Json = dict[str, Any]


class TestUser:
    """A user writing into one chat; create with ``server.user(...)``."""

    __test__ = False  # not a pytest test class

    def __init__(self, server: BotApiServer, user: Json, chat: Json) -> None:
        self.server = server
        self.user = user
        self.chat = chat
        self.cursor = server.mark()
        self.queries: set[str] = set()

    @property
    def id(self) -> int:
        """The user's Telegram id."""
        return int(self.user["id"])

    @property
    def chat_id(self) -> int:
        """The id of the chat this sender writes into."""
        return int(self.chat["id"])

    def in_chat(self, chat: Json) -> TestUser:
        """The same user writing into ``chat`` (a ``server.group(...)``)."""
        return TestUser(self.server, self.user, chat)

    def block_bot(self, blocked: bool = True) -> None:
        """Block (or unblock) the bot: its sends to this user answer 403."""
        self.server.block(self.id, blocked)

    # ------------------------------------------------------------------ pushing updates

    def _push(self, kind: str, payload: Json) -> Json:
        self.cursor = self.server.mark()
        return self.server.push(kind, payload, chat_id=self.chat_id)

    def _message(self, **content: Any) -> Json:
        message = message_json(
            self.server.next_message_id(self.chat_id),
            self.server.now(),
            self.chat,
            self.user,
            **content,
        )
        return self.server.store_message(message)

    async def send_text(self, text: str, reply_to: Json | ApiCall | None = None) -> Json:
        """Write ``text`` (``/commands`` get bot_command entities); returns the update."""
        replied = self._resolve(reply_to) if reply_to is not None else None
        content = text_content(text)
        return self._push("message", self._message(**content, reply_to_message=replied))

    async def send_photo(
        self,
        data: bytes,
        caption: str | None = None,
        media_group_id: str | None = None,
        width: int | None = None,
        height: int | None = None,
    ) -> Json:
        """Send a photo; its largest PhotoSize downloads as ``data``.

        The size is read from PNG/JPEG/GIF ``data`` unless given (else 1280x960).
        """
        sniffed = image_size(data) or (1280, 960)
        original = self.server.add_file(data, "photos")
        sizes = self.server.add_photo_sizes(original, width or sniffed[0], height or sniffed[1])
        content = caption_content(caption)
        message = self._message(photo=sizes, media_group_id=media_group_id, **content)
        return self._push("message", message)

    async def send_document(
        self,
        data: bytes,
        file_name: str = "document.pdf",
        mime_type: str = "application/pdf",
        caption: str | None = None,
    ) -> Json:
        """Send a file as a document."""
        stored = self.server.add_file(data, "documents", file_name, mime_type)
        document = {
            "file_id": stored.file_id,
            "file_unique_id": stored.file_unique_id,
            "file_name": file_name,
            "mime_type": mime_type,
            "file_size": len(data),
        }
        return self._push("message", self._message(document=document, **caption_content(caption)))

    async def send_location(self, latitude: float, longitude: float) -> Json:
        """Share a location."""
        location = {"latitude": latitude, "longitude": longitude}
        return self._push("message", self._message(location=location))

    async def send_contact(self, phone_number: str, own: bool = True) -> Json:
        """Share a contact; ``own`` = the user's own (as with a request_contact button)."""
        contact: Json = {"phone_number": phone_number, "first_name": self.user["first_name"]}
        if own:
            contact["user_id"] = self.id
        return self._push("message", self._message(contact=contact))

    async def send_sticker(self, emoji: str = "👍") -> Json:
        """Send a (regular, static) sticker."""
        stored = self.server.add_file(b"RIFF\x00\x00\x00\x00WEBP", "stickers")
        sticker = {
            "file_id": stored.file_id,
            "file_unique_id": stored.file_unique_id,
            "width": 512,
            "height": 512,
            "is_animated": False,
            "is_video": False,
            "type": "regular",
            "emoji": emoji,
            "file_size": len(stored.data),
        }
        return self._push("message", self._message(sticker=sticker))

    async def send_voice(self, data: bytes = b"OggS\x00voice", duration: int = 2) -> Json:
        """Send a voice message."""
        stored = self.server.add_file(data, "voice", mime_type="audio/ogg")
        voice = {
            "file_id": stored.file_id,
            "file_unique_id": stored.file_unique_id,
            "duration": duration,
            "mime_type": "audio/ogg",
            "file_size": len(data),
        }
        return self._push("message", self._message(voice=voice))

    async def send_edited_text(self, message: Json, text: str) -> Json:
        """Edit one of this user's earlier text messages (an ``edited_message`` update)."""
        original = self._resolve(message)
        edited = {key: value for key, value in original.items() if key != "entities"}
        edited.update(
            {k: v for k, v in text_content(text).items() if v is not None},
            edit_date=self.server.now(),
        )
        self.server.store_message(edited)
        return self._push("edited_message", edited)

    async def press(
        self, message: Json | ApiCall | int, callback_data: str, strict: bool = True
    ) -> Json:
        """Press the inline button with ``callback_data`` under ``message`` (a callback_query).

        ``message`` is a bot message (an ApiCall, a message dict, or its id in this chat);
        its current version (edits applied) is attached. ``strict`` checks the button exists.
        """
        current = self._resolve(message)
        if strict:
            markup = current.get("reply_markup") or {}
            rows = markup.get("inline_keyboard", [])
            offered = [button.get("callback_data") for row in rows for button in row]
            if callback_data not in offered:
                raise AssertionError(
                    f"message {current['message_id']} has no button {callback_data!r}; "
                    f"it offers {offered}"
                )
        query_id = str(4000000000000000000 + self.server.new_id())
        self.queries.add(query_id)
        self.server.open_queries.add(query_id)
        chat_instance = str(abs(self.chat_id * 31 + self.server.bot["id"]))
        query = callback_query_json(query_id, self.user, current, callback_data, chat_instance)
        return self._push("callback_query", query)

    async def press_label(self, message: Json | ApiCall | int, label: str) -> Json:
        """Press the inline button whose visible text is ``label``."""
        current = self._resolve(message)
        rows = (current.get("reply_markup") or {}).get("inline_keyboard", [])
        for button in (b for row in rows for b in row):
            if button.get("text") == label and "callback_data" in button:
                return await self.press(current, button["callback_data"])
        labels = [b.get("text") for row in rows for b in row]
        raise AssertionError(f"no button labelled {label!r}; the message offers {labels}")

    def _resolve(self, message: Json | ApiCall | int) -> Json:
        """The current stored version of a message in this chat."""
        if isinstance(message, ApiCall):
            if message.message is None:
                raise AssertionError(f"call {message.summary()} did not produce a message")
            message = message.message
        if isinstance(message, dict) and "update_id" in message:
            message = next(v for k, v in message.items() if k != "update_id")
        message_id = message if isinstance(message, int) else message["message_id"]
        chat_id = self.chat_id if isinstance(message, int) else message["chat"]["id"]
        if chat_id != self.chat_id:
            raise AssertionError(f"message {message_id} is in chat {chat_id}, not {self.chat_id}")
        current = self.server.message(chat_id, message_id)
        if current is None:
            raise AssertionError(f"there is no message {message_id} in chat {chat_id}")
        return current

    # ------------------------------------------------------------------ waiting for the bot

    def shows(self, call: ApiCall) -> bool:
        """Whether a call shows something to this sender (or answers their button press)."""
        if not call.ok:
            return False
        if call.method == "answerCallbackQuery":
            return str(call.params.get("callback_query_id")) in self.queries
        return call.method in SHOWING_METHODS and call.chat_id == self.chat_id

    async def next_reply(self, method: str | None = None, timeout: float = 5.0) -> ApiCall:
        """The next successful bot call shown in this chat since this sender's last push."""

        def match(call: ApiCall) -> bool:
            return self.shows(call) and (method is None or call.method == method)

        wanted = f"reply to {self.user['first_name']} in chat {self.chat_id}"
        if method:
            wanted += f" via {method}"
        return await self.server.wait_claim(self.cursor, match, wanted, timeout)

    async def next_replies(self, count: int, timeout: float = 5.0) -> list[ApiCall]:
        """The next ``count`` replies (see :meth:`next_reply`)."""
        return [await self.next_reply(timeout=timeout) for _ in range(count)]

    async def ask(self, text: str, timeout: float = 5.0) -> ApiCall:
        """Write ``text`` and return the bot's first reply in this chat."""
        await self.send_text(text)
        return await self.next_reply(timeout=timeout)

    async def ask_all(self, text: str, count: int, timeout: float = 5.0) -> list[ApiCall]:
        """Write ``text`` and return the bot's next ``count`` replies in this chat."""
        await self.send_text(text)
        return await self.next_replies(count, timeout=timeout)
