from __future__ import annotations

from beanie import PydanticObjectId
from litestar import Controller, Response, delete, get, patch, post
from litestar.di import Provide
from litestar.params import Parameter

from app.auth.models import Caller
from app.core import scopes
from app.core.errors import Conflict, Forbidden, InvalidReference, InvalidState, raises
from app.core.roles import Role
from app.db.pagination import PageParams, sorted_by
from app.db.versions import Expected
from app.http.pagination import id_filter
from app.http.schemas import created
from app.http.tenancy import requires
from app.time_entries import service
from app.time_entries.errors import AlreadyInvoiced, TimerRunning
from app.time_entries.schemas import (
    TimeEntryCreate,
    TimeEntryFilters,
    TimeEntryOut,
    TimeEntryPage,
    TimeEntryUpdate,
    TimerStart,
)

RFC3339 = "RFC 3339 with an offset, e.g. 2026-11-21T10:15:00Z"


def provide_filters(
    user_id: str | None = id_filter("user"),
    project_id: str | None = id_filter("project"),
    client_id: str | None = id_filter("client"),
    started_from: str | None = Parameter(
        query="from", default=None, max_length=64, description=f"started_at ≥ this; {RFC3339}"
    ),
    started_to: str | None = Parameter(
        query="to", default=None, max_length=64, description=f"started_at < this; {RFC3339}"
    ),
    billable: bool | None = Parameter(
        default=None, description="Only billable (true) or non-billable (false)"
    ),
    invoiced: bool | None = Parameter(
        default=None, description="Only entries on an invoice (true) or not (false)"
    ),
    running: bool | None = Parameter(
        default=None, description="Only the running timer (true) or stopped entries"
    ),
) -> TimeEntryFilters:
    return TimeEntryFilters(
        user_id=user_id,
        project_id=project_id,
        client_id=client_id,
        started_from=started_from,
        started_to=started_to,
        billable=billable,
        invoiced=invoiced,
        running=running,
    )


class TimeEntryController(Controller):
    path = "/time-entries"
    tags = ["time-entries"]
    dependencies = {
        "filters": Provide(provide_filters, sync_to_thread=False),
    }

    @get(
        "/",
        operation_id="listTimeEntries",
        opt={**requires(Role.VIEWER, scope="time_entries"), **sorted_by(service.SORTS)},
    )
    async def list_entries(self, owner: Caller, page: PageParams, filters: TimeEntryFilters) -> TimeEntryPage:
        """The organisation's time entries (`user_id`: one user's). Sort by `started_at`, `created_at` or
        `duration_seconds`."""
        return (await service.list_entries(owner, page, filters)).map(TimeEntryOut.from_document)

    @post(
        "/",
        operation_id="createTimeEntry",
        opt={**requires(Role.MEMBER, scope="time_entries"), **raises(InvalidReference, InvalidState)},
    )
    async def create_entry(
        self, data: TimeEntryCreate, caller: Caller, new_id: PydanticObjectId | None
    ) -> Response[TimeEntryOut]:
        """Log a finished stretch of work (ended_at after started_at, at most 24 h)."""
        return created(
            TimeEntryOut.from_document(await service.create_entry(caller, data, new_id)),
            "/api/time-entries",
        )

    @post(
        "/start",
        operation_id="startTimer",
        opt={
            **requires(Role.MEMBER, scope=scopes.NO_KEY),
            **raises(InvalidReference, InvalidState, TimerRunning),
        },
    )
    async def start_timer(
        self, data: TimerStart, caller: Caller, new_id: PydanticObjectId | None
    ) -> Response[TimeEntryOut]:
        """Start the caller's one running timer in the organisation (409 timer_running if one runs)."""
        return created(
            TimeEntryOut.from_document(await service.start_timer(caller, data, new_id)),
            "/api/time-entries",
        )

    @get("/{entry_id:str}", operation_id="getTimeEntry", opt=requires(Role.VIEWER, scope="time_entries"))
    async def get_entry(self, entry_id: str, owner: Caller) -> TimeEntryOut:
        """One time entry."""
        return TimeEntryOut.from_document(await service.get_entry(owner, entry_id))

    @patch(
        "/{entry_id:str}",
        operation_id="updateTimeEntry",
        opt={
            **requires(Role.MEMBER, scope="time_entries"),
            **raises(Forbidden, InvalidReference, InvalidState, AlreadyInvoiced, Conflict),
        },
    )
    async def update_entry(
        self, entry_id: str, data: TimeEntryUpdate, caller: Caller, expected: Expected
    ) -> TimeEntryOut:
        """Change some fields of an entry not yet invoiced (else 409 already_invoiced); a member, their own
        only (else 403 forbidden)."""
        return TimeEntryOut.from_document(await service.update_entry(caller, entry_id, data, expected))

    @delete(
        "/{entry_id:str}",
        operation_id="deleteTimeEntry",
        opt={**requires(Role.MEMBER, scope="time_entries"), **raises(Forbidden, AlreadyInvoiced, Conflict)},
    )
    async def delete_entry(self, entry_id: str, caller: Caller, expected: Expected) -> None:
        """Delete an entry not yet invoiced (else 409 already_invoiced); a running one is discarded. A member,
        their own only (else 403 forbidden)."""
        await service.delete_entry(caller, entry_id, expected)

    @post(
        "/{entry_id:str}/stop",
        operation_id="stopTimer",
        status_code=200,
        opt={**requires(Role.MEMBER, scope="time_entries"), **raises(Forbidden, InvalidState, Conflict)},
    )
    async def stop_timer(self, entry_id: str, caller: Caller, expected: Expected) -> TimeEntryOut:
        """Stop a running timer (409 invalid_state if not running); over 24 h is capped at 24 h. A member,
        their own only (else 403 forbidden)."""
        return TimeEntryOut.from_document(await service.stop_timer(caller, entry_id, expected))
