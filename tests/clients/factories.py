"""Builders shared by the area tests: each makes one resource over HTTP and returns its JSON."""

from __future__ import annotations

from typing import Any


async def create_client(http: Any, headers: dict[str, str], **fields: Any) -> dict[str, Any]:
    response = await http.post("/api/clients", json={"name": "Acme", **fields}, headers=headers)
    assert response.status_code == 201, response.text
    return response.json()  # type: ignore[no-any-return]
