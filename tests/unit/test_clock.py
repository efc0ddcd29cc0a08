"""The business clock and the calendar date in an organisation's time zone."""

from __future__ import annotations

from datetime import UTC, date, datetime


def test_today_in_a_zone_is_that_zones_calendar_date():
    from app.core.clock import today_in

    moment = datetime(2026, 2, 28, 23, 30, tzinfo=UTC)
    assert today_in("Europe/Berlin", moment) == date(2026, 3, 1)
    assert today_in("UTC", moment) == date(2026, 2, 28)
    assert today_in("Pacific/Kiritimati", datetime(2026, 3, 1, 10, 0, tzinfo=UTC)) == date(
        2026, 3, 2
    )  # UTC+14
    assert today_in("Etc/GMT+12", datetime(2026, 3, 1, 11, 59, tzinfo=UTC)) == date(2026, 2, 28)  # UTC-12


def test_today_in_reads_the_business_clock_which_tests_can_move():
    from datetime import timedelta

    from app.core.clock import MovableClock, clock, today_in, using_clock

    before = clock()
    with using_clock(MovableClock(datetime(2026, 3, 28, 22, 59, tzinfo=UTC))) as moved:
        assert today_in("Europe/Berlin") == date(2026, 3, 28)
        moved.move(timedelta(minutes=1))  # 00:00 CET on 29 March, the night clocks go forward
        assert today_in("Europe/Berlin") == date(2026, 3, 29)
    assert clock() is before


def test_local_midnight_is_the_utc_instant_the_day_begins():
    from app.core.clock import local_midnight

    assert local_midnight(date(2026, 3, 29), "Europe/Berlin") == datetime(2026, 3, 28, 23, 0, tzinfo=UTC)
    assert local_midnight(date(2026, 3, 30), "Europe/Berlin") == datetime(2026, 3, 29, 22, 0, tzinfo=UTC)
    assert local_midnight(date(2026, 11, 1), "America/New_York") == datetime(2026, 11, 1, 4, 0, tzinfo=UTC)
