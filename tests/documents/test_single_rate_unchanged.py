"""API.md section 22: an invoice with one tax group (every invoice stored before per-line tax) renders exactly
as before. The references in golden/ were rendered once by the code of main before per-line tax existed
(commit 36dfcc7): the Factur-X XML byte for byte and the PDF's text as pypdf extracts it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.documents.factories import pdf_text, set_business, worked_example
from tests.invoices.factories import add_payment, send_invoice

GOLDEN = Path(__file__).parent / "golden"

CASES = [
    pytest.param("de-standard-discount", {"locale": "de"}, {}, id="de, S 8.875 %, discount"),
    pytest.param("en-standard-discount", {"locale": "en"}, {}, id="en, S 8.875 %, discount"),
    pytest.param(
        "fr-exempt",
        {"locale": "fr"},
        {"tax_rate": "0", "tax_category": "E", "tax_exemption_reason": "Exonération, article 261 du CGI"},
        id="fr, E with a reason",
    ),
    pytest.param(
        "en-zero-no-discount", {"locale": "en"}, {"tax_rate": "0", "tax_category": "Z", "discount_rate": "0"},
        id="en, Z, no discount",
    ),
    pytest.param("de-reduced", {"locale": "de"}, {"tax_rate": "7", "discount_rate": "0"}, id="de, S 7 %"),
]  # fmt: skip


async def rendered(client: Any, auth: dict[str, str], business: dict[str, Any], fields: dict[str, Any]):
    await set_business(client, auth, **business)
    draft = await worked_example(client, auth, issue_date="2026-03-05", due_date="2026-04-04", **fields)
    sent = await send_invoice(client, auth, draft["id"])
    xml = (await client.get(f"/api/invoices/{sent['id']}/e-invoice", headers=auth)).content
    pdf = (await client.get(f"/api/invoices/{sent['id']}/pdf", headers=auth)).content
    return sent, xml, pdf_text(pdf)


@pytest.mark.parametrize(("name", "business", "fields"), CASES)
async def test_a_single_rate_invoice_renders_exactly_as_before(client, auth, name, business, fields):
    sent, xml, text = await rendered(client, auth, business, fields)
    assert xml == (GOLDEN / f"{name}.xml").read_bytes()
    assert text == (GOLDEN / f"{name}.txt").read_text(encoding="utf-8")
    # A payment made since changes nothing already stored.
    if sent["amount_due"] != "0.00":
        await add_payment(client, auth, sent["id"], "1.00")
        again = (await client.get(f"/api/invoices/{sent['id']}/pdf", headers=auth)).content
        assert pdf_text(again) == text
