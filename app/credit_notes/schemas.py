from __future__ import annotations

from datetime import date, datetime
from typing import Annotated

import msgspec

from app.core.money import format_rate
from app.credit_notes.models import CreditNote, CreditNoteLine
from app.db.pagination import Page
from app.http.mapping import Mapped, Source, cents
from app.http.schemas import BaseStruct, MoneyOut, RateOut, ResponseStruct, component, not_blank
from app.invoices.models import StoredTaxGroup
from app.invoices.schemas import (
    MAX_LINES,
    DocumentOut,
    LineIn,
    format_quantity,
)
from app.invoices.tax_category import TaxCategory

Reason = Annotated[
    str,
    msgspec.Meta(
        min_length=1,
        max_length=500,
        description="Why the invoice is credited; the description of each line when `lines` is left out",
        examples=["Two hours billed twice"],
    ),
]


class CreditNoteLineIn(LineIn):
    """An invoice line's fields and rules. Its tax defaults to the invoice's `tax_rate` and `tax_category`;
    (category, rate) must be one of the invoice's `tax_breakdown` groups."""


class CreditNoteCreate(BaseStruct):
    """Without `lines`, the note credits everything not credited yet: one line per tax group."""

    reason: Reason
    lines: Annotated[list[CreditNoteLineIn], msgspec.Meta(min_length=1, max_length=MAX_LINES)] | None = None

    def __post_init__(self) -> None:
        self.reason = not_blank(self.reason, "reason")


class CreditNoteFilters(msgspec.Struct, frozen=True, kw_only=True):
    invoice_id: str | None = None
    client_id: str | None = None


class CreditNoteLineOut(ResponseStruct, Mapped):
    description: str
    quantity: Annotated[str, msgspec.Meta(examples=["1"])]
    unit_price: MoneyOut
    amount: MoneyOut
    tax_rate: RateOut
    tax_category: TaxCategory

    SOURCE = Source(
        CreditNoteLine,
        quantity=format_quantity,
        unit_price=cents("unit_price_cents"),
        amount=cents("amount_cents"),
        tax_rate=format_rate,
    )


class CreditNoteTaxGroup(ResponseStruct, Mapped):
    """One (category, rate) group of the note: its taxable amount and tax."""

    category: TaxCategory
    rate: RateOut
    taxable_amount: MoneyOut
    tax: MoneyOut

    SOURCE = Source(
        StoredTaxGroup, rate=format_rate, taxable_amount=cents("taxable_cents"), tax=cents("tax_cents")
    )


class CreditNoteOut(ResponseStruct, Mapped):
    id: str
    number: str
    invoice_id: str
    invoice_number: str
    client_id: str
    reason: str
    lines: list[CreditNoteLineOut]
    subtotal: MoneyOut
    tax: MoneyOut
    total: MoneyOut
    tax_breakdown: list[CreditNoteTaxGroup]
    currency: str
    issue_date: date
    document: DocumentOut | None
    created_at: datetime

    SOURCE = Source(
        CreditNote,
        invoice_id=str,
        client_id=str,
        subtotal=cents("subtotal_cents"),
        tax=cents("tax_cents"),
        total=cents("total_cents"),
    )


CreditNotePage = Annotated[Page[CreditNoteOut], component("CreditNotePage")]
