"""The worked example as DocumentData (3 × 19.99, 1.5 × 100, 0.3333 × 10, 10 % discount, 8.875 % tax),
shared by the document benchmarks and the sample page in docs/."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from app.documents.model import DocumentData, Line, Party, TaxGroup

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


def multi_rate_example(e_invoice: str = "factur-x") -> DocumentData:
    """A German invoice at two rates (section 22): consulting at 19 %, books at 7 %, an exempt training
    (§ 4 Nr. 21 UStG), 5 % discount; amounts by the invoices' own arithmetic (app/invoices/totals.py)."""
    from app.invoices.totals import PricedLine, compute_totals

    items = [
        ("Beratung Datenmodell", Decimal("6.5"), Decimal("95.00"), "S", Decimal(19)),
        ("Fachbuch „Analytical Engines“", Decimal(2), Decimal("39.90"), "S", Decimal(7)),
        ("Schulung (Bildungsleistung)", Decimal(1), Decimal("480.00"), "E", Decimal(0)),
        ("Reisekosten Pauschale", Decimal(1), Decimal("45.00"), "S", Decimal(19)),
    ]
    discount_rate = Decimal(5)
    totals = compute_totals(
        (PricedLine(quantity, price, category, rate) for _, quantity, price, category, rate in items),
        discount_rate=discount_rate,
    )
    lines = [
        Line(
            description=description,
            quantity=quantity,
            unit_price=price,
            amount=amount,
            tax_category=category,
            tax_rate=rate,
        )
        for (description, quantity, price, category, rate), amount in zip(
            items, totals.line_amounts, strict=True
        )
    ]
    groups = [
        TaxGroup(category=g.category, rate=g.rate, taxable=g.taxable, tax=g.tax, discount=g.discount)
        for g in totals.groups
    ]
    return DocumentData(
        invoice_id="6740f0c2a1b2c3d4e5f60719",
        number="INV-0002",
        draft=False,
        locale="de",
        e_invoice=e_invoice,
        currency="EUR",
        issue_date=date(2026, 12, 1),
        due_date=date(2026, 12, 31),
        seller=SELLER,
        buyer=BUYER,
        lines=lines,
        notes="Vielen Dank für Ihren Auftrag.",
        subtotal=totals.subtotal,
        discount_rate=discount_rate,
        discount=totals.discount,
        tax_rate=Decimal(19),
        tax_category="S",
        tax_exemption_reason="Steuerfrei nach § 4 Nr. 21 UStG",
        tax=totals.tax,
        total=totals.total,
        amount_paid=Decimal("0.00"),
        amount_due=totals.amount_due,
        payment_terms_days=30,
        iban="DE89370400440532013000",
        bic="COBADEFFXXX",
        tax_groups=groups,
    )


if __name__ == "__main__":
    # Writes docs/sample-multi-rate-invoice.pdf and .xml (checked by the XSD and the EN 16931 Schematron, as
    # a send checks them); docs/sample-multi-rate-invoice.png is page 1 of it (`pdftoppm -png -r 60`).
    import sys
    from datetime import UTC, datetime
    from pathlib import Path

    import msgspec

    from app.documents.build import document
    from app.documents.model import Built

    built = msgspec.json.decode(
        document(msgspec.json.encode(multi_rate_example()), datetime(2026, 12, 1, 9, tzinfo=UTC)), type=Built
    )
    if built.pdf is None or built.xml is None:
        sys.exit(f"not valid: {built.report}")
    docs = Path(__file__).resolve().parent.parent / "docs"
    (docs / "sample-multi-rate-invoice.pdf").write_bytes(built.pdf)
    (docs / "sample-multi-rate-invoice.xml").write_bytes(built.xml)
