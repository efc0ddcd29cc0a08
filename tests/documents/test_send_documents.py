"""Send stores exactly one document that carries the invoice's own number, even when sends race or a send
was cut short between taking its number and storing its document."""

from __future__ import annotations

import asyncio

from bson import ObjectId

from app.documents.models import StoredDocument
from app.invoices.models import Invoice
from tests.documents.factories import pdf_text, set_business, worked_example


async def test_concurrent_sends_each_store_a_document_with_their_own_number(client, auth):
    await set_business(client, auth, e_invoice="none", locale="en")
    drafts = [await worked_example(client, auth) for _ in range(3)]
    # All three read the same upcoming number (INV-0001); two of them lose it and render again.
    sent = await asyncio.gather(*(client.post(f"/api/invoices/{d['id']}/send", headers=auth) for d in drafts))
    assert [r.status_code for r in sent] == [200, 200, 200]
    numbers = sorted(r.json()["number"] for r in sent)
    assert numbers == ["INV-0001", "INV-0002", "INV-0003"]
    for response in sent:
        invoice = response.json()
        pdf = await client.get(f"/api/invoices/{invoice['id']}/pdf", headers=auth)
        text = pdf_text(pdf.content)
        others = set(numbers) - {invoice["number"]}
        assert invoice["number"] in text and not any(other in text for other in others)
    assert await StoredDocument.get_motor_collection().count_documents({}) == 3


async def test_a_send_cut_short_before_its_document_is_finished_on_first_download(client, auth):
    await set_business(client, auth, e_invoice="factur-x")
    invoice = (
        await client.post(f"/api/invoices/{(await worked_example(client, auth))['id']}/send", headers=auth)
    ).json()
    # The state a crash after the number and before the document leaves behind.
    await StoredDocument.get_motor_collection().delete_many({"invoice_id": ObjectId(invoice["id"])})
    await Invoice.get_motor_collection().update_one(
        {"_id": ObjectId(invoice["id"])}, {"$set": {"document": None}}
    )

    first = await client.get(f"/api/invoices/{invoice['id']}/pdf", headers=auth)
    assert first.status_code == 200 and "INV-0001" in pdf_text(first.content)
    after = (await client.get(f"/api/invoices/{invoice['id']}", headers=auth)).json()
    assert after["document"]["e_invoice"] == "factur-x"
    assert first.headers["etag"] == f'"{after["document"]["sha256"]}"'
    again = await client.get(f"/api/invoices/{invoice['id']}/pdf", headers=auth)
    assert again.content == first.content
    assert await StoredDocument.get_motor_collection().count_documents({}) == 1
