"""Live updates in a real browser (API.md section 21, issue 28): headless Chromium (the harness of
test_cookie_session.py: Debian's `chromium` driven by playwright-core) loads tests/browser/events.html from one
loopback origin; the page signs in with the cookie session on the API (a real `python -m app` on another origin
of the same site) and follows the feed with `new EventSource(url, {withCredentials: true})`.

The server ends every stream after EVENT_STREAM_MAX_SECONDS (4 s here) with a comment; the browser reconnects by
itself with `Last-Event-ID` (the driver records the header the browser sent). The page creates client "one" on
the first stream, "two" while the browser waits to reconnect, and "three" on the second stream: it must receive
the three events, in feed order, each once."""

from __future__ import annotations

import json
import os
import subprocess
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest

from tests.browser.test_cookie_session import CHROMIUM, HERE, _browser_or_skip
from tests.servers import PRODUCTION, free_port, server_env, start, stop, wait_until_healthy

PAGE_PATH = "/live/events.html"
EMAIL = "live@example.com"
PASSWORD = "browser-password-123"


class _Page(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        if self.path.split("?")[0] != PAGE_PATH:
            self.send_error(404)
            return
        body = (HERE / "events.html").read_bytes()
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def node() -> str:
    return _browser_or_skip()


@pytest.fixture
def page_port() -> Iterator[int]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Page)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield int(server.server_address[1])
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def api_port(page_port: int) -> Iterator[int]:
    port = free_port()
    env = server_env(
        port,
        CORS_ORIGINS=f"http://localhost:{page_port}",
        SESSION_COOKIE_SECURE="false",  # plain http on loopback
        EVENT_STREAM_MAX_SECONDS="4",
        BCRYPT_ROUNDS="4",
        LOG_LEVEL="WARNING",
    )
    server = start(PRODUCTION, env)
    try:
        wait_until_healthy(server, port)
        yield port
    finally:
        stop(server)


def test_an_event_source_reconnects_with_last_event_id_and_misses_nothing(
    node: str, page_port: int, api_port: int
) -> None:
    api = f"http://localhost:{api_port}"
    query = urlencode({"api": api, "email": EMAIL, "password": PASSWORD})
    run = subprocess.run(
        [node, str(HERE / "drive.mjs"), f"http://localhost:{page_port}{PAGE_PATH}?{query}", api, "--result-only"],
        cwd=HERE, capture_output=True, text=True, timeout=180, env={**os.environ, "CHROMIUM": CHROMIUM},
    )  # fmt: skip
    lines = run.stdout.strip().splitlines()
    assert lines, f"drive.mjs printed nothing (exit {run.returncode}): {run.stderr[-2000:]}"
    result: dict[str, Any] = json.loads(lines[-1])
    assert run.returncode == 0 and "driverError" not in result, (result, run.stderr[-2000:])
    assert result["origin"] != result["api"] and result["register"] == 201, result
    assert result["finished"] == "done", result
    assert all(create["status"] == 201 for create in result["creates"]), result

    # every event once, in feed order, and "one" before the server ended the first stream
    received = result["received"]
    assert [event["name"] for event in received] == ["one", "two", "three"], result
    assert received[0]["opens"] == 1 and received[2]["opens"] >= 2, result
    assert result["errors"] >= 1, result

    # the browser reconnected on its own and named the last event it had: the id of "one"
    requests = result["eventSourceRequests"]
    assert len(requests) >= 2, result
    assert requests[0]["lastEventId"] is None
    assert requests[1]["lastEventId"] == received[0]["id"], result

    # the ids are the feed's
    token = httpx.post(f"{api}/api/auth/login", json={"email": EMAIL, "password": PASSWORD}).json()
    feed = httpx.get(
        f"{api}/api/events", params={"types": "client.created"},
        headers={"Authorization": f"Bearer {token['access_token']}"},
    ).json()["items"]  # fmt: skip
    assert [event["id"] for event in received] == [event["id"] for event in feed], (received, feed)
    assert not [line for line in result["console"] if line.startswith("pageerror")], result["console"]
