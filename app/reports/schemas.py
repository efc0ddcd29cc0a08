from __future__ import annotations

from typing import Annotated

import msgspec

from app.core.schemas import MoneyOut, ResponseStruct

Month = Annotated[
    str, msgspec.Meta(pattern=r"^\d{4}-\d{2}$", description="YYYY-MM (UTC)", examples=["2026-11"])
]


class InvoiceCounts(ResponseStruct):
    draft: int
    sent: int
    paid: int
    void: int


class MonthRevenue(ResponseStruct):
    month: Month
    paid: MoneyOut


class SummaryOut(ResponseStruct):
    currency: str
    outstanding: MoneyOut
    overdue: MoneyOut
    draft: MoneyOut
    paid_last_30_days: MoneyOut
    invoices_by_status: InvoiceCounts
    unbilled_seconds: int
    unbilled_amount: MoneyOut
    revenue_by_month: list[MonthRevenue]
