"""API.md section 17, the request side: who may e-mail which invoice, to whom, and what is refused."""

from __future__ import annotations

import pytest
from bson import ObjectId

from app.mail.models import EmailRecord
from tests.clients.factories import create_client
from tests.conftest import assert_problem, register
from tests.documents.factories import worked_example
from tests.faults import lost_answer_fixture  # noqa: F401
from tests.invoices.factories import add_payment, create_invoice, send_invoice
from tests.mail.factories import email_invoice, emails, sent_invoice


def _url(invoice_id: str) -> str:
    return f"/api/invoices/{invoice_id}/email"


async def test_only_sent_or_paid_invoices_can_be_emailed(mail_client, sender, mailbox, worker):
    draft = await worked_example(mail_client, sender.headers)
    assert_problem(
        await mail_client.post(_url(draft["id"]), json={}, headers=sender.headers), 409, "invalid_state"
    )
    voided = await create_invoice(mail_client, sender.headers)
    await mail_client.post(f"/api/invoices/{voided['id']}/void", headers=sender.headers)
    assert_problem(
        await mail_client.post(_url(voided["id"]), json={}, headers=sender.headers), 409, "invalid_state"
    )

    client = await create_client(mail_client, sender.headers, email="pay@client.example")
    paid = await send_invoice(
        mail_client, sender.headers, (await create_invoice(mail_client, sender.headers, client["id"]))["id"]
    )
    assert (await add_payment(mail_client, sender.headers, paid["id"], "100.00"))["status"] == "paid"
    queued = await email_invoice(mail_client, sender.headers, paid["id"])
    assert queued["to"] == ["pay@client.example"]
    await worker.run_until_idle()
    assert mailbox.delivered[0].rcpt_tos == ["pay@client.example"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"to": []}, "to"),
        ({"to": ["not-an-address"]}, "to[0]"),
        ({"to": ["a@client.example"], "cc": ["b@client.example", "c@"]}, "cc[1]"),
        (
            {
                "to": [f"to{i}@client.example" for i in range(6)],
                "cc": [f"cc{i}@client.example" for i in range(5)],
            },
            "to",
        ),
        ({"to": [f"to{i}@client.example" for i in range(11)]}, "to"),
        ({"subject": "Invoice\r\nBcc: everyone@example.com"}, "subject"),
        ({"subject": ""}, "subject"),
        ({"message": "x" * 10_001}, "message"),
        ({"bcc": ["a@client.example"]}, "bcc"),
        ({"to": "a@client.example"}, "to"),
    ],
)
async def test_bad_requests_are_400_with_the_field(mail_client, sender, body, field):
    invoice = await sent_invoice(mail_client, sender.headers)
    problem = assert_problem(
        await mail_client.post(_url(invoice["id"]), json=body, headers=sender.headers),
        400,
        "validation_error",
    )
    assert [error["field"] for error in problem["errors"]] == [field], problem
    assert await emails(mail_client, sender.headers, invoice["id"]) == []


async def test_ten_recipients_in_to_and_cc_together_are_accepted(mail_client, sender, mailbox, worker):
    invoice = await sent_invoice(mail_client, sender.headers)
    to, cc = [f"to{i}@client.example" for i in range(6)], [f"cc{i}@client.example" for i in range(4)]
    await email_invoice(mail_client, sender.headers, invoice["id"], to=to, cc=cc)
    await worker.run_until_idle()
    assert mailbox.delivered[0].rcpt_tos == [*to, *cc]


async def test_repeated_addresses_are_sent_to_once(mail_client, sender, mailbox, worker):
    invoice = await sent_invoice(mail_client, sender.headers)
    queued = await email_invoice(
        mail_client,
        sender.headers,
        invoice["id"],
        to=["A@client.example", "a@client.example"],
        cc=["a@CLIENT.example", "b@client.example"],
    )
    assert queued["to"] == ["a@client.example"]
    await worker.run_until_idle()
    assert mailbox.delivered[0].rcpt_tos == ["a@client.example", "b@client.example"]


async def test_without_a_recipient_the_request_is_400(mail_client, sender):
    client = await create_client(mail_client, sender.headers)  # no e-mail
    invoice = await send_invoice(
        mail_client, sender.headers, (await create_invoice(mail_client, sender.headers, client["id"]))["id"]
    )
    problem = assert_problem(
        await mail_client.post(_url(invoice["id"]), json={}, headers=sender.headers), 400, "validation_error"
    )
    assert problem["errors"][0]["field"] == "to"


async def test_a_clients_invalid_stored_email_is_400_not_500(mail_client, sender):
    invoice = await sent_invoice(mail_client, sender.headers)
    from app.clients.models import Client

    await Client.get_motor_collection().update_many({}, {"$set": {"email": "stored before the rule"}})
    problem = assert_problem(
        await mail_client.post(_url(invoice["id"]), json={}, headers=sender.headers), 400, "validation_error"
    )
    assert "stored before the rule" in problem["detail"]


async def test_without_smtp_the_answer_is_503_email_unavailable(client, auth):
    invoice = await sent_invoice(client, auth)
    assert_problem(await client.post(_url(invoice["id"]), json={}, headers=auth), 503, "email_unavailable")
    assert await emails(client, auth, invoice["id"]) == []


async def test_another_users_invoice_and_emails_are_404(mail_client, sender, mailbox, worker):
    invoice = await sent_invoice(mail_client, sender.headers)
    await email_invoice(mail_client, sender.headers, invoice["id"])
    mallory = await register(mail_client, "mallory@example.com", "Mallory")
    assert_problem(
        await mail_client.post(_url(invoice["id"]), json={}, headers=mallory.headers), 404, "not_found"
    )
    listed = await mail_client.get(f"/api/invoices/{invoice['id']}/emails", headers=mallory.headers)
    assert_problem(listed, 404, "not_found")
    for bad in ("not-an-id", "0" * 24):
        assert_problem(await mail_client.post(_url(bad), json={}, headers=sender.headers), 404, "not_found")
        assert_problem(
            await mail_client.get(f"/api/invoices/{bad}/emails", headers=sender.headers), 404, "not_found"
        )
    # Mallory's own invoice lists only Mallory's e-mails.
    own = await sent_invoice(mail_client, mallory.headers)
    assert await emails(mail_client, mallory.headers, own["id"]) == []
    await worker.run_until_idle()
    assert len(mailbox.delivered) == 1
    assert await EmailRecord.get_motor_collection().count_documents({}) == 1


async def test_the_list_is_paged_and_sorted(mail_client, sender):
    invoice = await sent_invoice(mail_client, sender.headers)
    ids = [(await email_invoice(mail_client, sender.headers, invoice["id"]))["id"] for _ in range(3)]
    url = f"/api/invoices/{invoice['id']}/emails"
    page = (await mail_client.get(url, params={"limit": 2}, headers=sender.headers)).json()
    assert [item["id"] for item in page["items"]] == ids[::-1][:2] and page["total"] == 3
    oldest = (await mail_client.get(url, params={"sort": "created_at"}, headers=sender.headers)).json()
    assert [item["id"] for item in oldest["items"]] == ids
    assert_problem(
        await mail_client.get(url, params={"sort": "status"}, headers=sender.headers), 400, "validation_error"
    )


async def test_an_idempotency_key_queues_one_email(mail_client, sender, mailbox, worker):
    invoice = await sent_invoice(mail_client, sender.headers)
    headers = {**sender.headers, "Idempotency-Key": "email-once"}
    first = await mail_client.post(_url(invoice["id"]), json={}, headers=headers)
    again = await mail_client.post(_url(invoice["id"]), json={}, headers=headers)
    assert first.status_code == again.status_code == 202
    assert again.json() == first.json() and again.headers["idempotent-replayed"] == "true"
    await worker.run_until_idle()
    assert len(mailbox.delivered) == 1


async def test_a_retry_after_a_lost_answer_queues_one_email(mail_client, sender, lost_answer):
    """The e-mail's record commits, then its answer is lost (AutoReconnect): the retry with the same
    Idempotency-Key answers with that record, and one e-mail goes out (tests/idempotency/test_outcome_unknown.py
    does the same for every other create)."""
    invoice = await sent_invoice(mail_client, sender.headers)
    headers = {**sender.headers, "Idempotency-Key": "email-once"}
    lost_answer.arm(1)
    first = await mail_client.post(_url(invoice["id"]), json={"to": ["a@client.example"]}, headers=headers)
    lost_answer.disarm()
    assert lost_answer.fired
    assert_problem(first, 503, "database_unavailable")
    retry = await mail_client.post(_url(invoice["id"]), json={"to": ["a@client.example"]}, headers=headers)
    assert retry.status_code == 202, retry.text
    records = await EmailRecord.find({"invoice_id": ObjectId(invoice["id"])}).to_list()
    assert [str(record.id) for record in records] == [retry.json()["id"]]
