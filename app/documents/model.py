"""What a document shows: plain data the invoices area hands in (documents never read invoices' collections).

Money and quantities are Decimals; the struct crosses into the rendering processes as msgspec JSON.
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


class Line(msgspec.Struct, kw_only=True, frozen=True):
    description: str
    quantity: Decimal
    unit_price: Decimal
    amount: Decimal


class DocumentData(msgspec.Struct, kw_only=True, frozen=True):
    """One invoice as printed and as e-invoiced; `number` is the one it has or is about to receive."""

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
