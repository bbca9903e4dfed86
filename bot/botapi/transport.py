"""From HTTP requests to ``BotApiServer.dispatch``: body decoding, routing, httpx transport.

PTB sends every parameter as a form field (``application/x-www-form-urlencoded``, or
``multipart/form-data`` when a file is uploaded). String values go as they are; every
other value (ints, bools, lists, dicts) is JSON-encoded. So ``chat_id=123`` and
``text=123`` look alike on the wire: fields the Bot API types as strings are kept as
strings, the rest are JSON-decoded when possible. JSON bodies are taken as they are.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, unquote, urlsplit

import httpx

from bot.botapi.records import Upload

if TYPE_CHECKING:
    from bot.botapi.server import BotApiServer

Json = dict[str, Any]

#: Parameters the Bot API types as String (or file id / URL): never JSON-decoded.
STRING_PARAMS = frozenset(
    {
        "text",
        "caption",
        "parse_mode",
        "callback_query_id",
        "inline_message_id",
        "file_id",
        "url",
        "action",
        "language_code",
        "secret_token",
        "ip_address",
        "business_connection_id",
        "message_effect_id",
        "title",
        "description",
        "short_description",
        "name",
        "emoji",
        "question",
        "explanation",
        "payload",
        "vcard",
        "first_name",
        "last_name",
        "phone_number",
        "address",
        "photo",
        "document",
        "audio",
        "video",
        "voice",
        "animation",
        "video_note",
        "sticker",
        "thumbnail",
    }
)

_HTML5_ESCAPES = re.compile(r"%(22|[01][0-9A-F])")


def decode_value(name: str, raw: str) -> Any:
    """One form field as the value PTB meant (see the module docstring)."""
    if name in STRING_PARAMS:
        return raw
    try:
        return json.loads(raw)
    except ValueError:
        return raw


def decode_fields(fields: Mapping[str, str]) -> Json:
    """Decode all form fields of a request."""
    return {name: decode_value(name, raw) for name, raw in fields.items()}


def _disposition_params(header: str) -> dict[str, str]:
    params = {}
    for match in re.finditer(r';\s*([\w*-]+)="((?:[^"\\]|\\.)*)"', header):
        value = _HTML5_ESCAPES.sub(lambda m: chr(int(m.group(1), 16)), match.group(2))
        params[match.group(1).lower()] = value.replace("\\\\", "\\")
    return params


def parse_multipart(content_type: str, body: bytes) -> tuple[dict[str, str], dict[str, Upload]]:
    """Split ``multipart/form-data`` into text fields and file parts (those with a filename)."""
    match = re.search(r'boundary="?([^";]+)"?', content_type)
    if match is None:
        raise ValueError("multipart body without boundary")
    delimiter = b"--" + match.group(1).encode("latin-1")
    fields: dict[str, str] = {}
    files: dict[str, Upload] = {}
    for chunk in body.split(delimiter)[1:]:
        if chunk.startswith(b"--"):
            break
        head, _, content = chunk.removeprefix(b"\r\n").partition(b"\r\n\r\n")
        content = content.removesuffix(b"\r\n")
        headers = {}
        for line in head.decode("utf-8", "replace").split("\r\n"):
            key, _, value = line.partition(":")
            headers[key.strip().lower()] = value.strip()
        disposition = _disposition_params(headers.get("content-disposition", ""))
        name = disposition.get("name", "")
        if "filename" in disposition:
            mime = headers.get("content-type")
            files[name] = Upload(content, disposition["filename"], mime)
        else:
            fields[name] = content.decode("utf-8")
    return fields, files


def parse_body(content_type: str, body: bytes) -> tuple[Json, dict[str, Upload]]:
    """Decoded params and uploaded files of a request body of any of PTB's formats."""
    kind = content_type.split(";", 1)[0].strip().lower()
    if not body:
        return {}, {}
    if kind == "application/json":
        loaded = json.loads(body)
        return (loaded if isinstance(loaded, dict) else {}), {}
    if kind == "multipart/form-data":
        fields, files = parse_multipart(content_type, body)
        return decode_fields(fields), files
    fields = dict(parse_qsl(body.decode("utf-8"), keep_blank_values=True))
    return decode_fields(fields), {}


def _json_response(status: int, body: Json) -> tuple[int, str, bytes]:
    try:
        content = json.dumps(body, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:  # an unpaired surrogate: sent as a \uXXXX escape
        content = json.dumps(body).encode("ascii")
    return status, "application/json", content


async def handle_request(
    server: BotApiServer,
    target: str,
    headers: Mapping[str, str],
    body: bytes,
    verb: str = "POST",
) -> tuple[int, str, bytes]:
    """Route one HTTP request: ``/bot<token>/<method>`` or ``/file/bot<token>/<path>``
    (the Bot API, any verb), or anything else to the web chat (``bot.botapi.web``).

    Returns status, content type and body. Shared by the httpx transport and the
    loopback HTTP server, so both modes behave the same.
    """
    url = urlsplit(target)
    path = unquote(url.path)
    if not path.startswith("/bot") and not path.startswith("/file/bot"):
        from bot.botapi.web import handle_web

        return await handle_web(server, verb, url.path, url.query, headers, body)
    if path.startswith("/file/bot"):
        token, _, file_path = path.removeprefix("/file/bot").partition("/")
        status, content = server.download(token, file_path)
        kind = "application/octet-stream" if status == 200 else "application/json"
        return status, kind, content
    if not path.startswith("/bot") or path.count("/") != 2:
        return _json_response(404, {"ok": False, "error_code": 404, "description": "Not Found"})
    token, _, method = path.removeprefix("/bot").partition("/")
    try:
        params, files = parse_body(headers.get("content-type", ""), body)
    except (ValueError, UnicodeDecodeError) as error:
        description = f"Bad Request: can't parse the request body: {error}"
        return _json_response(400, {"ok": False, "error_code": 400, "description": description})
    query = decode_fields(dict(parse_qsl(url.query, keep_blank_values=True)))
    status, answer = await server.dispatch(method, token, {**query, **params}, files)
    return _json_response(status, answer)


class BotApiTransport(httpx.AsyncBaseTransport):
    """An httpx transport answering from a :class:`BotApiServer` in this process.

    It honours the request's read timeout (PTB's long-poll timeout included) by raising
    ``httpx.ReadTimeout``, like a real connection would, so ``delay_next`` can make PTB
    see ``TimedOut``.
    """

    def __init__(self, server: BotApiServer) -> None:
        self.server = server

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        """Answer one request by calling the server's dispatch core."""
        body = await request.aread()
        read_timeout = (request.extensions.get("timeout") or {}).get("read")
        target = request.url.raw_path.decode("ascii")
        try:
            async with asyncio.timeout(read_timeout):
                status, kind, content = await handle_request(
                    self.server, target, request.headers, body, request.method
                )
        except TimeoutError as error:
            message = "the test server did not answer in time"
            raise httpx.ReadTimeout(message, request=request) from error
        return httpx.Response(status, headers={"content-type": kind}, content=content)
