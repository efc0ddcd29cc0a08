from __future__ import annotations

from litestar import Controller, get
from litestar.params import Parameter

from app.auth.models import Caller
from app.core.roles import Role
from app.http.schemas import CURRENCY_PATTERN
from app.http.tenancy import requires
from app.reports import service
from app.reports.schemas import SummaryOut


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
