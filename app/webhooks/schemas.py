from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated

import msgspec
from msgspec import UNSET, UnsetType

from app.core.schemas import BaseStruct, Page, ResponseStruct, component
from app.events.types import EVENT_TYPES
from app.webhooks.documents import WebhookDelivery, WebhookEndpoint

ALL_EVENTS = "*"


class DeliveryStatus(StrEnum):
    PENDING = "pending"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


MAX_URL_LENGTH = 2048
Url = Annotated[
    str,
    msgspec.Meta(
        min_length=1,
        max_length=MAX_URL_LENGTH,
        description=(
            "Absolute http(s) URL without credentials; https only in production. An internationalised host"
            " is stored in its IDNA form (`bücher.example` as `xn--bcher-kva.example`)"
        ),
        examples=["https://example.com/orbix-webhooks"],
    ),
]
EventTypes = Annotated[
    list[Annotated[str, msgspec.Meta(min_length=1, max_length=64)]],
    msgspec.Meta(
        min_length=1,
        max_length=len(EVENT_TYPES) + 1,
        description='Event types to receive, or ["*"] for all: ' + ", ".join(EVENT_TYPES),
        examples=[["invoice.paid", "invoice.sent"]],
    ),
]
Description = Annotated[str, msgspec.Meta(max_length=500)]


def checked_event_types(events: list[str]) -> list[str]:
    """Known types or "*" only (for __post_init__); duplicates dropped, order kept."""
    for index, name in enumerate(events):
        if name != ALL_EVENTS and name not in EVENT_TYPES:
            raise ValueError(f"events: unknown event type {name!r} (item {index}); see the list of types")
    return list(dict.fromkeys(events))


class WebhookEndpointCreate(BaseStruct):
    url: Url
    events: EventTypes
    description: Description = ""

    def __post_init__(self) -> None:
        self.events = checked_event_types(self.events)


class WebhookEndpointUpdate(BaseStruct):
    url: Url | UnsetType = UNSET
    events: EventTypes | UnsetType = UNSET
    description: Description | UnsetType = UNSET
    enabled: bool | UnsetType = UNSET

    def __post_init__(self) -> None:
        if self.events is not UNSET:
            self.events = checked_event_types(self.events)


class WebhookEndpointOut(ResponseStruct):
    id: str
    url: str
    events: list[str]
    description: str
    enabled: bool
    created_at: datetime
    updated_at: datetime

    @classmethod
    def from_document(cls, endpoint: WebhookEndpoint) -> WebhookEndpointOut:
        return cls(
            id=str(endpoint.id),
            url=endpoint.url,
            events=list(endpoint.events),
            description=endpoint.description,
            enabled=endpoint.enabled,
            created_at=endpoint.created_at,
            updated_at=endpoint.updated_at,
        )


class WebhookEndpointWithSecret(WebhookEndpointOut):
    """Only on creation and on rotate-secret: the signing secret, `whsec_<base64>`."""

    secret: str

    @classmethod
    def with_secret(cls, endpoint: WebhookEndpoint) -> WebhookEndpointWithSecret:
        shown = WebhookEndpointOut.from_document(endpoint)
        return cls(**msgspec.structs.asdict(shown), secret=endpoint.secret)


class DeliveryAttempt(ResponseStruct):
    at: datetime
    status_code: int | None
    duration_ms: int
    error: str | None


class WebhookDeliveryOut(ResponseStruct):
    id: str
    event_id: str
    event_type: str
    status: DeliveryStatus
    attempts: list[DeliveryAttempt]
    next_attempt_at: datetime | None
    created_at: datetime

    @classmethod
    def from_document(cls, delivery: WebhookDelivery) -> WebhookDeliveryOut:
        return cls(
            id=str(delivery.id),
            event_id=delivery.event_id,
            event_type=delivery.event_type,
            status=DeliveryStatus(delivery.status),
            attempts=[msgspec.convert(attempt, DeliveryAttempt) for attempt in delivery.attempts],
            next_attempt_at=delivery.next_attempt_at,
            created_at=delivery.created_at,
        )


WebhookEndpointPage = Annotated[Page[WebhookEndpointOut], component("WebhookEndpointPage")]
WebhookDeliveryPage = Annotated[Page[WebhookDeliveryOut], component("WebhookDeliveryPage")]
