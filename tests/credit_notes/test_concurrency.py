"""Credit notes under concurrency (API.md section 22), through the app in one event loop on the yielding
store: the credited sum never passes the invoice, however many notes race, and numbers stay gap-free."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from typing import Any

import pytest
from bson import ObjectId

from app.invoices import credits
from app.invoices.models import Invoice
from tests.credit_notes.factories import credit, line
from tests.invoices.factories import create_sent_invoice


def _together(monkeypatch: pytest.MonkeyPatch, parties: int) -> None:
    """The credit of each note waits until all `parties` notes reach it, then all run at once: their reads
    and conditional writes of the invoice interleave on the yielding store (rendering alone would let them
    arrive one by one)."""
    barrier = asyncio.Barrier(parties)
    apply_credit = credits.apply_credit

    async def together(*args: Any, **kwargs: Any) -> Any:
        await barrier.wait()
        return await apply_credit(*args, **kwargs)

    monkeypatch.setattr(credits, "apply_credit", together)


async def test_twenty_concurrent_credit_notes_never_credit_more_than_the_invoice(client, auth, monkeypatch):
    """A 100.00 invoice (no tax) and twenty notes of 7.00 at once, their credits applied all at the same
    time: fourteen fit (98.00), six are refused; the invoice's credited sum is exactly the notes', and the
    notes are CN-0001 … CN-0014."""
    invoice = await create_sent_invoice(client, auth)
    _together(monkeypatch, 20)
    responses = await asyncio.gather(
        *(credit(client, auth, invoice["id"], lines=[line("7.00")]) for _ in range(20))
    )
    statuses = sorted(response.status_code for response in responses)
    assert statuses == [201] * 14 + [400] * 6, [r.text for r in responses if r.status_code not in (201, 400)]
    refused = [r.json() for r in responses if r.status_code == 400]
    assert {body["code"] for body in refused} == {"validation_error"}
    numbers = sorted(r.json()["number"] for r in responses if r.status_code == 201)
    assert numbers == [f"CN-{n:04d}" for n in range(1, 15)]
    after = (await client.get(f"/api/invoices/{invoice['id']}", headers=auth)).json()
    assert after["amount_credited"] == "98.00" and after["amount_due"] == "2.00"
    stored = await Invoice.get_motor_collection().find_one({"_id": ObjectId(invoice["id"])})
    assert len(stored["credit_note_ids"]) == 14
    listed = (await client.get("/api/credit-notes", params={"limit": 100}, headers=auth)).json()
    assert listed["total"] == 14
    assert sum(Decimal(n["total"]) for n in listed["items"]) == Decimal("98.00")


async def test_twenty_full_credits_at_once_credit_the_invoice_once(client, auth, monkeypatch):
    invoice = await create_sent_invoice(client, auth, tax_rate="19")
    _together(monkeypatch, 20)
    responses = await asyncio.gather(*(credit(client, auth, invoice["id"]) for _ in range(20)))
    created = [r.json() for r in responses if r.status_code == 201]
    assert len(created) == 1 and created[0]["total"] == invoice["total"]
    assert {r.json()["code"] for r in responses if r.status_code != 201} <= {
        "invalid_state",
        "validation_error",
    }
    after = (await client.get(f"/api/invoices/{invoice['id']}", headers=auth)).json()
    assert after["amount_credited"] == invoice["total"] and after["status"] == "paid"


async def test_fifty_credit_notes_at_once_get_consecutive_distinct_numbers(client, auth):
    invoices = [await create_sent_invoice(client, auth) for _ in range(5)]
    responses = await asyncio.gather(
        *(credit(client, auth, invoices[i % 5]["id"], lines=[line("1.00")]) for i in range(50))
    )
    assert all(r.status_code == 201 for r in responses), [r.text for r in responses if r.status_code != 201]
    numbers = sorted(r.json()["number"] for r in responses)
    assert numbers == [f"CN-{n:04d}" for n in range(1, 51)]


async def test_a_payment_racing_a_credit_note_never_takes_more_than_is_due(client, auth):
    invoice = await create_sent_invoice(client, auth)
    paid, credited = await asyncio.gather(
        client.post(f"/api/invoices/{invoice['id']}/payments", json={"amount": "60.00"}, headers=auth),
        credit(client, auth, invoice["id"], lines=[line("50.00")]),
    )
    assert paid.status_code == 201 or credited.status_code == 201
    after = (await client.get(f"/api/invoices/{invoice['id']}", headers=auth)).json()
    owed = Decimal(after["total"]) - Decimal(after["amount_paid"]) - Decimal(after["amount_credited"])
    assert Decimal(after["amount_due"]) == max(Decimal(0), owed)
    assert Decimal(after["refund_due"]) == max(Decimal(0), -owed)
    assert after["status"] == ("paid" if owed <= 0 else "sent")


async def test_a_void_racing_a_credit_note_leaves_one_of_them(client, auth):
    invoice = await create_sent_invoice(client, auth)
    voided, credited = await asyncio.gather(
        client.post(f"/api/invoices/{invoice['id']}/void", headers=auth),
        credit(client, auth, invoice["id"], lines=[line("5.00")]),
    )
    assert sorted([voided.status_code, credited.status_code]) in ([200, 409], [201, 409])
    after = (await client.get(f"/api/invoices/{invoice['id']}", headers=auth)).json()
    notes = (await client.get("/api/credit-notes", headers=auth)).json()["total"]
    if after["status"] == "void":
        assert after["amount_credited"] == "0.00" and notes == 0
    else:
        assert after["amount_credited"] == "5.00" and notes == 1
