"""A credit note as the documents area prints and e-invoices it: the seller and buyer as on invoices
(invoices/document_data.py), the note's own number, lines and amounts, and the invoice it corrects."""

from __future__ import annotations

from app.clients.models import Client
from app.core.money import from_cents
from app.credit_notes.models import CreditNote
from app.db.repository import owned_filter
from app.documents.model import DocumentData, Line
from app.invoices.document_data import buyer, seller
from app.organizations.models import Books


async def load(owner: Books, note: CreditNote) -> DocumentData:
    """The final document of `note` (numbered, or about to be with `note.number`)."""
    assert note.number is not None
    client = await Client.find_one(owned_filter(owner.id, _id=note.client_id))
    assert client is not None  # a client with invoices is never deleted (409 in_use)
    business = owner.business
    first = note.tax_breakdown[0]
    total = from_cents(note.total_cents)
    return DocumentData(
        invoice_id=str(note.id),
        number=note.number,
        draft=False,
        locale=business.locale,
        e_invoice=business.e_invoice,
        currency=note.currency,
        issue_date=note.issue_date,
        due_date=note.issue_date,
        seller=seller(owner),
        buyer=buyer(client),
        lines=[
            Line(
                description=line.description,
                quantity=line.quantity,
                unit_price=from_cents(line.unit_price_cents),
                amount=from_cents(line.amount_cents),
            )
            for line in note.lines
        ],
        notes=f"Credit note {note.number} for invoice {note.invoice_number}: {note.reason}",
        subtotal=from_cents(note.subtotal_cents),
        discount_rate=from_cents(0),
        discount=from_cents(0),
        tax_rate=first.rate,
        tax_category=first.category,
        tax_exemption_reason=None,
        tax=from_cents(note.tax_cents),
        total=total,
        amount_paid=from_cents(0),
        amount_due=total,
        payment_terms_days=0,
        iban=None,  # nothing to pay: no payment QR code
        bic=None,
    )
