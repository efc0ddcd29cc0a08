"""Review findings on invoices: each test failed before its fix."""

from __future__ import annotations

import asyncio
import types

import pytest

from tests.conftest import Account, assert_problem
from tests.factories import create_client
from tests.invoices.factories import create_invoice, create_sent_invoice
from tests.projects.factories import create_project
from tests.time_entries.factories import create_time_entry


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


async def test_create_invoice_negative_zero_rates_read_back_as_zero(client, auth):
    """Rates are percentages 0–100 (API.md §1): "-0.0" is accepted as zero and must never come back as "-0"."""
    invoice = await create_invoice(client, auth, tax_rate="-0.00", discount_rate="-0.0")
    fetched = (await client.get(f"/api/invoices/{invoice['id']}", headers=auth)).json()
    for body in (invoice, fetched):
        assert (body["tax_rate"], body["discount_rate"]) == ("0", "0")


@pytest.fixture
def update_many_per_document(monkeypatch):
    """MongoDB's update_many is atomic per document only: each match is re-checked and written on its own,
    and a request that skips a document (it no longer matches) moves on before a request that writes one.
    The embedded store applies update_many in one step, which hides the interleavings a real server has."""
    import mongomock_motor

    collection_class = mongomock_motor.AsyncMongoMockCollection

    async def update_many(self, filter, update, *args, **kwargs):
        ids = sorted([doc["_id"] async for doc in self.find(filter, {"_id": 1})])
        modified = 0
        for oid in ids:
            result = await self.update_one({"$and": [filter, {"_id": oid}]}, update)
            if result.modified_count:
                modified += 1
                await asyncio.sleep(0)  # a write takes longer than a skip
        return types.SimpleNamespace(modified_count=modified, matched_count=modified)

    monkeypatch.setattr(collection_class, "update_many", update_many)


async def test_create_invoice_two_at_once_claiming_the_same_entries_exactly_one_wins(
    client, auth, update_many_per_document
):
    """API.md §8: two concurrent invoices claiming the same entries → exactly one succeeds (never none)."""
    project = await create_project(client, auth)
    entries = [
        await create_time_entry(
            client,
            auth,
            project["id"],
            started_at=f"2026-04-0{d}T09:00:00Z",
            ended_at=f"2026-04-0{d}T10:00:00Z",
        )
        for d in (1, 2, 3)
    ]
    body = {"client_id": project["client_id"], "time_entry_ids": [e["id"] for e in entries]}
    responses = await asyncio.gather(
        *(client.post("/api/invoices", json=body, headers=auth) for _ in range(2))
    )
    assert sorted(r.status_code for r in responses) == [201, 409], [r.text for r in responses]
    winner = next(r.json() for r in responses if r.status_code == 201)
    for entry in entries:
        fetched = (await client.get(f"/api/time-entries/{entry['id']}", headers=auth)).json()
        assert fetched["invoice_id"] == winner["id"]


async def test_add_payment_that_clears_the_due_settles_in_the_same_write(client, auth, monkeypatch):
    """No second write is needed to reach `paid`: a crash after the payment cannot strand the invoice."""
    from app.invoices import lifecycle

    sent = await create_sent_invoice(client, auth)  # 100.00 due

    async def crash(*args, **kwargs):
        raise RuntimeError("the process died between two writes")

    monkeypatch.setattr(lifecycle, "_settle_if_nothing_due", crash)
    part = await client.post(f"/api/invoices/{sent['id']}/payments", json={"amount": "40.00"}, headers=auth)
    assert part.status_code == 201 and part.json()["status"] == "sent"
    final = await client.post(f"/api/invoices/{sent['id']}/payments", json={"amount": "60.00"}, headers=auth)
    assert final.status_code == 201, final.text
    body = final.json()
    assert (body["status"], body["amount_due"], body["amount_paid"]) == ("paid", "0.00", "100.00")
    assert body["paid_at"] is not None
