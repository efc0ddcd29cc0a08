"""Invoices made from time entries, and invoices tied to a project."""

from __future__ import annotations

import asyncio
import types
from datetime import timedelta
from typing import Any

import pytest
from bson import ObjectId

from app.core.clock import utc_now
from app.db import outbox
from app.recovery import recover
from app.time_entries import claims
from tests.clients.factories import create_client
from tests.conftest import Account, assert_problem
from tests.invoices.factories import create_invoice, create_sent_invoice, send_invoice
from tests.projects.factories import create_project
from tests.time_entries.factories import create_time_entry, start_timer


async def invoice_from(client, auth, client_id, entry_ids, **fields):
    body = {"client_id": client_id, "time_entry_ids": entry_ids, **fields}
    return await client.post("/api/invoices", json=body, headers=auth)


async def entry_invoice_id(client, auth, entry_id):
    response = await client.get(f"/api/time-entries/{entry_id}", headers=auth)
    assert response.status_code == 200, response.text
    return response.json()["invoice_id"]


async def test_create_invoice_from_time_entries_makes_one_line_each(client, auth):
    project = await create_project(client, auth, name="Website", hourly_rate="100.00")
    billed = await create_time_entry(client, auth, project["id"], description="Homepage")  # 9000 s
    own_rate = await create_time_entry(
        client,
        auth,
        project["id"],
        started_at="2026-03-03T23:30:00Z",
        ended_at="2026-03-04T01:00:00Z",
        description="Late fix",
        hourly_rate="150.00",
    )
    short = await create_time_entry(
        client,
        auth,
        project["id"],
        started_at="2026-03-05T10:00:00Z",
        ended_at="2026-03-05T10:16:40Z",
    )  # 1000 s = 0.2777 h
    response = await invoice_from(
        client, auth, project["client_id"], [billed["id"], own_rate["id"], short["id"]], tax_rate="0"
    )
    assert response.status_code == 201, response.text
    invoice = response.json()
    assert invoice["lines"] == [
        {
            "description": "Website: Homepage (2026-03-02)",
            "quantity": "2.50",
            "unit_price": "100.00",
            "amount": "250.00",
            "tax_rate": "0",  # lines from time entries are taxed as the invoice
            "tax_category": "E",
            "time_entry_id": billed["id"],
        },
        {
            "description": "Website: Late fix (2026-03-03)",
            "quantity": "1.50",
            "unit_price": "150.00",
            "amount": "225.00",
            "tax_rate": "0",  # lines from time entries are taxed as the invoice
            "tax_category": "E",
            "time_entry_id": own_rate["id"],
        },
        {
            "description": "Website (2026-03-05)",
            "quantity": "0.28",
            "unit_price": "100.00",
            "amount": "28.00",
            "tax_rate": "0",  # lines from time entries are taxed as the invoice
            "tax_category": "E",
            "time_entry_id": short["id"],
        },
    ]
    assert invoice["total"] == "503.00" and invoice["currency"] == "USD"
    for entry in (billed, own_rate, short):
        assert await entry_invoice_id(client, auth, entry["id"]) == invoice["id"]
    # invoiced entries are locked on the time-entry side
    locked = await client.patch(f"/api/time-entries/{billed['id']}", json={"description": "x"}, headers=auth)
    assert_problem(locked, 409, "already_invoiced")


async def test_create_invoice_with_lines_beside_time_entries(client, auth):
    project = await create_project(client, auth, hourly_rate="80.00")
    entry = await create_time_entry(client, auth, project["id"])
    lines = [{"description": "Hosting", "quantity": "1", "unit_price": "20.00"}]
    invoice = (await invoice_from(client, auth, project["client_id"], [entry["id"]], lines=lines)).json()
    assert [(line["description"], line["amount"], line["time_entry_id"]) for line in invoice["lines"]] == [
        ("Hosting", "20.00", None),
        ("Website (2026-03-02)", "200.00", entry["id"]),
    ]
    assert invoice["subtotal"] == "220.00"


async def test_create_invoice_rejects_entries_that_are_not_invoiceable(
    client, user: Account, other_user: Account
):
    auth = user.headers
    project = await create_project(client, auth)
    client_id = project["client_id"]
    other_client_project = await create_project(client, auth)
    their_project = await create_project(client, other_user.headers)
    running = await start_timer(client, auth, project["id"])
    cases = {
        "running": running["id"],
        "not billable": (await create_time_entry(client, auth, project["id"], billable=False))["id"],
        "another client's": (await create_time_entry(client, auth, other_client_project["id"]))["id"],
        "another user's": (await create_time_entry(client, other_user.headers, their_project["id"]))["id"],
        "missing": str(ObjectId()),
    }
    good = await create_time_entry(
        client, auth, project["id"], started_at="2026-03-09T09:00:00Z", ended_at="2026-03-09T10:00:00Z"
    )
    for case, entry_id in cases.items():
        problem = assert_problem(
            await invoice_from(client, auth, client_id, [good["id"], entry_id]), 400, "invalid_reference"
        )
        assert [e["field"] for e in problem["errors"]] == ["time_entry_ids[1]"], case
    assert await entry_invoice_id(client, auth, good["id"]) is None
    assert (await client.get("/api/invoices", headers=auth)).json()["total"] == 0


async def test_create_invoice_from_an_invoiced_entry_is_already_invoiced(client, auth):
    project = await create_project(client, auth)
    taken = await create_time_entry(client, auth, project["id"])
    free = await create_time_entry(
        client, auth, project["id"], started_at="2026-03-09T09:00:00Z", ended_at="2026-03-09T10:00:00Z"
    )
    first = (await invoice_from(client, auth, project["client_id"], [taken["id"]])).json()
    response = await invoice_from(client, auth, project["client_id"], [free["id"], taken["id"]])
    assert_problem(response, 409, "already_invoiced")
    assert await entry_invoice_id(client, auth, free["id"]) is None  # all or nothing
    assert await entry_invoice_id(client, auth, taken["id"]) == first["id"]
    assert (await client.get("/api/invoices", headers=auth)).json()["total"] == 1


async def test_create_invoice_eight_at_once_claiming_one_entry_exactly_one_wins(client, auth):
    project = await create_project(client, auth)
    entry = await create_time_entry(client, auth, project["id"])
    extras = [
        await create_time_entry(
            client,
            auth,
            project["id"],
            started_at=f"2026-04-{day:02d}T09:00:00Z",
            ended_at=f"2026-04-{day:02d}T10:00:00Z",
        )
        for day in range(1, 9)
    ]
    responses = await asyncio.gather(
        *(invoice_from(client, auth, project["client_id"], [extra["id"], entry["id"]]) for extra in extras)
    )
    assert sorted(r.status_code for r in responses) == [201] + [409] * 7
    for response in responses:
        if response.status_code == 409:
            assert_problem(response, 409, "already_invoiced")
    winner_index, winner = next((i, r.json()) for i, r in enumerate(responses) if r.status_code == 201)
    assert await entry_invoice_id(client, auth, entry["id"]) == winner["id"]
    for index, extra in enumerate(extras):  # the losers released what they had claimed
        expected = winner["id"] if index == winner_index else None
        assert await entry_invoice_id(client, auth, extra["id"]) == expected
    listed = (await client.get("/api/invoices", headers=auth)).json()
    assert [i["id"] for i in listed["items"]] == [winner["id"]]


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


async def test_void_invoice_releases_its_time_entries(client, auth):
    project = await create_project(client, auth)
    entry = await create_time_entry(client, auth, project["id"])
    first = (await invoice_from(client, auth, project["client_id"], [entry["id"]])).json()
    await send_invoice(client, auth, first["id"])
    assert (await client.post(f"/api/invoices/{first['id']}/void", headers=auth)).status_code == 200
    assert await entry_invoice_id(client, auth, entry["id"]) is None
    again = await invoice_from(client, auth, project["client_id"], [entry["id"]])
    assert again.status_code == 201, again.text
    assert await entry_invoice_id(client, auth, entry["id"]) == again.json()["id"]
    # the voided invoice keeps its lines as a record
    voided = (await client.get(f"/api/invoices/{first['id']}", headers=auth)).json()
    assert voided["lines"][0]["time_entry_id"] == entry["id"]


async def test_delete_invoice_releases_its_time_entries(client, auth):
    project = await create_project(client, auth)
    entry = await create_time_entry(client, auth, project["id"])
    other = await create_time_entry(
        client, auth, project["id"], started_at="2026-03-09T09:00:00Z", ended_at="2026-03-09T10:00:00Z"
    )
    doomed = (await invoice_from(client, auth, project["client_id"], [entry["id"]])).json()
    kept = (await invoice_from(client, auth, project["client_id"], [other["id"]])).json()
    assert (await client.delete(f"/api/invoices/{doomed['id']}", headers=auth)).status_code == 204
    assert await entry_invoice_id(client, auth, entry["id"]) is None
    assert await entry_invoice_id(client, auth, other["id"]) == kept["id"]
    assert (await invoice_from(client, auth, project["client_id"], [entry["id"]])).status_code == 201


async def test_update_invoice_lines_keeps_time_entry_lines(client, auth):
    project = await create_project(client, auth, hourly_rate="100.00")
    entry = await create_time_entry(client, auth, project["id"])
    draft = (
        await invoice_from(
            client,
            auth,
            project["client_id"],
            [entry["id"]],
            lines=[{"description": "Old", "quantity": "1", "unit_price": "5.00"}],
        )
    ).json()
    new_lines = [{"description": "New", "quantity": "2", "unit_price": "10.00"}]
    updated = (
        await client.patch(f"/api/invoices/{draft['id']}", json={"lines": new_lines}, headers=auth)
    ).json()
    assert [(line["description"], line["amount"]) for line in updated["lines"]] == [
        ("New", "20.00"),
        ("Website (2026-03-02)", "250.00"),
    ]
    assert updated["subtotal"] == "270.00"
    assert await entry_invoice_id(client, auth, entry["id"]) == draft["id"]
    refused = await client.patch(f"/api/invoices/{draft['id']}", json={"time_entry_ids": []}, headers=auth)
    assert_problem(refused, 400, "validation_error")


# ---------------------------------------------------------------- project_id


async def test_create_invoice_with_project_and_filter_by_it(client, auth):
    project = await create_project(client, auth)
    other = await create_project(client, auth, client_id=project["client_id"], name="Other")
    mine = await create_invoice(client, auth, project["client_id"], project_id=project["id"])
    await create_invoice(client, auth, project["client_id"], project_id=other["id"])
    await create_invoice(client, auth, project["client_id"])
    assert mine["project_id"] == project["id"]
    listed = (await client.get("/api/invoices", params={"project_id": project["id"]}, headers=auth)).json()
    assert [i["id"] for i in listed["items"]] == [mine["id"]]
    cleared = await client.patch(f"/api/invoices/{mine['id']}", json={"project_id": None}, headers=auth)
    assert cleared.json()["project_id"] is None
    moved = await client.patch(f"/api/invoices/{mine['id']}", json={"project_id": other["id"]}, headers=auth)
    assert moved.json()["project_id"] == other["id"]


async def test_create_invoice_with_foreign_project_is_invalid_reference(
    client, user: Account, other_user: Account
):
    auth = user.headers
    acme = await create_client(client, auth)
    their_project = await create_project(client, other_user.headers)
    other_clients_project = await create_project(client, auth)
    for project_id in (their_project["id"], other_clients_project["id"], str(ObjectId())):
        body = {"client_id": acme["id"], "project_id": project_id}
        assert_problem(await client.post("/api/invoices", json=body, headers=auth), 400, "invalid_reference")
    draft = await create_invoice(client, auth, acme["id"])
    for project_id in (their_project["id"], other_clients_project["id"]):
        response = await client.patch(
            f"/api/invoices/{draft['id']}", json={"project_id": project_id}, headers=auth
        )
        assert_problem(response, 400, "invalid_reference")


async def test_delete_client_or_project_with_invoices_is_in_use(client, auth):
    project = await create_project(client, auth)
    await create_sent_invoice(client, auth, project["client_id"], project_id=project["id"])
    assert_problem(await client.delete(f"/api/projects/{project['id']}", headers=auth), 409, "in_use")
    assert_problem(await client.delete(f"/api/clients/{project['client_id']}", headers=auth), 409, "in_use")


async def test_create_invoice_failing_after_the_claim_releases_the_entries(client, auth):
    project = await create_project(client, auth)
    costly = await create_time_entry(client, auth, project["id"], hourly_rate="999999999999.99")  # 2.5 h
    response = await invoice_from(client, auth, project["client_id"], [costly["id"]])
    problem = assert_problem(response, 400, "validation_error")
    assert problem["errors"][0]["field"] == "lines"
    assert await entry_invoice_id(client, auth, costly["id"]) is None
    assert (await client.get("/api/invoices", headers=auth)).json()["total"] == 0


async def test_create_invoice_from_time_cuts_long_descriptions_to_the_line_limit(client, auth):
    project = await create_project(client, auth, name="P" * 200)
    entry = await create_time_entry(client, auth, project["id"], description="d" * 2000)
    invoice = (await invoice_from(client, auth, project["client_id"], [entry["id"]])).json()
    description = invoice["lines"][0]["description"]
    assert len(description) == 500 and description.startswith("P" * 200 + ": ddd")


async def test_recovery_settles_a_released_claim_by_its_own_invoice(client, auth, monkeypatch):
    """A claim that stood and was released while its event was still pending (both requests' relays failed):
    recovery names the claim's own invoice, never "the invoice None" of every free entry."""
    project = await create_project(client, auth)
    claimed = await create_time_entry(client, auth, project["id"])
    free = await create_time_entry(client, auth, project["id"])
    untouched = (await client.get(f"/api/time-entries/{free['id']}", headers=auth)).json()

    async def relay_down(document: Any) -> None:
        raise ConnectionError("the relay failed")

    monkeypatch.setattr(outbox, "_relay", [relay_down])
    invoice = (await invoice_from(client, auth, project["client_id"], [claimed["id"]])).json()
    assert (await client.delete(f"/api/invoices/{invoice['id']}", headers=auth)).status_code == 204
    monkeypatch.undo()

    later = utc_now() + timedelta(hours=1)
    settling = await claims.unconfirmed_claims(later)
    assert [str(invoice_id) for _, invoice_id in settling] == [invoice["id"]]
    await recover(later)
    assert (await client.get(f"/api/time-entries/{free['id']}", headers=auth)).json() == untouched
    assert await entry_invoice_id(client, auth, claimed["id"]) is None
    assert await claims.unconfirmed_claims(later) == []  # its events left with the outboxes' recovery
