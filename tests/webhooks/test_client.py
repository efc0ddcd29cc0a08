"""The deliveries' HTTP client (httpx over a guarded httpcore pool, app/webhooks/transport.py) through
`Sender.attempt`, against real servers on loopback: kept-alive connections, what a server may do to them, the
pool's bounds, TLS verified by name against a CA of the test's own (trustme), the addresses a name resolves
to (DNS mocked: tests/webhooks/test_url_guard.py's FakeDns), and an egress proxy."""

from __future__ import annotations

import asyncio
import base64
import ssl
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
import trustme

from app.webhooks import delivery
from app.webhooks.delivery import Attempt, Sender
from tests.webhooks.receiver import closed_port
from tests.webhooks.test_url_guard import FakeDns

Script = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]
OK = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok"
SECRET = "whsec_" + base64.b64encode(b"k" * 32).decode()


class Server:
    """A raw loopback server running `script` on each connection; counts connections and requests."""

    def __init__(self, script: Script | None = None, tls: ssl.SSLContext | None = None) -> None:
        self.script = script
        self.tls = tls
        self.connections = 0
        self.open_now = 0
        self.most_open = 0
        self.requests: list[bytes] = []

    async def start(self) -> Server:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0, ssl=self.tls)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    def stop(self) -> None:
        self._server.close()

    def url(self, host: str = "127.0.0.1", scheme: str = "http") -> str:
        return f"{scheme}://{host}:{self.port}/hooks"

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
            assert self.script is not None
            await self.script(reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            self.open_now -= 1
            writer.close()


async def serve(*answers: bytes, delay: float = 0.0, tls: ssl.SSLContext | None = None) -> Server:
    """A server answering each request on a connection in turn (the last answer repeats)."""
    server = Server(tls=tls)

    async def script(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        n = 0
        while await server.read_request(reader):
            await asyncio.sleep(delay)
            writer.write(answers[min(n, len(answers) - 1)])
            await writer.drain()
            n += 1

    server.script = script
    return await server.start()


def sender(**kwargs: Any) -> Sender:
    return Sender(**{"https_only": False, "allow_private": True, "timeout": 5.0, **kwargs})


async def post(client: Sender, url: str) -> Attempt:
    return await client.attempt(url, SECRET, "evt_1", "{}")


@pytest.fixture
def dns(monkeypatch):
    return FakeDns(monkeypatch)


async def test_a_connection_is_kept_alive_and_reused():
    server = await serve(OK)
    client = sender()
    for _ in range(3):
        assert (await post(client, server.url())).status_code == 200
    assert server.connections == 1 and len(server.requests) == 3
    assert server.requests[0].startswith(b"POST /hooks HTTP/1.1\r\n")
    head = server.requests[0].lower()
    assert b"content-length: 2\r\n" in head and b"user-agent: orbix-webhooks/1.0\r\n" in head
    assert b"webhook-signature: v1," in head and server.requests[0].endswith(b"\r\n\r\n{}")
    await client.aclose()
    server.stop()


async def test_chunked_and_close_delimited_answers():
    server = await serve(
        b"HTTP/1.1 202 Accepted\r\ntransfer-encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"
    )
    client = sender()
    assert (await post(client, server.url())).status_code == 202
    assert (await post(client, server.url())).status_code == 202
    assert server.connections == 1  # the chunked body was read to its end: the connection went on

    async def close_delimited(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await closing.read_request(reader)
        writer.write(b"HTTP/1.1 201 Created\r\n\r\nread until the server closes")
        await writer.drain()

    closing = await Server(close_delimited).start()
    assert (await post(client, closing.url())).status_code == 201
    assert (await post(client, closing.url())).status_code == 201
    assert closing.connections == 2  # such an answer ends the connection
    await client.aclose()
    server.stop()
    closing.stop()


async def test_an_answer_whose_body_runs_until_close_is_not_waited_for():
    """No Content-Length, no chunks, and the server never closes: the status is all a delivery needs."""
    server = await serve(b"HTTP/1.1 200 OK\r\n\r\nand more, and more")
    client = sender()
    for _ in range(2):
        attempt = await asyncio.wait_for(post(client, server.url()), 3)
        assert attempt.status_code == 200 and attempt.error is None
    assert server.connections == 2  # not reused: its answer never ended
    await client.aclose()
    server.stop()


async def test_a_kept_alive_connection_the_server_closed_is_replaced():
    """The server answers, then closes the idle connection (its keep-alive timed out): the next POST goes on
    a new connection. A server that closes as the request arrives, without a word, is a failed attempt."""

    async def answer_then_close(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await server.read_request(reader)
        writer.write(OK)
        await writer.drain()

    server = await Server(answer_then_close).start()
    client = sender()
    assert (await post(client, server.url())).status_code == 200
    await asyncio.sleep(0.05)  # the server's close reaches the idle connection
    assert (await post(client, server.url())).status_code == 200
    assert server.connections == 2 and len(server.requests) == 2

    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await mute.read_request(reader)

    mute = await Server(silent).start()
    attempt = await post(client, mute.url())
    assert attempt.status_code is None and attempt.error is not None
    assert attempt.error.startswith("RemoteProtocolError: Server disconnected")
    await client.aclose()
    server.stop()
    mute.stop()


async def test_what_is_not_http_or_is_cut_short_is_a_protocol_error_and_a_closed_port_a_connect_error():
    client = sender()
    smtp = await serve(b"220 smtp.example ESMTP ready\r\n\r\n")
    assert (await post(client, smtp.url())).error.startswith("RemoteProtocolError")  # type: ignore[union-attr]

    async def truncated(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await short.read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\nshort")
        await writer.drain()

    short = await Server(truncated).start()
    attempt = await post(client, short.url())
    assert attempt.error is not None and attempt.error.startswith("RemoteProtocolError: peer closed")

    attempt = await post(client, f"http://127.0.0.1:{closed_port()}/hooks")
    assert attempt.error is not None and attempt.error.startswith("ConnectError: ")
    await client.aclose()
    smtp.stop()
    short.stop()


async def test_a_large_answer_body_is_not_read_to_its_end(monkeypatch):
    monkeypatch.setattr(delivery, "MAX_BODY_READ", 1000)
    server = await serve(b"HTTP/1.1 200 OK\r\ncontent-length: 100000\r\n\r\n" + b"x" * 100_000)
    client = sender()
    assert (await post(client, server.url())).status_code == 200
    assert (await post(client, server.url())).status_code == 200
    assert server.connections == 2  # the first connection was closed, not drained
    await client.aclose()
    server.stop()


async def test_the_pool_bounds_open_and_idle_connections(monkeypatch):
    monkeypatch.setattr(delivery, "MAX_CONNECTIONS", 2)
    monkeypatch.setattr(delivery, "MAX_IDLE", 1)
    server = await serve(OK, delay=0.05)
    client = sender()
    attempts = await asyncio.gather(*(post(client, server.url()) for _ in range(6)))
    assert [attempt.status_code for attempt in attempts] == [200] * 6
    assert server.most_open == 2
    await asyncio.sleep(0.05)  # the connection not kept: its close reaches the server
    assert server.open_now == 1
    await client.aclose()
    server.stop()


async def test_a_redirect_is_a_failed_attempt_naming_its_location_cut_short():
    location = "http://elsewhere.example/" + "x" * 1000
    server = await serve(f"HTTP/1.1 307 Moved\r\nlocation: {location}\r\ncontent-length: 0\r\n\r\n".encode())
    client = sender()
    attempt = await post(client, server.url())
    assert attempt.status_code == 307 and len(server.requests) == 1
    # Every stored error text is cut to 500 characters (app/core/error_text.py), the Location with it.
    assert len(attempt.error) == 500 and attempt.error.endswith("…")
    assert attempt.error.startswith(f"redirect to {location[:400]!r}"[:-1])
    await client.aclose()
    server.stop()


@pytest.fixture(scope="module")
def authority() -> trustme.CA:
    return trustme.CA()


async def test_tls_is_verified_against_the_name_not_the_address(authority, dns):
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    authority.issue_cert("hooks.example").configure_cert(server_context)
    server = await serve(OK, tls=server_context)
    dns.set("hooks.example", ["127.0.0.1"])
    dns.set("other.example", ["127.0.0.1"])
    trusting = ssl.create_default_context()
    authority.configure_trust(trusting)
    client = sender(tls_context=trusting)
    # connected to 127.0.0.1, verified as hooks.example (the name sent in SNI)
    assert (await post(client, server.url("hooks.example", "https"))).error is None
    assert f"host: hooks.example:{server.port}".encode() in server.requests[0].lower()
    attempt = await post(client, server.url("other.example", "https"))
    assert attempt.error is not None and "CERTIFICATE_VERIFY_FAILED" in attempt.error
    public_only = sender()  # certifi's CAs (or SSL_CERT_FILE), not the test's
    attempt = await post(public_only, server.url("hooks.example", "https"))
    assert attempt.error is not None and "CERTIFICATE_VERIFY_FAILED" in attempt.error
    await client.aclose()
    await public_only.aclose()
    server.stop()


async def test_a_name_with_one_private_address_among_others_is_refused_without_naming_it(dns):
    server = await serve(OK)
    dns.set("hooks.example", ["10.0.0.5", "93.184.216.34"])
    client = sender(allow_private=False)
    attempt = await post(client, server.url("hooks.example"))
    assert attempt.error == "refused: resolves to a private address, which webhooks may not call"
    assert server.connections == 0
    await client.aclose()
    server.stop()


async def test_each_checked_address_is_tried_until_one_connects(dns):
    """127.0.0.2 refuses (nothing listens there), 127.0.0.1 answers. Loopback is reachable with private
    addresses allowed, as in every delivery test; the guard's refusals are the test above's."""
    server = await serve(OK)
    dns.set("hooks.example", ["127.0.0.2", "127.0.0.1"])
    client = sender()
    attempt = await post(client, server.url("hooks.example"))
    assert attempt.error is None and server.connections == 1
    assert dns.lookups == ["hooks.example"]
    await client.aclose()
    server.stop()


async def test_two_names_on_one_address_do_not_share_connections(dns):
    server = await serve(OK)
    dns.set("a.example", ["127.0.0.1"])
    dns.set("b.example", ["127.0.0.1"])
    client = sender()
    for host in ("a.example", "b.example", "a.example", "b.example"):
        assert (await post(client, server.url(host))).error is None
    assert server.connections == 2
    hosts = [request.lower().split(b"host: ")[1].split(b":")[0] for request in server.requests]
    assert hosts == [b"a.example", b"b.example", b"a.example", b"b.example"]
    await client.aclose()
    server.stop()


async def test_an_egress_proxy_connects_and_the_host_is_still_checked(dns, monkeypatch):
    """The proxy (on loopback: the operator's, reached whatever its address) gets the request in absolute
    form; the URL's host is resolved and checked before each attempt, and refused when it is private."""
    proxy = await serve(OK)
    for name in ("http_proxy", "https_proxy", "no_proxy", "HTTPS_PROXY", "NO_PROXY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{proxy.port}")
    dns.set("hooks.example", ["93.184.216.34"])
    dns.set("internal.example", ["192.168.1.1"])
    client = sender(allow_private=False)
    assert (await post(client, "http://hooks.example/hooks")).error is None
    assert proxy.requests[0].startswith(b"POST http://hooks.example/hooks HTTP/1.1\r\n")
    attempt = await post(client, "http://internal.example/hooks")
    assert attempt.error == "refused: resolves to a private address, which webhooks may not call"
    assert len(proxy.requests) == 1 and dns.lookups == ["hooks.example", "internal.example"]
    await client.aclose()
    proxy.stop()
