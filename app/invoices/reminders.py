"""What the payment reminders (app/mail/reminders.py) need of the invoices collection: the sent, unpaid
invoices that may be due a reminder, and the `invoice.reminder_sent` event once one went out (API.md
section 23). The invoices area is the only writer of its collection; the mail area calls these."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

from bson import ObjectId
from pymongo import ReturnDocument

from app.core.clock import midnight_utc
from app.db.dates import stored_date
from app.db.outbox import OUTBOX, pending, publish, with_event
from app.db.repository import owned_filter
from app.invoices.models import Invoice

REMINDER_SENT = "invoice.reminder_sent"


@dataclass(frozen=True)
class Unpaid:
    """A sent invoice with something still owed: whose it is and when it was due."""

    id: ObjectId
    owner_id: ObjectId
    due_date: date


async def unpaid_due_by(cutoffs: Mapping[Any, date]) -> list[Unpaid]:
    """The sent invoices with an amount due of each organisation in `cutoffs` whose due date is on or before
    that organisation's cutoff (today in its zone less its smallest rule), oldest due first. One query: each
    clause of the $or is bounded by the (owner_id, status, due_date) index, so the read is what may be due,
    never the organisation's other invoices."""
    if not cutoffs:
        return []
    clauses = [
        owned_filter(owner_id, status="sent", due_date={"$lte": midnight_utc(cutoff)})
        for owner_id, cutoff in cutoffs.items()
    ]
    query = {"$or": clauses, "amount_due_cents": {"$gt": 0}}
    found = Invoice.get_motor_collection().find(query, {"_id": 1, "owner_id": 1, "due_date": 1})
    unpaid = [Unpaid(raw["_id"], raw["owner_id"], stored_date(raw["due_date"])) async for raw in found]
    unpaid.sort(key=lambda invoice: (invoice.due_date, invoice.id))
    return unpaid


async def note_reminder_sent(owner_id: Any, invoice_id: Any, event_id: ObjectId) -> None:
    """Emit `invoice.reminder_sent` (its object the invoice) with the id the reminder fixed when it was
    written: a delivery that runs again pushes nothing while the event is pending, and the relay skips an id
    it has copied already, so the event leaves once."""
    event: dict[str, Any] = {**pending(REMINDER_SENT), "id": event_id}
    query = owned_filter(owner_id, {f"{OUTBOX}.id": {"$ne": event_id}}, _id=invoice_id)
    raw = await Invoice.get_motor_collection().find_one_and_update(
        query, with_event({}, event), return_document=ReturnDocument.AFTER
    )
    if raw is not None:
        await publish(Invoice.model_validate(raw))
