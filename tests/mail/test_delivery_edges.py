"""The e-mail handler where delivery meets other failures: a server that never answers, a worker without
SMTP settings, attempts used up by crashes, and an invoice whose send was cut short."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from bson import ObjectId

from app.config import Settings
from app.documents.models import StoredDocument
from app.invoices.models import Invoice
from app.mail import delivery
from app.mail.models import EmailRecord
from tests.conftest import assert_problem, register, serve
from tests.jobs import new_worker
from tests.mail.conftest import SMTP_FROM
from tests.mail.factories import email_invoice, emails, sent_invoice


@pytest.fixture
async def silent_port() -> AsyncIterator[int]:
    """A TCP server that accepts connections and never says a word (no SMTP greeting)."""
    held: list[asyncio.StreamWriter] = []

    async def accept(_: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)

    server = await asyncio.start_server(accept, "127.0.0.1", 0)
    yield server.sockets[0].getsockname()[1]
    for writer in held:
        writer.close()
    server.close()
    await server.wait_closed()


async def test_a_server_that_never_answers_is_a_timeout_retried_later(make_app, silent_port):
    app = make_app(
        smtp_host="127.0.0.1",
        smtp_port=silent_port,
        smtp_starttls=False,
        smtp_from=SMTP_FROM,
        smtp_timeout_seconds=0.3,
    )
    async with serve(app) as http:
        account = await register(http, "ada@example.com", "Ada Lovelace")
        invoice = await sent_invoice(http, account.headers)
        await email_invoice(http, account.headers, invoice["id"])
        await new_worker().run_until_idle()
        [record] = await emails(http, account.headers, invoice["id"])
    assert record["status"] == "queued" and record["attempts"] == 1
    assert "Timeout" in record["last_error"]


async def test_a_worker_without_smtp_settings_keeps_the_email_queued(mail_client, sender, mailbox, worker):
    invoice = await sent_invoice(mail_client, sender.headers)
    await email_invoice(mail_client, sender.headers, invoice["id"])
    delivery.register(Settings.from_env({}))  # what `python -m app worker` would run without SMTP_HOST
    await worker.run_until_idle()
    [record] = await emails(mail_client, sender.headers, invoice["id"])
    assert record["status"] == "queued" and "SMTP_HOST" in record["last_error"]
    assert mailbox.offered == []


async def test_attempts_used_up_by_crashed_workers_end_the_email(mail_client, sender, mailbox, worker):
    invoice = await sent_invoice(mail_client, sender.headers)
    queued = await email_invoice(mail_client, sender.headers, invoice["id"])
    # Every attempt so far was counted and then cut short (the worker died mid-send).
    await EmailRecord.get_motor_collection().update_one(
        {"_id": ObjectId(queued["id"])}, {"$set": {"attempts": delivery.MAX_ATTEMPTS}}
    )
    await worker.run_until_idle()
    [record] = await emails(mail_client, sender.headers, invoice["id"])
    assert record["status"] == "failed" and record["last_error"].startswith("no attempt finished")
    assert mailbox.offered == []


async def test_an_invoice_whose_document_was_not_stored_yet_is_rendered_once_and_attached(
    mail_client, sender, mailbox, worker
):
    invoice = await sent_invoice(mail_client, sender.headers)
    # The state a send cut short after its number and before its document leaves behind.
    await StoredDocument.get_motor_collection().delete_many({})
    await Invoice.get_motor_collection().update_one(
        {"_id": ObjectId(invoice["id"])}, {"$set": {"document": None}}
    )
    await email_invoice(mail_client, sender.headers, invoice["id"])
    await worker.run_until_idle()
    [attachment] = list(mailbox.delivered[0].message.iter_attachments())
    pdf = await mail_client.get(f"/api/invoices/{invoice['id']}/pdf", headers=sender.headers)
    assert attachment.get_content() == pdf.content
    assert await StoredDocument.get_motor_collection().count_documents({}) == 1


async def test_an_invoice_still_being_numbered_is_not_emailed_yet(mail_client, sender, mailbox, worker):
    invoice = await sent_invoice(mail_client, sender.headers)
    queued = await email_invoice(mail_client, sender.headers, invoice["id"])
    # A send cut short between its claim and its number (the invoices recovery finishes it).
    await Invoice.get_motor_collection().update_one(
        {"_id": ObjectId(invoice["id"])}, {"$set": {"number": None}}
    )
    response = await mail_client.post(f"/api/invoices/{invoice['id']}/email", json={}, headers=sender.headers)
    assert_problem(response, 409, "invalid_state")
    await worker.run_until_idle()
    [record] = await emails(mail_client, sender.headers, invoice["id"])
    assert record["id"] == queued["id"] and record["status"] == "queued"
    assert record["last_error"] == "the invoice is still being sent"
    assert mailbox.offered == []
