"""API.md section 16: the PDF, read back with pypdf — drafts on demand and marked, sent ones stored."""

from __future__ import annotations

import hashlib
import os

import pytest

from app.documents import pool
from tests.conftest import assert_problem
from tests.documents.factories import pdf_text, set_business, worked_example
from tests.invoices.factories import send_invoice


async def test_a_draft_is_rendered_on_demand_and_marked_draft(client, auth):
    await set_business(client, auth, e_invoice="none", locale="en")
    draft = await worked_example(client, auth)
    response = await client.get(f"/api/invoices/{draft['id']}/pdf", headers=auth)
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/pdf"
    assert response.headers["content-disposition"] == f'attachment; filename="draft-{draft["id"]}.pdf"'
    assert "etag" not in response.headers
    text = pdf_text(response.content)
    assert "DRAFT" in text
    assert "€209.01" in text and "€213.30" in text and "€21.33" in text and "€17.04" in text
    assert "INV-0001" not in text


@pytest.mark.parametrize(
    ("locale", "expected"),
    [
        ("en", ["Invoice", "€209.01", "Subtotal", "VAT (8.875%)"]),
        ("de", ["Rechnung", "209,01 €", "Zwischensumme", "USt. (8,875 %)", "Rabatt (10 %)"]),
        ("fr", ["Facture", "209,01", "Sous-total", "TVA (8,875 %)"]),
    ],
)
async def test_labels_numbers_and_dates_follow_the_business_locale(client, auth, locale, expected):
    await set_business(client, auth, e_invoice="none", locale=locale)
    invoice = await worked_example(client, auth, issue_date="2026-03-05", due_date="2026-04-04")
    sent = await send_invoice(client, auth, invoice["id"])
    text = pdf_text((await client.get(f"/api/invoices/{sent['id']}/pdf", headers=auth)).content)
    for fragment in expected:
        assert fragment.replace(" ", "") in text.replace("\u202f", "").replace("\xa0", "").replace(" ", "")
    dates = {"en": "March 5, 2026", "de": "5. März 2026", "fr": "5 mars 2026"}
    assert dates[locale] in text.replace("\u202f", " ").replace("\xa0", " ")
    assert "INV-0001" in text and "DRAFT" not in text and "ENTWURF" not in text


async def test_a_sent_document_is_stored_and_served_byte_identical(client, auth):
    await set_business(client, auth, e_invoice="none", locale="en")
    invoice = await worked_example(client, auth)
    sent = await send_invoice(client, auth, invoice["id"])
    document = sent["document"]
    assert document["e_invoice"] == "none" and document["size"] > 1000
    first = await client.get(f"/api/invoices/{sent['id']}/pdf", headers=auth)
    assert first.headers["content-disposition"] == 'attachment; filename="INV-0001.pdf"'
    assert first.headers["etag"] == f'"{document["sha256"]}"'
    assert hashlib.sha256(first.content).hexdigest() == document["sha256"]
    # A later edit of the business profile and of the client changes nothing already sent.
    await set_business(client, auth, company_name="Renamed Ltd", locale="fr", e_invoice="none")
    await client.patch(f"/api/clients/{sent['client_id']}", json={"company": "Other"}, headers=auth)
    again = await client.get(f"/api/invoices/{sent['id']}/pdf", headers=auth)
    assert again.content == first.content
    assert "Analytical Engines GmbH" in pdf_text(again.content)
    cached = await client.get(
        f"/api/invoices/{sent['id']}/pdf", headers={**auth, "If-None-Match": first.headers["etag"]}
    )
    assert cached.status_code == 304 and cached.content == b""


async def test_an_epc_qr_code_is_printed_for_eur_with_an_iban_once_sent(client, auth):
    await set_business(client, auth, e_invoice="none")
    with_qr = await send_invoice(client, auth, (await worked_example(client, auth))["id"])
    usd = await send_invoice(
        client, auth, (await worked_example(client, auth, client_fields={"currency": "USD"}))["id"]
    )
    draft = await worked_example(client, auth)
    assert "GiroCode" not in pdf_text(
        (await client.get(f"/api/invoices/{draft['id']}/pdf", headers=auth)).content
    )
    qr = pdf_text((await client.get(f"/api/invoices/{with_qr['id']}/pdf", headers=auth)).content)
    none = pdf_text((await client.get(f"/api/invoices/{usd['id']}/pdf", headers=auth)).content)
    assert "GiroCode" in qr and "GiroCode" not in none
    assert "DE89 3704 0044 0532 0130 00" in qr


@pytest.mark.parametrize(("prefix", "name"), [("A/B#", "A-B-0001.pdf"), ("INV-", "INV-0001.pdf")])
async def test_the_filename_replaces_slash_and_hash(client, auth, prefix, name):
    await set_business(client, auth, e_invoice="none", invoice_prefix=prefix)
    sent = await send_invoice(client, auth, (await worked_example(client, auth))["id"])
    response = await client.get(f"/api/invoices/{sent['id']}/pdf", headers=auth)
    assert response.headers["content-disposition"] == f'attachment; filename="{name}"'


async def test_another_users_pdf_is_404(client, auth, other_user):
    draft = await worked_example(client, auth)
    response = await client.get(f"/api/invoices/{draft['id']}/pdf", headers=other_user.headers)
    assert_problem(response, 404, "not_found")


async def test_rendering_runs_in_another_process():
    """Typst holds the GIL while it compiles and Saxon is bound to its thread: both run in the spawned pool,
    never in the event loop's process (the latency it buys is measured by scripts/bench_documents.py)."""
    assert await pool.run("test", os.getpid) != os.getpid()


async def test_rendering_processes_yield_the_cpu_to_the_api():
    """A batch of renders on every core must not starve the event loop: the pool runs at the lowest priority
    (Linux: the idle scheduling class; elsewhere niceness +19)."""
    if hasattr(os, "SCHED_IDLE"):
        assert await pool.run("test", os.sched_getscheduler, 0) == os.SCHED_IDLE
        assert os.sched_getscheduler(0) != os.SCHED_IDLE  # the API's own process keeps its class
    else:
        assert await pool.run("test", os.nice, 0) == os.nice(0) + pool.RENDER_NICENESS
