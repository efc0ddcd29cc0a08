"""The transactional outbox: an event travels inside the document it describes until it is relayed.

MongoDB makes one write to one document atomic, and Orbix uses nothing bigger (the embedded store has no
multi-document transactions). So the write that changes a document also appends its pending event to that
same document's `outbox` array, in the same update: the change and its event commit together or not at all.
A relay (the events area) later copies pending events to the events collection, keyed by the event id so a
repeated copy is a no-op, and only then pulls them from the document. An undo (a write that turned out to be
invalid) pulls its own pending event in the same update that puts the old values back: no event leaves for
a change that did not stand.

db/ imports no area, so the events area installs the function that relays a document (`install`).

A request relays after its answer (`RelayAfterAnswer` at the HTTP edge opens `relaying_after_answer`): the
answer waits only for the write, its event and the write committing together; `publish` then notes the
document, and the edge relays what was noted once the answer has gone out (re-reading each document, so the
relay copies every event it holds by then). A client reads its write's event in the feed a moment after the
answer; the worker's recovery relays what a process could not (it died, or its relay failed).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import datetime
from typing import Any

from beanie import Document, PydanticObjectId
from bson import ObjectId
from pydantic import BaseModel
from pymongo import ASCENDING, IndexModel

from app.core.clock import utc_now
from app.db.actors import Actor, acting

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
    # Set when the event is not about the document that carries it as the API shows that document: its
    # organisation (else the document's `owner_id`) and its object (else the document's snapshot). A
    # membership lives on its user's document, but `member.*` belongs to the organisation.
    owner: PydanticObjectId | None = None
    object: dict[str, Any] | None = None
    # Who made the change (db/actors.py); None on events pending since before it was recorded.
    actor: Actor | None = None


def pending(
    event_type: str, *, owner: ObjectId | None = None, about: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """A new pending event, as stored in a document's `outbox`, by the actor of the operation (`owner` and
    `about`: see PendingEvent)."""
    event: dict[str, Any] = {
        "id": ObjectId(),
        "type": event_type,
        "at": utc_now(),
        "actor": acting().stored(),
    }
    if owner is not None:
        event["owner"] = owner
    if about is not None:
        event["object"] = dict(about)
    return event


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


log = logging.getLogger("orbix.events")
# The documents noted for a relay after the answer, by (model, id), in the order noted.
Noted = dict[tuple[type[Document], Any], None]
_noted: ContextVar[Noted | None] = ContextVar("relay_noted", default=None)


async def publish(document: Document) -> None:
    """After an operation committed: move `document`'s pending events to the feed, now, or once the answer
    has gone out inside `relaying_after_answer` (best effort: when this fails or the process dies first, the
    worker's recovery moves them later)."""
    if not _relay or not getattr(document, OUTBOX, None):
        return
    noted = _noted.get()
    if noted is None:
        await _relay[0](document)
    else:
        noted[(type(document), document.id)] = None


@contextmanager
def relaying_after_answer() -> Iterator[Callable[[], Awaitable[None]]]:
    """While inside, `publish` notes documents; the function this yields relays them (call it once the
    answer has gone out). Each is read again first: its outbox as it is now, and a tombstone still there."""
    noted: Noted = {}
    token = _noted.set(noted)

    async def relay_noted() -> None:
        for model, oid in list(noted):
            try:
                raw = await model.get_motor_collection().find_one({"_id": oid})
                if raw is not None and raw.get(OUTBOX):
                    await _relay[0](model.model_validate(raw))
            except Exception:  # the answer is out: the worker's recovery relays it later
                log.warning("events of %s %s not relayed yet", model.__name__, oid, exc_info=True)

    try:
        yield relay_noted
    finally:
        _noted.reset(token)
