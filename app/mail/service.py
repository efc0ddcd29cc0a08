"""Invoice e-mails on the API side: queue one (a record, then its worker job), list them, and the recovery
that enqueues the job of a record whose request stopped between the two.

Queueing is two writes. The record comes first and is the commitment: once it exists the e-mail will be
sent, because its job is enqueued under a key derived from the record id (a second enqueue is a no-op) and
the recovery enqueues every record not yet marked `enqueued`. So a crash after the record loses nothing, a
crash before it wrote nothing, and a recovery racing the request still yields one job.
"""

from __future__ import annotations

import logging
from functools import partial
from typing import Any

from beanie import PydanticObjectId
from pymongo.errors import DuplicateKeyError

from app.auth.models import Caller, Owner
from app.clients.models import Client
from app.config import Settings
from app.core.errors import InvalidState, ValidationFailed
from app.core.text import normalize_email
from app.credit_notes import service as credit_notes
from app.db.pagination import Page, PageParams, paginate, sortable
from app.db.recovery import RecoveryPass
from app.db.repository import created_before, get_owned, insert_once, owned_filter
from app.db.versions import ANY, Expected
from app.invoices.lifecycle import require
from app.invoices.models import Invoice
from app.mail import quota, texts
from app.mail.errors import EmailUnavailable
from app.mail.models import FAILED, QUEUED, REMINDER, EmailRecord
from app.mail.schemas import EmailCreate
from app.organizations import service as organizations
from app.organizations.models import Books, Organization, ReminderRule
from app.worker import enqueue

log = logging.getLogger("orbix.mail")

JOB_KIND = "invoice_email"
SORTS = sortable(EmailRecord, {"created_at": "created_at"}, scope=("invoice_id",))
CREDIT_NOTE_SORTS = sortable(EmailRecord, {"created_at": "created_at"}, scope=("credit_note_id",))
REQUEUE_BATCH = 100


async def queue_email(
    settings: Settings,
    owner: Caller,
    invoice_id: str,
    data: EmailCreate,
    expected: Expected = ANY,
    new_id: PydanticObjectId | None = None,
) -> EmailRecord:
    """Record the e-mail and enqueue its delivery. A retry whose earlier run committed (the same `new_id`)
    answers with that run's record: one e-mail."""
    earlier = await created_before(EmailRecord, new_id, owner.id)
    if earlier is not None:
        return earlier
    invoice = await get_owned(Invoice, invoice_id, owner.id, expected)
    require(invoice, "email")
    if invoice.number is None:  # sent, but the number step was cut short: recovery finishes it
        raise InvalidState(f"Invoice {invoice.id} is being sent; try again shortly")
    _check_smtp(settings)
    subject, message = texts.defaults(owner, invoice)
    about = {"invoice_id": invoice.id}
    return await _queue(settings, owner, data, invoice.client_id, about, (subject, message), new_id)


async def queue_credit_note_email(
    settings: Settings,
    owner: Caller,
    credit_note_id: str,
    data: EmailCreate,
    expected: Expected = ANY,
    new_id: PydanticObjectId | None = None,
) -> EmailRecord:
    """A credit note's e-mail, as an invoice's (its stored PDF attached, counted in EMAIL_DAILY_LIMIT)."""
    earlier = await created_before(EmailRecord, new_id, owner.id)
    if earlier is not None:
        return earlier
    note = await credit_notes.get_note(owner, credit_note_id, expected)
    _check_smtp(settings)
    about = {"invoice_id": note.invoice_id, "credit_note_id": note.id}
    defaults = texts.credit_note_defaults(owner, note)
    return await _queue(settings, owner, data, note.client_id, about, defaults, new_id)


def _check_smtp(settings: Settings) -> None:
    if not settings.smtp_configured:
        raise EmailUnavailable("E-mail is not configured on this server (SMTP_HOST is not set)")


async def _queue(
    settings: Settings,
    owner: Caller,
    data: EmailCreate,
    client_id: Any,
    about: dict[str, Any],
    defaults: tuple[str, str],
    new_id: PydanticObjectId | None,
) -> EmailRecord:
    """The record (about an invoice, or a credit note), counted against the day, then its job."""
    to = _unique(data.to if data.to is not None else [await _client_address(owner, client_id)])
    subject, message = defaults
    record_id = new_id or PydanticObjectId()
    record = EmailRecord(
        id=record_id,
        owner_id=owner.id,
        **about,
        to=to,
        cc=[address for address in _unique(data.cc) if address not in to],
        subject=data.subject or subject,
        message=data.message or message,
        message_id=_message_id(settings, record_id),
        reply_to=owner.email,
    )
    await quota.admit_email(settings, owner.id, record_id)  # checked last: only an accepted request counts
    try:
        record = await insert_once(record)
    except BaseException:  # not accepted after all (the worker counts it again if it was stored)
        await quota.give_back_email(settings, owner.id, record_id)
        raise
    try:
        await _enqueue(record)
    except Exception:  # the e-mail is committed with its record: the recovery enqueues it
        log.warning("e-mail %s: job not enqueued yet; the recovery will", record.id, exc_info=True)
    return record


async def queue_reminder(
    settings: Settings, organization: Organization, invoice_id: Any, rule: ReminderRule
) -> EmailRecord | None:
    """Write the payment reminder of `rule` for the invoice, then enqueue its delivery (API.md section 23).
    The record is the commitment, as for an asked-for e-mail, and the unique (invoice, rule) index makes it
    one: a pass that loses the race to another (or repeats one a crash cut short) writes nothing and gets
    None, as it does for an invoice that no longer owes anything. A client without a usable address gets
    the reminder recorded as `failed`, so the rule counts as done and the list says why."""
    assert organization.id is not None
    invoice = await Invoice.find_one(owned_filter(organization.id, _id=invoice_id))
    if invoice is None or invoice.status != "sent" or invoice.amount_due_cents <= 0 or invoice.number is None:
        return None  # settled, or its send is still being finished by the recovery: a later pass sees it
    subject, message = texts.defaults(organization, invoice, REMINDER)
    record_id = PydanticObjectId()
    record = EmailRecord(
        id=record_id,
        owner_id=organization.id,
        invoice_id=invoice.id,
        kind=REMINDER,
        reminder_days=rule.days_after_due,
        event_id=PydanticObjectId(),
        to=[],
        cc=[],
        subject=rule.subject or subject,
        message=rule.message or message,
        message_id=_message_id(settings, record_id, REMINDER),
        reply_to=await organizations.earliest_owner_email(organization.id),
    )
    try:
        record.to = [await _client_address(organization, invoice.client_id)]
    except ValidationFailed:
        record.status, record.enqueued = FAILED, True
        record.last_error = "not sent: the client has no valid e-mail address"
    try:
        await record.insert()
    except DuplicateKeyError:
        return None  # this rule's reminder of this invoice exists already
    if record.status == QUEUED:
        try:
            await _enqueue(record)
        except Exception:  # committed with its record: the recovery enqueues it
            log.warning("reminder %s: job not enqueued yet; the recovery will", record.id, exc_info=True)
    return record


async def queue_scheduled_email(settings: Settings, owner: Books, invoice: Invoice) -> EmailRecord:
    """The e-mail a recurring schedule sends with the invoice it made (section 23): to the client, with the
    default subject and message, once per invoice (the record's id is the invoice's, so a repeated run finds
    it). Not counted here: the worker counts it against EMAIL_DAILY_LIMIT before sending, and an e-mail over
    the limit stays queued until the window allows (section 24). Reply-To falls back to the organisation's
    contact (no user asked for it). Raises 400 when the client has no valid address, 503 without SMTP."""
    assert invoice.id is not None
    earlier = await created_before(EmailRecord, invoice.id, owner.id)
    if earlier is None:
        require(invoice, "email")
        if invoice.number is None:
            raise InvalidState(f"Invoice {invoice.id} is being sent; try again shortly")
        if not settings.smtp_configured:
            raise EmailUnavailable("E-mail is not configured on this server (SMTP_HOST is not set)")
        to = [await _client_address(owner, invoice.client_id)]
        subject, message = texts.defaults(owner, invoice)
        record = EmailRecord(
            id=invoice.id,
            owner_id=owner.id,
            invoice_id=invoice.id,
            to=to,
            cc=[],
            subject=subject,
            message=message,
            message_id=_message_id(settings, invoice.id),
        )
        earlier = await insert_once(record)
    if not earlier.enqueued:
        await _enqueue(earlier)
    return earlier


async def list_emails(owner: Owner, invoice_id: str, params: PageParams) -> Page[EmailRecord]:
    """An invoice's e-mails, its credit notes' included."""
    invoice = await get_owned(Invoice, invoice_id, owner.id)
    return await paginate(EmailRecord, owned_filter(owner.id, invoice_id=invoice.id), params, SORTS)


async def list_credit_note_emails(
    owner: Caller, credit_note_id: str, params: PageParams
) -> Page[EmailRecord]:
    note = await credit_notes.get_note(owner, credit_note_id)
    query = owned_filter(owner.id, credit_note_id=note.id)
    return await paginate(EmailRecord, query, params, CREDIT_NOTE_SORTS)


async def requeue_unenqueued() -> None:
    """The recovery (a periodic worker task): enqueue the job of every record whose request stopped before
    marking it enqueued. Safe while such a request is still running: the job's key makes it one job. Each
    record on its own (db/recovery.py): one that cannot be enqueued is logged and tried again next time."""
    recovery = RecoveryPass()
    collection = EmailRecord.get_motor_collection()
    found = collection.find({"enqueued": False}).sort("created_at").limit(REQUEUE_BATCH)
    async for raw in found:
        await recovery.item("enqueue the job of e-mail", collection.name, raw["_id"], partial(_requeue, raw))


async def _requeue(raw: dict[str, Any]) -> None:
    await _enqueue(EmailRecord.model_validate(raw))


async def _enqueue(record: EmailRecord) -> None:
    await enqueue(
        JOB_KIND,
        {"email_id": str(record.id), "owner_id": str(record.owner_id)},
        owner_id=record.owner_id,
        dedupe_key=f"{JOB_KIND}:{record.id}",
        group="smtp",  # bounds the SMTP connections one worker holds at once
    )
    await _mark_enqueued(record)


async def _mark_enqueued(record: EmailRecord) -> None:
    await EmailRecord.get_motor_collection().update_one(
        owned_filter(record.owner_id, _id=record.id), {"$set": {"enqueued": True}}
    )


async def _client_address(owner: Books, client_id: Any) -> str:
    client = await Client.find_one(owned_filter(owner.id, _id=client_id))
    if client is None or not client.email:
        raise ValidationFailed.field("to", "the client has no e-mail address: name the recipients in `to`")
    try:
        return normalize_email(client.email)
    except ValueError:  # stored before addresses were checked
        raise ValidationFailed.field(
            "to", f"the client's e-mail {client.email!r} is not a valid address: name the recipients in `to`"
        ) from None


def _unique(addresses: list[str]) -> list[str]:
    return list(dict.fromkeys(addresses))


def _message_id(settings: Settings, record_id: PydanticObjectId, kind: str = "invoice") -> str:
    """Stable per record: every attempt sends the same Message-ID, so a receiver can drop a repeat."""
    assert settings.smtp_from is not None
    return f"<{record_id}.{kind}@{settings.smtp_from.rpartition('@')[2]}>"
