"""The runs (API.md section 23): at the organisation's local midnight of each run date, by the business clock
(moved here, never slept on), one invoice per period; month ends, DST, a change of time zone, downtime,
pauses, end_date; sending through the invoices' own path; a refused invoice pauses its schedule."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from app.core.clock import using_clock
from tests.clients.factories import create_client
from tests.events.helpers import poll_all
from tests.recurring.helpers import (
    at_midnight,
    clock_at,
    create_schedule,
    get_schedule,
    invoices_of,
    just_before_midnight,
    run_worker,
    set_zone,
)

PATH = "/api/recurring-invoices"


@pytest.fixture
def business_clock():
    with using_clock(clock_at("2027-01-10T12:00")) as clock:
        yield clock


def periods(invoices: list[dict]) -> list[tuple[str, str, str]]:
    return [(i["issue_date"], i["period"]["start"], i["period"]["end"]) for i in invoices]


async def test_month_ends_fall_on_the_last_day_and_return_to_the_start_day(client, auth, business_clock):
    made = await create_schedule(client, auth, start_date="2027-01-31")
    for day in ("2027-01-31", "2027-02-28", "2027-03-31", "2027-04-30", "2027-05-31"):
        just_before_midnight(date.fromisoformat(day), "UTC", business_clock)
        await run_worker()
        at_midnight(date.fromisoformat(day), "UTC", business_clock)
        await run_worker()
    assert periods(await invoices_of(client, auth, made["id"])) == [
        ("2027-01-31", "2027-01-31", "2027-02-27"),
        ("2027-02-28", "2027-02-28", "2027-03-30"),
        ("2027-03-31", "2027-03-31", "2027-04-29"),
        ("2027-04-30", "2027-04-30", "2027-05-30"),
        ("2027-05-31", "2027-05-31", "2027-06-29"),
    ]
    assert (await get_schedule(client, auth, made["id"]))["next_run_on"] == "2027-06-30"


async def test_a_leap_year_february_and_a_yearly_29_february(client, auth, business_clock):
    monthly = await create_schedule(client, auth, start_date="2028-01-30")
    yearly = await create_schedule(client, auth, start_date="2028-02-29", frequency="yearly")
    business_clock.set(clock_at("2029-03-01T00:00").moment)  # a worker down the whole time catches up
    await run_worker()
    runs = [p[0] for p in periods(await invoices_of(client, auth, monthly["id"]))]
    assert runs[:3] == ["2028-01-30", "2028-02-29", "2028-03-30"] and runs[-1] == "2029-02-28"
    assert periods(await invoices_of(client, auth, yearly["id"])) == [
        ("2028-02-29", "2028-02-29", "2029-02-27"),
        ("2029-02-28", "2029-02-28", "2030-02-27"),
    ]


async def test_a_worker_down_for_three_periods_makes_three_invoices_oldest_first(
    client, auth, business_clock
):
    made = await create_schedule(client, auth, start_date="2027-01-12", frequency="weekly", interval=2)
    business_clock.set(clock_at("2027-02-12T09:00").moment)  # runs of 12 Jan, 26 Jan, 9 Feb were missed
    await run_worker()
    invoices = await invoices_of(client, auth, made["id"])
    assert periods(invoices) == [
        ("2027-01-12", "2027-01-12", "2027-01-25"),
        ("2027-01-26", "2027-01-26", "2027-02-08"),
        ("2027-02-09", "2027-02-09", "2027-02-22"),
    ]
    made_in_order = sorted(invoices, key=lambda i: i["created_at"])
    assert [i["issue_date"] for i in made_in_order] == ["2027-01-12", "2027-01-26", "2027-02-09"]
    schedule = await get_schedule(client, auth, made["id"])
    assert schedule["next_run_on"] == "2027-02-23" and schedule["last_invoice_id"] == invoices[-1]["id"]
    await run_worker()
    assert len(await invoices_of(client, auth, made["id"])) == 3  # nothing twice


@pytest.mark.parametrize(
    ("zone", "start", "runs"),
    [
        # Europe/Berlin moves to summer time on 28 March 2027 and back on 31 October.
        (
            "Europe/Berlin",
            "2027-03-21",
            ["2027-03-21T00:00+01:00", "2027-03-28T00:00+01:00", "2027-04-04T00:00+02:00"],
        ),
        (
            "Europe/Berlin",
            "2027-10-24",
            ["2027-10-24T00:00+02:00", "2027-10-31T00:00+02:00", "2027-11-07T00:00+01:00"],
        ),
        # America/New_York on 14 March and 7 November 2027.
        (
            "America/New_York",
            "2027-03-07",
            ["2027-03-07T00:00-05:00", "2027-03-14T00:00-05:00", "2027-03-21T00:00-04:00"],
        ),
        (
            "America/New_York",
            "2027-10-31",
            ["2027-10-31T00:00-04:00", "2027-11-07T00:00-04:00", "2027-11-14T00:00-05:00"],
        ),
    ],
)
async def test_runs_happen_at_local_midnight_across_dst_changes(client, auth, zone, start, runs):
    from datetime import datetime

    with using_clock(clock_at("2027-01-01T00:00")) as business_clock:
        await set_zone(client, auth, zone)
        business_clock.set(datetime.fromisoformat(start + "T00:00+00:00") - timedelta(days=2))
        made = await create_schedule(client, auth, start_date=start, frequency="weekly")
        for count, local in enumerate(runs, start=1):
            midnight = datetime.fromisoformat(local)
            business_clock.set(midnight - timedelta(milliseconds=1))
            await run_worker()
            assert len(await invoices_of(client, auth, made["id"])) == count - 1, f"early before {local}"
            business_clock.set(midnight)
            await run_worker()
            invoices = await invoices_of(client, auth, made["id"])
            assert len(invoices) == count, f"not at {local}"
            assert invoices[-1]["issue_date"] == local[:10]


async def test_a_change_of_time_zone_between_runs_moves_the_next_run_to_the_new_midnight(
    client, auth, business_clock
):
    made = await create_schedule(client, auth, start_date="2027-01-15")
    at_midnight(date(2027, 1, 15), "UTC", business_clock)
    await run_worker()
    # East of UTC: 15 February begins in Auckland (UTC+13) at 11:00 UTC on 14 February.
    await set_zone(client, auth, "Pacific/Auckland")
    just_before_midnight(date(2027, 2, 15), "Pacific/Auckland", business_clock)
    await run_worker()
    assert len(await invoices_of(client, auth, made["id"])) == 1
    at_midnight(date(2027, 2, 15), "Pacific/Auckland", business_clock)
    assert business_clock.now().isoformat().startswith("2027-02-14T11:00")
    await run_worker()
    assert len(await invoices_of(client, auth, made["id"])) == 2
    # West of UTC: 15 March begins in Los Angeles (UTC-7 in March) at 07:00 UTC.
    await set_zone(client, auth, "America/Los_Angeles")
    just_before_midnight(date(2027, 3, 15), "America/Los_Angeles", business_clock)
    assert business_clock.now().isoformat().startswith("2027-03-15T06:59:59.999")
    await run_worker()
    assert len(await invoices_of(client, auth, made["id"])) == 2
    at_midnight(date(2027, 3, 15), "America/Los_Angeles", business_clock)
    await run_worker()
    assert [p[0] for p in periods(await invoices_of(client, auth, made["id"]))] == [
        "2027-01-15",
        "2027-02-15",
        "2027-03-15",
    ]


async def test_runs_that_fall_while_paused_are_skipped(client, auth, business_clock):
    made = await create_schedule(client, auth, start_date="2027-01-11", frequency="weekly")
    at_midnight(date(2027, 1, 11), "UTC", business_clock)
    await run_worker()
    assert (await client.post(f"{PATH}/{made['id']}/pause", headers=auth)).status_code == 200
    business_clock.set(clock_at("2027-02-02T10:00").moment)  # 18 Jan, 25 Jan and 1 Feb fall while paused
    await run_worker()
    assert len(await invoices_of(client, auth, made["id"])) == 1
    resumed = (await client.post(f"{PATH}/{made['id']}/resume", headers=auth)).json()
    assert resumed["next_run_on"] == "2027-02-08"  # the first run date on or after today (2 Feb)
    await run_worker()
    assert len(await invoices_of(client, auth, made["id"])) == 1
    at_midnight(date(2027, 2, 8), "UTC", business_clock)
    await run_worker()
    assert [p[0] for p in periods(await invoices_of(client, auth, made["id"]))] == [
        "2027-01-11",
        "2027-02-08",
    ]


async def test_a_run_queued_before_a_pause_makes_nothing(client, auth, business_clock):
    from app.recurring import jobs
    from tests.jobs import new_worker

    made = await create_schedule(client, auth, start_date="2027-01-10")
    assert await jobs.schedule_due_runs() == 1
    assert (await client.post(f"{PATH}/{made['id']}/pause", headers=auth)).status_code == 200
    await new_worker().run_until_idle()
    assert await invoices_of(client, auth, made["id"]) == []
    assert (await get_schedule(client, auth, made["id"]))["next_run_on"] == "2027-01-10"


async def test_a_resume_on_the_day_of_a_run_made_does_not_bill_it_again(client, auth, business_clock):
    made = await create_schedule(client, auth, start_date="2027-01-10")
    await run_worker()
    path = f"{PATH}/{made['id']}"
    assert (await client.post(f"{path}/pause", headers=auth)).status_code == 200
    resumed = (await client.post(f"{path}/resume", headers=auth)).json()
    assert resumed["next_run_on"] == "2027-02-10"
    await run_worker()
    assert len(await invoices_of(client, auth, made["id"])) == 1


async def test_end_date_is_the_last_possible_run(client, auth, business_clock):
    made = await create_schedule(client, auth, start_date="2027-01-15", end_date="2027-03-15")
    business_clock.set(clock_at("2027-06-01T00:00").moment)
    await run_worker()
    assert [p[0] for p in periods(await invoices_of(client, auth, made["id"]))] == [
        "2027-01-15",
        "2027-02-15",
        "2027-03-15",
    ]
    ended = await get_schedule(client, auth, made["id"])
    assert (ended["status"], ended["next_run_on"]) == ("ended", None)
    types = [e["type"] for e in await poll_all(client, auth) if e["type"].startswith("recurring_invoice.")]
    assert types == ["recurring_invoice.created", "recurring_invoice.ended"]
    business_clock.set(clock_at("2028-01-01T00:00").moment)
    await run_worker()
    assert len(await invoices_of(client, auth, made["id"])) == 3


async def test_a_resume_past_the_end_date_ends_the_schedule(client, auth, business_clock):
    made = await create_schedule(client, auth, start_date="2027-01-20", end_date="2027-02-20")
    assert (await client.post(f"{PATH}/{made['id']}/pause", headers=auth)).status_code == 200
    business_clock.set(clock_at("2027-03-01T00:00").moment)
    resumed = (await client.post(f"{PATH}/{made['id']}/resume", headers=auth)).json()
    assert (resumed["status"], resumed["next_run_on"]) == ("ended", None)


async def test_a_run_copies_the_schedule_and_is_the_systems(client, auth, business_clock):
    acme = await create_client(client, auth, payment_terms_days=14, currency="EUR")
    made = await create_schedule(
        client, auth, acme["id"], start_date="2027-01-10", tax_rate="19", discount_rate="5", notes="Retainer"
    )
    await run_worker()
    (invoice,) = await invoices_of(client, auth, made["id"])
    assert invoice["status"] == "draft" and invoice["number"] is None
    assert (invoice["client_id"], invoice["currency"], invoice["notes"]) == (acme["id"], "EUR", "Retainer")
    assert (invoice["issue_date"], invoice["due_date"]) == ("2027-01-10", "2027-01-24")
    assert (invoice["tax_rate"], invoice["discount_rate"], invoice["total"]) == ("19", "5", "1130.50")
    assert invoice["lines"] == made["lines"]
    assert invoice["created_by"] == {"type": "system", "id": None}
    events = [e for e in await poll_all(client, auth) if e["type"] == "invoice.created"]
    assert [e["data"]["object"]["id"] for e in events] == [invoice["id"]]
    assert events[0]["actor"]["type"] == "system"
    assert (await get_schedule(client, auth, made["id"]))["last_invoice_id"] == invoice["id"]


async def test_send_mode_sends_through_the_invoices_send(client, auth, business_clock):
    made = await create_schedule(client, auth, start_date="2027-01-10", send="send", frequency="weekly")
    business_clock.set(clock_at("2027-01-17T00:00").moment)
    await run_worker()
    invoices = await invoices_of(client, auth, made["id"])
    assert [(i["status"], i["number"]) for i in invoices] == [("sent", "INV-0001"), ("sent", "INV-0002")]
    assert all(i["document"] is not None for i in invoices)
    pdf = await client.get(f"/api/invoices/{invoices[0]['id']}/pdf", headers=auth)
    assert pdf.status_code == 200 and pdf.headers["etag"] == f'"{invoices[0]["document"]["sha256"]}"'
    types = [e["type"] for e in await poll_all(client, auth) if e["type"].startswith("invoice.")]
    assert types == ["invoice.created", "invoice.sent", "invoice.created", "invoice.sent"]


async def test_a_run_whose_invoice_is_refused_pauses_the_schedule_with_the_reason(
    client, auth, business_clock
):
    # The default due date of a run on 15 December 2999 (+ 30 days) lies past the calendar's last day: the
    # invoice rules refuse it (400), so the run cannot make its invoice.
    business_clock.set(clock_at("2999-11-20T00:00").moment)
    acme = await create_client(client, auth, payment_terms_days=30)
    made = await create_schedule(client, auth, acme["id"], start_date="2999-12-15")
    at_midnight(date(2999, 12, 15), "UTC", business_clock)
    await run_worker()
    paused = await get_schedule(client, auth, made["id"])
    assert paused["status"] == "paused" and paused["next_run_on"] == "2999-12-15"
    assert "2999-12-15" in paused["paused_reason"] and "due_date" in paused["paused_reason"]
    assert await invoices_of(client, auth, made["id"]) == []
    failed = [e for e in await poll_all(client, auth) if e["type"] == "recurring_invoice.failed"]
    assert [e["data"]["object"]["paused_reason"] for e in failed] == [paused["paused_reason"]]
    assert failed[0]["actor"]["type"] == "system"
    business_clock.move(timedelta(days=10))
    await run_worker()  # never retried by itself
    assert await get_schedule(client, auth, made["id"]) == paused
    assert (
        await client.patch(f"/api/clients/{acme['id']}", json={"payment_terms_days": 10}, headers=auth)
    ).status_code == 200
    business_clock.set(clock_at("2999-12-15T10:00").moment)
    resumed = (await client.post(f"{PATH}/{made['id']}/resume", headers=auth)).json()
    assert (resumed["status"], resumed["paused_reason"], resumed["next_run_on"]) == (
        "active",
        None,
        "2999-12-15",
    )
    await run_worker()
    (invoice,) = await invoices_of(client, auth, made["id"])
    assert invoice["due_date"] == "2999-12-25"
    assert (await get_schedule(client, auth, made["id"]))["status"] == "ended"  # no month after 2999


async def test_a_client_a_schedule_names_cannot_be_deleted(client, auth, business_clock):
    acme = await create_client(client, auth)
    made = await create_schedule(client, auth, acme["id"], start_date="2027-01-11")
    response = await client.delete(f"/api/clients/{acme['id']}", headers=auth)
    assert response.status_code == 409 and response.json()["code"] == "in_use"
    assert (await client.delete(f"{PATH}/{made['id']}", headers=auth)).status_code == 204
    assert (await client.delete(f"/api/clients/{acme['id']}", headers=auth)).status_code == 204


async def test_an_e_invoice_that_fails_validation_pauses_the_schedule_and_keeps_the_draft(
    client, auth, business_clock
):
    # Factur-X without the seller's address and VAT id breaks EN 16931 rules: send answers 422 for it.
    response = await client.patch("/api/auth/me", json={"business": {"e_invoice": "factur-x"}}, headers=auth)
    assert response.status_code == 200, response.text
    made = await create_schedule(client, auth, start_date="2027-01-10", send="send", tax_rate="19")
    await run_worker()
    paused = await get_schedule(client, auth, made["id"])
    assert paused["status"] == "paused" and "e-invoice" in paused["paused_reason"].lower()
    (draft,) = await invoices_of(client, auth, made["id"])
    assert (draft["status"], draft["number"]) == ("draft", None)  # no number used
    counter = await client.post(f"/api/invoices/{draft['id']}/validate", headers=auth)
    assert counter.status_code == 200 and counter.json()["valid"] is False
