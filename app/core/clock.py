"""UTC time at the precision BSON keeps (milliseconds), so what we return is what we stored."""

from __future__ import annotations

from datetime import UTC, date, datetime


def to_utc_ms(moment: datetime) -> datetime:
    """An aware datetime in UTC, truncated to the millisecond."""
    if moment.tzinfo is None:
        raise ValueError("naive datetimes are not accepted")
    moment = moment.astimezone(UTC)
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)


def utc_now() -> datetime:
    return to_utc_ms(datetime.now(UTC))


def today_utc() -> date:
    return datetime.now(UTC).date()


def as_utc(moment: datetime) -> datetime:
    """Datetimes read back from a driver without tz_aware get their UTC zone back."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
