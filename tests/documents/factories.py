"""A business that sends Factur-X, a client in another EU country, and the worked example invoice."""

from __future__ import annotations

import io
from datetime import date
from decimal import Decimal
from typing import Any

from pypdf import PdfReader

from app.documents.model import DocumentData, Line, Party
from tests.clients.factories import create_client
from tests.invoices.factories import create_invoice

SELLER = {
    "company_name": "Analytical Engines GmbH",
    "email": "billing@engines.example",
    "tax_id": "DE123456789",
    "iban": "DE89370400440532013000",
    "bic": "COBADEFFXXX",
    "locale": "de",
    "e_invoice": "factur-x",
    "address": {"line1": "Hauptstr. 1", "city": "Berlin", "postal_code": "10115", "country": "DE"},
}
BUYER = {
    "name": "Acme",
    "company": "Acme SARL",
    "email": "ap@acme.example",
    "tax_id": "FR40303265045",
    "currency": "EUR",
    "address": {"line1": "1 rue de Rivoli", "city": "Paris", "postal_code": "75001", "country": "FR"},
}
WORKED_EXAMPLE = {
    "lines": [
        {"description": "Widgets", "quantity": "3", "unit_price": "19.99"},
        {"description": "Consulting", "quantity": "1.5", "unit_price": "100"},
        {"description": "Rounding test", "quantity": "0.3333", "unit_price": "10"},
    ],
    "discount_rate": "10",
    "tax_rate": "8.875",
    "notes": "Thank you for your business",
}


async def set_business(http: Any, headers: dict[str, str], **changes: Any) -> dict[str, Any]:
    response = await http.patch("/api/auth/me", json={"business": {**SELLER, **changes}}, headers=headers)
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


async def worked_example(
    http: Any, headers: dict[str, str], client_fields: dict[str, Any] | None = None, **fields: Any
) -> dict[str, Any]:
    buyer = await create_client(http, headers, **{**BUYER, **(client_fields or {})})
    return await create_invoice(http, headers, buyer["id"], **{**WORKED_EXAMPLE, **fields})


def pdf_text(content: bytes) -> str:
    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(content)).pages)


def document_data(**changes: Any) -> DocumentData:
    """What the documents area receives for a one-line 100.00 final invoice, for rendering it directly."""
    fields: dict[str, Any] = {
        "invoice_id": "0" * 24,
        "number": "INV-0001",
        "draft": False,
        "locale": "en",
        "e_invoice": "none",
        "currency": "EUR",
        "issue_date": date(2026, 1, 1),
        "due_date": date(2026, 1, 31),
        "seller": Party(name="Analytical Engines GmbH", country="DE"),
        "buyer": Party(name="Acme SARL", country="FR"),
        "lines": [
            Line(description="Consulting", quantity=Decimal(1), unit_price=Decimal(100), amount=Decimal(100))
        ],
        "notes": "",
        "subtotal": Decimal(100),
        "discount_rate": Decimal(0),
        "discount": Decimal(0),
        "tax_rate": Decimal(0),
        "tax_category": "Z",
        "tax_exemption_reason": None,
        "tax": Decimal(0),
        "total": Decimal(100),
        "amount_paid": Decimal(0),
        "amount_due": Decimal(100),
        "payment_terms_days": 30,
        "iban": None,
        "bic": None,
    }
    return DocumentData(**{**fields, **changes})
