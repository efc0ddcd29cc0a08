"""Builders for contracts: other areas may import these."""

from __future__ import annotations

from typing import Any

from beanie import PydanticObjectId

from app.projects.models import Project
from tests.clients.factories import create_client


async def insert_project(owner_id: str, client_id: str, currency: str = "USD", **fields: Any) -> str:
    """A project stored directly (independent of the projects routes); returns its id."""
    project = Project(
        owner_id=PydanticObjectId(owner_id),
        client_id=PydanticObjectId(client_id),
        name=fields.pop("name", "Website"),
        currency=currency,
        **fields,
    )
    await project.insert()
    return str(project.id)


async def create_contract(
    http: Any, headers: dict[str, str], client_id: str | None = None, **fields: Any
) -> dict[str, Any]:
    """Create a draft contract over HTTP (and a client first when none is given); returns the Contract JSON."""
    if client_id is None:
        client_id = (await create_client(http, headers))["id"]
    response = await http.post(
        "/api/contracts", json={"client_id": client_id, "title": "MSA", **fields}, headers=headers
    )
    assert response.status_code == 201, response.text
    return response.json()


async def contract_in_status(
    http: Any, headers: dict[str, str], status: str, **fields: Any
) -> dict[str, Any]:
    """A contract brought to `status` through the actions (draft, sent, signed or cancelled)."""
    contract = await create_contract(http, headers, **fields)
    path = f"/api/contracts/{contract['id']}"
    steps = {"draft": [], "sent": ["send"], "signed": ["send", "sign"], "cancelled": ["cancel"]}[status]
    for step in steps:
        body = {"signed_by": "Grace Hopper"} if step == "sign" else None
        response = await http.post(f"{path}/{step}", json=body, headers=headers)
        assert response.status_code == 200, response.text
        contract = response.json()
    assert contract["status"] == status
    return contract
