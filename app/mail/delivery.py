"""The worker side of invoice e-mails: build the message (the stored PDF attached, From the business through
SMTP_FROM, Reply-To the business), hand it to the SMTP server, and record what the server said.

A temporary failure (a 4xx reply, a refused or dropped connection, a timeout) leaves the e-mail `queued`
and is retried with the worker's backoff; a permanent one (a 5xx reply) ends it as `failed` with the
server's reply, and so does a temporary one that lasts for MAX_ATTEMPTS attempts. So does, at its first
attempt, what no attempt can change (docs/operations.md): a message the e-mail library refuses to write (a
subject that would span lines, stored before the API refused it) or an invoice that cannot be rendered. A
render that found its organisation's renders all taken, or that ran too long, is a temporary failure.
"""

from __future__ import annotations

import email
import email.policy
from collections.abc import Awaitable, Callable, Iterable
from datetime import timedelta
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime
from typing import Any

import aiosmtplib
from pymongo import ReturnDocument

from app.config import SMTPS_PORT, Settings
from app.core import error_text
from app.core.clock import as_utc, utc_now
from app.core.errors import QuotaExceeded
from app.credit_notes import rendering as credit_note_rendering
from app.credit_notes import service as credit_notes
from app.credit_notes.models import CreditNote
from app.db import versions
from app.db.repository import owned_filter, parse_object_id
from app.documents.errors import EInvoiceInvalid, RenderTimeout
from app.invoices import reminders as invoice_reminders
from app.invoices import rendering
from app.invoices.lifecycle import LIFECYCLE
from app.invoices.models import Invoice
from app.mail import quota, service
from app.mail.models import FAILED, QUEUED, REMINDER, SENT, EmailRecord
from app.mail.texts import display_name
from app.organizations import service as organizations
from app.organizations.models import Books
from app.worker import PermanentFailure, QuotaHold, register_handler, register_periodic

# 5 s doubling, capped at an hour: 12 attempts span about two hours (greylisting asks for minutes).
MAX_ATTEMPTS = 12
REQUEUE_EVERY_SECONDS = 30.0


class TemporaryFailure(Exception):
    """The SMTP server could not take the e-mail now: the worker tries again after its backoff."""


def register(settings: Settings) -> None:
    # The job itself allows a few more claims than the e-mail's attempts, so that the handler, not the
    # worker, decides when to give up (a claim whose worker died counts for the job too).
    register_handler(service.JOB_KIND, handler(settings), max_attempts=MAX_ATTEMPTS + 2)
    register_periodic(f"{service.JOB_KIND}.requeue", REQUEUE_EVERY_SECONDS, service.requeue_unenqueued)


def handler(settings: Settings) -> Callable[[dict[str, Any]], Awaitable[None]]:
    async def deliver(payload: dict[str, Any]) -> None:
        owner_id = parse_object_id(payload.get("owner_id", ""))
        record_id = parse_object_id(payload.get("email_id", ""))
        if owner_id is None or record_id is None:
            raise PermanentFailure(f"malformed payload {payload!r}")
        record = await _start_attempt(owner_id, record_id)
        if record is None:
            if await EmailRecord.find_one(owned_filter(owner_id, _id=record_id)) is None:
                raise PermanentFailure("no such e-mail")
            return  # sent or given up already: a repeated job must not send it twice
        if record.attempts > MAX_ATTEMPTS:  # attempts cut short by crashes used up the rest
            raise await _failed(record, f"no attempt finished ({record.last_error or 'the worker stopped'})")
        user = await organizations.books(owner_id)
        invoice = await Invoice.find_one(owned_filter(owner_id, _id=record.invoice_id))
        if user is None or invoice is None:
            raise await _failed(record, "the invoice no longer exists")
        if record.kind == REMINDER and (invoice.status != "sent" or invoice.amount_due_cents <= 0):
            # Paid, credited to zero or voided while the reminder waited: it must not go (API.md section 23).
            state = "settled" if invoice.status == "sent" else invoice.status
            raise await _failed(record, f"not sent: invoice {invoice.number} was {state} before it went out")
        if not LIFECYCLE.allows(invoice.status, "email"):
            raise await _failed(record, f"invoice {invoice.number} was {invoice.status} before it went out")
        note = None
        if record.credit_note_id is not None:  # a credit note's e-mail: its own stored document
            note = await credit_notes.numbered_note(owner_id, record.credit_note_id)
            if note is None:
                raise await _failed(record, "the credit note no longer exists")
        if invoice.number is None:  # its send is being finished by the recovery
            raise await _later(record, "the invoice is still being sent")
        if not settings.smtp_configured:  # the API that queued it has SMTP_HOST; this worker does not
            raise await _later(record, "SMTP_HOST is not set in the worker's environment")
        wait = await quota.count_email(settings, owner_id, record.id)
        if wait is not None:
            raise await _held(record, quota.EMAIL_DAILY_LIMIT, quota.over_the_limit(settings), wait)
        try:
            pdf, filename = await _attachment(user, note, invoice)
            message = build_message(settings, user, record, pdf, filename)
        except EInvoiceInvalid as error:  # the invoice cannot be rendered: it never will be
            raise await _failed(record, unrenderable(error)) from error
        except (QuotaExceeded, RenderTimeout) as error:  # the organisation's renders are busy or slow: later
            raise await _later(record, error.detail) from error
        except ValueError as error:  # a value the e-mail library refuses (stored before the API refused it)
            raise await _failed(record, unsendable(error)) from error
        try:
            refused = await send(settings, message, [*record.to, *record.cc])
        except (aiosmtplib.SMTPException, OSError) as error:  # first: a TLS certificate error is both
            reply = describe(error)
            if is_permanent(error) or record.attempts >= MAX_ATTEMPTS:
                raise await _failed(record, reply) from error
            raise await _later(record, reply) from error
        except ValueError as error:  # refused while the message was written out: the same every time
            raise await _failed(record, unsendable(error)) from error
        # Accepted for some recipients and refused for others: it went out; the refusals are the last error.
        partly = _refusals((address, reply.code, reply.message) for address, reply in refused.items())
        if record.kind == REMINDER and record.event_id is not None:
            # Before the record says sent: a crash in between sends again (at least once, as any e-mail),
            # and the event, its id fixed with the record, still leaves once.
            await invoice_reminders.note_reminder_sent(owner_id, invoice.id, record.event_id)
        await _finish(record, SENT, f"refused for {partly}" if partly else None)

    return deliver


async def _attachment(user: Books, note: CreditNote | None, invoice: Invoice) -> tuple[bytes, str]:
    """The stored PDF the e-mail carries, and its file name: the credit note's, or the invoice's."""
    if note is not None:
        stored = await credit_note_rendering.stored_document(user, note)
        return stored.pdf, credit_note_rendering.filename(note)
    stored = await rendering.stored_document(user, invoice)
    return stored.pdf, rendering.filename(invoice)


async def send(settings: Settings, message: EmailMessage, recipients: list[str]) -> dict[str, Any]:
    """Hand `message` to the SMTP_* server for `recipients`; the refusals of some recipients, by address."""
    refused, _ = await aiosmtplib.send(
        message,
        sender=settings.smtp_from,
        recipients=recipients,
        hostname=settings.smtp_host,
        port=settings.smtp_port,
        username=settings.smtp_username,
        password=settings.smtp_password,
        use_tls=settings.smtp_port == SMTPS_PORT,
        start_tls=settings.smtp_starttls and settings.smtp_port != SMTPS_PORT,
        timeout=settings.smtp_timeout_seconds,
    )
    return dict(refused)


def build_message(
    settings: Settings, user: Books, record: EmailRecord, pdf: bytes, filename: str
) -> EmailMessage:
    message = EmailMessage()
    message["From"] = sender_address(settings, user)
    reply_to = user.business.email or record.reply_to or user.contact_email
    if reply_to:
        message["Reply-To"] = reply_to
    message["To"] = ", ".join(record.to)
    if record.cc:
        message["Cc"] = ", ".join(record.cc)
    message["Subject"] = record.subject
    message["Date"] = format_datetime(as_utc(record.created_at))
    message["Message-ID"] = record.message_id
    message.set_content(record.message)
    message.add_attachment(pdf, maintype="application", subtype="pdf", filename=filename)
    return message


def sender_address(settings: Settings, user: Books) -> Address:
    """SMTP_FROM with the business's name: built as an Address (the library quotes the name), then written and
    read back as a receiver reads it; should that ever yield any address but SMTP_FROM alone, the bare address
    goes instead (the operator's address never changes with what a user types)."""
    assert settings.smtp_from is not None
    local, _, domain = settings.smtp_from.partition("@")
    named = Address(display_name=display_name(user), username=local, domain=domain)
    written = EmailMessage()
    written["From"] = named
    for policy in (email.policy.SMTP, email.policy.SMTPUTF8):  # as aiosmtplib writes it
        reread = email.message_from_bytes(written.as_bytes(policy=policy), policy=email.policy.default)
        if [found.addr_spec for found in reread["From"].addresses] != [settings.smtp_from]:
            return Address(username=local, domain=domain)
    return named


def unrenderable(error: EInvoiceInvalid) -> str:
    """Why the invoice's document cannot be rendered: the EN 16931 rules its e-invoice breaks."""
    rules = ", ".join(sorted({getattr(e, "rule", "?") for e in error.errors or []})) or "?"
    return f"the invoice's document cannot be rendered: its e-invoice breaks EN 16931 rule(s) {rules}"


def unsendable(error: ValueError) -> str:
    """Why the message cannot be written: the library's words (a header that would span lines, …)."""
    return f"the message cannot be encoded: {type(error).__name__}: {error}"


def describe(error: BaseException) -> str:
    """What the server answered (`550 5.1.1 …`), or what went wrong on the way to it."""
    if isinstance(error, aiosmtplib.SMTPRecipientsRefused):
        return _refusals((refused.recipient, refused.code, refused.message) for refused in error.recipients)
    if isinstance(error, aiosmtplib.SMTPResponseException):
        return f"{error.code} {error.message}"
    return error_text.describe(error)


def _refusals(replies: Iterable[tuple[str, int, str]]) -> str:
    return "; ".join(f"{address}: {code} {message}" for address, code, message in replies)


def is_permanent(error: BaseException) -> bool:
    """A 5xx reply (for every recipient, when they were refused one by one) will not change on a retry."""
    if isinstance(error, aiosmtplib.SMTPRecipientsRefused):
        return bool(error.recipients) and all(refused.code >= 500 for refused in error.recipients)
    return isinstance(error, aiosmtplib.SMTPResponseException) and error.code >= 500


# ---------------------------------------------------------------- the record


async def _start_attempt(owner_id: Any, record_id: Any) -> EmailRecord | None:
    """Count the attempt before it runs (one cut short by a crash counts too); None unless still queued."""
    raw = await EmailRecord.get_motor_collection().find_one_and_update(
        owned_filter(owner_id, _id=record_id, status=QUEUED),
        versions.bump({"$inc": {"attempts": 1}, "$set": {"updated_at": utc_now()}}),
        return_document=ReturnDocument.AFTER,
    )
    return EmailRecord.model_validate(raw) if raw is not None else None


async def _finish(record: EmailRecord, status: str, error: str | None, *, attempted: bool = True) -> None:
    """The outcome of the attempt `_start_attempt` counted; `attempted=False` takes that count back."""
    last_error = error_text.cut(error) if error is not None else None
    fields: dict[str, Any] = {"status": status, "last_error": last_error, "updated_at": utc_now()}
    if status == SENT:
        fields["sent_at"] = utc_now()
    update: dict[str, Any] = {"$set": fields}
    if not attempted:
        update["$inc"] = {"attempts": -1}
    await EmailRecord.get_motor_collection().update_one(
        owned_filter(record.owner_id, _id=record.id, status=QUEUED), versions.bump(update)
    )


async def _failed(record: EmailRecord, reason: str) -> PermanentFailure:
    """Record the end of the e-mail; the caller raises what this returns (the job fails now)."""
    await _finish(record, FAILED, reason)
    return PermanentFailure(reason)


async def _later(record: EmailRecord, reason: str) -> TemporaryFailure:
    """Record a failed attempt; the caller raises what this returns (the worker retries after a backoff)."""
    await _finish(record, QUEUED, reason)
    return TemporaryFailure(reason)


async def _held(record: EmailRecord, limit: str, why: str, wait: float) -> QuotaHold:
    """Over a fair-share limit: no attempt made; the e-mail stays queued, its job waits until the window
    allows (the caller raises what this returns)."""
    until = utc_now() + timedelta(seconds=wait)
    reason = f"held: {why} ({limit}); goes out when the window allows, from {until:%Y-%m-%d %H:%M:%S} UTC"
    await _finish(record, QUEUED, reason, attempted=False)
    return QuotaHold(limit, until, reason)
