"""The worker's recovery of invoice operations a crash cut short (API.md section 14). Each step it runs is
the same idempotent step the request runs, so it may overlap a request still in flight. Each stuck item is
finished on its own (API.md section 24): one that cannot be is logged with its id and skipped, the others
go on, and the next pass tries it again."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import datetime
from functools import partial
from typing import Any

from app.auth.documents import User
from app.core.documents import PRESENT
from app.core.outbox import OUTBOX
from app.invoices import lifecycle, numbering
from app.invoices.documents import Invoice
from app.time_entries import claims

log = logging.getLogger("orbix.recovery")


async def recover_invoices(cutoff: datetime) -> None:
    await _finish_sends(cutoff)
    await _settle_claims(cutoff)
    await _finish_releases(cutoff)


async def _finish_sends(cutoff: datetime) -> None:
    """A send that claimed its draft but died before it was complete is finished: the number held for it
    (or the next one), the document, the event; the oldest claim first. A counter still held is finished
    for its holder."""
    stuck = Invoice.get_motor_collection().find({"sending_at": {"$lte": cutoff}}, {"owner_id": 1})
    for raw in [raw async for raw in stuck.sort([("sending_at", 1), ("_id", 1)])]:
        finish = partial(_finish_send, raw["owner_id"], raw["_id"])
        await _isolated("finish the send of invoice", raw["_id"], finish)
    for owner_id, invoice_id in await numbering.held_counters():
        await _isolated("number invoice", invoice_id, partial(_take_number, owner_id, invoice_id))


async def _finish_send(owner_id: Any, invoice_id: Any) -> None:
    await lifecycle.finish_send(await _owner(owner_id), invoice_id)


async def _take_number(owner_id: Any, invoice_id: Any) -> None:
    await lifecycle.take_number(await _owner(owner_id), invoice_id)


async def _settle_claims(cutoff: datetime) -> None:
    """Entries claimed by an invoicing request that died (or ran past its deadline): their events leave if
    the invoice stands, else the claims are undone with their events."""
    for owner_id, invoice_id in await claims.unconfirmed_claims(cutoff):
        settle = partial(_settle_claim, owner_id, invoice_id)
        await _isolated("settle the time entries claimed by invoice", invoice_id, settle)


async def _settle_claim(owner_id: Any, invoice_id: Any) -> None:
    if await _standing(invoice_id):
        await claims.publish_claims(owner_id, invoice_id)
    else:
        await claims.release(owner_id, invoice_id)


async def _finish_releases(cutoff: datetime) -> None:
    """Entries still claimed by a void invoice (still marked `releasing_at`) or by a deleted one (its
    tombstone still waits for its event to leave) are released: the void or delete died before releasing
    them. A tombstone is taken whatever its age (releasing twice is harmless), so the relay that runs after
    this never removes one whose entries are still claimed."""
    tombstone = {"removed": True, f"{OUTBOX}.at": {"$exists": True}}
    query = {"$or": [{"releasing_at": {"$lte": cutoff}}, tombstone]}
    found = Invoice.get_motor_collection().find(query, {"owner_id": 1})
    for raw in [raw async for raw in found]:
        release = partial(lifecycle.release_entries, raw["owner_id"], raw["_id"])
        await _isolated("release the time entries of invoice", raw["_id"], release)


async def _standing(invoice_id: Any) -> bool:
    """The invoice exists, is not being deleted and is not void: it may hold time entries."""
    query = {"_id": invoice_id, **PRESENT, "status": {"$ne": "void"}}
    return await Invoice.get_motor_collection().find_one(query, {"_id": 1}) is not None


async def _owner(owner_id: Any) -> User:
    user = await User.get(owner_id)
    assert user is not None, f"invoice owner {owner_id} is gone"
    return user


async def _isolated(what: str, item_id: Any, step: Callable[[], Awaitable[object]]) -> bool:
    """Run one item's `step`; when it raises, log `what` with the item's id and skip it (False): one item
    that cannot be finished (an invoice that cannot be rendered) must not keep the others waiting. Only an
    Exception is caught: a cancellation (shutdown) or a dying process still ends the pass."""
    try:
        await step()
    except Exception as exc:
        log.error(
            "recovery could not %s %s; skipped until the next pass: %s",
            what,
            item_id,
            f"{type(exc).__name__}: {exc}"[:500],
            exc_info=True,
            extra={"recovery_step": what, "item_id": str(item_id)},
        )
        return False
    return True
