"""Run dates of a schedule (API.md section 23): pure date arithmetic, no store, no clock.

Run n of a schedule falls `n × interval × frequency` after its anchor (the start date, or the run date a
change of cadence rebased it on). A month that lacks the anchor's day runs on its last day, and the run after
returns to that day: 31 Jan → 28/29 Feb → 31 Mar (each run is computed from the anchor, never from the run
before it). The run on day D bills D … the day before the next run.
"""

from __future__ import annotations

import calendar
from datetime import date, timedelta
from enum import StrEnum

from app.core.clock import LATEST_DAY


class Frequency(StrEnum):
    """How often a schedule runs, `interval` times this."""

    WEEKLY = "weekly"
    MONTHLY = "monthly"
    QUARTERLY = "quarterly"
    YEARLY = "yearly"


MONTHS = {Frequency.MONTHLY: 1, Frequency.QUARTERLY: 3, Frequency.YEARLY: 12}


class Cadence:
    """`frequency` × `interval` counted from `anchor`, on day `day` of each month (the start date's day)."""

    def __init__(self, frequency: str, interval: int, anchor: date, day: int | None = None) -> None:
        self.frequency = Frequency(frequency)
        self.interval = interval
        self.anchor = anchor
        self.day = day if day is not None else anchor.day

    def run(self, n: int) -> date | None:
        """The date of run `n` (0 is the anchor), or None past the calendar's last day."""
        if self.frequency is Frequency.WEEKLY:
            days = 7 * self.interval * n
            if days > (LATEST_DAY - self.anchor).days:
                return None
            return self.anchor + timedelta(days=days)
        months = self.anchor.year * 12 + self.anchor.month - 1 + MONTHS[self.frequency] * self.interval * n
        year, month = divmod(months, 12)
        if year > LATEST_DAY.year:
            return None
        last = calendar.monthrange(year, month + 1)[1]
        return date(year, month + 1, min(self.day, last))

    def first_on_or_after(self, day: date) -> tuple[int, date] | None:
        """(n, date) of the first run on or after `day` (the anchor if `day` comes before it), or None."""
        if day <= self.anchor:
            return 0, self.anchor
        if self.frequency is Frequency.WEEKLY:
            step = 7 * self.interval
            n = -(-(day - self.anchor).days // step)  # ceiling
        else:
            step_months = MONTHS[self.frequency] * self.interval
            months = (day.year - self.anchor.year) * 12 + day.month - self.anchor.month
            n = max(0, months // step_months - 1)  # at most a step early: walk forward from there
        while (run := self.run(n)) is not None:
            if run >= day:
                return n, run
            n += 1
        return None


def period_end(cadence: Cadence, n: int) -> date:
    """The last day billed by run `n`: the day before run n + 1 (the calendar's last day if there is none)."""
    following = cadence.run(n + 1)
    return LATEST_DAY if following is None else following - timedelta(days=1)
