"""The Factur-X EN 16931 CII XML of an invoice, built with drafthorse (the mapping is in
docs/documents-and-e-invoicing.md).

Text goes in as written, except the characters XML 1.0 cannot hold at all (U+FFFE, U+FFFF, lone surrogates,
C0 controls but tab, newline and carriage return): those become U+FFFD, the mark the PDF prints for a
character it cannot show, so the XML never fails to build.
"""

from __future__ import annotations

import re
from decimal import Decimal

from drafthorse.models.accounting import ApplicableTradeTax, CategoryTradeTax, TradeAllowanceCharge
from drafthorse.models.document import Document
from drafthorse.models.note import IncludedNote
from drafthorse.models.party import PostalTradeAddress, TaxRegistration, TradeParty
from drafthorse.models.payment import PaymentMeans, PaymentTerms
from drafthorse.models.tradelines import LineItem

from app.documents.model import EXEMPT_CATEGORIES, DocumentData, Line, Party, TaxGroup, map_text

EN16931 = "urn:cen.eu:en16931:2017"
SEPA_CREDIT_TRANSFER, CREDIT_TRANSFER = "58", "30"  # UNTDID 4461
UNIT = "C62"  # UN/ECE Rec 20 "one": hours and pieces alike are counted units here
VAT = "VAT"
OUTSIDE_SCOPE = "O"  # BR-O-02…04: no VAT identifiers at all
# Outside XML 1.0's Char production: #x9 | #xA | #xD | [#x20-#xD7FF] | [#xE000-#xFFFD] | [#x10000-#x10FFFF].
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def xml_text(text: str) -> str:
    """`text` as XML 1.0 can hold it: each character it cannot becomes U+FFFD."""
    return _NOT_XML.sub("\ufffd", text)


def _address(target: PostalTradeAddress, party: Party) -> None:
    if party.postal_code:
        target.postcode = party.postal_code
    if party.line1:
        target.line_one = party.line1
    if party.line2:
        target.line_two = party.line2
    if party.city:
        target.city_name = party.city
    if party.state:
        target.country_subdivision = party.state
    if party.country:  # BR-09 / BR-11 name a missing one
        target.country_id = party.country


def _party(target: TradeParty, party: Party, outside_scope: bool, *, seller: bool) -> None:
    if seller and party.tax_number:
        target.id = party.tax_number  # BT-29: identifies a seller without a VAT id (BR-CO-26)
    target.name = party.name
    _address(target.address, party)
    if party.vat_id and not outside_scope:
        target.tax_registrations.add(TaxRegistration(id=("VA", party.vat_id)))
    if seller and party.tax_number:
        target.tax_registrations.add(TaxRegistration(id=("FC", party.tax_number)))
    if party.email:
        target.electronic_address.uri_ID = ("EM", party.email)


def _line(index: int, line: Line, category: str, rate: Decimal) -> LineItem:
    item = LineItem()
    item.document.line_id = str(index)
    item.product.name = line.description
    item.agreement.net.amount = line.unit_price
    item.delivery.billed_quantity = (line.quantity, UNIT)
    item.settlement.trade_tax.type_code = VAT
    item.settlement.trade_tax.category_code = category
    if category != OUTSIDE_SCOPE:  # BR-O-05: no rate outside the scope of VAT
        item.settlement.trade_tax.rate_applicable_percent = rate
    item.settlement.monetary_summation.total_amount = line.amount
    return item


def build_cii(data: DocumentData) -> bytes:
    """The document's CII: type code 380 or 381 (BT-3); each line with its own VAT (BG-30); one VAT breakdown
    (BG-23) per group and, with a discount, one document-level allowance (BG-20) per group; a credit note's
    invoice as BG-3. One group gives the very XML the single-rate invoices always had."""
    data = map_text(data, xml_text)
    groups = data.groups()
    outside_scope = any(group.category == OUTSIDE_SCOPE for group in groups)
    doc = Document()
    doc.context.guideline_parameter.id = EN16931
    doc.header.id = data.number or f"DRAFT-{data.invoice_id}"
    doc.header.type_code = data.type_code
    doc.header.issue_date_time = data.issue_date
    if data.notes:
        note = IncludedNote()
        note.content = data.notes
        doc.header.notes.add(note)

    agreement = doc.trade.agreement
    _party(agreement.seller, data.seller, outside_scope, seller=True)
    _party(agreement.buyer, data.buyer, outside_scope, seller=False)
    doc.trade.delivery.event.occurrence = data.issue_date  # BT-72: the service is billed on the issue date

    for index, line in enumerate(data.lines, start=1):
        doc.trade.items.add(_line(index, line, *data.line_tax(line)))

    settlement = doc.trade.settlement
    settlement.currency_code = data.currency
    if data.iban or not data.credit_note:  # BG-16 is optional: a credit note without an account has none
        means = PaymentMeans()
        if data.iban:
            means.type_code = SEPA_CREDIT_TRANSFER
            means.payee_account.iban = data.iban  # BT-84
            if data.bic:
                means.payee_institution.bic = data.bic  # BT-86
        else:
            means.type_code = CREDIT_TRANSFER
        settlement.payment_means.add(means)

    basis = data.subtotal - data.discount
    for group in groups:
        if group.discount:  # BG-20: the group's share of the discount, taxed as the group
            settlement.allowance_charge.add(_allowance(group, data.discount_rate))
    for group in groups:
        settlement.trade_tax.add(_breakdown(group, data.tax_exemption_reason))

    terms = PaymentTerms()
    terms.description = (
        f"Credit for invoice {data.preceding.number}"
        if data.credit_note and data.preceding
        else f"{data.payment_terms_days} days"
    )
    terms.due = data.due_date  # BT-9
    settlement.terms.add(terms)
    if data.preceding is not None:  # BG-3: the invoice a credit note corrects
        reference = settlement.invoice_referenced_document
        reference.issuer_assigned_id = data.preceding.number  # BT-25
        if data.preceding.issue_date is not None:
            reference.issue_date_time = data.preceding.issue_date  # BT-26

    totals = settlement.monetary_summation
    totals.line_total = data.subtotal  # BT-106
    totals.charge_total = Decimal("0.00")
    totals.allowance_total = data.discount  # BT-107
    totals.tax_basis_total = basis  # BT-109
    totals.tax_total = (data.tax, data.currency)  # BT-110
    totals.grand_total = data.total  # BT-112
    totals.prepaid_total = data.amount_paid  # BT-113
    totals.due_amount = data.amount_due  # BT-115
    # No schema check inside drafthorse (it raises on the first problem, with its older XSD): validation.py
    # checks this XML against the Factur-X 1.09 XSD and the Schematron and reports every failure.
    return bytes(doc.serialize(schema=None))


def _allowance(group: TaxGroup, discount_rate: Decimal) -> TradeAllowanceCharge:
    allowance = TradeAllowanceCharge()
    allowance.indicator = False
    allowance.calculation_percent = discount_rate  # BT-94
    allowance.basis_amount = group.taxable + group.discount  # BT-93: Σ line.amount of the group
    allowance.actual_amount = group.discount  # BT-92
    allowance.reason = "Discount"
    allowance.trade_tax.add(_allowance_tax(group.category, group.rate))
    return allowance


def _breakdown(group: TaxGroup, exemption_reason: str | None) -> ApplicableTradeTax:
    tax = ApplicableTradeTax()  # BG-23
    tax.calculated_amount = group.tax  # BT-117
    tax.type_code = VAT
    if exemption_reason and group.category in EXEMPT_CATEGORIES:
        tax.exemption_reason = exemption_reason  # BT-120
    tax.basis_amount = group.taxable  # BT-116
    tax.category_code = group.category  # BT-118
    tax.rate_applicable_percent = group.rate  # BT-119
    return tax


def _allowance_tax(category: str, rate: Decimal) -> CategoryTradeTax:
    tax = CategoryTradeTax()
    tax.type_code = VAT
    tax.category_code = category
    if category != OUTSIDE_SCOPE:  # BR-O-06
        tax.rate_applicable_percent = rate
    return tax
