"""Invoice numbers: a per-user counter, held by one sending invoice at a time until it carries its number.

Taking a number and writing it on the invoice are two writes to two documents. So the counter remembers who
took its current number (`holder`) until the invoice carries it: `$inc` and `holder` are set in one atomic
update, and only while no other invoice holds it. Whoever finds the counter held (the next send, or the
worker's recovery after a crash) finishes the holder's numbering first: writes the held number on it (if it
does not carry it yet) and frees the counter. A number is therefore never skipped, never given twice.
"""

from __future__ import annotations

import logging
from typing import Any

from pymongo import ASCENDING, ReturnDocument
from pymongo.errors import DuplicateKeyError

from app.db import index_builds
from app.db.repository import OwnerId, owned_filter
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


def format_number(prefix: str, seq: int) -> str:
    """INV-0001 … INV-9999, INV-10000: at least four digits, never truncated."""
    return f"{prefix}{seq:04d}"


def number_slot(seq: int) -> str:
    """The unique (owner_id, number_slot) value of a numbered invoice: the sequence itself."""
    return f"seq:{seq}"


def _counters() -> Any:
    return InvoiceCounter.get_motor_collection()


async def holder(owner_id: OwnerId) -> Any:
    """The invoice that took the owner's current number and may not carry it yet, or None."""
    counter = await _counters().find_one({"owner_id": owner_id}, {"holder": 1})
    return counter.get("holder") if counter else None


async def reserve(owner_id: OwnerId, invoice_id: OwnerId) -> int | None:
    """The number held for `invoice_id`: the one it holds already, else the next one (one atomic `$inc` that
    also records the holder, made only while nobody holds the counter; the counter is created on first
    use). None while another invoice holds it.

    Two first-ever upserts racing can make one fail on the unique owner_id index: that is "held" too, and
    so is an upsert whose filter missed because the counter is held (its insert hits the same index).
    """
    counter = await _counters().find_one({"owner_id": owner_id})
    if counter is not None and counter.get("holder") is not None:
        return int(counter["seq"]) if counter["holder"] == invoice_id else None
    try:
        taken = await _counters().find_one_and_update(
            {"owner_id": owner_id, "holder": None},
            {"$inc": {"seq": 1}, "$set": {"holder": invoice_id}},
            upsert=True,
            return_document=ReturnDocument.AFTER,
        )
    except DuplicateKeyError:
        return None
    return int(taken["seq"])


async def release(owner_id: OwnerId, invoice_id: OwnerId) -> None:
    """Free the counter once `invoice_id` carries its number (a no-op if it does not hold it)."""
    await _counters().update_one({"owner_id": owner_id, "holder": invoice_id}, {"$set": {"holder": None}})


async def held_counters() -> list[tuple[Any, Any]]:
    """(owner_id, invoice id) of every counter held now: for the worker's recovery."""
    held = _counters().find({"holder": {"$ne": None}}, {"owner_id": 1, "holder": 1})
    return [(counter["owner_id"], counter["holder"]) async for counter in held]


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
    counter = await InvoiceCounter.get_motor_collection().find_one(owned_filter(owner_id))
    return int(counter["seq"]) + 1 if counter else 1
