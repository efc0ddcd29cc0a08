"""The delivery job and what its outcomes do to the endpoint.

Job kind `webhook.deliver`, one job per delivery, grouped per endpoint: a worker runs at most
PER_ENDPOINT_CONCURRENCY attempts of one endpoint at a time, so a slow or dead receiver holds at most that
many of its slots and every other endpoint's deliveries go on through the rest. One attempt per run,
recorded in the delivery log; the next one comes after the matching delay of WEBHOOK_RETRY_SCHEDULE. Any
success stops the endpoint's failure clock; an endpoint whose attempts have all failed for DISABLE_AFTER is
disabled, with its `webhook_endpoint.disabled` event in the same write (the outbox).
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from bson import ObjectId

from app.config import Settings
from app.core.clock import utc_now
from app.core.retry import jittered
from app.db.outbox import pending, publish
from app.db.repository import update_owned
from app.webhooks.delivery import Attempt, Sender
from app.webhooks.models import WebhookDelivery, WebhookEndpoint
from app.worker import PermanentFailure, RetryAt, enqueue, register_handler, retry_now

log = logging.getLogger("orbix.webhooks")

ATTEMPTS_KEPT = 50  # a delivery keeps its last 50 attempts (docs/webhooks-and-events.md)

DELIVER = "webhook.deliver"
PER_ENDPOINT_CONCURRENCY = 2
DISABLE_AFTER = timedelta(days=5)
DISABLED_EVENT = "webhook_endpoint.disabled"


def _job_key(delivery_id: Any) -> str:
    return f"{DELIVER}:{delivery_id}"


async def queue_delivery(delivery_id: Any, owner_id: Any, endpoint_id: Any) -> bool:
    """Queue the delivery's job (False: it was queued before)."""
    queued = await enqueue(
        DELIVER,
        {"delivery_id": str(delivery_id)},
        owner_id=owner_id,
        dedupe_key=_job_key(delivery_id),
        group=f"webhook:{endpoint_id}",
    )
    return queued is not None


async def attempt_now(delivery: WebhookDelivery) -> bool:
    """Make the delivery's job due now (False while a worker is running it)."""
    if await queue_delivery(delivery.id, delivery.owner_id, delivery.endpoint_id):
        return True  # its job was gone: queued anew
    return await retry_now(_job_key(delivery.id))


class DeliveryJob:
    def __init__(self, settings: Settings, sender: Sender) -> None:
        self.schedule = settings.webhook_retry_schedule
        self.sender = sender

    async def aclose(self) -> None:
        """When a worker stops: close the HTTP client's connections (made again on a later use)."""
        await self.sender.aclose()

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
            skipped = Attempt(
                at=utc_now(), status_code=None, duration_ms=0, error="endpoint disabled: not sent"
            )
            await _settle(delivery, skipped, "failed", None)
            raise PermanentFailure("the endpoint is disabled")
        try:
            attempt = await self.sender.attempt(
                endpoint["url"], endpoint["secret"], delivery["event_id"], delivery["body"]
            )
        except Exception:  # unforeseen: logged here, and a failed attempt in the log, retried on the schedule
            log.exception(
                "webhook delivery attempt failed unexpectedly", extra={"delivery_id": str(delivery["_id"])}
            )
            attempt = Attempt(at=utc_now(), status_code=None, duration_ms=0, error="internal error; not sent")
        if attempt.succeeded:
            await _settle(delivery, attempt, "succeeded", None)
            await _endpoint_succeeded(endpoint)
            return
        made = len(delivery["attempts"]) + 1
        retry_at = None
        if made <= len(self.schedule) and not attempt.permanent:
            retry_at = utc_now() + timedelta(seconds=jittered(self.schedule[made - 1]))
        await _settle(delivery, attempt, "pending" if retry_at else "failed", retry_at)
        await _endpoint_failed(endpoint, attempt.at)
        if attempt.permanent:  # no later attempt can change it (docs/operations.md)
            raise PermanentFailure(f"no attempt can succeed: {attempt.error}")
        if retry_at is None:
            raise PermanentFailure(f"the last scheduled attempt failed: {attempt.error}")
        raise RetryAt(retry_at, attempt.error or "failed")


async def _settle(delivery: dict[str, Any], attempt: Attempt, status: str, next_at: datetime | None) -> None:
    """Record the attempt and the delivery's new state in one write."""
    await WebhookDelivery.get_motor_collection().update_one(
        {"_id": delivery["_id"]},
        {
            "$set": {"status": status, "next_attempt_at": next_at, "updated_at": utc_now()},
            "$push": {"attempts": {"$each": [attempt.as_record()], "$slice": -ATTEMPTS_KEPT}},
        },
    )


async def _endpoint_succeeded(endpoint: dict[str, Any]) -> None:
    if endpoint.get("failing_since") is not None:
        await WebhookEndpoint.get_motor_collection().update_one(
            {"_id": endpoint["_id"]}, {"$set": {"failing_since": None}}
        )


async def _endpoint_failed(endpoint: dict[str, Any], at: datetime) -> None:
    """Start the failure clock (at the first failure since the last success), and disable the endpoint once
    it has run DISABLE_AFTER: one conditional write that also carries the `webhook_endpoint.disabled` event,
    so the endpoint is disabled exactly once and its event exists exactly when it was."""
    await WebhookEndpoint.get_motor_collection().update_one(
        {"_id": endpoint["_id"], "failing_since": None}, {"$set": {"failing_since": at}}
    )
    disabled = await update_owned(
        WebhookEndpoint,
        endpoint["_id"],
        endpoint["owner_id"],
        {"enabled": False},
        where={"enabled": True, "failing_since": {"$lte": utc_now() - DISABLE_AFTER}},
        event=pending(DISABLED_EVENT),
    )
    if disabled is not None:
        log.warning(
            "webhook endpoint disabled after 5 days of failures", extra={"endpoint_id": str(disabled.id)}
        )
        await publish(disabled)


def register(settings: Settings) -> None:
    sender = Sender(https_only=settings.is_production, allow_private=settings.webhook_allow_private_urls)
    register_handler(
        DELIVER, DeliveryJob(settings, sender), max_attempts=1000, group_limit=PER_ENDPOINT_CONCURRENCY
    )
