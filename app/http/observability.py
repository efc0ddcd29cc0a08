"""Request ids, JSON logs, Prometheus metrics and the raw-ASGI edge every request passes through."""

from __future__ import annotations

import itertools
import json
import logging
import os
import re
import sys
import time
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram

REQUEST_ID_HEADER = b"x-request-id"
_SANE_REQUEST_ID = re.compile(rb"^[A-Za-z0-9._:\-]{1,128}$")
_request_id: ContextVar[str] = ContextVar("request_id", default="")
# Per request: whether the client hung up (set by the edge's receive, read by the 500 handler).
_connection: ContextVar[dict[str, bool] | None] = ContextVar("connection", default=None)
CLIENT_CLOSED_STATUS = 499  # nginx's "client closed request": counted apart from the server's own errors

access_log = logging.getLogger("orbix.access")

ASGIApp = Callable[[dict[str, Any], Any, Any], Awaitable[None]]


def current_request_id() -> str:
    return _request_id.get()


def client_disconnected() -> bool:
    connection = _connection.get()
    return bool(connection and connection["disconnected"])


class _RequestIds:
    """32 hex characters: a random per-process prefix and a counter. Unique across processes and restarts
    like a uuid4, at a tenth of its cost (no system call per request); a forked child draws a new prefix.
    Request ids correlate log lines; they are not secrets, so being sequential is harmless."""

    def __init__(self) -> None:
        self.reseed()
        os.register_at_fork(after_in_child=self.reseed)

    def reseed(self) -> None:
        self.prefix = os.urandom(8).hex().encode("ascii")
        self.counter = itertools.count(1)

    def new(self) -> bytes:
        return b"%s%016x" % (self.prefix, next(self.counter))


_request_ids = _RequestIds()


def _incoming_request_id(headers: list[tuple[bytes, bytes]]) -> bytes:
    """The client's X-Request-ID when it is sane, else a new one."""
    for name, value in headers:
        if name == REQUEST_ID_HEADER:
            if _SANE_REQUEST_ID.match(value):
                return value
            break
    return _request_ids.new()


# ---------------------------------------------------------------- logging


class JsonFormatter(logging.Formatter):
    _RESERVED = frozenset(logging.makeLogRecord({}).__dict__) | {"message", "asctime"}

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        request_id = _request_id.get()
        if request_id:
            entry["request_id"] = request_id
        for key, value in record.__dict__.items():
            if key not in self._RESERVED:
                entry[key] = value
        if record.exc_info:
            entry["exc_info"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


class ConsoleFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)-7s %(name)s %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        request_id = _request_id.get()
        return f"{line} [{request_id}]" if request_id else line


def configure_logging(level: str, fmt: str) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else ConsoleFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for noisy in ("uvicorn.access", "httpx", "httpcore"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


# ---------------------------------------------------------------- metrics


class Metrics:
    """Per-application registry, so several apps in one process (the tests) never collide."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        labels = ("method", "route", "status")
        self.requests = Counter(
            "orbix_http_requests",
            "HTTP requests by route template and status",
            labels,
            registry=self.registry,
        )
        self.latency = Histogram(
            "orbix_http_request_duration_seconds",
            "HTTP request latency by route template and status",
            labels,
            registry=self.registry,
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
        )
        self.quota_exceeded = Counter(
            "orbix_quota_exceeded",
            "Requests refused and jobs held by a fair-share limit, by the limit's setting",
            ("limit",),
            registry=self.registry,
        )
        # (method, route, status) -> its two labelled series: prometheus_client's labels() lookup, twice a
        # request, is made once per series instead.
        self._series: dict[tuple[str, str, str], tuple[Any, Any]] = {}

    def record(self, method: str, route: str, status: str, seconds: float) -> None:
        """Count one request and its latency."""
        series = self._series.get((method, route, status))
        if series is None:
            series = (self.requests.labels(method, route, status), self.latency.labels(method, route, status))
            self._series[(method, route, status)] = series
        series[0].inc()
        series[1].observe(seconds)


# ---------------------------------------------------------------- the edge

_COMMON_HEADERS = [(b"x-content-type-options", b"nosniff")]
_HEALTH_BODY = b'{"status":"ok"}'
_HEALTH_HEADERS = [
    (b"content-type", b"application/json"),
    (b"content-length", str(len(_HEALTH_BODY)).encode()),
    *_COMMON_HEADERS,
]


async def answer_health(scope: dict[str, Any], send: Any) -> None:
    """Liveness without the framework: no database, no log line, no auth (load testers hammer it)."""
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [*_HEALTH_HEADERS, (REQUEST_ID_HEADER, _incoming_request_id(scope["headers"]))],
        }
    )
    await send({"type": "http.response.body", "body": _HEALTH_BODY})


async def run_with_edge(
    scope: dict[str, Any], receive: Any, send: Any, app: ASGIApp, metrics: Metrics
) -> None:
    """Request id in and out, security headers, one access-log line and the metrics around a request.

    A client that hangs up mid-request is not a server error: it is logged at INFO as
    `client_disconnected` (no traceback) and counted as status 499."""
    raw_request_id = _incoming_request_id(scope["headers"])
    token = _request_id.set(raw_request_id.decode("ascii"))
    connection = {"disconnected": False}
    connection_token = _connection.set(connection)
    started = time.perf_counter()
    status = 500
    answered = False  # the whole response went out before any hang-up
    extra_headers = [(REQUEST_ID_HEADER, raw_request_id), *_COMMON_HEADERS]

    async def receive_watching() -> dict[str, Any]:
        message: dict[str, Any] = await receive()
        if message["type"] == "http.disconnect":
            connection["disconnected"] = True
        return message

    async def send_with_headers(message: dict[str, Any]) -> None:
        nonlocal status, answered
        if message["type"] == "http.response.start":
            status = message["status"]
            message["headers"] = [*message.get("headers", ()), *extra_headers]
        elif not message.get("more_body", False) and not connection["disconnected"]:
            answered = True
        try:
            await send(message)
        except Exception:
            if not connection["disconnected"]:
                raise  # nobody is listening any more: the answer has nowhere to go

    try:
        await app(scope, receive_watching, send_with_headers)
    finally:
        duration = time.perf_counter() - started
        route = scope.get("path_template") or "<unmatched>"
        method = scope["method"]
        hung_up = connection["disconnected"] and not answered
        if hung_up:
            status = CLIENT_CLOSED_STATUS
        metrics.record(method, route, str(status), duration)
        access_log.info(
            "client_disconnected" if hung_up else "%s %s %s",
            *(() if hung_up else (method, route, status)),
            extra={
                "method": method,
                "path": route,
                "status": status,
                "duration_ms": round(duration * 1000, 2),
            },
        )
        _connection.reset(connection_token)
        _request_id.reset(token)
