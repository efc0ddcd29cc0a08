"""Every committed API write gives exactly one event of its own type, and each side effect on another document
one `*.updated` (API.md section 15); the event's object is the resource as the API returned it."""

from __future__ import annotations

from typing import Any

from tests.clients.factories import create_client
from tests.conftest import Account
from tests.events.helpers import poll_all
from tests.projects.factories import create_project
from tests.time_entries.factories import create_time_entry


class Feed:
    """Reads the events that came since the last read, as a polling client does."""

    def __init__(self, http: Any, account: Account) -> None:
        self.http, self.account, self.after = http, account, None

    async def since(self) -> list[tuple[str, str]]:
        events = await poll_all(self.http, self.account.headers, self.after)
        if events:
            self.after = events[-1]["id"]
        return [(event["type"], event["data"]["object"]["id"]) for event in events]

    async def objects(self) -> list[dict[str, Any]]:
        events = await poll_all(self.http, self.account.headers, self.after)
        if events:
            self.after = events[-1]["id"]
        return [event["data"]["object"] for event in events]


async def _ok(response: Any, status: int = 200) -> dict[str, Any]:
    assert response.status_code == status, response.text
    return response.json() if response.content else {}


async def test_clients_projects_and_the_currency_cascade(client: Any, user: Account) -> None:
    feed, h = Feed(client, user), user.headers
    acme = await create_client(client, h, currency="USD")
    one = await create_project(client, h, acme["id"])
    two = await create_project(client, h, acme["id"])
    assert await feed.since() == [
        ("client.created", acme["id"]),
        ("project.created", one["id"]),
        ("project.created", two["id"]),
    ]
    moved = await _ok(await client.patch(f"/api/clients/{acme['id']}", json={"currency": "EUR"}, headers=h))
    assert sorted(await feed.since()) == sorted(
        [("client.updated", acme["id"]), ("project.updated", one["id"]), ("project.updated", two["id"])]
    )
    renamed = await _ok(await client.patch(f"/api/clients/{acme['id']}", json={"notes": "n"}, headers=h))
    assert await feed.objects() == [renamed]  # no currency change: the projects are untouched
    assert moved["currency"] == "EUR"
    edited = await _ok(await client.patch(f"/api/projects/{one['id']}", json={"name": "P2"}, headers=h))
    assert await feed.objects() == [edited]
    await _ok(await client.delete(f"/api/projects/{two['id']}", headers=h), 204)
    assert await feed.since() == [("project.deleted", two["id"])]


async def test_time_entries_and_timers(client: Any, user: Account) -> None:
    feed, h = Feed(client, user), user.headers
    project = await create_project(client, h)
    await feed.since()
    entry = await create_time_entry(client, h, project["id"])
    assert await feed.since() == [("time_entry.created", entry["id"])]
    patched = await _ok(
        await client.patch(f"/api/time-entries/{entry['id']}", json={"description": "d"}, headers=h)
    )
    assert await feed.objects() == [patched]
    started = await _ok(
        await client.post("/api/time-entries/start", json={"project_id": project["id"]}, headers=h), 201
    )
    stopped = await _ok(await client.post(f"/api/time-entries/{started['id']}/stop", headers=h))
    assert await feed.since() == [
        ("time_entry.started", started["id"]),
        ("time_entry.stopped", started["id"]),
    ]
    assert stopped["ended_at"] is not None
    await _ok(await client.delete(f"/api/time-entries/{entry['id']}", headers=h), 204)
    assert await feed.since() == [("time_entry.deleted", entry["id"])]


async def test_invoices_with_their_time_entries(client: Any, user: Account) -> None:
    feed, h = Feed(client, user), user.headers
    project = await create_project(client, h)
    entries = [await create_time_entry(client, h, project["id"]) for _ in range(2)]
    await feed.since()
    body = {"client_id": project["client_id"], "time_entry_ids": [e["id"] for e in entries]}
    invoice = await _ok(await client.post("/api/invoices", json=body, headers=h), 201)
    claimed = [("time_entry.updated", e["id"]) for e in entries]
    assert await feed.since() == [("invoice.created", invoice["id"]), *claimed]
    path = f"/api/invoices/{invoice['id']}"
    await _ok(await client.patch(path, json={"notes": "n"}, headers=h))
    sent = await _ok(await client.post(f"{path}/send", headers=h))
    assert await feed.since() == [("invoice.updated", invoice["id"]), ("invoice.sent", invoice["id"])]
    # the event carries the invoice as the send returned it: its number and its document
    assert sent["number"] and sent["status"] == "sent"
    voided = await _ok(await client.post(f"{path}/void", headers=h))
    assert voided["status"] == "void"
    assert await feed.since() == [("invoice.voided", invoice["id"]), *claimed]  # then released


async def test_payments_and_the_payment_that_clears_the_invoice(client: Any, user: Account) -> None:
    from tests.invoices.factories import add_payment, create_sent_invoice

    feed, h = Feed(client, user), user.headers
    invoice = await create_sent_invoice(client, h)  # 100.00
    await feed.since()
    await add_payment(client, h, invoice["id"], "40.00")
    paid = await add_payment(client, h, invoice["id"], "60.00")
    assert await feed.since() == [
        ("invoice.payment_recorded", invoice["id"]),
        ("invoice.paid", invoice["id"]),
    ]
    assert paid["status"] == "paid"


async def test_a_deleted_draft_invoice_releases_its_entries(client: Any, user: Account) -> None:
    feed, h = Feed(client, user), user.headers
    project = await create_project(client, h)
    entry = await create_time_entry(client, h, project["id"])
    body = {"client_id": project["client_id"], "time_entry_ids": [entry["id"]]}
    invoice = await _ok(await client.post("/api/invoices", json=body, headers=h), 201)
    await feed.since()
    await _ok(await client.delete(f"/api/invoices/{invoice['id']}", headers=h), 204)
    # the entries are released while the tombstone still stands, then the invoice's event leaves
    released, deleted = await feed.objects()
    assert (released["id"], released["invoice_id"]) == (entry["id"], None)
    assert (deleted["id"], deleted["status"]) == (invoice["id"], "draft")


async def test_contracts(client: Any, user: Account) -> None:
    from tests.contracts.factories import create_contract

    feed, h = Feed(client, user), user.headers
    contract = await create_contract(client, h)
    path = f"/api/contracts/{contract['id']}"
    await _ok(await client.patch(path, json={"title": "T2"}, headers=h))
    await _ok(await client.post(f"{path}/send", headers=h))
    await _ok(await client.post(f"{path}/sign", json={"signed_by": "Ada"}, headers=h))
    other = await create_contract(client, h, contract["client_id"])
    await _ok(await client.post(f"/api/contracts/{other['id']}/cancel", headers=h))
    await _ok(await client.delete(f"/api/contracts/{other['id']}", headers=h), 204)
    types = [kind for kind, _ in await feed.since()]
    assert types == [
        "client.created",
        "contract.created",
        "contract.updated",
        "contract.sent",
        "contract.signed",
        "contract.created",
        "contract.cancelled",
        "contract.deleted",
    ]


async def test_recurring_invoices(client: Any, user: Account) -> None:
    from tests.recurring.helpers import create_schedule

    feed, h = Feed(client, user), user.headers
    schedule = await create_schedule(client, h, start_date="2900-01-01")
    path = f"/api/recurring-invoices/{schedule['id']}"
    updated = await _ok(await client.patch(path, json={"notes": "n"}, headers=h))
    await _ok(await client.post(f"{path}/pause", headers=h))
    resumed = await _ok(await client.post(f"{path}/resume", headers=h))
    await _ok(await client.delete(path, headers=h), 204)
    assert await feed.since() == [
        ("client.created", schedule["client_id"]),
        *(
            (f"recurring_invoice.{kind}", schedule["id"])
            for kind in ("created", "updated", "paused", "resumed", "deleted")
        ),
    ]
    events = await poll_all(client, h)
    assert events[2]["data"]["object"] == updated and events[4]["data"]["object"] == resumed


async def test_resumes(client: Any, user: Account) -> None:
    from tests.resumes.factories import create_resume

    h = user.headers
    resume = await create_resume(client, h)
    updated = await _ok(await client.patch(f"/api/resumes/{resume['id']}", json={"title": "T2"}, headers=h))
    await _ok(await client.delete(f"/api/resumes/{resume['id']}", headers=h), 204)
    events = await poll_all(client, h)
    assert [e["type"] for e in events] == ["resume.created", "resume.updated", "resume.deleted"]
    assert events[1]["data"]["object"] == updated
    assert (await client.get(f"/api/resumes/{resume['id']}", headers=h)).status_code == 404


async def test_a_move_undone_because_its_new_parent_went_away_takes_its_event_back(
    client: Any, user: Account, monkeypatch: Any
) -> None:
    """confirm_moved: the write stood for a moment, then was undone in one update that also pulled its
    pending event, so the feed never shows a change that did not stand."""
    from bson import ObjectId

    from app.core.errors import InvalidReference
    from app.db import repository as documents
    from app.time_entries.models import TimeEntry

    feed, h = Feed(client, user), user.headers
    project = await create_project(client, h)
    other = await create_project(client, h, project["client_id"])
    entry = await create_time_entry(client, h, project["id"])
    await feed.since()

    async def the_new_project_was_deleted_meanwhile(*args: Any) -> None:
        raise InvalidReference("project_id was deleted meanwhile")

    monkeypatch.setattr(documents, "confirm_parents", the_new_project_was_deleted_meanwhile)
    moved = await client.patch(
        f"/api/time-entries/{entry['id']}", json={"project_id": other["id"]}, headers=h
    )
    assert moved.status_code == 400, moved.text
    assert await feed.since() == []
    stored = await TimeEntry.get_motor_collection().find_one({"_id": ObjectId(entry["id"])})
    assert stored["project_id"] == ObjectId(project["id"]) and stored["outbox"] == []
