"""Access log, metrics and graceful shutdown: what an operator relies on."""

from __future__ import annotations

import io
import json
import logging
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import PASSWORD, register, serve
from tests.servers import free_port, wait_until_healthy

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
async def logged(make_app):
    """An app logging JSON at INFO into a buffer, its HTTP client, and a reader of the parsed lines."""
    app = make_app(log_format="json", log_level="INFO")
    buffer = io.StringIO()
    logging.getLogger().handlers[0].setStream(buffer)  # the handler create_app configured

    def lines() -> list[dict[str, Any]]:
        return [json.loads(line) for line in buffer.getvalue().splitlines() if line.startswith("{")]

    async with serve(app) as http:
        yield http, lines


def access_lines(lines: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [line for line in lines if line.get("logger") == "orbix.access"]


async def test_access_log_line_is_json_with_request_id_method_route_template_status_and_duration(logged):
    http, lines = logged
    account = await register(http, "ada@example.com")
    created = await http.post("/api/clients", json={"name": "Acme"}, headers=account.headers)
    client_id = created.json()["id"]

    await http.get(f"/api/clients/{client_id}", headers={**account.headers, "X-Request-ID": "obs-get-1"})

    [line] = [line for line in access_lines(lines()) if line.get("request_id") == "obs-get-1"]
    assert line["method"] == "GET"
    assert line["path"] == "/api/clients/{client_id}"
    assert line["status"] == 200
    assert isinstance(line["duration_ms"], int | float) and line["duration_ms"] >= 0
    assert client_id not in json.dumps(line)


async def test_access_log_carries_the_status_of_errors_too(logged):
    http, lines = logged
    account = await register(http, "ada@example.com")

    await http.get("/api/clients/not-an-id", headers={**account.headers, "X-Request-ID": "obs-404"})
    await http.get("/api/clients", headers={"X-Request-ID": "obs-401"})

    by_id = {line["request_id"]: line for line in access_lines(lines())}
    assert (by_id["obs-404"]["path"], by_id["obs-404"]["status"]) == ("/api/clients/{client_id}", 404)
    assert (by_id["obs-401"]["path"], by_id["obs-401"]["status"]) == ("/api/clients", 401)


async def test_health_is_not_logged(logged):
    http, lines = logged

    for _ in range(3):
        assert (await http.get("/health", headers={"X-Request-ID": "obs-health"})).status_code == 200
    await http.get("/ready")

    assert access_lines(lines()), "the /ready request should have been logged"
    assert not [line for line in lines() if line.get("request_id") == "obs-health"]
    assert not [line for line in access_lines(lines()) if line.get("path") == "/health"]


def metric(text: str, name: str, **labels: str) -> float:
    wanted = ",".join(f'{key}="{value}"' for key, value in labels.items())
    found = re.search(rf"^{re.escape(name)}\{{{re.escape(wanted)}\}} ([0-9.e+]+)$", text, re.M)
    assert found, f"{name}{{{wanted}}} not in:\n{text}"
    return float(found[1])


async def test_metrics_count_and_time_each_route_template_not_each_raw_path(client, auth):
    ids = []
    for name in ("Acme", "Globex", "Initech"):
        ids.append((await client.post("/api/clients", json={"name": name}, headers=auth)).json()["id"])
    for client_id in ids:
        await client.get(f"/api/clients/{client_id}", headers=auth)
    await client.get("/api/clients/ffffffffffffffffffffffff", headers=auth)

    text = (await client.get("/metrics")).text

    get_one = {"method": "GET", "route": "/api/clients/{client_id}", "status": "200"}
    assert metric(text, "orbix_http_requests_total", **get_one) == 3
    assert metric(text, "orbix_http_requests_total", **{**get_one, "status": "404"}) == 1
    assert metric(text, "orbix_http_requests_total", method="POST", route="/api/clients", status="201") == 3
    assert metric(text, "orbix_http_request_duration_seconds_count", **get_one) == 3
    assert metric(text, "orbix_http_request_duration_seconds_bucket", le="+Inf", **get_one) == 3
    assert metric(text, "orbix_http_request_duration_seconds_sum", **get_one) > 0
    for client_id in [*ids, "ffffffffffffffffffffffff"]:
        assert client_id not in text


async def test_metrics_fold_unknown_paths_into_one_label(client):
    for n in range(5):
        await client.get(f"/wp-admin/probe-{n}.php")

    text = (await client.get("/metrics")).text

    assert metric(text, "orbix_http_requests_total", method="GET", route="<unmatched>", status="404") == 5
    assert "probe-" not in text and "wp-admin" not in text


# ---------------------------------------------------------------- graceful shutdown (real servers)


SERVERS = {
    # the production entry: granian's Server API in app/__main__.py, HOST/PORT from the environment
    "production": ([sys.executable, "-m", "app"], b"Granian shutdown completed"),
    # uvicorn (the fuzz and benchmark runs use it) re-raises the SIGTERM it handled
    "uvicorn": (
        [str(Path(sys.executable).parent / "uvicorn"), "--host", "127.0.0.1", "--port", "{port}",
         "--timeout-graceful-shutdown", "30", "app.main:app"],
        b"Application shutdown complete",
    ),
    "granian": (
        [str(Path(sys.executable).parent / "granian"), "--interface", "asgi", "--host", "127.0.0.1",
         "--port", "{port}", "--workers", "1", "--no-ws", "app.main:app"],
        b"Granian shutdown completed",
    ),
}  # fmt: skip


@pytest.mark.parametrize("server", sorted(SERVERS))
def test_sigterm_lets_an_in_flight_request_finish(server):
    """The server gets SIGTERM while a slow request (a registration hashing at bcrypt cost 13) is in
    flight: the request still completes with 201, then the server shuts down cleanly.

    uvicorn re-raises the SIGTERM it handled once it has shut down, so its exit status is -SIGTERM (or 0);
    the server's own "shutdown complete" line is what proves the shutdown ran to the end."""
    command, shutdown_line = SERVERS[server]
    if not Path(command[0]).exists():
        pytest.skip(f"{server} is not installed in this environment")
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MONGODB_", "AI_"))}
    env.update({"HOST": "127.0.0.1", "PORT": str(port), "BCRYPT_ROUNDS": "13", "LOG_LEVEL": "INFO"})
    process = subprocess.Popen(
        [part.replace("{port}", str(port)) for part in command],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        wait_until_healthy(process, port, within=30, explain=lambda: "the server did not start")

        outcome: dict[str, Any] = {}

        def slow_request() -> None:
            started = time.monotonic()
            body = {"email": "slow@example.com", "password": PASSWORD, "name": "Slow"}
            response = httpx.post(f"http://127.0.0.1:{port}/api/auth/register", json=body, timeout=60)
            outcome.update(status=response.status_code, finished=time.monotonic(), started=started)

        request = threading.Thread(target=slow_request)
        request.start()
        time.sleep(0.15)  # the request is on the server, hashing (bcrypt cost 13 takes far longer than this)
        signalled = time.monotonic()
        process.send_signal(signal.SIGTERM)
        request.join(timeout=60)
        output, _ = process.communicate(timeout=60)

        assert outcome.get("status") == 201, outcome
        assert outcome["finished"] > signalled, "the request must still have been in flight at SIGTERM"
        assert process.returncode in (0, -signal.SIGTERM), output.decode(errors="replace")
        assert shutdown_line in output, output.decode(errors="replace")
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
