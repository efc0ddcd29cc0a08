"""The worker's recovery of credit notes whose issue a crash cut short (credit_notes/service.py): each is
finished by the same idempotent steps the request runs, or, when its invoice refuses it (voided, or credited
meanwhile by another note), deleted. Each stuck item on its own (db/recovery.py)."""

from __future__ import annotations

import logging
from datetime import datetime
from functools import partial
from typing import Any

from app.core.errors import AppError
from app.credit_notes import service
from app.credit_notes.models import CreditNote
from app.credit_notes.numbering import SEQUENCE
from app.db.recovery import RecoveryPass
from app.organizations import service as organizations

log = logging.getLogger("orbix.recovery")


def _collection() -> str:
    return str(CreditNote.get_motor_collection().name)


async def recover_credit_notes(cutoff: datetime, recovery: RecoveryPass | None = None) -> None:
    """Every note still marked `issuing_at` before `cutoff`, oldest first; then every counter still held."""
    recovery = recovery or RecoveryPass()
    stuck = CreditNote.get_motor_collection().find({"issuing_at": {"$lte": cutoff}}, {"owner_id": 1})
    for raw in [raw async for raw in stuck.sort([("issuing_at", 1), ("_id", 1)])]:
        finish = partial(_finish, raw.get("owner_id"), raw["_id"])
        await recovery.item("finish the issue of credit note", _collection(), raw["_id"], finish)
    for owner_id, note_id in await SEQUENCE.held():
        take = partial(_take_number, owner_id, note_id)
        await recovery.item("number credit note", _collection(), note_id, take)


async def _finish(owner_id: Any, note_id: Any) -> None:
    books = await organizations.books(owner_id)
    if books is None:  # its organisation was deleted meanwhile: nobody can read it any more
        log.warning("credit note %s was being issued when its organization was deleted: left", note_id)
        await service.abandon(owner_id, note_id)
        return
    try:
        await service.finish(books, note_id)
    except AppError as refused:  # its invoice refused it: `finish` deleted the note, nothing was credited
        log.info("credit note %s was not issued: %s", note_id, refused.detail)


async def _take_number(owner_id: Any, note_id: Any) -> None:
    books = await organizations.books(owner_id)
    if books is None:
        await SEQUENCE.release(owner_id, note_id)
        return
    await SEQUENCE.take(owner_id, note_id, service.numbered(books))
