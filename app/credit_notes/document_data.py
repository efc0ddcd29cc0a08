"""A credit note as the documents area prints and e-invoices it (app/documents/credit_notes.py: type 381,
BT-25 = the invoice's number): the seller and buyer as on invoices (invoices/document_data.py), the note's
own number, lines and groups."""

from __future__ import annotations

from app.clients.models import Client
from app.core.money import from_cents
from app.credit_notes.models import CreditNote
from app.db.repository import owned_filter
from app.documents.credit_notes import credit_note_data
from app.documents.model import DocumentData, Preceding
from app.invoices.document_data import buyer, document_groups, document_lines, seller
from app.organizations.models import Books


async def load(owner: Books, note: CreditNote) -> DocumentData:
    """The final document of `note` (numbered, or about to be with `note.number`)."""
    assert note.number is not None
    client = await Client.find_one(owned_filter(owner.id, _id=note.client_id))
    assert client is not None  # a client with invoices is never deleted (409 in_use)
    business = owner.business
    return credit_note_data(
        credit_note_id=str(note.id),
        number=note.number,
        issue_date=note.issue_date,
        preceding=Preceding(number=note.invoice_number, issue_date=note.invoice_issue_date),
        seller=seller(owner),
        buyer=buyer(client),
        lines=document_lines(note.lines),
        groups=document_groups(note.tax_breakdown),
        subtotal=from_cents(note.subtotal_cents),
        tax=from_cents(note.tax_cents),
        total=from_cents(note.total_cents),
        locale=business.locale,
        e_invoice=business.e_invoice,
        currency=note.currency,
        tax_exemption_reason=note.tax_exemption_reason,
        notes=note.reason,
        iban=business.iban,
        bic=business.bic,
    )
