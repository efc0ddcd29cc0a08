"""`201 Created` names the new resource's URL in `Location` (section 1), so a client need not build it."""

from __future__ import annotations

from tests.clients.factories import create_client
from tests.conftest import PASSWORD
from tests.invoices.factories import create_sent_invoice


async def _created(client, auth, path, body, collection):
    response = await client.post(path, json=body, headers=auth)
    assert response.status_code == 201, response.text
    location = response.headers["location"]
    assert location == f"{collection}/{response.json()['id']}"
    fetched = await client.get(location, headers=auth)
    assert fetched.status_code == 200 and fetched.json()["id"] == response.json()["id"]
    return response.json()


async def test_every_create_answers_with_the_location_of_what_it_created(client, auth):
    acme = await _created(client, auth, "/api/clients", {"name": "Acme"}, "/api/clients")
    project = await _created(
        client,
        auth,
        "/api/projects",
        {"client_id": acme["id"], "name": "Site", "hourly_rate": "100"},
        "/api/projects",
    )
    entry = {
        "project_id": project["id"],
        "started_at": "2026-11-20T09:00:00Z",
        "ended_at": "2026-11-20T10:00:00Z",
    }
    await _created(client, auth, "/api/time-entries", entry, "/api/time-entries")
    await _created(
        client, auth, "/api/time-entries/start", {"project_id": project["id"]}, "/api/time-entries"
    )
    await _created(client, auth, "/api/invoices", {"client_id": acme["id"]}, "/api/invoices")
    contract = {"client_id": acme["id"], "title": "MSA", "body": "Terms", "value": "1000"}
    await _created(client, auth, "/api/contracts", contract, "/api/contracts")
    resume = {"title": "CV", "profile": {"full_name": "Ada Lovelace"}}
    await _created(client, auth, "/api/resumes", resume, "/api/resumes")


async def test_register_and_payments_create_nothing_with_a_url_of_its_own(client, auth):
    body = {"email": "new@example.com", "password": PASSWORD, "name": "New"}
    registered = await client.post("/api/auth/register", json=body)
    assert registered.status_code == 201 and "location" not in registered.headers
    await create_client(client, auth)
    sent = await create_sent_invoice(client, auth)
    paid = await client.post(f"/api/invoices/{sent['id']}/payments", json={"amount": "1.00"}, headers=auth)
    assert paid.status_code == 201 and "location" not in paid.headers
