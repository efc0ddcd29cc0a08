"""Credit notes (API.md section 22): a numbered correction of a sent or paid invoice."""

from __future__ import annotations

from datetime import date, datetime

from beanie import Document, PydanticObjectId
from pydantic import BaseModel
from pymongo import ASCENDING, IndexModel

from app.db.decimals import StoredDecimal
from app.db.indexes import owner_index, sort_index, sort_indexes
from app.db.outbox import OUTBOX_INDEX
from app.db.repository import OwnedDocument
from app.invoices.models import DocumentInfo, StoredTaxGroup


class CreditNoteLine(BaseModel):
    description: str
    quantity: StoredDecimal
    unit_price_cents: int
    amount_cents: int
    tax_rate: StoredDecimal
    tax_category: str


class CreditNote(OwnedDocument):
    # Null until the note is numbered (credit_notes/issuing.py); an unnumbered note is being issued and shows
    # nowhere. `number_slot` is "seq:<n>" once numbered and "issuing:<id>" before, so (owner_id, number_slot)
    # is a plain unique index that guards the sequence.
    number: str | None = None
    number_seq: int | None = None
    number_slot: str
    invoice_id: PydanticObjectId
    invoice_number: str
    # BT-26 of its document (null on none stored before it was kept; every note here has it).
    invoice_issue_date: date | None = None
    client_id: PydanticObjectId
    reason: str
    lines: list[CreditNoteLine]
    currency: str
    issue_date: date
    subtotal_cents: int
    tax_cents: int
    total_cents: int
    tax_breakdown: list[StoredTaxGroup]
    # The invoice's BT-120, printed per exempt group (E, AE, G, O) as on the invoice.
    tax_exemption_reason: str | None = None
    document: DocumentInfo | None = None
    # Set when the note is inserted, cleared once it is complete (applied to its invoice, numbered, its
    # document stored): the worker's recovery finishes (or, when its invoice refuses it, undoes) every note
    # whose `issuing_at` is old. Never in responses.
    issuing_at: datetime | None = None
    # The moment that dates its document (rendered_at and every date in the PDF).
    issued_at: datetime

    class Settings:
        name = "credit_notes"
        indexes = [
            owner_index("owner_number_unique", "number_slot", unique=True),
            *sort_indexes("number_seq", "issue_date", "created_at"),
            # An invoice's credit notes (its list sorts by created_at); the list's client filter.
            sort_index("owner_invoice_sort_created_at", "invoice_id", "created_at"),
            owner_index("owner_client", "client_id"),
            IndexModel([("issuing_at", ASCENDING), ("_id", ASCENDING)], name="issuing_at", sparse=True),
            OUTBOX_INDEX,
        ]


class CreditNoteCounter(Document):
    """Per-organisation credit note sequence (db/sequences.py), apart from the invoices' one."""

    owner_id: PydanticObjectId
    seq: int = 0
    # The credit note that took `seq` and may not carry it yet.
    holder: PydanticObjectId | None = None

    class Settings:
        name = "credit_note_counters"
        indexes = [
            IndexModel([("owner_id", ASCENDING)], name="owner_unique", unique=True),
            IndexModel([("holder", ASCENDING)], name="held"),
        ]
