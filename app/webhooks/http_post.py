"""The HTTP/1.1 client of webhook deliveries: h11 over asyncio streams, with a pool of kept-alive connections.

Deliveries need one thing of a client: POST a body to an address already checked (url_guard) and read the
status back, with a pool, TLS and nothing else (no redirects, no proxies, no cookies). httpx did it for 1.2
to 1.8 ms of event-loop CPU per POST on loopback, and h11 on asyncio streams for 0.2 to 0.3 ms
(`scripts/bench_http_post.py`). The inline worker runs on the API's own loop, so that time comes out of
the requests' (docs/benchmarks.md, issue #11). h11 parses and frames both ways; this module pools
connections.

The caller bounds an attempt's time (asyncio.timeout around `post`); errors come out as `PostError`s named
after what failed (ConnectError, WriteError, ReadError, RemoteProtocolError), the words of the delivery log.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import time
from collections import OrderedDict, deque
from collections.abc import Iterable
from dataclasses import dataclass
from typing import NamedTuple

import certifi
import h11

READ_CHUNK = 65_536
KEEPALIVE_SECONDS = 5.0  # an idle connection older than this is closed, not reused (servers drop them)
MAX_BODY_READ = 1_048_576  # bytes of a response body read to keep the connection; beyond, it is closed


class PostError(Exception):
    """A POST that got no complete answer; the class name says which part failed."""


class ConnectError(PostError):
    pass


class WriteError(PostError):
    pass


class ReadError(PostError):
    pass


class RemoteProtocolError(PostError):
    pass


class Origin(NamedTuple):
    """Where a connection goes: the checked address, and the name TLS verifies (None: plain HTTP)."""

    address: str
    port: int
    tls_name: str | None


@dataclass(frozen=True)
class Reply:
    status: int
    location: str | None


class _Connection:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.h11 = h11.Connection(h11.CLIENT)
        self.idle_since = time.monotonic()
        self.loop = asyncio.get_running_loop()

    def reusable(self) -> bool:
        """Idle, not expired, of this event loop, and not closed by the server meanwhile (its EOF would be
        read already)."""
        fresh = time.monotonic() - self.idle_since < KEEPALIVE_SECONDS
        alive = not self.reader.at_eof() and not self.writer.is_closing()
        return fresh and alive and self.loop is asyncio.get_running_loop()

    def close(self) -> None:
        self.writer.close()


def default_tls_context() -> ssl.SSLContext:
    return ssl.create_default_context(cafile=certifi.where())


class Poster:
    """POSTs over pooled connections: at most `max_connections` open at once (a POST waits for a slot), and
    at most `max_idle` kept for reuse."""

    def __init__(
        self, *, max_connections: int, max_idle: int, tls_context: ssl.SSLContext | None = None
    ) -> None:
        self._slots = asyncio.BoundedSemaphore(max_connections)
        self._max_idle = max_idle
        self._tls = tls_context
        self._idle: OrderedDict[Origin, deque[_Connection]] = OrderedDict()
        self._idle_count = 0

    async def post(self, origin: Origin, target: str, headers: list[tuple[str, str]], body: bytes) -> Reply:
        """POST `body` to `target` (path and query) at `origin`. A kept-alive connection that fails before any
        byte of the answer is replaced once by a new one (the server closed it as we sent: nothing was
        answered, and a webhook is at-least-once anyway)."""
        request = h11.Request(
            method="POST",
            target=target,
            headers=[*headers, ("content-length", str(len(body)))],
        )
        await asyncio.sleep(0)  # building the request (h11 validates every header) and sending it: two steps
        async with self._slots:
            connection = self._take_idle(origin)
            if connection is not None:
                try:
                    return await self._exchange(origin, connection, request, body)
                except _NothingAnswered:
                    pass
            connection = await self._connect(origin)
            try:
                return await self._exchange(origin, connection, request, body)
            except _NothingAnswered as failed:
                raise failed.error from None

    async def aclose(self) -> None:
        for connections in self._idle.values():
            for connection in connections:
                connection.close()
        self._idle.clear()
        self._idle_count = 0

    def _take_idle(self, origin: Origin) -> _Connection | None:
        connections = self._idle.get(origin)
        while connections:
            connection = connections.pop()
            self._idle_count -= 1
            if connection.reusable():
                return connection
            if connection.loop is asyncio.get_running_loop():  # one of a closed loop cannot be closed
                connection.close()
        return None

    def _keep(self, origin: Origin, connection: _Connection) -> None:
        connection.idle_since = time.monotonic()
        self._idle.setdefault(origin, deque()).append(connection)
        self._idle.move_to_end(origin)
        self._idle_count += 1
        while self._idle_count > self._max_idle:  # the origin idle the longest gives one up
            oldest_origin, oldest = next(iter(self._idle.items()))
            oldest.popleft().close()
            self._idle_count -= 1
            if not oldest:
                del self._idle[oldest_origin]

    async def _connect(self, origin: Origin) -> _Connection:
        tls = None
        if origin.tls_name is not None:
            tls = self._tls or default_tls_context()
        try:
            reader, writer = await asyncio.open_connection(
                origin.address,
                origin.port,
                ssl=tls,
                server_hostname=origin.tls_name if tls is not None else None,
                limit=READ_CHUNK,
            )
        except (OSError, ssl.SSLError) as exc:
            raise ConnectError(str(exc) or type(exc).__name__) from None
        return _Connection(reader, writer)

    async def _exchange(
        self, origin: Origin, connection: _Connection, request: h11.Request, body: bytes
    ) -> Reply:
        """One request and its whole answer on `connection`, which goes back to the pool when both sides
        may go on, and is closed otherwise (also when this is cancelled: the caller's timeout)."""
        kept = False
        answered = False
        try:
            h = connection.h11
            try:
                connection.writer.write(
                    h.send(request) + h.send(h11.Data(data=body)) + h.send(h11.EndOfMessage())
                )
                await connection.writer.drain()
            except OSError as exc:
                raise _NothingAnswered(WriteError(str(exc) or type(exc).__name__)) from None
            reply: Reply | None = None
            body_read = 0
            while True:
                try:
                    event = h.next_event()
                    if event is h11.NEED_DATA:
                        data = await connection.reader.read(READ_CHUNK)
                        if not data and not answered:
                            raise _NothingAnswered(
                                RemoteProtocolError("the server closed the connection without answering")
                            )
                        # b"" is the EOF, which h11 judges (the end of the body, or an error)
                        h.receive_data(data)
                        continue
                except h11.RemoteProtocolError as exc:
                    text = str(exc) or "the server broke the HTTP/1.1 protocol"
                    error: PostError = RemoteProtocolError(text)
                    raise (error if answered else _NothingAnswered(error)) from None
                except OSError as exc:
                    error = ReadError(str(exc) or type(exc).__name__)
                    raise (error if answered else _NothingAnswered(error)) from None
                answered = True
                if isinstance(event, h11.Response):
                    reply = Reply(status=event.status_code, location=_header(event.headers, b"location"))
                    if _body_runs_until_close(event):
                        return reply  # its end is the server's close, which may never come: not waited for
                elif isinstance(event, h11.Data):
                    body_read += len(event.data)
                    if body_read > MAX_BODY_READ:
                        return _answered(reply)  # not worth reading on: the connection is closed below
                elif isinstance(event, h11.EndOfMessage):
                    break
                elif isinstance(event, h11.ConnectionClosed):
                    raise RemoteProtocolError("the server closed the connection mid-answer")
            if h.our_state is h11.DONE and h.their_state is h11.DONE:
                h.start_next_cycle()
                self._keep(origin, connection)
                kept = True
            return _answered(reply)
        finally:
            if not kept:
                connection.close()


class _NothingAnswered(Exception):
    """The connection failed before any byte of an answer (on a reused one: worth one new connection)."""

    def __init__(self, error: PostError) -> None:
        self.error = error


def _answered(reply: Reply | None) -> Reply:
    if reply is None:  # h11 yields the Response before any Data or EndOfMessage
        raise RemoteProtocolError("no response line")
    return reply


def _body_runs_until_close(response: h11.Response) -> bool:
    """An answer without Content-Length or Transfer-Encoding whose status allows a body: HTTP/1.1 delimits
    its body by the end of the connection."""
    if response.status_code in (204, 304):
        return False
    names = {name for name, _ in response.headers}
    return b"content-length" not in names and b"transfer-encoding" not in names


def _header(headers: Iterable[tuple[bytes, bytes]], name: bytes) -> str | None:
    for key, value in headers:
        if key == name:
            with contextlib.suppress(UnicodeDecodeError):
                return value.decode("latin-1")
    return None
