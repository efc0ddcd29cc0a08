"""The business "today" is the organisation's date in its `business.time_zone` (API.md section 22), read on the business
clock: the default issue_date and due_date, a payment's default paid_on, is_overdue and the overdue filter.
Each test moves a MovableClock (never sleeps) to moments where the zone's date and UTC's differ, so computing
today in UTC fails it."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from bson import ObjectId

from app.core.clock import MovableClock, local_midnight
from app.invoices.models import Invoice
from tests.clients.factories import create_client
from tests.conftest import Account, assert_problem
from tests.events.helpers import poll_all
from tests.invoices.factories import DEFAULT_LINES, add_payment, create_invoice, send_invoice

MS = timedelta(milliseconds=1)


async def in_zone(http: Any, account: Account, zone: str) -> None:
    response = await http.patch(
        "/api/organization", json={"business": {"time_zone": zone}}, headers=account.headers
    )
    assert response.status_code == 200, response.text
    assert response.json()["business"]["time_zone"] == zone


async def draft(http: Any, account: Account, client_id: str, **fields: Any) -> dict[str, Any]:
    return await create_invoice(http, account.headers, client_id, **fields)


async def test_an_invoice_made_at_half_past_midnight_in_berlin_is_dated_that_berlin_day(
    client, user: Account, other_user: Account, business_clock: MovableClock
):
    await in_zone(client, user, "Europe/Berlin")
    berlin = await create_client(client, user.headers, payment_terms_days=14)
    utc = await create_client(client, other_user.headers, payment_terms_days=14)
    business_clock.set(datetime(2026, 2, 28, 23, 30, tzinfo=UTC))  # 00:30 on 1 March in Berlin

    made = await draft(client, user, berlin["id"])
    assert (made["issue_date"], made["due_date"]) == ("2026-03-01", "2026-03-15")
    # The same moment in an organisation that kept the default zone is still 28 February.
    theirs = await draft(client, other_user, utc["id"])
    assert (theirs["issue_date"], theirs["due_date"]) == ("2026-02-28", "2026-03-14")
    # A due_date alone defaults the issue_date to the organisation's today, and may not precede it.
    early = await client.post(
        "/api/invoices",
        json={"client_id": berlin["id"], "lines": DEFAULT_LINES, "due_date": "2026-02-28"},
        headers=user.headers,
    )
    body = assert_problem(early, 400, "validation_error")
    assert [error["field"] for error in body["errors"]] == ["due_date"]
    # ... a rule of the body, checked before its client_id (which names nothing here) is looked up.
    unknown_client = await client.post(
        "/api/invoices",
        json={"client_id": str(ObjectId()), "lines": DEFAULT_LINES, "due_date": "2026-02-28"},
        headers=user.headers,
    )
    assert_problem(unknown_client, 400, "validation_error")
    on_the_day = await draft(client, user, berlin["id"], due_date="2026-03-01")
    assert (on_the_day["issue_date"], on_the_day["due_date"]) == ("2026-03-01", "2026-03-01")
    # An explicit issue_date is kept, and the due_date defaults from it.
    dated = await draft(client, user, berlin["id"], issue_date="2026-01-31")
    assert (dated["issue_date"], dated["due_date"]) == ("2026-01-31", "2026-02-14")


# (zone, the day, the UTC instant it begins there): written out, so that a wrong offset cannot agree with
# local_midnight by making the same mistake.
MIDNIGHTS = [
    ("Pacific/Kiritimati", date(2026, 3, 2), datetime(2026, 3, 1, 10, 0, tzinfo=UTC)),  # UTC+14
    ("Etc/GMT+12", date(2026, 3, 1), datetime(2026, 3, 1, 12, 0, tzinfo=UTC)),  # UTC-12
    # Berlin: the night clocks go forward (29 March) and back (25 October), and the midnights after them.
    ("Europe/Berlin", date(2026, 3, 29), datetime(2026, 3, 28, 23, 0, tzinfo=UTC)),
    ("Europe/Berlin", date(2026, 3, 30), datetime(2026, 3, 29, 22, 0, tzinfo=UTC)),
    ("Europe/Berlin", date(2026, 10, 25), datetime(2026, 10, 24, 22, 0, tzinfo=UTC)),
    ("Europe/Berlin", date(2026, 10, 26), datetime(2026, 10, 25, 23, 0, tzinfo=UTC)),
    # New York: forward on 8 March, back on 1 November.
    ("America/New_York", date(2026, 3, 8), datetime(2026, 3, 8, 5, 0, tzinfo=UTC)),
    ("America/New_York", date(2026, 3, 9), datetime(2026, 3, 9, 4, 0, tzinfo=UTC)),
    ("America/New_York", date(2026, 11, 1), datetime(2026, 11, 1, 4, 0, tzinfo=UTC)),
    ("America/New_York", date(2026, 11, 2), datetime(2026, 11, 2, 5, 0, tzinfo=UTC)),
]


@pytest.mark.parametrize(("zone", "day", "midnight"), MIDNIGHTS, ids=lambda v: str(v))
async def test_the_date_turns_at_the_organisations_midnight(
    client, user: Account, business_clock: MovableClock, zone: str, day: date, midnight: datetime
):
    assert local_midnight(day, zone) == midnight
    await in_zone(client, user, zone)
    acme = await create_client(client, user.headers, payment_terms_days=0)

    business_clock.set(midnight - MS)
    before = await draft(client, user, acme["id"])
    business_clock.set(midnight)
    after = await draft(client, user, acme["id"])

    assert (before["issue_date"], after["issue_date"]) == (str(day - timedelta(days=1)), str(day))
    assert after["due_date"] == str(day)


async def test_a_payment_is_dated_the_organisations_today_by_default(
    client, user: Account, business_clock: MovableClock
):
    await in_zone(client, user, "America/New_York")
    acme = await create_client(client, user.headers)
    sent = await send_invoice(client, user.headers, (await draft(client, user, acme["id"]))["id"])
    business_clock.set(datetime(2026, 11, 2, 4, 30, tzinfo=UTC))  # 23:30 on 1 November in New York (EST)
    paid = await add_payment(client, user.headers, sent["id"], "40.00")
    assert [payment["paid_on"] for payment in paid["payments"]] == ["2026-11-01"]
    explicit = await add_payment(client, user.headers, sent["id"], "60.00", paid_on="2026-10-30")
    assert [payment["paid_on"] for payment in explicit["payments"]] == ["2026-11-01", "2026-10-30"]


async def overdue_ids(http: Any, account: Account, overdue: bool) -> set[str]:
    response = await http.get(
        "/api/invoices", params={"overdue": str(overdue).lower(), "limit": 100}, headers=account.headers
    )
    assert response.status_code == 200, response.text
    return {item["id"] for item in response.json()["items"]}


async def test_is_overdue_turns_at_the_organisations_midnight_not_utcs(
    client, user: Account, business_clock: MovableClock
):
    await in_zone(client, user, "Pacific/Kiritimati")  # UTC+14: its days begin at 10:00 UTC the day before
    acme = await create_client(client, user.headers)
    business_clock.set(datetime(2026, 2, 20, 12, tzinfo=UTC))
    invoice = await draft(client, user, acme["id"], issue_date="2026-02-20", due_date="2026-03-01")
    await send_invoice(client, user.headers, invoice["id"])

    async def seen() -> tuple[bool, bool, bool]:
        one = await client.get(f"/api/invoices/{invoice['id']}", headers=user.headers)
        assert one.status_code == 200, one.text
        return (
            one.json()["is_overdue"],
            invoice["id"] in await overdue_ids(client, user, True),
            invoice["id"] in await overdue_ids(client, user, False),
        )

    # 2 March begins in Kiritimati at 10:00 UTC on 1 March, while UTC's 1 March has 14 hours to go.
    business_clock.set(datetime(2026, 3, 1, 10, tzinfo=UTC) - MS)
    assert await seen() == (False, False, True)
    business_clock.set(datetime(2026, 3, 1, 10, tzinfo=UTC))
    assert await seen() == (True, True, False)
    tag = (await client.get(f"/api/invoices/{invoice['id']}", headers=user.headers)).headers["etag"]
    business_clock.set(datetime(2026, 3, 1, 10, tzinfo=UTC) - MS)  # back a millisecond: not yet, nor its tag
    assert (await client.get(f"/api/invoices/{invoice['id']}", headers=user.headers)).headers["etag"] != tag


async def test_the_invoice_snapshot_in_an_event_is_overdue_in_the_organisations_zone(
    client, user: Account, business_clock: MovableClock
):
    await in_zone(client, user, "Europe/Berlin")
    acme = await create_client(client, user.headers)
    business_clock.set(datetime(2026, 3, 1, 23, 30, tzinfo=UTC))  # 00:30 on 2 March in Berlin
    invoice = await draft(client, user, acme["id"], issue_date="2026-02-20", due_date="2026-03-01")
    sent = await send_invoice(client, user.headers, invoice["id"])
    assert sent["is_overdue"] is True
    [event] = [e for e in await poll_all(client, user.headers) if e["type"] == "invoice.sent"]
    assert event["data"]["object"]["is_overdue"] is True


async def test_a_sent_invoice_with_nothing_due_is_never_overdue(
    client, user: Account, business_clock: MovableClock
):
    acme = await create_client(client, user.headers)
    business_clock.set(datetime(2026, 3, 10, 12, tzinfo=UTC))
    owed, settled = [
        await send_invoice(
            client,
            user.headers,
            (await draft(client, user, acme["id"], issue_date="2026-02-01", due_date="2026-03-01"))["id"],
        )
        for _ in range(2)
    ]
    # What a credit note does (section 22): nothing left due while the invoice stays sent.
    await Invoice.get_motor_collection().update_one(
        {"_id": ObjectId(settled["id"])}, {"$set": {"amount_due_cents": 0}}
    )
    got = await client.get(f"/api/invoices/{settled['id']}", headers=user.headers)
    assert got.json()["status"] == "sent" and got.json()["is_overdue"] is False
    assert await overdue_ids(client, user, True) == {owed["id"]}
    assert settled["id"] in await overdue_ids(client, user, False)


@pytest.mark.parametrize("path", ["/api/organization", "/api/auth/me"])
@pytest.mark.parametrize("zone", ["Mars/Olympus_Mons", "europe/berlin", "CEST", "+02:00", ""])
async def test_an_unknown_time_zone_is_refused(client, user: Account, path: str, zone: str):
    response = await client.patch(path, json={"business": {"time_zone": zone}}, headers=user.headers)
    body = assert_problem(response, 400, "validation_error")
    [error] = body["errors"]  # named by its path, or by `business` with the field in the message
    assert error["field"] in ("business", "business.time_zone") and "time_zone" in body["detail"]
    kept = await client.get("/api/organization", headers=user.headers)
    assert kept.json()["business"]["time_zone"] == "UTC"
