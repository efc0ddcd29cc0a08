"""A clean end on SIGTERM (API.md section 21), with real server processes on loopback: granian as production runs
it (`python -m app`, its worker killed 30 s after SIGTERM) and uvicorn (`--timeout-graceful-shutdown 60`).

Both servers send the lifespan's shutdown only once open connections have closed, so without
app/http/termination.py an open stream holds the process until the kill (granian) or the graceful timeout
(uvicorn, which then cuts the stream without its final comment). The test opens a stream, sees an event on it,
sends SIGTERM, and requires the final reconnect comment, the end of the stream, and the process's own exit long
before its kill: an exit within EXIT_WITHIN (less than either grace period) only happens when the streams ended
at once."""

from __future__ import annotations

import asyncio
import contextlib
import json
import subprocess
import sys
import time

import httpx
import pytest

from tests.conftest import PASSWORD
from tests.events.test_stream import Reader, bearer
from tests.servers import PRODUCTION, free_port, server_env, start, stop, wait_until_healthy

EXIT_WITHIN = 20  # seconds: granian kills its worker at 30 s, uvicorn gives up on connections at 60 s


def uvicorn(port: int) -> list[str]:
    return [
        sys.executable, "-m", "uvicorn", "app.main:app", "--host", "127.0.0.1", "--port", str(port),
        "--timeout-graceful-shutdown", "60",
    ]  # fmt: skip


@pytest.mark.parametrize("server", ["granian", "uvicorn"])
async def test_sigterm_ends_open_streams_with_a_reconnect_comment_and_the_server_exits(server: str) -> None:
    port = free_port()
    process = start(
        PRODUCTION if server == "granian" else uvicorn(port),
        server_env(port, BCRYPT_ROUNDS="4", LOG_LEVEL="INFO", LOG_FORMAT="console"),
    )
    try:
        wait_until_healthy(process, port)
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30) as http:
            response = await http.post(
                "/api/auth/register", json={"email": "ada@example.com", "password": PASSWORD, "name": "Ada"}
            )
            assert response.status_code == 201, response.text
            ada = bearer(response.json())
            async with http.stream("GET", "/api/events/stream", headers=ada) as answer:
                assert answer.status_code == 200
                reader = Reader(answer)
                assert (await reader.next()).comments == ["connected"]  # type: ignore[union-attr]
                created = await http.post("/api/clients", json={"name": "Before"}, headers=ada)
                assert created.status_code == 201, created.text
                (event,) = await reader.events(1)
                assert event.json["data"]["object"]["name"] == "Before"

                process.terminate()
                final = await reader.comment(within=EXIT_WITHIN)
                assert "shutting down" in final and "Last-Event-ID" in final
                assert await reader.next(within=EXIT_WITHIN) is None  # the stream ended, cleanly
        try:
            output = process.communicate(timeout=EXIT_WITHIN)[0].decode(errors="replace")
        except subprocess.TimeoutExpired:
            pytest.fail(f"{server} still runs {EXIT_WITHIN} s after SIGTERM: the streams held its shutdown")
    finally:
        stop(process)
    if server == "granian":
        assert process.returncode == 0, output
        assert "refused to gracefully stop" not in output and "Granian shutdown completed" in output, output
    else:  # uvicorn re-raises the SIGTERM it handled once it is done: that is its clean exit
        assert process.returncode in (0, -15), output
        assert "Application shutdown complete" in output and "timeout graceful shutdown" not in output, output


async def test_closed_streams_free_their_places_within_20_seconds_on_granian() -> None:
    """The sixth stream is 429 while five are open; once the client hangs up, the production server frees the
    places within 20 s (API.md section 21)."""
    port = free_port()
    process = start(PRODUCTION, server_env(port, BCRYPT_ROUNDS="4", LOG_LEVEL="WARNING"))
    try:
        wait_until_healthy(process, port)
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30) as http:
            response = await http.post(
                "/api/auth/register", json={"email": "ada@example.com", "password": PASSWORD, "name": "Ada"}
            )
            ada = bearer(response.json())
            async with contextlib.AsyncExitStack() as open_streams:
                readers = []  # kept: a reader let go closes its connection
                for _ in range(5):
                    answer = await open_streams.enter_async_context(
                        http.stream("GET", "/api/events/stream", headers=ada)
                    )
                    assert answer.status_code == 200
                    readers.append(Reader(answer))
                    assert (await readers[-1].next()).comments == ["connected"]  # type: ignore[union-attr]
                async with http.stream("GET", "/api/events/stream", headers=ada) as refused:
                    assert refused.status_code == 429
                    assert json.loads(await refused.aread())["code"] == "too_many_streams"
            deadline = time.monotonic() + 20
            while True:  # the client hung up: within 20 s, a place is free again
                async with http.stream("GET", "/api/events/stream", headers=ada) as answer:
                    if answer.status_code == 200:
                        break
                assert time.monotonic() < deadline, "closed streams did not free their places within 20 s"
                await asyncio.sleep(0.5)
    finally:
        stop(process)
