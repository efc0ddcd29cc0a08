"""The deliveries' HTTP client (h11 over asyncio streams) against real servers on loopback: kept-alive
connections, what a server may do to them, the pool's bounds, and TLS verified against a CA of the test's own
(trustme)."""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
import trustme

from app.webhooks import http_post
from app.webhooks.http_post import ConnectError, Origin, Poster, RemoteProtocolError
from tests.webhooks.receiver import closed_port

Script = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]
OK = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok"


class Server:
    """A raw loopback server running `script` on each connection; counts connections and requests."""

    def __init__(self, script: Script, tls: ssl.SSLContext | None = None) -> None:
        self.script = script
        self.tls = tls
        self.connections = 0
        self.open_now = 0
        self.most_open = 0
        self.requests: list[bytes] = []

    async def __aenter__(self) -> Server:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0, ssl=self.tls)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: Any) -> None:
        self._server.close()

    def origin(self, tls_name: str | None = None) -> Origin:
        return Origin("127.0.0.1", self.port, tls_name)

    async def read_request(self, reader: asyncio.StreamReader) -> bool:
        head = await reader.readuntil(b"\r\n\r\n") if not reader.at_eof() else b""
        if not head:
            return False
        length = 0
        for line in head.split(b"\r\n"):
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        self.requests.append(head + await reader.readexactly(length))
        return True

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        self.open_now += 1
        self.most_open = max(self.most_open, self.open_now)
        try:
            await self.script(reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            self.open_now -= 1
            writer.close()


def answering(*answers: bytes, delay: float = 0.0) -> Callable[[Server], Script]:
    """A script answering each request on a connection in turn (the last answer repeats)."""

    def script_for(server: Server) -> Script:
        async def script(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            n = 0
            while await server.read_request(reader):
                await asyncio.sleep(delay)
                writer.write(answers[min(n, len(answers) - 1)])
                await writer.drain()
                n += 1

        return script

    return script_for


async def serve(make: Callable[[Server], Script], tls: ssl.SSLContext | None = None) -> Server:
    server = Server(lambda r, w: asyncio.sleep(0), tls)
    server.script = make(server)
    return await server.__aenter__()


async def post(poster: Poster, server: Server, body: bytes = b"{}", **kwargs: Any) -> http_post.Reply:
    return await poster.post(server.origin(**kwargs), "/hooks", [("host", "hooks.example")], body)


async def test_a_connection_is_kept_alive_and_reused():
    server = await serve(answering(OK))
    poster = Poster(max_connections=4, max_idle=4)
    for _ in range(3):
        assert (await post(poster, server)).status == 200
    assert server.connections == 1 and len(server.requests) == 3
    assert server.requests[0].startswith(b"POST /hooks HTTP/1.1\r\n")
    assert b"content-length: 2\r\n" in server.requests[0] and server.requests[0].endswith(b"\r\n\r\n{}")
    await poster.aclose()
    await server.__aexit__()


async def test_chunked_and_close_delimited_answers_are_read_whole():
    chunked = b"HTTP/1.1 202 Accepted\r\ntransfer-encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"
    server = await serve(answering(chunked))
    poster = Poster(max_connections=4, max_idle=4)
    assert (await post(poster, server)).status == 202
    assert (await post(poster, server)).status == 202
    assert server.connections == 1  # the chunked body was read to its end: the connection went on

    until_close = b"HTTP/1.1 201 Created\r\n\r\nread until the server closes"

    async def close_delimited(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await closing.read_request(reader)
        writer.write(until_close)
        await writer.drain()
        writer.close()

    closing = Server(close_delimited)
    await closing.__aenter__()
    assert (await post(poster, closing)).status == 201
    assert (await post(poster, closing)).status == 201
    assert closing.connections == 2  # such an answer ends the connection
    await poster.aclose()
    await server.__aexit__()
    await closing.__aexit__()


async def test_a_kept_alive_connection_the_server_dropped_is_replaced_once():
    """The server reads the second request on the kept connection and closes it without a word (it timed
    the connection out as the request came): the POST goes again on a new connection. On a new connection
    the same silence is an error."""

    async def drop_second(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await server.read_request(reader)
        writer.write(OK)
        await writer.drain()
        await server.read_request(reader)
        writer.close()

    server = Server(drop_second)
    await server.__aenter__()
    poster = Poster(max_connections=4, max_idle=4)
    assert (await post(poster, server)).status == 200
    assert (await post(poster, server)).status == 200
    assert server.connections == 2 and len(server.requests) == 3

    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await mute.read_request(reader)
        writer.close()

    mute = Server(silent)
    await mute.__aenter__()
    with pytest.raises(RemoteProtocolError, match="closed the connection without answering"):
        await post(poster, mute)
    assert mute.connections == 1
    await poster.aclose()
    await server.__aexit__()
    await mute.__aexit__()


async def test_an_idle_connection_past_its_keepalive_is_not_reused(monkeypatch):
    server = await serve(answering(OK))
    poster = Poster(max_connections=4, max_idle=4)
    assert (await post(poster, server)).status == 200
    monkeypatch.setattr(http_post, "KEEPALIVE_SECONDS", 0.0)
    assert (await post(poster, server)).status == 200
    assert server.connections == 2
    await poster.aclose()
    await server.__aexit__()


async def test_what_is_not_http_is_a_protocol_error_and_a_closed_port_a_connect_error():
    server = await serve(answering(b"220 smtp.example ESMTP ready\r\n\r\n"))
    poster = Poster(max_connections=4, max_idle=4)
    with pytest.raises(RemoteProtocolError):
        await post(poster, server)

    truncated = await serve(answering(b"HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\nshort"))
    truncated.script = _then_close(truncated.script)
    with pytest.raises(RemoteProtocolError, match="complete message body"):
        await post(poster, truncated)

    with pytest.raises(ConnectError):
        await poster.post(Origin("127.0.0.1", closed_port(), None), "/", [("host", "x")], b"")
    await poster.aclose()
    await server.__aexit__()
    await truncated.__aexit__()


def _then_close(script: Script) -> Script:
    async def closing(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.create_task(script(reader, writer))
        await asyncio.sleep(0.2)
        task.cancel()
        writer.close()

    return closing


async def test_a_large_answer_body_is_not_read_to_its_end(monkeypatch):
    monkeypatch.setattr(http_post, "MAX_BODY_READ", 1000)
    big = b"HTTP/1.1 200 OK\r\ncontent-length: 100000\r\n\r\n" + b"x" * 100_000
    server = await serve(answering(big))
    poster = Poster(max_connections=4, max_idle=4)
    assert (await post(poster, server)).status == 200
    assert (await post(poster, server)).status == 200
    assert server.connections == 2  # the first connection was closed, not drained
    await poster.aclose()
    await server.__aexit__()


async def test_the_pool_bounds_open_and_idle_connections():
    server = await serve(answering(OK, delay=0.05))
    poster = Poster(max_connections=2, max_idle=1)
    replies = await asyncio.gather(*(post(poster, server) for _ in range(6)))
    assert [reply.status for reply in replies] == [200] * 6
    assert server.most_open == 2
    assert sum(len(kept) for kept in poster._idle.values()) == 1
    await asyncio.sleep(0.05)  # the closed one's EOF reaches the server
    assert server.open_now == 1
    await poster.aclose()
    await server.__aexit__()


async def test_an_answer_whose_body_runs_until_close_is_not_waited_for():
    """No Content-Length, no chunks: the body ends when the server closes, and this one never does. The
    status is all a delivery needs."""
    server = await serve(answering(b"HTTP/1.1 200 OK\r\n\r\nand more, and more"))
    poster = Poster(max_connections=2, max_idle=2)
    reply = await asyncio.wait_for(post(poster, server), 5)
    assert reply.status == 200
    assert (await asyncio.wait_for(post(poster, server), 5)).status == 200
    assert server.connections == 2  # not reused: its answer never ended
    await poster.aclose()
    await server.__aexit__()


async def test_a_redirect_is_returned_with_its_location_not_followed():
    server = await serve(
        answering(
            b"HTTP/1.1 307 Temporary Redirect\r\nlocation: http://elsewhere/\r\ncontent-length: 0\r\n\r\n"
        )
    )
    poster = Poster(max_connections=2, max_idle=2)
    reply = await post(poster, server)
    assert (reply.status, reply.location) == (307, "http://elsewhere/")
    assert len(server.requests) == 1
    await poster.aclose()
    await server.__aexit__()


@pytest.fixture(scope="module")
def authority() -> trustme.CA:
    return trustme.CA()


def tls_server_context(authority: trustme.CA, name: str) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    authority.issue_cert(name).configure_cert(context)
    return context


async def test_tls_is_verified_against_the_name_not_the_address(authority):
    server = await serve(answering(OK), tls=tls_server_context(authority, "hooks.example"))
    trusting = ssl.create_default_context()
    authority.configure_trust(trusting)
    poster = Poster(max_connections=2, max_idle=2, tls_context=trusting)
    # connected to 127.0.0.1, verified as hooks.example (the name sent in SNI)
    assert (await post(poster, server, tls_name="hooks.example")).status == 200
    assert b"host: hooks.example" in server.requests[0]
    with pytest.raises(ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
        await post(poster, server, tls_name="other.example")
    with pytest.raises(ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
        await post(Poster(max_connections=2, max_idle=2), server, tls_name="hooks.example")  # public CAs only
    await poster.aclose()
    await server.__aexit__()
