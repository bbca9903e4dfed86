"""Plain records the test server keeps: calls, files, uploads, errors, and a change signal."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

Json = dict[str, Any]

#: Methods whose successful call shows something to the user in ``params["chat_id"]``.
SHOWING_METHODS = frozenset(
    {
        "sendMessage",
        "sendPhoto",
        "sendDocument",
        "sendMediaGroup",
        "editMessageText",
        "editMessageReplyMarkup",
    }
)
SENDING_METHODS = frozenset({"sendMessage", "sendPhoto", "sendDocument", "sendMediaGroup"})


@dataclass(frozen=True)
class Upload:
    """One file part of a multipart request."""

    data: bytes
    file_name: str | None = None
    mime_type: str | None = None


@dataclass
class StoredFile:
    """A file the server can hand out by ``file_id`` and serve under ``file_path``."""

    file_id: str
    file_unique_id: str
    data: bytes
    file_path: str
    file_name: str | None = None
    mime_type: str | None = None

    def as_file(self) -> Json:
        """The Bot API ``File`` object (what getFile returns)."""
        return {
            "file_id": self.file_id,
            "file_unique_id": self.file_unique_id,
            "file_size": len(self.data),
            "file_path": self.file_path,
        }


@dataclass
class ApiCall:
    """One request the bot made, with decoded params and what the server answered."""

    method: str
    params: Json
    files: dict[str, Upload]
    result: Any
    status: int
    at: float
    seq: int = -1
    description: str | None = None

    @property
    def ok(self) -> bool:
        """The server answered 200."""
        return self.status == 200

    @property
    def chat_id(self) -> int | str | None:
        """``params["chat_id"]`` (an int, or a str like ``"@channel"``), if any."""
        value = self.params.get("chat_id")
        if isinstance(value, str) and value.lstrip("-").isdigit():
            return int(value)
        return value

    @property
    def text(self) -> str:
        """The text or caption the bot sent (raw, before parse_mode); "" if none."""
        return str(self.params.get("text") or self.params.get("caption") or "")

    @property
    def message(self) -> Json | None:
        """The message object returned (first one for sendMediaGroup), if any."""
        if isinstance(self.result, list):
            return self.result[0] if self.result and isinstance(self.result[0], dict) else None
        if isinstance(self.result, dict) and "message_id" in self.result:
            return self.result
        return None

    @property
    def keyboard(self) -> list[list[Json]]:
        """Rows of buttons of the ``reply_markup`` sent (inline or reply keyboard)."""
        markup = self.params.get("reply_markup") or {}
        return markup.get("inline_keyboard") or markup.get("keyboard") or []

    @property
    def buttons(self) -> list[tuple[str, str | None]]:
        """``(label, callback_data)`` of every inline button, row by row."""
        return [
            (button.get("text", ""), button.get("callback_data"))
            for row in self.keyboard
            for button in row
            if isinstance(button, dict)
        ]

    def summary(self) -> str:
        """One line for failure messages."""
        extra = f" chat={self.chat_id}" if self.chat_id is not None else ""
        text = self.text or (self.description or "")
        if text:
            extra += " " + json.dumps(text[:60], ensure_ascii=False)
        return f"#{self.seq} {self.method} -> {self.status}{extra}"


class ApiError(Exception):
    """Raised by method implementations; becomes a ``{"ok": false, ...}`` answer."""

    def __init__(self, status: int, description: str, parameters: Json | None = None) -> None:
        super().__init__(description)
        self.status = status
        self.description = description
        self.parameters = parameters

    def body(self) -> Json:
        """The JSON error body Telegram would send."""
        body: Json = {"ok": False, "error_code": self.status, "description": self.description}
        if self.parameters:
            body["parameters"] = self.parameters
        return body


def bad_request(what: str) -> ApiError:
    """A 400 with Telegram's "Bad Request: " prefix."""
    return ApiError(400, f"Bad Request: {what}")


@dataclass
class Injected:
    """A failure or delay queued by ``fail_next`` / ``delay_next`` for one method."""

    status: int = 200
    retry_after: int | None = None
    description: str | None = None
    delay: float = 0.0


@dataclass
class Signal:
    """Wakes every waiter whenever the server's state changes (no polling loops)."""

    _waiters: set[asyncio.Future[None]] = field(default_factory=set)
    version: int = 0  # counts the changes, so a web page can ask "anything after N?"

    def notify(self) -> None:
        """Wake all current waiters; they re-check their condition."""
        self.version += 1
        for waiter in self._waiters:
            if not waiter.done():
                waiter.set_result(None)
        self._waiters.clear()

    async def wait_until(self, condition: Callable[[], bool], timeout: float | None) -> bool:
        """Wait until ``condition()`` is true; False if ``timeout`` seconds pass first."""
        loop = asyncio.get_running_loop()
        deadline = None if timeout is None else loop.time() + timeout
        while not condition():
            remaining = None if deadline is None else deadline - loop.time()
            if remaining is not None and remaining <= 0:
                return False
            waiter: asyncio.Future[None] = loop.create_future()
            self._waiters.add(waiter)
            try:
                async with asyncio.timeout(remaining):
                    await waiter
            except TimeoutError:
                pass
            finally:
                self._waiters.discard(waiter)
        return True
