from __future__ import annotations

from litestar import Controller, get
from litestar.params import Parameter

from app.auth.models import User
from app.http.schemas import CURRENCY_PATTERN
from app.reports import service
from app.reports.schemas import SummaryOut


class ReportController(Controller):
    path = "/reports"
    tags = ["reports"]

    @get("/summary", operation_id="getSummaryReport")
    async def summary(
        self,
        current_user: User,
        currency: str | None = Parameter(
            default=None,
            pattern=CURRENCY_PATTERN,
            description="ISO 4217 code; defaults to the business currency",
        ),
    ) -> SummaryOut:
        """Receivables, revenue and unbilled time in one currency, computed by aggregation."""
        return SummaryOut.from_summary(await service.summary(current_user, currency))
