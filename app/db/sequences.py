"""Gap-free number sequences: a counter per owner, held by one document at a time until it carries its number.

Taking a number and writing it on the document are two writes to two documents. So the counter remembers who
took its current number (`holder`) until the document carries it: `$inc` and `holder` are set in one atomic
update, and only while nobody else holds it. Whoever finds the counter held (the next issue, or the worker's
recovery after a crash) finishes the holder's numbering first: writes the held number on it (if it does not
carry it yet) and frees the counter. A number is therefore never skipped, never given twice.

Invoices (invoices/numbering.py) and credit notes (credit_notes/numbering.py) each keep one such counter
collection of their own and number through `Sequence.take`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, Generic, TypeVar

from beanie import Document
from pymongo import ReturnDocument
from pymongo.errors import DuplicateKeyError

from app.core.errors import Conflict
from app.db.repository import OwnerId

T = TypeVar("T")
# Each lost round means another document took the counter: bounded by the concurrent issues.
ROUNDS = 1000


def format_number(prefix: str, seq: int) -> str:
    """INV-0001 … INV-9999, INV-10000: at least four digits, never truncated."""
    return f"{prefix}{seq:04d}"


def number_slot(seq: int) -> str:
    """The unique (owner_id, number_slot) value of a numbered document: the sequence itself."""
    return f"seq:{seq}"


class Numbered(Generic[T]):
    """How a sequence reads and numbers its documents: `load` one by id (as the numbering needs it),
    `has_number` of what was loaded, `write` the number `seq` on it (a conditional write: False when the
    document changed meanwhile, and the round is run again)."""

    def __init__(
        self,
        load: Callable[[Any], Awaitable[T]],
        has_number: Callable[[T], bool],
        write: Callable[[T, int], Awaitable[bool]],
    ) -> None:
        self.load, self.has_number, self.write = load, has_number, write


class Sequence:
    """One counter collection (a Document with `owner_id` unique, `seq`, `holder`)."""

    def __init__(self, counter: type[Document], what: str) -> None:
        self.counter = counter
        self.what = what  # "invoice", "credit note": in the conflict message

    def _counters(self) -> Any:
        return self.counter.get_motor_collection()

    async def holder(self, owner_id: OwnerId) -> Any:
        """The document that took the owner's current number and may not carry it yet, or None."""
        counter = await self._counters().find_one({"owner_id": owner_id}, {"holder": 1})
        return counter.get("holder") if counter else None

    async def reserve(self, owner_id: OwnerId, holder_id: OwnerId) -> int | None:
        """The number held for `holder_id`: the one it holds already, else the next one (one atomic `$inc`
        that also records the holder, made only while nobody holds the counter; the counter is created on
        first use). None while another document holds it.

        Two first-ever upserts racing can make one fail on the unique owner_id index: that is "held" too, and
        so is an upsert whose filter missed because the counter is held (its insert hits the same index).
        """
        counter = await self._counters().find_one({"owner_id": owner_id})
        if counter is not None and counter.get("holder") is not None:
            return int(counter["seq"]) if counter["holder"] == holder_id else None
        try:
            taken = await self._counters().find_one_and_update(
                {"owner_id": owner_id, "holder": None},
                {"$inc": {"seq": 1}, "$set": {"holder": holder_id}},
                upsert=True,
                return_document=ReturnDocument.AFTER,
            )
        except DuplicateKeyError:
            return None
        return int(taken["seq"])

    async def release(self, owner_id: OwnerId, holder_id: OwnerId) -> None:
        """Free the counter once `holder_id` carries its number (a no-op if it does not hold it)."""
        await self._counters().update_one(
            {"owner_id": owner_id, "holder": holder_id}, {"$set": {"holder": None}}
        )

    async def held(self) -> list[tuple[Any, Any]]:
        """(owner_id, holder id) of every counter held now: for the worker's recovery."""
        held = self._counters().find({"holder": {"$ne": None}}, {"owner_id": 1, "holder": 1})
        return [(counter["owner_id"], counter["holder"]) async for counter in held]

    async def peek(self, owner_id: OwnerId) -> int:
        """The sequence number the next issue will take, read and not taken (for the check before it)."""
        counter = await self._counters().find_one({"owner_id": owner_id})
        return int(counter["seq"]) + 1 if counter else 1

    async def take(self, owner_id: OwnerId, holder_id: OwnerId, numbered: Numbered[Any]) -> None:
        """Give the document `holder_id` its number, if it has none: hold the counter's next number for it (or
        the one it holds already), write it on the document, free the counter. A counter held by another
        document (its issue died, or runs now) is first finished for that one: no number is skipped or given
        twice. Idempotent: the request and the worker's recovery may both run it."""
        for _ in range(ROUNDS):
            document = await numbered.load(holder_id)
            if not numbered.has_number(document):
                seq = await self.reserve(owner_id, holder_id)
                if seq is None:  # another one holds the counter: give that one its number first
                    other = await self.holder(owner_id)
                    if other is not None and other != holder_id:
                        await self.take(owner_id, other, numbered)
                    continue
                if not await numbered.write(document, seq):
                    continue  # the document changed meanwhile: again
            await self.release(owner_id, holder_id)
            return
        raise Conflict(f"Another {self.what} was being numbered; try again")
