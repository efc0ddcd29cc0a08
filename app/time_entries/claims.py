"""Putting time entries on an invoice: check them, claim them all-or-nothing, release them.

The invoices area calls these; only this area writes the time_entries collection.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from bson import ObjectId

from app.core.clock import as_utc, utc_now
from app.core.errors import Conflict, FieldError, InvalidReference
from app.db import versions
from app.db.outbox import OUTBOX, pending, publish, with_event
from app.db.repository import OwnerId, owned_filter, update_owned
from app.time_entries.errors import AlreadyInvoiced
from app.time_entries.models import TimeEntry
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


# A request that claimed entries must have its invoice inserted within CLAIM_DEADLINE, else it undoes its
# work; the worker's recovery releases a claim only once it is older than RECOVERY_GRACE (well above the
# deadline, to absorb clock skew between processes), so the two never both act on one claim.
CLAIM_DEADLINE = timedelta(seconds=30)
RECOVERY_GRACE = timedelta(seconds=120)


async def claim(owner_id: OwnerId, client_id: OwnerId, invoice_id: OwnerId, ids: list[ObjectId]) -> None:
    """Mark every entry with `invoice_id`, or none of them (409 already_invoiced).

    MongoDB's update_many is atomic per document only, so two overlapping update_many claims can each take
    part of the set and both fail. Instead each entry is claimed by its own conditional update, in ascending
    id order for every caller: of two claims sharing entries, the one that takes the first shared entry gets
    them all, and the other stops there and releases what it took. Each claim carries the entry's
    `time_entry.updated` event, pending (marked with the claim) until the invoice stands (publish_claims);
    a claim undone before that takes its event back with it.
    """
    entries = TimeEntry.get_motor_collection()
    now = utc_now()
    for oid in sorted(ids):
        event = {**pending("time_entry.updated"), "claim": invoice_id}
        result = await entries.update_one(
            {"_id": oid, "invoice_id": None, **_invoiceable(owner_id, client_id)},
            with_event(versions.bump({"$set": {"invoice_id": invoice_id, "updated_at": now}}), event),
        )
        if result.modified_count != 1:
            await release(owner_id, invoice_id)
            await check_entries(owner_id, client_id, ids)  # says which entry changed, and how
            raise _already_invoiced()


async def confirm_claims(owner_id: OwnerId, invoice_id: OwnerId, count: int, since: datetime | None) -> None:
    """After the invoice was inserted: its claims all still stand (recovery has not released them) and the
    request is within CLAIM_DEADLINE of its first claim (so recovery will not release them later). Else 409,
    and the caller undoes the invoice and its claims. `since` None: the invoice is stored already (a retry
    met an earlier run's), so recovery publishes its claims rather than releasing them: no deadline."""
    held = await TimeEntry.get_motor_collection().count_documents(
        owned_filter(owner_id, invoice_id=invoice_id)
    )
    if held != count or (since is not None and utc_now() - since > CLAIM_DEADLINE):
        raise Conflict("Invoicing the time entries took too long; try again")


async def publish_claims(owner_id: OwnerId, invoice_id: OwnerId) -> None:
    """The invoice stands: the claimed entries' events leave."""
    for entry in await TimeEntry.find(owned_filter(owner_id, invoice_id=invoice_id)).to_list():
        await publish(entry)


async def release(owner_id: OwnerId, invoice_id: OwnerId, *, stood: bool = False) -> None:
    """Unmark the entries this invoice holds, and only those, one conditional write each (a release cut
    short is finished by running it again). A claim that stood (`stood`: the invoice was inserted) is
    released with a new `time_entry.updated` event, after its own if that is still pending. Otherwise a claim
    whose event is still pending never stood: it is undone with its event."""
    if invoice_id is None:  # no invoice: nothing is claimed by it (and `None` would name every free entry)
        return
    collection = TimeEntry.get_motor_collection()
    for entry in await TimeEntry.find(owned_filter(owner_id, invoice_id=invoice_id)).to_list():
        never_stood = {"_id": entry.id, "invoice_id": invoice_id, f"{OUTBOX}.claim": invoice_id}
        undo = {
            "$set": {"invoice_id": None, "updated_at": utc_now()},
            "$pull": {OUTBOX: {"claim": invoice_id}},
        }
        if not stood and (await collection.update_one(never_stood, versions.bump(undo))).modified_count:
            continue
        released = await update_owned(
            TimeEntry,
            entry.id,
            owner_id,
            {"invoice_id": None},
            where={"invoice_id": invoice_id},
            event=pending("time_entry.updated"),
        )
        if released is not None:
            await publish(released)


# ---------------------------------------------------------------- for the worker's recovery


async def unconfirmed_claims(cutoff: datetime) -> list[tuple[Any, Any]]:
    """(owner_id, invoice id) of claims older than `cutoff` whose event is still pending: their request died
    between claiming and publishing (or is past its deadline)."""
    query = {OUTBOX: {"$elemMatch": {"claim": {"$ne": None}, "at": {"$lte": cutoff}}}}
    found = TimeEntry.get_motor_collection().find(query, {"owner_id": 1, OUTBOX: 1})
    # The claim's own invoice, not the entry's `invoice_id`: a claim that stood and was released since (its
    # event still pending beside the release's) names an invoice the entry no longer does.
    return list(
        dict.fromkeys(
            [
                (raw["owner_id"], event["claim"])
                async for raw in found
                for event in raw.get(OUTBOX, [])
                if event.get("claim") is not None and as_utc(event["at"]) <= cutoff
            ]
        )
    )
