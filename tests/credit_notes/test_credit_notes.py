"""Credit notes (API.md section 22): issued for sent or paid invoices only, within what each tax group of the
invoice still allows, numbered from their own sequence, and reflected in the invoice's `amount_credited`,
`amount_due`, `refund_due` and status."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import pytest
from bson import ObjectId

from app.core.clock import in_zone
from app.db.repository import to_bson
from app.invoices.models import Invoice, StoredLine
from app.invoices.schemas import overdue_today
from app.invoices.service import priced
from tests.conftest import Account, assert_problem
from tests.credit_notes.factories import create_credit_note, credit, line
from tests.invoices.factories import add_payment, create_invoice, create_sent_invoice, send_invoice

D = Decimal


async def _invoice(client: Any, auth: dict[str, str], invoice_id: str) -> dict[str, Any]:
    response = await client.get(f"/api/invoices/{invoice_id}", headers=auth)
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


async def two_rate_invoice(client: Any, auth: dict[str, str]) -> dict[str, Any]:
    """A sent invoice with two tax groups, S 19 % on 100.00 and S 7 % on 50.00, with a 10 % discount:
    groups S 7: taxable 45.00, tax 3.15; S 19: taxable 90.00, tax 17.10; total 155.25. Its lines carry their
    own rates as section 22 stores them (set in the store: the API's per-line input is another part)."""
    sent = await create_sent_invoice(client, auth, tax_rate="19", discount_rate="10")
    lines = [
        StoredLine(description="Books", quantity=D(1), unit_price_cents=5000, amount_cents=0, tax_rate=D(7)),
        StoredLine(description="Design", quantity=D(1), unit_price_cents=10000, amount_cents=0),
    ]
    fields = priced(lines, discount_rate=D(10), tax_rate=D(19), tax_category="S")
    fields["lines"] = [line.model_dump() for line in fields["lines"]]
    await Invoice.get_motor_collection().update_one({"_id": ObjectId(sent["id"])}, {"$set": to_bson(fields)})
    invoice = await _invoice(client, auth, sent["id"])
    assert invoice["total"] == "155.25" and invoice["amount_due"] == "155.25", invoice
    return invoice


# ---------------------------------------------------------------- issuing


async def test_create_credit_note_answers_201_with_location_and_the_note(client, auth):
    invoice = await create_sent_invoice(client, auth, tax_rate="20")  # 100.00 + 20.00
    response = await credit(client, auth, invoice["id"], lines=[line("10.00", "2")])
    assert response.status_code == 201, response.text
    note = response.json()
    assert response.headers["location"] == f"/api/credit-notes/{note['id']}"
    assert note["number"] == "CN-0001"
    assert note["invoice_id"] == invoice["id"] and note["invoice_number"] == invoice["number"]
    assert (note["subtotal"], note["tax"], note["total"]) == ("20.00", "4.00", "24.00")
    assert note["tax_breakdown"] == [
        {"category": "S", "rate": "20", "taxable_amount": "20.00", "tax": "4.00"}
    ]
    assert note["lines"][0] == {
        "description": "Correction",
        "quantity": "2",
        "unit_price": "10.00",
        "amount": "20.00",
        "tax_rate": "20",
        "tax_category": "S",
    }
    assert note["document"]["sha256"] and note["currency"] == invoice["currency"]
    got = await client.get(response.headers["location"], headers=auth)
    assert got.status_code == 200 and got.json() == note
    after = await _invoice(client, auth, invoice["id"])
    assert (after["amount_credited"], after["amount_due"], after["refund_due"]) == ("24.00", "96.00", "0.00")
    assert after["status"] == "sent"


async def test_without_lines_the_note_credits_what_is_left_per_group_exactly(client, auth):
    invoice = await two_rate_invoice(client, auth)
    first = await create_credit_note(client, auth, invoice["id"], lines=[line("10.01", tax_rate="19")])
    assert first["total"] == "11.91"  # 10.01 + 1.90 (1.9019 rounded)
    rest = await create_credit_note(client, auth, invoice["id"], reason="Cancelled order")
    assert D(rest["total"]) == D(invoice["total"]) - D(first["total"])
    assert rest["lines"] == [
        {
            "description": "Cancelled order",
            "quantity": "1",
            "unit_price": "45.00",
            "amount": "45.00",
            "tax_rate": "7",
            "tax_category": "S",
        },
        {
            "description": "Cancelled order",
            "quantity": "1",
            "unit_price": "79.99",
            "amount": "79.99",
            "tax_rate": "19",
            "tax_category": "S",
        },
    ]
    # the tax left is taken as it is (17.10 - 1.90), not recomputed from 79.99 (15.20 either way here)
    assert rest["tax_breakdown"][1] == {
        "category": "S",
        "rate": "19",
        "taxable_amount": "79.99",
        "tax": "15.20",
    }
    after = await _invoice(client, auth, invoice["id"])
    assert after["amount_credited"] == invoice["total"] and after["amount_due"] == "0.00"
    assert after["status"] == "paid" and after["paid_at"]
    nothing_left = await credit(client, auth, invoice["id"])
    assert_problem(nothing_left, 409, "invalid_state")


async def test_the_tax_left_is_credited_as_it_is_not_recomputed(client, auth):
    """Two notes of 0.05 at 19 % each round their tax up (0.0095 -> 0.01); what is left then carries the
    group's tax minus theirs, so the notes add up to the invoice to the cent."""
    invoice = await create_sent_invoice(
        client, auth, tax_rate="19", lines=[{"description": "x", "quantity": "1", "unit_price": "0.10"}]
    )
    assert invoice["total"] == "0.12"  # 0.10 + 0.019 -> 0.02
    a = await create_credit_note(client, auth, invoice["id"], lines=[line("0.05")])
    assert a["tax"] == "0.01"
    rest = await create_credit_note(client, auth, invoice["id"])
    assert (rest["subtotal"], rest["tax"], rest["total"]) == ("0.05", "0.01", "0.06")
    assert D(a["total"]) + D(rest["total"]) == D(invoice["total"])


@pytest.mark.parametrize("status", ["draft", "void"])
async def test_a_draft_or_void_invoice_cannot_be_credited(client, auth, status):
    invoice = await create_invoice(client, auth)
    if status == "void":
        assert (await client.post(f"/api/invoices/{invoice['id']}/void", headers=auth)).status_code == 200
    assert_problem(await credit(client, auth, invoice["id"]), 409, "invalid_state")
    assert_problem(await credit(client, auth, invoice["id"], lines=[line("1.00")]), 409, "invalid_state")
    listed = await client.get("/api/credit-notes", headers=auth)
    assert listed.json()["total"] == 0


async def test_a_paid_invoice_can_be_credited_and_shows_the_refund_due(client, auth):
    invoice = await create_sent_invoice(client, auth)  # 100.00, no tax
    await add_payment(client, auth, invoice["id"], "100.00")
    await create_credit_note(client, auth, invoice["id"], lines=[line("30.00")])
    after = await _invoice(client, auth, invoice["id"])
    assert after["status"] == "paid"
    assert (after["amount_credited"], after["amount_due"], after["refund_due"]) == ("30.00", "0.00", "30.00")


async def test_a_credit_that_clears_a_part_paid_invoice_settles_it_and_the_rest_is_refund_due(client, auth):
    invoice = await create_sent_invoice(client, auth)
    await add_payment(client, auth, invoice["id"], "60.00")
    await create_credit_note(client, auth, invoice["id"], lines=[line("50.00")])
    after = await _invoice(client, auth, invoice["id"])
    assert after["status"] == "paid" and after["paid_at"]
    assert (after["amount_due"], after["refund_due"]) == ("0.00", "10.00")
    events = (await client.get("/api/events", params={"types": "invoice.paid"}, headers=auth)).json()
    assert [e["data"]["object"]["id"] for e in events["items"]] == [invoice["id"]]


async def test_a_part_credit_keeps_the_status_and_payments_cannot_exceed_what_is_left(client, auth):
    invoice = await create_sent_invoice(client, auth)
    await create_credit_note(client, auth, invoice["id"], lines=[line("30.00")])
    after = await _invoice(client, auth, invoice["id"])
    assert after["status"] == "sent" and after["amount_due"] == "70.00" and after["paid_at"] is None
    too_much = await client.post(
        f"/api/invoices/{invoice['id']}/payments", json={"amount": "70.01"}, headers=auth
    )
    assert_problem(too_much, 400, "validation_error")
    paid = await add_payment(client, auth, invoice["id"], "70.00")
    assert paid["status"] == "paid" and paid["amount_due"] == "0.00" and paid["refund_due"] == "0.00"


async def test_each_line_must_be_in_one_of_the_invoices_tax_groups(client, auth):
    invoice = await create_sent_invoice(client, auth, tax_rate="20")
    wrong_rate = await credit(client, auth, invoice["id"], lines=[line("1.00"), line("1.00", tax_rate="10")])
    body = assert_problem(wrong_rate, 400, "validation_error")
    assert body["errors"][0]["field"] == "lines[1].tax_rate"
    wrong_category = await credit(
        client, auth, invoice["id"], lines=[line("1.00", tax_rate="0", tax_category="Z")]
    )
    body = assert_problem(wrong_category, 400, "validation_error")
    assert body["errors"][0]["field"] == "lines[0].tax_category"
    assert (await _invoice(client, auth, invoice["id"]))["amount_credited"] == "0.00"


async def test_a_group_may_not_be_credited_beyond_the_invoice_with_earlier_notes(client, auth):
    invoice = await two_rate_invoice(client, auth)  # S 7: 45.00 / 3.15; S 19: 90.00 / 17.10
    over = await credit(client, auth, invoice["id"], lines=[line("45.01", tax_rate="7")])
    assert_problem(over, 400, "validation_error")
    await create_credit_note(client, auth, invoice["id"], lines=[line("40.00", tax_rate="7")])
    again = await credit(client, auth, invoice["id"], lines=[line("5.01", tax_rate="7")])
    body = assert_problem(again, 400, "validation_error")
    assert "7" in body["errors"][0]["message"]
    fits = await create_credit_note(client, auth, invoice["id"], lines=[line("5.00", tax_rate="7")])
    assert fits["tax_breakdown"][0]["tax"] == "0.35"
    after = await _invoice(client, auth, invoice["id"])
    assert after["amount_credited"] == "48.15"  # 42.80 + 5.35: the 7 % group in full (45.00 + 3.15)


async def test_the_credited_tax_of_a_group_may_not_exceed_the_invoices_even_when_the_amount_fits(
    client, auth
):
    """0.10 at 19 % is taxed 0.02; two notes of 0.03 each round their tax up (0.0057 -> 0.01); a third
    note of 0.03 fits the taxable amount (0.09 ≤ 0.10) but its tax would make 0.03 > 0.02."""
    invoice = await create_sent_invoice(
        client, auth, tax_rate="19", lines=[{"description": "x", "quantity": "1", "unit_price": "0.10"}]
    )
    for _ in range(2):
        await create_credit_note(client, auth, invoice["id"], lines=[line("0.03")])
    body = assert_problem(
        await credit(client, auth, invoice["id"], lines=[line("0.03")]), 400, "validation_error"
    )
    assert "tax" in body["errors"][0]["message"]


async def test_bad_bodies_are_400(client, auth):
    invoice = await create_sent_invoice(client, auth)
    for body in (
        {},
        {"reason": ""},
        {"reason": "   "},
        {"reason": "x", "lines": []},
        {"reason": "x", "total": "1.00"},
        {"reason": "x", "lines": [{"description": "a", "quantity": "0", "unit_price": "1"}]},
        {"reason": "x", "lines": [{"description": "a", "quantity": "1", "unit_price": "1.001"}]},
    ):
        response = await client.post(f"/api/invoices/{invoice['id']}/credit-notes", json=body, headers=auth)
        assert_problem(response, 400, "validation_error")


async def test_unknown_invoice_is_404(client, auth):
    assert_problem(await credit(client, auth, str(ObjectId())), 404, "not_found")
    assert_problem(await client.get(f"/api/credit-notes/{ObjectId()}", headers=auth), 404, "not_found")


# ---------------------------------------------------------------- void and overdue


async def test_an_invoice_with_credit_notes_cannot_be_voided(client, auth):
    invoice = await create_sent_invoice(client, auth)
    await create_credit_note(client, auth, invoice["id"], lines=[line("1.00")])
    assert_problem(
        await client.post(f"/api/invoices/{invoice['id']}/void", headers=auth), 409, "invalid_state"
    )


async def test_a_sent_e_invoice_needs_a_credit_note_instead_of_a_void(client, auth):
    from tests.documents.factories import set_business, worked_example

    await set_business(client, auth)
    draft = await worked_example(client, auth)
    sent = await send_invoice(client, auth, draft["id"])
    assert sent["document"]["e_invoice"] == "factur-x"
    refused = await client.post(f"/api/invoices/{sent['id']}/void", headers=auth)
    assert_problem(refused, 409, "credit_note_required")
    assert (await _invoice(client, auth, sent["id"]))["status"] == "sent"
    # a draft of an e-invoicing business is still voided, and so is a sent invoice issued without Factur-X
    other = await worked_example(client, auth)
    assert (await client.post(f"/api/invoices/{other['id']}/void", headers=auth)).status_code == 200


def test_is_overdue_needs_something_due():
    yesterday = date.today() - timedelta(days=2)
    with in_zone("UTC"):
        assert overdue_today("sent", yesterday, 1) is True
        assert overdue_today("sent", yesterday, 0) is False
        assert overdue_today("paid", yesterday, 1) is False


# ---------------------------------------------------------------- numbers, lists, events


async def test_numbers_use_the_credit_note_prefix_and_their_own_sequence(client, user: Account):
    auth = user.headers
    first = await create_sent_invoice(client, auth)
    prefix = await client.patch(
        "/api/auth/me", json={"business": {"credit_note_prefix": "GS/"}}, headers=auth
    )
    assert prefix.status_code == 200, prefix.text
    a = await create_credit_note(client, auth, first["id"], lines=[line("1.00")])
    second = await create_sent_invoice(client, auth)
    b = await create_credit_note(client, auth, second["id"], lines=[line("1.00")])
    assert (first["number"], second["number"], a["number"], b["number"]) == (
        "INV-0001",
        "INV-0002",
        "GS/0001",
        "GS/0002",
    )
    pdf = await client.get(f"/api/credit-notes/{b['id']}/pdf", headers=auth)
    assert pdf.headers["content-disposition"] == 'attachment; filename="GS-0002.pdf"'


async def test_lists_sort_and_filter(client, auth):
    one = await create_sent_invoice(client, auth)
    two = await create_sent_invoice(client, auth)
    notes = [
        await create_credit_note(client, auth, one["id"], lines=[line("1.00")]),
        await create_credit_note(client, auth, two["id"], lines=[line("2.00")]),
        await create_credit_note(client, auth, one["id"], lines=[line("3.00")]),
    ]
    listed = (await client.get("/api/credit-notes", params={"sort": "number"}, headers=auth)).json()
    assert [n["number"] for n in listed["items"]] == ["CN-0001", "CN-0002", "CN-0003"] and listed[
        "total"
    ] == 3
    newest = (await client.get("/api/credit-notes", headers=auth)).json()
    assert [n["id"] for n in newest["items"]] == [n["id"] for n in reversed(notes)]
    by_invoice = await client.get("/api/credit-notes", params={"invoice_id": one["id"]}, headers=auth)
    assert [n["number"] for n in by_invoice.json()["items"]] == ["CN-0003", "CN-0001"]
    by_client = await client.get("/api/credit-notes", params={"client_id": two["client_id"]}, headers=auth)
    assert [n["number"] for n in by_client.json()["items"]] == ["CN-0002"]
    nested = await client.get(
        f"/api/invoices/{one['id']}/credit-notes", params={"sort": "created_at"}, headers=auth
    )
    assert [n["number"] for n in nested.json()["items"]] == ["CN-0001", "CN-0003"]
    bad = await client.get("/api/credit-notes", params={"sort": "total"}, headers=auth)
    assert_problem(bad, 400, "validation_error")
    assert_problem(
        await client.get(f"/api/invoices/{ObjectId()}/credit-notes", headers=auth), 404, "not_found"
    )


async def test_the_pdf_is_stored_once_and_served_byte_identical(client, auth):
    invoice = await create_sent_invoice(client, auth)
    note = await create_credit_note(client, auth, invoice["id"], lines=[line("1.00")])
    first = await client.get(f"/api/credit-notes/{note['id']}/pdf", headers=auth)
    second = await client.get(f"/api/credit-notes/{note['id']}/pdf", headers=auth)
    assert first.status_code == 200 and first.headers["content-type"] == "application/pdf"
    assert first.content == second.content and first.content.startswith(b"%PDF")
    assert first.headers["etag"] == f'"{note["document"]["sha256"]}"'
    cached = await client.get(
        f"/api/credit-notes/{note['id']}/pdf", headers={**auth, "If-None-Match": first.headers["etag"]}
    )
    assert cached.status_code == 304


async def test_credit_note_created_is_one_event_with_the_note(client, auth):
    hook = {"url": "http://127.0.0.1:9/hooks", "events": ["credit_note.created"]}  # webhooks accept the type
    assert (await client.post("/api/webhook-endpoints", json=hook, headers=auth)).status_code == 201
    invoice = await create_sent_invoice(client, auth)
    note = await create_credit_note(client, auth, invoice["id"], lines=[line("1.00")])
    events = (
        await client.get("/api/events", params={"types": "credit_note.created,invoice.updated"}, headers=auth)
    ).json()
    types = [(e["type"], e["data"]["object"]["id"]) for e in events["items"]]
    assert types == [("invoice.updated", invoice["id"]), ("credit_note.created", note["id"])]
    created = events["items"][1]["data"]["object"]
    assert created["number"] == "CN-0001" and created["total"] == "1.00"
    updated = events["items"][0]["data"]["object"]
    assert updated["amount_credited"] == "1.00"


async def test_a_retry_with_the_same_idempotency_key_gives_the_same_note(client, auth):
    invoice = await create_sent_invoice(client, auth)
    headers = {**auth, "Idempotency-Key": "credit-1"}
    first = await credit(client, headers, invoice["id"], lines=[line("5.00")])
    again = await credit(client, headers, invoice["id"], lines=[line("5.00")])
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json() and again.headers["idempotent-replayed"] == "true"
    after = await _invoice(client, auth, invoice["id"])
    assert after["amount_credited"] == "5.00"
    assert (await client.get("/api/credit-notes", headers=auth)).json()["total"] == 1


async def test_reports_see_credit_notes_only_through_the_amount_due(client, auth):
    invoice = await create_sent_invoice(client, auth)  # 100.00 in the client's currency
    await add_payment(client, auth, invoice["id"], "20.00")
    params = {"currency": invoice["currency"]}
    before = (await client.get("/api/reports/summary", params=params, headers=auth)).json()
    assert before["outstanding"] == "80.00" and before["paid_last_30_days"] == "20.00"
    await create_credit_note(client, auth, invoice["id"], lines=[line("30.00")])
    after = (await client.get("/api/reports/summary", params=params, headers=auth)).json()
    assert after["outstanding"] == "50.00"  # 100 - 20 paid - 30 credited
    assert after["paid_last_30_days"] == "20.00"  # payments only
    await create_credit_note(client, auth, invoice["id"])
    cleared = (await client.get("/api/reports/summary", params=params, headers=auth)).json()
    assert cleared["outstanding"] == "0.00" and cleared["paid_last_30_days"] == "20.00"
