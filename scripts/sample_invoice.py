"""The worked example as DocumentData (3 × 19.99, 1.5 × 100, 0.3333 × 10, 10 % discount, 8.875 % tax),
shared by the document benchmarks and the sample page in docs/."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from app.documents.model import DocumentData, Line, Party

SELLER = Party(
    name="Analytical Engines GmbH",
    line1="Hauptstraße 1",
    city="Berlin",
    postal_code="10115",
    country="DE",
    vat_id="DE123456789",
    email="billing@engines.example",
)
BUYER = Party(
    name="Acme SARL",
    line1="1 rue de Rivoli",
    city="Paris",
    postal_code="75001",
    country="FR",
    vat_id="FR40303265045",
)
WORKED_LINES = [
    Line(description="Widgets", quantity=Decimal("3"), unit_price=Decimal("19.99"), amount=Decimal("59.97")),
    Line(
        description="Consulting",
        quantity=Decimal("1.5"),
        unit_price=Decimal("100.00"),
        amount=Decimal("150.00"),
    ),
    Line(
        description="Rounding test",
        quantity=Decimal("0.3333"),
        unit_price=Decimal("10.00"),
        amount=Decimal("3.33"),
    ),
]


def worked_example(locale: str = "de", lines: int = 0, e_invoice: str = "factur-x") -> DocumentData:
    """The worked example; `lines` > 0 instead bills that many 1 × 1.00 lines (totals follow)."""
    items = WORKED_LINES
    totals = ("213.30", "21.33", "17.04", "209.01")
    if lines:
        items = [
            Line(
                description=f"Line {i}",
                quantity=Decimal(1),
                unit_price=Decimal("1.00"),
                amount=Decimal("1.00"),
            )
            for i in range(1, lines + 1)
        ]
        subtotal = Decimal(lines).quantize(Decimal("0.01"))
        discount = (subtotal / 10).quantize(Decimal("0.01"))
        tax = ((subtotal - discount) * Decimal("0.08875")).quantize(Decimal("0.01"), rounding="ROUND_HALF_UP")
        totals = (str(subtotal), str(discount), str(tax), str(subtotal - discount + tax))
    subtotal, discount, tax, total = (Decimal(value) for value in totals)
    return DocumentData(
        invoice_id="6740f0c2a1b2c3d4e5f60718",
        number="INV-0001",
        draft=False,
        locale=locale,
        e_invoice=e_invoice,
        currency="EUR",
        issue_date=date(2026, 11, 27),
        due_date=date(2026, 12, 27),
        seller=SELLER,
        buyer=BUYER,
        lines=items,
        notes="Thank you for your business.",
        subtotal=subtotal,
        discount_rate=Decimal(10),
        discount=discount,
        tax_rate=Decimal("8.875"),
        tax_category="S",
        tax_exemption_reason=None,
        tax=tax,
        total=total,
        amount_paid=Decimal("0.00"),
        amount_due=total,
        payment_terms_days=30,
        iban="DE89370400440532013000",
        bic="COBADEFFXXX",
    )
