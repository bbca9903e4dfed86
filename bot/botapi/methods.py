"""The Bot API methods the test server implements, with Telegram's validation and errors.

Each method is ``async def name(server, params) -> result`` registered with ``@api``; it
raises :class:`ApiError` for what Telegram would refuse. Error descriptions follow the real
ones ("Bad Request: chat not found", "Bad Request: message is not modified: ...").
"""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from bot.botapi.entities import EntityParseError, command_entities, parse_html, utf16_len
from bot.botapi.records import ApiError, StoredFile, Upload, bad_request
from bot.botapi.updates import image_size, message_json

if TYPE_CHECKING:
    from bot.botapi.server import BotApiServer

Json = dict[str, Any]
Handler = Callable[["BotApiServer", "Params"], Awaitable[Any]]

#: lower-case method name -> (canonical name, implementation)
METHODS: dict[str, tuple[str, Handler]] = {}

_BUTTON_ACTIONS = {
    "callback_data",
    "url",
    "switch_inline_query",
    "switch_inline_query_current_chat",
    "switch_inline_query_chosen_chat",
    "web_app",
    "login_url",
    "callback_game",
    "pay",
    "copy_text",
}
_CHAT_ACTIONS = {
    "typing",
    "upload_photo",
    "record_video",
    "upload_video",
    "record_voice",
    "upload_voice",
    "upload_document",
    "choose_sticker",
    "find_location",
    "record_video_note",
    "upload_video_note",
}
_NOT_MODIFIED = (
    "message is not modified: specified new message content and reply markup are exactly "
    "the same as a current content and reply markup of the message"
)
_QUERY_INVALID = "query is too old and response timeout expired or query ID is invalid"


def api(name: str) -> Callable[[Handler], Handler]:
    """Register a method implementation under its canonical Bot API name."""

    def register(handler: Handler) -> Handler:
        METHODS[name.lower()] = (name, handler)
        return handler

    return register


class Params:
    """The decoded parameters and uploaded files of one call."""

    def __init__(self, values: Json, files: dict[str, Upload]) -> None:
        self.values = values
        self.files = files

    def get(self, name: str, default: Any = None) -> Any:
        """A parameter, or ``default`` when absent or null."""
        value = self.values.get(name)
        return default if value is None else value

    def require(self, name: str, missing: str | None = None) -> Any:
        """A parameter that must be there; 400 ``missing`` (or "<name> is empty") if not."""
        value = self.values.get(name)
        if value is None or value == "":
            raise bad_request(missing or f"{name} is empty")
        return value

    def integer(self, name: str, default: int | None = None, required: bool = False) -> int:
        """An integer parameter (400 if it is not one)."""
        value = self.require(name) if required else self.get(name, default)
        if isinstance(value, bool) or value is None:
            raise bad_request(f"{name} is empty")
        try:
            return int(value)
        except (TypeError, ValueError):
            raise bad_request(f"invalid {name} specified") from None

    def upload(self, reference: Any) -> Upload | None:
        """The uploaded part a value points to with ``attach://name``, if it does."""
        if isinstance(reference, str) and reference.startswith("attach://"):
            part = self.files.get(reference.removeprefix("attach://"))
            if part is None:
                raise bad_request(f"file {reference} not found in the request")
            return part
        return None


# --------------------------------------------------------------------- shared pieces


def render_text(text: Any, parse_mode: Any, entities: Any, limit: int, what: str) -> Json:
    """Plain text + entities as the sent message will hold them (HTML is parsed)."""
    text = str(text)
    if parse_mode in (None, ""):
        found = entities if isinstance(entities, list) else command_entities(text)
    elif str(parse_mode).lower() == "html":
        try:
            text, found = parse_html(text)
        except EntityParseError as error:
            raise bad_request(f"can't parse entities: {error}") from None
    elif str(parse_mode).lower() in ("markdown", "markdownv2"):
        found = []  # not parsed by the test server: the text is echoed as sent
    else:
        raise bad_request("unsupported parse_mode")
    if utf16_len(text) > limit:
        raise bad_request(
            "message is too long" if what == "text" else f"message {what} is too long"
        )
    return {what: text, ("entities" if what == "text" else "caption_entities"): found or None}


def inline_markup(raw: Any) -> Json | None:
    """Validate ``reply_markup``; return it if it belongs in the Message (inline keyboards)."""
    if raw is None:
        return None
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except ValueError:
            raw = None
    if not isinstance(raw, dict):
        raise bad_request("can't parse reply keyboard markup JSON object")
    if "inline_keyboard" not in raw:
        return None
    rows = raw["inline_keyboard"]
    if not isinstance(rows, list) or not all(isinstance(row, list) for row in rows):
        raise bad_request(
            'field "inline_keyboard" of the InlineKeyboardMarkup must be an Array of Arrays'
        )
    for button in (button for row in rows for button in row):
        _check_button(button)
    return raw if any(rows) else None


def _check_button(button: Any) -> None:
    if not isinstance(button, dict) or not str(button.get("text", "")).strip():
        raise bad_request("can't parse inline keyboard button: Text must be non-empty")
    actions = _BUTTON_ACTIONS & button.keys()
    if not actions:
        raise bad_request(
            "can't parse inline keyboard button: Text buttons are unallowed in the inline keyboard"
        )
    if "callback_data" in button:
        data = str(button["callback_data"]).encode("utf-8")
        if not 1 <= len(data) <= 64:
            raise bad_request("BUTTON_DATA_INVALID")
    if "url" in button and not re.match(r"(https?|tg)://", str(button["url"])):
        raise bad_request(f"inline keyboard button URL '{button['url']}' is invalid: Wrong URL")


def replied_message(server: BotApiServer, chat: Json, params: Params) -> Json | None:
    """The message a send replies to (``reply_parameters`` or ``reply_to_message_id``)."""
    reply = params.get("reply_parameters")
    if isinstance(reply, str):
        reply = json.loads(reply)
    if not reply and params.get("reply_to_message_id") is not None:
        reply = {
            "message_id": params.get("reply_to_message_id"),
            "allow_sending_without_reply": params.get("allow_sending_without_reply", False),
        }
    if not reply:
        return None
    chat_id = chat["id"] if reply.get("chat_id") is None else server.chat(reply["chat_id"])["id"]
    found = server.message(chat_id, int(reply.get("message_id", 0)))
    if found is None:
        if reply.get("allow_sending_without_reply"):
            return None
        raise bad_request("message to be replied not found")
    return {key: value for key, value in found.items() if key != "reply_to_message"}


def new_message(server: BotApiServer, chat: Json, params: Params, **content: Any) -> Json:
    """Build, store and return a message the bot sends into ``chat``."""
    markup = inline_markup(params.get("reply_markup"))
    replied = replied_message(server, chat, params)
    message = message_json(
        server.next_message_id(chat["id"]),
        server.now(),
        chat,
        server.bot,
        reply_to_message=replied,
        **content,
        reply_markup=markup,
    )
    server.set_keyboard(chat["id"], params.get("reply_markup"))
    return server.store_message(message)


def resolve_file(server: BotApiServer, params: Params, value: Any, kind: str) -> StoredFile:
    """The stored file a send refers to: an upload, a known file_id, or an HTTP URL."""
    upload = value if isinstance(value, Upload) else params.upload(value)
    if upload is not None:
        if len(upload.data) > server.upload_limit:
            raise ApiError(413, "Request Entity Too Large")
        return server.add_file(upload.data, kind, upload.file_name, upload.mime_type)
    if isinstance(value, str) and value in server.files:
        return server.files[value]
    if isinstance(value, str) and value.startswith(("http://", "https://")):
        return server.add_file(value.encode(), kind, value.rsplit("/", 1)[-1] or None)
    raise bad_request("wrong file identifier/HTTP URL specified")


def file_param(server: BotApiServer, params: Params, name: str, kind: str) -> StoredFile:
    """Resolve the file parameter ``name`` of a send (uploaded part, attach://, id or URL)."""
    value = params.files.get(name) or params.get(name)
    if value is None or value == "":
        raise bad_request(f"there is no {name} in the request")
    return resolve_file(server, params, value, kind)


def photo_sizes(server: BotApiServer, stored: StoredFile) -> list[Json]:
    """PhotoSize list for a photo file (reusing the sizes if it was seen before)."""
    if stored.file_id in server.photos:
        return server.photos[stored.file_id]
    width, height = image_size(stored.data) or (1280, 960)
    return server.add_photo_sizes(stored, width, height)


def document_json(stored: StoredFile) -> Json:
    """The ``Document`` object of a stored file."""
    document = {
        "file_id": stored.file_id,
        "file_unique_id": stored.file_unique_id,
        "file_size": len(stored.data),
        "file_name": stored.file_name,
        "mime_type": stored.mime_type,
    }
    return {key: value for key, value in document.items() if value is not None}


def caption(params: Params, holder: Json | None = None) -> Json:
    """Caption fields of a media send (or of one media group item)."""
    source = holder if holder is not None else params.values
    if source.get("caption") is None:
        return {}
    return render_text(
        source["caption"],
        source.get("parse_mode"),
        source.get("caption_entities"),
        1024,
        "caption",
    )


def editable(server: BotApiServer, params: Params) -> Json:
    """The bot message an edit targets, or the 400 Telegram answers."""
    if params.get("inline_message_id") is not None:
        raise bad_request("inline messages are not supported by the test server")
    chat = server.chat(params.require("chat_id"))
    message = server.message(chat["id"], params.integer("message_id", required=True))
    if message is None:
        raise bad_request("message to edit not found")
    if message.get("from", {}).get("id") != server.bot["id"]:
        raise bad_request("message can't be edited")
    return message


# --------------------------------------------------------------------- methods


@api("getMe")
async def get_me(server: BotApiServer, params: Params) -> Json:
    return {
        **server.bot,
        "can_join_groups": True,
        "can_read_all_group_messages": False,
        "supports_inline_queries": False,
        "can_connect_to_business": False,
        "has_main_web_app": False,
    }


@api("getUpdates")
async def get_updates(server: BotApiServer, params: Params) -> list[Json]:
    if server.webhook.get("url"):
        raise ApiError(
            409,
            "Conflict: can't use getUpdates method while webhook is active; "
            "use deleteWebhook to delete the webhook first",
        )
    limit = min(100, max(1, params.integer("limit", 100)))
    timeout = max(0.0, float(params.get("timeout", 0)))
    updates = server.take_updates(params.integer("offset", 0), limit, params.get("allowed_updates"))
    if updates or timeout == 0:
        server.mark_delivered(updates)
        return updates
    ticket = server.claim_poller()
    try:
        await server.signal.wait_until(
            lambda: not server.is_poller(ticket) or bool(server.deliverable(limit)), timeout
        )
        if not server.is_poller(ticket):
            raise ApiError(
                409,
                "Conflict: terminated by other getUpdates request; make sure that only one "
                "bot instance is running",
            )
        updates = server.deliverable(limit)
        server.mark_delivered(updates)
        return updates
    finally:
        server.release_poller(ticket)


@api("deleteWebhook")
async def delete_webhook(server: BotApiServer, params: Params) -> bool:
    if params.get("drop_pending_updates"):
        server.drop_pending_updates()
    server.webhook = {"url": ""}
    return True


@api("setWebhook")
async def set_webhook(server: BotApiServer, params: Params) -> bool:
    url = str(params.get("url", ""))
    if url and not url.startswith("https://"):
        raise bad_request("bad webhook: An HTTPS URL must be provided for webhook")
    if params.get("drop_pending_updates"):
        server.drop_pending_updates()
    server.webhook = {key: value for key, value in params.values.items() if value is not None}
    server.webhook["url"] = url
    return True


@api("getWebhookInfo")
async def get_webhook_info(server: BotApiServer, params: Params) -> Json:
    info: Json = {
        "url": server.webhook.get("url", ""),
        "has_custom_certificate": False,
        "pending_update_count": len(server.pending_updates),
    }
    for key in ("max_connections", "allowed_updates", "ip_address"):
        if key in server.webhook:
            info[key] = server.webhook[key]
    return info


@api("sendMessage")
async def send_message(server: BotApiServer, params: Params) -> Json:
    chat = server.chat(params.require("chat_id"))
    text = params.get("text", "")
    if not str(text).strip():
        raise bad_request("message text is empty")
    content = render_text(text, params.get("parse_mode"), params.get("entities"), 4096, "text")
    return new_message(server, chat, params, **content)


@api("sendPhoto")
async def send_photo(server: BotApiServer, params: Params) -> Json:
    chat = server.chat(params.require("chat_id"))
    sizes = photo_sizes(server, file_param(server, params, "photo", "photos"))
    return new_message(server, chat, params, photo=sizes, **caption(params))


@api("sendDocument")
async def send_document(server: BotApiServer, params: Params) -> Json:
    chat = server.chat(params.require("chat_id"))
    stored = file_param(server, params, "document", "documents")
    return new_message(server, chat, params, document=document_json(stored), **caption(params))


@api("sendMediaGroup")
async def send_media_group(server: BotApiServer, params: Params) -> list[Json]:
    chat = server.chat(params.require("chat_id"))
    media = params.require("media")
    if not isinstance(media, list) or not 2 <= len(media) <= 10:
        raise bad_request("wrong number of media in the album: must be 2-10 items")
    kinds = {item.get("type") for item in media if isinstance(item, dict)}
    mixed = len(kinds) > 1 and bool(kinds & {"document", "audio"})
    if mixed or not kinds <= {"photo", "video", "document", "audio"}:
        raise bad_request("wrong media types in the album")
    contents = []
    for item in media:
        stored = resolve_file(server, params, item.get("media"), f"{item['type']}s")
        if item["type"] == "photo":
            body: Any = photo_sizes(server, stored)
        else:
            body = document_json(stored)
            if item["type"] in ("video", "audio"):
                body["duration"] = int(item.get("duration", 1))
            if item["type"] == "video":
                body.update(width=int(item.get("width", 1280)), height=int(item.get("height", 720)))
        contents.append({item["type"]: body, **caption(params, item)})
    group_id = str(13000000000000000 + server.new_id())
    return [new_message(server, chat, params, media_group_id=group_id, **c) for c in contents]


@api("editMessageText")
async def edit_message_text(server: BotApiServer, params: Params) -> Json:
    message = editable(server, params)
    if "text" not in message:
        raise bad_request("there is no text in the message to edit")
    text = params.get("text", "")
    if not str(text).strip():
        raise bad_request("message text is empty")
    content = render_text(text, params.get("parse_mode"), params.get("entities"), 4096, "text")
    markup = inline_markup(params.get("reply_markup"))
    before = (message.get("text"), message.get("entities"), message.get("reply_markup"))
    if before == (content["text"], content["entities"], markup):
        raise bad_request(_NOT_MODIFIED)
    edited = {key: value for key, value in message.items() if key not in ("entities",)}
    edited.pop("reply_markup", None)  # an edit without reply_markup removes the keyboard
    edited.update({key: value for key, value in content.items() if value is not None})
    if markup:
        edited["reply_markup"] = markup
    edited["edit_date"] = server.now()
    return server.store_message(edited)


@api("editMessageReplyMarkup")
async def edit_message_reply_markup(server: BotApiServer, params: Params) -> Json:
    message = editable(server, params)
    markup = inline_markup(params.get("reply_markup"))
    if markup == message.get("reply_markup"):
        raise bad_request(_NOT_MODIFIED)
    edited = {key: value for key, value in message.items() if key != "reply_markup"}
    if markup:
        edited["reply_markup"] = markup
    edited["edit_date"] = server.now()
    return server.store_message(edited)


@api("deleteMessage")
async def delete_message(server: BotApiServer, params: Params) -> bool:
    chat = server.chat(params.require("chat_id"))
    if not server.forget_message(chat["id"], params.integer("message_id", required=True)):
        raise bad_request("message to delete not found")
    return True


@api("answerCallbackQuery")
async def answer_callback_query(server: BotApiServer, params: Params) -> bool:
    query_id = str(params.require("callback_query_id"))
    if query_id not in server.open_queries or query_id in server.answered_queries:
        raise bad_request(_QUERY_INVALID)
    if len(str(params.get("text", ""))) > 200:
        raise bad_request("MESSAGE_TOO_LONG")
    server.answered_queries.add(query_id)
    return True


@api("getFile")
async def get_file(server: BotApiServer, params: Params) -> Json:
    stored = server.files.get(str(params.require("file_id")))
    if stored is None:
        raise bad_request("invalid file_id")
    return stored.as_file()


def _commands_scope(params: Params) -> tuple[str, str]:
    from bot.botapi.server import commands_key

    scope = params.get("scope")
    if isinstance(scope, str):
        scope = json.loads(scope)
    language = params.get("language_code")
    if language and not re.fullmatch(r"[a-z]{2}", str(language)):
        raise bad_request("invalid language code specified")
    return commands_key(scope, language)


@api("setMyCommands")
async def set_my_commands(server: BotApiServer, params: Params) -> bool:
    commands = params.get("commands")
    if not isinstance(commands, list) or len(commands) > 100:
        raise bad_request("commands must be an array of at most 100 BotCommand")
    for command in commands:
        if not re.fullmatch(r"[a-z0-9_]{1,32}", str(command.get("command", ""))):
            raise bad_request("BOT_COMMAND_INVALID")
        if not 1 <= len(str(command.get("description", "")).strip()) <= 256:
            raise bad_request("BOT_COMMAND_DESCRIPTION_INVALID")
    key = _commands_scope(params)
    if commands:
        server.my_commands[key] = [
            {"command": c["command"], "description": c["description"]} for c in commands
        ]
    else:
        server.my_commands.pop(key, None)
    return True


@api("deleteMyCommands")
async def delete_my_commands(server: BotApiServer, params: Params) -> bool:
    server.my_commands.pop(_commands_scope(params), None)
    return True


@api("getMyCommands")
async def get_my_commands(server: BotApiServer, params: Params) -> list[Json]:
    return list(server.my_commands.get(_commands_scope(params), []))


@api("sendChatAction")
async def send_chat_action(server: BotApiServer, params: Params) -> bool:
    server.chat(params.require("chat_id"))
    if params.get("action") not in _CHAT_ACTIONS:
        raise bad_request("wrong parameter action in request")
    return True
