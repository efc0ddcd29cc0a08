"""The time-entry problems."""

from __future__ import annotations

from app.core.errors import Conflict


class AlreadyInvoiced(Conflict):
    """A time entry is on an invoice: it is locked, and no other invoice may take it."""

    code = "already_invoiced"


class TimerRunning(Conflict):
    code = "timer_running"
