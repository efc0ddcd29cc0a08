"""The webhooks' background work: the fan-out from events to deliveries, and the delivery job.

Fan-out (a periodic task, one runner at a time): read the event feed after a stored cursor, create one
delivery per (subscribed endpoint, event) — a unique index makes a second pass a no-op — queue its job, then
move the cursor. A crash anywhere repeats at most the last batch, which the unique keys absorb.

Delivery (job kind `webhook.deliver`, grouped per endpoint so that a slow receiver holds at most a few worker
slots): one attempt per run, recorded in the delivery log; the retry times come from WEBHOOK_RETRY_SCHEDULE.
"""

from __future__ import annotations

import json
import logging
from datetime import datetime, timedelta
from typing import Any

from bson import ObjectId
from pymongo import ReturnDocument
from pymongo.errors import DuplicateKeyError

from app.core.clock import utc_now
from app.core.config import Settings
from app.core.retry import jittered
from app.webhooks.delivery import Attempt, Sender
from app.webhooks.documents import WebhookDelivery, WebhookEndpoint
from app.webhooks.schemas import ALL_EVENTS
from app.worker import PermanentFailure, RetryAt, enqueue, register_handler, retry_now

log = logging.getLogger("orbix.webhooks")

DELIVER = "webhook.deliver"
FANOUT = "webhooks.fanout"
FANOUT_EVERY_SECONDS = 1.0
FANOUT_BATCH = 200
PER_ENDPOINT_CONCURRENCY = 2
DISABLE_AFTER = timedelta(days=5)


def _job_key(delivery_id: Any) -> str:
    return f"{DELIVER}:{delivery_id}"


async def _queue(delivery_id: Any, owner_id: Any, endpoint_id: Any) -> None:
    await enqueue(
        DELIVER,
        {"delivery_id": str(delivery_id)},
        owner_id=owner_id,
        dedupe_key=_job_key(delivery_id),
        group=f"webhook:{endpoint_id}",
    )


async def attempt_now(delivery: WebhookDelivery) -> bool:
    """Make the delivery's job due now (False while a worker is running it)."""
    if await retry_now(_job_key(delivery.id)):
        return True
    from app.worker.jobs import get_by_key

    if await get_by_key(_job_key(delivery.id)) is None:  # never queued (an old delivery): queue it now
        await _queue(delivery.id, delivery.owner_id, delivery.endpoint_id)
        return True
    return False


# ---------------------------------------------------------------- creating deliveries


def event_body(event_id: str, event_type: str, created_at: datetime, data: dict[str, Any]) -> str:
    """The JSON a receiver gets: the event as GET /api/events/{id} shows it."""
    created = created_at.isoformat(timespec="milliseconds").replace("+00:00", "Z")
    return json.dumps(
        {"id": event_id, "type": event_type, "created_at": created, "data": data},
        separators=(",", ":"),
        default=str,
    )


def subscribed(endpoint_events: list[str], event_type: str) -> bool:
    return ALL_EVENTS in endpoint_events or event_type in endpoint_events


async def deliver_event(
    owner_id: Any, event_id: str, event_type: str, created_at: datetime, data: dict[str, Any]
) -> int:
    """One delivery (and its job) for each of the owner's enabled endpoints subscribed to this event.
    Idempotent: running it again for the same event creates nothing new. Returns how many endpoints."""
    endpoints = WebhookEndpoint.get_motor_collection().find(
        {"owner_id": owner_id, "enabled": True, "events": {"$in": [ALL_EVENTS, event_type]}}
    )
    body = event_body(event_id, event_type, created_at, data)
    count = 0
    async for endpoint in endpoints:
        count += 1
        now = utc_now()
        delivery_id = ObjectId()
        try:
            await WebhookDelivery.get_motor_collection().insert_one(
                {
                    "_id": delivery_id,
                    "owner_id": owner_id,
                    "endpoint_id": endpoint["_id"],
                    "event_id": event_id,
                    "event_type": event_type,
                    "body": body,
                    "status": "pending",
                    "attempts": [],
                    "next_attempt_at": now,
                    "created_at": now,
                    "updated_at": now,
                }
            )
        except DuplicateKeyError:  # made by an earlier pass; its job may not be queued yet
            existing = await WebhookDelivery.get_motor_collection().find_one(
                {"endpoint_id": endpoint["_id"], "event_id": event_id}, {"_id": 1}
            )
            if existing is None:
                continue
            delivery_id = existing["_id"]
        await _queue(delivery_id, owner_id, endpoint["_id"])
    return count


# ---------------------------------------------------------------- the delivery job


class DeliveryJob:
    def __init__(self, settings: Settings, sender: Sender) -> None:
        self.schedule = settings.webhook_retry_schedule
        self.sender = sender

    async def __call__(self, payload: dict[str, Any]) -> None:
        deliveries = WebhookDelivery.get_motor_collection()
        delivery = await deliveries.find_one({"_id": ObjectId(payload["delivery_id"])})
        if delivery is None or delivery["status"] != "pending":
            return  # deleted with its endpoint, or already settled (this job ran before a crash)
        endpoint = await WebhookEndpoint.get_motor_collection().find_one(
            {"_id": delivery["endpoint_id"], "owner_id": delivery["owner_id"]}
        )
        if endpoint is None:
            return
        if not endpoint["enabled"]:
            await self._settle(delivery, None, "failed", None)
            raise PermanentFailure("the endpoint is disabled")
        attempt = await self.sender.attempt(
            endpoint["url"], endpoint["secret"], delivery["event_id"], delivery["body"]
        )
        if attempt.succeeded:
            await self._settle(delivery, attempt, "succeeded", None)
            await _endpoint_succeeded(endpoint)
            return
        made = len(delivery["attempts"]) + 1
        retry_at = None
        if made <= len(self.schedule):
            retry_at = utc_now() + timedelta(seconds=jittered(self.schedule[made - 1]))
        await self._settle(delivery, attempt, "pending" if retry_at else "failed", retry_at)
        await _endpoint_failed(endpoint, attempt.at)
        if retry_at is None:
            raise PermanentFailure(f"the last scheduled attempt failed: {attempt.error}")
        raise RetryAt(retry_at, attempt.error or "failed")

    async def _settle(
        self, delivery: dict[str, Any], attempt: Attempt | None, status: str, next_at: datetime | None
    ) -> None:
        operation: dict[str, Any] = {
            "$set": {"status": status, "next_attempt_at": next_at, "updated_at": utc_now()}
        }
        if attempt is not None:
            operation["$push"] = {"attempts": attempt.as_record()}
        await WebhookDelivery.get_motor_collection().update_one({"_id": delivery["_id"]}, operation)


async def _endpoint_succeeded(endpoint: dict[str, Any]) -> None:
    if endpoint.get("failing_since") is not None:
        await WebhookEndpoint.get_motor_collection().update_one(
            {"_id": endpoint["_id"]}, {"$set": {"failing_since": None}}
        )


async def _endpoint_failed(endpoint: dict[str, Any], at: datetime) -> None:
    """Start the failure clock, and disable the endpoint (once, with its event) after 5 days of failures."""
    collection = WebhookEndpoint.get_motor_collection()
    await collection.update_one(
        {"_id": endpoint["_id"], "failing_since": None}, {"$set": {"failing_since": at}}
    )
    now = utc_now()
    disabled = await collection.find_one_and_update(
        {"_id": endpoint["_id"], "enabled": True, "failing_since": {"$lte": now - DISABLE_AFTER}},
        {"$set": {"enabled": False, "updated_at": now}},
        return_document=ReturnDocument.AFTER,
    )
    if disabled is not None:
        log.warning(
            "webhook endpoint disabled after 5 days of failures", extra={"endpoint_id": str(endpoint["_id"])}
        )


def register(settings: Settings) -> None:
    sender = Sender(https_only=settings.is_production, allow_private=settings.webhook_allow_private_urls)
    register_handler(
        DELIVER, DeliveryJob(settings, sender), max_attempts=1000, group_limit=PER_ENDPOINT_CONCURRENCY
    )
