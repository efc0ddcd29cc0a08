"""The invoice lifecycle over HTTP: send and numbering, payments, void, and every illegal move."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime

import pytest
from bson import ObjectId

from app.db.repository import to_bson
from app.invoices.lifecycle import MAX_PAYMENTS
from app.invoices.models import Invoice, InvoiceCounter, StoredPayment
from tests.clients.factories import create_client
from tests.conftest import Account, assert_problem, moment
from tests.invoices.factories import (
    DEFAULT_LINES,
    add_payment,
    create_invoice,
    create_sent_invoice,
    send_invoice,
)

DEFAULT_DESCRIPTION = DEFAULT_LINES[0]["description"]


def today() -> str:
    return datetime.now(UTC).date().isoformat()


async def void(client, auth, invoice_id):
    return await client.post(f"/api/invoices/{invoice_id}/void", headers=auth)


async def pay(client, auth, invoice_id, amount, **fields):
    return await client.post(
        f"/api/invoices/{invoice_id}/payments", json={"amount": amount, **fields}, headers=auth
    )


# ---------------------------------------------------------------- send and numbers


async def test_send_invoice_assigns_number_and_sent_at(client, auth):
    draft = await create_invoice(client, auth)
    response = await client.post(f"/api/invoices/{draft['id']}/send", headers=auth)
    assert response.status_code == 200, response.text
    sent = response.json()
    assert sent["status"] == "sent" and sent["number"] == "INV-0001"
    assert sent["sent_at"] is not None and moment(sent["sent_at"]) >= moment(draft["created_at"])
    assert (sent["total"], sent["lines"]) == (draft["total"], draft["lines"])
    assert (await client.get(f"/api/invoices/{draft['id']}", headers=auth)).json() == sent


async def test_send_invoice_without_lines_is_invalid_state(client, auth):
    draft = await create_invoice(client, auth, lines=[])
    assert_problem(await client.post(f"/api/invoices/{draft['id']}/send", headers=auth), 409, "invalid_state")
    after = (await client.get(f"/api/invoices/{draft['id']}", headers=auth)).json()
    assert after["status"] == "draft" and after["number"] is None
    # the refused send used no number
    assert (await create_sent_invoice(client, auth))["number"] == "INV-0001"


async def test_send_invoice_numbers_are_consecutive_per_user(client, user: Account, other_user: Account):
    numbers = [(await create_sent_invoice(client, user.headers))["number"] for _ in range(3)]
    assert numbers == ["INV-0001", "INV-0002", "INV-0003"]
    assert (await create_sent_invoice(client, other_user.headers))["number"] == "INV-0001"
    assert (await create_sent_invoice(client, user.headers))["number"] == "INV-0004"


async def test_send_invoice_forty_drafts_at_once_get_consecutive_distinct_numbers(client, auth):
    acme = await create_client(client, auth)
    drafts = [await create_invoice(client, auth, acme["id"]) for _ in range(40)]
    responses = await asyncio.gather(
        *(client.post(f"/api/invoices/{draft['id']}/send", headers=auth) for draft in drafts)
    )
    assert [r.status_code for r in responses] == [200] * 40
    numbers = sorted(r.json()["number"] for r in responses)
    assert numbers == [f"INV-{n:04d}" for n in range(1, 41)]
    listed = (await client.get("/api/invoices?sort=number&limit=100", headers=auth)).json()
    assert [i["number"] for i in listed["items"]] == numbers


async def test_send_invoice_same_draft_sent_at_once_is_sent_once(client, auth):
    draft = await create_invoice(client, auth)
    responses = await asyncio.gather(
        *(client.post(f"/api/invoices/{draft['id']}/send", headers=auth) for _ in range(5))
    )
    assert sorted(r.status_code for r in responses) == [200, 409, 409, 409, 409]
    for response in responses:
        if response.status_code == 409:
            assert_problem(response, 409, "invalid_state")
    winner = next(r.json() for r in responses if r.status_code == 200)
    assert winner["number"] == "INV-0001"
    # no number was burnt by the losers
    assert (await create_sent_invoice(client, auth))["number"] == "INV-0002"


async def test_send_invoice_edited_while_rendering_renders_again_and_stores_what_was_sent(
    client, auth, monkeypatch
):
    """The send renders from the draft it read; a PATCH that lands while it renders moves the draft's version,
    so the claim misses and the send reads and renders again: the stored document shows the sent lines."""
    import io

    from pypdf import PdfReader

    from app.documents import service as documents_service

    draft = await create_invoice(client, auth)
    render_final = documents_service.render_final
    renders: list[str] = []

    async def edited_while_rendering(org_id, data, rendered_at, **options):
        renders.append(data.lines[0].description)
        if len(renders) == 1:  # another request edits the draft while the first render runs
            edit = {
                "lines": [{"description": "Edited while rendering", "quantity": "1", "unit_price": "100.00"}]
            }
            response = await client.patch(f"/api/invoices/{draft['id']}", json=edit, headers=auth)
            assert response.status_code == 200, response.text
        return await render_final(org_id, data, rendered_at, **options)

    monkeypatch.setattr(documents_service, "render_final", edited_while_rendering)
    sent = await send_invoice(client, auth, draft["id"])

    assert renders == [DEFAULT_DESCRIPTION, "Edited while rendering"]
    assert sent["lines"][0]["description"] == "Edited while rendering"
    pdf = (await client.get(f"/api/invoices/{draft['id']}/pdf", headers=auth)).content
    text = "".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages)
    assert "Edited while rendering" in text and DEFAULT_DESCRIPTION not in text


async def test_send_invoice_deleting_a_draft_leaves_no_gap(client, auth):
    first = await create_invoice(client, auth)
    doomed = await create_invoice(client, auth)
    last = await create_invoice(client, auth)
    assert (await send_invoice(client, auth, first["id"]))["number"] == "INV-0001"
    assert (await client.delete(f"/api/invoices/{doomed['id']}", headers=auth)).status_code == 204
    assert (await send_invoice(client, auth, last["id"]))["number"] == "INV-0002"


async def test_send_invoice_voided_invoice_keeps_its_number(client, auth):
    sent = await create_sent_invoice(client, auth)
    voided = (await void(client, auth, sent["id"])).json()
    assert (voided["status"], voided["number"]) == ("void", "INV-0001")
    voided_draft = (await void(client, auth, (await create_invoice(client, auth))["id"])).json()
    assert voided_draft["number"] is None
    assert (await create_sent_invoice(client, auth))["number"] == "INV-0002"


async def test_send_invoice_uses_custom_prefix_at_send_time(client, auth):
    draft = await create_invoice(client, auth)
    response = await client.patch(
        "/api/auth/me", json={"business": {"invoice_prefix": "ACME/2026-"}}, headers=auth
    )
    assert response.status_code == 200
    assert (await send_invoice(client, auth, draft["id"]))["number"] == "ACME/2026-0001"
    await client.patch("/api/auth/me", json={"business": {"invoice_prefix": "B-"}}, headers=auth)
    assert (await create_sent_invoice(client, auth))["number"] == "B-0002"  # the sequence goes on
    await client.patch("/api/auth/me", json={"business": {"invoice_prefix": ""}}, headers=auth)
    assert (await create_sent_invoice(client, auth))["number"] == "0003"


async def test_send_invoice_number_grows_past_four_digits(client, user: Account):
    await create_sent_invoice(client, user.headers)  # creates the counter
    await InvoiceCounter.get_motor_collection().update_one(
        {"owner_id": ObjectId(user.id)}, {"$set": {"seq": 9998}}
    )
    assert (await create_sent_invoice(client, user.headers))["number"] == "INV-9999"
    assert (await create_sent_invoice(client, user.headers))["number"] == "INV-10000"
    listed = (await client.get("/api/invoices?sort=-number&limit=2", headers=user.headers)).json()
    assert [i["number"] for i in listed["items"]] == ["INV-10000", "INV-9999"]  # by sequence, not text


async def test_send_invoice_from_any_other_status_is_invalid_state(client, auth):
    sent = await create_sent_invoice(client, auth)
    paid = await create_sent_invoice(client, auth)
    await add_payment(client, auth, paid["id"], "100.00")
    voided = await create_invoice(client, auth)
    await void(client, auth, voided["id"])
    for invoice in (sent, paid, voided):
        before = (await client.get(f"/api/invoices/{invoice['id']}", headers=auth)).json()
        response = await client.post(f"/api/invoices/{invoice['id']}/send", headers=auth)
        assert_problem(response, 409, "invalid_state")
        assert (await client.get(f"/api/invoices/{invoice['id']}", headers=auth)).json() == before
    assert (await create_sent_invoice(client, auth))["number"] == "INV-0003"


# ---------------------------------------------------------------- payments


async def test_add_payment_partial_then_full_marks_paid(client, auth):
    sent = await create_sent_invoice(client, auth)  # total 100.00
    response = await pay(
        client, auth, sent["id"], "30.10", paid_on="2026-03-01", method="bank_transfer", note="first half-ish"
    )
    assert response.status_code == 201, response.text
    partial = response.json()
    assert (partial["status"], partial["amount_paid"], partial["amount_due"]) == ("sent", "30.10", "69.90")
    assert partial["paid_at"] is None
    [payment] = partial["payments"]
    assert set(payment) == {"id", "amount", "paid_on", "method", "note", "created_at"}
    assert (payment["amount"], payment["paid_on"], payment["method"], payment["note"]) == (
        "30.10",
        "2026-03-01",
        "bank_transfer",
        "first half-ish",
    )
    assert len(payment["id"]) == 24

    full = await add_payment(client, auth, sent["id"], 69.9)
    assert (full["status"], full["amount_paid"], full["amount_due"]) == ("paid", "100.00", "0.00")
    assert full["paid_at"] is not None
    assert [p["amount"] for p in full["payments"]] == ["30.10", "69.90"]
    second = full["payments"][1]
    assert (second["paid_on"], second["method"], second["note"]) == (today(), None, None)
    assert (full["total"], full["number"]) == (sent["total"], sent["number"])
    assert (await client.get(f"/api/invoices/{sent['id']}", headers=auth)).json() == full


async def test_an_invoice_takes_at_most_1000_payments_even_when_two_race_for_the_last_one(client, auth):
    """Payments are embedded in the invoice: the cap keeps the document far below MongoDB's 16 MiB, and it
    is part of the payment's atomic write, so two payments racing for the last slot cannot both land."""
    sent = await create_sent_invoice(client, auth)  # total 100.00
    earlier = [
        to_bson(StoredPayment(amount_cents=1, paid_on=date(2026, 1, 1))) for _ in range(MAX_PAYMENTS - 1)
    ]
    await Invoice.get_motor_collection().update_one(
        {"_id": ObjectId(sent["id"])},
        {
            "$push": {"payments": {"$each": earlier}},
            "$inc": {"amount_paid_cents": len(earlier), "amount_due_cents": -len(earlier)},
        },
    )

    racing = await asyncio.gather(*(pay(client, auth, sent["id"], "0.01") for _ in range(2)))

    assert sorted(r.status_code for r in racing) == [201, 409]
    assert_problem(next(r for r in racing if r.status_code == 409), 409, "too_many_payments")
    assert_problem(await pay(client, auth, sent["id"], "0.01"), 409, "too_many_payments")
    invoice = (await client.get(f"/api/invoices/{sent['id']}", headers=auth)).json()
    assert len(invoice["payments"]) == MAX_PAYMENTS == 1000
    assert (invoice["amount_paid"], invoice["amount_due"]) == ("10.00", "90.00")


@pytest.mark.parametrize(
    "amount",
    [
        "100.01",
        100.01,
        "0",
        0,
        "0.00",
        "-5.00",
        -1,
        "NaN",
        "Infinity",
        "-Infinity",
        "1.005",
        0.001,
        "abc",
        "",
        True,
        None,
        "1e400",
    ],
)
async def test_add_payment_rejects_bad_amount(client, auth, amount):
    sent = await create_sent_invoice(client, auth)  # amount_due 100.00
    problem = assert_problem(await pay(client, auth, sent["id"], amount), 400, "validation_error")
    assert [e["field"] for e in problem["errors"]] == ["amount"]
    assert (await client.get(f"/api/invoices/{sent['id']}", headers=auth)).json() == sent


@pytest.mark.parametrize(
    "body, field",
    [
        ({}, "amount"),
        ({"amount": "1.00", "paid_on": "2026-02-30"}, "paid_on"),
        ({"amount": "1.00", "paid_on": "0001-01-01"}, "paid_on"),
        ({"amount": "1.00", "method": "x" * 51}, "method"),
        ({"amount": "1.00", "note": "x" * 501}, "note"),
        ({"amount": "1.00", "currency": "USD"}, "currency"),
    ],
)
async def test_add_payment_rejects_bad_fields(client, auth, body, field):
    sent = await create_sent_invoice(client, auth)
    response = await client.post(f"/api/invoices/{sent['id']}/payments", json=body, headers=auth)
    problem = assert_problem(response, 400, "validation_error")
    assert field in [e["field"] for e in problem["errors"]]


async def test_add_payment_over_what_is_still_due_after_a_partial_payment(client, auth):
    sent = await create_sent_invoice(client, auth)
    await add_payment(client, auth, sent["id"], "60.00")
    assert_problem(await pay(client, auth, sent["id"], "40.01"), 400, "validation_error")
    assert (await add_payment(client, auth, sent["id"], "40.00"))["status"] == "paid"


async def test_add_payment_concurrent_payments_never_overpay(client, auth):
    sent = await create_sent_invoice(client, auth)  # 100.00
    responses = await asyncio.gather(*(pay(client, auth, sent["id"], "50.00") for _ in range(5)))
    assert sorted(r.status_code for r in responses)[:2] == [201, 201]
    refused = [r for r in responses if r.status_code != 201]
    assert len(refused) == 3
    for response in refused:  # over the amount due (400) or, once settled, no longer payable (409)
        expected = {400: "validation_error", 409: "invalid_state"}[response.status_code]
        assert_problem(response, response.status_code, expected)
    final = (await client.get(f"/api/invoices/{sent['id']}", headers=auth)).json()
    assert (final["status"], final["amount_paid"], final["amount_due"]) == ("paid", "100.00", "0.00")
    assert len(final["payments"]) == 2 and final["paid_at"] is not None


async def test_add_payment_that_clears_the_due_settles_in_the_same_write(client, auth, monkeypatch):
    """No second write is needed to reach `paid`: a crash after the payment cannot strand the invoice."""
    from app.invoices import lifecycle

    sent = await create_sent_invoice(client, auth)  # 100.00 due

    writes = []
    one_write = lifecycle.update_owned

    async def counted(*args, **kwargs):
        writes.append(args[3])
        return await one_write(*args, **kwargs)

    monkeypatch.setattr(lifecycle, "update_owned", counted)
    part = await client.post(f"/api/invoices/{sent['id']}/payments", json={"amount": "40.00"}, headers=auth)
    assert part.status_code == 201 and part.json()["status"] == "sent"
    final = await client.post(f"/api/invoices/{sent['id']}/payments", json={"amount": "60.00"}, headers=auth)
    assert final.status_code == 201, final.text
    # the part payment missed "clears it" then wrote; the clearing one wrote `paid` with its first write
    assert [fields.get("status") for fields in writes] == ["paid", None, "paid"]
    body = final.json()
    assert (body["status"], body["amount_due"], body["amount_paid"]) == ("paid", "0.00", "100.00")
    assert body["paid_at"] is not None


async def test_add_payment_outside_sent_is_invalid_state(client, auth):
    draft = await create_invoice(client, auth)
    paid = await create_sent_invoice(client, auth)
    await add_payment(client, auth, paid["id"], "100.00")
    voided = await create_sent_invoice(client, auth)
    await void(client, auth, voided["id"])
    for invoice in (draft, paid, voided):
        before = (await client.get(f"/api/invoices/{invoice['id']}", headers=auth)).json()
        assert_problem(await pay(client, auth, invoice["id"], "1.00"), 409, "invalid_state")
        assert (await client.get(f"/api/invoices/{invoice['id']}", headers=auth)).json() == before


# ---------------------------------------------------------------- void


async def test_void_invoice_from_draft_and_from_sent_without_payments(client, auth):
    for invoice in (await create_invoice(client, auth), await create_sent_invoice(client, auth)):
        response = await void(client, auth, invoice["id"])
        assert response.status_code == 200, response.text
        voided = response.json()
        assert voided["status"] == "void" and voided["voided_at"] is not None
        assert (voided["total"], voided["lines"]) == (invoice["total"], invoice["lines"])


async def test_void_invoice_with_payments_or_paid_or_void_is_invalid_state(client, auth):
    partly = await create_sent_invoice(client, auth)
    await add_payment(client, auth, partly["id"], "10.00")
    paid = await create_sent_invoice(client, auth)
    await add_payment(client, auth, paid["id"], "100.00")
    voided = await create_sent_invoice(client, auth)
    await void(client, auth, voided["id"])
    for invoice in (partly, paid, voided):
        before = (await client.get(f"/api/invoices/{invoice['id']}", headers=auth)).json()
        assert_problem(await void(client, auth, invoice["id"]), 409, "invalid_state")
        assert (await client.get(f"/api/invoices/{invoice['id']}", headers=auth)).json() == before


async def test_void_invoice_racing_a_payment_never_voids_a_paid_invoice(client, auth):
    sent = await create_sent_invoice(client, auth)
    paid, voided = await asyncio.gather(
        pay(client, auth, sent["id"], "10.00"), void(client, auth, sent["id"])
    )
    final = (await client.get(f"/api/invoices/{sent['id']}", headers=auth)).json()
    assert sorted([paid.status_code, voided.status_code]) in ([200, 409], [201, 409])
    if final["status"] == "void":
        assert final["payments"] == [] and paid.status_code == 409
    else:
        assert final["amount_paid"] == "10.00" and voided.status_code == 409


async def test_send_invoice_with_zero_total_is_paid_at_once(client, auth):
    free = [{"description": "Goodwill", "quantity": "1", "unit_price": "0.00"}]
    sent = await create_sent_invoice(client, auth, lines=free)
    assert (sent["status"], sent["number"], sent["total"], sent["amount_due"]) == (
        "paid",
        "INV-0001",
        "0.00",
        "0.00",
    )
    assert sent["paid_at"] is not None and sent["payments"] == []
