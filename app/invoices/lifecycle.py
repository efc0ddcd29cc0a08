"""The invoice lifecycle: one explicit transition table, and the actions that follow it atomically.

draft -> sent (send: claim the draft, then number it), sent -> sent (pay), sent -> paid (settle, when
nothing is due), draft/sent -> void (void, without payments). Every action is one conditional update
whose status filter comes from the table, so of two racing requests at most one wins.
"""

from __future__ import annotations

from typing import Any

import msgspec

from app.auth.documents import User
from app.core.clock import today_utc, utc_now
from app.core.documents import OwnerId, get_owned, update_owned
from app.core.errors import InvalidState, NotFound, ValidationFailed
from app.core.money import from_cents, to_cents
from app.core.retry import compare_and_set
from app.core.transitions import DELETED, Lifecycle, Transition
from app.documents import service as documents
from app.documents.documents import StoredDocument
from app.invoices import document_data, numbering
from app.invoices.documents import DocumentInfo, Invoice, StoredPayment
from app.invoices.schemas import PaymentCreate
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
    }
)
_REFUSALS = {
    "edit": "only drafts can be edited",
    "delete": "only drafts can be deleted",
    "send": "only drafts can be sent",
    "pay": "only sent invoices take payments",
    "void": "only drafts and sent invoices without payments can be voided",
    "email": "only sent or paid invoices can be e-mailed",
}
# Why an action the status allows was still refused (its extra condition failed).
_GUARDS = {"send": "it has no lines", "void": "it has payments"}


def _label(invoice: Invoice) -> str:
    return f"Invoice {invoice.number}" if invoice.number else f"Invoice {invoice.id}"


def refuse(invoice: Invoice, action: str, why: str | None = None) -> InvalidState:
    return InvalidState(f"{_label(invoice)} is {invoice.status}; {why or _REFUSALS[action]}")


def require(invoice: Invoice, action: str) -> str:
    """The status after `action`, or 409 invalid_state."""
    if not LIFECYCLE.allows(invoice.status, action):
        raise refuse(invoice, action)
    return LIFECYCLE.target(action, invoice.status)


async def refusal(owner: User, invoice_id: str | OwnerId, action: str) -> InvalidState:
    """After a conditional update matched nothing: 404 if the invoice is gone, else why it was refused."""
    invoice = await get_owned(Invoice, str(invoice_id), owner.id)
    if LIFECYCLE.allows(invoice.status, action):
        return refuse(invoice, action, _GUARDS.get(action, "it changed meanwhile; try again"))
    return refuse(invoice, action)


# ---------------------------------------------------------------- actions


async def _move(
    owner: User, invoice: Invoice, action: str, fields: dict[str, Any], where: dict[str, Any] | None = None
) -> Invoice:
    """Apply `action` atomically: the status filter comes from the transition table."""
    target = require(invoice, action)
    moved = await update_owned(
        Invoice,
        invoice.id,
        owner.id,
        {"status": target, **fields},
        where={**LIFECYCLE.where(action), **(where or {})},
    )
    if moved is None:
        raise await refusal(owner, invoice.id, action)
    return moved


async def send_invoice(owner: User, invoice_id: str) -> Invoice:
    """Check and render with the number the draft is about to receive (read, not taken), then claim the
    draft (one winner), take the number, store the document. A 422 leaves the draft as it was and uses no
    number; a number taken by a racing send meanwhile means one more render with the real one."""
    invoice = await get_owned(Invoice, invoice_id, owner.id)
    require(invoice, "send")
    if not invoice.lines:
        raise refuse(invoice, "send", _GUARDS["send"])
    prefix = owner.business.invoice_prefix
    upcoming = numbering.format_number(prefix, await numbering.peek_seq(owner.id))
    data = await document_data.load(owner, invoice, number=upcoming)
    rendered = await documents.render_final(data)
    sent = await _move(owner, invoice, "send", {"sent_at": utc_now()}, where={"lines": {"$ne": []}})
    seq = await numbering.next_seq(owner.id)
    number = numbering.format_number(prefix, seq)
    numbered = await update_owned(
        Invoice,
        sent.id,
        owner.id,
        {"number": number, "number_seq": seq, "number_slot": numbering.number_slot(seq)},
    )
    if numbered is None:  # pragma: no cover - a sent invoice cannot be deleted
        raise NotFound(f"No invoice with id {invoice_id!r}")
    if number != upcoming:
        rendered = await documents.render_final(msgspec.structs.replace(data, number=number))
    stored = await documents.store(owner.id, numbered.id, rendered)
    return await _settle_if_nothing_due(owner, await attach_document(owner, numbered, stored))


async def attach_document(owner: User, invoice: Invoice, stored: StoredDocument) -> Invoice:
    info = DocumentInfo(
        sha256=stored.sha256, size=stored.size, e_invoice=stored.e_invoice, rendered_at=stored.rendered_at
    )
    attached = await update_owned(Invoice, invoice.id, owner.id, {"document": info})
    return attached or invoice


async def void_invoice(owner: User, invoice_id: str) -> Invoice:
    invoice = await get_owned(Invoice, invoice_id, owner.id)
    require(invoice, "void")
    if invoice.amount_paid_cents:
        raise refuse(invoice, "void", _GUARDS["void"])
    voided = await _move(owner, invoice, "void", {"voided_at": utc_now()}, where={"amount_paid_cents": 0})
    await claims.release(owner.id, voided.id)
    return voided


async def add_payment(owner: User, invoice_id: str, data: PaymentCreate) -> Invoice:
    """One $push + $inc guarded by the status and by amount_due; the payment that clears the amount due
    also sets `paid` in that same write, so no crash can leave a sent invoice with nothing due."""
    cents = to_cents(data.amount)
    payment = StoredPayment(
        amount_cents=cents, paid_on=data.paid_on or today_utc(), method=data.method, note=data.note
    )
    settle = {"status": LIFECYCLE.target("settle"), "paid_at": utc_now()}

    # Read and check, then try "this payment clears it" and "a part payment"; an attempt that misses both
    # means another payment landed in between, so the next one re-reads: still payable and enough due?
    async def attempt() -> Invoice | None:
        invoice = await get_owned(Invoice, invoice_id, owner.id)
        require(invoice, "pay")
        if cents > invoice.amount_due_cents:
            raise _overpaid(invoice)
        for fields, amount_due in ((settle, {"$eq": cents}), ({}, {"$gt": cents})):
            paid = await update_owned(
                Invoice,
                invoice.id,
                owner.id,
                fields,
                where={**LIFECYCLE.where("pay"), "amount_due_cents": amount_due},
                extra={
                    "$push": {"payments": payment},
                    "$inc": {"amount_paid_cents": cents, "amount_due_cents": -cents},
                },
            )
            if paid is not None:
                return paid
        return None

    return await compare_and_set(attempt, "The invoice changed while the payment was recorded; try again")


async def _settle_if_nothing_due(owner: User, invoice: Invoice) -> Invoice:
    """sent -> paid once amount_due is 0 (the last payment, or a zero-total invoice at send)."""
    if not LIFECYCLE.allows(invoice.status, "settle") or invoice.amount_due_cents > 0:
        return invoice
    settled = await update_owned(
        Invoice,
        invoice.id,
        owner.id,
        {"status": LIFECYCLE.target("settle"), "paid_at": utc_now()},
        where={**LIFECYCLE.where("settle"), "amount_due_cents": 0},
    )
    return settled or await get_owned(Invoice, str(invoice.id), owner.id)


def _overpaid(invoice: Invoice) -> ValidationFailed:
    due = from_cents(invoice.amount_due_cents)
    return ValidationFailed.field("amount", f"must be at most the amount due ({due})")
