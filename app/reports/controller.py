from __future__ import annotations

from litestar import Controller, get
from litestar.params import Parameter

from app.auth.models import Caller
from app.core.roles import Role
from app.http.schemas import CURRENCY_PATTERN
from app.http.tenancy import requires
from app.reports import service
from app.reports.schemas import AgingOut, SummaryOut


class ReportController(Controller):
    path = "/reports"
    tags = ["reports"]

    @get("/summary", operation_id="getSummaryReport", opt=requires(Role.VIEWER, scope="reports"))
    async def summary(
        self,
        caller: Caller,
        currency: str | None = Parameter(
            default=None,
            pattern=CURRENCY_PATTERN,
            description="ISO 4217 code; defaults to the business currency",
        ),
    ) -> SummaryOut:
        """Receivables, revenue and unbilled time in one currency, computed by aggregation."""
        return SummaryOut.from_summary(await service.summary(caller, currency))

    @get("/aging", operation_id="getAgingReport", opt=requires(Role.VIEWER, scope="reports"))
    async def aging(
        self,
        caller: Caller,
        currency: str | None = Parameter(
            default=None, pattern=CURRENCY_PATTERN, description="ISO 4217 code; keeps that currency only"
        ),
    ) -> AgingOut:
        """The amount due of sent invoices by days past due (in the organisation's time zone), per currency
        and per client: `current` (not yet due), 1-30, 31-60, 61-90 and over 90 days."""
        return AgingOut.from_aging(await service.aging(caller, currency))
