"""Review findings on clients: each test failed before its fix."""

from __future__ import annotations

from tests.factories import create_client
from tests.projects.factories import create_project


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
