"""A sent invoice to e-mail, and the two e-mail routes."""

from __future__ import annotations

from typing import Any

from tests.documents.factories import set_business, worked_example
from tests.invoices.factories import send_invoice


async def sent_invoice(http: Any, headers: dict[str, str], **business: Any) -> dict[str, Any]:
    """The worked example, sent by the Factur-X seller of tests/documents (changes in `business`), to a
    client whose e-mail is ap@acme.example."""
    await set_business(http, headers, **business)
    return await send_invoice(http, headers, (await worked_example(http, headers))["id"])


async def email_invoice(http: Any, headers: dict[str, str], invoice_id: str, **body: Any) -> dict[str, Any]:
    response = await http.post(f"/api/invoices/{invoice_id}/email", json=body, headers=headers)
    assert response.status_code == 202, response.text
    return response.json()  # type: ignore[no-any-return]


async def emails(http: Any, headers: dict[str, str], invoice_id: str) -> list[dict[str, Any]]:
    response = await http.get(f"/api/invoices/{invoice_id}/emails", headers=headers)
    assert response.status_code == 200, response.text
    return response.json()["items"]  # type: ignore[no-any-return]
