"""Builders for invoices: other areas (reports) import these. Each returns the Invoice JSON."""

from __future__ import annotations

from typing import Any

from tests.clients.factories import create_client

DEFAULT_LINES = [{"description": "Consulting", "quantity": "2", "unit_price": "50.00"}]  # total 100.00


async def create_invoice(
    http: Any, headers: dict[str, str], client_id: str | None = None, **fields: Any
) -> dict[str, Any]:
    """A draft (for a new client when none is given) with one 100.00 line unless `lines` is given."""
    if client_id is None:
        client_id = (await create_client(http, headers))["id"]
    body = {"client_id": client_id, "lines": DEFAULT_LINES, **fields}
    response = await http.post("/api/invoices", json=body, headers=headers)
    assert response.status_code == 201, response.text
    return response.json()  # type: ignore[no-any-return]


async def send_invoice(http: Any, headers: dict[str, str], invoice_id: str) -> dict[str, Any]:
    response = await http.post(f"/api/invoices/{invoice_id}/send", headers=headers)
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


async def create_sent_invoice(
    http: Any, headers: dict[str, str], client_id: str | None = None, **fields: Any
) -> dict[str, Any]:
    draft = await create_invoice(http, headers, client_id, **fields)
    return await send_invoice(http, headers, draft["id"])


async def add_payment(
    http: Any, headers: dict[str, str], invoice_id: str, amount: Any, **fields: Any
) -> dict[str, Any]:
    response = await http.post(
        f"/api/invoices/{invoice_id}/payments", json={"amount": amount, **fields}, headers=headers
    )
    assert response.status_code == 201, response.text
    return response.json()  # type: ignore[no-any-return]
