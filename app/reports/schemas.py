from __future__ import annotations

from typing import Annotated

import msgspec

from app.core.money import format_cents
from app.http.schemas import MoneyOut, ResponseStruct
from app.reports.service import AgingRow, CurrencyAging, Summary

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


class ClientAgingOut(ResponseStruct):
    """One client's amount due on sent invoices by days past due (`current`: not yet due)."""

    client_id: str
    client_name: str
    current: MoneyOut
    days_1_30: MoneyOut
    days_31_60: MoneyOut
    days_61_90: MoneyOut
    days_over_90: MoneyOut
    total: MoneyOut


class CurrencyAgingOut(ResponseStruct):
    """One currency's amount due by days past due; `by_client` by `total` descending, then `client_name`."""

    currency: str
    current: MoneyOut
    days_1_30: MoneyOut
    days_31_60: MoneyOut
    days_61_90: MoneyOut
    days_over_90: MoneyOut
    total: MoneyOut
    by_client: list[ClientAgingOut]


class AgingOut(ResponseStruct):
    """The receivables aging report: one entry per currency with anything due, ordered by currency code."""

    currencies: list[CurrencyAgingOut]

    @classmethod
    def from_aging(cls, aging: list[CurrencyAging]) -> AgingOut:
        return cls(
            currencies=[
                CurrencyAgingOut(
                    currency=entry.currency,
                    **_amounts(entry),
                    by_client=[
                        ClientAgingOut(client_id=str(c.client_id), client_name=c.client_name, **_amounts(c))
                        for c in entry.by_client
                    ],
                )
                for entry in aging
            ]
        )


def _amounts(row: AgingRow) -> dict[str, str]:
    current, days_1_30, days_31_60, days_61_90, days_over_90 = (format_cents(c) for c in row.buckets)
    return {
        "current": current,
        "days_1_30": days_1_30,
        "days_31_60": days_31_60,
        "days_61_90": days_61_90,
        "days_over_90": days_over_90,
        "total": format_cents(row.total),
    }
