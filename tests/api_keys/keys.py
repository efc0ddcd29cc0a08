"""Making API keys over HTTP, for the API-key suites."""

from __future__ import annotations

from typing import Any

from app.http.tenancy import ORGANIZATION_HEADER

KEYS = "/api/organization/api-keys"


async def make_key(client: Any, headers: dict[str, str], scopes: list[str], **more: Any) -> dict[str, Any]:
    """A new key (the create's answer, with `key`) of the organisation `headers` act in."""
    response = await client.post(KEYS, json={"name": "CI", "scopes": scopes, **more}, headers=headers)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


def bearer(key: str, organization: str | None = None) -> dict[str, str]:
    headers = {"Authorization": f"Bearer {key}"}
    return {**headers, ORGANIZATION_HEADER: organization} if organization else headers
