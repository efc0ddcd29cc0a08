"""Builders for projects: other areas (invoices, reports) import these."""

from __future__ import annotations

from typing import Any

from tests.clients.factories import create_client


async def create_project(
    http: Any, headers: dict[str, str], client_id: str | None = None, **fields: Any
) -> dict[str, Any]:
    """Create a project over HTTP (and a client first when none is given); returns the Project JSON."""
    if client_id is None:
        client_id = (await create_client(http, headers))["id"]
    body = {"client_id": client_id, "name": "Website", "hourly_rate": "100.00", **fields}
    response = await http.post("/api/projects", json=body, headers=headers)
    assert response.status_code == 201, response.text
    return response.json()  # type: ignore[no-any-return]
