from __future__ import annotations

import pytest

from tests.clients.factories import create_client
from tests.conftest import Account, assert_problem, moment
from tests.projects.factories import create_project


async def test_create_client_defaults_from_business_profile(client, auth):
    await client.patch(
        "/api/auth/me", json={"business": {"default_currency": "EUR", "payment_terms_days": 14}}, headers=auth
    )
    created = await create_client(client, auth, email="billing@acme.test")
    assert created["currency"] == "EUR"
    assert created["payment_terms_days"] == 14
    assert created["notes"] == ""
    assert len(created["id"]) == 24


async def test_create_client_with_address(client, auth):
    address = {
        "line1": "1 Main St",
        "line2": None,
        "city": "Paris",
        "state": None,
        "postal_code": "75001",
        "country": "FR",
    }
    created = await create_client(client, auth, address=address, currency="GBP", payment_terms_days=0)
    fetched = (await client.get(f"/api/clients/{created['id']}", headers=auth)).json()
    assert fetched["address"] == address
    assert fetched["currency"] == "GBP"
    assert fetched["payment_terms_days"] == 0


@pytest.mark.parametrize(
    "body, field",
    [
        ({}, "name"),
        ({"name": ""}, "name"),
        ({"name": "   "}, "name"),
        ({"name": "x" * 201}, "name"),
        ({"name": "Acme", "currency": "usd"}, "currency"),
        ({"name": "Acme", "payment_terms_days": 366}, "payment_terms_days"),
        ({"name": "Acme", "payment_terms_days": "30"}, "payment_terms_days"),
        ({"name": "Acme", "total": 3}, "total"),
        ({"name": {"$gt": ""}}, "name"),
        ({"name": "Acme", "address": {"line1": "x", "planet": "Mars"}}, "address.planet"),
    ],
)
async def test_create_client_rejects_bad_input(client, auth, body, field):
    body = assert_problem(await client.post("/api/clients", json=body, headers=auth), 400, "validation_error")
    assert field in [error["field"] for error in body["errors"]]


async def test_list_clients_filters_by_q_case_insensitively(client, auth):
    await create_client(client, auth, name="Acme Corp")
    await create_client(client, auth, name="Globex", company="ACME holdings")
    await create_client(client, auth, name="Initech", email="bill@initech.test")
    response = await client.get("/api/clients", params={"q": "acme"}, headers=auth)
    assert {c["name"] for c in response.json()["items"]} == {"Acme Corp", "Globex"}
    response = await client.get("/api/clients", params={"q": "INITECH.TEST"}, headers=auth)
    assert [c["name"] for c in response.json()["items"]] == ["Initech"]


async def test_list_clients_q_is_literal_not_a_regex_or_operator(client, auth):
    await create_client(client, auth, name="Acme")
    for q in [".*", "^A", '{"$gt": ""}', "[a-z]+"]:
        response = await client.get("/api/clients", params={"q": q}, headers=auth)
        assert response.status_code == 200
        assert response.json()["total"] == 0, q


async def test_list_clients_sorts_and_paginates(client, auth):
    for name in ["Charlie", "alpha", "Bravo"]:
        await create_client(client, auth, name=name)
    by_name = (await client.get("/api/clients?sort=name", headers=auth)).json()
    assert [c["name"] for c in by_name["items"]] == ["Bravo", "Charlie", "alpha"]  # byte order
    newest = (await client.get("/api/clients", headers=auth)).json()
    assert [c["name"] for c in newest["items"]] == ["Bravo", "alpha", "Charlie"]
    page = (await client.get("/api/clients?sort=-name&limit=1&offset=1", headers=auth)).json()
    assert page == {**page, "total": 3, "limit": 1, "offset": 1}
    assert [c["name"] for c in page["items"]] == ["Charlie"]


@pytest.mark.parametrize(
    "query", ["limit=0", "limit=101", "offset=-1", "sort=email", "sort=-password_hash", "limit=abc"]
)
async def test_list_clients_rejects_bad_paging(client, auth, query):
    assert_problem(await client.get(f"/api/clients?{query}", headers=auth), 400, "validation_error")


async def test_update_client_changes_only_sent_fields(client, auth):
    created = await create_client(client, auth, email="a@acme.test", notes="keep")
    response = await client.patch(
        f"/api/clients/{created['id']}", json={"name": "Acme 2", "email": None}, headers=auth
    )
    assert response.status_code == 200
    updated = response.json()
    assert updated["name"] == "Acme 2" and updated["email"] is None and updated["notes"] == "keep"
    assert moment(updated["updated_at"]) >= moment(created["updated_at"])
    assert updated["created_at"] == created["created_at"]


async def test_update_client_currency_moves_its_projects_currency(client, auth):
    """API.md §6: a project's `currency` is the client's, also after the client's currency changes."""
    acme = await create_client(client, auth, currency="EUR")
    project = await create_project(client, auth, acme["id"])
    other = await create_project(client, auth)  # another client's project keeps its currency
    response = await client.patch(f"/api/clients/{acme['id']}", json={"currency": "GBP"}, headers=auth)
    assert response.status_code == 200
    assert (await client.get(f"/api/projects/{project['id']}", headers=auth)).json()["currency"] == "GBP"
    listed = (await client.get(f"/api/projects?client_id={acme['id']}", headers=auth)).json()["items"]
    assert [p["currency"] for p in listed] == ["GBP"]
    assert (await client.get(f"/api/projects/{other['id']}", headers=auth)).json()["currency"] == "USD"


async def test_update_client_rejects_unknown_and_null_required_fields(client, auth):
    created = await create_client(client, auth)
    assert_problem(
        await client.patch(f"/api/clients/{created['id']}", json={"nmae": "x"}, headers=auth),
        400,
        "validation_error",
    )
    assert_problem(
        await client.patch(f"/api/clients/{created['id']}", json={"name": None}, headers=auth),
        400,
        "validation_error",
    )


async def test_delete_client(client, auth):
    created = await create_client(client, auth)
    response = await client.delete(f"/api/clients/{created['id']}", headers=auth)
    assert response.status_code == 204
    assert_problem(await client.get(f"/api/clients/{created['id']}", headers=auth), 404, "not_found")


@pytest.mark.parametrize(
    "bad_id",
    [
        "zz",
        "6740f0c2a1b2c3d4e5f6071",
        "6740F0C2A1B2C3D4E5F60718",
        "..%2F",
        "null",
        "6740f0c2a1b2c3d4e5f60718",
    ],
)
async def test_bad_or_missing_client_id_is_404(client, auth, bad_id):
    for method in ("get", "delete"):
        assert_problem(
            await getattr(client, method)(f"/api/clients/{bad_id}", headers=auth), 404, "not_found"
        )
    assert_problem(
        await client.patch(f"/api/clients/{bad_id}", json={"name": "x"}, headers=auth), 404, "not_found"
    )


async def test_another_users_client_is_404_on_every_verb(client, user: Account, other_user: Account):
    created = await create_client(client, user.headers)
    path = f"/api/clients/{created['id']}"
    assert_problem(await client.get(path, headers=other_user.headers), 404, "not_found")
    assert_problem(
        await client.patch(path, json={"name": "mine"}, headers=other_user.headers), 404, "not_found"
    )
    assert_problem(await client.delete(path, headers=other_user.headers), 404, "not_found")
    listed = (await client.get("/api/clients", headers=other_user.headers)).json()
    assert listed["total"] == 0 and listed["items"] == []
    # untouched for its owner
    assert (await client.get(path, headers=user.headers)).json()["name"] == "Acme"
