"""Invoice numbers: a per-user counter bumped atomically, only after a draft was claimed for sending."""

from __future__ import annotations

from pymongo import ReturnDocument
from pymongo.errors import DuplicateKeyError

from app.core.documents import OwnerId, owned_filter
from app.core.retry import compare_and_set
from app.invoices.documents import InvoiceCounter


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


async def peek_seq(owner_id: OwnerId) -> int:
    """The sequence number the next send will take, read and not taken (for the pre-send e-invoice check)."""
    counter = await InvoiceCounter.get_motor_collection().find_one(owned_filter(owner_id))
    return int(counter["seq"]) + 1 if counter else 1
