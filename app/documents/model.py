"""What a document shows: plain data the invoices and credit notes areas hand in (documents never read their
collections).

Money and quantities are Decimals; the struct crosses into the rendering processes as msgspec JSON. A
document is an invoice (UNTDID 1001 type code 380) or a credit note (381, with the invoice it corrects); its
VAT is one group per (category, rate) of its lines (API section 22).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from decimal import Decimal
from typing import Any, TypeVar

import msgspec

S = TypeVar("S", bound=msgspec.Struct)


class Party(msgspec.Struct, kw_only=True, frozen=True):
    name: str
    line1: str | None = None
    line2: str | None = None
    city: str | None = None
    postal_code: str | None = None
    state: str | None = None
    country: str | None = None
    vat_id: str | None = None  # BT-31 / BT-48
    tax_number: str | None = None  # BT-32 (seller only)
    email: str | None = None
    phone: str | None = None


INVOICE = "380"  # UNTDID 1001: commercial invoice
CREDIT_NOTE = "381"  # UNTDID 1001: credit note (its amounts are positive, as EN 16931 wants)
TYPE_CODES = frozenset({INVOICE, CREDIT_NOTE})
EXEMPT_CATEGORIES = frozenset({"E", "AE", "G", "O"})  # a group of these prints the exemption reason (BT-120)


class Line(msgspec.Struct, kw_only=True, frozen=True):
    description: str
    quantity: Decimal
    unit_price: Decimal
    amount: Decimal
    # The line's VAT (BG-30); None: the document's `tax_category` / `tax_rate`.
    tax_category: str | None = None
    tax_rate: Decimal | None = None


class TaxGroup(msgspec.Struct, kw_only=True, frozen=True):
    """One VAT breakdown (BG-23): the lines of one (category, rate), after their share of the discount."""

    category: str
    rate: Decimal
    taxable: Decimal  # BT-116: Σ line.amount of the group − `discount`
    tax: Decimal  # BT-117
    discount: Decimal = Decimal(0)  # the group's document-level allowance (BG-20)


class Preceding(msgspec.Struct, kw_only=True, frozen=True):
    """The invoice a credit note corrects (BG-3)."""

    number: str  # BT-25
    issue_date: date | None = None  # BT-26


class DocumentData(msgspec.Struct, kw_only=True, frozen=True):
    """One invoice or credit note as printed and as e-invoiced; `number` is the one it has or is about to
    receive. `invoice_id` is the id of the document's owner record (an invoice's, or a credit note's): only
    a draft prints it."""

    invoice_id: str
    number: str | None
    draft: bool
    locale: str
    e_invoice: str  # "none" | "factur-x"
    currency: str
    issue_date: date
    due_date: date
    seller: Party
    buyer: Party
    lines: list[Line]
    notes: str
    subtotal: Decimal
    discount_rate: Decimal
    discount: Decimal
    tax_rate: Decimal
    tax_category: str
    tax_exemption_reason: str | None
    tax: Decimal
    total: Decimal
    amount_paid: Decimal
    amount_due: Decimal
    payment_terms_days: int
    iban: str | None
    bic: str | None
    type_code: str = INVOICE
    preceding: Preceding | None = None  # a credit note's invoice
    # In `tax_breakdown` order. Empty: the one group of `tax_category` and `tax_rate` (what every document
    # had before lines carried their own tax).
    tax_groups: list[TaxGroup] = msgspec.field(default_factory=list)

    @property
    def credit_note(self) -> bool:
        return self.type_code == CREDIT_NOTE

    def groups(self) -> list[TaxGroup]:
        if self.tax_groups:
            return self.tax_groups
        return [
            TaxGroup(
                category=self.tax_category,
                rate=self.tax_rate,
                taxable=self.subtotal - self.discount,
                tax=self.tax,
                discount=self.discount,
            )
        ]

    def line_tax(self, line: Line) -> tuple[str, Decimal]:
        """The line's (category, rate): its own, else the document's."""
        return (
            line.tax_category or self.tax_category,
            self.tax_rate if line.tax_rate is None else line.tax_rate,
        )


class Finding(msgspec.Struct, kw_only=True, frozen=True):
    """One failed EN 16931 rule: `rule` is the BR code the assertion names, `XSD` for a schema error."""

    rule: str
    message: str
    location: str


class Report(msgspec.Struct, kw_only=True, frozen=True):
    valid: bool
    errors: list[Finding]
    warnings: list[Finding]


class Built(msgspec.Struct, kw_only=True, frozen=True):
    """What a rendering process hands back: the PDF (None when the e-invoice failed or it has too many
    pages), its XML, the report, its number of pages."""

    pdf: bytes | None
    xml: bytes | None
    report: Report | None
    pages: int = 0


def map_text(struct: S, change: Callable[[str], str]) -> S:
    """`struct` with `change` applied to every string in it, nested structs and lists included."""

    def mapped(value: Any) -> Any:
        if isinstance(value, str):
            return change(value)
        if isinstance(value, msgspec.Struct):
            return map_text(value, change)
        if isinstance(value, list):
            return [mapped(item) for item in value]
        return value

    fields = {name: getattr(struct, name) for name in struct.__struct_fields__}
    return msgspec.structs.replace(struct, **{name: mapped(value) for name, value in fields.items()})
