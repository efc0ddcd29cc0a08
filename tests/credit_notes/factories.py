"""Builders for credit notes: each returns the JSON the API answered."""

from __future__ import annotations

from typing import Any


async def credit(
    http: Any, headers: dict[str, str], invoice_id: str, reason: str = "Billed twice", **fields: Any
) -> Any:
    """POST /api/invoices/{id}/credit-notes; the raw response."""
    body = {"reason": reason, **fields}
    return await http.post(f"/api/invoices/{invoice_id}/credit-notes", json=body, headers=headers)


async def create_credit_note(
    http: Any, headers: dict[str, str], invoice_id: str, reason: str = "Billed twice", **fields: Any
) -> dict[str, Any]:
    response = await credit(http, headers, invoice_id, reason, **fields)
    assert response.status_code == 201, response.text
    return response.json()  # type: ignore[no-any-return]


def line(amount: str, quantity: str = "1", **fields: str) -> dict[str, str]:
    return {"description": "Correction", "quantity": quantity, "unit_price": amount, **fields}
