"""UTC time at the precision BSON keeps (milliseconds), so what we return is what we stored."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

RFC3339_HINT = "must be RFC 3339 with an offset, e.g. 2026-11-21T10:15:00Z"
_RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d{1,9})?([Zz]|[+-]\d{2}:\d{2})$")


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


class Clock:
    """The business calendar's "now": what every rule that depends on today's date reads (default dates,
    overdue, reports' months, schedules, reminders). Leases, expiries and timestamps read the real time
    (`utc_now`); tests move this clock instead of sleeping or waiting for a real midnight."""

    def now(self) -> datetime:
        return utc_now()


class MovableClock(Clock):
    """A clock that stands still at a chosen moment until it is moved (tests, scripts)."""

    def __init__(self, moment: datetime) -> None:
        self.moment = to_utc_ms(moment)

    def now(self) -> datetime:
        return self.moment

    def move(self, delta: timedelta) -> None:
        self.moment = to_utc_ms(self.moment + delta)

    def set(self, moment: datetime) -> None:
        self.moment = to_utc_ms(moment)


_clock: Clock = Clock()


def clock() -> Clock:
    return _clock


@contextmanager
def using_clock(replacement: Clock) -> Iterator[Clock]:
    """Run with `replacement` as the business clock, then put the previous one back."""
    global _clock
    previous, _clock = _clock, replacement
    try:
        yield replacement
    finally:
        _clock = previous


def today_in(zone: str, moment: datetime | None = None) -> date:
    """The calendar date in the IANA zone `zone` (an organisation's `business.time_zone`) at `moment`, by
    default the business clock's now: at 23:30 UTC on 28 February it is already 1 March in Berlin."""
    return (moment or _clock.now()).astimezone(ZoneInfo(zone)).date()


# The time zone of the organisation the running request acts in (its `business.time_zone`), named by the
# authentication middleware once it has loaded the organisation (`in_zone` around the request, `enter_zone`
# when known), so that a response can say what "today" makes of a stored date (an invoice's `is_overdue`).
_zone: ContextVar[str | None] = ContextVar("business_zone", default=None)


@contextmanager
def in_zone(zone: str | None) -> Iterator[None]:
    """Run the block in the organisation time zone `zone` (None: none known), then restore the previous."""
    token = _zone.set(zone)
    try:
        yield
    finally:
        _zone.reset(token)


def enter_zone(zone: str) -> None:
    """Name the zone of the rest of the operation (inside `in_zone`, which undoes it)."""
    _zone.set(zone)


def business_today() -> date:
    """Today in the zone of the organisation the request acts in. A read that did not load the organisation
    knows no zone: that is a bug (a UTC guess would be silently wrong near midnight), so it raises."""
    zone = _zone.get()
    if zone is None:
        raise RuntimeError("no organisation time zone here: the route must load the organisation (`caller`)")
    return today_in(zone)


def local_midnight(day: date, zone: str) -> datetime:
    """The UTC instant at which `day` begins in `zone` (on a DST change day, the first one that exists)."""
    return datetime(day.year, day.month, day.day, tzinfo=ZoneInfo(zone)).astimezone(UTC)


def midnight_utc(day: date) -> datetime:
    """A date as Beanie stores it (a BSON datetime at midnight UTC), for raw filters and pipelines."""
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


def as_utc(moment: datetime) -> datetime:
    """Datetimes read back from a driver without tz_aware get their UTC zone back."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def parse_rfc3339(text: str) -> datetime:
    """A query-string timestamp: RFC 3339 with an offset only (no naive times, no Unix numbers)."""
    if not _RFC3339.match(text):
        raise ValueError(RFC3339_HINT)
    whole, _, fraction = text.upper().replace("Z", "+00:00").partition(".")
    if fraction:  # Python reads at most 6 fractional digits
        digits = re.match(r"\d+", fraction)
        assert digits is not None
        whole += "." + digits.group(0)[:6].ljust(6, "0") + fraction[digits.end() :]
    return datetime.fromisoformat(whole)


def check_date_order(start: date | None, end: date | None, start_field: str, end_field: str) -> None:
    """For __post_init__ validation: `end` may not come before `start` (either may be missing)."""
    if start is not None and end is not None and end < start:
        raise ValueError(f"{end_field}: must be on or after {start_field}")


# One calendar range for every date and timestamp the API accepts or computes (API section 1, `dates`).
EARLIEST_DAY, LATEST_DAY = date(1900, 1, 1), date(2999, 12, 31)


def check_in_range(value: date) -> date:
    """A date, or a timestamp by its UTC day, within EARLIEST_DAY … LATEST_DAY; ValueError otherwise."""
    day = value.astimezone(UTC).date() if isinstance(value, datetime) else value
    if not EARLIEST_DAY <= day <= LATEST_DAY:
        raise ValueError(f"must be between {EARLIEST_DAY} and {LATEST_DAY}")
    return value
