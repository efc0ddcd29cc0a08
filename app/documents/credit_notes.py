"""What the credit notes area calls: a credit note (UNTDID 1001 type 381) as plain document data, checked
against the Factur-X XSD and the EN 16931 Schematron, and rendered (PDF/A-3 with its XML when the business
e-invoices) — the same rendering processes and rules as invoices, and nothing here reads any collection.

    data = credit_note_data(credit_note_id=..., number="CN-0001", issue_date=..., preceding=Preceding(
        number="INV-0007", issue_date=...), seller=..., buyer=..., lines=[Line(..., tax_category="S",
        tax_rate=Decimal("19"))], groups=[TaxGroup(category="S", rate=Decimal("19"), taxable=..., tax=...)],
        subtotal=..., tax=..., total=..., locale="de", e_invoice="factur-x", currency="EUR")
    report = await check(org_id, data)                          # {valid, errors, warnings}, nothing rendered
    rendered = await render_credit_note(org_id, data, moment)   # 422 e_invoice_invalid if a rule fails

Amounts are positive, as EN 16931 wants of a credit note. `seller` and `buyer` are the Parties the invoices
area builds (app/invoices/document_data.py: `seller`, `buyer`); storing the result is
`app.documents.service.store(org_id, credit_note_id, rendered)` (one document per owner record id).
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from app.db.repository import OwnerId
from app.documents import service
from app.documents.model import CREDIT_NOTE, DocumentData, Line, Party, Preceding, Report, TaxGroup


def credit_note_data(
    *,
    credit_note_id: str,
    number: str,
    issue_date: date,
    preceding: Preceding,
    seller: Party,
    buyer: Party,
    lines: list[Line],
    groups: list[TaxGroup],
    subtotal: Decimal,
    tax: Decimal,
    total: Decimal,
    locale: str,
    e_invoice: str,
    currency: str,
    tax_exemption_reason: str | None = None,
    notes: str = "",
    iban: str | None = None,
    bic: str | None = None,
) -> DocumentData:
    """A final credit note (type 381) for the invoice `preceding` (BT-25 its number, BT-26 its issue date).
    Each line names its own category and rate; `groups` are its VAT breakdown in `tax_breakdown` order
    (a credit note has no discount); the whole `total` is what the seller owes back (BT-115)."""
    if not groups:
        raise ValueError("a credit note has at least one VAT group")
    amounts = [subtotal, tax, total, *(line.amount for line in lines), *(g.taxable for g in groups)]
    if any(amount < 0 for amount in amounts) or any(g.tax < 0 for g in groups):
        raise ValueError("a credit note's amounts are positive (EN 16931)")
    if any(line.tax_category is None or line.tax_rate is None for line in lines):
        raise ValueError("each line of a credit note names its tax_category and tax_rate")
    return DocumentData(
        invoice_id=credit_note_id,
        number=number,
        draft=False,
        locale=locale,
        e_invoice=e_invoice,
        currency=currency,
        issue_date=issue_date,
        due_date=issue_date,
        seller=seller,
        buyer=buyer,
        lines=lines,
        notes=notes,
        subtotal=subtotal,
        discount_rate=Decimal(0),
        discount=Decimal(0),
        tax_rate=groups[0].rate,
        tax_category=groups[0].category,
        tax_exemption_reason=tax_exemption_reason,
        tax=tax,
        total=total,
        amount_paid=Decimal(0),
        amount_due=total,
        payment_terms_days=0,
        iban=iban,
        bic=bic,
        type_code=CREDIT_NOTE,
        preceding=preceding,
        tax_groups=groups,
    )


async def check(org_id: OwnerId, data: DocumentData) -> Report:
    """The XSD and EN 16931 Schematron report of the credit note's Factur-X XML (run off the event loop)."""
    return await service.check(org_id, data)


async def render_credit_note(org_id: OwnerId, data: DocumentData, rendered_at: datetime) -> service.Rendered:
    """The final PDF (with its checked XML embedded when `e_invoice` is "factur-x"), dated `rendered_at`:
    the same data and moment give the same bytes. 422 `e_invoice_invalid` when the XML breaks a rule (nothing
    rendered), 422 `document_too_large` over DOCUMENT_MAX_PAGES."""
    if data.type_code != CREDIT_NOTE:
        raise ValueError("render_credit_note renders credit notes (type 381)")
    return await service.render_final(org_id, data, rendered_at)
