"""Reports: figures over the caller's invoices and time in one currency, summed by MongoDB aggregation.

Every amount is summed as integer cents inside the database; Python only formats the few grouped rows.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from bson import ObjectId

from app.clients.models import Client
from app.clients.service import client_names
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


# ---------------------------------------------------------------- aging (API.md section 22)

# Days past due, counted in the organisation's time zone: `current` is not yet due (due today included); then
# 1-30, 31-60, 61-90 and more than 90 days past due.
AGING_BUCKETS = ("current", "days_1_30", "days_31_60", "days_61_90", "days_over_90")
_AGING_EDGES = (30, 60, 90)  # the last day past due of each bounded bucket after `current`


@dataclass(frozen=True)
class AgingRow:
    """The amount due of one client's (or one currency's) sent invoices by bucket, in cents."""

    buckets: tuple[int, int, int, int, int]

    @property
    def total(self) -> int:
        return sum(self.buckets)


@dataclass(frozen=True)
class ClientAging(AgingRow):
    client_id: ObjectId
    client_name: str


@dataclass(frozen=True)
class CurrencyAging(AgingRow):
    currency: str
    by_client: list[ClientAging]


def _aging_sums(today: date) -> dict[str, Any]:
    """One $sum per bucket of `$amount_due_cents`, by the invoice's due_date against today's edges (dates are
    stored as midnight UTC, so the edges are days, whatever the organisation's zone made today)."""
    due = "$due_date"
    edges = [midnight_utc(today)] + [midnight_utc(today - timedelta(days=days)) for days in _AGING_EDGES]
    conditions: list[Any] = [{"$gte": [due, edges[0]]}]  # not yet due
    conditions += [
        {"$and": [{"$gte": [due, older]}, {"$lt": [due, newer]}]}
        for newer, older in itertools.pairwise(edges)
    ]
    conditions.append({"$lt": [due, edges[-1]]})
    return {
        name: {"$sum": {"$cond": [condition, "$amount_due_cents", 0]}}
        for name, condition in zip(AGING_BUCKETS, conditions, strict=True)
    }


def _five(values: Iterable[int]) -> tuple[int, int, int, int, int]:
    first, second, third, fourth, fifth = values
    return first, second, third, fourth, fifth


async def aging(owner: Books, currency: str | None) -> list[CurrencyAging]:
    """The amount due of the sent invoices by days past due, per currency (ordered by code) and per client
    (by total descending, then name): one aggregation grouped by (currency, client), on the owner's
    (status, due_date) index, and one query for the names of the clients it found."""
    today = today_in(owner.business.time_zone)
    match = owned_filter(owner.id, status="sent", amount_due_cents={"$gt": 0})
    if currency is not None:
        match["currency"] = currency
    pipeline: list[dict[str, Any]] = [
        {"$match": match},
        {"$group": {"_id": {"currency": "$currency", "client_id": "$client_id"}, **_aging_sums(today)}},
    ]
    rows = [row async for row in Invoice.get_motor_collection().aggregate(pipeline)]
    names = await client_names(owner, {row["_id"]["client_id"] for row in rows})
    by_currency: dict[str, list[ClientAging]] = {}
    for row in rows:
        client_id = row["_id"]["client_id"]
        buckets = _five(int(row[name]) for name in AGING_BUCKETS)
        client_name = names.get(client_id, "")
        by_currency.setdefault(row["_id"]["currency"], []).append(
            ClientAging(buckets=buckets, client_id=client_id, client_name=client_name)
        )
    result = []
    for code in sorted(by_currency):
        clients = sorted(by_currency[code], key=lambda c: (-c.total, c.client_name, str(c.client_id)))
        sums = _five(sum(c.buckets[i] for c in clients) for i in range(len(AGING_BUCKETS)))
        result.append(CurrencyAging(buckets=sums, currency=code, by_client=clients))
    return result
