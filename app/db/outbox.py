"""The transactional outbox: an event travels inside the document it describes until it is relayed.

MongoDB makes one write to one document atomic, and Orbix uses nothing bigger (the embedded store has no
multi-document transactions). So the write that changes a document also appends its pending event to that
same document's `outbox` array, in the same update: the change and its event commit together or not at all.
A relay (the events area) later copies pending events to the events collection, keyed by the event id so a
repeated copy is a no-op, and only then pulls them from the document. An undo (a write that turned out to be
invalid) pulls its own pending event in the same update that puts the old values back: no event leaves for
a change that did not stand.

core/ imports no area, so the events area installs the function that relays a document (`install`).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime
from typing import Any

from beanie import Document, PydanticObjectId
from bson import ObjectId
from pydantic import BaseModel
from pymongo import ASCENDING, IndexModel

from app.core.clock import utc_now

OUTBOX = "outbox"
# Every document type with an outbox carries this index, so recovery finds documents left with pending events.
OUTBOX_INDEX = IndexModel([("outbox.at", ASCENDING)], name="outbox_pending_at", sparse=True)


class PendingEvent(BaseModel):
    """An event not yet relayed: its id (the future event id), type and the moment of the change."""

    id: PydanticObjectId
    type: str
    at: datetime
    # Set on a time entry's claim by an invoice not inserted yet: the event leaves only once it stands.
    claim: PydanticObjectId | None = None


def pending(event_type: str) -> dict[str, Any]:
    """A new pending event, as stored in a document's `outbox`."""
    return {"id": ObjectId(), "type": event_type, "at": utc_now()}


def with_event(operation: Mapping[str, Any], event: Mapping[str, Any]) -> dict[str, Any]:
    """`operation` (an update document) that also appends `event` to the outbox, in the same write."""
    pushed = {**operation.get("$push", {}), OUTBOX: dict(event)}
    return {**operation, "$push": pushed}


def without_event(operation: Mapping[str, Any], event_id: ObjectId) -> dict[str, Any]:
    """`operation` that also drops the pending event `event_id` (an undo takes its event back with it)."""
    pulled = {**operation.get("$pull", {}), OUTBOX: {"id": event_id}}
    return {**operation, "$pull": pulled}


Relay = Callable[[Document], Awaitable[None]]
_relay: list[Relay] = []


def install(relay: Relay) -> None:
    """Set the function that moves a document's pending events to the feed (the events area's)."""
    _relay[:] = [relay]


async def publish(document: Document) -> None:
    """After an operation committed: move `document`'s pending events to the feed now (best effort: when
    this fails or the process dies first, the worker's recovery moves them later)."""
    if _relay and getattr(document, OUTBOX, None):
        await _relay[0](document)
