"""A credit note's e-mail (API.md sections 17, 22, 24): as an invoice's, through the worker with the note's
stored PDF attached, listed with the note (and its invoice), counted once in EMAIL_DAILY_LIMIT with the
invoice e-mails."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest
from litestar import Litestar

from tests.conftest import assert_problem, register, serve
from tests.credit_notes.factories import create_credit_note, line
from tests.mail.conftest import SMTP_FROM, SmtpServer
from tests.mail.factories import email_invoice, emails, sent_invoice


async def _email(http: Any, headers: dict[str, str], note_id: str, **body: Any) -> Any:
    return await http.post(f"/api/credit-notes/{note_id}/email", json=body, headers=headers)


async def test_a_credit_note_email_carries_its_stored_pdf(mail_client, sender, mailbox, worker):
    invoice = await sent_invoice(mail_client, sender.headers)  # Factur-X, locale de
    note = await create_credit_note(mail_client, sender.headers, invoice["id"], lines=[line("10.00")])
    response = await _email(mail_client, sender.headers, note["id"], cc=["boss@acme.example"])
    assert response.status_code == 202, response.text
    queued = response.json()
    assert queued["credit_note_id"] == note["id"] and queued["invoice_id"] == invoice["id"]
    assert queued["status"] == "queued" and queued["to"] == ["ap@acme.example"]
    await worker.run_until_idle()

    [delivered] = mailbox.delivered
    assert delivered.mail_from == SMTP_FROM
    assert delivered.rcpt_tos == ["ap@acme.example", "boss@acme.example"]
    message = delivered.message
    assert message["Subject"] == "Rechnungskorrektur CN-0001 von Analytical Engines GmbH"
    body = message.get_body(("plain",)).get_content()
    assert "CN-0001" in body and "INV-0001" in body
    [attachment] = list(message.iter_attachments())
    assert attachment.get_filename() == "CN-0001.pdf"
    stored = await mail_client.get(f"/api/credit-notes/{note['id']}/pdf", headers=sender.headers)
    assert attachment.get_content() == stored.content
    assert hashlib.sha256(attachment.get_content()).hexdigest() == note["document"]["sha256"]

    listed = await mail_client.get(f"/api/credit-notes/{note['id']}/emails", headers=sender.headers)
    [record] = listed.json()["items"]
    assert record["id"] == queued["id"] and record["status"] == "sent" and record["attempts"] == 1
    # the invoice's list shows every e-mail about it, each naming its credit note
    await email_invoice(mail_client, sender.headers, invoice["id"])
    about_invoice = await emails(mail_client, sender.headers, invoice["id"])
    assert sorted(str(e["credit_note_id"]) for e in about_invoice) == sorted([note["id"], "None"])


async def test_email_of_an_unknown_note_is_404_and_bad_bodies_400(mail_client, sender):
    assert_problem(await _email(mail_client, sender.headers, "0" * 24), 404, "not_found")
    invoice = await sent_invoice(mail_client, sender.headers)
    note = await create_credit_note(mail_client, sender.headers, invoice["id"], lines=[line("1.00")])
    too_many = {"to": [f"a{i}@x.example" for i in range(6)], "cc": [f"b{i}@x.example" for i in range(5)]}
    assert_problem(await _email(mail_client, sender.headers, note["id"], **too_many), 400, "validation_error")


async def test_without_smtp_a_credit_note_email_is_503(client, auth):
    from tests.invoices.factories import create_sent_invoice

    invoice = await create_sent_invoice(client, auth)
    note = await create_credit_note(client, auth, invoice["id"], lines=[line("1.00")])
    assert_problem(await _email(client, auth, note["id"]), 503, "email_unavailable")


LIMIT = 2


@pytest.fixture
def limited_app(make_app: Callable[..., Litestar], smtp_server: SmtpServer) -> Litestar:
    return make_app(
        smtp_host="127.0.0.1",
        smtp_port=smtp_server.mailbox.port,
        smtp_starttls=False,
        smtp_from=SMTP_FROM,
        smtp_timeout_seconds=5.0,
        email_daily_limit=LIMIT,
    )


@pytest.fixture
async def http(limited_app: Litestar) -> AsyncIterator[httpx.AsyncClient]:
    async with serve(limited_app) as client:
        yield client


async def test_credit_note_emails_count_in_the_daily_limit_with_invoice_emails(http):
    account = await register(http, "ada@example.com", "Ada Lovelace")
    invoice = await sent_invoice(http, account.headers, locale="en", e_invoice="none")
    note = await create_credit_note(http, account.headers, invoice["id"], lines=[line("1.00")])
    await email_invoice(http, account.headers, invoice["id"])
    assert (await _email(http, account.headers, note["id"])).status_code == 202
    over = await _email(http, account.headers, note["id"])
    body = assert_problem(over, 429, "quota_exceeded")
    assert "EMAIL_DAILY_LIMIT" in body["detail"]
    listed = await http.get(f"/api/credit-notes/{note['id']}/emails", headers=account.headers)
    assert listed.json()["total"] == 1
