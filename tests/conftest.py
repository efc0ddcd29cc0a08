"""The app over HTTP on a fresh in-memory database per test, with fast bcrypt."""

from __future__ import annotations

import os
from datetime import UTC, datetime

# The environment is set before the app is imported: app.main builds `app` from it at import time.
for _name in [
    n
    for n in os.environ
    if n.startswith(
        ("AI_", "MONGODB_", "CORS_", "TRUSTED_", "WORKER", "WEBHOOK_", "SMTP_", "RENDER_", "DOCUMENT_")
    )
]:
    del os.environ[_name]
os.environ.update(
    {
        "APP_ENV": "test",
        "BCRYPT_ROUNDS": "4",
        "AUTH_RATE_LIMIT_PER_MINUTE": "100000",
        "JWT_SECRET": "test-secret-that-is-long-enough-for-hs256-0123456789",
        "LOG_LEVEL": "WARNING",
        "LOG_FORMAT": "console",
        # Tests run jobs explicitly (the `worker` fixture) or build an app with worker="inline".
        "WORKER": "off",
        # Webhook receivers in the tests listen on 127.0.0.1; the SSRF guard is tested with its own settings.
        "WEBHOOK_ALLOW_PRIVATE_URLS": "true",
        # Forty sends at once by one user wait for their turn, however slow a loaded machine renders them; the
        # fair share of the renderers is tested with its own settings (tests/documents/test_fair_share.py).
        "RENDER_WAIT_SECONDS": "600",
    }
)

from collections.abc import AsyncIterator, Callable, Iterator  # noqa: E402
from contextlib import asynccontextmanager  # noqa: E402
from dataclasses import dataclass, replace  # noqa: E402
from typing import Any  # noqa: E402

import httpx  # noqa: E402
import pytest  # noqa: E402
from asgi_lifespan import LifespanManager  # noqa: E402
from litestar import Litestar  # noqa: E402

from app.config import Settings  # noqa: E402
from app.core.clock import MovableClock, using_clock  # noqa: E402
from app.main import Orbix, create_app  # noqa: E402
from tests import problem_codes  # noqa: E402

PASSWORD = "correct horse battery"


Orbix.__call__ = problem_codes.record(Orbix.__call__)  # type: ignore[method-assign]


@pytest.fixture(autouse=True)
def _problem_codes_are_declared() -> Iterator[None]:
    """Every problem this test saw the app answer is one /schema/openapi.json declares for that operation."""
    problem_codes.start()
    yield
    missing = problem_codes.undeclared()
    if missing:
        pytest.fail(
            f"problem codes answered but not in the OpenAPI document (operation, status, code): {missing}"
        )


@dataclass
class Account:
    id: str
    email: str
    token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


@pytest.fixture
def settings() -> Settings:
    return Settings.from_env()


@pytest.fixture
def make_app() -> Callable[..., Litestar]:
    """Build an app with some settings changed: make_app(auth_rate_limit_per_minute=3)."""

    def build(**changes: Any) -> Litestar:
        return create_app(replace(Settings.from_env(), **changes))

    return build


@pytest.fixture
def app(settings: Settings) -> Litestar:
    return create_app(settings)


@asynccontextmanager
async def serve(app: Litestar, client_ip: str = "127.0.0.1") -> AsyncIterator[httpx.AsyncClient]:
    """The app with its lifespan run, called over ASGI in THIS event loop.

    Litestar's AsyncTestClient runs each request to completion in a portal thread, which would make
    `asyncio.gather` tests sequential; httpx's ASGITransport interleaves them for real.
    """
    async with LifespanManager(app, startup_timeout=30, shutdown_timeout=30):
        # The app itself, not manager.app: that wrapper shares one lifespan-state dict across requests,
        # where Litestar keeps per-connection state.
        transport = httpx.ASGITransport(app=app, client=(client_ip, 50000))
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver.local") as http:
            yield http


@pytest.fixture
async def client(app: Litestar) -> AsyncIterator[httpx.AsyncClient]:
    async with serve(app) as http:
        yield http


async def register(client: httpx.AsyncClient, email: str, name: str = "Test User") -> Account:
    response = await client.post(
        "/api/auth/register", json={"email": email, "password": PASSWORD, "name": name}
    )
    assert response.status_code == 201, response.text
    body = response.json()
    return Account(id=body["user"]["id"], email=email, token=body["access_token"])


@pytest.fixture
async def user(client: httpx.AsyncClient) -> Account:
    return await register(client, "ada@example.com", "Ada Lovelace")


@pytest.fixture
async def other_user(client: httpx.AsyncClient) -> Account:
    return await register(client, "mallory@example.com", "Mallory")


@pytest.fixture
def auth(user: Account) -> dict[str, str]:
    return user.headers


@pytest.fixture
def business_clock() -> Iterator[MovableClock]:
    """The business clock (app/core/clock.py), standing still at this moment until the test moves it: what
    "today" is for default dates, overdue and reports, without sleeping or waiting for a real midnight."""
    with using_clock(MovableClock(datetime.now(UTC))) as moved:
        yield moved


def moment(text: str) -> datetime:
    """A timestamp of a response as a datetime: compare these, never the strings (RFC 3339 text leaves out a
    zero fraction, so "…:36Z" sorts after "…:36.002000Z")."""
    return datetime.fromisoformat(text)


def assert_problem(response: Any, status: int, code: str) -> dict[str, Any]:
    """An RFC 9457 problem with the given status and stable code."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json"), response.headers
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    assert body["code"] == code, body
    assert body["type"] == "about:blank"
    assert body["title"] and body["detail"]
    assert body["request_id"] == response.headers["x-request-id"]
    return body
