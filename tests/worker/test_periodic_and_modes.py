"""Periodic tasks under a lease, the inline worker inside the API, metrics, and `python -m app worker`."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from app.config import ConfigError, Settings
from app.core.retry import backoff_delay, jittered
from app.worker import enqueue, register_handler, register_periodic
from tests.conftest import serve
from tests.servers import free_port

ROOT = Path(__file__).resolve().parents[2]


async def test_a_periodic_task_runs_on_one_worker_at_a_time(make_worker):
    running = 0
    most = 0
    runs = 0
    enough = asyncio.Event()

    async def tick() -> None:
        nonlocal running, most, runs
        running += 1
        most = max(most, running)
        await asyncio.sleep(0.03)
        running -= 1
        runs += 1
        if runs >= 3:
            enough.set()

    register_periodic("test.tick", 0.01, tick)
    workers = [make_worker(poll_seconds=0.005) for _ in range(3)]
    loops = [asyncio.create_task(w.run()) for w in workers]
    # A loaded machine may run the loops slowly: wait for three runs (up to 10 s), not a fixed time.
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(enough.wait(), 10)
    for w in workers:
        w.stop()
    await asyncio.gather(*loops)

    assert runs >= 3, "the periodic task did not keep running"
    assert most == 1, "two workers ran the periodic task at once"


async def test_a_periodic_task_waits_its_interval(make_worker):
    runs: list[float] = []

    async def tick() -> None:
        runs.append(time.monotonic())

    register_periodic("test.hourly", 3600, tick)
    first, second = make_worker(), make_worker()
    await first.run_until_idle()
    await second.run_until_idle()
    await first.run_until_idle()
    assert len(runs) == 1


async def test_the_inline_worker_runs_jobs_inside_the_api_and_reports_metrics(make_app):
    done = asyncio.Event()

    async def handler(payload: dict[str, Any]) -> None:
        done.set()

    register_handler("test.inline", handler)
    app = make_app(worker="inline")
    async with serve(app) as http:
        await enqueue("test.inline", {})
        await asyncio.wait_for(done.wait(), 5)
        await asyncio.sleep(0.05)  # the attempt is recorded right after the handler returns
        metrics = (await http.get("/metrics")).text
    assert 'orbix_jobs_total{kind="test.inline",outcome="succeeded"} 1.0' in metrics
    assert 'orbix_job_seconds_count{kind="test.inline"} 1.0' in metrics
    assert "orbix_jobs_pending" in metrics


async def test_with_worker_off_the_api_runs_no_jobs(make_app):
    seen: list[int] = []

    async def handler(payload: dict[str, Any]) -> None:
        seen.append(1)

    register_handler("test.off", handler)
    async with serve(make_app(worker="off")):
        await enqueue("test.off", {})
        await asyncio.sleep(0.3)
    assert seen == []


async def test_pending_jobs_are_counted_by_kind(worker):
    async def handler(payload: dict[str, Any]) -> None:
        return None

    register_handler("test.counted", handler)
    await enqueue("test.counted", {}, run_at=None)
    await worker._refresh_pending(force=True)
    from prometheus_client import generate_latest

    assert 'orbix_jobs_pending{kind="test.counted"} 1.0' in generate_latest(worker.metrics.registry).decode()


def test_retry_delays_grow_exponentially_with_jitter_and_a_cap():
    for attempt, full in ((1, 5), (2, 10), (3, 20), (4, 40)):
        delays = [backoff_delay(attempt, base=5, cap=30) for _ in range(200)]
        assert all(min(full, 30) * 0.5 <= d <= min(full, 30) for d in delays), (attempt, delays[:5])
        assert len(set(delays)) > 100, "no jitter"
    assert all(270 <= jittered(300) <= 300 for _ in range(100))


def test_worker_settings_are_read_and_checked():
    settings = Settings.from_env({"WEBHOOK_RETRY_SCHEDULE": "1s, 2m,3h,1d", "WORKER": "OFF"})
    assert settings.webhook_retry_schedule == (1, 120, 10800, 86400)
    assert settings.worker == "off"
    defaults = Settings.from_env({})
    assert defaults.worker == "inline" and defaults.worker_metrics_port == 9100
    assert defaults.webhook_retry_schedule == (5, 300, 1800, 7200, 18000, 36000, 36000)
    assert defaults.webhook_allow_private_urls is False
    for bad in (
        {"WORKER": "sometimes"},
        {"WEBHOOK_RETRY_SCHEDULE": "5s,soon"},
        {"WEBHOOK_RETRY_SCHEDULE": "0s"},
    ):
        with pytest.raises(ConfigError, match=next(iter(bad))):
            Settings.from_env(bad)
    production = {
        "APP_ENV": "production",
        "JWT_SECRET": "x" * 40,
        "MONGODB_URL": "mongodb://db:27017",
        "PUBLIC_URL": "https://app.example.com",
    }
    with pytest.raises(ConfigError, match="WEBHOOK_ALLOW_PRIVATE_URLS"):
        Settings.from_env({**production, "WEBHOOK_ALLOW_PRIVATE_URLS": "true"})
    assert Settings.from_env(production).webhook_allow_private_urls is False


# ---------------------------------------------------------------- real processes


def _env(port: int) -> dict[str, str]:
    return {
        **os.environ,
        "WORKER_METRICS_PORT": str(port),
        "HOST": "127.0.0.1",
        "LOG_FORMAT": "json",
        "LOG_LEVEL": "INFO",
    }


def _start(command: list[str], port: int) -> subprocess.Popen[str]:
    return subprocess.Popen(
        command, cwd=ROOT, env=_env(port), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def _wait_for_metrics(port: int, process: subprocess.Popen[Any]) -> str:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        assert process.poll() is None, process.communicate()
        try:
            return httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=1).text
        except httpx.TransportError:
            time.sleep(0.1)
    raise AssertionError("the worker never served /metrics")


def test_python_m_app_worker_serves_metrics_and_stops_on_sigterm():
    port = free_port()
    process = _start([sys.executable, "-m", "app", "worker"], port)
    try:
        metrics = _wait_for_metrics(port, process)
        assert "orbix_jobs_total" in metrics and "orbix_job_seconds" in metrics
        assert "orbix_jobs_pending" in metrics
        started = time.monotonic()
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=30)
        assert time.monotonic() - started < 30
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 0, stderr
    assert '"message": "worker stopped"' in stderr


def test_sigterm_lets_the_job_in_hand_finish_then_the_process_exits():
    """A real worker process (tests/worker/slow_worker.py: serve_worker with one slow job) gets SIGTERM while
    the job runs: it finishes the job, records it, and exits well within 30 s."""
    process = _start([sys.executable, str(Path(__file__).with_name("slow_worker.py"))], free_port())
    try:
        assert process.stdout is not None
        assert process.stdout.readline().strip() == "job started"
        started = time.monotonic()
        process.send_signal(signal.SIGTERM)
        stdout, stderr = process.communicate(timeout=30)
        assert time.monotonic() - started < 30
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 0, stderr
    assert stdout.strip().splitlines()[-1] == "job succeeded after 1 attempt(s)", stdout + stderr
    attempts = [json.loads(line) for line in stderr.splitlines() if '"job attempt"' in line]
    assert len(attempts) == 1, stderr  # one JSON line per attempt
    assert attempts[0]["kind"] == "test.slow" and attempts[0]["outcome"] == "succeeded"
    assert attempts[0]["attempt"] == 1 and attempts[0]["duration_ms"] >= 1000


def test_a_taken_metrics_port_stops_the_worker_with_one_line():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run(
            [sys.executable, "-m", "app", "worker"],
            cwd=ROOT,
            env=_env(port),
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert result.returncode == 1
    line = json.loads(result.stderr.strip().splitlines()[-1])  # one JSON line, as every start-up failure
    assert line["level"] == "CRITICAL" and line["port"] == port
    assert line["message"].startswith("WORKER_METRICS_PORT: cannot listen")
