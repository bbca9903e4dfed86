"""Carrying requests to ``BotApiServer.dispatch``: in-process (an httpx transport) or over
real loopback HTTP (a small asyncio HTTP/1.1 server with keep-alive)."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from email.parser import BytesParser
from email.policy import HTTP
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import httpx

from tests.fakeapi.server import BotApiServer

# Bot API parameters that are text even when they look like JSON ("123", "true").
_TEXT_PARAMS = {
    "text",
    "caption",
    "callback_query_id",
    "language_code",
    "file_id",
    "parse_mode",
    "secret_token",
    "url",
    "action",
    "file_name",
    "title",
    "description",
}


def _value(key: str, raw: str) -> Any:
    if key in _TEXT_PARAMS:
        return raw
    try:
        return json.loads(raw)
    except ValueError:
        return raw


def parse_body(content_type: str, body: bytes) -> tuple[dict[str, Any], dict[str, bytes]]:
    """Parameters and uploaded files, the way python-telegram-bot encodes them."""
    kind = content_type.split(";")[0].strip().lower()
    if not body:
        return {}, {}
    if kind == "application/json":
        return json.loads(body), {}
    if kind == "multipart/form-data":
        message = BytesParser(policy=HTTP).parsebytes(
            f"Content-Type: {content_type}\r\n\r\n".encode() + body
        )
        params: dict[str, Any] = {}
        files: dict[str, bytes] = {}
        for part in message.iter_parts():
            name = part.get_param("name", header="content-disposition")
            payload = part.get_payload(decode=True) or b""
            if part.get_filename() is not None:
                files[str(name)] = payload
            else:
                params[str(name)] = _value(str(name), payload.decode())
        return params, files
    pairs = parse_qsl(body.decode(), keep_blank_values=True)
    return {key: _value(key, value) for key, value in pairs}, {}


async def handle(
    server: BotApiServer, verb: str, path: str, content_type: str, body: bytes
) -> tuple[int, str, bytes]:
    """One HTTP request → (status, content type, body)."""
    if path.startswith("/file/bot"):
        token, _, file_path = path.removeprefix("/file/bot").partition("/")
        status, data = server.download(token, file_path)
        return status, "application/octet-stream", data
    if not path.startswith("/bot") or "/" not in path[4:]:
        return 404, "application/json", b'{"ok":false,"error_code":404,"description":"Not Found"}'
    token, _, method = path[4:].partition("/")
    params, files = parse_body(content_type, body)
    status, answer = await server.dispatch(method, token, params, files)
    return status, "application/json", json.dumps(answer, ensure_ascii=False).encode()


class FakeTransport(httpx.AsyncBaseTransport):
    """Hand every request straight to the server, in this process and event loop."""

    def __init__(self, server: BotApiServer) -> None:
        self.server = server

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        body = await request.aread()
        status, kind, data = await handle(
            self.server,
            request.method,
            request.url.path,
            request.headers.get("content-type", ""),
            body,
        )
        return httpx.Response(status, headers={"content-type": kind}, content=data)


@contextlib.asynccontextmanager
async def serve_http(server: BotApiServer, host: str = "127.0.0.1") -> AsyncIterator[str]:
    """Serve ``server`` on a free loopback port; yields its root URL."""
    connections: set[asyncio.Task[None]] = set()

    async def on_connect(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        connections.add(task)
        try:
            while await _one_request(server, reader, writer):
                pass
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.CancelledError):
            pass  # the client went away, or the server is closing
        finally:
            connections.discard(task)
            writer.close()

    listener = await asyncio.start_server(on_connect, host, 0)
    port = listener.sockets[0].getsockname()[1]
    try:
        yield f"http://{host}:{port}"
    finally:
        listener.close()
        for task in list(connections):
            task.cancel()
        await asyncio.gather(*connections, return_exceptions=True)
        await listener.wait_closed()


async def _one_request(
    server: BotApiServer, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
) -> bool:
    line = await reader.readline()
    if not line:
        return False
    verb, target, _version = line.decode("latin-1").split(" ", 2)
    headers: dict[str, str] = {}
    while True:
        header = await reader.readline()
        if header in (b"\r\n", b"\n", b""):
            break
        key, _, value = header.decode("latin-1").partition(":")
        headers[key.strip().lower()] = value.strip()
    length = int(headers.get("content-length", "0"))
    body = await reader.readexactly(length) if length else b""
    status, kind, data = await handle(
        server, verb, urlsplit(target).path, headers.get("content-type", ""), body
    )
    writer.write(
        f"HTTP/1.1 {status} {'OK' if status == 200 else 'Error'}\r\n"
        f"Content-Type: {kind}\r\nContent-Length: {len(data)}\r\n"
        "Connection: keep-alive\r\n\r\n".encode()
        + data
    )
    await writer.drain()
    return headers.get("connection", "").lower() != "close"
