"""Webhook endpoints: CRUD as API.md section 15 says, the secret shown only on creation and rotation."""

from __future__ import annotations

import base64

import pytest

from tests.conftest import assert_problem
from tests.webhooks.helpers import create_endpoint

URL = "http://127.0.0.1:9/hooks"


async def test_create_shows_the_secret_once_and_reads_never_do(client, user):
    created = await create_endpoint(client, user.headers, URL, ["invoice.paid", "invoice.sent"])
    assert created["secret"].startswith("whsec_")
    assert len(base64.b64decode(created["secret"].removeprefix("whsec_"))) == 32
    assert created["url"] == URL and created["events"] == ["invoice.paid", "invoice.sent"]
    assert created["enabled"] is True and created["description"] == ""

    one = await client.get(f"/api/webhook-endpoints/{created['id']}", headers=user.headers)
    listed = await client.get("/api/webhook-endpoints", headers=user.headers)
    assert one.status_code == 200 and "secret" not in one.json()
    assert listed.json()["total"] == 1 and "secret" not in listed.json()["items"][0]
    assert created["secret"] not in one.text + listed.text


async def test_patch_changes_what_it_names_and_delete_removes_the_endpoint(client, user):
    created = await create_endpoint(client, user.headers, URL)
    patched = await client.patch(
        f"/api/webhook-endpoints/{created['id']}",
        json={"events": ["client.created"], "description": "CRM sync", "enabled": False},
        headers=user.headers,
    )
    assert patched.status_code == 200, patched.text
    body = patched.json()
    assert body["events"] == ["client.created"] and body["description"] == "CRM sync"
    assert body["enabled"] is False and body["url"] == URL and "secret" not in body

    assert (
        await client.delete(f"/api/webhook-endpoints/{created['id']}", headers=user.headers)
    ).status_code == 204
    gone = await client.get(f"/api/webhook-endpoints/{created['id']}", headers=user.headers)
    assert_problem(gone, 404, "not_found")


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"url": "ftp://example.com/x", "events": ["*"]}, "url"),
        ({"url": "javascript:alert(1)", "events": ["*"]}, "url"),
        ({"url": "/relative/path", "events": ["*"]}, "url"),
        ({"url": "http://user:pass@127.0.0.1/x", "events": ["*"]}, "url"),
        ({"url": "http://token@127.0.0.1/x", "events": ["*"]}, "url"),
        ({"url": URL, "events": ["invoice.exploded"]}, "events"),
        ({"url": URL, "events": ["*", "nope"]}, "events"),
        ({"url": URL, "events": []}, "events"),
        ({"url": URL}, "events"),
    ],
)
async def test_bad_urls_and_event_types_are_refused(client, user, body, field):
    response = await client.post("/api/webhook-endpoints", json=body, headers=user.headers)
    problem = assert_problem(response, 400, "validation_error")
    assert field in [error["field"] for error in problem.get("errors", [])], problem


async def test_patch_checks_the_url_and_event_types_too(client, user):
    created = await create_endpoint(client, user.headers, URL)
    for body in ({"url": "gopher://example.com"}, {"events": ["bogus.type"]}, {"secret": "whsec_mine"}):
        response = await client.patch(
            f"/api/webhook-endpoints/{created['id']}", json=body, headers=user.headers
        )
        assert_problem(response, 400, "validation_error")


async def test_production_takes_only_https(make_app):
    from tests.conftest import register, serve

    app = make_app(app_env="production", webhook_allow_private_urls=True)
    async with serve(app) as http:
        account = await register(http, "ada@example.com")
        response = await http.post(
            "/api/webhook-endpoints", json={"url": URL, "events": ["*"]}, headers=account.headers
        )
        problem = assert_problem(response, 400, "validation_error")
        assert "https" in problem["errors"][0]["message"]


async def test_another_users_endpoint_and_its_deliveries_are_not_found(client, user, other_user):
    created = await create_endpoint(client, user.headers, URL)
    base = f"/api/webhook-endpoints/{created['id']}"
    for method, path in (
        ("GET", base),
        ("PATCH", base),
        ("DELETE", base),
        ("POST", f"{base}/rotate-secret"),
        ("GET", f"{base}/deliveries"),
        ("POST", f"{base}/deliveries/{created['id']}/retry"),
    ):
        body = {"description": "mine now"} if method == "PATCH" else None
        response = await client.request(method, path, json=body, headers=other_user.headers)
        assert_problem(response, 404, "not_found")
    listed = await client.get("/api/webhook-endpoints", headers=other_user.headers)
    assert listed.json()["total"] == 0
    still = await client.get(base, headers=user.headers)
    assert still.json()["description"] == ""
