"""WEBHOOK_ENDPOINTS_MAX: each endpoint holds one of its owner's numbered slots, 0 to the limit − 1, in its
`quota_slot` field ("<owner id>:<n>"), under a unique index. A create reads the slots held, picks a free
one and inserts the endpoint with it: of concurrent creates that pick one slot the index lets one in, the
others look again, so however many run at once the owner ends with at most the limit. Deleting an endpoint
frees its slot with it (nothing to keep in step, nothing to repair after a crash).

An endpoint without a slot (stored before the limit) or above a lowered limit is moved into a free slot
below it before a new one is created, so the endpoints that hold slots are all the owner has.
"""

from __future__ import annotations

import secrets
from typing import Any

from pymongo.errors import DuplicateKeyError

from app.core.errors import QuotaExceeded
from app.db.repository import owned_filter
from app.webhooks.models import WebhookEndpoint

WEBHOOK_ENDPOINTS_MAX = "WEBHOOK_ENDPOINTS_MAX"
# No window frees a slot, only a delete does: a client that retries anyway waits an hour.
FULL_RETRY_AFTER_SECONDS = 3600.0
_random = secrets.SystemRandom()


def slot(owner_id: Any, number: int) -> str:
    return f"{owner_id}:{number}"


def _number(value: Any) -> int | None:
    if not isinstance(value, str):
        return None
    digits = value.rpartition(":")[2]
    return int(digits) if digits.isdigit() else None


async def free_slot(owner_id: Any, limit: int) -> str | None:
    """A free slot for a new endpoint; None after moving the owner's misplaced endpoints (look again);
    429 quota_exceeded when the owner has `limit` endpoints."""
    endpoints = WebhookEndpoint.get_motor_collection()
    held = [found async for found in endpoints.find(owned_filter(owner_id), {"quota_slot": 1})]
    if len(held) >= limit:
        raise QuotaExceeded(
            WEBHOOK_ENDPOINTS_MAX,
            f"At most {limit} webhook endpoints: delete one to create another",
            FULL_RETRY_AFTER_SECONDS,
        )
    numbers = [_number(found.get("quota_slot")) for found in held]
    placed = {number for number in numbers if number is not None and number < limit}
    free = [number for number in range(limit) if number not in placed]
    misplaced = [found for found, number in zip(held, numbers, strict=True) if number not in placed]
    if not misplaced:
        return slot(owner_id, _random.choice(free))
    for found, number in zip(misplaced, _random.sample(free, len(misplaced)), strict=True):
        try:  # conditional on the slot it had: a concurrent move of the same endpoint wins once
            await endpoints.update_one(
                {"_id": found["_id"], "quota_slot": found.get("quota_slot")},
                {"$set": {"quota_slot": slot(owner_id, number)}},
            )
        except DuplicateKeyError:
            pass  # a concurrent create took that slot: the next look finds another
    return None
