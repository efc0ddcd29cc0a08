"""The time-entry rules the schemas and the service share: the span of an entry, and its lifecycle."""

from __future__ import annotations

from datetime import datetime, timedelta

from app.core.clock import to_utc_ms
from app.core.transitions import DELETED, Lifecycle, Transition
from app.time_entries.models import RUNNING_SLOT, TimeEntry

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


# An entry's status is not stored: it follows from timer_slot and invoice_id (see `status`).
LIFECYCLE = Lifecycle(
    {
        "edit": Transition(("running", "stopped")),
        "delete": Transition(("running", "stopped"), DELETED),
        "stop": Transition(("running",), "stopped"),
        "claim": Transition(("stopped",), "invoiced"),
        "release": Transition(("invoiced",), "stopped"),
    }
)


def status(entry: TimeEntry) -> str:
    if entry.invoice_id is not None:
        return "invoiced"
    return "running" if entry.timer_slot == RUNNING_SLOT else "stopped"
