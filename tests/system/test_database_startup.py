"""Start-up against a real server's settings, without a server: the API starts, says it is not ready,
and connects as soon as the database answers. Also the client options a MongoDB 7 replica set needs."""

from __future__ import annotations

import asyncio
import json
import subprocess
import time
from dataclasses import replace

import httpx
import pytest
from mongomock_motor import AsyncMongoMockClient
from pymongo.errors import ServerSelectionTimeoutError
from pymongo.read_preferences import Primary

from app.config import ConfigError, Settings
from app.db import client as db
from app.invoices import numbering
from app.main import create_app
from tests.conftest import PASSWORD, assert_problem, serve
from tests.servers import PRODUCTION, free_port, server_env, start, stop, wait_until_healthy

REAL = "mongodb://db.invalid:27017/?replicaSet=rs0"


class FlakyFactory:
    """Refuses until `up` is set, then hands out an embedded store: a MongoDB that comes up late."""

    def __init__(self) -> None:
        self.up = False
        self.calls = 0

    def __call__(self, settings: Settings) -> tuple[object, bool]:
        self.calls += 1
        if not self.up:
            raise ServerSelectionTimeoutError("db.invalid:27017: connection refused")
        return AsyncMongoMockClient(tz_aware=True), False


@pytest.fixture
def fast_backoff(monkeypatch):
    monkeypatch.setattr(db, "STARTUP_WAIT_SECONDS", 0.2)
    monkeypatch.setattr(db, "RECONNECT_INITIAL_SECONDS", 0.01)
    monkeypatch.setattr(db, "RECONNECT_MAX_SECONDS", 0.05)


async def _eventually_ready(http: httpx.AsyncClient) -> None:
    for _ in range(500):
        if (await http.get("/ready")).status_code == 200:
            return
        await asyncio.sleep(0.01)
    raise AssertionError("the API never connected")


async def test_the_api_starts_without_its_database_and_connects_when_it_answers(fast_backoff):
    factory = FlakyFactory()
    app = create_app(replace(Settings.from_env(), mongodb_url=REAL), client_factory=factory)
    async with serve(app) as http:
        health = await http.get("/health")
        assert health.status_code == 200
        assert_problem(await http.get("/ready"), 503, "database_unavailable")
        body = {"email": "late@example.com", "password": PASSWORD, "name": "Late"}
        assert_problem(await http.post("/api/auth/register", json=body), 503, "database_unavailable")
        assert_problem(await http.get("/api/clients"), 503, "database_unavailable")  # before auth
        await asyncio.sleep(0.2)
        assert factory.calls >= 3, "it keeps trying, with backoff"

        factory.up = True
        await _eventually_ready(http)

        registered = await http.post("/api/auth/register", json=body)
        assert registered.status_code == 201, registered.text
        token = registered.json()["access_token"]
        clients = await http.get("/api/clients", headers={"Authorization": f"Bearer {token}"})
        assert clients.status_code == 200


async def test_the_first_connection_creates_the_declared_indexes(fast_backoff):
    factory = FlakyFactory()
    factory.up = True
    app = create_app(replace(Settings.from_env(), mongodb_url=REAL), client_factory=factory)
    async with serve(app) as http:
        await _eventually_ready(http)
        names = [spec["name"] async for spec in app.state.db.handle["users"].list_indexes()]
    assert "email_unique" in names


async def test_the_invoice_number_index_is_made_in_the_background_and_does_not_hold_up_readiness(
    fast_backoff, monkeypatch
):
    """Its first build reads every stored invoice: /ready must not wait for it (issue 24)."""
    started, release = asyncio.Event(), asyncio.Event()

    async def slow_build() -> bool:
        started.set()
        await release.wait()
        return True

    monkeypatch.setattr(numbering, "ensure_unique_numbers", slow_build)
    factory = FlakyFactory()
    factory.up = True
    app = create_app(replace(Settings.from_env(), mongodb_url=REAL), client_factory=factory)
    async with serve(app) as http:
        await _eventually_ready(http)
        assert started.is_set() and not release.is_set()
        release.set()


async def test_ready_is_503_when_a_connected_database_stops_answering(client, app):
    class Gone:
        def __getitem__(self, name):
            raise ServerSelectionTimeoutError("gone")

        def close(self):
            pass

    real, app.state.db.client = app.state.db.client, Gone()
    try:
        assert_problem(await client.get("/ready"), 503, "database_unavailable")
    finally:
        app.state.db.client = real


def test_a_real_server_gets_majority_journaled_retryable_primary_bounded_operations():
    settings = Settings.from_env({"MONGODB_URL": REAL, "MONGODB_TIMEOUT_MS": "2500"})
    client, embedded = db.build_client(settings)
    try:
        assert embedded is False
        assert client.write_concern.document == {"w": "majority", "j": True}
        assert isinstance(client.read_preference, Primary)
        options = client.delegate.options
        assert options.retry_writes is True and options.retry_reads is True
        assert options.timeout == 2.5  # timeoutMS: every operation
        assert options.server_selection_timeout == 2.5
        assert options.replica_set_name == "rs0"
    finally:
        client.close()


def test_the_timeout_defaults_to_15_seconds_and_is_validated():
    assert Settings.from_env({}).mongodb_timeout_ms == 15000
    for bad in ("0", "soon", "-5"):
        with pytest.raises(ConfigError, match="MONGODB_TIMEOUT_MS"):
            Settings.from_env({"MONGODB_TIMEOUT_MS": bad})


@pytest.mark.parametrize("preference", ["secondary", "secondaryPreferred", "nearest", "primaryPreferred"])
def test_a_read_preference_that_may_read_a_secondary_is_refused(preference):
    with pytest.raises(ConfigError, match="readPreference"):
        Settings.from_env({"MONGODB_URL": f"mongodb://a,b/?replicaSet=rs0&readPreference={preference}"})


def test_read_preference_primary_is_accepted():
    url = "mongodb://a,b/?replicaSet=rs0&readPreference=primary"
    assert Settings.from_env({"MONGODB_URL": url}).mongodb_url == url


# ---------------------------------------------------------------- real servers


def test_a_server_pointed_at_a_closed_port_serves_health_and_answers_503():
    port = free_port()
    closed = free_port()  # nothing listens there
    env = server_env(
        port, MONGODB_URL=f"mongodb://127.0.0.1:{closed}/?directConnection=true", MONGODB_TIMEOUT_MS="300",
        LOG_FORMAT="json", LOG_LEVEL="INFO",
    )  # fmt: skip
    process = start(PRODUCTION, env)
    try:
        started = time.monotonic()
        wait_until_healthy(process, port)
        assert time.monotonic() - started < 25
        base = f"http://127.0.0.1:{port}"
        assert_problem(httpx.get(f"{base}/ready", timeout=10), 503, "database_unavailable")
        body = {"email": "x@example.com", "password": PASSWORD, "name": "X"}
        register = httpx.post(f"{base}/api/auth/register", json=body, timeout=10)
        assert_problem(register, 503, "database_unavailable")
        time.sleep(1)  # a few reconnect attempts
        assert process.poll() is None, "it keeps running while the database is away"
    finally:
        output = stop(process).decode(errors="replace")
    assert "Traceback" not in output
    lines = [line for line in output.splitlines() if line.startswith("{")]
    retries = [json.loads(line) for line in lines if "database unavailable" in line]
    assert retries and all(entry["logger"] == "orbix.db" for entry in retries)


@pytest.mark.parametrize("log_format", ["json", "console"])
def test_a_configuration_error_is_one_line_and_exit_code_2(log_format):
    env = server_env(free_port(), APP_ENV="production", JWT_SECRET="short", LOG_FORMAT=log_format)
    result = subprocess.run(PRODUCTION, env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    if log_format == "json":
        entry = json.loads(lines[0])
        assert entry["level"] == "CRITICAL" and "JWT_SECRET" in entry["message"]
    else:
        assert lines[0].startswith("orbix: configuration error: JWT_SECRET")


def test_a_bad_log_format_is_itself_reported_as_one_json_line():
    env = server_env(free_port(), LOG_FORMAT="yaml")
    result = subprocess.run(PRODUCTION, env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert "LOG_FORMAT" in json.loads(result.stderr.strip())["message"]


def test_a_second_server_on_a_taken_port_refuses_with_one_line_and_exit_1():
    port = free_port()
    first = start(PRODUCTION, server_env(port))
    try:
        wait_until_healthy(first, port)
        second = subprocess.run(
            PRODUCTION, env=server_env(port, LOG_FORMAT="console"), capture_output=True, text=True, timeout=60
        )
        assert second.returncode == 1
        lines = (second.stdout + second.stderr).strip().splitlines()
        assert len(lines) == 1 and f"port {port}" in lines[0] and "already in use" in lines[0], lines
        assert first.poll() is None and httpx.get(f"http://127.0.0.1:{port}/health").status_code == 200
    finally:
        stop(first)


def test_a_port_freed_by_a_stopped_server_can_be_taken_again():
    """SO_REUSEADDR on the probe: a previous server's connections in TIME_WAIT are no reason to refuse."""
    port = free_port()
    first = start(PRODUCTION, server_env(port))
    wait_until_healthy(first, port)
    httpx.get(f"http://127.0.0.1:{port}/health")
    stop(first)
    again = start(PRODUCTION, server_env(port))
    try:
        wait_until_healthy(again, port)
    finally:
        stop(again)
