from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from tests.conftest import Account, assert_problem
from tests.reports.factories import insert_client, insert_entry, insert_invoice, insert_project

SUMMARY = "/api/reports/summary"
ZERO_COUNTS = {"draft": 0, "sent": 0, "paid": 0, "void": 0}


def today() -> date:
    return datetime.now(UTC).date()


def last_12_months(day: date) -> list[str]:
    """The labels, oldest first, stepping back one month at a time from `day`'s month."""
    year, month = day.year, day.month
    labels = []
    for _ in range(12):
        labels.append(f"{year:04d}-{month:02d}")
        year, month = (year - 1, 12) if month == 1 else (year, month - 1)
    return labels[::-1]


async def summary(client, headers, **params):
    response = await client.get(SUMMARY, params=params, headers=headers)
    assert response.status_code == 200, response.text
    return response.json()


@pytest.fixture
async def data_set(client, user: Account, other_user: Account):
    """Invoices and time in USD and EUR for `user`, and USD ones for `other_user` that must never count.

    Returns the USD payments of `user` as (paid_on, cents), for the month figures.
    """
    t = today()
    usd = await insert_client(user.id, "USD")
    eur = await insert_client(user.id, "EUR")
    theirs = await insert_client(other_user.id, "USD")

    await insert_invoice(
        usd, "draft", 10_000, due_date=t - timedelta(days=5)
    )  # a draft past due: not overdue
    await insert_invoice(usd, "draft", 5_025, due_date=t + timedelta(days=30))
    # sent, due today (not overdue), partly paid today
    await insert_invoice(usd, "sent", 30_000, due_date=t, payments=((t, 10_000),))
    # sent, overdue since yesterday, partly paid on the 30th day back (today - 29)
    await insert_invoice(
        usd, "sent", 40_000, due_date=t - timedelta(days=1), payments=((t - timedelta(days=29), 15_000),)
    )
    await insert_invoice(usd, "sent", 7_000, due_date=t - timedelta(days=40))  # overdue, unpaid
    # paid in two parts, 30 and 31 days ago: both outside the last 30 days
    await insert_invoice(
        usd,
        "paid",
        50_000,
        due_date=t - timedelta(days=45),
        payments=((t - timedelta(days=30), 20_000), (t - timedelta(days=31), 30_000)),
    )
    # paid: one payment 13 months ago (outside every window), one on the 1st of the oldest month shown
    oldest_month = date.fromisoformat(last_12_months(t)[0] + "-01")
    long_ago = date(oldest_month.year, oldest_month.month, 1) - timedelta(days=32)
    await insert_invoice(
        usd, "paid", 104_200, due_date=long_ago, payments=((long_ago, 100_000), (oldest_month, 4_200))
    )
    await insert_invoice(usd, "void", 8_000, due_date=t - timedelta(days=60))  # void: counted, never summed
    # another currency and another user
    await insert_invoice(eur, "sent", 99_900, due_date=t - timedelta(days=3), payments=((t, 11_100),))
    await insert_invoice(eur, "draft", 1_000, due_date=t)
    await insert_invoice(theirs, "sent", 77_700, due_date=t - timedelta(days=3), payments=((t, 7_700),))
    await insert_invoice(theirs, "draft", 5_500, due_date=t)

    usd_a = await insert_project(usd, rate_cents=10_000)  # 100.00 / h
    usd_b = await insert_project(usd, rate_cents=8_000)  # 80.00 / h
    await insert_entry(usd_a, 5_400)  # 1.50 h x 100.00 = 150.00
    await insert_entry(usd_a, 5_400)  # 150.00 again
    await insert_entry(usd_a, 1_000, rate_cents=12_345)  # 0.28 h x 123.45 = 34.566 -> 34.57
    await insert_entry(usd_a, 36, rate_cents=50)  # 0.01 h x 0.50 = 0.005 -> 0.01 (half-up)
    await insert_entry(usd_b, 18)  # 0.005 h -> 0.01 h x 80.00 = 0.80
    await insert_entry(usd_b, 17)  # 0.0047 h -> 0.00 h: 0.00, the seconds still count
    await insert_entry(usd_b, 3_610, rate_cents=0)  # its own rate 0.00 wins over the project's: 0.00
    await insert_entry(usd_a, 3_600, billable=False)  # not billable
    await insert_entry(usd_a, 3_600, invoiced=True)  # already invoiced
    await insert_entry(usd_a, None)  # running
    eur_project = await insert_project(eur, rate_cents=9_000)
    await insert_entry(eur_project, 3_600)  # 1.00 h x 90.00, EUR only
    their_project = await insert_project(theirs, rate_cents=10_000)
    await insert_entry(their_project, 7_200)

    return [
        (t, 10_000),
        (t - timedelta(days=29), 15_000),
        (t - timedelta(days=30), 20_000),
        (t - timedelta(days=31), 30_000),
        (long_ago, 100_000),
        (oldest_month, 4_200),
    ]


async def test_summary_invoice_figures(client, auth, data_set):
    report = await summary(client, auth, currency="USD")
    assert report["currency"] == "USD"
    assert report["outstanding"] == "520.00"  # 200.00 + 250.00 + 70.00 on sent invoices
    assert report["overdue"] == "320.00"  # 250.00 + 70.00: due yesterday and 40 days ago
    assert report["draft"] == "150.25"  # 100.00 + 50.25
    assert report["invoices_by_status"] == {"draft": 2, "sent": 3, "paid": 2, "void": 1}


async def test_summary_paid_last_30_days_includes_the_30th_day_back_only(client, auth, data_set):
    report = await summary(client, auth, currency="USD")
    assert (
        report["paid_last_30_days"] == "250.00"
    )  # 100.00 today + 150.00 at today-29; not today-30, today-31


async def test_summary_unbilled_time_valued_like_invoice_lines(client, auth, data_set):
    report = await summary(client, auth, currency="USD")
    assert report["unbilled_seconds"] == 5_400 + 5_400 + 1_000 + 36 + 18 + 17 + 3_610
    assert report["unbilled_amount"] == "335.38"  # 150 + 150 + 34.57 + 0.01 + 0.80 + 0 + 0


async def test_summary_revenue_by_month(client, auth, data_set):
    report = await summary(client, auth, currency="USD")
    labels = last_12_months(today())
    expected = dict.fromkeys(labels, 0)
    for paid_on, cents in data_set:
        if paid_on.strftime("%Y-%m") in expected:
            expected[paid_on.strftime("%Y-%m")] += cents
    assert [m["month"] for m in report["revenue_by_month"]] == labels
    assert report["revenue_by_month"] == [
        {"month": label, "paid": f"{cents // 100}.{cents % 100:02d}"} for label, cents in expected.items()
    ]
    assert report["revenue_by_month"][0]["paid"] != "0.00"  # the 42.00 on the 1st of the oldest month


async def test_summary_other_currency(client, auth, data_set):
    report = await summary(client, auth, currency="EUR")
    assert report == {
        **report,
        "currency": "EUR",
        "outstanding": "888.00",
        "overdue": "888.00",
        "draft": "10.00",
        "paid_last_30_days": "111.00",
        "invoices_by_status": {"draft": 1, "sent": 1, "paid": 0, "void": 0},
        "unbilled_seconds": 3_600,
        "unbilled_amount": "90.00",
    }
    assert report["revenue_by_month"][-1] == {"month": today().strftime("%Y-%m"), "paid": "111.00"}


async def test_summary_ignores_other_users_data(client, other_user: Account, data_set):
    report = await summary(client, other_user.headers, currency="USD")
    assert report["outstanding"] == "700.00" and report["overdue"] == "700.00"
    assert report["draft"] == "55.00" and report["paid_last_30_days"] == "77.00"
    assert report["invoices_by_status"] == {"draft": 1, "sent": 1, "paid": 0, "void": 0}
    assert report["unbilled_seconds"] == 7_200 and report["unbilled_amount"] == "200.00"


async def test_summary_currency_with_no_data_is_all_zeros(client, auth, data_set):
    report = await summary(client, auth, currency="JPY")
    assert report["invoices_by_status"] == ZERO_COUNTS
    assert report["unbilled_seconds"] == 0 and report["unbilled_amount"] == "0.00"


async def test_summary_defaults_to_business_currency(client, auth, data_set):
    assert (await summary(client, auth))["currency"] == "USD"
    response = await client.patch(
        "/api/auth/me", json={"business": {"default_currency": "EUR"}}, headers=auth
    )
    assert response.status_code == 200, response.text
    report = await summary(client, auth)
    assert report["currency"] == "EUR" and report["outstanding"] == "888.00"


async def test_summary_of_empty_account_is_all_zeros(client, auth):
    report = await summary(client, auth)
    assert report == {
        "currency": "USD",
        "outstanding": "0.00",
        "overdue": "0.00",
        "draft": "0.00",
        "paid_last_30_days": "0.00",
        "invoices_by_status": ZERO_COUNTS,
        "unbilled_seconds": 0,
        "unbilled_amount": "0.00",
        "revenue_by_month": [{"month": label, "paid": "0.00"} for label in last_12_months(today())],
    }


async def test_summary_months_cross_a_year_boundary(client, auth, user: Account, business_clock):
    business_clock.set(datetime(2026, 2, 15, 12, tzinfo=UTC))
    usd = await insert_client(user.id, "USD")
    payments = (
        (date(2025, 2, 28), 100),
        (date(2025, 3, 1), 200),
        (date(2025, 12, 31), 300),
        (date(2026, 1, 1), 400),
        (date(2026, 1, 16), 500),
        (date(2026, 1, 17), 600),
        (date(2026, 2, 15), 700),
        (date(2026, 3, 1), 800),
    )
    await insert_invoice(
        usd, "paid", sum(c for _, c in payments), due_date=date(2025, 3, 1), payments=payments
    )
    report = await summary(client, auth, currency="USD")
    assert report["revenue_by_month"] == [
        {"month": "2025-03", "paid": "2.00"},
        {"month": "2025-04", "paid": "0.00"},
        {"month": "2025-05", "paid": "0.00"},
        {"month": "2025-06", "paid": "0.00"},
        {"month": "2025-07", "paid": "0.00"},
        {"month": "2025-08", "paid": "0.00"},
        {"month": "2025-09", "paid": "0.00"},
        {"month": "2025-10", "paid": "0.00"},
        {"month": "2025-11", "paid": "0.00"},
        {"month": "2025-12", "paid": "3.00"},
        {"month": "2026-01", "paid": "15.00"},
        {"month": "2026-02", "paid": "7.00"},
    ]
    assert report["paid_last_30_days"] == "13.00"  # 2026-01-17 (today-29) and 2026-02-15; not 01-16 or 03-01


async def test_summary_month_window_in_december(client, auth, user: Account, business_clock):
    business_clock.set(datetime(2026, 12, 31, 12, tzinfo=UTC))
    usd = await insert_client(user.id, "USD")
    payments = (
        (date(2025, 12, 31), 100),
        (date(2026, 1, 1), 200),
        (date(2026, 12, 31), 300),
        (date(2027, 1, 1), 400),
    )
    await insert_invoice(usd, "paid", 1_000, due_date=date(2026, 1, 1), payments=payments)
    months = (await summary(client, auth, currency="USD"))["revenue_by_month"]
    assert [m["month"] for m in months] == [f"2026-{m:02d}" for m in range(1, 13)]
    assert months[0]["paid"] == "2.00" and months[-1]["paid"] == "3.00"
    assert sum(m["paid"] != "0.00" for m in months) == 2


@pytest.mark.parametrize("currency", ["usd", "US", "EURO", "U1D", "", "$ne"])
async def test_summary_rejects_invalid_currency(client, auth, currency):
    response = await client.get(SUMMARY, params={"currency": currency}, headers=auth)
    assert_problem(response, 400, "validation_error")


async def test_summary_requires_auth(client):
    assert_problem(await client.get(SUMMARY), 401, "unauthorized")
