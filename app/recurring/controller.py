from __future__ import annotations

from beanie import PydanticObjectId
from litestar import Controller, Response, delete, get, patch, post
from litestar.di import Provide
from litestar.params import Parameter

from app.auth.models import Caller
from app.core.errors import Conflict, InvalidReference, InvalidState, raises
from app.core.roles import Role
from app.db.pagination import PageParams, sorted_by
from app.db.versions import Expected
from app.http.pagination import id_filter
from app.http.schemas import created
from app.http.tenancy import requires
from app.recurring import service
from app.recurring.schemas import (
    RecurringInvoiceCreate,
    RecurringInvoiceFilters,
    RecurringInvoiceOut,
    RecurringInvoicePage,
    RecurringInvoiceUpdate,
    ScheduleStatus,
)


def provide_filters(
    status: ScheduleStatus | None = Parameter(default=None, description="Only this status"),
    client_id: str | None = id_filter("client"),
) -> RecurringInvoiceFilters:
    return RecurringInvoiceFilters(status=status, client_id=client_id)


class RecurringInvoiceController(Controller):
    path = "/recurring-invoices"
    tags = ["recurring invoices"]
    dependencies = {"filters": Provide(provide_filters, sync_to_thread=False)}

    @get(
        "/",
        operation_id="listRecurringInvoices",
        opt={**requires(Role.VIEWER, scope="invoices"), **sorted_by(service.SORTS)},
    )
    async def list_schedules(
        self, owner: Caller, page: PageParams, filters: RecurringInvoiceFilters
    ) -> RecurringInvoicePage:
        """The organisation's recurring invoice schedules. Sorts: `next_run_on`, `created_at`."""
        return await service.list_schedules(owner, page, filters)

    @post(
        "/",
        operation_id="createRecurringInvoice",
        opt={**requires(Role.BILLING, scope="invoices"), **raises(InvalidReference)},
    )
    async def create_schedule(
        self, data: RecurringInvoiceCreate, caller: Caller, new_id: PydanticObjectId | None
    ) -> Response[RecurringInvoiceOut]:
        """Create a schedule: from `start_date` (today or later in the organisation's time zone), every
        `interval` × `frequency` until `end_date`, each run makes that period's invoice at the
        organisation's local midnight (a draft, sent, or sent and e-mailed to the client)."""
        schedule = await service.create_schedule(caller, data, new_id)
        return created(RecurringInvoiceOut.from_document(schedule), "/api/recurring-invoices")

    @get(
        "/{schedule_id:str}",
        operation_id="getRecurringInvoice",
        opt=requires(Role.VIEWER, scope="invoices"),
    )
    async def get_schedule(self, schedule_id: str, owner: Caller) -> RecurringInvoiceOut:
        """One schedule."""
        return await service.get_schedule(owner, schedule_id)

    @patch(
        "/{schedule_id:str}",
        operation_id="updateRecurringInvoice",
        opt={**requires(Role.BILLING, scope="invoices"), **raises(InvalidReference, InvalidState, Conflict)},
    )
    async def update_schedule(
        self, schedule_id: str, data: RecurringInvoiceUpdate, caller: Caller, expected: Expected
    ) -> RecurringInvoiceOut:
        """Change the runs to come (invoices already made stay); an ended schedule → 409 invalid_state."""
        schedule = await service.update_schedule(caller, schedule_id, data, expected)
        return RecurringInvoiceOut.from_document(schedule)

    @delete(
        "/{schedule_id:str}",
        operation_id="deleteRecurringInvoice",
        opt={**requires(Role.BILLING, scope="invoices"), **raises(Conflict)},
    )
    async def delete_schedule(self, schedule_id: str, caller: Caller, expected: Expected) -> None:
        """Delete the schedule; the invoices it made stay."""
        await service.delete_schedule(caller, schedule_id, expected)

    @post(
        "/{schedule_id:str}/pause",
        operation_id="pauseRecurringInvoice",
        status_code=200,
        opt={**requires(Role.BILLING, scope="invoices"), **raises(InvalidState)},
    )
    async def pause_schedule(
        self, schedule_id: str, caller: Caller, expected: Expected
    ) -> RecurringInvoiceOut:
        """active → paused: runs that fall while paused are skipped."""
        return RecurringInvoiceOut.from_document(await service.pause_schedule(caller, schedule_id, expected))

    @post(
        "/{schedule_id:str}/resume",
        operation_id="resumeRecurringInvoice",
        status_code=200,
        opt={**requires(Role.BILLING, scope="invoices"), **raises(InvalidState, Conflict)},
    )
    async def resume_schedule(
        self, schedule_id: str, caller: Caller, expected: Expected
    ) -> RecurringInvoiceOut:
        """paused → active; `next_run_on` becomes the first run date on or after today (in the organisation's
        time zone) not billed yet. With no run left before `end_date` the schedule ends instead."""
        return RecurringInvoiceOut.from_document(await service.resume_schedule(caller, schedule_id, expected))
