from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal

import msgspec
from msgspec import UNSET, UnsetType

from app.core.clock import to_utc_ms
from app.core.money import check_money, format_cents
from app.core.schemas import BaseStruct, MoneyOut, ObjectIdStr, ResponseStruct, Text, UtcDatetime
from app.time_entries.documents import TimeEntry

MAX_ENTRY = timedelta(hours=24)


def check_instant(moment: datetime, field: str) -> datetime:
    """`moment` in UTC at millisecond precision; a 400 on `field` when that instant cannot be represented
    (e.g. 9999-12-31T22:00:00-05:00 is in the year 10000 in UTC)."""
    try:
        return to_utc_ms(moment)
    except OverflowError:
        raise ValueError(f"{field}: must lie between 0001-01-01 and 9999-12-31 in UTC") from None


def span_error(started_at: datetime, ended_at: datetime) -> str | None:
    """Why (started_at, ended_at) is not a valid span at the stored millisecond precision, or None."""
    started, ended = to_utc_ms(started_at), to_utc_ms(ended_at)
    if ended <= started:
        return "must be after started_at"
    if ended - started > MAX_ENTRY:
        return "must be at most 24 hours after started_at"
    return None


def duration_seconds(started_at: datetime, ended_at: datetime) -> int:
    """Whole seconds between the stored (millisecond) timestamps."""
    return (to_utc_ms(ended_at) - to_utc_ms(started_at)) // timedelta(seconds=1)


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
    project_id: str | None = None
    client_id: str | None = None
    started_from: str | None = None
    started_to: str | None = None
    billable: bool | None = None
    invoiced: bool | None = None
    running: bool | None = None


class TimeEntryOut(ResponseStruct):
    id: str
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

    @classmethod
    def from_document(cls, entry: TimeEntry) -> TimeEntryOut:
        rate = entry.hourly_rate_cents
        return cls(
            id=str(entry.id),
            project_id=str(entry.project_id),
            client_id=str(entry.client_id),
            description=entry.description,
            started_at=entry.started_at,
            ended_at=entry.ended_at,
            duration_seconds=entry.duration_seconds,
            billable=entry.billable,
            hourly_rate=format_cents(rate),
            invoice_id=str(entry.invoice_id) if entry.invoice_id is not None else None,
            created_at=entry.created_at,
            updated_at=entry.updated_at,
        )
