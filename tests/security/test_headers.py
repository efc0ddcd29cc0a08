"""Response headers: nosniff everywhere, no version banner, CORS only for the configured origins, sane request ids."""

from __future__ import annotations

import re
from typing import Any

import pytest
from litestar.testing import AsyncTestClient

from tests.security.asgi import raw_request

ORIGIN = "https://app.example"
GENERATED_ID = re.compile(r"^[0-9a-f]{32}$")


def _requests(auth: dict[str, str]) -> list[tuple[str, str, dict[str, str], Any, int]]:
    """(method, path, headers, json body, expected status): success, errors of every kind, operational routes."""
    return [
        ("GET", "/health", {}, None, 200),
        ("GET", "/ready", {}, None, 200),
        ("GET", "/metrics", {}, None, 200),
        ("GET", "/schema/openapi.json", {}, None, 200),
        ("GET", "/api/auth/me", auth, None, 200),
        ("POST", "/api/clients", auth, {"name": "Acme"}, 201),
        ("GET", "/api/auth/me", {}, None, 401),
        ("POST", "/api/clients", auth, {"name": 1}, 400),
        ("GET", "/api/clients/not-an-id", auth, None, 404),
        ("GET", "/api/no-such-route", auth, None, 404),
        ("GET", "/no-such-route", {}, None, 404),
        ("PUT", "/api/auth/me", auth, {}, 405),
    ]


async def test_every_response_has_nosniff_and_no_version_banner(client, auth):
    for method, path, headers, body, status in _requests(auth):
        response = await client.request(method, path, headers=headers, json=body)
        assert response.status_code == status, f"{method} {path}: {response.status_code} {response.text}"
        assert response.headers.get("x-content-type-options") == "nosniff", f"{method} {path}"
        assert "server" not in response.headers, f"{method} {path}: Server {response.headers['server']}"
        assert "x-powered-by" not in response.headers, f"{method} {path}"
        assert response.headers.get("x-request-id"), f"{method} {path}"


async def test_cors_allows_only_the_configured_origin(make_app):
    async with AsyncTestClient(app=make_app(cors_origins=(ORIGIN,))) as http:
        preflight = {
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization",
        }
        allowed = await http.options("/api/clients", headers={"Origin": ORIGIN, **preflight})
        assert allowed.status_code in (200, 204), allowed.text
        assert allowed.headers.get("access-control-allow-origin") == ORIGIN
        assert "POST" in allowed.headers.get("access-control-allow-methods", "")
        for path in ("/api/auth/me", "/api/no-such-route"):  # errors too, so the SPA can read them
            response = await http.get(path, headers={"Origin": ORIGIN})
            assert response.headers.get("access-control-allow-origin") == ORIGIN, path
            # the SPA can read the request id to quote it in a bug report
            assert "x-request-id" in response.headers.get("access-control-expose-headers", "").lower(), path

        other = {"Origin": "https://evil.example"}
        assert (
            "access-control-allow-origin"
            not in (await http.options("/api/clients", headers={**other, **preflight})).headers
        )
        assert "access-control-allow-origin" not in (await http.get("/api/auth/me", headers=other)).headers
        null_origin = await http.get("/api/auth/me", headers={"Origin": "null"})
        assert "access-control-allow-origin" not in null_origin.headers


@pytest.mark.parametrize("path", ["/health", "/ready", "/api/auth/me", "/api/no-such-route"])
async def test_cors_answers_every_route_for_an_allowed_origin_and_exposes_what_a_page_reads(make_app, path):
    """/health is answered before routing (and before the CORS middleware), so it adds the same headers."""
    async with AsyncTestClient(app=make_app(cors_origins=(ORIGIN,))) as http:
        response = await http.get(path, headers={"Origin": ORIGIN})
        assert response.headers.get("access-control-allow-origin") == ORIGIN
        assert "origin" in response.headers.get("vary", "").lower()
        exposed = {h.strip().lower() for h in response.headers["access-control-expose-headers"].split(",")}
        assert exposed >= {"x-request-id", "etag", "location", "retry-after"}
        other = await http.get(path, headers={"Origin": "https://evil.example"})
        assert "access-control-allow-origin" not in other.headers
        plain = await http.get(path)
        assert "access-control-allow-origin" not in plain.headers


async def test_health_has_no_cors_headers_without_cors_origins(client):
    response = await client.get("/health", headers={"Origin": ORIGIN})
    assert response.status_code == 200
    assert not [h for h in response.headers if h.startswith("access-control-")]


async def test_cors_disallowed_preflight_is_a_problem(make_app):
    async with AsyncTestClient(app=make_app(cors_origins=(ORIGIN,))) as http:
        response = await http.options(
            "/api/clients",
            headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "GET"},
        )
        assert response.status_code == 400
        assert response.headers["content-type"].startswith("application/problem+json")
        assert response.json()["code"] == "cors_rejected"
        assert "access-control-allow-origin" not in response.headers


async def test_cors_headers_absent_without_cors_origins(client, auth):
    preflight = {"Origin": ORIGIN, "Access-Control-Request-Method": "GET"}
    for response in (
        await client.options("/api/clients", headers=preflight),
        await client.get("/api/clients", headers={"Origin": ORIGIN, **auth}),
        await client.get("/api/auth/me", headers={"Origin": ORIGIN}),
    ):
        assert not [h for h in response.headers if h.startswith("access-control-")], dict(response.headers)


@pytest.mark.parametrize("path", ["/health", "/api/auth/me", "/api/no-such-route"])
async def test_sane_request_id_is_echoed(client, path):
    for value in ("abc-123", "req.42:alpha_beta", "9b2c1f0e-5d7a-4c3b-8e21-0a1b2c3d4e5f", "a" * 128):
        response = await client.get(path, headers={"X-Request-ID": value})
        assert response.headers["x-request-id"] == value
        if response.status_code >= 400:
            assert response.json()["request_id"] == value


INSANE_REQUEST_IDS = [
    b"a" * 129,
    b"has space",
    b"abc\r\nSet-Cookie: session=stolen",
    b"abc\nX-Injected: 1",
    b"<script>alert(1)</script>",
    b"caf\xc3\xa9",
    b"\x00\x01",
    b"",
]


@pytest.mark.parametrize("path", ["/health", "/api/auth/me", "/api/no-such-route"])
async def test_insane_request_id_is_replaced(client, app, path):
    for value in INSANE_REQUEST_IDS:
        response = await raw_request(app, "GET", path, [(b"x-request-id", value)])
        echoed = response.header("x-request-id") or ""
        assert GENERATED_ID.match(echoed), f"{value!r} -> {echoed!r}"
        names = [name.lower() for name, _ in response.headers]
        assert b"set-cookie" not in names and b"x-injected" not in names
        assert all(b"\r" not in v and b"\n" not in v for _, v in response.headers)
        if response.status >= 400:
            assert echoed.encode() in response.body
