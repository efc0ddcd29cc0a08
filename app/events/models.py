"""The events collection and the sequencer's one state document."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from beanie import Document, PydanticObjectId
from mongomock_motor import AsyncMongoMockCollection
from pymongo import ASCENDING, IndexModel
from pymongo.read_concern import ReadConcern
from pymongo.write_concern import WriteConcern

from app.db.actors import Actor

KEEP_SECONDS = 30 * 24 * 3600  # events are kept 30 days (docs/webhooks-and-events.md)


def events_collection() -> Any:
    return _majority(Event.get_motor_collection())


def sequence_collection() -> Any:
    return _majority(EventSequence.get_motor_collection())


def _majority(collection: Any) -> Any:
    """The feed's collections read and write with "majority" on a MongoDB server: a reader sees only numbers
    and a watermark that a failover cannot roll back (the default read concern, "local", could show ones that
    a new primary never had, and a cursor past them would skip). The embedded store is one node (and its
    collections pose as Motor's but have no async `with_options`): as is."""
    if not isinstance(collection, AsyncMongoMockCollection):
        return collection.with_options(
            read_concern=ReadConcern("majority"), write_concern=WriteConcern("majority")
        )
    return collection


class Event(Document):
    """One event. `seq` is absent until the sequencer numbers it (gap-free, in feed order); `pending` is set
    until then. Readers only ever see numbered events up to the published watermark."""

    owner_id: PydanticObjectId
    type: str
    created_at: datetime
    data: dict[str, Any]
    # Who made the change (db/actors.py); None on events kept from before it was recorded.
    actor: Actor | None = None
    seq: int | None = None
    pending: bool | None = None

    class Settings:
        name = "events"
        indexes = [
            # Sparse: unsequenced events carry no seq at all (never null), so they do not collide.
            IndexModel([("seq", ASCENDING)], name="events_seq_unique", unique=True, sparse=True),
            IndexModel([("owner_id", ASCENDING), ("seq", ASCENDING)], name="events_owner_seq"),
            # The feed read with `types`: each type's events in seq order, merged ($in), not every event.
            IndexModel(
                [("owner_id", ASCENDING), ("type", ASCENDING), ("seq", ASCENDING)],
                name="events_owner_type_seq",
            ),
            # The sequencer numbers them in (created_at, _id) order.
            IndexModel(
                [("created_at", ASCENDING), ("_id", ASCENDING)],
                name="events_unnumbered",
                partialFilterExpression={"pending": True},  # only events not numbered yet
            ),
            IndexModel([("created_at", ASCENDING)], name="events_ttl_30d", expireAfterSeconds=KEEP_SECONDS),
        ]


class EventSequence(Document):
    """The sequencer's state (one document, `_id` "events"): who holds the lease until when, and the
    published watermark: every seq up to it exists, so readers never read past it."""

    holder: str | None = None
    lease_until: datetime | None = None
    published: int = 0

    class Settings:
        name = "event_sequence"
