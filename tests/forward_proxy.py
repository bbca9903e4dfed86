"""A small forward HTTP proxy for tests: it takes absolute-URI requests
(``GET http://host:port/path HTTP/1.1``, what an HTTP client sends to a proxy for a
plain-http address), checks ``Proxy-Authorization`` when it has credentials (407
otherwise), forwards the request and records it. ``CONNECT`` (tunnels for https) is
refused: the Bot API test server is plain http on loopback.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import httpx

from bot.botapi.http import _Connection, read_request

# Headers about this hop only (RFC 9110 7.6.1), never forwarded.
_HOP = {
    "connection",
    "keep-alive",
    "proxy-authorization",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "content-length",
}


@dataclass
class ProxiedRequest:
    verb: str
    url: str
    status: int

    @property
    def api_method(self) -> str:
        """``getMe`` for ``…/bot<token>/getMe``; ``download`` for ``…/file/bot<token>/…``."""
        path = urlsplit(self.url).path
        if path.startswith("/file/"):
            return "download"
        return path.rsplit("/", 1)[-1]


@dataclass
class ForwardProxy:
    username: str | None = None
    password: str | None = None
    requests: list[ProxiedRequest] = field(default_factory=list)
    refused: int = 0  # requests without the right Proxy-Authorization

    def _authorised(self, headers: dict[str, str]) -> bool:
        if self.username is None:
            return True
        expected = base64.b64encode(f"{self.username}:{self.password}".encode()).decode()
        return headers.get("proxy-authorization", "") == f"Basic {expected}"

    async def _serve(
        self, client: httpx.AsyncClient, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        conn = _Connection(reader)
        while True:
            request = await read_request(conn)
            if request is None:
                return
            verb, target, _version, headers, body = request
            if verb == "CONNECT" or not target.startswith("http://"):
                status, kind, content, extra = 405, "text/plain", b"absolute http only\n", ""
            elif not self._authorised(headers):
                self.refused += 1
                status, kind, content = 407, "text/plain", b"proxy authentication required\n"
                extra = 'Proxy-Authenticate: Basic realm="test"\r\n'
            else:
                forwarded = {k: v for k, v in headers.items() if k not in _HOP}
                answer = await client.request(verb, target, headers=forwarded, content=body)
                status, kind, content = (
                    answer.status_code,
                    answer.headers.get("content-type", "application/octet-stream"),
                    answer.content,
                )
                extra = ""
                self.requests.append(ProxiedRequest(verb, target, status))
            writer.write(
                (
                    f"HTTP/1.1 {status} Proxied\r\n"
                    f"Content-Type: {kind}\r\n{extra}"
                    f"Content-Length: {len(content)}\r\n\r\n"
                ).encode("latin-1")
                + content
            )
            await writer.drain()

    @contextlib.asynccontextmanager
    async def serve(self) -> AsyncIterator[str]:
        """Listen on a free loopback port; yields the proxy's address ``http://127.0.0.1:PORT``
        (without credentials)."""
        connections: set[asyncio.Task[None]] = set()
        async with httpx.AsyncClient(trust_env=False, timeout=None) as client:

            async def on_connection(
                reader: asyncio.StreamReader, writer: asyncio.StreamWriter
            ) -> None:
                task = asyncio.current_task()
                assert task is not None
                connections.add(task)
                try:
                    await self._serve(client, reader, writer)
                except (ConnectionError, asyncio.CancelledError, httpx.HTTPError):
                    pass
                finally:
                    connections.discard(task)
                    writer.close()

            listener = await asyncio.start_server(on_connection, "127.0.0.1", 0)
            port = listener.sockets[0].getsockname()[1]
            try:
                yield f"http://127.0.0.1:{port}"
            finally:
                listener.close()
                for task in list(connections):
                    task.cancel()
                await asyncio.gather(*connections, return_exceptions=True)
                await listener.wait_closed()
