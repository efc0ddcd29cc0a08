"""The worker's recovery of invoice operations a crash cut short (docs/operations.md). Each step it runs is
the same idempotent step the request runs, so it may overlap a request still in flight. Each stuck item is
finished on its own (docs/operations.md, db/recovery.py): one that cannot be is logged with its id and
skipped, the others go on, and the next pass tries it again."""

from __future__ import annotations

import logging
from datetime import datetime
from functools import partial
from typing import Any

from app.db.outbox import OUTBOX
from app.db.recovery import RecoveryPass
from app.db.repository import PRESENT
from app.invoices import lifecycle, numbering
from app.invoices.models import Invoice
from app.organizations import service as organizations
from app.time_entries import claims

log = logging.getLogger("orbix.recovery")


async def recover_invoices(cutoff: datetime, recovery: RecoveryPass | None = None) -> None:
    recovery = recovery or RecoveryPass()
    await _finish_sends(cutoff, recovery)
    await _settle_claims(cutoff, recovery)
    await _finish_releases(cutoff, recovery)


def _invoices() -> str:
    return str(Invoice.get_motor_collection().name)


async def _finish_sends(cutoff: datetime, recovery: RecoveryPass) -> None:
    """A send that claimed its draft but died before it was complete is finished: the number held for it
    (or the next one), the document, the event; the oldest claim first. A counter still held is finished
    for its holder."""
    stuck = Invoice.get_motor_collection().find({"sending_at": {"$lte": cutoff}}, {"owner_id": 1})
    for raw in [raw async for raw in stuck.sort([("sending_at", 1), ("_id", 1)])]:
        finish = partial(_finish_send, raw.get("owner_id"), raw["_id"])  # a bad one fails in its item
        await recovery.item("finish the send of invoice", _invoices(), raw["_id"], finish)
    for owner_id, invoice_id in await numbering.held_counters():
        take = partial(_take_number, owner_id, invoice_id)
        await recovery.item("number invoice", _invoices(), invoice_id, take)


async def _finish_send(owner_id: Any, invoice_id: Any) -> None:
    books = await organizations.books(owner_id)
    if books is None:  # its organisation was deleted while it was sent: nobody can read it any more
        log.warning("invoice %s was being sent when its organization was deleted: left unsent", invoice_id)
        await lifecycle.abandon_send(owner_id, invoice_id)
        return
    await lifecycle.finish_send(books, invoice_id)


async def _take_number(owner_id: Any, invoice_id: Any) -> None:
    books = await organizations.books(owner_id)
    if books is None:  # the same: no number is taken in a deleted organisation's books
        await numbering.release(owner_id, invoice_id)
        return
    await lifecycle.take_number(books, invoice_id)


async def _settle_claims(cutoff: datetime, recovery: RecoveryPass) -> None:
    """Entries claimed by an invoicing request that died (or ran past its deadline): their events leave if
    the invoice stands, else the claims are undone with their events."""
    for owner_id, invoice_id in await claims.unconfirmed_claims(cutoff):
        settle = partial(_settle_claim, owner_id, invoice_id)
        await recovery.item("settle the time entries claimed by invoice", _invoices(), invoice_id, settle)


async def _settle_claim(owner_id: Any, invoice_id: Any) -> None:
    if await _standing(invoice_id):
        await claims.publish_claims(owner_id, invoice_id)
    else:
        await claims.release(owner_id, invoice_id)


async def _finish_releases(cutoff: datetime, recovery: RecoveryPass) -> None:
    """Entries still claimed by a void invoice (still marked `releasing_at`) or by a deleted one (its
    tombstone still waits for its event to leave) are released: the void or delete died before releasing
    them. A tombstone is taken whatever its age (releasing twice is harmless), so the relay that runs after
    this never removes one whose entries are still claimed (one whose release fails here is held: the relay
    leaves it for the next pass)."""
    tombstone = {"removed": True, f"{OUTBOX}.at": {"$exists": True}}
    query = {"$or": [{"releasing_at": {"$lte": cutoff}}, tombstone]}
    found = Invoice.get_motor_collection().find(query, {"owner_id": 1})
    for raw in [raw async for raw in found]:
        release = partial(lifecycle.release_entries, raw.get("owner_id"), raw["_id"])
        await recovery.item("release the time entries of invoice", _invoices(), raw["_id"], release)


async def _standing(invoice_id: Any) -> bool:
    """The invoice exists, is not being deleted and is not void: it may hold time entries."""
    query = {"_id": invoice_id, **PRESENT, "status": {"$ne": "void"}}
    return await Invoice.get_motor_collection().find_one(query, {"_id": 1}) is not None
