"""The invoice lifecycle: one explicit transition table, and the actions that follow it atomically.

draft -> sent (send: claim the draft, then number it), sent -> sent (pay), sent -> paid (settle, when
nothing is due), draft/sent -> void (void, without payments). Every action is one conditional update
whose status filter comes from the table, so of two racing requests at most one wins.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, cast

import msgspec
from beanie import PydanticObjectId

from app.core.clock import today_in, utc_now
from app.core.errors import InvalidState, NotFound, ValidationFailed
from app.core.money import from_cents, to_cents
from app.core.retry import compare_and_set
from app.core.transitions import DELETED, Lifecycle, Transition
from app.db.outbox import pending, publish
from app.db.repository import OwnerId, get_owned, owned_filter, update_owned
from app.db.sequences import Numbered
from app.db.versions import ANY, VERSION, Expected
from app.documents import service as documents
from app.documents.model import DocumentData
from app.documents.models import StoredDocument
from app.invoices import document_data, numbering
from app.invoices.errors import CreditNoteRequired, TooManyPayments
from app.invoices.models import DocumentInfo, Invoice, StoredPayment
from app.invoices.schemas import PaymentCreate
from app.organizations.models import Books
from app.time_entries import claims

# The lifecycle: action -> (statuses it may start from, status after it). Anything else is 409 invalid_state.
# "settle" is the automatic move made by the payment that brings amount_due to zero.
LIFECYCLE = Lifecycle(
    {
        "edit": Transition(("draft",)),
        "delete": Transition(("draft",), DELETED),
        "send": Transition(("draft",), "sent"),
        "void": Transition(("draft", "sent"), "void"),
        "pay": Transition(("sent",)),
        "settle": Transition(("sent",), "paid"),
        "email": Transition(("sent", "paid")),  # mail/ queues the stored document; the status stays
        "credit": Transition(("sent", "paid")),  # a credit note (invoices/credits.py); settles a sent one
    }
)
_REFUSALS = {
    "edit": "only drafts can be edited",
    "delete": "only drafts can be deleted",
    "send": "only drafts can be sent",
    "pay": "only sent invoices take payments",
    "void": "only drafts and sent invoices without payments can be voided",
    "email": "only sent or paid invoices can be e-mailed",
    "credit": "only sent or paid invoices can be credited",
}
# Why an action the status allows was still refused (its extra condition failed).
_GUARDS = {"send": "it has no lines", "void": "it has payments", "credited": "it has credit notes"}
# The most payments one invoice keeps: each is embedded in the invoice, and a document must stay far below
# MongoDB's 16 MiB limit (1,000 payments with 500-character notes are about 0.6 MiB).
MAX_PAYMENTS = 1000
FACTUR_X = "factur-x"  # `document.e_invoice` of an invoice issued as an e-invoice


def _label(invoice: Invoice) -> str:
    return f"Invoice {invoice.number}" if invoice.number else f"Invoice {invoice.id}"


def refuse(invoice: Invoice, action: str, why: str | None = None) -> InvalidState:
    return InvalidState(f"{_label(invoice)} is {invoice.status}; {why or _REFUSALS[action]}")


def require(invoice: Invoice, action: str) -> str:
    """The status after `action`, or 409 invalid_state."""
    if not LIFECYCLE.allows(invoice.status, action):
        raise refuse(invoice, action)
    return LIFECYCLE.target(action, invoice.status)


async def refusal(
    owner: Books, invoice_id: str | OwnerId, action: str, expected: Expected = ANY
) -> InvalidState:
    """After a conditional update matched nothing: 404 if the invoice is gone, 412 if it moved past
    `expected`, else why it was refused."""
    invoice = await get_owned(Invoice, str(invoice_id), owner.id, expected)
    if LIFECYCLE.allows(invoice.status, action):
        return refuse(invoice, action, _GUARDS.get(action, "it changed meanwhile; try again"))
    return refuse(invoice, action)


# ---------------------------------------------------------------- actions


async def _move(
    owner: Books,
    invoice: Invoice,
    action: str,
    fields: dict[str, Any],
    where: dict[str, Any] | None = None,
    event: str | None = None,
    expected: Expected = ANY,
) -> Invoice:
    """Apply `action` atomically (with `event` pending, when given): the status filter comes from the
    transition table."""
    target = require(invoice, action)
    moved = await update_owned(
        Invoice,
        invoice.id,
        owner.id,
        {"status": target, **fields},
        where={**LIFECYCLE.where(action), **(where or {})},
        event=pending(event) if event else None,
        expected=expected,
    )
    if moved is None:
        raise await refusal(owner, invoice.id, action, expected)
    return moved


async def send_invoice(owner: Books, invoice_id: str, expected: Expected = ANY) -> Invoice:
    """Check and render with the number the draft is about to receive (read, not taken), then claim the
    draft (one winner) and finish the send (finish_send). A 422 leaves the draft as it was and uses no
    number; a number taken by a racing send meanwhile means one more render with the real one. The claim
    pins the version the render read: an edit that landed while it rendered means reading and rendering
    again, so the stored document always shows the invoice as it was sent."""

    async def attempt() -> tuple[Invoice, Prepared] | None:
        invoice = await get_owned(Invoice, invoice_id, owner.id, expected)  # the claim pins this version
        require(invoice, "send")
        if not invoice.lines:
            raise refuse(invoice, "send", _GUARDS["send"])
        upcoming = numbering.format_number(owner.business.invoice_prefix, await numbering.peek_seq(owner.id))
        data = await document_data.load(owner, invoice, number=upcoming)
        now = utc_now()  # the send's moment: its claim records it (sent_at), and its document is dated by it
        rendered = await documents.render_final(owner.id, data, now)
        claimed = await update_owned(
            Invoice,
            invoice.id,
            owner.id,
            {"status": require(invoice, "send"), "sent_at": now, "sending_at": now},
            where={**LIFECYCLE.where("send"), "lines": {"$ne": []}, **at_version(invoice)},
        )
        return None if claimed is None else (claimed, Prepared(upcoming, data, rendered))

    sent, prepared = await compare_and_set(attempt, lambda: refusal(owner, invoice_id, "send", expected))
    return await finish_send(owner, sent.id, prepared)


def at_version(invoice: Invoice) -> dict[str, Any]:
    """The filter of `invoice`'s version as it was read (a document stored before versions reads 0)."""
    return {VERSION: {"$in": [0, None]}} if invoice.version == 0 else {VERSION: invoice.version}


class Prepared(msgspec.Struct, frozen=True):
    """What the request rendered before its claim, with the number it expected."""

    number: str
    data: DocumentData
    rendered: documents.Rendered


async def finish_send(owner: Books, invoice_id: OwnerId, prepared: Prepared | None = None) -> Invoice:
    """The steps of a send after its claim, each idempotent, so the request and the worker's recovery may
    both run them and either may die anywhere: take the number (take_number), store the document and attach
    it while clearing `sending_at`, then publish the `invoice.sent` event that the number's write carries."""
    await take_number(owner, invoice_id)
    invoice = await _sending(owner, invoice_id)
    if invoice.status != "void" and invoice.document is None:  # voided meanwhile: a number, no document
        assert invoice.number is not None
        if prepared is not None and prepared.number == invoice.number:
            stored = await documents.store(owner.id, invoice.id, prepared.rendered)
        elif prepared is not None:
            data = msgspec.structs.replace(prepared.data, number=invoice.number)
            stored = await documents.ensure_stored(owner.id, invoice.id, data, dated(invoice))
        else:  # the request died: the recovery renders what the request would have
            stored = await store_final(owner, invoice)
        invoice = await attach_document(owner, invoice, stored)
    elif invoice.sending_at is not None:
        done = {"$unset": {"sending_at": ""}}
        invoice = await update_owned(Invoice, invoice.id, owner.id, {}, extra=done) or invoice
    await publish(invoice)
    return invoice


async def store_final(owner: Books, invoice: Invoice) -> StoredDocument:
    """The numbered invoice's stored document; when none is kept yet (its send was cut short), the final one
    rendered and kept now: as the invoice was sent (final_data), dated by its send (dated). So whoever
    renders it (the send's recovery, a first download or e-mail) stores the bytes the send would have."""
    return await documents.ensure_stored(
        owner.id, invoice.id, await final_data(owner, invoice), dated(invoice)
    )


def dated(invoice: Invoice) -> datetime:
    """The moment a sent invoice's final document is dated (rendered_at, and every date in the PDF): the
    moment its send claimed it (`sent_at`), which the request rendered with too."""
    return invoice.sent_at if invoice.sent_at is not None else utc_now()  # a sent invoice always has one


async def final_data(owner: Books, invoice: Invoice) -> DocumentData:
    """What the send of a numbered invoice renders, when its request did not (it died, or it was cut short
    before its document was kept): the invoice with its number (a final document, not a DRAFT), as it was
    when it was sent. A draft takes no payments, so that is nothing paid and the total due; a payment
    recorded since (the invoice was `sent` while the send waited for recovery) is not on the document."""
    assert invoice.number is not None
    data = await document_data.load(owner, invoice, number=invoice.number)
    return msgspec.structs.replace(data, amount_paid=from_cents(0), amount_due=data.total)


async def _sending(owner: Books, invoice_id: OwnerId) -> Invoice:
    """The invoice being sent, read without the request's preconditions (its claim already met them)."""
    raw = await Invoice.get_motor_collection().find_one(owned_filter(owner.id, _id=invoice_id))
    if raw is None:  # pragma: no cover - a sent invoice cannot be deleted
        raise NotFound(f"No invoice with id {invoice_id!r}")
    return cast(Invoice, Invoice.model_validate(raw))


async def abandon_send(owner_id: OwnerId, invoice_id: OwnerId) -> None:
    """Stop finishing a send whose organisation was deleted meanwhile (recovery): it keeps no number."""
    await Invoice.get_motor_collection().update_one(
        owned_filter(owner_id, _id=invoice_id), {"$unset": {"sending_at": ""}}
    )


async def take_number(owner: Books, invoice_id: OwnerId) -> None:
    """Give the claimed invoice its number, if it has none (db/sequences.py: hold the counter's next number
    for it, or the one it holds already; write it on the invoice with the `invoice.sent` event, and `paid`
    when nothing is due: a zero-total invoice; free the counter). A counter held by another invoice (its send
    died, or runs now) is first finished for that one: no number is skipped or given twice."""
    await numbering.SEQUENCE.take(owner.id, invoice_id, _numbered(owner))


def _numbered(owner: Books) -> Numbered[Invoice]:
    return Numbered(
        load=lambda invoice_id: _sending(owner, invoice_id),
        has_number=lambda invoice: invoice.number is not None,
        write=lambda invoice, seq: _number(owner, invoice, seq),
    )


async def _number(owner: Books, invoice: Invoice, seq: int) -> bool:
    fields: dict[str, Any] = {
        "number": numbering.format_number(owner.business.invoice_prefix, seq),
        "number_seq": seq,
        "number_slot": numbering.number_slot(seq),
    }
    where: dict[str, Any] = {"number": None, "status": invoice.status}
    if LIFECYCLE.allows(invoice.status, "settle") and invoice.amount_due_cents == 0:
        fields.update(status=LIFECYCLE.target("settle"), paid_at=utc_now())  # nothing can ever be paid on it
    numbered = await update_owned(
        Invoice, invoice.id, owner.id, fields, where=where, event=pending("invoice.sent")
    )
    return numbered is not None


async def attach_document(owner: Books, invoice: Invoice, stored: StoredDocument) -> Invoice:
    """Record the stored document on the invoice; the send is then complete (`sending_at` cleared)."""
    info = DocumentInfo(
        sha256=stored.sha256, size=stored.size, e_invoice=stored.e_invoice, rendered_at=stored.rendered_at
    )
    done = {"$unset": {"sending_at": ""}}
    attached = await update_owned(Invoice, invoice.id, owner.id, {"document": info}, extra=done)
    return attached or invoice


async def void_invoice(owner: Books, invoice_id: str, expected: Expected = ANY) -> Invoice:
    """Void (marked `releasing_at` in the same write), then release its time entries (if this dies in
    between, the worker's recovery releases them: release_entries). An issued e-invoice is corrected by a
    credit note, never voided (409 credit_note_required); an invoice with credit notes stays (409)."""
    invoice = await get_owned(Invoice, invoice_id, owner.id, expected)
    require(invoice, "void")
    if invoice.amount_paid_cents:
        raise refuse(invoice, "void", _GUARDS["void"])
    if invoice.credit_note_ids:
        raise refuse(invoice, "void", _GUARDS["credited"])
    if invoice.status == "sent" and invoice.document is not None and invoice.document.e_invoice == FACTUR_X:
        raise CreditNoteRequired(
            f"{_label(invoice)} was issued as an e-invoice: correct it with a credit note "
            f"(POST /api/invoices/{invoice.id}/credit-notes), it cannot be voided"
        )
    now = utc_now()
    stamp = {"voided_at": now, "releasing_at": now}
    # Nothing paid, nothing credited and no e-invoice issued, checked again in the same atomic write (a
    # racing payment or credit note wins or loses whole).
    unchanged = {
        "amount_paid_cents": 0,
        "credit_note_ids.0": {"$exists": False},
        "document.e_invoice": {"$ne": FACTUR_X},
    }
    voided = await _move(
        owner, invoice, "void", stamp, where=unchanged, event="invoice.voided", expected=expected
    )
    await publish(voided)
    await release_entries(owner.id, voided.id)
    return voided


async def release_entries(owner_id: OwnerId, invoice_id: OwnerId) -> None:
    """Free the time entries of an invoice that was voided or deleted, then clear its `releasing_at` mark (an
    internal mark: no version, no event). Idempotent: the request and the worker's recovery may both run it.
    Its claims stood: a claim event a crash left pending leaves with the release's, before it."""
    await claims.release(owner_id, invoice_id, stood=True)
    await Invoice.get_motor_collection().update_one(
        {"_id": invoice_id, "owner_id": owner_id}, {"$unset": {"releasing_at": ""}}
    )


async def add_payment(
    owner: Books,
    invoice_id: str,
    data: PaymentCreate,
    expected: Expected = ANY,
    new_id: PydanticObjectId | None = None,
) -> Invoice:
    """One $push + $inc guarded by the status and by amount_due; the payment that clears the amount due
    also sets `paid` in that same write (event `invoice.paid`, else `invoice.payment_recorded`), so no crash
    can leave a sent invoice with nothing due. The payment's id is `new_id`, and the write requires that no
    payment has it yet: a retry whose earlier run committed finds its payment there and answers with the
    invoice, recording nothing twice."""
    cents = to_cents(data.amount)
    payment = StoredPayment(
        id=new_id or PydanticObjectId(),
        amount_cents=cents,
        paid_on=data.paid_on or today_in(owner.business.time_zone),  # the organisation's today
        method=data.method,
        note=data.note,
    )
    settle = {"status": LIFECYCLE.target("settle"), "paid_at": utc_now()}

    # Read and check, then try "this payment clears it" and "a part payment"; an attempt that misses both
    # means another payment landed in between, so the next one re-reads: still payable and enough due?
    async def attempt() -> Invoice | None:
        invoice = await get_owned(Invoice, invoice_id, owner.id)
        if any(earlier.id == payment.id for earlier in invoice.payments):
            return invoice  # an earlier run of this request recorded it
        expected.check(invoice.version)
        require(invoice, "pay")
        if cents > invoice.amount_due_cents:
            raise _overpaid(invoice)
        if len(invoice.payments) >= MAX_PAYMENTS:
            raise TooManyPayments(
                f"{_label(invoice)} already has {MAX_PAYMENTS} payments, the most one invoice keeps"
            )
        for fields, amount_due, event in (
            (settle, {"$eq": cents}, "invoice.paid"),
            ({}, {"$gt": cents}, "invoice.payment_recorded"),
        ):
            paid = await update_owned(
                Invoice,
                invoice.id,
                owner.id,
                fields,
                # fewer than MAX_PAYMENTS payments, checked in the same atomic write (no race past the cap)
                where={
                    **LIFECYCLE.where("pay"),
                    "amount_due_cents": amount_due,
                    f"payments.{MAX_PAYMENTS - 1}": {"$exists": False},
                    "payments.id": {"$ne": payment.id},
                },
                extra={
                    "$push": {"payments": payment},
                    "$inc": {"amount_paid_cents": cents, "amount_due_cents": -cents},
                },
                event=pending(event),
                expected=expected,
            )
            if paid is not None:
                return paid
        return None

    paid = await compare_and_set(attempt, "The invoice changed while the payment was recorded; try again")
    await publish(paid)
    return paid


def _overpaid(invoice: Invoice) -> ValidationFailed:
    due = from_cents(invoice.amount_due_cents)
    return ValidationFailed.field("amount", f"must be at most the amount due ({due})")
