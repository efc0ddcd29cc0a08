"""The summary report's "today" is the organisation's (API.md sections 11 and 22): its 12 months end with the
organisation's month, its last 30 days end with the organisation's today, and overdue means due before it."""

from __future__ import annotations

from datetime import UTC, date, datetime

from app.core.clock import MovableClock
from tests.conftest import Account
from tests.reports.factories import insert_client, insert_invoice


async def test_the_summary_counts_months_and_days_in_the_organisations_zone(
    client, user: Account, business_clock: MovableClock
):
    zoned = await client.patch(
        "/api/organization", json={"business": {"time_zone": "Europe/Berlin"}}, headers=user.headers
    )
    assert zoned.status_code == 200, zoned.text
    usd = await insert_client(user.id, "USD")
    payments = ((date(2026, 4, 1), 500), (date(2026, 3, 3), 200), (date(2026, 3, 2), 100))
    await insert_invoice(usd, "paid", 800, due_date=date(2026, 3, 1), payments=payments)
    await insert_invoice(usd, "sent", 4_000, due_date=date(2026, 3, 31))
    business_clock.set(datetime(2026, 3, 31, 22, 30, tzinfo=UTC))  # 00:30 on 1 April in Berlin

    response = await client.get("/api/reports/summary", params={"currency": "USD"}, headers=user.headers)
    assert response.status_code == 200, response.text
    report = response.json()
    months = report["revenue_by_month"]
    assert (months[0]["month"], months[-1]["month"]) == ("2025-05", "2026-04")
    assert months[-2:] == [{"month": "2026-03", "paid": "3.00"}, {"month": "2026-04", "paid": "5.00"}]
    # 3 March to 1 April: 1 April and the 30th day back, not 2 March.
    assert report["paid_last_30_days"] == "7.00"
    assert (report["outstanding"], report["overdue"]) == ("40.00", "40.00")  # due 31 March: yesterday
