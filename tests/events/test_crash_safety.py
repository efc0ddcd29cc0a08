"""Every multi-step write survives a process that dies right after any one of its database writes
(API.md section 14). For each operation and each step k: the operation runs with the store failing for good
right after its k-th write (fault injection at the database call), the worker's recovery runs, and the
invariants hold: numbers consecutive without gaps, every sent invoice numbered and with its document, every
time entry claimed by a standing invoice or by none, nothing left pending, tombstoned or marked, and exactly
one event per change that stood."""

from __future__ import annotations

from collections import Counter
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

import pytest
from bson import ObjectId

from app.clients.models import Client
from app.contracts.models import Contract
from app.core.clock import utc_now
from app.events.models import Event, EventSequence
from app.events.sequencer import STATE_ID
from app.invoices.models import Invoice, InvoiceCounter
from app.projects.models import Project
from app.recovery import recover
from app.resumes.models import Resume
from app.time_entries.models import TimeEntry
from tests.clients.factories import create_client
from tests.conftest import Account, register
from tests.faults import Died, Fault, fault_fixture  # noqa: F401 (the `fault` fixture)
from tests.invoices.factories import create_invoice
from tests.projects.factories import create_project
from tests.time_entries.factories import create_time_entry

MAX_STEPS = 80
EVENTFUL = (Client, Project, TimeEntry, Invoice, Contract, Resume)


async def _recover() -> None:
    """A new process: the dead one's sequencer lease has expired; the worker's recovery runs (its cutoff is
    now: the dead request is not running any more)."""
    await EventSequence.get_motor_collection().update_one({"_id": STATE_ID}, {"$set": {"holder": None}})
    await recover(utc_now())


async def _events(owner: ObjectId) -> Counter[tuple[str, str]]:
    """(type, object id) -> how many events, for one owner, from the feed's own store."""
    events = await Event.get_motor_collection().find({"owner_id": owner}).to_list(None)
    assert all("seq" in e for e in events), "an event was left unsequenced"
    return Counter((e["type"], e["data"]["object"]["id"]) for e in events)


async def _check_invariants(owner: ObjectId) -> None:
    invoices = await Invoice.get_motor_collection().find({"owner_id": owner}).to_list(None)
    numbered = sorted(i["number_seq"] for i in invoices if i.get("number_seq") is not None)
    assert numbered == list(range(1, len(numbered) + 1)), f"numbers not consecutive: {numbered}"
    for invoice in invoices:
        if invoice["status"] in ("sent", "paid"):
            assert invoice["number"], "an invoice was left sent without a number"
            assert invoice.get("document"), "an invoice was left sent without its document"
    counter = await InvoiceCounter.get_motor_collection().find_one({"owner_id": owner})
    if counter is not None:
        assert counter["seq"] == len(numbered) and counter.get("holder") is None, counter
    standing = {i["_id"] for i in invoices if i["status"] != "void"}
    for entry in await TimeEntry.get_motor_collection().find({"owner_id": owner}).to_list(None):
        assert entry["invoice_id"] is None or entry["invoice_id"] in standing, "an entry claimed by nothing"
    for model in EVENTFUL:
        for document in await model.get_motor_collection().find({"owner_id": owner}).to_list(None):
            name = model.__name__
            assert not document.get("outbox"), f"{name} left with pending events"
            assert not document.get("removed"), f"{name} left as a tombstone"
            assert not document.get("deleting"), f"{name} left marked for deletion"
            assert not document.get("sending_at"), f"{name} left being sent"
    sequence = await EventSequence.get_motor_collection().find_one({"_id": STATE_ID})
    stored = await Event.get_motor_collection().count_documents({})
    assert sequence is None or sequence["published"] == stored, "the feed's watermark is behind"


Check = Callable[[Account, dict[str, Any], Counter[tuple[str, str]]], Awaitable[None]]


async def _every_step(
    http: Any,
    setup: Callable[[Account], Awaitable[dict[str, Any]]],
    operation: Callable[[Account, dict[str, Any]], Awaitable[Any]],
    check: Check,
    fault: Fault,
) -> int:
    """Runs `operation` dying after write 1, 2, ... until it completes; returns how many writes it made."""
    for step in range(1, MAX_STEPS):
        account = await register(http, f"step{step}-{ObjectId()}@example.com")
        state = await setup(account)
        fault.arm(step)
        try:
            await operation(account, state)
            died = False
        except Died:
            died = True
        fault.disarm()
        await _recover()
        owner = ObjectId(account.id)
        try:
            await _check_invariants(owner)
            await check(account, state, await _events(owner))
        except AssertionError as exc:
            raise AssertionError(f"after dying at write {step}: {exc}") from exc
        if not died:
            return step
    raise AssertionError("the operation never completed")


async def _invoiceable(http: Any, account: Account, entries: int = 2) -> dict[str, Any]:
    project = await create_project(http, account.headers)
    made = [await create_time_entry(http, account.headers, project["id"]) for _ in range(entries)]
    return {"client_id": project["client_id"], "entries": [e["id"] for e in made]}


async def _find(model: Any, id_: str) -> dict[str, Any] | None:
    return await model.get_motor_collection().find_one({"_id": ObjectId(id_)})  # type: ignore[no-any-return]


async def test_sending_an_invoice_survives_a_crash_after_every_step(client: Any, fault: Fault) -> None:
    async def setup(account: Account) -> dict[str, Any]:
        # one invoice already sent, so a lost or doubled number would show
        first = await create_invoice(client, account.headers)
        await client.post(f"/api/invoices/{first['id']}/send", headers=account.headers)
        return {"draft": await create_invoice(client, account.headers)}

    async def operation(account: Account, state: dict[str, Any]) -> None:
        response = await client.post(f"/api/invoices/{state['draft']['id']}/send", headers=account.headers)
        assert response.status_code == 200, response.text

    async def check(account: Account, state: dict[str, Any], events: Counter[tuple[str, str]]) -> None:
        invoice = await _find(Invoice, state["draft"]["id"])
        assert invoice is not None
        sent = invoice["status"] != "draft"
        assert not sent or invoice["number_seq"] == 2
        assert events[("invoice.sent", state["draft"]["id"])] == sent
        assert events[("invoice.created", state["draft"]["id"])] == 1

    steps = await _every_step(client, setup, operation, check, fault)
    assert steps >= 5  # claim, hold a number, write it, free the counter, store and attach the document


async def test_a_send_racing_a_dead_send_finishes_it_first_and_takes_the_next_number(
    client: Any, user: Account, fault: Fault
) -> None:
    """A send that died holding the counter does not block the next send: that one writes the held number
    on the dead one's invoice first, so numbers stay consecutive in claim order."""
    first = await create_invoice(client, user.headers)
    second = await create_invoice(client, user.headers)
    fault.arm(2)  # the claim, then the counter's hold: dies before the number is written
    with pytest.raises(Died):
        await client.post(f"/api/invoices/{first['id']}/send", headers=user.headers)
    fault.disarm()
    response = await client.post(f"/api/invoices/{second['id']}/send", headers=user.headers)
    assert response.status_code == 200, response.text
    assert response.json()["number"].endswith("0002")
    dead = await _find(Invoice, first["id"])
    assert dead is not None and dead["number_seq"] == 1 and dead.get("sending_at")  # document: recovery's
    await _recover()
    await _check_invariants(ObjectId(user.id))
    finished = (await client.get(f"/api/invoices/{first['id']}", headers=user.headers)).json()
    assert finished["number"].endswith("0001") and finished["status"] == "sent"
    assert (await client.get(f"/api/invoices/{first['id']}/pdf", headers=user.headers)).status_code == 200


async def test_invoicing_time_entries_survives_a_crash_after_every_step(client: Any, fault: Fault) -> None:
    async def setup(account: Account) -> dict[str, Any]:
        return await _invoiceable(client, account)

    async def operation(account: Account, state: dict[str, Any]) -> None:
        body = {"client_id": state["client_id"], "time_entry_ids": state["entries"]}
        response = await client.post("/api/invoices", json=body, headers=account.headers)
        assert response.status_code == 201, response.text

    async def check(account: Account, state: dict[str, Any], events: Counter[tuple[str, str]]) -> None:
        invoices = await Invoice.get_motor_collection().find({"owner_id": ObjectId(account.id)}).to_list(None)
        assert len(invoices) <= 1
        for entry_id in state["entries"]:
            entry = await _find(TimeEntry, entry_id)
            assert entry is not None
            if invoices:
                assert entry["invoice_id"] == invoices[0]["_id"]
                assert events[("time_entry.updated", entry_id)] == 1
            else:
                assert entry["invoice_id"] is None
                assert events[("time_entry.updated", entry_id)] == 0
        assert sum(n for (kind, _), n in events.items() if kind == "invoice.created") == len(invoices)

    await _every_step(client, setup, operation, check, fault)


@pytest.mark.parametrize("action", ["void", "delete"])
async def test_releasing_entries_on_void_or_delete_survives_a_crash_after_every_step(
    client: Any, fault: Fault, action: str
) -> None:
    async def setup(account: Account) -> dict[str, Any]:
        state = await _invoiceable(client, account)
        body = {"client_id": state["client_id"], "time_entry_ids": state["entries"]}
        state["invoice"] = (await client.post("/api/invoices", json=body, headers=account.headers)).json()
        return state

    async def operation(account: Account, state: dict[str, Any]) -> None:
        path = f"/api/invoices/{state['invoice']['id']}"
        if action == "void":
            response = await client.post(f"{path}/void", headers=account.headers)
        else:
            response = await client.delete(path, headers=account.headers)
        assert response.status_code in (200, 204), response.text

    async def check(account: Account, state: dict[str, Any], events: Counter[tuple[str, str]]) -> None:
        invoice = await _find(Invoice, state["invoice"]["id"])
        done = invoice is None or invoice["status"] == "void"
        kind = "invoice.voided" if action == "void" else "invoice.deleted"
        assert events[(kind, state["invoice"]["id"])] == done
        for entry_id in state["entries"]:
            entry = await _find(TimeEntry, entry_id)
            assert entry is not None and (entry["invoice_id"] is None) == done
            assert events[("time_entry.updated", entry_id)] == (2 if done else 1)  # claimed, then released

    await _every_step(client, setup, operation, check, fault)


async def test_the_client_currency_cascade_survives_a_crash_after_every_step(
    client: Any, fault: Fault
) -> None:
    async def setup(account: Account) -> dict[str, Any]:
        acme = await create_client(client, account.headers, currency="USD")
        projects = [await create_project(client, account.headers, acme["id"]) for _ in range(2)]
        return {"client": acme, "projects": [p["id"] for p in projects]}

    async def operation(account: Account, state: dict[str, Any]) -> None:
        path = f"/api/clients/{state['client']['id']}"
        response = await client.patch(path, json={"currency": "EUR"}, headers=account.headers)
        assert response.status_code == 200, response.text

    async def check(account: Account, state: dict[str, Any], events: Counter[tuple[str, str]]) -> None:
        got = (await client.get(f"/api/clients/{state['client']['id']}", headers=account.headers)).json()
        changed = got["currency"] == "EUR"
        assert events[("client.updated", state["client"]["id"])] == changed
        for project_id in state["projects"]:
            project = (await client.get(f"/api/projects/{project_id}", headers=account.headers)).json()
            assert project["currency"] == got["currency"]
            assert events[("project.updated", project_id)] == changed

    await _every_step(client, setup, operation, check, fault)


@pytest.mark.parametrize("what", ["client", "time entry"])
async def test_deletes_with_their_tombstones_survive_a_crash_after_every_step(
    client: Any, fault: Fault, what: str
) -> None:
    async def setup(account: Account) -> dict[str, Any]:
        if what == "client":
            return {
                "path": "/api/clients",
                "id": (await create_client(client, account.headers, name="Gone"))["id"],
            }
        project = await create_project(client, account.headers)
        entry = await create_time_entry(client, account.headers, project["id"])
        return {"path": "/api/time-entries", "id": entry["id"]}

    async def operation(account: Account, state: dict[str, Any]) -> None:
        response = await client.delete(f"{state['path']}/{state['id']}", headers=account.headers)
        assert response.status_code == 204, response.text

    async def check(account: Account, state: dict[str, Any], events: Counter[tuple[str, str]]) -> None:
        found = await client.get(f"{state['path']}/{state['id']}", headers=account.headers)
        assert found.status_code in (200, 404)
        gone = found.status_code == 404
        kind = "client.deleted" if what == "client" else "time_entry.deleted"
        assert events[(kind, state["id"])] == gone
        model = Client if what == "client" else TimeEntry
        assert (await _find(model, state["id"]) is None) == gone  # the tombstone went with its event

    await _every_step(client, setup, operation, check, fault)


@pytest.mark.parametrize("confirmed", [True, False])
async def test_insert_then_confirm_and_its_undo_survive_a_crash_after_every_step(
    client: Any, fault: Fault, monkeypatch: pytest.MonkeyPatch, confirmed: bool
) -> None:
    """An insert that names a parent, then confirms it; when the confirmation fails (the parent was deleted
    meanwhile: simulated here) the insert is undone. A document exists exactly when its created event does."""
    from app.core.errors import InvalidReference
    from app.db import repository as documents

    confirm = documents.confirm_parents
    refusing = [False]

    async def parent_went_away(*args: Any) -> None:
        if refusing[0]:
            raise InvalidReference("project_id was deleted meanwhile")
        await confirm(*args)

    monkeypatch.setattr(documents, "confirm_parents", parent_went_away)

    async def setup(account: Account) -> dict[str, Any]:
        refusing[0] = False
        project = await create_project(client, account.headers)
        refusing[0] = not confirmed
        return {"project": project}

    async def operation(account: Account, state: dict[str, Any]) -> None:
        body = {
            "project_id": state["project"]["id"],
            "started_at": "2026-01-05T09:00:00Z",
            "ended_at": "2026-01-05T10:00:00Z",
        }
        response = await client.post("/api/time-entries", json=body, headers=account.headers)
        assert response.status_code == (201 if confirmed else 400), response.text

    async def check(account: Account, state: dict[str, Any], events: Counter[tuple[str, str]]) -> None:
        entries = (
            await TimeEntry.get_motor_collection().find({"owner_id": ObjectId(account.id)}).to_list(None)
        )
        assert sum(n for (kind, _), n in events.items() if kind == "time_entry.created") == len(entries)
        for entry in entries:
            assert events[("time_entry.created", str(entry["_id"]))] == 1

    await _every_step(client, setup, operation, check, fault)


async def test_recovery_deletes_an_insert_whose_parent_went_away_before_it_was_confirmed(
    client: Any, user: Account, fault: Fault
) -> None:
    project = await create_project(client, user.headers)
    body = {
        "project_id": project["id"],
        "started_at": "2026-01-05T09:00:00Z",
        "ended_at": "2026-01-05T10:00:00Z",
    }
    fault.arm(1)  # the insert, then death: its parents were never confirmed
    with pytest.raises(Died):
        await client.post("/api/time-entries", json=body, headers=user.headers)
    fault.disarm()
    await Project.get_motor_collection().delete_one({"_id": ObjectId(project["id"])})
    await _recover()
    assert await TimeEntry.get_motor_collection().count_documents({"owner_id": ObjectId(user.id)}) == 0
    assert ("time_entry.created",) not in {(kind,) for kind, _ in await _events(ObjectId(user.id))}


async def test_recovery_clears_the_mark_of_a_delete_that_died_before_checking_references(
    client: Any, user: Account, fault: Fault
) -> None:
    project = await create_project(client, user.headers)
    fault.arm(1)  # the mark, then death
    with pytest.raises(Died):
        await client.delete(f"/api/projects/{project['id']}", headers=user.headers)
    fault.disarm()
    entry = {
        "project_id": project["id"],
        "started_at": "2026-01-05T09:00:00Z",
        "ended_at": "2026-01-05T10:00:00Z",
    }
    refused = await client.post("/api/time-entries", json=entry, headers=user.headers)
    assert refused.status_code == 400  # while marked, the project is no valid reference
    await recover(utc_now() - timedelta(seconds=60))
    assert (await _find(Project, project["id"]) or {}).get("deleting") is True  # too fresh: left alone
    await _recover()
    await _check_invariants(ObjectId(user.id))
    accepted = await client.post("/api/time-entries", json=entry, headers=user.headers)
    assert accepted.status_code == 201, accepted.text
