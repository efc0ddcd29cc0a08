from __future__ import annotations

from dataclasses import replace

import httpx

from app.config import Settings
from tests.conftest import assert_problem, register, serve
from tests.organizations.conftest import acting, join, new_organization


async def test_create_organization_makes_the_caller_owner_without_location(client, ada):
    response = await client.post("/api/organizations", json={"name": "Studio"}, headers=ada.headers)
    assert response.status_code == 201
    assert "location" not in response.headers
    body = response.json()
    assert body["name"] == "Studio" and body["role"] == "owner" and body["personal"] is False
    assert body["business"]["credit_note_prefix"] == "CN-"
    listed = (await client.get("/api/organizations?sort=name", headers=ada.headers)).json()
    assert [(o["name"], o["role"]) for o in listed["items"]] == [
        ("Ada Lovelace", "owner"),
        ("Studio", "owner"),
    ]
    assert listed["total"] == 2
    newest = (await client.get("/api/organizations", headers=ada.headers)).json()["items"]
    assert newest[0]["name"] == "Studio"
    assert_problem(
        await client.get("/api/organizations?sort=role", headers=ada.headers), 400, "validation_error"
    )


async def test_organizations_owned_are_limited(make_app):
    app = make_app(organizations_per_user_max=2)
    async with serve(app) as http:
        ada = await register(http, "ada@example.com")
        await new_organization(http, ada, "Second")  # the personal one is the first
        over = await http.post("/api/organizations", json={"name": "Third"}, headers=ada.headers)
        assert_problem(over, 429, "quota_exceeded")
        assert "retry-after" in over.headers
        assert (await http.get("/api/organizations", headers=ada.headers)).json()["total"] == 2


async def test_get_organization_acts_in_the_header_organization(client, ada):
    org = await new_organization(client, ada)
    response = await client.get("/api/organization", headers=acting(ada, org))
    assert response.status_code == 200
    assert response.json()["id"] == org and response.headers["orbix-organization"] == org
    assert "etag" in response.headers
    assert (await client.get("/api/organization", headers=ada.headers)).json()["personal"] is True


async def test_update_organization_needs_admin_and_distinct_prefixes(client, ada, bob):
    org = await new_organization(client, ada)
    await join(client, ada, org, bob, "billing")
    refused = await client.patch("/api/organization", json={"name": "X"}, headers=acting(bob, org))
    assert_problem(refused, 403, "forbidden")
    same = await client.patch(
        "/api/organization", json={"business": {"invoice_prefix": "CN-"}}, headers=acting(ada, org)
    )
    assert_problem(same, 400, "validation_error")
    both = await client.patch(
        "/api/organization",
        json={"business": {"invoice_prefix": "A-", "credit_note_prefix": "A-"}},
        headers=acting(ada, org),
    )
    assert_problem(both, 400, "validation_error")
    ok = await client.patch(
        "/api/organization",
        json={"name": "Renamed", "business": {"invoice_prefix": "R-"}},
        headers=acting(ada, org),
    )
    assert ok.status_code == 200, ok.text
    assert ok.json()["name"] == "Renamed" and ok.json()["business"]["invoice_prefix"] == "R-"
    stale = await client.patch(
        "/api/organization", json={"name": "Late"}, headers={**acting(ada, org), "If-Match": '"0"'}
    )
    assert_problem(stale, 412, "precondition_failed")


async def test_update_organization_emits_organization_updated(client, ada):
    org = await new_organization(client, ada)
    await client.patch("/api/organization", json={"name": "Renamed"}, headers=acting(ada, org))
    feed = (await client.get("/api/events", headers=acting(ada, org))).json()["items"]
    assert [e["type"] for e in feed] == ["organization.updated"]
    assert feed[0]["data"]["object"]["name"] == "Renamed"


async def test_delete_personal_organization_is_refused(client, ada):
    assert_problem(await client.delete("/api/organization", headers=ada.headers), 409, "invalid_state")


async def test_delete_organization_removes_every_membership_and_defaults_fall_back(client, ada, bob):
    org = await new_organization(client, ada)
    await join(client, ada, org, bob, "admin")
    assert (
        await client.patch("/api/auth/me", json={"default_organization_id": org}, headers=bob.headers)
    ).status_code == 200
    assert_problem(await client.delete("/api/organization", headers=acting(bob, org)), 403, "forbidden")
    assert (await client.delete("/api/organization", headers=acting(ada, org))).status_code == 204
    assert_problem(await client.get("/api/organization", headers=acting(bob, org)), 404, "not_found")
    fallback = (await client.get("/api/organization", headers=bob.headers)).json()
    assert fallback["id"] == bob.id and fallback["personal"] is True
    assert (await client.get("/api/organizations", headers=bob.headers)).json()["total"] == 1


async def test_organization_header_that_is_not_an_id_is_not_found(client, ada):
    assert_problem(await client.get("/api/organization", headers=acting(ada, "nope")), 404, "not_found")
    assert_problem(await client.get("/api/organization", headers=acting(ada, "0" * 24)), 404, "not_found")


async def test_settings_read_organizations_max_and_public_url():
    settings = Settings.from_env({"ORGANIZATIONS_PER_USER_MAX": "3", "PUBLIC_URL": "https://app.example/"})
    assert settings.organizations_per_user_max == 3 and settings.public_url == "https://app.example"
    assert replace(settings).public_url == "https://app.example"


async def test_create_organization_needs_a_name(client: httpx.AsyncClient, ada):
    assert_problem(
        await client.post("/api/organizations", json={"name": " "}, headers=ada.headers),
        400,
        "validation_error",
    )


async def test_deleting_an_organization_ends_its_api_keys(client, ada):
    from tests.api_keys.keys import bearer, make_key

    org = await new_organization(client, ada)
    await client.post("/api/clients", json={"name": "Kept"}, headers=acting(ada, org))
    key = (await make_key(client, acting(ada, org), ["clients:read"]))["key"]
    assert (await client.get("/api/clients", headers=bearer(key))).json()["total"] == 1
    assert (await client.delete("/api/organization", headers=acting(ada, org))).status_code == 204
    assert_problem(await client.get("/api/clients", headers=bearer(key)), 401, "unauthorized")
