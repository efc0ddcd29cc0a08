"""Every invoice stores its tax groups with its totals; an invoice stored before section 22 reads as one group."""

from __future__ import annotations

from decimal import Decimal

from beanie import PydanticObjectId

from app.invoices.models import Invoice, StoredLine, tax_breakdown_of
from tests.invoices.factories import create_invoice


def _old_invoice(**fields) -> Invoice:
    return Invoice(
        owner_id=PydanticObjectId(),
        number_slot="draft:x",
        client_id=PydanticObjectId(),
        currency="EUR",
        issue_date="2026-01-01",
        due_date="2026-01-31",
        tax_rate=Decimal("19"),
        discount_rate=Decimal("10"),
        lines=[StoredLine(description="a", quantity=Decimal(1), unit_price_cents=10000, amount_cents=10000)],
        subtotal_cents=10000,
        discount_cents=1000,
        tax_cents=1710,
        total_cents=10710,
        **fields,
    )


def test_an_invoice_stored_before_tax_groups_reads_as_its_one_group():
    (group,) = tax_breakdown_of(_old_invoice())
    assert (group.category, group.rate, group.taxable_cents, group.tax_cents, group.discount_cents) == (
        "S",
        Decimal("19"),
        9000,
        1710,
        1000,
    )


def test_an_old_invoice_without_lines_has_no_groups():
    assert tax_breakdown_of(_old_invoice().model_copy(update={"lines": []})) == []


async def test_a_created_invoice_stores_its_breakdown(client, auth):
    invoice = await create_invoice(
        client,
        auth,
        tax_rate="19",
        discount_rate="10",
        lines=[{"description": "a", "quantity": "1", "unit_price": "100.00"}],
    )
    stored = await Invoice.get(PydanticObjectId(invoice["id"]))
    assert stored is not None and stored.tax_breakdown is not None
    assert [(g.category, g.rate, g.taxable_cents, g.tax_cents) for g in stored.tax_breakdown] == [
        ("S", Decimal("19"), 9000, 1710)
    ]
