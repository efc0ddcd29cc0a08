"""Queueing an e-mail is two writes (the record, then its job) and a mark; a failure after any of them
neither loses the e-mail nor sends it twice (API.md section 14)."""

from __future__ import annotations

import logging

import pytest
from bson import ObjectId

from app.mail import service
from app.mail.models import EmailRecord
from app.worker.models import Job
from tests.mail.factories import email_invoice, emails, sent_invoice


class Crash(Exception):
    """The process dying at this point: nothing after it runs."""


async def _crash(*_: object, **__: object) -> None:
    raise Crash


async def _jobs() -> int:
    return await Job.get_motor_collection().count_documents({"kind": service.JOB_KIND})


async def test_a_failure_writing_the_record_queues_nothing(mail_client, sender, mailbox, worker, monkeypatch):
    invoice = await sent_invoice(mail_client, sender.headers)

    async def crash(self: EmailRecord, *args: object, **kwargs: object) -> None:
        raise Crash

    monkeypatch.setattr(EmailRecord, "insert", crash)
    response = await mail_client.post(f"/api/invoices/{invoice['id']}/email", json={}, headers=sender.headers)
    assert response.status_code == 500
    monkeypatch.undo()
    await worker.run_until_idle()
    assert await emails(mail_client, sender.headers, invoice["id"]) == []
    assert await _jobs() == 0 and mailbox.offered == []


@pytest.mark.parametrize("step", ["enqueue", "mark"])
async def test_a_failure_after_the_record_still_sends_the_email_once(
    mail_client, sender, mailbox, worker, monkeypatch, step
):
    invoice = await sent_invoice(mail_client, sender.headers)
    monkeypatch.setattr(service, "enqueue" if step == "enqueue" else "_mark_enqueued", _crash)
    # The record is the commitment: the answer is 202 whatever happens after it.
    queued = await email_invoice(mail_client, sender.headers, invoice["id"])
    monkeypatch.undo()
    record = await EmailRecord.get_motor_collection().find_one({"_id": ObjectId(queued["id"])})
    assert record["enqueued"] is False
    assert await _jobs() == (0 if step == "enqueue" else 1)

    await worker.run_until_idle()  # the recovery enqueues (again: a no-op when the job exists), then it runs
    assert len(mailbox.delivered) == 1
    assert await _jobs() == 1
    record = await EmailRecord.get_motor_collection().find_one({"_id": ObjectId(queued["id"])})
    assert record["enqueued"] is True and record["status"] == "sent"
    await service.requeue_unenqueued()
    await worker.run_until_idle()
    assert len(mailbox.delivered) == 1


async def test_a_recovery_racing_the_request_makes_one_job(mail_client, sender, mailbox, worker, monkeypatch):
    """The recovery runs between the request's record and its enqueue: still one job, one e-mail."""
    invoice = await sent_invoice(mail_client, sender.headers)
    original, raced = service.enqueue, []

    async def recovery_first(*args: object, **kwargs: object) -> object:
        if not raced:  # the request's own enqueue: the recovery (whose enqueue comes back here) runs first
            raced.append(True)
            await service.requeue_unenqueued()
        return await original(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(service, "enqueue", recovery_first)
    await email_invoice(mail_client, sender.headers, invoice["id"])
    monkeypatch.undo()
    assert raced and await _jobs() == 1
    await worker.run_until_idle()
    assert len(mailbox.delivered) == 1


async def test_the_recovery_leaves_enqueued_emails_alone(mail_client, sender, mailbox, worker, monkeypatch):
    invoice = await sent_invoice(mail_client, sender.headers)
    await email_invoice(mail_client, sender.headers, invoice["id"])
    touched: list[object] = []

    async def crash(*args: object, **kwargs: object) -> None:
        touched.append(args)
        raise Crash

    monkeypatch.setattr(service, "enqueue", crash)
    await service.requeue_unenqueued()
    assert touched == []


async def test_a_record_that_cannot_be_enqueued_holds_up_no_other(
    mail_client, sender, mailbox, worker, monkeypatch, caplog
):
    """Each record on its own (API.md section 24): one that cannot be read is logged with its id and tried
    again next time; the one behind it is enqueued and sent."""
    invoice = await sent_invoice(mail_client, sender.headers)
    monkeypatch.setattr(service, "enqueue", _crash)  # both requests stop after their record
    first = await email_invoice(mail_client, sender.headers, invoice["id"], to=["first@client.example"])
    second = await email_invoice(mail_client, sender.headers, invoice["id"], to=["second@client.example"])
    monkeypatch.undo()
    records = EmailRecord.get_motor_collection()
    await records.update_one({"_id": ObjectId(first["id"])}, {"$set": {"to": "not a list"}})

    with caplog.at_level(logging.ERROR, logger="orbix.recovery"):
        await service.requeue_unenqueued()

    [logged] = [r for r in caplog.records if r.name == "orbix.recovery"]
    assert first["id"] in logged.getMessage() and "invoice_emails" in logged.getMessage()
    assert (await records.find_one({"_id": ObjectId(second["id"])}))["enqueued"] is True
    assert (await records.find_one({"_id": ObjectId(first["id"])}))["enqueued"] is False
    await worker.run_until_idle()
    assert [delivered.rcpt_tos for delivered in mailbox.delivered] == [["second@client.example"]]

    await records.update_one({"_id": ObjectId(first["id"])}, {"$set": {"to": ["first@client.example"]}})
    await service.requeue_unenqueued()
    await worker.run_until_idle()
    assert [d.rcpt_tos for d in mailbox.delivered] == [["second@client.example"], ["first@client.example"]]
