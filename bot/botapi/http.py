"""The test server on real loopback HTTP/1.1 (for a bot running as a separate process).

A small asyncio server: keep-alive connections, ``Content-Length`` or chunked request
bodies, one request at a time per connection. A client that disconnects during a long
poll cancels that ``getUpdates``; closing the server cancels every connection.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from http import HTTPStatus
from typing import TYPE_CHECKING

from bot.botapi.transport import handle_request

if TYPE_CHECKING:
    from bot.botapi.server import BotApiServer

_MAX_HEAD = 64 * 1024


class _Connection:
    """A buffered reader over one client connection."""

    def __init__(self, reader: asyncio.StreamReader) -> None:
        self.reader = reader
        self.buffer = bytearray()

    async def fill(self) -> bool:
        """Read more bytes into the buffer; False at end of stream."""
        try:
            chunk = await self.reader.read(65536)
        except ConnectionError:
            return False
        self.buffer += chunk
        return bool(chunk)

    async def read_until(self, marker: bytes) -> bytes | None:
        """Bytes up to and including ``marker``; None if the stream ends first."""
        while (end := self.buffer.find(marker)) < 0:
            if len(self.buffer) > _MAX_HEAD or not await self.fill():
                return None
        data = bytes(self.buffer[: end + len(marker)])
        del self.buffer[: end + len(marker)]
        return data

    async def read_exactly(self, size: int) -> bytes | None:
        """Exactly ``size`` bytes; None if the stream ends first."""
        while len(self.buffer) < size:
            if not await self.fill():
                return None
        data = bytes(self.buffer[:size])
        del self.buffer[:size]
        return data

    async def read_chunked(self) -> bytes | None:
        """A ``Transfer-Encoding: chunked`` body."""
        body = bytearray()
        while True:
            line = await self.read_until(b"\r\n")
            if line is None:
                return None
            size = int(line.split(b";", 1)[0].strip() or b"0", 16)
            if size == 0:
                await self.read_until(b"\r\n")  # trailer end (no trailers from httpx)
                return bytes(body)
            chunk = await self.read_exactly(size + 2)
            if chunk is None:
                return None
            body += chunk[:-2]


async def read_request(
    conn: _Connection,
) -> tuple[str, str, str, dict[str, str], bytes] | None:
    """The next HTTP/1.1 request on a connection: verb, target, version, headers (names
    lower-cased) and body (by Content-Length or chunked); None when the client is gone or
    the request line is not one."""
    head = await conn.read_until(b"\r\n\r\n")
    if head is None:
        return None
    request_line, *header_lines = head.decode("latin-1").split("\r\n")
    try:
        verb, target, version = request_line.split(" ", 2)
    except ValueError:
        return None
    headers: dict[str, str] = {}
    for line in header_lines:
        if ":" in line:
            key, _, value = line.partition(":")
            headers[key.strip().lower()] = value.strip()
    if "chunked" in headers.get("transfer-encoding", "").lower():
        body = await conn.read_chunked()
    else:
        body = await conn.read_exactly(int(headers.get("content-length", "0") or 0))
    if body is None:
        return None
    return verb, target, version, headers, body


async def _answer_unless_gone(
    server: BotApiServer,
    conn: _Connection,
    verb: str,
    target: str,
    headers: dict[str, str],
    body: bytes,
) -> tuple[int, str, bytes] | None:
    """Run the request; None (request cancelled) if the client hangs up meanwhile."""
    work = asyncio.ensure_future(handle_request(server, target, headers, body, verb))
    watch = asyncio.ensure_future(conn.fill())
    try:
        await asyncio.wait({work, watch}, return_when=asyncio.FIRST_COMPLETED)
        if not work.done() and watch.done() and not watch.result():
            work.cancel()
            return None
        return await work  # the client sent more (pipelining): just finish this request
    finally:
        for task in (work, watch):
            task.cancel()
        await asyncio.gather(work, watch, return_exceptions=True)


async def _serve_connection(
    server: BotApiServer, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
) -> None:
    conn = _Connection(reader)
    while True:
        request = await read_request(conn)
        if request is None:
            return
        verb, target, version, headers, body = request
        answer = await _answer_unless_gone(server, conn, verb, target, headers, body)
        if answer is None:
            return
        status, kind, content = answer
        keep_alive = version == "HTTP/1.1" and headers.get("connection", "").lower() != "close"
        try:
            reason = HTTPStatus(status).phrase
        except ValueError:
            reason = "Unknown"
        writer.write(
            (
                f"HTTP/1.1 {status} {reason}\r\n"
                f"Content-Type: {kind}\r\n"
                f"Content-Length: {len(content)}\r\n"
                f"Connection: {'keep-alive' if keep_alive else 'close'}\r\n\r\n"
            ).encode("latin-1")
            + (b"" if verb == "HEAD" else content)
        )
        await writer.drain()
        if not keep_alive:
            return


@contextlib.asynccontextmanager
async def serve_http(
    server: BotApiServer, host: str = "127.0.0.1", port: int = 0
) -> AsyncIterator[str]:
    """Serve ``server`` on ``host:port`` (0 = a free port); yields ``http://host:port``.

    Point PTB at it with ``base_url=f"{url}/bot"`` and ``base_file_url=f"{url}/file/bot"``.
    """
    connections: set[asyncio.Task[None]] = set()

    async def on_connection(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        connections.add(task)
        try:
            await _serve_connection(server, reader, writer)
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            connections.discard(task)
            writer.close()
            with contextlib.suppress(Exception, asyncio.CancelledError):
                await writer.wait_closed()

    listener = await asyncio.start_server(on_connection, host, port)
    bound_port = listener.sockets[0].getsockname()[1]
    try:
        yield f"http://{host}:{bound_port}"
    finally:
        listener.close()
        for task in list(connections):
            task.cancel()
        await asyncio.gather(*connections, return_exceptions=True)
        await listener.wait_closed()
