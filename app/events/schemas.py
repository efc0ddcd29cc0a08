from __future__ import annotations

from datetime import datetime
from typing import Any

from app.core.schemas import ResponseStruct
from app.events.documents import Event


class EventOut(ResponseStruct):
    id: str
    type: str
    created_at: datetime
    data: dict[str, Any]  # {"object": the resource as the API returned it after the change}

    @classmethod
    def from_document(cls, event: Event) -> EventOut:
        return cls(id=str(event.id), type=event.type, created_at=event.created_at, data=event.data)


class EventPage(ResponseStruct):
    items: list[EventOut]
    has_more: bool
