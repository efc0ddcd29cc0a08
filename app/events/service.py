"""The feed: sequenced events in order, read with a cursor; and events not tied to a document write."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, cast

from bson import ObjectId

from app.core.clock import utc_now
from app.core.errors import NotFound, ValidationFailed
from app.db.actors import acting
from app.db.repository import OwnerId, parse_object_id
from app.events.models import Event, events_collection
from app.events.sequencer import SEQUENCER, published
from app.events.types import EVENT_TYPES


def _visible(owner_id: OwnerId, watermark: int) -> dict[str, Any]:
    """Sequenced events up to the watermark (all written before it was), of one owner or of all."""
    query: dict[str, Any] = {"seq": {"$lte": watermark}}
    if owner_id is not None:
        query["owner_id"] = owner_id
    return query


async def _cursor_seq(after: str, owner_id: OwnerId, watermark: int) -> int:
    oid = parse_object_id(after)
    found = None
    if oid is not None:
        found = await events_collection().find_one({"_id": oid, **_visible(owner_id, watermark)}, {"seq": 1})
    if found is None:
        raise ValidationFailed.field("after", "names no event that is kept (events are kept 30 days)")
    return int(found["seq"])


async def check_cursor(after: str, owner_id: OwnerId) -> int:
    """The seq of the kept, visible event `after` of this owner; 400 when it names none."""
    return await _cursor_seq(after, owner_id, await published())


ADMIN_ONLY_PREFIXES = ("api_key.", "invitation.", "webhook_endpoint.")
# Events only admins and owners see (API.md section 15): who was invited, keys, endpoints.
ADMIN_ONLY_TYPES = frozenset(t for t in EVENT_TYPES if t.startswith(ADMIN_ONLY_PREFIXES))


async def read_page(
    after: str | None,
    limit: int,
    *,
    owner_id: OwnerId = None,
    types: Sequence[str] | None = None,
    hidden: frozenset[str] = frozenset(),
) -> tuple[list[Event], bool]:
    """Up to `limit` events after the event `after` (from the oldest kept one without it), in feed order,
    and whether more follow; never one of the `hidden` types. 400 when `after` names no kept event (of this
    owner, when one is given)."""
    watermark = await published()
    query = _visible(owner_id, watermark)
    if after is not None:
        query["seq"]["$gt"] = await _cursor_seq(after, owner_id, watermark)
    if types:
        query["type"] = {"$in": [t for t in types if t not in hidden]}
    elif hidden:
        query["type"] = {"$nin": sorted(hidden)}
    raw = await events_collection().find(query).sort("seq", 1).limit(limit + 1).to_list(limit + 1)
    events = [Event.model_validate(item) for item in raw[:limit]]
    return events, len(raw) > limit


async def read_owner_since(
    seq: int,
    limit: int,
    *,
    owner_id: OwnerId,
    types: Sequence[str] | None = None,
    hidden: frozenset[str] = frozenset(),
) -> tuple[list[Event], bool]:
    """Like `read_page`, from a feed position (`seq`) rather than an event id: the replay of a live stream."""
    watermark = await published()
    if watermark <= seq:
        return [], False
    query = _visible(owner_id, watermark)
    query["seq"]["$gt"] = seq
    if types:
        query["type"] = {"$in": [t for t in types if t not in hidden]}
    elif hidden:
        query["type"] = {"$nin": sorted(hidden)}
    raw = await events_collection().find(query).sort("seq", 1).limit(limit + 1).to_list(limit + 1)
    return [Event.model_validate(item) for item in raw[:limit]], len(raw) > limit


async def read_after(
    after: str | None, limit: int, *, owner_id: OwnerId = None, types: Sequence[str] | None = None
) -> list[Event]:
    """Events after `after` in feed order (owner_id None: every user's), for cursors such as the webhook
    fan-out. A cursor that reads them one page after another never skips or repeats one."""
    events, _ = await read_page(after, limit, owner_id=owner_id, types=types)
    return events


async def read_since(seq: int, limit: int) -> list[Event]:
    """Every user's events numbered after `seq`, in feed order, up to the published watermark: a consumer
    that keeps the last `seq` it handled (the webhook fan-out) never skips or repeats one, and its cursor
    stays valid when that event expires."""
    watermark = await published()
    if watermark <= seq:
        return []  # nothing new: no query (the fan-out asks every second)
    query = {"seq": {"$gt": seq, "$lte": watermark}}
    raw = await events_collection().find(query).sort("seq", 1).limit(limit).to_list(limit)
    return [Event.model_validate(item) for item in raw]


async def get_event(owner_id: OwnerId, event_id: str, hidden: frozenset[str] = frozenset()) -> Event:
    oid = parse_object_id(event_id)
    found = None
    if oid is not None:
        query = {"_id": oid, **_visible(owner_id, await published())}
        if hidden:
            query["type"] = {"$nin": sorted(hidden)}
        found = await events_collection().find_one(query)
    if found is None:
        raise NotFound(f"No event with id {event_id!r}" if oid else "No such resource")
    return cast(Event, Event.model_validate(found))


async def emit(owner_id: OwnerId, type: str, obj: dict[str, Any]) -> ObjectId:
    """Record an event that no document write carries (e.g. webhook_endpoint.disabled): one insert, so it
    exists exactly when this call succeeded; then sequence it. Its actor is the operation's (db/actors.py).
    Returns the event id."""
    if type not in EVENT_TYPES:
        raise ValueError(f"unknown event type {type!r}")
    event_id = ObjectId()
    await events_collection().insert_one(
        {
            "_id": event_id,
            "owner_id": owner_id,
            "type": type,
            "created_at": utc_now(),
            "data": {"object": obj},
            "actor": acting().stored(),
            "pending": True,
        }
    )
    await SEQUENCER.kick()
    return event_id
