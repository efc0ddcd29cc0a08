from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated

import msgspec
from msgspec import UNSET, UnsetType

from app.core.money import check_money
from app.db.pagination import Page
from app.http.mapping import Mapped, Source, cents
from app.http.schemas import BaseStruct, MoneyOut, ObjectIdStr, ResponseStruct, Text, UtcDatetime, component
from app.time_entries.models import TimeEntry
from app.time_entries.rules import check_instant, span_error


class TimeEntryCreate(BaseStruct):
    """A manual (already stopped) entry."""

    project_id: ObjectIdStr
    started_at: UtcDatetime
    ended_at: UtcDatetime
    description: Text = ""
    billable: bool = True
    hourly_rate: Decimal | None = None

    def __post_init__(self) -> None:
        check_instant(self.started_at, "started_at")
        check_instant(self.ended_at, "ended_at")
        error = span_error(self.started_at, self.ended_at)
        if error:
            raise ValueError(f"ended_at: {error}")
        if self.hourly_rate is not None:
            check_money(self.hourly_rate, "hourly_rate")


class TimerStart(BaseStruct):
    project_id: ObjectIdStr
    description: Text = ""
    billable: bool = True
    hourly_rate: Decimal | None = None

    def __post_init__(self) -> None:
        if self.hourly_rate is not None:
            check_money(self.hourly_rate, "hourly_rate")


class TimeEntryUpdate(BaseStruct):
    """The times are checked on the merged result; a running entry's ended_at is set by /stop only."""

    project_id: ObjectIdStr | UnsetType = UNSET
    started_at: UtcDatetime | UnsetType = UNSET
    ended_at: UtcDatetime | UnsetType = UNSET
    description: Text | UnsetType = UNSET
    billable: bool | UnsetType = UNSET
    hourly_rate: Decimal | UnsetType | None = UNSET

    def __post_init__(self) -> None:
        if self.started_at is not UNSET:
            check_instant(self.started_at, "started_at")
        if self.ended_at is not UNSET:
            check_instant(self.ended_at, "ended_at")
        if self.hourly_rate is not UNSET and self.hourly_rate is not None:
            check_money(self.hourly_rate, "hourly_rate")


class TimeEntryFilters(msgspec.Struct, frozen=True, kw_only=True):
    user_id: str | None = None
    project_id: str | None = None
    client_id: str | None = None
    started_from: str | None = None
    started_to: str | None = None
    billable: bool | None = None
    invoiced: bool | None = None
    running: bool | None = None


class TimeEntryOut(ResponseStruct, Mapped):
    id: str
    user_id: str | None  # who created it; null when an API key did (API.md section 19)
    project_id: str
    client_id: str
    description: str
    started_at: datetime
    ended_at: datetime | None
    duration_seconds: int | None
    billable: bool
    hourly_rate: MoneyOut | None
    invoice_id: str | None
    created_at: datetime
    updated_at: datetime

    SOURCE = Source(
        TimeEntry,
        user_id=str,
        project_id=str,
        client_id=str,
        hourly_rate=cents("hourly_rate_cents"),
        invoice_id=str,
    )


TimeEntryPage = Annotated[Page[TimeEntryOut], component("TimeEntryPage")]
