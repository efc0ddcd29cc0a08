"""A real HTTP receiver on loopback for the delivery tests: a raw asyncio server in the test's event loop
that records every request and answers as scripted (status codes in turn, a delay, a redirect)."""

from __future__ import annotations

import asyncio
import socket
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Received:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Receiver:
    statuses: list[int] = field(default_factory=lambda: [200])  # answered in turn; the last one repeats
    delay: float = 0.0
    location: str | None = None  # sent with a 3xx
    requests: list[Received] = field(default_factory=list)
    arrived: asyncio.Event = field(default_factory=asyncio.Event)  # set at each request
    _server: Any = None

    @property
    def url(self) -> str:
        host, port = self._server.sockets[0].getsockname()[:2]
        return f"http://{host}:{port}/hooks"

    @property
    def port(self) -> int:
        return int(self._server.sockets[0].getsockname()[1])

    async def start(self) -> Receiver:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        return self

    async def stop(self) -> None:
        self._server.close()
        await self._server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                request_line = await reader.readline()
                if not request_line:
                    return
                method, path, _ = request_line.decode().split(" ", 2)
                headers: dict[str, str] = {}
                while (line := await reader.readline()) not in (b"\r\n", b""):
                    name, _, value = line.decode().partition(":")
                    headers[name.strip().lower()] = value.strip()
                body = await reader.readexactly(int(headers.get("content-length", "0")))
                self.requests.append(Received(method, path, headers, body))
                self.arrived.set()
                status = self.statuses[min(len(self.requests), len(self.statuses)) - 1]
                if self.delay:
                    await asyncio.sleep(self.delay)
                extra = f"location: {self.location}\r\n" if self.location else ""
                writer.write(f"HTTP/1.1 {status} X\r\ncontent-length: 2\r\n{extra}\r\nok".encode())
                await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.CancelledError):
            return  # the client went away, or the server is stopping with a kept-alive connection open
        finally:
            writer.close()


def closed_port() -> int:
    """A loopback port nothing listens on."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class DeadReceiver:
    """A receiver that is up and never answers: it accepts each request, reads it and waits for the sender
    to give up (its timeout) and hang up. Counts the attempts that reached it."""

    arrivals: int = 0
    _arrived: asyncio.Event = field(default_factory=asyncio.Event)
    _server: Any = None

    def url(self, path: str = "dead") -> str:
        host, port = self._server.sockets[0].getsockname()[:2]
        return f"http://{host}:{port}/{path}"

    async def start(self) -> DeadReceiver:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        return self

    async def stop(self) -> None:
        self._server.close()
        await self._server.wait_closed()

    async def until_arrivals(self, count: int) -> None:
        while self.arrivals < count:
            self._arrived.clear()
            await self._arrived.wait()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.arrivals += 1
        self._arrived.set()
        try:
            await reader.read()  # whatever comes, until the sender hangs up
        except (ConnectionError, asyncio.CancelledError):
            return
        finally:
            writer.close()
