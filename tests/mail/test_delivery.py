"""API.md section 17, the worker side: the message an SMTP server (aiosmtpd on loopback) receives, and how
temporary and permanent SMTP failures end."""

from __future__ import annotations

import hashlib
import io
from datetime import UTC, datetime
from typing import Any

import pytest
from pypdf import PdfReader

from app.core.clock import as_utc
from app.mail import delivery
from app.worker import jobs, retry_now
from tests.conftest import register, serve
from tests.jobs import new_worker
from tests.mail.conftest import SMTP_FROM
from tests.mail.factories import email_invoice, emails, sent_invoice


def _key(email_id: str) -> str:
    return f"invoice_email:{email_id}"


def _sender(message: Any) -> tuple[str, str]:
    [address] = message["From"].addresses
    return address.display_name, address.addr_spec


async def test_the_email_carries_the_stored_pdf_from_the_business_to_the_client(
    mail_client, sender, mailbox, worker
):
    invoice = await sent_invoice(mail_client, sender.headers)
    queued = await email_invoice(mail_client, sender.headers, invoice["id"], cc=["Boss@Acme.example"])
    assert queued["status"] == "queued" and queued["to"] == ["ap@acme.example"]
    assert queued["invoice_id"] == invoice["id"]
    await worker.run_until_idle()

    [delivered] = mailbox.delivered
    assert delivered.mail_from == SMTP_FROM
    assert delivered.rcpt_tos == ["ap@acme.example", "boss@acme.example"]
    message = delivered.message
    assert _sender(message) == ("Analytical Engines GmbH", SMTP_FROM)
    assert message["Reply-To"] == "billing@engines.example"
    assert message["To"] == "ap@acme.example" and message["Cc"] == "boss@acme.example"
    assert message["Message-ID"] == f"<{queued['id']}.invoice@orbix.example>"
    # The business locale is German: the default texts are too.
    assert message["Subject"] == "Rechnung INV-0001 von Analytical Engines GmbH"
    body = message.get_body(("plain",)).get_content()
    assert "Rechnung INV-0001" in body and "209,01\xa0€" in body

    [attachment] = list(message.iter_attachments())
    assert attachment.get_content_type() == "application/pdf"
    assert attachment.get_filename() == "INV-0001.pdf"
    stored = await mail_client.get(f"/api/invoices/{invoice['id']}/pdf", headers=sender.headers)
    assert attachment.get_content() == stored.content
    assert hashlib.sha256(attachment.get_content()).hexdigest() == invoice["document"]["sha256"]
    # The Factur-X PDF carries the e-invoice XML the API serves.
    xml = await mail_client.get(f"/api/invoices/{invoice['id']}/e-invoice", headers=sender.headers)
    embedded = PdfReader(io.BytesIO(attachment.get_content())).attachments
    assert embedded["factur-x.xml"] == [xml.content]

    [record] = await emails(mail_client, sender.headers, invoice["id"])
    assert record["id"] == queued["id"]
    assert record["status"] == "sent" and record["attempts"] == 1 and record["last_error"] is None
    assert record["to"] == ["ap@acme.example"] and record["cc"] == ["boss@acme.example"]
    assert datetime.fromisoformat(record["sent_at"]) <= datetime.now(UTC)


async def test_the_senders_name_and_reply_to_fall_back_to_the_user(mail_client, sender, mailbox, worker):
    invoice = await sent_invoice(
        mail_client, sender.headers, company_name=None, email=None, locale="en", e_invoice="none"
    )
    body = {"to": ["x@client.example"], "subject": "Your invoice", "message": "Line one\r\nLine two"}
    await email_invoice(mail_client, sender.headers, invoice["id"], **body)
    await worker.run_until_idle()
    message = mailbox.delivered[0].message
    assert _sender(message) == ("Ada Lovelace", SMTP_FROM)
    assert message["Reply-To"] == "ada@example.com"
    assert message["Subject"] == "Your invoice"
    assert message.get_body(("plain",)).get_content().splitlines() == ["Line one", "Line two"]
    [attachment] = list(message.iter_attachments())
    assert PdfReader(io.BytesIO(attachment.get_content())).attachments == {}  # no Factur-X: a plain PDF


async def test_english_defaults_name_the_number_and_the_total(mail_client, sender, mailbox, worker):
    invoice = await sent_invoice(mail_client, sender.headers, locale="en")
    await email_invoice(mail_client, sender.headers, invoice["id"])
    await worker.run_until_idle()
    message = mailbox.delivered[0].message
    assert message["Subject"] == "Invoice INV-0001 from Analytical Engines GmbH"
    assert "invoice INV-0001" in message.get_body(("plain",)).get_content()
    assert "€209.01" in message.get_body(("plain",)).get_content()


async def test_a_temporary_failure_is_retried_after_a_backoff_with_the_same_message(
    mail_client, sender, mailbox, worker
):
    mailbox.data_replies = ["451 4.7.1 Greylisted, try again later"]
    invoice = await sent_invoice(mail_client, sender.headers)
    queued = await email_invoice(mail_client, sender.headers, invoice["id"])
    await worker.run_until_idle()
    [record] = await emails(mail_client, sender.headers, invoice["id"])
    assert record["status"] == "queued" and record["attempts"] == 1
    assert record["last_error"] == "451 4.7.1 Greylisted, try again later"
    assert mailbox.delivered == []
    job = await jobs.get_by_key(_key(queued["id"]))
    assert job["status"] == "pending" and as_utc(job["run_at"]) > datetime.now(UTC)
    await worker.run_until_idle()  # not due yet: nothing is sent
    assert mailbox.delivered == [] and len(mailbox.offered) == 1

    assert await retry_now(_key(queued["id"]))  # the backoff has passed
    await worker.run_until_idle()
    [record] = await emails(mail_client, sender.headers, invoice["id"])
    assert record["status"] == "sent" and record["attempts"] == 2 and record["last_error"] is None
    first, second = mailbox.offered
    assert first.message["Message-ID"] == second.message["Message-ID"]  # a receiver can drop a repeat
    assert mailbox.delivered == [second]


async def test_a_refused_connection_is_retried_until_the_server_is_up(
    mail_client, sender, smtp_server, worker
):
    invoice = await sent_invoice(mail_client, sender.headers)
    queued = await email_invoice(mail_client, sender.headers, invoice["id"])
    await worker.run_until_idle()  # no server listens yet
    [record] = await emails(mail_client, sender.headers, invoice["id"])
    assert record["status"] == "queued" and record["attempts"] == 1
    assert record["last_error"].startswith("SMTPConnectError")

    mailbox = smtp_server.start()
    assert await retry_now(_key(queued["id"]))
    await worker.run_until_idle()
    assert len(mailbox.delivered) == 1
    [record] = await emails(mail_client, sender.headers, invoice["id"])
    assert record["status"] == "sent" and record["attempts"] == 2


@pytest.mark.parametrize(
    ("stage", "reply", "last_error"),
    [
        ("rcpt", "550 5.1.1 Mailbox unavailable", "ap@acme.example: 550 5.1.1 Mailbox unavailable"),
        ("data", "554 5.7.1 Message rejected as spam", "554 5.7.1 Message rejected as spam"),
    ],
)
async def test_a_permanent_failure_ends_failed_with_the_servers_reply(
    mail_client, sender, mailbox, worker, stage, reply, last_error
):
    if stage == "rcpt":
        mailbox.rcpt_replies["ap@acme.example"] = reply
    else:
        mailbox.data_replies = [reply]
    invoice = await sent_invoice(mail_client, sender.headers)
    queued = await email_invoice(mail_client, sender.headers, invoice["id"])
    await worker.run_until_idle()
    [record] = await emails(mail_client, sender.headers, invoice["id"])
    assert record["status"] == "failed" and record["attempts"] == 1
    assert record["last_error"] == last_error and record["sent_at"] is None
    assert (await jobs.get_by_key(_key(queued["id"])))["status"] == "failed"
    assert mailbox.delivered == []


async def test_a_temporary_failure_that_lasts_ends_failed_after_the_last_attempt(
    mail_client, sender, mailbox, worker, monkeypatch
):
    monkeypatch.setattr(delivery, "MAX_ATTEMPTS", 2)
    mailbox.data_replies = ["421 4.3.2 Service shutting down"] * 3
    invoice = await sent_invoice(mail_client, sender.headers)
    queued = await email_invoice(mail_client, sender.headers, invoice["id"])
    await worker.run_until_idle()
    assert (await emails(mail_client, sender.headers, invoice["id"]))[0]["status"] == "queued"
    assert await retry_now(_key(queued["id"]))
    await worker.run_until_idle()
    [record] = await emails(mail_client, sender.headers, invoice["id"])
    assert record["status"] == "failed" and record["attempts"] == 2
    assert record["last_error"] == "421 4.3.2 Service shutting down"
    assert (await jobs.get_by_key(_key(queued["id"])))["status"] == "failed"


async def test_a_recipient_refused_among_accepted_ones_is_reported_on_the_sent_email(
    mail_client, sender, mailbox, worker
):
    mailbox.rcpt_replies["gone@acme.example"] = "550 5.1.1 No such user"
    invoice = await sent_invoice(mail_client, sender.headers)
    await email_invoice(
        mail_client, sender.headers, invoice["id"], to=["ap@acme.example", "gone@acme.example"]
    )
    await worker.run_until_idle()
    [delivered] = mailbox.delivered
    assert delivered.rcpt_tos == ["ap@acme.example"]
    [record] = await emails(mail_client, sender.headers, invoice["id"])
    assert record["status"] == "sent"
    assert record["last_error"] == "refused for gone@acme.example: 550 5.1.1 No such user"


async def test_the_stored_last_error_is_cut_to_500_characters_however_many_recipients_were_refused(
    mail_client, sender, mailbox, worker
):
    refused = [f"gone{n}@acme.example" for n in range(9)]
    for address in refused:
        mailbox.rcpt_replies[address] = "550 5.1.1 " + "No such user here, nor anywhere else we know of " * 3
    invoice = await sent_invoice(mail_client, sender.headers)
    await email_invoice(mail_client, sender.headers, invoice["id"], to=["ap@acme.example", *refused])
    await worker.run_until_idle()
    [record] = await emails(mail_client, sender.headers, invoice["id"])
    assert record["status"] == "sent" and record["last_error"].startswith(
        "refused for gone0@acme.example: 550"
    )
    assert len(record["last_error"]) == 500 and record["last_error"].endswith("…")


async def test_a_repeated_job_does_not_send_a_sent_email_again(mail_client, sender, mailbox, worker):
    invoice = await sent_invoice(mail_client, sender.headers)
    queued = await email_invoice(mail_client, sender.headers, invoice["id"])
    await worker.run_until_idle()
    assert await retry_now(_key(queued["id"]))  # at-least-once: the job runs again
    await worker.run_until_idle()
    assert len(mailbox.delivered) == 1
    assert (await emails(mail_client, sender.headers, invoice["id"]))[0]["attempts"] == 1


async def test_an_invoice_voided_before_its_email_went_out_is_not_sent(mail_client, sender, mailbox, worker):
    # sent without Factur-X: a sent e-invoice is never voided (API.md section 22, credit_note_required)
    invoice = await sent_invoice(mail_client, sender.headers, e_invoice="none")
    await email_invoice(mail_client, sender.headers, invoice["id"])
    voided = await mail_client.post(f"/api/invoices/{invoice['id']}/void", headers=sender.headers)
    assert voided.status_code == 200, voided.text
    await worker.run_until_idle()
    assert mailbox.offered == []
    [record] = await emails(mail_client, sender.headers, invoice["id"])
    assert (
        record["status"] == "failed"
        and record["last_error"] == "invoice INV-0001 was void before it went out"
    )


async def test_a_business_name_with_commas_quotes_and_umlauts_survives_the_from_header(
    mail_client, sender, mailbox, worker
):
    name = 'Müller, "Söhne" & Co'
    invoice = await sent_invoice(mail_client, sender.headers, company_name=name, e_invoice="none")
    await email_invoice(mail_client, sender.headers, invoice["id"])
    await worker.run_until_idle()
    message = mailbox.delivered[0].message
    assert _sender(message) == (name, SMTP_FROM)
    assert "Müller" in message["Subject"]


async def test_starttls_required_by_the_settings_is_never_skipped(make_app, smtp_server, mailbox):
    """The test server offers no STARTTLS: with SMTP_STARTTLS=true the attempt fails instead of sending in
    clear."""
    app = make_app(smtp_host="127.0.0.1", smtp_port=mailbox.port, smtp_starttls=True, smtp_from=SMTP_FROM)
    async with serve(app) as http:
        account = await register(http, "ada@example.com", "Ada Lovelace")
        invoice = await sent_invoice(http, account.headers)
        await email_invoice(http, account.headers, invoice["id"])
        await new_worker().run_until_idle()
        [record] = await emails(http, account.headers, invoice["id"])
    assert record["status"] == "queued" and "STARTTLS" in record["last_error"]
    assert mailbox.offered == []
