"""Register and login are limited per client address; the address comes from X-Forwarded-For only when the peer
is a trusted proxy.

AsyncTestClient's peer is `request.client.host == "testclient"` (not an IP address, so it can never be a trusted
proxy); the trusted-proxy tests put a real peer address in front of the app with `with_peer`.
"""

from __future__ import annotations

import ipaddress
import itertools
from typing import Any

from litestar.testing import AsyncTestClient

from tests.conftest import PASSWORD, assert_problem

LIMIT = 3
_emails = itertools.count()


def with_peer(app: Any, host: str) -> Any:
    """The app as seen from a TCP peer at `host` (what uvicorn puts in scope["client"])."""

    async def asgi(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            scope = {**scope, "client": (host, 50000)}
        await app(scope, receive, send)

    return asgi


def _register_body() -> dict[str, str]:
    return {"email": f"user{next(_emails)}@example.com", "password": PASSWORD, "name": "User"}


def assert_rate_limited(response: Any) -> None:
    assert_problem(response, 429, "rate_limited")
    retry_after = response.headers.get("retry-after", "")
    assert retry_after.isdigit() and 1 <= int(retry_after) <= 60, f"Retry-After: {retry_after!r}"


async def _login(http: Any, forwarded_for: str | None = None) -> Any:
    headers = {"X-Forwarded-For": forwarded_for} if forwarded_for else {}
    return await http.post(
        "/api/auth/login", json={"email": "x@example.com", "password": "wrong password"}, headers=headers
    )


async def test_a_successful_login_carries_no_retry_after(make_app):
    """Register and login share one limit per address: both answers within it, neither with Retry-After."""
    async with AsyncTestClient(app=make_app(auth_rate_limit_per_minute=LIMIT)) as http:
        account = _register_body()
        assert_let_through(await http.post("/api/auth/register", json=account), 201)
        credentials = {"email": account["email"], "password": account["password"]}
        assert_let_through(await http.post("/api/auth/login", json=credentials), 200)
        assert_let_through(await http.post("/api/auth/login", json=credentials), 200)
        assert_rate_limited(await http.post("/api/auth/login", json=credentials))


def assert_let_through(response: Any, status: int) -> None:
    """An answer within the limit: Litestar's RateLimit-* headers, but Retry-After only ever on a 429."""
    assert response.status_code == status, response.text
    assert response.headers.get("ratelimit-remaining", "").isdigit(), response.headers
    assert "retry-after" not in response.headers, response.headers


async def test_register_is_rate_limited(make_app):
    async with AsyncTestClient(app=make_app(auth_rate_limit_per_minute=LIMIT)) as http:
        for _ in range(LIMIT):
            assert_let_through(await http.post("/api/auth/register", json=_register_body()), 201)
        assert_rate_limited(await http.post("/api/auth/register", json=_register_body()))


async def test_login_is_rate_limited(make_app):
    async with AsyncTestClient(app=make_app(auth_rate_limit_per_minute=LIMIT)) as http:
        for _ in range(LIMIT):
            assert_let_through(await _login(http), 401)
        response = await _login(http)
        assert_rate_limited(response)
        assert "access_token" not in response.text


async def test_other_routes_are_not_rate_limited(make_app):
    async with AsyncTestClient(app=make_app(auth_rate_limit_per_minute=LIMIT)) as http:
        tokens = [
            (await http.post("/api/auth/register", json=_register_body())).json()["access_token"]
            for _ in range(LIMIT)
        ]
        assert_rate_limited(await http.post("/api/auth/register", json=_register_body()))
        headers = {"Authorization": f"Bearer {tokens[0]}"}
        for _ in range(LIMIT * 2):
            for response in (
                await http.get("/api/auth/me", headers=headers),
                await http.post("/api/clients", json={"name": "Acme"}, headers=headers),
                await http.get("/api/clients", headers=headers),
                await http.get("/health"),
            ):
                assert response.status_code in (200, 201), response.text
                assert "retry-after" not in response.headers


async def test_forwarded_for_is_ignored_without_a_trusted_proxy(make_app):
    async with AsyncTestClient(app=make_app(auth_rate_limit_per_minute=LIMIT)) as http:
        for n in range(LIMIT):
            assert (await _login(http, f"203.0.113.{n}")).status_code == 401
        assert_rate_limited(await _login(http, "203.0.113.99"))


async def test_forwarded_for_is_ignored_when_the_peer_is_not_a_trusted_proxy(make_app):
    trusted = (ipaddress.ip_network("10.0.0.0/8"),)
    app = make_app(auth_rate_limit_per_minute=LIMIT, trusted_proxies=trusted)
    async with AsyncTestClient(app=with_peer(app, "192.0.2.10")) as http:
        for n in range(LIMIT):
            assert (await _login(http, f"203.0.113.{n}")).status_code == 401
        assert_rate_limited(await _login(http, "203.0.113.99"))


async def test_test_client_peer_is_never_a_trusted_proxy(make_app):
    """AsyncTestClient's peer is "testclient": trusting every network still does not make it a proxy."""
    trusted = (ipaddress.ip_network("0.0.0.0/0"), ipaddress.ip_network("::/0"))
    async with AsyncTestClient(
        app=make_app(auth_rate_limit_per_minute=LIMIT, trusted_proxies=trusted)
    ) as http:
        for n in range(LIMIT):
            assert (await _login(http, f"203.0.113.{n}")).status_code == 401
        assert_rate_limited(await _login(http, "203.0.113.99"))


async def test_forwarded_for_separates_clients_behind_a_trusted_proxy(make_app):
    trusted = (ipaddress.ip_network("10.0.0.0/8"),)
    app = make_app(auth_rate_limit_per_minute=LIMIT, trusted_proxies=trusted)
    async with AsyncTestClient(app=with_peer(app, "10.0.0.7")) as http:
        for _ in range(LIMIT):
            assert (await _login(http, "203.0.113.5")).status_code == 401
        assert_rate_limited(await _login(http, "203.0.113.5"))
        # a second client has its own budget
        for _ in range(LIMIT):
            assert (await _login(http, "203.0.113.6")).status_code == 401
        # the nearest untrusted hop counts: a forged left-most hop or another trusted proxy changes nothing
        assert_rate_limited(await _login(http, "198.51.100.9, 203.0.113.5"))
        assert_rate_limited(await _login(http, "203.0.113.5, 10.0.0.3"))
