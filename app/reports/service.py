"""Reports: figures over the caller's invoices and time in one currency, summed by MongoDB aggregation.

Every amount is summed as integer cents inside the database; Python only formats the few grouped rows.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from bson import ObjectId

from app.clients.models import Client
from app.core.clock import midnight_utc, today_in
from app.core.money import from_cents, multiply, to_cents
from app.db.repository import owned_filter
from app.invoices.models import INVOICE_STATUSES, Invoice
from app.organizations.models import Books
from app.projects.models import Project
from app.time_entries.models import TimeEntry

MONTHS_SHOWN = 12
PAID_WINDOW_DAYS = 30


def _months(today: date) -> list[tuple[int, int]]:
    """(year, month) of the 12 months ending with today's, oldest first."""
    index = today.year * 12 + today.month - 1
    return [(i // 12, i % 12 + 1) for i in range(index - MONTHS_SHOWN + 1, index + 1)]


def _next_month(today: date) -> date:
    return date(today.year + 1, 1, 1) if today.month == 12 else date(today.year, today.month + 1, 1)


@dataclass(frozen=True)
class InvoiceFigures:
    outstanding: int
    overdue: int
    draft: int
    counts: dict[str, int]


async def _invoice_figures(owner_id: ObjectId | None, currency: str, today: date) -> InvoiceFigures:
    pipeline: list[dict[str, Any]] = [
        {"$match": owned_filter(owner_id, currency=currency)},
        {
            "$group": {
                "_id": "$status",
                "count": {"$sum": 1},
                "total": {"$sum": "$total_cents"},
                "due": {"$sum": "$amount_due_cents"},
                "overdue": {
                    "$sum": {"$cond": [{"$lt": ["$due_date", midnight_utc(today)]}, "$amount_due_cents", 0]}
                },
            }
        },
    ]
    rows = {row["_id"]: row async for row in Invoice.get_motor_collection().aggregate(pipeline)}
    sent: Mapping[str, int] = rows.get("sent", {})
    return InvoiceFigures(
        outstanding=sent.get("due", 0),
        overdue=sent.get("overdue", 0),
        draft=rows.get("draft", {}).get("total", 0),
        counts={status: rows.get(status, {}).get("count", 0) for status in INVOICE_STATUSES},
    )


async def _payment_figures(
    owner_id: ObjectId | None, currency: str, today: date
) -> tuple[int, dict[tuple[int, int], int]]:
    """(Σ payments of the last 30 days, today included; Σ payments by (year, month) over the 12 months)."""
    months = _months(today)
    first = midnight_utc(date(months[0][0], months[0][1], 1))
    last_30_from = midnight_utc(today - timedelta(days=PAID_WINDOW_DAYS - 1))
    tomorrow = midnight_utc(today + timedelta(days=1))
    window = {"$gte": min(first, last_30_from), "$lt": midnight_utc(_next_month(today))}
    paid_on = "$payments.paid_on"
    in_last_30 = {"$and": [{"$gte": [paid_on, last_30_from]}, {"$lt": [paid_on, tomorrow]}]}
    pipeline: list[dict[str, Any]] = [
        {"$match": owned_filter(owner_id, {"payments.paid_on": window}, currency=currency)},
        {"$unwind": "$payments"},
        {"$match": {"payments.paid_on": window}},
        {
            "$group": {
                "_id": {"year": {"$year": paid_on}, "month": {"$month": paid_on}},
                "paid": {"$sum": "$payments.amount_cents"},
                "last_30": {"$sum": {"$cond": [in_last_30, "$payments.amount_cents", 0]}},
            }
        },
    ]
    rows = [row async for row in Invoice.get_motor_collection().aggregate(pipeline)]
    by_month = {(row["_id"]["year"], row["_id"]["month"]): row["paid"] for row in rows}
    return sum(row["last_30"] for row in rows), by_month


async def _unbilled(owner_id: ObjectId | None, currency: str) -> tuple[int, int]:
    """(seconds, cents) of stopped, billable, not-invoiced time of this currency's clients.

    Each entry is valued like the invoice line it would become: round(round(seconds / 3600, 2) × rate).
    The hours in hundredths, half-up, are floor((seconds + 18) / 36) — exact integer arithmetic — so the
    database groups entries by (project, own rate, hundredths) and Python prices the few groups.
    """
    client_ids = await Client.get_motor_collection().distinct(
        "_id", owned_filter(owner_id, currency=currency)
    )
    if not client_ids:
        return 0, 0
    hundredths = {"$floor": {"$divide": [{"$add": ["$duration_seconds", 18]}, 36]}}
    pipeline: list[dict[str, Any]] = [
        {
            "$match": owned_filter(
                owner_id,
                client_id={"$in": client_ids},
                billable=True,
                invoice_id=None,
                ended_at={"$ne": None},
            )
        },
        {
            "$group": {
                "_id": {"project_id": "$project_id", "rate": "$hourly_rate_cents", "hundredths": hundredths},
                "seconds": {"$sum": "$duration_seconds"},
                "count": {"$sum": 1},
            }
        },
    ]
    rows = [row async for row in TimeEntry.get_motor_collection().aggregate(pipeline)]
    needs_project_rate = list({row["_id"]["project_id"] for row in rows if row["_id"].get("rate") is None})
    project_rates = {
        project["_id"]: project.get("hourly_rate_cents", 0)
        async for project in Project.get_motor_collection().find(
            owned_filter(owner_id, _id={"$in": needs_project_rate}), {"hourly_rate_cents": 1}
        )
    }
    seconds = cents = 0
    for row in rows:
        key = row["_id"]
        rate = key.get("rate")
        if rate is None:
            rate = project_rates.get(key["project_id"], 0)
        hours = Decimal(int(key["hundredths"])).scaleb(-2)
        cents += to_cents(multiply(hours, from_cents(rate))) * row["count"]
        seconds += row["seconds"]
    return seconds, cents


@dataclass(frozen=True)
class Summary:
    """The figures of GET /api/reports/summary, amounts in cents; `revenue_by_month` oldest first."""

    currency: str
    invoices: InvoiceFigures
    paid_last_30_days: int
    unbilled_seconds: int
    unbilled_cents: int
    revenue_by_month: list[tuple[str, int]]


async def summary(owner: Books, currency: str | None) -> Summary:
    currency = currency or owner.business.default_currency
    today = today_in(owner.business.time_zone)  # "this month" and "the last 30 days" are the organisation's
    invoices = await _invoice_figures(owner.id, currency, today)
    paid_last_30, by_month = await _payment_figures(owner.id, currency, today)
    unbilled_seconds, unbilled_cents = await _unbilled(owner.id, currency)
    return Summary(
        currency=currency,
        invoices=invoices,
        paid_last_30_days=paid_last_30,
        unbilled_seconds=unbilled_seconds,
        unbilled_cents=unbilled_cents,
        revenue_by_month=[
            (f"{year:04d}-{month:02d}", by_month.get((year, month), 0)) for year, month in _months(today)
        ],
    )
