"""Run dates of a schedule (app/recurring/calendar.py) against a slow, obvious reading of section 23."""

from __future__ import annotations

import calendar
import random
from datetime import date, timedelta

import pytest

from app.recurring.calendar import Cadence, period_end


def _obvious(frequency: str, interval: int, start: date, n: int) -> date:
    """Run n the long way: whole months (or weeks) counted from the start, the start's day or the month's last."""
    if frequency == "weekly":
        return start + timedelta(weeks=interval * n)
    months = {"monthly": 1, "quarterly": 3, "yearly": 12}[frequency] * interval * n
    year, month = start.year + (start.month - 1 + months) // 12, (start.month - 1 + months) % 12 + 1
    return date(year, month, min(start.day, calendar.monthrange(year, month)[1]))


def test_month_ends_return_to_the_start_day():
    runs = [Cadence("monthly", 1, date(2027, 1, 31)).run(n) for n in range(5)]
    assert runs == [
        date(2027, 1, 31),
        date(2027, 2, 28),
        date(2027, 3, 31),
        date(2027, 4, 30),
        date(2027, 5, 31),
    ]
    assert Cadence("monthly", 1, date(2028, 1, 31)).run(1) == date(2028, 2, 29)
    assert [Cadence("yearly", 1, date(2028, 2, 29)).run(n) for n in range(5)] == [
        date(2028, 2, 29), date(2029, 2, 28), date(2030, 2, 28), date(2031, 2, 28), date(2032, 2, 29)
    ]  # fmt: skip
    assert Cadence("quarterly", 1, date(2027, 11, 30)).run(1) == date(2028, 2, 29)


def test_a_period_ends_the_day_before_the_next_run():
    cadence = Cadence("monthly", 1, date(2027, 1, 31))
    assert [period_end(cadence, n) for n in range(3)] == [
        date(2027, 2, 27),
        date(2027, 3, 30),
        date(2027, 4, 29),
    ]
    assert period_end(Cadence("weekly", 2, date(2027, 1, 4)), 0) == date(2027, 1, 17)


def test_no_run_past_the_calendars_last_day():
    assert Cadence("yearly", 12, date(2990, 1, 1)).run(1) is None
    assert Cadence("weekly", 1, date(2999, 12, 30)).run(1) is None
    assert period_end(Cadence("yearly", 12, date(2990, 1, 1)), 0) == date(2999, 12, 31)
    assert Cadence("monthly", 1, date(2999, 12, 15)).first_on_or_after(date(2999, 12, 16)) is None


@pytest.mark.parametrize("frequency", ["weekly", "monthly", "quarterly", "yearly"])
def test_runs_and_the_first_run_on_or_after_a_day_match_the_obvious_reading(frequency):
    chance = random.Random(f"calendar-{frequency}")
    for _ in range(300):
        start = date(2020, 1, 1) + timedelta(days=chance.randrange(0, 3000))
        interval = chance.randrange(1, 13)
        cadence = Cadence(frequency, interval, start)
        runs = [_obvious(frequency, interval, start, n) for n in range(40)]
        assert [cadence.run(n) for n in range(40)] == runs
        day = start + timedelta(days=chance.randrange(-30, (runs[-1] - start).days))
        n = next(i for i, run in enumerate(runs) if run >= day)
        assert cadence.first_on_or_after(day) == (n, runs[n]), (frequency, interval, start, day)


def test_a_rebased_cadence_keeps_returning_to_the_start_day():
    # A schedule of the 31st whose cadence changed on its 30 April run: its runs still go back to the 31st.
    cadence = Cadence("quarterly", 1, date(2027, 4, 30), day=31)
    assert [cadence.run(n) for n in range(3)] == [date(2027, 4, 30), date(2027, 7, 31), date(2027, 10, 31)]
