"""Invoice numbers: a per-user counter bumped atomically, only after a draft was claimed for sending."""

from __future__ import annotations

import logging

from pymongo import ASCENDING, ReturnDocument
from pymongo.errors import DuplicateKeyError

from app.core.documents import OwnerId, owned_filter
from app.core.retry import compare_and_set
from app.invoices.documents import Invoice, InvoiceCounter

log = logging.getLogger("orbix.invoices")

# Numbers are unique per owner. Partial on string numbers (drafts have none): valid on MongoDB 7, where a
# partial index may only use $type/$exists/equality/... in its filter, and enforced by mongomock on writes.
# Not declared on the Document: init_beanie would fail start-up over stored duplicates (see below). Made
# with create_index, whose options mongomock keeps (its create_indexes drops partialFilterExpression).
UNIQUE_NUMBER_KEYS = [("owner_id", ASCENDING), ("number", ASCENDING)]
UNIQUE_NUMBER_INDEX = "owner_id_number_unique"


def format_number(prefix: str, seq: int) -> str:
    """INV-0001 … INV-9999, INV-10000: at least four digits, never truncated."""
    return f"{prefix}{seq:04d}"


def number_slot(seq: int) -> str:
    """The unique (owner_id, number_slot) value of a numbered invoice: the sequence itself."""
    return f"seq:{seq}"


async def next_seq(owner_id: OwnerId) -> int:
    """The owner's next sequence number: one atomic $inc on the counter document (created on first use).

    Two first-ever upserts racing on MongoDB can make one fail on the unique owner_id index; the retry
    then finds the document and increments it.
    """
    counters = InvoiceCounter.get_motor_collection()

    async def attempt() -> int | None:
        try:
            counter = await counters.find_one_and_update(
                owned_filter(owner_id),
                {"$inc": {"seq": 1}},
                upsert=True,
                return_document=ReturnDocument.AFTER,
            )
        except DuplicateKeyError:
            return None
        return int(counter["seq"])

    return await compare_and_set(attempt, "Could not take the next invoice number; try again")


async def ensure_unique_numbers() -> bool:
    """Create the unique (owner_id, number) index; False, with one log line naming them, if stored invoices
    already share a number (they predate the prefix rule): the API still starts and serves them."""
    invoices = Invoice.get_motor_collection()
    try:
        await invoices.create_index(
            UNIQUE_NUMBER_KEYS,
            name=UNIQUE_NUMBER_INDEX,
            unique=True,
            partialFilterExpression={"number": {"$type": "string"}},
        )
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
