"""A small round-robin HTTP proxy in front of several ``gridbot run --webhook`` processes
(the load balancer of a deployment with several bot processes), for the multi-process
test and ``bench/load.py --processes``."""

from __future__ import annotations

import asyncio
import contextlib
import socket

import httpx


class RoundRobin:
    """The load balancer: each POST goes to the next process in turn; one that does not
    answer (down, or killed while answering) is skipped for the next; 502 if none
    answers. It keeps the path, the body and the secret header."""

    def __init__(self, ports: list[int]) -> None:
        self.ports = ports
        self.turn = 0
        self.client = httpx.AsyncClient(timeout=15)
        self.server: asyncio.Server | None = None
        self.sent: dict[int, int] = {}  # port -> requests answered 2xx

    async def start(self) -> str:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        port = self.server.sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}"

    async def close(self) -> None:
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()
        await self.client.aclose()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            request = (await reader.readline()).decode().split()
            headers: dict[str, str] = {}
            while (line := (await reader.readline()).decode().strip()) != "":
                name, _, value = line.partition(":")
                headers[name.strip().lower()] = value.strip()
            body = await reader.readexactly(int(headers.get("content-length", "0")))
            status = await self._forward(request[1], body, headers)
            writer.write(
                f"HTTP/1.1 {status} X\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".encode()
            )
            await writer.drain()
        finally:
            writer.close()

    async def _forward(self, path: str, body: bytes, headers: dict[str, str]) -> int:
        forwarded = {
            "Content-Type": headers.get("content-type", "application/json"),
            "X-Telegram-Bot-Api-Secret-Token": headers.get("x-telegram-bot-api-secret-token", ""),
        }
        for _ in range(len(self.ports)):
            port = self.ports[self.turn % len(self.ports)]
            self.turn += 1
            try:
                answer = await self.client.post(
                    f"http://127.0.0.1:{port}{path}", content=body, headers=forwarded
                )
            except httpx.HTTPError:
                continue
            if 200 <= answer.status_code < 300:
                self.sent[port] = self.sent.get(port, 0) + 1
                return answer.status_code
        return 502


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def serving(port: int, timeout: float = 60) -> None:
    """Until the process answers on its port (anything: it is up)."""
    async with asyncio.timeout(timeout), httpx.AsyncClient(timeout=2) as client:
        while True:
            with contextlib.suppress(httpx.HTTPError):
                await client.get(f"http://127.0.0.1:{port}/gridbot/hook")
                return
            await asyncio.sleep(0.1)
