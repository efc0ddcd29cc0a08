"""Invoices over HTTP: create, totals, money round trip, read, list, edit and delete of drafts."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime, timedelta

import pytest
from bson import Decimal128, ObjectId

from app.invoices.models import Invoice
from tests.clients.factories import create_client
from tests.conftest import Account, assert_problem, moment
from tests.invoices.factories import add_payment, create_invoice, create_sent_invoice, send_invoice
from tests.projects.factories import create_project

WORKED_EXAMPLE = {
    "lines": [
        {"description": "Widgets", "quantity": 3, "unit_price": 19.99},  # JSON numbers are exact too
        {"description": "Design", "quantity": "1.5", "unit_price": "100"},
        {"description": "Rounding", "quantity": "0.3333", "unit_price": "10.00"},
    ],
    "discount_rate": "10",
    "tax_rate": "8.875",
}


def today() -> date:
    return datetime.now(UTC).date()


# ---------------------------------------------------------------- create and totals


async def test_create_invoice_computes_worked_example_totals(client, auth):
    invoice = await create_invoice(client, auth, **WORKED_EXAMPLE)
    assert [(line["quantity"], line["unit_price"], line["amount"]) for line in invoice["lines"]] == [
        ("3", "19.99", "59.97"),
        ("1.5", "100.00", "150.00"),
        ("0.3333", "10.00", "3.33"),
    ]
    assert (invoice["tax_rate"], invoice["discount_rate"]) == ("8.875", "10")
    totals = {k: invoice[k] for k in ("subtotal", "discount", "tax", "total", "amount_paid", "amount_due")}
    assert totals == {
        "subtotal": "213.30",
        "discount": "21.33",
        "tax": "17.04",
        "total": "209.01",
        "amount_paid": "0.00",
        "amount_due": "209.01",
    }


async def test_create_invoice_stores_integer_cents_and_returns_money_strings(client, auth):
    invoice = await create_invoice(client, auth, **WORKED_EXAMPLE)
    raw = await Invoice.get_motor_collection().find_one({"_id": ObjectId(invoice["id"])})
    cents = {
        k: raw[k]
        for k in (
            "subtotal_cents",
            "discount_cents",
            "tax_cents",
            "total_cents",
            "amount_paid_cents",
            "amount_due_cents",
        )
    }
    assert cents == {
        "subtotal_cents": 21330,
        "discount_cents": 2133,
        "tax_cents": 1704,
        "total_cents": 20901,
        "amount_paid_cents": 0,
        "amount_due_cents": 20901,
    }
    assert all(type(value) is int for value in cents.values())
    assert [(line["unit_price_cents"], line["amount_cents"]) for line in raw["lines"]] == [
        (1999, 5997),
        (10000, 15000),
        (1000, 333),
    ]
    assert raw["lines"][2]["quantity"] == Decimal128("0.3333")
    assert raw["tax_rate"] == Decimal128("8.875")
    assert raw["number"] is None and raw["status"] == "draft"
    fetched = (await client.get(f"/api/invoices/{invoice['id']}", headers=auth)).json()
    assert fetched == invoice
    assert (fetched["total"], fetched["lines"][0]["unit_price"]) == ("209.01", "19.99")


async def test_create_invoice_defaults_from_client_and_business_profile(client, auth):
    await client.patch("/api/auth/me", json={"business": {"default_tax_rate": "20"}}, headers=auth)
    acme = await create_client(client, auth, currency="EUR", payment_terms_days=14)
    invoice = await create_invoice(client, auth, acme["id"])
    assert set(invoice) == {
        "id", "number", "client_id", "project_id", "status", "is_overdue", "currency", "issue_date", "due_date",
        "lines", "notes", "tax_rate", "tax_category", "tax_exemption_reason", "discount_rate", "subtotal", "discount", "tax", "tax_breakdown", "total", "amount_paid",
        "amount_due", "amount_credited", "refund_due", "payments", "document", "sent_at", "paid_at", "voided_at",
        "created_by", "created_at", "updated_at",
        "recurring_invoice_id", "period",
    }  # fmt: skip
    assert (invoice["recurring_invoice_id"], invoice["period"]) == (None, None)  # made by hand (section 23)
    assert invoice["currency"] == "EUR"
    assert invoice["issue_date"] == today().isoformat()
    assert invoice["due_date"] == (today() + timedelta(days=14)).isoformat()
    assert (invoice["tax_rate"], invoice["discount_rate"]) == ("20", "0")
    assert (invoice["subtotal"], invoice["tax"], invoice["total"]) == ("100.00", "20.00", "120.00")
    assert invoice["status"] == "draft" and invoice["number"] is None and invoice["is_overdue"] is False
    assert invoice["payments"] == [] and invoice["notes"] == "" and invoice["project_id"] is None
    assert invoice["client_id"] == acme["id"]
    assert invoice["sent_at"] is None and invoice["paid_at"] is None and invoice["voided_at"] is None
    assert invoice["lines"] == [
        {
            "description": "Consulting",
            "quantity": "2",
            "unit_price": "50.00",
            "amount": "100.00",
            "tax_rate": "20",  # the line's effective VAT: the invoice's
            "tax_category": "S",
            "time_entry_id": None,
        }
    ]


async def test_create_invoice_due_date_defaults_from_given_issue_date(client, auth):
    acme = await create_client(client, auth, payment_terms_days=30)
    invoice = await create_invoice(client, auth, acme["id"], issue_date="2026-01-15", notes="Thanks!")
    assert (invoice["issue_date"], invoice["due_date"]) == ("2026-01-15", "2026-02-14")
    assert invoice["notes"] == "Thanks!"
    same_day = await create_invoice(client, auth, acme["id"], issue_date="2026-01-15", due_date="2026-01-15")
    assert same_day["due_date"] == "2026-01-15"


async def test_create_invoice_draft_may_have_no_lines(client, auth):
    invoice = await create_invoice(client, auth, lines=[])
    assert invoice["lines"] == []
    assert (invoice["subtotal"], invoice["total"], invoice["amount_due"]) == ("0.00", "0.00", "0.00")


LINE = {"description": "Work", "quantity": "1", "unit_price": "10.00"}


@pytest.mark.parametrize(
    "changes, field",
    [
        ({"total": "1.00"}, "total"),
        ({"subtotal": "1.00"}, "subtotal"),
        ({"amount_due": "1.00"}, "amount_due"),
        ({"currency": "EUR"}, "currency"),
        ({"number": "INV-0001"}, "number"),
        ({"status": "paid"}, "status"),
        ({"lines": [{**LINE, "amount": "10.00"}]}, "lines[0].amount"),
        ({"lines": [{**LINE, "quantity": "0"}]}, "lines[0].quantity"),
        ({"lines": [{**LINE, "quantity": -1}]}, "lines[0].quantity"),
        ({"lines": [{**LINE, "quantity": "1.00001"}]}, "lines[0].quantity"),
        ({"lines": [{**LINE, "quantity": "NaN"}]}, "lines[0].quantity"),
        ({"lines": [{**LINE, "quantity": "1000001"}]}, "lines[0].quantity"),
        ({"lines": [{**LINE, "quantity": True}]}, "lines[0].quantity"),
        ({"lines": [{**LINE, "unit_price": "-0.01"}]}, "lines[0].unit_price"),
        ({"lines": [{**LINE, "unit_price": "1.005"}]}, "lines[0].unit_price"),
        ({"lines": [{**LINE, "unit_price": "Infinity"}]}, "lines[0].unit_price"),
        ({"lines": [{**LINE, "unit_price": "1e400"}]}, "lines[0].unit_price"),
        ({"lines": [LINE, {**LINE, "description": ""}]}, "lines[1].description"),
        ({"lines": [{**LINE, "description": "   "}]}, "lines[0].description"),
        ({"lines": [{**LINE, "description": "x" * 501}]}, "lines[0].description"),
        ({"lines": [{"description": "Work", "quantity": "1"}]}, "lines[0].unit_price"),
        ({"lines": [LINE] * 201}, "lines"),
        ({"tax_rate": "100.01"}, "tax_rate"),
        ({"tax_rate": -1}, "tax_rate"),
        ({"discount_rate": "abc"}, "discount_rate"),
        ({"discount_rate": "12.00001"}, "discount_rate"),
        ({"issue_date": "2026-02-30"}, "issue_date"),
        ({"issue_date": "9999-12-31"}, "issue_date"),  # + payment terms would overflow
        ({"issue_date": "1899-12-31", "due_date": "1900-01-01"}, "issue_date"),
        ({"issue_date": "2026-01-01", "due_date": "3000-01-01"}, "due_date"),
        ({"issue_date": "2026-03-10", "due_date": "2026-03-09"}, "due_date"),
        ({"due_date": "2000-01-01"}, "due_date"),
        ({"time_entry_ids": ["6740f0c2a1b2c3d4e5f60718"] * 2}, "time_entry_ids"),
        ({"time_entry_ids": ["nope"]}, "time_entry_ids[0]"),
        ({"client_id": "not-an-id"}, "client_id"),
        ({"notes": "x" * 10_001}, "notes"),
    ],
)
async def test_create_invoice_rejects_bad_input(client, auth, changes, field):
    acme = await create_client(client, auth)
    body = {"client_id": acme["id"], "lines": [LINE], **changes}
    problem = assert_problem(
        await client.post("/api/invoices", json=body, headers=auth), 400, "validation_error"
    )
    assert field in [error["field"] for error in problem["errors"]], problem
    assert (await client.get("/api/invoices", headers=auth)).json()["total"] == 0


async def test_create_invoice_requires_client_id(client, auth):
    problem = assert_problem(
        await client.post("/api/invoices", json={"lines": []}, headers=auth), 400, "validation_error"
    )
    assert [e["field"] for e in problem["errors"]] == ["client_id"]


async def test_create_invoice_rejects_total_above_the_money_limit(client, auth):
    huge = {"description": "Everything", "quantity": "1000000", "unit_price": "999999999.99"}
    problem = assert_problem(await create_raw(client, auth, lines=[huge]), 400, "validation_error")
    assert problem["errors"][0]["field"] == "lines"


async def test_create_invoice_negative_zero_rates_read_back_as_zero(client, auth):
    """Rates are percentages 0–100 (API.md §1): "-0.0" is accepted as zero and must never come back as "-0"."""
    invoice = await create_invoice(client, auth, tax_rate="-0.00", discount_rate="-0.0")
    fetched = (await client.get(f"/api/invoices/{invoice['id']}", headers=auth)).json()
    for body in (invoice, fetched):
        assert (body["tax_rate"], body["discount_rate"]) == ("0", "0")


async def create_raw(client, auth, **fields):
    acme = await create_client(client, auth)
    return await client.post("/api/invoices", json={"client_id": acme["id"], **fields}, headers=auth)


async def test_create_invoice_for_another_users_client_is_invalid_reference(client, user, other_user):
    theirs = await create_client(client, other_user.headers)
    response = await client.post("/api/invoices", json={"client_id": theirs["id"]}, headers=user.headers)
    assert_problem(response, 400, "invalid_reference")
    missing = await client.post("/api/invoices", json={"client_id": str(ObjectId())}, headers=user.headers)
    assert_problem(missing, 400, "invalid_reference")


# ---------------------------------------------------------------- tenancy and ids


async def test_another_users_invoice_is_404_on_every_route(client, user: Account, other_user: Account):
    draft = await create_invoice(client, user.headers)
    sent = await create_sent_invoice(client, user.headers)
    them = other_user.headers
    for invoice in (draft, sent):
        path = f"/api/invoices/{invoice['id']}"
        assert_problem(await client.get(path, headers=them), 404, "not_found")
        assert_problem(await client.patch(path, json={"notes": "mine"}, headers=them), 404, "not_found")
        assert_problem(await client.delete(path, headers=them), 404, "not_found")
        assert_problem(await client.post(f"{path}/send", headers=them), 404, "not_found")
        assert_problem(await client.post(f"{path}/void", headers=them), 404, "not_found")
        assert_problem(
            await client.post(f"{path}/payments", json={"amount": "1.00"}, headers=them), 404, "not_found"
        )
    assert (await client.get("/api/invoices", headers=them)).json()["total"] == 0
    # untouched for the owner
    assert (await client.get(f"/api/invoices/{draft['id']}", headers=user.headers)).json() == draft
    assert (await client.get(f"/api/invoices/{sent['id']}", headers=user.headers)).json() == sent


@pytest.mark.parametrize(
    "bad_id",
    ["zz", "6740f0c2a1b2c3d4e5f6071", "6740F0C2A1B2C3D4E5F60718", "null", "6740f0c2a1b2c3d4e5f60718"],
)
async def test_bad_or_missing_invoice_id_is_404_on_every_route(client, auth, bad_id):
    path = f"/api/invoices/{bad_id}"
    assert_problem(await client.get(path, headers=auth), 404, "not_found")
    assert_problem(await client.patch(path, json={"notes": "x"}, headers=auth), 404, "not_found")
    assert_problem(await client.delete(path, headers=auth), 404, "not_found")
    assert_problem(await client.post(f"{path}/send", headers=auth), 404, "not_found")
    assert_problem(await client.post(f"{path}/void", headers=auth), 404, "not_found")
    assert_problem(
        await client.post(f"{path}/payments", json={"amount": "1.00"}, headers=auth), 404, "not_found"
    )


async def test_invoice_routes_require_a_token(client):
    assert_problem(await client.get("/api/invoices"), 401, "unauthorized")
    assert_problem(await client.post("/api/invoices", json={}), 401, "unauthorized")


# ---------------------------------------------------------------- edit drafts


async def test_update_invoice_recomputes_totals(client, auth):
    draft = await create_invoice(client, auth)
    response = await client.patch(f"/api/invoices/{draft['id']}", json=WORKED_EXAMPLE, headers=auth)
    assert response.status_code == 200, response.text
    updated = response.json()
    assert [line["description"] for line in updated["lines"]] == ["Widgets", "Design", "Rounding"]
    assert (updated["subtotal"], updated["discount"], updated["tax"], updated["total"]) == (
        "213.30",
        "21.33",
        "17.04",
        "209.01",
    )
    assert updated["amount_due"] == "209.01"
    assert (
        moment(updated["updated_at"]) >= moment(draft["updated_at"])
        and updated["created_at"] == draft["created_at"]
    )
    rate_only = (
        await client.patch(f"/api/invoices/{draft['id']}", json={"tax_rate": "0"}, headers=auth)
    ).json()
    assert (rate_only["tax"], rate_only["total"]) == ("0.00", "191.97")
    # Lines without their own tax follow the invoice's (section 22).
    assert rate_only["lines"] == [{**line, "tax_rate": "0", "tax_category": "E"} for line in updated["lines"]]
    assert all((line["tax_rate"], line["tax_category"]) == ("8.875", "S") for line in updated["lines"])


async def test_update_invoice_changes_only_sent_fields(client, auth):
    draft = await create_invoice(
        client, auth, issue_date="2026-01-01", due_date="2026-01-31", notes="a", tax_rate="5"
    )
    updated = (await client.patch(f"/api/invoices/{draft['id']}", json={"notes": "b"}, headers=auth)).json()
    assert updated["notes"] == "b"
    for key in ("lines", "issue_date", "due_date", "tax_rate", "total", "client_id", "currency"):
        assert updated[key] == draft[key], key
    moved = await client.patch(
        f"/api/invoices/{draft['id']}", json={"issue_date": "2026-01-10"}, headers=auth
    )
    assert (moved.json()["issue_date"], moved.json()["due_date"]) == ("2026-01-10", "2026-01-31")


@pytest.mark.parametrize(
    "body, field",
    [
        ({"due_date": "2025-12-31"}, "due_date"),  # before the stored issue_date
        ({"issue_date": "2026-02-01"}, "due_date"),  # after the stored due_date
        ({"issue_date": "2026-01-05", "due_date": "2026-01-04"}, "due_date"),
        ({"tax_rate": None}, "tax_rate"),
        ({"due_date": "9999-12-31"}, "due_date"),
        ({"lines": None}, "lines"),
        ({"total": "5.00"}, "total"),
        ({"client_id": "6740f0c2a1b2c3d4e5f60718"}, "client_id"),
        ({"time_entry_ids": []}, "time_entry_ids"),
        ({"lines": [{**LINE, "quantity": 0}]}, "lines[0].quantity"),
    ],
)
async def test_update_invoice_rejects_bad_input(client, auth, body, field):
    draft = await create_invoice(client, auth, issue_date="2026-01-01", due_date="2026-01-31")
    response = await client.patch(f"/api/invoices/{draft['id']}", json=body, headers=auth)
    problem = assert_problem(response, 400, "validation_error")
    assert field in [e["field"] for e in problem["errors"]], problem
    assert (await client.get(f"/api/invoices/{draft['id']}", headers=auth)).json() == draft


async def test_update_invoice_concurrent_edits_keep_totals_consistent(client, auth):
    """Two PATCHes racing (lines vs. tax rate): the result is priced from the final lines and rate."""
    draft = await create_invoice(client, auth, tax_rate="0")
    path = f"/api/invoices/{draft['id']}"
    new_lines = [{"description": "Big", "quantity": "10", "unit_price": "100.00"}]
    responses = await asyncio.gather(
        client.patch(path, json={"lines": new_lines}, headers=auth),
        client.patch(path, json={"tax_rate": "10"}, headers=auth),
    )
    assert [r.status_code for r in responses] == [200, 200]
    final = (await client.get(path, headers=auth)).json()
    assert (final["subtotal"], final["tax_rate"], final["tax"], final["total"]) == (
        "1000.00",
        "10",
        "100.00",
        "1100.00",
    )


async def test_delete_invoice_draft(client, auth):
    draft = await create_invoice(client, auth)
    response = await client.delete(f"/api/invoices/{draft['id']}", headers=auth)
    assert response.status_code == 204
    assert_problem(await client.get(f"/api/invoices/{draft['id']}", headers=auth), 404, "not_found")
    assert_problem(await client.delete(f"/api/invoices/{draft['id']}", headers=auth), 404, "not_found")


async def test_update_and_delete_invoice_only_in_draft(client, auth):
    sent = await create_sent_invoice(client, auth)
    paid = await create_sent_invoice(client, auth)
    await add_payment(client, auth, paid["id"], "100.00")
    void = await create_sent_invoice(client, auth)
    assert (await client.post(f"/api/invoices/{void['id']}/void", headers=auth)).status_code == 200
    for invoice in (sent, paid, void):
        path = f"/api/invoices/{invoice['id']}"
        before = (await client.get(path, headers=auth)).json()
        assert_problem(
            await client.patch(path, json={"notes": "changed"}, headers=auth), 409, "invalid_state"
        )
        assert_problem(await client.patch(path, json={"lines": []}, headers=auth), 409, "invalid_state")
        assert_problem(await client.delete(path, headers=auth), 409, "invalid_state")
        assert (await client.get(path, headers=auth)).json() == before


async def test_update_invoice_checks_project_reference_before_state(
    client, user: Account, other_user: Account
):
    """API.md §2: ownership is checked before any state rule, so a foreign project_id is 400, not 409."""
    sent = await create_sent_invoice(client, user.headers)
    foreign = await create_project(client, other_user.headers)
    response = await client.patch(
        f"/api/invoices/{sent['id']}", json={"project_id": foreign["id"]}, headers=user.headers
    )
    assert_problem(response, 400, "invalid_reference")


async def test_update_invoice_project_of_another_client_on_sent_invoice_is_invalid_reference(client, auth):
    sent = await create_sent_invoice(client, auth)
    other_clients_project = await create_project(client, auth, (await create_client(client, auth))["id"])
    response = await client.patch(
        f"/api/invoices/{sent['id']}", json={"project_id": other_clients_project["id"]}, headers=auth
    )
    assert_problem(response, 400, "invalid_reference")


async def test_update_invoice_valid_project_on_sent_invoice_is_still_invalid_state(client, auth):
    acme = await create_client(client, auth)
    project = await create_project(client, auth, acme["id"])
    sent = await create_sent_invoice(client, auth, acme["id"])
    response = await client.patch(
        f"/api/invoices/{sent['id']}", json={"project_id": project["id"]}, headers=auth
    )
    assert_problem(response, 409, "invalid_state")
    draft = await create_invoice(client, auth, acme["id"])
    response = await client.patch(
        f"/api/invoices/{draft['id']}", json={"project_id": project["id"]}, headers=auth
    )
    assert response.status_code == 200 and response.json()["project_id"] == project["id"]


# ---------------------------------------------------------------- list


async def test_list_invoices_filters_by_status_and_client(client, auth):
    acme = await create_client(client, auth, name="Acme")
    globex = await create_client(client, auth, name="Globex")
    draft = await create_invoice(client, auth, acme["id"])
    sent = await create_sent_invoice(client, auth, acme["id"])
    other = await create_invoice(client, auth, globex["id"])

    async def ids(**params):
        response = await client.get("/api/invoices", params=params, headers=auth)
        assert response.status_code == 200, response.text
        return {invoice["id"] for invoice in response.json()["items"]}

    assert await ids() == {draft["id"], sent["id"], other["id"]}
    assert await ids(status="draft") == {draft["id"], other["id"]}
    assert await ids(status="sent") == {sent["id"]}
    assert await ids(status="paid") == set()
    assert await ids(client_id=acme["id"]) == {draft["id"], sent["id"]}
    assert await ids(client_id=acme["id"], status="draft") == {draft["id"]}
    assert await ids(client_id=str(ObjectId())) == set()


async def test_list_invoices_filters_by_issue_date_range(client, auth):
    acme = await create_client(client, auth)
    jan = await create_invoice(client, auth, acme["id"], issue_date="2026-01-31")
    feb = await create_invoice(client, auth, acme["id"], issue_date="2026-02-01")
    mar = await create_invoice(client, auth, acme["id"], issue_date="2026-03-15")

    async def ids(**params):
        response = await client.get("/api/invoices", params=params, headers=auth)
        return [invoice["id"] for invoice in response.json()["items"]]

    assert await ids(**{"from": "2026-02-01"}) == [mar["id"], feb["id"]]
    assert await ids(to="2026-02-01") == [feb["id"], jan["id"]]
    assert await ids(**{"from": "2026-01-31", "to": "2026-01-31"}) == [jan["id"]]
    assert await ids(**{"from": "2026-02-02", "to": "2026-03-14"}) == []


async def test_list_invoices_filters_by_overdue(client, auth):
    acme = await create_client(client, auth)
    past = {"issue_date": "2020-01-01", "due_date": "2020-01-31"}
    overdue = await create_sent_invoice(client, auth, acme["id"], **past)
    due_today = await create_sent_invoice(
        client, auth, acme["id"], issue_date=today().isoformat(), due_date=today().isoformat()
    )
    past_draft = await create_invoice(client, auth, acme["id"], **past)
    past_paid = await create_sent_invoice(client, auth, acme["id"], **past)
    await add_payment(client, auth, past_paid["id"], "100.00")
    past_void = await create_sent_invoice(client, auth, acme["id"], **past)
    await client.post(f"/api/invoices/{past_void['id']}/void", headers=auth)

    assert overdue["is_overdue"] is True
    assert due_today["is_overdue"] is False
    assert past_draft["is_overdue"] is False
    for invoice_id in (past_paid["id"], past_void["id"]):
        assert (await client.get(f"/api/invoices/{invoice_id}", headers=auth)).json()["is_overdue"] is False

    listed = (await client.get("/api/invoices?overdue=true", headers=auth)).json()
    assert [i["id"] for i in listed["items"]] == [overdue["id"]] and listed["total"] == 1
    assert listed["items"][0]["is_overdue"] is True
    rest = (await client.get("/api/invoices?overdue=false", headers=auth)).json()
    assert {i["id"] for i in rest["items"]} == {
        due_today["id"],
        past_draft["id"],
        past_paid["id"],
        past_void["id"],
    }


async def test_list_invoices_q_matches_number_case_insensitively_and_literally(client, auth):
    await client.patch("/api/auth/me", json={"business": {"invoice_prefix": "Acme-"}}, headers=auth)
    first = await create_sent_invoice(client, auth)
    second = await create_sent_invoice(client, auth)
    await create_invoice(client, auth)  # a draft has no number: never matches

    async def numbers(q):
        response = await client.get("/api/invoices", params={"q": q, "sort": "number"}, headers=auth)
        assert response.status_code == 200
        return [i["number"] for i in response.json()["items"]]

    assert first["number"] == "Acme-0001" and second["number"] == "Acme-0002"
    assert await numbers("acme-") == ["Acme-0001", "Acme-0002"]
    assert await numbers("0002") == ["Acme-0002"]
    for literal in (".*", "^A", "[a-z]", "Acme-000.", '{"$gt": ""}'):
        assert await numbers(literal) == [], literal


async def test_list_invoices_sorts(client, auth):
    acme = await create_client(client, auth)

    def line(price):
        return [{"description": "x", "quantity": "1", "unit_price": price}]

    a = await create_invoice(
        client, auth, acme["id"], lines=line("9.99"), issue_date="2026-02-01", due_date="2026-04-01"
    )
    b = await create_invoice(
        client, auth, acme["id"], lines=line("100.00"), issue_date="2026-01-01", due_date="2026-05-01"
    )
    c = await create_invoice(
        client, auth, acme["id"], lines=line("20.00"), issue_date="2026-03-01", due_date="2026-03-01"
    )
    await send_invoice(client, auth, c["id"])  # INV-0001
    await send_invoice(client, auth, a["id"])  # INV-0002
    await send_invoice(client, auth, b["id"])  # INV-0003

    async def order(sort):
        response = await client.get("/api/invoices", params={"sort": sort}, headers=auth)
        assert response.status_code == 200, response.text
        return [{a["id"]: "a", b["id"]: "b", c["id"]: "c"}[i["id"]] for i in response.json()["items"]]

    assert await order("total") == ["a", "c", "b"]  # 9.99 < 20.00 < 100.00: numeric, not text order
    assert await order("-total") == ["b", "c", "a"]
    assert await order("issue_date") == ["b", "a", "c"]
    assert await order("-due_date") == ["b", "a", "c"]
    assert await order("number") == ["c", "a", "b"]
    assert await order("-number") == ["b", "a", "c"]
    assert await order("created_at") == ["a", "b", "c"]
    assert await order("-created_at") == ["c", "b", "a"]


@pytest.mark.parametrize(
    "query",
    [
        "sort=amount",
        "sort=-total_cents",
        "status=late",
        "overdue=maybe",
        "from=2026-13-01",
        "to=yesterday",
        "client_id=nope",
        "project_id=123",
        "from=2026-02-02&to=2026-02-01",
        "limit=101",
        "offset=-1",
    ],
)
async def test_list_invoices_rejects_bad_query(client, auth, query):
    assert_problem(await client.get(f"/api/invoices?{query}", headers=auth), 400, "validation_error")
