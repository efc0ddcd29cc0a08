from __future__ import annotations

from typing import Any

from litestar import Controller, Request, get
from litestar.params import Parameter
from litestar.response import ServerSentEvent

from app.auth.models import Caller
from app.core.errors import ValidationFailed, raises
from app.core.roles import Role
from app.events import service
from app.events.live import Live, TooManyStreams
from app.events.schemas import EventOut, EventPage
from app.events.sequencer import published
from app.events.types import EVENT_TYPES
from app.http.tenancy import requires


def _types(types: str | None) -> list[str] | None:
    if not types:
        return None
    wanted = [name.strip() for name in types.split(",") if name.strip()]
    unknown = [name for name in wanted if name not in EVENT_TYPES]
    if unknown:
        raise ValidationFailed.field("types", f"unknown event types: {', '.join(unknown)}")
    return wanted


def _hidden(caller: Caller) -> frozenset[str]:
    """The event types this caller may not see: keys, invitations and endpoints are for admins and owners
    (and never for API keys)."""
    if caller.role.allows(Role.ADMIN) and getattr(caller, "scopes", None) is None:
        return frozenset()
    return service.ADMIN_ONLY_TYPES


class EventController(Controller):
    path = "/events"
    tags = ["events"]

    @get("/", operation_id="listEvents", opt=requires(Role.VIEWER, scope="events"))
    async def list_events(
        self,
        owner: Caller,
        after: str | None = Parameter(
            default=None,
            max_length=64,
            description="The id of the last event seen; omit to start at the oldest",
        ),
        types: str | None = Parameter(
            default=None,
            max_length=2000,
            description="Comma-separated event types, e.g. invoice.paid,invoice.sent",
        ),
        limit: int = Parameter(default=20, ge=1, le=100, description="Page size, 1–100"),
    ) -> EventPage:
        """The caller's events, oldest first. Poll with the id of the last event seen as `after`: every event
        comes exactly once and in order."""
        events, has_more = await service.read_page(
            after, limit, owner_id=owner.id, types=_types(types), hidden=_hidden(owner)
        )
        return EventPage(items=[EventOut.from_document(e) for e in events], has_more=has_more)

    @get(
        "/stream",
        operation_id="streamEvents",
        opt={**requires(Role.VIEWER, scope="events"), **raises(TooManyStreams)},
        media_type="text/event-stream",
    )
    async def stream_events(
        self,
        owner: Caller,
        request: Request[Any, Any, Any],
        after: str | None = Parameter(
            default=None,
            max_length=64,
            description="Replay the events after this one first (the Last-Event-ID header wins over it)",
        ),
        last_event_id: str | None = Parameter(
            header="Last-Event-ID",
            default=None,
            max_length=64,
            description="What an EventSource sends when it reconnects: the id of the last event it received",
        ),
        types: str | None = Parameter(
            default=None,
            max_length=2000,
            description="Comma-separated event types, e.g. invoice.paid,invoice.sent",
        ),
    ) -> ServerSentEvent:
        """Server-Sent Events of the organisation's feed (API.md section 21): each event as `id`, `event`
        (its type) and `data` (the Event JSON); with `Last-Event-ID` or `after`, every event after that one
        first, then live, with no gap and no duplicate. A comment line every 15 s keeps proxies from closing
        it; a final comment says why the server ended it (reconnect with `Last-Event-ID`)."""
        wanted = _types(types)
        cursor = (last_event_id or "").strip() or after
        after_seq = await service.check_cursor(cursor, owner.id) if cursor is not None else None
        live: Live = request.app.state.live
        stream = live.open(owner, request.auth, wanted, _hidden(owner))
        if after_seq is None:  # from now on: what is published now (the tail may not have reached it yet)
            after_seq = await published()
        return ServerSentEvent(live.messages(stream, after_seq))

    @get("/{event_id:str}", operation_id="getEvent", opt=requires(Role.VIEWER, scope="events"))
    async def get_event(self, event_id: str, owner: Caller) -> EventOut:
        """One of the caller's events."""
        return EventOut.from_document(await service.get_event(owner.id, event_id, _hidden(owner)))
