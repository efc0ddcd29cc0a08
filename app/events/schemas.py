from __future__ import annotations

from datetime import datetime
from typing import Any

from app.events.models import Event
from app.http.mapping import Mapped, Source
from app.http.schemas import ActorOut, ResponseStruct


class EventOut(ResponseStruct, Mapped):
    id: str
    type: str
    created_at: datetime
    actor: ActorOut | None  # null on events kept from before it was recorded
    data: dict[str, Any]  # {"object": the resource as the API returned it after the change}

    SOURCE = Source(Event)


class EventPage(ResponseStruct):
    items: list[EventOut]
    has_more: bool
