"""API.md section 16: Factur-X EN 16931, checked by the official XSD and Schematron before a number is used."""

from __future__ import annotations

import io
from decimal import Decimal

import pytest
from lxml import etree
from pypdf import PdfReader

from app.documents.validation import check_schematron, check_xsd
from tests.conftest import assert_problem
from tests.documents.factories import BUYER, set_business, worked_example
from tests.invoices.factories import send_invoice

NS = {
    "rsm": "urn:un:unece:uncefact:data:standard:CrossIndustryInvoice:100",
    "ram": "urn:un:unece:uncefact:data:standard:ReusableAggregateBusinessInformationEntity:100",
}
TOTALS = "//ram:SpecifiedTradeSettlementHeaderMonetarySummation/ram:"


def amount(xml: bytes, path: str) -> Decimal:
    return Decimal(etree.fromstring(xml).xpath(f"string({path})", namespaces=NS))


async def test_the_worked_example_passes_xsd_and_schematron_to_the_cent(client, auth):
    await set_business(client, auth)
    draft = await worked_example(client, auth)
    assert (draft["subtotal"], draft["discount"], draft["tax"], draft["total"]) == (
        "213.30", "21.33", "17.04", "209.01",
    )  # fmt: skip
    report = await client.post(f"/api/invoices/{draft['id']}/validate", headers=auth)
    assert report.status_code == 200
    assert report.json()["valid"] is True and report.json()["errors"] == []

    sent = await send_invoice(client, auth, draft["id"])
    assert sent["number"] == "INV-0001" and sent["document"]["e_invoice"] == "factur-x"
    response = await client.get(f"/api/invoices/{sent['id']}/e-invoice", headers=auth)
    assert response.status_code == 200 and response.headers["content-type"].startswith("application/xml")
    xml = response.content
    # Checked again here, outside the app, by the same official rules.
    assert check_xsd(xml) == [] and check_schematron(xml)[0] == []
    assert etree.fromstring(xml).xpath("string(//rsm:ExchangedDocument/ram:ID)", namespaces=NS) == "INV-0001"
    assert amount(xml, TOTALS + "LineTotalAmount") == Decimal("213.30")
    assert amount(xml, TOTALS + "AllowanceTotalAmount") == Decimal("21.33")
    assert amount(xml, TOTALS + "TaxBasisTotalAmount") == Decimal("191.97")
    assert amount(xml, TOTALS + "TaxTotalAmount") == Decimal("17.04")
    assert amount(xml, TOTALS + "GrandTotalAmount") == Decimal("209.01")
    assert amount(xml, TOTALS + "DuePayableAmount") == Decimal("209.01")
    assert amount(
        xml, "//ram:ApplicableHeaderTradeSettlement/ram:ApplicableTradeTax/ram:RateApplicablePercent"
    ) == (Decimal("8.875"))
    text = etree.fromstring(xml)
    assert text.xpath("string(//ram:PayeePartyCreditorFinancialAccount/ram:IBANID)", namespaces=NS) == (
        "DE89370400440532013000"
    )


async def test_the_stored_pdf_is_pdf_a_3_with_the_xml_as_associated_file(client, auth):
    await set_business(client, auth)
    sent = await send_invoice(client, auth, (await worked_example(client, auth))["id"])
    pdf = (await client.get(f"/api/invoices/{sent['id']}/pdf", headers=auth)).content
    xml = (await client.get(f"/api/invoices/{sent['id']}/e-invoice", headers=auth)).content
    reader = PdfReader(io.BytesIO(pdf))
    root = reader.trailer["/Root"]
    xmp = reader.xmp_metadata.rdf_root.toxml()
    assert "<pdfaid:part>3</pdfaid:part>" in xmp
    assert "urn:factur-x:pdfa:CrossIndustryDocument:invoice:1p0#" in xmp and "EN 16931" in xmp
    intents = [intent.get_object() for intent in root["/OutputIntents"]]
    assert any(intent["/S"] == "/GTS_PDFA1" and "/DestOutputProfile" in intent for intent in intents)
    associated = [spec.get_object() for spec in root["/AF"]]
    assert [(spec["/F"], spec["/AFRelationship"]) for spec in associated] == [("factur-x.xml", "/Data")]
    assert reader.attachments["factur-x.xml"] == [xml]
    fonts = []
    for page in reader.pages:
        for font in page["/Resources"]["/Font"].values():
            font = font.get_object()
            descendant = font["/DescendantFonts"][0].get_object() if "/DescendantFonts" in font else font
            fonts.append(descendant["/FontDescriptor"].get_object())
    assert fonts and all(any(key in d for key in ("/FontFile", "/FontFile2", "/FontFile3")) for d in fonts)


BROKEN = [
    pytest.param({"address": {"city": "Berlin"}}, {}, {}, "BR-09", id="no seller country"),
    pytest.param({"tax_id": None, "tax_number": None}, {}, {}, "BR-S-02", id="no seller VAT id or tax number"),
    pytest.param({}, {"address": {"city": "Paris"}}, {}, "BR-11", id="no buyer country"),
    pytest.param(
        {}, {}, {"tax_rate": "0", "tax_category": "E"}, "BR-E-10", id="exempt without a reason"
    ),
    pytest.param(
        {}, {"tax_id": None}, {"tax_rate": "0", "tax_category": "AE", "tax_exemption_reason": "Reverse charge"},
        "BR-AE-02", id="reverse charge without the buyer's VAT id",
    ),
]  # fmt: skip


@pytest.mark.parametrize(("business", "buyer", "invoice", "rule"), BROKEN)
async def test_broken_profiles_and_invoices_fail_with_their_rule_and_use_no_number(
    client, auth, business, buyer, invoice, rule
):
    await set_business(client, auth, **business)
    draft = await worked_example(client, auth, client_fields={**BUYER, **buyer}, **invoice)
    report = (await client.post(f"/api/invoices/{draft['id']}/validate", headers=auth)).json()
    assert report["valid"] is False and rule in {e["rule"] for e in report["errors"]}

    refused = await client.post(f"/api/invoices/{draft['id']}/send", headers=auth)
    problem = assert_problem(refused, 422, "e_invoice_invalid")
    assert rule in {error["rule"] for error in problem["errors"]}
    assert all(set(error) == {"rule", "message", "location"} for error in problem["errors"])
    after = (await client.get(f"/api/invoices/{draft['id']}", headers=auth)).json()
    assert after["status"] == "draft" and after["number"] is None and after["document"] is None

    # No number was used: once the profile is fixed, an invoice gets INV-0001.
    await set_business(client, auth)
    good = await worked_example(client, auth)
    assert (await send_invoice(client, auth, good["id"]))["number"] == "INV-0001"


@pytest.mark.parametrize(
    "invoice",
    [
        {"tax_rate": "0", "tax_category": "Z"},
        {
            "tax_rate": "0",
            "tax_category": "E",
            "tax_exemption_reason": "Exempt under Article 132 VAT Directive",
        },
        {"tax_rate": "0", "tax_category": "G", "tax_exemption_reason": "Export outside the EU"},
        {"tax_rate": "0", "tax_category": "O", "tax_exemption_reason": "Not subject to VAT"},
    ],
)
async def test_every_category_builds_a_valid_e_invoice(client, auth, invoice):
    await set_business(client, auth, tax_number="12/345/67890")  # BT-29: O carries no VAT id (BR-CO-26)
    draft = await worked_example(client, auth, **invoice)
    report = (await client.post(f"/api/invoices/{draft['id']}/validate", headers=auth)).json()
    assert report["valid"] is True, report["errors"]
    xml = (await client.get(f"/api/invoices/{draft['id']}/e-invoice", headers=auth)).content
    vat_ids = etree.fromstring(xml).xpath(
        "//ram:SpecifiedTaxRegistration/ram:ID[@schemeID='VA']", namespaces=NS
    )
    assert (len(vat_ids) == 0) == (invoice["tax_category"] == "O")  # BR-O-02…04: O carries no VAT ids


async def test_a_kleinunternehmer_with_only_a_tax_number_is_valid(client, auth):
    await set_business(client, auth, tax_id=None, tax_number="12/345/67890")
    draft = await worked_example(
        client, auth, tax_rate="0", tax_category="E", tax_exemption_reason="Kleinunternehmer gemäß § 19 UStG"
    )
    report = (await client.post(f"/api/invoices/{draft['id']}/validate", headers=auth)).json()
    assert report["valid"] is True, report["errors"]


async def test_validate_is_for_drafts_only(client, auth):
    await set_business(client, auth)
    sent = await send_invoice(client, auth, (await worked_example(client, auth))["id"])
    assert_problem(
        await client.post(f"/api/invoices/{sent['id']}/validate", headers=auth), 409, "invalid_state"
    )


async def test_without_factur_x_the_invoice_has_no_e_invoice(client, auth):
    await set_business(client, auth, e_invoice="none")
    sent = await send_invoice(client, auth, (await worked_example(client, auth))["id"])
    assert sent["document"]["e_invoice"] == "none"
    assert_problem(await client.get(f"/api/invoices/{sent['id']}/e-invoice", headers=auth), 404, "not_found")
    pdf = (await client.get(f"/api/invoices/{sent['id']}/pdf", headers=auth)).content
    assert not PdfReader(io.BytesIO(pdf)).attachments
