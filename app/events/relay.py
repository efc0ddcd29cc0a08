"""The relay: moves a document's pending events to the events collection, then sequences them.

Idempotent at every step, so the request that made the change and the worker's recovery may both run it,
and either may die anywhere: the insert is keyed by the event id (a second insert is a duplicate, skipped),
the pull removes only the ids just copied, and a tombstoned document is removed only once its outbox is
empty. The object in an event is the document as the relay finds it: the state right after the change, or
a later one if another write to the same document came first (the last event of a document always carries
its current state). A document's events keep the order of its outbox, which is the order of its writes.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from functools import partial
from typing import Any

from beanie import Document
from pymongo.errors import DuplicateKeyError

from app.core.clock import in_zone, utc_now
from app.db.outbox import OUTBOX, PendingEvent
from app.db.recovery import RecoveryPass, waits_on
from app.events.models import events_collection
from app.events.sequencer import SEQUENCER
from app.events.sources import source_of, sources

log = logging.getLogger("orbix.events")

TICK = timedelta(milliseconds=1)
# Recovery leaves pending events alone this long: the request that wrote them may still be finishing.
RECOVERY_GRACE = timedelta(seconds=60)


async def copy_to_events(document: Document) -> list[Any]:
    """Insert `document`'s pending events into the events collection (unsequenced); their ids."""
    source = source_of(type(document))
    entries: list[PendingEvent] = list(getattr(document, OUTBOX, []))
    snapshot: dict[str, Any] | None = None
    events = events_collection()
    previous = None
    for entry in entries:
        # Strictly increasing within a document, so the sequencer keeps its writes' order.
        created = entry.at if previous is None or entry.at > previous else previous + TICK
        previous = created
        if entry.object is None and snapshot is None:
            # An invoice's snapshot says whether it is overdue today in its organisation's zone: one read of
            # that zone, after the answer (or in the worker), never on the request's path.
            zone = await source.zone(source.owner_of(document)) if source.zone is not None else None
            with in_zone(zone):
                snapshot = {"object": source.snapshot(document)}
        try:
            await events.insert_one(
                {
                    "_id": entry.id,
                    "owner_id": entry.owner or source.owner_of(document),
                    "type": entry.type,
                    "created_at": created,
                    "data": snapshot if entry.object is None else {"object": entry.object},
                    "actor": entry.actor.stored() if entry.actor else None,
                    "pending": True,
                }
            )
        except DuplicateKeyError:
            pass  # already copied by another relay
    return [entry.id for entry in entries]


async def relay(document: Document) -> None:
    """Copy, then pull the copied events from the document (a tombstone is removed instead: its events
    are out, and a crash before the removal leaves them pending, so recovery finds it again), then
    sequence."""
    collection = type(document).get_motor_collection()
    ids = await copy_to_events(document)
    if getattr(document, "removed", False):
        await collection.delete_one({"_id": document.id, "removed": True})
    elif ids:
        await collection.update_one({"_id": document.id}, {"$pull": {OUTBOX: {"id": {"$in": ids}}}})
    await SEQUENCER.kick()


async def recover_outboxes(cutoff: datetime | None = None, recovery: RecoveryPass | None = None) -> int:
    """The worker's safety net: relay the events older than `cutoff` (default: RECOVERY_GRACE ago) that
    requests left behind (they died, or their relay failed). Each document on its own (db/recovery.py:
    one that failed an earlier step of the pass, or waits on one that did, keeps its events for the next
    pass). Returns how many documents it relayed."""
    cutoff = cutoff or utc_now() - RECOVERY_GRACE
    recovery = recovery or RecoveryPass()
    count = 0
    for source in sources():
        collection = source.model.get_motor_collection()
        query = {f"{OUTBOX}.at": {"$lte": cutoff}}
        async for raw in collection.find(query):
            step = partial(relay_raw, source.model, raw)
            if await recovery.item(
                "relay the events of", collection.name, raw["_id"], step, waits_on=waits_on(raw)
            ):
                count += 1
    await SEQUENCER.run()
    return count


async def relay_raw(model: type[Document], raw: dict[str, Any]) -> bool:
    """relay() a document as read raw (read into its model here, so one that cannot be read fails on its
    own); True once relayed."""
    await relay(model.model_validate(raw))
    return True
