"""Documents stored directly through the Beanie models, so report tests need no other area's routes."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from beanie import PydanticObjectId

from app.clients.models import Client
from app.invoices.models import Invoice, StoredPayment
from app.projects.models import Project
from app.time_entries.models import RUNNING_SLOT, TimeEntry


async def insert_client(owner_id: str, currency: str) -> Client:
    client = Client(
        owner_id=PydanticObjectId(owner_id),
        name=f"{currency} client",
        currency=currency,
        payment_terms_days=30,
    )
    await client.insert()
    return client


async def insert_project(client: Client, rate_cents: int) -> Project:
    project = Project(
        owner_id=client.owner_id,
        client_id=client.id,
        name="P",
        currency=client.currency,
        hourly_rate_cents=rate_cents,
    )
    await project.insert()
    return project


async def insert_invoice(
    client: Client,
    status: str,
    total_cents: int,
    *,
    due_date: date,
    payments: tuple[tuple[date, int], ...] = (),
    currency: str | None = None,
) -> Invoice:
    paid = sum(cents for _, cents in payments)
    invoice = Invoice(
        owner_id=client.owner_id,
        number_slot=f"test:{PydanticObjectId()}",
        client_id=client.id,
        status=status,
        currency=currency or client.currency,
        issue_date=due_date - timedelta(days=30),
        due_date=due_date,
        tax_rate=Decimal(0),
        discount_rate=Decimal(0),
        subtotal_cents=total_cents,
        total_cents=total_cents,
        amount_paid_cents=paid,
        amount_due_cents=total_cents - paid,
        payments=[StoredPayment(amount_cents=cents, paid_on=day) for day, cents in payments],
    )
    await invoice.insert()
    return invoice


async def insert_entry(
    project: Project,
    seconds: int | None,
    *,
    rate_cents: int | None = None,
    billable: bool = True,
    invoiced: bool = False,
) -> TimeEntry:
    """A stopped entry of `seconds` (None: a running timer)."""
    started = datetime(2026, 3, 2, 9, tzinfo=UTC)
    entry_id = PydanticObjectId()
    entry = TimeEntry(
        id=entry_id,
        owner_id=project.owner_id,
        project_id=project.id,
        client_id=project.client_id,
        started_at=started,
        ended_at=started + timedelta(seconds=seconds) if seconds is not None else None,
        duration_seconds=seconds,
        billable=billable,
        hourly_rate_cents=rate_cents,
        invoice_id=PydanticObjectId() if invoiced else None,
        timer_slot=str(entry_id) if seconds is not None else RUNNING_SLOT,
    )
    await entry.insert()
    return entry
