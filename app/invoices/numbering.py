"""Invoice numbers: a per-organisation counter (invoice_counters), held by one sending invoice at a time until
it carries its number. The mechanism (counter, holder, recovery) is db/sequences.py, shared with credit notes.
"""

from __future__ import annotations

import logging
from typing import Any

from pymongo import ASCENDING
from pymongo.errors import DuplicateKeyError

from app.db import index_builds, sequences
from app.db.repository import OwnerId
from app.db.sequences import Sequence
from app.invoices.models import Invoice, InvoiceCounter

log = logging.getLogger("orbix.invoices")

# Numbers are unique per owner. Partial on string numbers (drafts have none): valid on MongoDB 7, where a
# partial index may only use $type/$exists/equality/... in its filter, and enforced by mongomock on writes.
# Not declared on the Document: a declared unique index refuses writes while it is missing, and stored
# duplicates would keep it missing (see below); the (owner_id, number_slot) one enforces numbering meanwhile.
UNIQUE_NUMBER_KEYS = [("owner_id", ASCENDING), ("number", ASCENDING)]
UNIQUE_NUMBER_INDEX = "owner_id_number_unique"
UNIQUE_NUMBER_SPEC = {
    "name": UNIQUE_NUMBER_INDEX,
    "key": dict(UNIQUE_NUMBER_KEYS),
    "unique": True,
    "partialFilterExpression": {"number": {"$type": "string"}},
}


SEQUENCE = Sequence(InvoiceCounter, "invoice")
format_number = sequences.format_number
number_slot = sequences.number_slot


async def holder(owner_id: OwnerId) -> Any:
    """The invoice that took the owner's current number and may not carry it yet, or None."""
    return await SEQUENCE.holder(owner_id)


async def reserve(owner_id: OwnerId, invoice_id: OwnerId) -> int | None:
    """The number held for `invoice_id` (db/sequences.py), None while another invoice holds the counter."""
    return await SEQUENCE.reserve(owner_id, invoice_id)


async def release(owner_id: OwnerId, invoice_id: OwnerId) -> None:
    """Free the counter once `invoice_id` carries its number (a no-op if it does not hold it)."""
    await SEQUENCE.release(owner_id, invoice_id)


async def held_counters() -> list[tuple[Any, Any]]:
    """(owner_id, invoice id) of every counter held now: for the worker's recovery."""
    return await SEQUENCE.held()


async def ensure_unique_numbers() -> bool:
    """Create the unique (owner_id, number) index; False, with one log line naming them, if stored invoices
    already share a number (they predate the prefix rule): the API still starts and serves them.

    Run at every start, in the background (a first build reads every stored invoice); once the index is
    there it costs one listIndexes."""
    invoices = Invoice.get_motor_collection()
    if UNIQUE_NUMBER_INDEX in [spec["name"] async for spec in invoices.list_indexes()]:
        return True
    try:
        await index_builds.build(invoices, UNIQUE_NUMBER_SPEC)
    except DuplicateKeyError:
        duplicates = await invoices.aggregate(
            [
                {"$match": {"number": {"$type": "string"}}},
                {"$group": {"_id": {"owner_id": "$owner_id", "number": "$number"}, "count": {"$sum": 1}}},
                {"$match": {"count": {"$gt": 1}}},
                {"$sort": {"_id.owner_id": 1, "_id.number": 1}},
            ]
        ).to_list(None)
        found = [f"{d['_id']['owner_id']}/{d['_id']['number']} x{d['count']}" for d in duplicates]
        log.error(
            "invoice numbers are not unique: %d numbers are shared (%s); the unique index %s is not in place "
            "until they are renumbered",
            len(found),
            ", ".join(found[:20]) + (" …" if len(found) > 20 else ""),
            UNIQUE_NUMBER_INDEX,
            extra={"duplicate_invoice_numbers": found},
        )
        return False
    return True


async def peek_seq(owner_id: OwnerId) -> int:
    """The sequence number the next send will take, read and not taken (for the pre-send e-invoice check)."""
    return await SEQUENCE.peek(owner_id)
