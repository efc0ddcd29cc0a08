from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any, Self

from beanie import Document, PydanticObjectId
from pydantic import BaseModel, Field, model_validator
from pymongo import ASCENDING, IndexModel

from app.core.clock import utc_now
from app.db.decimals import StoredDecimal
from app.db.indexes import owner_index, sort_indexes
from app.db.outbox import OUTBOX_INDEX
from app.db.repository import OwnedDocument
from app.invoices.tax_category import stored_category

INVOICE_STATUSES = ("draft", "sent", "paid", "void")


class StoredLine(BaseModel):
    description: str
    quantity: StoredDecimal
    unit_price_cents: int
    amount_cents: int
    time_entry_id: PydanticObjectId | None = None
    # A line's own VAT (section 22); null: the invoice's `tax_rate` and `tax_category`.
    tax_rate: StoredDecimal | None = None
    tax_category: str | None = None


class StoredTaxGroup(BaseModel):
    """One (category, rate) group of an invoice's lines (section 22's `tax_breakdown`)."""

    category: str
    rate: StoredDecimal
    taxable_cents: int
    tax_cents: int
    discount_cents: int = 0


def single_group(
    tax_category: str | None, tax_rate: Decimal, subtotal_cents: int, discount_cents: int, tax_cents: int
) -> StoredTaxGroup:
    """The one group of an invoice stored before section 22 (every line at the invoice's rate), read from
    its totals."""
    return StoredTaxGroup(
        category=stored_category(tax_category, tax_rate).value,
        rate=tax_rate,
        taxable_cents=subtotal_cents - discount_cents,
        tax_cents=tax_cents,
        discount_cents=discount_cents,
    )


class StoredPeriod(BaseModel):
    """The days an invoice made by a recurring schedule bills (section 23), both inclusive."""

    start: date
    end: date


# Exactly one invoice per schedule and period (section 23), as `number_slot` guards numbers: every invoice
# stored since section 23 has a `recurring_slot`, "run:<schedule id>:<period start>" for a schedule's and
# "own:<its id>" for one made by hand, so a plain unique index holds it. Sparse only for the invoices stored
# before the field existed (they lack it; a missing key is not indexed, where a null one would collide).
RECURRING_SLOT_INDEX = IndexModel(
    [("recurring_slot", ASCENDING)], name="recurring_slot_unique", unique=True, sparse=True
)


def recurring_slot(recurring_invoice_id: Any, period_start: date) -> str:
    """The unique slot of a schedule's invoice for the period starting `period_start`."""
    return f"run:{recurring_invoice_id}:{period_start.isoformat()}"


class StoredPayment(BaseModel):
    id: PydanticObjectId = Field(default_factory=PydanticObjectId)
    amount_cents: int
    paid_on: date
    method: str | None = None
    note: str | None = None
    created_at: datetime = Field(default_factory=utc_now)


class DocumentInfo(BaseModel):
    """The stored PDF of a sent invoice (the bytes live in the documents area's own collection)."""

    sha256: str
    size: int
    e_invoice: str
    rendered_at: datetime


class Invoice(OwnedDocument):
    # `number` is null on drafts; assigned at send from InvoiceCounter. `number_slot` is "seq:<n>" once a
    # number is assigned and "draft:<id>" before, so (owner_id, number_slot) can be a plain unique index
    # that guards the sequence (mongomock does not honour partial indexes).
    number: str | None = None
    number_seq: int | None = None
    number_slot: str
    client_id: PydanticObjectId
    project_id: PydanticObjectId | None = None
    status: str = "draft"
    currency: str
    issue_date: date
    due_date: date
    lines: list[StoredLine] = Field(default_factory=list)
    notes: str = ""
    tax_rate: StoredDecimal
    # Null on invoices stored before categories existed: read as the default of their rate.
    tax_category: str | None = None
    tax_exemption_reason: str | None = None
    discount_rate: StoredDecimal
    subtotal_cents: int = 0
    discount_cents: int = 0
    tax_cents: int = 0
    total_cents: int = 0
    amount_paid_cents: int = 0
    amount_due_cents: int = 0
    # Written with the totals; null on invoices stored before section 22 (read by `tax_breakdown_of`).
    tax_breakdown: list[StoredTaxGroup] | None = None
    payments: list[StoredPayment] = Field(default_factory=list)
    # Credit notes (section 22, written only by invoices/credits.py): what they credited in all, per
    # (category, rate) group (`credited`) and which notes did (so that a note is applied once).
    amount_credited_cents: int = 0
    credited: list[StoredTaxGroup] = Field(default_factory=list)
    credit_note_ids: list[PydanticObjectId] = Field(default_factory=list)
    document: DocumentInfo | None = None
    sent_at: datetime | None = None
    # Set by the claim of a send, cleared once the send is complete (number and document): the worker's
    # recovery finishes every send whose `sending_at` is old. Never in responses.
    sending_at: datetime | None = None
    # Set by a void, cleared once its time entries are released: recovery releases them if the void died
    # first. (A deleted invoice's tombstone plays this part.) Never in responses.
    releasing_at: datetime | None = None
    paid_at: datetime | None = None
    voided_at: datetime | None = None
    # Bumped by every edit of a draft: a PATCH recomputes totals from what it read and writes only if
    # nothing changed in between (optimistic concurrency, no lost updates between two PATCHes).
    revision: int = 0
    # Set on the invoices a recurring schedule makes (section 23): the schedule and the period billed.
    recurring_invoice_id: PydanticObjectId | None = None
    period: StoredPeriod | None = None
    # The unique slot of the invoice among its schedule's periods (RECURRING_SLOT_INDEX). Never in responses.
    recurring_slot: str | None = None

    @model_validator(mode="after")
    def _own_slot(self) -> Self:
        """An invoice made by hand takes the slot of its own id (a null one would collide in the index); one
        built without an id gets it now, as its insert would."""
        if self.recurring_slot is None:
            if self.id is None:
                self.id = PydanticObjectId()
            self.recurring_slot = f"own:{self.id}"
        return self

    class Settings:
        name = "invoices"
        indexes = [
            owner_index("owner_number_unique", "number_slot", unique=True),
            *sort_indexes("issue_date", "due_date", "total_cents", "number_seq", "created_at"),
            owner_index("owner_status_due", "status", "due_date"),
            owner_index("owner_client", "client_id"),
            owner_index("owner_project", "project_id"),
            # The report of one currency: its invoices, and their payments in a window.
            owner_index("owner_paid_on", "currency", "payments.paid_on"),
            # Recovery finishes stuck sends oldest first, in (sending_at, _id) order.
            IndexModel([("sending_at", ASCENDING), ("_id", ASCENDING)], name="sending_at", sparse=True),
            IndexModel([("releasing_at", ASCENDING)], name="releasing_at", sparse=True),
            RECURRING_SLOT_INDEX,
            OUTBOX_INDEX,
        ]


def tax_breakdown_of(invoice: Invoice) -> list[StoredTaxGroup]:
    """An invoice's (category, rate) groups in `tax_breakdown` order. An invoice stored before section 22 has
    one rate: its one group is read from its totals (no line was taxed otherwise)."""
    if invoice.tax_breakdown is not None:
        return invoice.tax_breakdown
    if not invoice.lines:
        return []
    return [
        single_group(
            invoice.tax_category,
            invoice.tax_rate,
            invoice.subtotal_cents,
            invoice.discount_cents,
            invoice.tax_cents,
        )
    ]


class InvoiceCounter(Document):
    """Per-user invoice sequence, bumped atomically with $inc (find_one_and_update, upsert)."""

    owner_id: PydanticObjectId
    seq: int = 0
    # The invoice that took `seq` and may not carry it yet (invoices/numbering.py).
    holder: PydanticObjectId | None = None

    class Settings:
        name = "invoice_counters"
        indexes = [
            IndexModel([("owner_id", ASCENDING)], name="owner_unique", unique=True),
            # Recovery's `holder: {$ne: null}`: the $ne's index bounds leave out the null keys, which are
            # nearly all of them, so the scan reads only the counters held now.
            IndexModel([("holder", ASCENDING)], name="held"),
        ]
