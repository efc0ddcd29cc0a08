from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated

import msgspec
from msgspec import UNSET, UnsetType

from app.db.pagination import Page
from app.events.types import EVENT_TYPES
from app.http.mapping import Mapped, Source
from app.http.schemas import BaseStruct, ResponseStruct, component
from app.webhooks.models import WebhookDelivery, WebhookEndpoint

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


class WebhookEndpointOut(ResponseStruct, Mapped):
    id: str
    url: str
    events: list[str]
    description: str
    enabled: bool
    created_at: datetime
    updated_at: datetime

    SOURCE = Source(WebhookEndpoint)


class WebhookEndpointWithSecret(WebhookEndpointOut):
    """Only on creation and on rotate-secret: the signing secret, `whsec_<base64>`."""

    secret: str

    @classmethod
    def with_secret(cls, endpoint: WebhookEndpoint) -> WebhookEndpointWithSecret:
        return cls.from_document(endpoint)


class DeliveryAttempt(ResponseStruct):
    at: datetime
    status_code: int | None
    duration_ms: int
    error: str | None


class WebhookDeliveryOut(ResponseStruct, Mapped):
    id: str
    event_id: str
    event_type: str
    status: DeliveryStatus
    attempts: list[DeliveryAttempt]
    next_attempt_at: datetime | None
    created_at: datetime

    SOURCE = Source(WebhookDelivery, status=DeliveryStatus)


WebhookEndpointPage = Annotated[Page[WebhookEndpointOut], component("WebhookEndpointPage")]
WebhookDeliveryPage = Annotated[Page[WebhookDeliveryOut], component("WebhookDeliveryPage")]
