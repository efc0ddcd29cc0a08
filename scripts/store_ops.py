"""Store operations per request: each call a request makes to the database before its answer has gone out,
counted at the embedded store's collection methods (a find or an aggregate counts once: its first batch
comes with the command). On MongoDB each one is a round trip, on a replica set a majority one for a write.

Deterministic (a count, not a time), so a test holds the targets (tests/system/test_round_trips.py) and
scripts/bench_floor.py prints the counts beside CPU per request. Work a request hands to after its answer
(an event relayed after the response) is not on its path and is not counted.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import sys
from collections.abc import Awaitable, Callable, Iterator
from contextvars import ContextVar
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import mongomock_motor
import msgspec

READS = ("find", "find_one", "aggregate", "count_documents", "distinct")
WRITES = (
    "insert_one",
    "insert_many",
    "update_one",
    "update_many",
    "replace_one",
    "find_one_and_update",
    "find_one_and_replace",
    "find_one_and_delete",
    "delete_one",
    "delete_many",
)
OPERATIONS = (*READS, *WRITES, "bulk_write")
_CURSORS = ("find", "aggregate")


@dataclass
class Tally:
    """The operations of one request, while it has not answered."""

    operations: list[str] = field(default_factory=list)
    answering: bool = True
    after: list[str] = field(default_factory=list)  # what the request did once its answer was out

    def __len__(self) -> int:
        return len(self.operations)


_tally: ContextVar[Tally | None] = ContextVar("store_ops_tally", default=None)


def _note(collection: Any, name: str) -> None:
    tally = _tally.get()
    if tally is not None:
        (tally.operations if tally.answering else tally.after).append(f"{collection.name}.{name}")


@contextlib.contextmanager
def counting() -> Iterator[None]:
    """Count while inside, at mongomock-motor's collection class (its public methods, wrapped, restored)."""
    cls = mongomock_motor.AsyncMongoMockCollection
    originals = {name: getattr(cls, name) for name in OPERATIONS if hasattr(cls, name)}
    own = {name: cls.__dict__[name] for name in originals if name in cls.__dict__}

    def wrap(name: str, original: Any) -> Any:
        if name in _CURSORS:

            def cursor(self: Any, *args: Any, **kwargs: Any) -> Any:
                _note(self, name)
                return original(self, *args, **kwargs)

            return cursor

        async def call(self: Any, *args: Any, **kwargs: Any) -> Any:
            _note(self, name)
            return await original(self, *args, **kwargs)

        return call

    for name, original in originals.items():
        setattr(cls, name, wrap(name, original))
    try:
        yield
    finally:
        for name in originals:
            if name in own:
                setattr(cls, name, own[name])
            else:
                delattr(cls, name)


@contextlib.contextmanager
def tallied() -> Iterator[Tally]:
    """Count the store operations of the code run inside (inside `counting()`), outside any request: a
    worker's periodic pass (tests/mail/test_reminders.py)."""
    tally = Tally()
    token = _tally.set(tally)
    try:
        yield tally
    finally:
        _tally.reset(token)


Asgi = Callable[[dict[str, Any], Any, Any], Awaitable[None]]

# The most store operations each kind of route may make before its answer (authentication included).
LIMITS = {"create": 4, "update": 4, "list": 3, "read": 2}


async def measured(app: Asgi, scope: dict[str, Any], receive: Any, send: Any) -> Tally:
    """Run one ASGI request, counting its store operations until its last body message is sent."""
    tally = Tally()

    async def answering(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.body" and not message.get("more_body", False):
            tally.answering = False
        await send(message)

    token = _tally.set(tally)
    try:
        await app(scope, receive, answering)
    finally:
        _tally.reset(token)
    return tally


@dataclass
class Answer:
    status: int
    body: bytes
    tally: Tally


def http_scope(
    method: str, path: str, headers: list[tuple[bytes, bytes]], query: bytes = b"", host: str = "orbix.local"
) -> dict[str, Any]:
    """The ASGI scope of one HTTP/1.1 request from loopback (`headers` without Host: it is added first)."""
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": query,
        "root_path": "",
        "headers": [(b"host", host.encode()), *headers],
        "client": ("127.0.0.1", 50000),
        "server": (host, 80),
        "state": {},
    }


async def request(
    app: Asgi,
    method: str,
    path: str,
    token: str = "",
    body: bytes = b"",
    extra: list[tuple[bytes, bytes]] | None = None,
) -> Answer:
    """One HTTP request straight through ASGI, its store operations counted (inside `counting()`); `extra`
    headers (a cookie) go with it."""
    path, _, query = path.partition("?")
    headers = [(b"content-length", str(len(body)).encode()), *(extra or [])]
    if token:
        headers.append((b"authorization", f"Bearer {token}".encode()))
    if body:
        headers.append((b"content-type", b"application/json"))
    scope = http_scope(method, path, headers, query.encode())
    received = False

    async def receive() -> dict[str, Any]:
        nonlocal received
        if received:
            await asyncio.Event().wait()  # a client that stays connected
        received = True
        return {"type": "http.request", "body": body, "more_body": False}

    status, chunks = 0, []

    async def send(message: dict[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]
        elif message["type"] == "http.response.body":
            chunks.append(message.get("body", b""))

    tally = await measured(app, scope, receive, send)
    return Answer(status, b"".join(chunks), tally)


@dataclass(frozen=True)
class Route:
    kind: str  # a key of LIMITS
    method: str
    path: str  # {client}, {project}, {entry}, {invoice}, {schedule}: ids made by `scenario`
    body: dict[str, Any] | None = None

    @property
    def name(self) -> str:
        return f"{self.method} {self.path}"


ROUTES = (
    Route("create", "POST", "/api/clients", {"name": "Acme", "currency": "EUR"}),
    Route("update", "PATCH", "/api/clients/{client}", {"name": "Acme GmbH"}),
    Route("read", "GET", "/api/clients/{client}"),
    Route("list", "GET", "/api/clients"),
    Route("create", "POST", "/api/projects", {"client_id": "{client}", "name": "Site", "hourly_rate": "90"}),
    Route("update", "PATCH", "/api/projects/{project}", {"name": "Website"}),
    Route("read", "GET", "/api/projects/{project}"),
    Route("list", "GET", "/api/projects"),
    Route(
        "create",
        "POST",
        "/api/time-entries",
        {"project_id": "{project}", "started_at": "2026-03-02T09:00:00Z", "ended_at": "2026-03-02T10:00:00Z"},
    ),
    Route("update", "PATCH", "/api/time-entries/{entry}", {"description": "Design"}),
    Route("read", "GET", "/api/time-entries/{entry}"),
    Route("list", "GET", "/api/time-entries"),
    Route(
        "create",
        "POST",
        "/api/invoices",
        {
            "client_id": "{client}",
            "lines": [{"description": "Work", "quantity": "2", "unit_price": "150.00"}],
        },
    ),
    Route("update", "PATCH", "/api/invoices/{invoice}", {"notes": "Thank you"}),
    Route("read", "GET", "/api/invoices/{invoice}"),
    Route("list", "GET", "/api/invoices"),
    Route(
        "create",
        "POST",
        "/api/recurring-invoices",
        {
            "client_id": "{client}",
            "lines": [{"description": "Retainer", "quantity": "1", "unit_price": "500.00"}],
            "frequency": "monthly",
            "start_date": "2900-01-01",
        },
    ),
    Route("update", "PATCH", "/api/recurring-invoices/{schedule}", {"notes": "Monthly"}),
    Route("read", "GET", "/api/recurring-invoices/{schedule}"),
    Route("list", "GET", "/api/recurring-invoices"),
    Route("create", "POST", "/api/contracts", {"client_id": "{client}", "title": "Services agreement"}),
    Route("create", "POST", "/api/resumes", {"title": "CV", "profile": {"full_name": "Ada Lovelace"}}),
    Route("read", "GET", "/api/auth/me"),
    Route("list", "GET", "/api/events"),
)


def _filled(value: Any, ids: dict[str, str]) -> Any:
    if isinstance(value, dict):
        return {key: _filled(item, ids) for key, item in value.items()}
    if isinstance(value, list):
        return [_filled(item, ids) for item in value]
    if isinstance(value, str):
        for name, id_ in ids.items():
            value = value.replace("{" + name + "}", id_)
    return value


async def scenario(app: Asgi, token: str) -> list[tuple[Route, int, list[str]]]:
    """Each route once, in order (the ids each needs are made by the creates before it; each create is run
    once beforehand so that no first-use cost is counted): (route, status, its store operations)."""
    ids: dict[str, str] = {}
    kinds = {"/api/clients": "client", "/api/projects": "project", "/api/time-entries": "entry"}
    kinds["/api/invoices"] = "invoice"
    kinds["/api/recurring-invoices"] = "schedule"
    counted = []
    for route in ROUTES:
        body = msgspec.json.encode(_filled(route.body, ids)) if route.body is not None else b""
        path = _filled(route.path, ids)
        if route.method == "POST":
            await request(app, route.method, path, token, body)
        answer = await request(app, route.method, path, token, body)
        if route.method == "POST" and route.path in kinds and answer.status == 201:
            ids[kinds[route.path]] = msgspec.json.decode(answer.body)["id"]
        counted.append((route, answer.status, answer.tally.operations))
    return counted


def limit_of(route: Route) -> int:
    return LIMITS[route.kind]


async def _main() -> int:
    from asgi_lifespan import LifespanManager

    from app.config import Settings
    from app.main import create_app

    app = create_app(Settings.from_env())
    async with LifespanManager(app, startup_timeout=60):
        for _ in range(600):  # the embedded store connects in the background
            if (await request(app, "GET", "/ready")).status == 200:
                break
            await asyncio.sleep(0.05)
        with counting():
            email = f"ops-{secrets.token_hex(4)}@example.com"
            credentials = {"email": email, "password": "store-ops-password", "name": "Ops"}
            registered = await request(
                app, "POST", "/api/auth/register", body=msgspec.json.encode(credentials)
            )
            token = msgspec.json.decode(registered.body)["access_token"]
            rows = await scenario(app, token)
    print(f"{'route':<34} {'ops':>3} {'limit':>5}  operations")
    over = 0
    for route, status, operations in rows:
        limit = limit_of(route)
        over += len(operations) > limit or status >= 300
        print(f"{route.name:<34} {len(operations):>3} {limit:>5}  {', '.join(operations)}  [{status}]")
    return 1 if over else 0


def embedded_environment() -> None:
    """The environment of a measuring script: the embedded store, cheap bcrypt, quiet logs."""
    for name in [n for n in os.environ if n.startswith("MONGODB_")]:
        del os.environ[name]
    os.environ.setdefault("APP_ENV", "development")
    os.environ.setdefault("JWT_SECRET", secrets.token_urlsafe(48))
    os.environ.setdefault("BCRYPT_ROUNDS", "4")
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def main() -> int:
    embedded_environment()
    return asyncio.run(_main())


if __name__ == "__main__":
    raise SystemExit(main())
