"""GET /api/reports/aging (API.md section 22): the amount due of sent invoices by days past due, counted in the
organisation's time zone, per currency and per client, exact to the cent."""

from __future__ import annotations

import random
from collections import defaultdict
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from beanie import PydanticObjectId

from app.clients.models import Client
from app.core.clock import MovableClock
from app.invoices.models import Invoice, StoredPayment
from scripts import store_ops
from tests.conftest import Account, assert_problem
from tests.reports.factories import insert_invoice

AGING = "/api/reports/aging"
BUCKETS = ("current", "days_1_30", "days_31_60", "days_61_90", "days_over_90")
NOON = datetime(2026, 6, 15, 12, tzinfo=UTC)  # today is 15 June in UTC and in Europe


def money(cents: int) -> str:
    return f"{cents // 100}.{cents % 100:02d}"


def amounts(**cents: int) -> dict[str, str]:
    """Every bucket (0 unless named) and the total, as the report shows them."""
    every = {name: cents.get(name, 0) for name in BUCKETS}
    return {**{name: money(value) for name, value in every.items()}, "total": money(sum(every.values()))}


async def aging(http: Any, account: Account, **params: Any) -> dict[str, Any]:
    response = await http.get(AGING, params=params, headers=account.headers)
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


async def new_client(owner_id: str, name: str, currency: str) -> Client:
    client = Client(owner_id=PydanticObjectId(owner_id), name=name, currency=currency, payment_terms_days=30)
    await client.insert()
    return client


async def test_each_bucket_takes_the_days_past_due_up_to_its_last_day(
    client, user: Account, business_clock: MovableClock
):
    business_clock.set(NOON)
    today = NOON.date()
    acme = await new_client(user.id, "Acme", "EUR")
    due_in = {  # days past due (negative: not yet due) -> cents
        -10: 1,
        0: 2,  # due today: not yet overdue
        1: 40,
        30: 80,
        31: 1_600,
        60: 3_200,
        61: 64_000,
        90: 128_000,
        91: 2_560_000,
        400: 5_120_000,
    }
    for days, cents in due_in.items():
        await insert_invoice(acme, "sent", cents, due_date=today - timedelta(days=days))
    # Only what is still due counts: a part payment leaves the rest; drafts, paid and void never count.
    await insert_invoice(acme, "sent", 10_000, due_date=today - timedelta(days=5), payments=((today, 9_990),))
    for status in ("draft", "paid", "void"):
        await insert_invoice(acme, status, 99_999, due_date=today - timedelta(days=5))

    report = await aging(client, user)
    figures = amounts(
        current=1 + 2,
        days_1_30=40 + 80 + 10,
        days_31_60=1_600 + 3_200,
        days_61_90=64_000 + 128_000,
        days_over_90=2_560_000 + 5_120_000,
    )
    assert report == {
        "currencies": [
            {
                "currency": "EUR",
                **figures,
                "by_client": [{"client_id": str(acme.id), "client_name": "Acme", **figures}],
            }
        ]
    }


async def test_days_past_due_are_counted_in_the_organisations_time_zone(
    client, user: Account, business_clock: MovableClock
):
    acme = await new_client(user.id, "Acme", "EUR")
    await insert_invoice(acme, "sent", 1_000, due_date=date(2026, 6, 15))
    await insert_invoice(acme, "sent", 2_000, due_date=date(2026, 5, 16))  # 30 days before 15 June
    business_clock.set(datetime(2026, 6, 15, 10, tzinfo=UTC))  # 00:00 on 16 June in Kiritimati (UTC+14)

    in_utc = (await aging(client, user))["currencies"][0]
    assert {k: in_utc[k] for k in (*BUCKETS, "total")} == amounts(current=1_000, days_1_30=2_000)
    zoned = await client.patch(
        "/api/organization", json={"business": {"time_zone": "Pacific/Kiritimati"}}, headers=user.headers
    )
    assert zoned.status_code == 200, zoned.text
    in_zone = (await aging(client, user))["currencies"][0]
    assert {k: in_zone[k] for k in (*BUCKETS, "total")} == amounts(days_1_30=1_000, days_31_60=2_000)


async def test_currencies_by_code_clients_by_total_then_name_and_one_currency_on_request(
    client, user: Account, business_clock: MovableClock
):
    business_clock.set(NOON)
    today = NOON.date()
    made = {}
    for name, currency, cents in [
        ("Zeta", "USD", 500),
        ("Beta", "USD", 900),
        ("Alpha", "USD", 500),  # the same total as Zeta: by name
        ("Omega", "EUR", 100),
        ("Franc", "CHF", 7_700),
    ]:
        made[name] = await new_client(user.id, name, currency)
        await insert_invoice(made[name], "sent", cents, due_date=today)
    await new_client(user.id, "Nothing due", "USD")

    report = await aging(client, user)
    assert [entry["currency"] for entry in report["currencies"]] == ["CHF", "EUR", "USD"]
    usd = report["currencies"][2]
    assert [(c["client_name"], c["total"]) for c in usd["by_client"]] == [
        ("Beta", "9.00"),
        ("Alpha", "5.00"),
        ("Zeta", "5.00"),
    ]
    assert usd["total"] == usd["current"] == "19.00"
    only = await aging(client, user, currency="USD")
    assert only == {"currencies": [usd]}
    assert await aging(client, user, currency="JPY") == {"currencies": []}


@pytest.mark.parametrize("currency", ["ZZZ", "usd", "US", "EURO", ""])
async def test_a_currency_that_is_not_an_iso_code_in_use_is_refused(client, user: Account, currency: str):
    response = await client.get(AGING, params={"currency": currency}, headers=user.headers)
    assert_problem(response, 400, "validation_error")


async def test_another_organisations_invoices_are_never_counted(
    client, user: Account, other_user: Account, business_clock: MovableClock
):
    business_clock.set(NOON)
    mine = await new_client(user.id, "Mine", "EUR")
    theirs = await new_client(other_user.id, "Theirs", "EUR")
    await insert_invoice(mine, "sent", 1_234, due_date=date(2026, 6, 1))
    await insert_invoice(theirs, "sent", 99_999, due_date=date(2026, 6, 1))
    # Even an invoice of theirs naming my client (which no route can make) is theirs alone.
    await insert_invoice(
        mine.model_copy(update={"owner_id": PydanticObjectId(other_user.id)}),
        "sent",
        555,
        due_date=date(2026, 6, 1),
    )

    report = await aging(client, user)
    assert [(c["client_name"], c["total"]) for c in report["currencies"][0]["by_client"]] == [
        ("Mine", "12.34")
    ]
    assert report["currencies"][0]["total"] == "12.34"
    their_report = await aging(client, other_user)
    assert their_report["currencies"][0]["total"] == "1005.54"  # 999.99 + 5.55
    assert {c["client_name"] for c in their_report["currencies"][0]["by_client"]} == {"Theirs", ""}


async def test_the_report_costs_the_same_store_operations_whatever_the_number_of_clients(
    app, client, user: Account, business_clock: MovableClock
):
    business_clock.set(NOON)
    for index in range(12):
        named = await new_client(user.id, f"Client {index}", "EUR" if index % 2 else "USD")
        await insert_invoice(named, "sent", 100 + index, due_date=NOON.date() - timedelta(days=index * 9))
    with store_ops.counting():
        answer = await store_ops.request(app, "GET", AGING, user.token)
    assert answer.status == 200
    # authentication (with the organisation's zone), the one aggregation, the clients' names
    assert answer.tally.operations == ["users.aggregate", "invoices.aggregate", "clients.find"]


# ---------------------------------------------------------------- the property test

STATUSES = ("draft", "sent", "sent", "sent", "paid", "void")
EDGES = (-1, 0, 1, 30, 31, 60, 61, 90, 91)  # the days past due on either side of each bucket's edge


def brute_force(invoices: list[Invoice], names: dict[Any, str], today: date) -> dict[str, Any]:
    """The report computed the plain way, invoice by invoice, in Python."""
    sums: dict[str, dict[Any, list[int]]] = defaultdict(lambda: defaultdict(lambda: [0] * 5))
    for invoice in invoices:
        if invoice.status != "sent" or invoice.amount_due_cents <= 0:
            continue
        late = (today - invoice.due_date).days
        bucket = 0 if late <= 0 else 1 if late <= 30 else 2 if late <= 60 else 3 if late <= 90 else 4
        sums[invoice.currency][invoice.client_id][bucket] += invoice.amount_due_cents
    currencies = []
    for code in sorted(sums):
        rows = [
            {
                "client_id": str(cid),
                "client_name": names[cid],
                **amounts(**dict(zip(BUCKETS, cents, strict=True))),
            }
            for cid, cents in sums[code].items()
        ]
        rows.sort(key=lambda row: (-int(row["total"].replace(".", "")), row["client_name"]))
        totals = [sum(row_cents[i] for row_cents in sums[code].values()) for i in range(5)]
        currencies.append(
            {"currency": code, **amounts(**dict(zip(BUCKETS, totals, strict=True))), "by_client": rows}
        )
    return {"currencies": currencies}


async def test_the_report_matches_a_brute_force_computation_over_500_random_invoices(
    client, user: Account, other_user: Account, business_clock: MovableClock
):
    rng = random.Random(20261207)
    zone = "America/New_York"
    zoned = await client.patch(
        "/api/organization", json={"business": {"time_zone": zone}}, headers=user.headers
    )
    assert zoned.status_code == 200, zoned.text
    moment = datetime(2026, 3, 9, 3, 30, tzinfo=UTC)  # 23:30 on 8 March in New York, the day DST begins
    business_clock.set(moment)
    today = moment.astimezone(ZoneInfo(zone)).date()
    assert today == date(2026, 3, 8)

    clients = [
        await new_client(user.id, f"Client {i:02d}", rng.choice(["EUR", "USD", "CHF", "JPY"]))
        for i in range(15)
    ]
    names = {c.id: c.name for c in clients}
    invoices = []
    for _ in range(500):
        owner = rng.choice(clients)
        total = rng.choice([rng.randint(1, 99), rng.randint(100, 10_000_00), rng.randint(1, 99_999_999_99)])
        status = rng.choice(STATUSES)
        paid = (
            0
            if status in ("draft", "void")
            else total
            if status == "paid"
            else rng.choice([0, 0, rng.randint(0, total), total - 1 if total > 1 else 0])
        )
        late = rng.choice([rng.randint(-40, 150), rng.choice(EDGES)])  # days past due, edges often
        due = today - timedelta(days=late)
        payments = [StoredPayment(amount_cents=paid, paid_on=today)] if paid else []
        invoices.append(
            Invoice(
                owner_id=owner.owner_id,
                number_slot=f"test:{PydanticObjectId()}",
                client_id=owner.id,
                status=status,
                currency=owner.currency,
                issue_date=due - timedelta(days=30),
                due_date=due,
                tax_rate=0,
                discount_rate=0,
                subtotal_cents=total,
                total_cents=total,
                amount_paid_cents=paid,
                amount_due_cents=total - paid,
                payments=payments,
            )
        )
    await Invoice.insert_many(invoices)
    # Another organisation's invoices in the same currencies, due the same days: never counted.
    stranger = await new_client(other_user.id, "Stranger", "EUR")
    for days in (-5, 5, 45, 75, 120):
        await insert_invoice(stranger, "sent", 777_77, due_date=today - timedelta(days=days))

    report = await aging(client, user)
    assert report == brute_force(invoices, names, today)
    assert sum(len(entry["by_client"]) for entry in report["currencies"]) > 10  # the draw covered many
    assert all(entry[name] != "0.00" for name in BUCKETS for entry in report["currencies"][:1])
    for code in ("EUR", "USD"):
        assert await aging(client, user, currency=code) == {
            "currencies": [
                e for e in brute_force(invoices, names, today)["currencies"] if e["currency"] == code
            ]
        }
