"""Putting time entries on an invoice: check them, claim them all-or-nothing, release them.

The invoices area calls these; only this area writes the time_entries collection.
"""

from __future__ import annotations

from bson import ObjectId

from app.core import versioning
from app.core.clock import utc_now
from app.core.documents import OwnerId, owned_filter
from app.core.errors import AlreadyInvoiced, FieldError, InvalidReference
from app.time_entries.documents import TimeEntry
from app.time_entries.rules import LIFECYCLE, status


def _invoiceable(owner_id: OwnerId, client_id: OwnerId) -> dict[str, object]:
    """What an entry must be to go on an invoice of this client: the caller's, stopped and billable."""
    return owned_filter(owner_id, client_id=client_id, billable=True, ended_at={"$ne": None})


def _reason(entry: TimeEntry | None, client_id: OwnerId) -> str | None:
    if entry is None:
        return "names no time entry you own"
    if entry.ended_at is None or entry.duration_seconds is None:
        return "is still running"
    if not entry.billable:
        return "is not billable"
    if entry.client_id != client_id:
        return "belongs to another client"
    return None


async def check_entries(owner_id: OwnerId, client_id: OwnerId, ids: list[ObjectId]) -> None:
    """400 invalid_reference unless every entry is invoiceable for this client; 409 if one is invoiced."""
    entries = await TimeEntry.find(owned_filter(owner_id, _id={"$in": ids})).to_list()
    found: dict[OwnerId, TimeEntry] = {entry.id: entry for entry in entries}
    errors = [
        FieldError(field=f"time_entry_ids[{index}]", message=reason)
        for index, oid in enumerate(ids)
        if (reason := _reason(found.get(oid), client_id)) is not None
    ]
    if errors:
        detail = "; ".join(f"{e.field} {e.message}" for e in errors)
        raise InvalidReference(f"Some time entries cannot be invoiced: {detail}", errors=errors)
    # Every entry is stopped by now (else it has a reason above); one the table will not claim is invoiced.
    invoiced = [str(oid) for oid in ids if not LIFECYCLE.allows(status(found[oid]), "claim")]
    if invoiced:
        raise _already_invoiced(invoiced)


def _already_invoiced(ids: list[str] | None = None) -> AlreadyInvoiced:
    which = f": {', '.join(ids)}" if ids else ""
    return AlreadyInvoiced(f"Some time entries are already on an invoice{which}")


async def claim(owner_id: OwnerId, client_id: OwnerId, invoice_id: OwnerId, ids: list[ObjectId]) -> None:
    """Mark every entry with `invoice_id`, or none of them (409 already_invoiced).

    MongoDB's update_many is atomic per document only, so two overlapping update_many claims can each take
    part of the set and both fail. Instead each entry is claimed by its own conditional update, in ascending
    id order for every caller: of two claims sharing entries, the one that takes the first shared entry gets
    them all, and the other stops there and releases what it took.
    """
    entries = TimeEntry.get_motor_collection()
    now = utc_now()
    for oid in sorted(ids):
        result = await entries.update_one(
            {"_id": oid, "invoice_id": None, **_invoiceable(owner_id, client_id)},
            versioning.bump({"$set": {"invoice_id": invoice_id, "updated_at": now}}),
        )
        if result.modified_count != 1:
            await release(owner_id, invoice_id)
            await check_entries(owner_id, client_id, ids)  # says which entry changed, and how
            raise _already_invoiced()


async def release(owner_id: OwnerId, invoice_id: OwnerId) -> None:
    """Unmark the entries this invoice holds, and only those."""
    await TimeEntry.get_motor_collection().update_many(
        owned_filter(owner_id, invoice_id=invoice_id),
        versioning.bump({"$set": {"invoice_id": None, "updated_at": utc_now()}}),
    )
