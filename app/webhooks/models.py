"""Webhook endpoints, their deliveries (one per endpoint and event, with every attempt), and the fan-out
cursor."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from beanie import Document, PydanticObjectId
from pydantic import Field
from pymongo import ASCENDING, IndexModel

from app.db.indexes import sort_index
from app.db.outbox import OUTBOX_INDEX
from app.db.repository import OwnedDocument
from app.events.models import KEEP_SECONDS


class WebhookEndpoint(OwnedDocument):
    url: str
    events: list[str]
    description: str = ""
    enabled: bool = True
    # The signing key, `whsec_<base64>`. Stored as is: signing needs it; never in a response but on creation
    # and rotation.
    secret: str
    # Since when every attempt has failed (None after any success); 5 days of it disables the endpoint.
    failing_since: datetime | None = None
    # "<owner id>:<n>", n below WEBHOOK_ENDPOINTS_MAX: the unique index holds the limit (webhooks/slots.py).
    # None on endpoints stored before the limit (sparse: they are not in the index until given one).
    quota_slot: str | None = None

    class Settings:
        name = "webhook_endpoints"
        indexes = [
            sort_index("owner_created", "created_at"),
            # Partial, not sparse: a document stored with an explicit null slot (older ones) is not in it; a
            # sparse index would hold every null and refuse the second (MongoDB indexes an explicit null).
            IndexModel(
                [("quota_slot", ASCENDING)],
                name="quota_slot_unique",
                unique=True,
                partialFilterExpression={"quota_slot": {"$type": "string"}},
            ),
            IndexModel([("owner_id", ASCENDING), ("enabled", ASCENDING)], name="owner_enabled"),
            OUTBOX_INDEX,  # webhook_endpoint.disabled travels in the endpoint's outbox
        ]


class WebhookDelivery(OwnedDocument):
    endpoint_id: PydanticObjectId
    event_id: str
    event_type: str
    body: str  # the signed JSON, fixed at creation so that every attempt sends the same bytes
    status: str = "pending"  # pending | succeeded | failed
    attempts: list[dict[str, Any]] = Field(default_factory=list)  # {at, status_code, duration_ms, error}
    next_attempt_at: datetime | None = None

    class Settings:
        name = "webhook_deliveries"
        indexes = [
            # One delivery per (endpoint, event): the fan-out may see an event twice, never deliver it twice.
            IndexModel(
                [("endpoint_id", ASCENDING), ("event_id", ASCENDING)],
                name="endpoint_event_unique",
                unique=True,
            ),
            sort_index("owner_endpoint_created", "endpoint_id", "created_at"),  # an endpoint's deliveries
            # The delivery log is kept as long as the events it delivers.
            IndexModel(
                [("created_at", ASCENDING)], name="deliveries_ttl_30d", expireAfterSeconds=KEEP_SECONDS
            ),
        ]


class FanoutCursor(Document):
    """`_id` "webhooks": the feed position (`seq`) of the last event the fan-out turned into deliveries."""

    id: str  # type: ignore[assignment]
    seq: int = 0

    class Settings:
        name = "webhook_fanout"
