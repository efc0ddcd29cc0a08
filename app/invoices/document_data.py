"""An invoice as the documents area prints and e-invoices it: seller from the business profile, buyer
from the client, amounts as stored. The documents area receives this and never reads invoices' data."""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal
from typing import Any, Protocol

from app.clients.models import Client
from app.core.money import from_cents, plain_rate
from app.db.repository import get_owned
from app.documents.model import DocumentData, Line, Party, TaxGroup
from app.invoices.models import Invoice, StoredTaxGroup, tax_breakdown_of
from app.invoices.tax_category import stored_category
from app.organizations.models import Books


def _address(address: Any) -> dict[str, str | None]:
    if address is None:
        return {}
    return {
        "line1": address.line1,
        "line2": address.line2,
        "city": address.city,
        "postal_code": address.postal_code,
        "state": address.state,
        "country": address.country,
    }


def seller(user: Books) -> Party:
    business = user.business
    return Party(
        name=business.company_name or user.name,
        **_address(business.address),
        vat_id=business.tax_id,
        tax_number=business.tax_number,
        email=business.email or user.contact_email,
        phone=business.phone,
    )


def buyer(client: Client) -> Party:
    return Party(
        name=client.company or client.name,
        **_address(client.address),
        vat_id=client.tax_id,
        email=client.email,
        phone=client.phone,
    )


class PricedLine(Protocol):
    """A stored line with its amounts: an invoice's, or a credit note's."""

    @property
    def description(self) -> str: ...
    @property
    def quantity(self) -> Decimal: ...
    @property
    def unit_price_cents(self) -> int: ...
    @property
    def amount_cents(self) -> int: ...
    @property
    def tax_category(self) -> str | None: ...
    @property
    def tax_rate(self) -> Decimal | None: ...


def document_lines(lines: Iterable[PricedLine]) -> list[Line]:
    """Stored lines (an invoice's or a credit note's) as a document prints them."""
    return [
        Line(
            description=line.description,
            quantity=line.quantity,
            unit_price=from_cents(line.unit_price_cents),
            amount=from_cents(line.amount_cents),
            tax_category=line.tax_category,
            tax_rate=None if line.tax_rate is None else plain_rate(line.tax_rate),
        )
        for line in lines
    ]


def document_groups(groups: Iterable[StoredTaxGroup]) -> list[TaxGroup]:
    """Stored tax groups (an invoice's or a credit note's) as a document's VAT breakdown."""
    return [
        TaxGroup(
            category=group.category,
            rate=plain_rate(group.rate),
            taxable=from_cents(group.taxable_cents),
            tax=from_cents(group.tax_cents),
            discount=from_cents(group.discount_cents),
        )
        for group in groups
    ]


def document_data(user: Books, client: Client, invoice: Invoice, *, number: str | None) -> DocumentData:
    """`number` None: a draft preview (marked DRAFT); else the final document with that number."""
    business = user.business
    return DocumentData(
        invoice_id=str(invoice.id),
        number=number,
        draft=number is None,
        locale=business.locale,
        e_invoice=business.e_invoice,
        currency=invoice.currency,
        issue_date=invoice.issue_date,
        due_date=invoice.due_date,
        seller=seller(user),
        buyer=buyer(client),
        lines=document_lines(invoice.lines),
        tax_groups=document_groups(tax_breakdown_of(invoice)),
        notes=invoice.notes,
        subtotal=from_cents(invoice.subtotal_cents),
        discount_rate=invoice.discount_rate,
        discount=from_cents(invoice.discount_cents),
        tax_rate=invoice.tax_rate,
        tax_category=stored_category(invoice.tax_category, invoice.tax_rate).value,
        tax_exemption_reason=invoice.tax_exemption_reason,
        tax=from_cents(invoice.tax_cents),
        total=from_cents(invoice.total_cents),
        amount_paid=from_cents(invoice.amount_paid_cents),
        amount_due=from_cents(invoice.amount_due_cents),
        payment_terms_days=(invoice.due_date - invoice.issue_date).days,
        iban=business.iban,
        bic=business.bic,
    )


async def load(user: Books, invoice: Invoice, *, number: str | None) -> DocumentData:
    client = await get_owned(Client, str(invoice.client_id), user.id)
    return document_data(user, client, invoice, number=number)
