"""Fixtures of the security suite: one app and one database per test module, fresh users per test.

The suite sends thousands of requests over ~200 tests. Building an app and starting its lifespan costs more
than most of these tests, so a module shares both; isolation comes from the users instead: every test gets
`user` and `other_user` with unique emails, and every rule checked here is per user (tenancy, tokens, bodies).
Tests that need other settings (rate limit, CORS, bcrypt cost) build their own app with `make_app`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import pytest_asyncio
from litestar import Litestar
from litestar.testing import AsyncTestClient

from tests.conftest import Account, register
from tests.security.route_table import shared_app
from tests.security.world import unique_email


@pytest.fixture
def app() -> Litestar:
    return shared_app()


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def module_client() -> AsyncIterator[AsyncTestClient[Litestar]]:
    # AsyncTestClient runs the app (and its lifespan) in its own portal thread, so the client can outlive
    # the event loop of each test.
    async with AsyncTestClient(app=shared_app()) as test_client:
        yield test_client


@pytest.fixture
def client(module_client: AsyncTestClient[Litestar]) -> AsyncTestClient[Litestar]:
    return module_client


@pytest.fixture
async def user(client: AsyncTestClient[Litestar]) -> Account:
    return await register(client, unique_email("ada"), "Ada Lovelace")


@pytest.fixture
async def other_user(client: AsyncTestClient[Litestar]) -> Account:
    return await register(client, unique_email("mallory"), "Mallory")
