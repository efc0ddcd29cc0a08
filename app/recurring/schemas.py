from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Annotated

import msgspec
from msgspec import UNSET, UnsetType

from app.core.clock import check_date_order
from app.core.money import format_rate
from app.db.pagination import Page
from app.http.mapping import Computed, Mapped, Source, cents
from app.http.schemas import ActorOut, BaseStruct, MoneyOut, ObjectIdStr, RateOut, ResponseStruct, component
from app.invoices.schemas import (
    MAX_LINES,
    ExemptionReason,
    LineIn,
    LineOut,
    Notes,
    RateIn,
    check_tax_input,
    lines_out,
)
from app.invoices.tax_category import TaxCategory
from app.recurring.calendar import Frequency
from app.recurring.models import RecurringInvoice


class ScheduleStatus(StrEnum):
    """active (runs), paused (runs falling meanwhile are skipped), ended (past its end_date)."""

    ACTIVE = "active"
    PAUSED = "paused"
    ENDED = "ended"


class SendMode(StrEnum):
    """What each run does with its invoice: leave a draft, send it, or send it and e-mail it to the client."""

    DRAFT = "draft"
    SEND = "send"
    SEND_AND_EMAIL = "send_and_email"


ScheduleLines = Annotated[list[LineIn], msgspec.Meta(min_length=1, max_length=MAX_LINES)]
Interval = Annotated[int, msgspec.Meta(ge=1, le=12, description="Runs every `interval` × `frequency`")]


class RecurringInvoiceCreate(BaseStruct):
    """A schedule: each run on `start_date` and every `interval` × `frequency` after it (until `end_date`,
    inclusive) makes that period's invoice from these lines, tax, discount and notes."""

    client_id: ObjectIdStr
    lines: ScheduleLines
    frequency: Frequency
    start_date: Annotated[date, msgspec.Meta(description="On or after today in the organisation's time zone")]
    project_id: ObjectIdStr | None = None
    notes: Notes = ""
    tax_rate: RateIn | None = None
    tax_category: TaxCategory | None = None
    tax_exemption_reason: ExemptionReason | None = None
    discount_rate: RateIn = Decimal(0)
    interval: Interval = 1
    end_date: Annotated[date, msgspec.Meta(description="The last possible run (inclusive)")] | None = None
    send: SendMode = SendMode.DRAFT

    def __post_init__(self) -> None:
        check_tax_input(self)
        check_date_order(self.start_date, self.end_date, "start_date", "end_date")


class RecurringInvoiceUpdate(BaseStruct):
    """Changes the runs still to come; invoices already made stay as they are. A new `frequency` or
    `interval` counts from the next run."""

    project_id: ObjectIdStr | UnsetType | None = UNSET
    lines: ScheduleLines | UnsetType = UNSET
    notes: Notes | UnsetType = UNSET
    tax_rate: RateIn | UnsetType = UNSET
    tax_category: TaxCategory | UnsetType = UNSET
    tax_exemption_reason: ExemptionReason | UnsetType | None = UNSET
    discount_rate: RateIn | UnsetType = UNSET
    frequency: Frequency | UnsetType = UNSET
    interval: Interval | UnsetType = UNSET
    end_date: date | UnsetType | None = UNSET
    send: SendMode | UnsetType = UNSET

    def __post_init__(self) -> None:
        check_tax_input(self)


class RecurringInvoiceFilters(msgspec.Struct, frozen=True, kw_only=True):
    status: ScheduleStatus | None = None
    client_id: str | None = None


class RecurringInvoiceOut(ResponseStruct, Mapped):
    id: str
    client_id: str
    project_id: str | None
    lines: list[LineOut]
    notes: str
    tax_rate: RateOut
    tax_category: TaxCategory
    tax_exemption_reason: str | None
    discount_rate: RateOut
    subtotal: MoneyOut
    discount: MoneyOut
    tax: MoneyOut
    total: MoneyOut
    frequency: Frequency
    interval: int
    start_date: date
    end_date: date | None
    send: SendMode
    status: ScheduleStatus
    next_run_on: Annotated[date | None, msgspec.Meta(description="The next run; null once ended")]
    last_invoice_id: str | None
    paused_reason: Annotated[
        str | None, msgspec.Meta(description="Why the schedule paused itself (a run that failed)")
    ]
    created_by: ActorOut | None
    created_at: datetime
    updated_at: datetime

    SOURCE = Source(
        RecurringInvoice,
        client_id=str,
        project_id=str,
        last_invoice_id=str,
        lines=Computed(lines_out, "lines", "tax_rate", "tax_category"),  # each with its effective VAT
        tax_rate=format_rate,
        discount_rate=format_rate,
        subtotal=cents("subtotal_cents"),
        discount=cents("discount_cents"),
        tax=cents("tax_cents"),
        total=cents("total_cents"),
    )


RecurringInvoicePage = Annotated[Page[RecurringInvoiceOut], component("RecurringInvoicePage")]
