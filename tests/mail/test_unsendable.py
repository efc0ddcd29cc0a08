"""API.md section 24: what the e-mail library cannot write is refused at the API (400), a name stored before
that is written safely, and an e-mail that can never be sent (a subject stored before the API refused it, an
invoice that cannot be rendered) ends `failed` at its first attempt with the reason, never retried for hours,
never in the way of the e-mails behind it."""

from __future__ import annotations

from typing import Any

import pytest
from bson import ObjectId

from app.core.errors import QuotaExceeded, RuleError
from app.documents import service as documents_service
from app.documents.errors import EInvoiceInvalid, RenderTimeout
from app.documents.models import StoredDocument
from app.invoices.models import Invoice
from app.mail.models import EmailRecord
from app.organizations.models import Organization
from app.worker import jobs
from tests.conftest import assert_problem
from tests.mail.conftest import SMTP_FROM
from tests.mail.factories import email_invoice, emails, sent_invoice

SEPARATORS = ["\u2028", "\u2029"]  # LINE SEPARATOR, PARAGRAPH SEPARATOR: str.splitlines() breaks at both


async def _job_of(email_id: str) -> dict[str, Any]:
    job = await jobs.get_by_key(f"invoice_email:{email_id}")
    assert job is not None
    return job


@pytest.mark.parametrize("separator", SEPARATORS)
async def test_a_subject_that_would_span_lines_is_refused_with_400(mail_client, sender, separator):
    invoice = await sent_invoice(mail_client, sender.headers)
    response = await mail_client.post(
        f"/api/invoices/{invoice['id']}/email",
        json={"subject": f"Invoice{separator}Bcc: everyone@example.com"},
        headers=sender.headers,
    )
    problem = assert_problem(response, 400, "validation_error")
    [error] = problem["errors"]
    assert error["field"] == "subject" and f"U+{ord(separator):04X}" in error["message"]
    assert await emails(mail_client, sender.headers, invoice["id"]) == []


@pytest.mark.parametrize("separator", SEPARATORS)
async def test_a_business_name_with_a_line_separator_is_refused_and_a_stored_one_goes_out_on_one_line(
    mail_client, sender, mailbox, worker, separator
):
    """The business name is the From display name and is in the default subject. The API refuses one that
    would span lines; one stored before that rule goes out with the separator as a space in both headers
    (the message body keeps the name as it is)."""
    name = f"Analytical{separator}Engines GmbH"
    refused = await mail_client.patch(
        "/api/auth/me", json={"business": {"company_name": name}}, headers=sender.headers
    )
    assert assert_problem(refused, 400, "validation_error")["errors"][0]["field"] == "business.company_name"
    invoice = await sent_invoice(mail_client, sender.headers, e_invoice="none")
    await Organization.get_motor_collection().update_one(
        {"_id": ObjectId(sender.id)}, {"$set": {"business.company_name": name}}
    )
    queued = await email_invoice(mail_client, sender.headers, invoice["id"])
    await worker.run_until_idle()

    [record] = await emails(mail_client, sender.headers, invoice["id"])
    assert record["status"] == "sent" and record["last_error"] is None
    assert record["subject"] == "Rechnung INV-0001 von Analytical Engines GmbH"
    message = mailbox.delivered[0].message
    [address] = message["From"].addresses
    assert (address.display_name, address.addr_spec) == ("Analytical Engines GmbH", SMTP_FROM)
    assert message["Subject"] == "Rechnung INV-0001 von Analytical Engines GmbH"
    assert name in message.get_body(("plain",)).get_content()
    assert (await _job_of(queued["id"]))["status"] == "succeeded"


@pytest.mark.parametrize("separator", SEPARATORS)
async def test_a_stored_subject_the_library_refuses_fails_at_once_and_the_next_email_goes_out(
    mail_client, sender, mailbox, worker, separator
):
    invoice = await sent_invoice(mail_client, sender.headers)
    poisoned = await email_invoice(mail_client, sender.headers, invoice["id"])
    # Queued before the API refused such subjects.
    await EmailRecord.get_motor_collection().update_one(
        {"_id": ObjectId(poisoned["id"])}, {"$set": {"subject": f"Invoice{separator}Bcc: x@example.com"}}
    )
    behind = await email_invoice(mail_client, sender.headers, invoice["id"], to=["next@client.example"])
    await worker.run_until_idle()

    by_id = {record["id"]: record for record in await emails(mail_client, sender.headers, invoice["id"])}
    failed = by_id[poisoned["id"]]
    assert failed["status"] == "failed" and failed["attempts"] == 1
    assert failed["last_error"].startswith("the message cannot be encoded: ValueError: ")
    job = await _job_of(poisoned["id"])
    assert job["status"] == "failed" and job["attempts"] == 1 and job["last_error"]
    assert by_id[behind["id"]]["status"] == "sent"
    assert [delivered.rcpt_tos for delivered in mailbox.delivered] == [["next@client.example"]]


async def test_an_invoice_whose_document_cannot_be_rendered_fails_the_email_at_once(
    mail_client, sender, mailbox, worker, monkeypatch
):
    invoice = await sent_invoice(mail_client, sender.headers)
    # A send cut short before its document was kept, and the document now breaks a rule.
    await StoredDocument.get_motor_collection().delete_many({})
    await Invoice.get_motor_collection().update_one(
        {"_id": ObjectId(invoice["id"])}, {"$set": {"document": None}}
    )

    async def breaks_a_rule(*_: Any, **__: Any) -> Any:
        raise EInvoiceInvalid.rules([RuleError(rule="BR-CO-10", message="sum mismatch", location="/")])

    monkeypatch.setattr(documents_service, "render_final", breaks_a_rule)
    queued = await email_invoice(mail_client, sender.headers, invoice["id"])
    await worker.run_until_idle()

    [record] = await emails(mail_client, sender.headers, invoice["id"])
    assert record["status"] == "failed" and record["attempts"] == 1
    assert record["last_error"] == (
        "the invoice's document cannot be rendered: its e-invoice breaks EN 16931 rule(s) BR-CO-10"
    )
    job = await _job_of(queued["id"])
    assert job["status"] == "failed" and job["attempts"] == 1
    assert mailbox.offered == []


async def test_a_relay_certificate_that_does_not_verify_is_retried_not_failed(
    mail_client, sender, worker, monkeypatch
):
    """Over STARTTLS, aiosmtplib lets ssl.SSLCertVerificationError through unwrapped; it is also a ValueError,
    but a relay's expired certificate may be renewed within the hour: the e-mail stays queued for a retry."""
    import ssl

    import aiosmtplib

    async def expired(*args: Any, **kwargs: Any) -> Any:
        raise ssl.SSLCertVerificationError(1, "certificate verify failed: certificate has expired")

    monkeypatch.setattr(aiosmtplib, "send", expired)
    invoice = await sent_invoice(mail_client, sender.headers, e_invoice="none")
    queued = await email_invoice(mail_client, sender.headers, invoice["id"])
    await worker.run_until_idle()

    [record] = await emails(mail_client, sender.headers, invoice["id"])
    assert record["status"] == "queued", record
    assert "certificate verify failed" in record["last_error"]
    assert (await _job_of(queued["id"]))["status"] == "pending"


@pytest.mark.parametrize(
    "refusal",
    [
        QuotaExceeded("RENDER_CONCURRENCY_PER_ORG", "2 documents are being rendered", 1),
        RenderTimeout("Rendering took longer than 30 s (RENDER_TIMEOUT_SECONDS); try again later"),
    ],
    ids=["renders-busy", "render-too-long"],
)
async def test_a_render_refused_for_now_leaves_the_email_queued(
    mail_client, sender, mailbox, worker, monkeypatch, refusal
):
    invoice = await sent_invoice(mail_client, sender.headers, e_invoice="none")
    # A send cut short before its document was kept: the e-mail renders it, and the renderers refuse for now.
    await StoredDocument.get_motor_collection().delete_many({})
    await Invoice.get_motor_collection().update_one(
        {"_id": ObjectId(invoice["id"])}, {"$set": {"document": None}}
    )

    async def refused(*_: Any, **__: Any) -> Any:
        raise refusal

    monkeypatch.setattr(documents_service, "render_final", refused)
    queued = await email_invoice(mail_client, sender.headers, invoice["id"])
    await worker.run_until_idle()

    [record] = await emails(mail_client, sender.headers, invoice["id"])
    assert record["status"] == "queued" and record["last_error"] == refusal.detail
    assert (await _job_of(queued["id"]))["status"] == "pending"
    assert mailbox.offered == []
