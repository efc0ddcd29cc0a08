"""Protocol edges against the production server (`python -m app`, granian) on loopback (issue 8, findings 3
and 10): a client hanging up is not a server error, slow and idle connections are bounded by timeouts,
oversized headers get a problem, and HEAD answers like GET."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.servers import free_port, wait_until_healthy

ROOT = Path(__file__).resolve().parents[2]
BODY_TIMEOUT = 2  # REQUEST_BODY_TIMEOUT_SECONDS for this server
HEADER_TIMEOUT = 2  # HTTP_HEADER_TIMEOUT_SECONDS


class Server:
    def __init__(self, port: int, log: Path) -> None:
        self.port, self.log = port, log
        self.url = f"http://127.0.0.1:{port}"

    def lines(self) -> list[dict]:
        return [json.loads(line) for line in self.log.read_text().splitlines() if line.startswith("{")]

    def raw(self, request: bytes, *, close_after_send: bool = False, read_timeout: float = 10) -> bytes:
        """Send bytes on a fresh connection and return all the server answers until it closes."""
        with socket.create_connection(("127.0.0.1", self.port), timeout=read_timeout) as sock:
            sock.sendall(request)
            if close_after_send:
                return b""
            return _read_all(sock)


def _read_all(sock: socket.socket) -> bytes:
    chunks = []
    while True:
        try:
            chunk = sock.recv(65536)
        except (ConnectionResetError, TimeoutError):
            break
        if not chunk:
            break
        chunks.append(chunk)
    return b"".join(chunks)


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> Iterator[Server]:
    port = free_port()
    log = tmp_path_factory.mktemp("server") / "server.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MONGODB_", "AI_"))}
    env.update(
        {
            "HOST": "127.0.0.1",
            "PORT": str(port),
            "LOG_LEVEL": "INFO",
            "LOG_FORMAT": "json",
            "REQUEST_BODY_TIMEOUT_SECONDS": str(BODY_TIMEOUT),
            "HTTP_HEADER_TIMEOUT_SECONDS": str(HEADER_TIMEOUT),
        }
    )
    with log.open("wb") as output:
        process = subprocess.Popen(
            [sys.executable, "-m", "app"], cwd=ROOT, env=env, stdout=output, stderr=subprocess.STDOUT
        )
    try:
        # a loaded CI machine can take long to start a server
        wait_until_healthy(process, port, within=120, explain=log.read_text)
        yield Server(port, log)
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _metric(server: Server, route: str, status: str) -> float:
    text = httpx.get(f"{server.url}/metrics").text
    pattern = rf'^orbix_http_requests_total\{{[^}}]*route="{re.escape(route)}"[^}}]*status="{status}"[^}}]*\}} (\S+)$'
    return sum(float(value) for value in re.findall(pattern, text, re.M))


def _wait_for(condition, timeout: float = 10) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.1)
    return False


def test_a_client_hanging_up_mid_body_is_logged_at_info_and_counted_as_499(server):
    route = "/api/auth/register"
    server.raw(
        b"POST /api/auth/register HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Content-Length: 1000\r\nX-Request-ID: hangs-up\r\n\r\n" + b'{"email": "',
        close_after_send=True,
    )
    assert _wait_for(lambda: _metric(server, route, "499") == 1), httpx.get(f"{server.url}/metrics").text
    assert _metric(server, route, "500") == 0
    lines = [line for line in server.lines() if line.get("request_id") == "hangs-up"]
    assert [line["message"] for line in lines] == ["client_disconnected"], lines
    assert all(line["level"] == "INFO" and "exc_info" not in line for line in lines), lines
    assert "Traceback" not in server.log.read_text()


def test_a_body_that_trickles_is_cut_off_with_408(server):
    with socket.create_connection(("127.0.0.1", server.port), timeout=15) as sock:
        sock.sendall(
            b"POST /api/auth/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Content-Length: 100\r\n\r\n"
        )
        started = time.monotonic()
        answer = b""
        sock.settimeout(1)
        for byte in b'{"email": "ada@example.com", "password": "xxxxxxxx"}':
            try:
                sock.sendall(bytes([byte]))
                answer = sock.recv(65536)
            except TimeoutError:
                continue
            except OSError:
                break
            if answer:
                break
        elapsed = time.monotonic() - started
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 408"), answer
    assert b"application/problem+json" in head
    assert json.loads(body)["code"] == "request_timeout"
    assert BODY_TIMEOUT <= elapsed < BODY_TIMEOUT + 5


def test_an_idle_keep_alive_connection_is_closed_by_the_server(server):
    with socket.create_connection(("127.0.0.1", server.port), timeout=HEADER_TIMEOUT + 10) as sock:
        sock.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        assert sock.recv(65536).startswith(b"HTTP/1.1 200")
        started = time.monotonic()
        rest = _read_all(sock)  # returns when the server closes the idle connection
        idle = time.monotonic() - started
    assert rest == b""
    assert idle < HEADER_TIMEOUT + 5


def test_a_slow_request_head_is_cut_off(server):
    with socket.create_connection(("127.0.0.1", server.port), timeout=HEADER_TIMEOUT + 10) as sock:
        sock.sendall(b"GET /api/auth/me HTTP/1.1\r\nHost: x\r\n")  # never finishes the head
        started = time.monotonic()
        _read_all(sock)
        assert time.monotonic() - started < HEADER_TIMEOUT + 5


def test_large_headers_the_app_sees_get_a_431_problem(server):
    response = httpx.get(f"{server.url}/api/auth/me", headers={"X-Padding": "a" * 20_000})
    assert response.status_code == 431
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert (problem["code"], problem["request_id"]) == ("headers_too_large", response.headers["x-request-id"])


def test_what_granian_answers_itself_is_what_the_readme_says(server):
    """Before the app runs: a head over granian's buffer, and a NUL in a header value (docs/api-conventions.md)."""
    huge = server.raw(b"GET /health HTTP/1.1\r\nHost: x\r\nX-Padding: " + b"a" * 600_000 + b"\r\n\r\n")
    assert huge.startswith(b"HTTP/1.1 431"), huge[:200]
    nul = server.raw(b"GET /health HTTP/1.1\r\nHost: x\r\nX-Bad: a\x00b\r\n\r\n")
    assert nul.startswith(b"HTTP/1.1 400"), nul[:200]


def test_head_answers_like_get_without_a_body(server):
    for path in ("/health", "/ready", "/api/auth/me"):
        get = httpx.get(f"{server.url}{path}")
        head = httpx.head(f"{server.url}{path}")
        assert head.status_code == get.status_code, path
        assert head.content == b""
        assert head.headers["content-type"] == get.headers["content-type"]
        assert head.headers.get("content-length") == get.headers.get("content-length")
