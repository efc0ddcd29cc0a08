from __future__ import annotations

from typing import Annotated

import msgspec

from app.core.money import format_cents
from app.http.schemas import MoneyOut, ResponseStruct
from app.reports.service import Summary

Month = Annotated[
    str,
    msgspec.Meta(
        pattern=r"^\d{4}-\d{2}$", description="YYYY-MM, in the organisation's time zone", examples=["2026-11"]
    ),
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

    @classmethod
    def from_summary(cls, summary: Summary) -> SummaryOut:
        invoices = summary.invoices
        return cls(
            currency=summary.currency,
            outstanding=format_cents(invoices.outstanding),
            overdue=format_cents(invoices.overdue),
            draft=format_cents(invoices.draft),
            paid_last_30_days=format_cents(summary.paid_last_30_days),
            invoices_by_status=InvoiceCounts(**invoices.counts),
            unbilled_seconds=summary.unbilled_seconds,
            unbilled_amount=format_cents(summary.unbilled_cents),
            revenue_by_month=[
                MonthRevenue(month=m, paid=format_cents(c)) for m, c in summary.revenue_by_month
            ],
        )
