"""The fan-out: every event of the feed becomes one delivery per subscribed endpoint of its owner, once.

A periodic task (one runner at a time: the worker's periodic lease) reads the feed after its own cursor, the
`seq` of the last event it handled (`webhook_fanout`), a batch at a time. For each event it inserts one
delivery per enabled endpoint of the event's owner that subscribes to the type and existed when the event
happened, and queues that delivery's job. The unique index on (endpoint_id, event_id) turns a second insert
into a no-op and the job's dedupe key does the same for the job, so a batch handled twice (a crash before the
cursor moved, or a lease that expired under a slow runner) creates nothing twice. Only then the cursor moves,
with `$max` (it never goes back). The feed shows only events under the published watermark, whose numbers are
final, so the cursor never passes an event that commits later.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import msgspec
from bson import ObjectId
from pymongo.errors import DuplicateKeyError

from app.core.clock import as_utc, utc_now
from app.db.actors import acting
from app.db.repository import PRESENT
from app.events import read_since
from app.events.models import Event
from app.events.schemas import EventOut
from app.webhooks.jobs import queue_delivery
from app.webhooks.models import FanoutCursor, WebhookDelivery, WebhookEndpoint
from app.webhooks.schemas import ALL_EVENTS

FANOUT = "webhooks.fanout"
EVERY_SECONDS = 1.0
BATCH = 200
CURSOR_ID = "webhooks"


async def fan_out() -> None:
    """Turn every event after the cursor into deliveries."""
    cursor = await _cursor()
    while events := await read_since(cursor, BATCH):
        endpoints = await _enabled_endpoints({event.owner_id for event in events})
        for event in events:
            for endpoint in endpoints.get(event.owner_id, []):
                if subscribes(endpoint, event):
                    await create_delivery(endpoint, event)
        cursor = int(events[-1].seq or 0)
        await FanoutCursor.get_motor_collection().update_one(
            {"_id": CURSOR_ID}, {"$max": {"seq": cursor}}, upsert=True
        )


async def _cursor() -> int:
    found = await FanoutCursor.get_motor_collection().find_one({"_id": CURSOR_ID})
    return int(found["seq"]) if found else 0


async def _enabled_endpoints(owner_ids: Iterable[Any]) -> dict[Any, list[dict[str, Any]]]:
    found: dict[Any, list[dict[str, Any]]] = {}
    query = {"owner_id": {"$in": list(owner_ids)}, "enabled": True, **PRESENT}
    async for endpoint in WebhookEndpoint.get_motor_collection().find(query):
        found.setdefault(endpoint["owner_id"], []).append(endpoint)
    return found


def subscribes(endpoint: dict[str, Any], event: Event) -> bool:
    """The endpoint wants this type and existed when the event happened (an endpoint made later does not
    receive the feed's past)."""
    wanted = ALL_EVENTS in endpoint["events"] or event.type in endpoint["events"]
    return wanted and as_utc(endpoint["created_at"]) <= as_utc(event.created_at)


def event_body(event: Event) -> str:
    """The JSON a receiver gets: the event exactly as GET /api/events/{id} shows it."""
    return msgspec.json.encode(EventOut.from_document(event)).decode()


async def create_delivery(endpoint: dict[str, Any], event: Event) -> None:
    """The delivery of `event` to `endpoint` and its job. When an earlier pass made the delivery, its job is
    queued again: a no-op unless that pass died between the two writes."""
    deliveries = WebhookDelivery.get_motor_collection()
    now = utc_now()
    delivery_id = ObjectId()
    try:
        await deliveries.insert_one(
            {
                "_id": delivery_id,
                "owner_id": endpoint["owner_id"],
                "endpoint_id": endpoint["_id"],
                "event_id": str(event.id),
                "event_type": event.type,
                "body": event_body(event),
                "status": "pending",
                "attempts": [],
                "next_attempt_at": now,
                "created_at": now,
                "updated_at": now,
                "version": 0,
                "outbox": [],
                "removed": False,
                "created_by": acting().stored(),  # the fan-out runs in the worker: the system
            }
        )
    except DuplicateKeyError:
        existing = await deliveries.find_one(
            {"endpoint_id": endpoint["_id"], "event_id": str(event.id)}, {"_id": 1}
        )
        if existing is None:  # gone with its endpoint meanwhile
            return
        delivery_id = existing["_id"]
    await queue_delivery(delivery_id, endpoint["owner_id"], endpoint["_id"])
