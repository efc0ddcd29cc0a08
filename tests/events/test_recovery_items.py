"""The worker's recovery handles each stuck item on its own (docs/operations.md): in every step, an item that
raises is logged with its collection and id and skipped, the others (here another organisation's) are still
recovered, and the next pass tries it again. What waits on a skipped item (its own events, the claims of an
invoice not settled) stays for the next pass too, so no event leaves for a change a later pass may undo.

Each test makes two stuck items of one kind, one per account, the first made first (so it is tried first),
and makes the first fail: its data cannot be read, or the per-item step raises for it."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import pytest
from bson import ObjectId

from app.clients.models import Client
from app.core.clock import utc_now
from app.db import outbox
from app.db import repository as core_documents
from app.events import relay as relay_module
from app.events.models import Event, EventSequence
from app.events.sequencer import STATE_ID
from app.invoices import recovery as invoices_recovery
from app.projects.models import Project
from app.recovery import recover
from app.time_entries.models import TimeEntry
from tests.clients.factories import create_client
from tests.conftest import Account
from tests.faults import Died, Fault, fault_fixture  # noqa: F401 (the `fault` fixture)
from tests.projects.factories import create_project
from tests.time_entries.factories import create_time_entry

ENTRY = {"started_at": "2026-01-05T09:00:00Z", "ended_at": "2026-01-05T10:00:00Z"}


async def _recover() -> None:
    """A new process (the dead one's sequencer lease has expired) runs a recovery pass with the cutoff now."""
    await EventSequence.get_motor_collection().update_one({"_id": STATE_ID}, {"$set": {"holder": None}})
    await recover(utc_now())


def _fail_for(monkeypatch: pytest.MonkeyPatch, module: Any, name: str, bad: ObjectId) -> list[ObjectId]:
    """Make the per-item step `module.name` raise for the item `bad` (named by an argument, or by the `_id`
    of a raw document argument); returns the ids it was called for, in order."""
    original = getattr(module, name)
    tried: list[ObjectId] = []

    async def step(*args: Any) -> Any:
        ids = [arg.get("_id") if isinstance(arg, dict) else arg for arg in args]
        tried.extend(i for i in ids if isinstance(i, ObjectId))
        if bad in ids:
            raise RuntimeError(f"item {bad} cannot be recovered")
        return await original(*args)

    monkeypatch.setattr(module, name, step)
    return tried


def _restore(monkeypatch: pytest.MonkeyPatch, module: Any, name: str, original: Callable[..., Any]) -> None:
    monkeypatch.setattr(module, name, original)


def _assert_failure_logged(caplog: pytest.LogCaptureFixture, collection: str, item_id: ObjectId) -> None:
    """One error, naming the failed item's collection and id; no other item failed."""
    [logged] = [r for r in caplog.records if r.name == "orbix.recovery" and r.levelno >= logging.ERROR]
    assert str(item_id) in logged.getMessage() and collection in logged.getMessage()
    assert (logged.item_id, logged.collection) == (str(item_id), collection)  # type: ignore[attr-defined]


def _held(caplog: pytest.LogCaptureFixture) -> set[tuple[str, str]]:
    """(collection, id) of every item the pass left because it waits on one that failed."""
    records = [r for r in caplog.records if r.name == "orbix.recovery" and r.levelno == logging.INFO]
    return {(r.collection, r.item_id) for r in records}  # type: ignore[attr-defined]


async def _raw(model: Any, oid: ObjectId) -> dict[str, Any]:
    raw = await model.get_motor_collection().find_one({"_id": oid})
    assert raw is not None
    return raw  # type: ignore[no-any-return]


async def _pending(model: Any, oid: ObjectId) -> list[str]:
    return [entry["type"] for entry in (await _raw(model, oid)).get("outbox", [])]


async def _event_types(oid: ObjectId) -> list[str]:
    events = Event.get_motor_collection().find({"data.object.id": str(oid)}).sort("created_at", 1)
    return [event["type"] async for event in events]


async def test_an_insert_that_cannot_be_confirmed_holds_up_no_other(
    client: Any,
    user: Account,
    other_user: Account,
    fault: Fault,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    ids = []
    for account in (user, other_user):
        project = await create_project(client, account.headers)
        fault.arm(1)  # the insert, then death: its parents were never confirmed
        with pytest.raises(Died):
            await client.post(
                "/api/time-entries", json={"project_id": project["id"], **ENTRY}, headers=account.headers
            )
        fault.disarm()
        [entry] = (
            await TimeEntry.get_motor_collection().find({"owner_id": ObjectId(account.id)}).to_list(None)
        )
        ids.append(entry["_id"])
    first, second = ids
    original = core_documents.confirm_insert
    tried = _fail_for(monkeypatch, core_documents, "confirm_insert", first)

    with caplog.at_level(logging.INFO, logger="orbix.recovery"):
        await _recover()

    assert tried == [first, second]
    _assert_failure_logged(caplog, "time_entries", first)
    assert await _pending(TimeEntry, second) == [] and await _event_types(second) == ["time_entry.created"]
    # Not confirmed, so not relayed: its event waits with it (its insert may still be undone).
    assert await _pending(TimeEntry, first) == ["time_entry.created"] and await _event_types(first) == []
    assert ("time_entries", str(first)) in _held(caplog)

    _restore(monkeypatch, core_documents, "confirm_insert", original)
    await _recover()
    assert await _pending(TimeEntry, first) == [] and await _event_types(first) == ["time_entry.created"]


async def test_a_delete_mark_that_cannot_be_cleared_holds_up_no_other(
    client: Any,
    user: Account,
    other_user: Account,
    fault: Fault,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    ids = []
    for account in (user, other_user):
        project = await create_project(client, account.headers)
        fault.arm(1)  # the mark, then death
        with pytest.raises(Died):
            await client.delete(f"/api/projects/{project['id']}", headers=account.headers)
        fault.disarm()
        ids.append(ObjectId(project["id"]))
    first, second = ids
    original = core_documents.clear_stale_mark
    tried = _fail_for(monkeypatch, core_documents, "clear_stale_mark", first)

    with caplog.at_level(logging.ERROR, logger="orbix.recovery"):
        await _recover()

    assert tried == [first, second]
    _assert_failure_logged(caplog, "projects", first)
    assert "deleting" not in await _raw(Project, second)
    assert (await _raw(Project, first))["deleting"] is True  # skipped: the next pass tries again

    _restore(monkeypatch, core_documents, "clear_stale_mark", original)
    await _recover()
    assert "deleting" not in await _raw(Project, first)


async def test_a_client_update_that_cannot_be_finished_holds_up_no_other(
    client: Any,
    user: Account,
    other_user: Account,
    fault: Fault,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The update commits, then its process dies before its projects follow the new currency."""
    clients, projects = [], []
    for account in (user, other_user):
        created = await create_client(client, account.headers, currency="EUR")
        project = await create_project(client, account.headers, client_id=created["id"])
        fault.arm(1)
        with pytest.raises(Died):
            await client.patch(
                f"/api/clients/{created['id']}", json={"currency": "USD"}, headers=account.headers
            )
        fault.disarm()
        clients.append(ObjectId(created["id"]))
        projects.append(ObjectId(project["id"]))
    first, second = clients
    # The first client's stored data cannot be read any more (written by something older than the rules).
    collection = Client.get_motor_collection()
    await collection.update_one({"_id": first}, {"$set": {"name": 12345}})

    with caplog.at_level(logging.INFO, logger="orbix.recovery"):
        await _recover()

    _assert_failure_logged(caplog, "clients", first)
    assert (await _raw(Project, projects[1]))["currency"] == "USD"
    assert await _pending(Client, second) == [] and (await _event_types(second))[-1] == "client.updated"
    # Not finished, so its event has not left: the relay left it for the next pass.
    assert (await _raw(Project, projects[0]))["currency"] == "EUR"
    assert await _pending(Client, first) == ["client.updated"]
    assert ("clients", str(first)) in _held(caplog)

    await collection.update_one({"_id": first}, {"$set": {"name": "Acme"}})
    await _recover()
    assert (await _raw(Project, projects[0]))["currency"] == "USD"
    assert await _pending(Client, first) == [] and (await _event_types(first))[-1] == "client.updated"


async def test_a_document_whose_events_cannot_be_relayed_holds_up_no_other(
    client: Any,
    user: Account,
    other_user: Account,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def die(document: Any) -> None:
        raise Died  # the change committed, then the process died before relaying its event

    ids = []
    for account in (user, other_user):
        project = await create_project(client, account.headers)
        monkeypatch.setattr(outbox, "_relay", [die])
        with pytest.raises(Died):
            await client.patch(
                f"/api/projects/{project['id']}", json={"description": "d"}, headers=account.headers
            )
        monkeypatch.setattr(outbox, "_relay", [relay_module.relay])
        ids.append(ObjectId(project["id"]))
    first, second = ids
    collection = Project.get_motor_collection()
    await collection.update_one({"_id": first}, {"$set": {"name": 12345}})  # cannot be read any more

    with caplog.at_level(logging.ERROR, logger="orbix.recovery"):
        await _recover()

    _assert_failure_logged(caplog, "projects", first)
    assert await _pending(Project, second) == [] and await _event_types(second) == [
        "project.created",
        "project.updated",
    ]
    assert await _pending(Project, first) == ["project.updated"]

    await collection.update_one({"_id": first}, {"$set": {"name": "Website"}})
    await _recover()
    assert await _pending(Project, first) == [] and (await _event_types(first))[-1] == "project.updated"


async def test_claims_that_cannot_be_settled_keep_their_events_and_hold_up_no_other(
    client: Any,
    user: Account,
    other_user: Account,
    fault: Fault,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """An invoice made from a time entry dies right after claiming it: the invoice was never inserted, so
    the recovery undoes the claim with its event. While the first one's claim cannot be settled, the relay
    (a later step) must not send its claim event: that change is still to be undone."""
    entries, invoices = [], []
    for account in (user, other_user):
        project = await create_project(client, account.headers)
        entry = await create_time_entry(client, account.headers, project["id"])
        body = {"client_id": project["client_id"], "time_entry_ids": [entry["id"]]}
        fault.arm(1)  # the claim, then death
        with pytest.raises(Died):
            await client.post("/api/invoices", json=body, headers=account.headers)
        fault.disarm()
        raw = await _raw(TimeEntry, ObjectId(entry["id"]))
        entries.append(raw["_id"])
        invoices.append(raw["invoice_id"])
    original = invoices_recovery._settle_claim
    tried = _fail_for(monkeypatch, invoices_recovery, "_settle_claim", invoices[0])

    with caplog.at_level(logging.INFO, logger="orbix.recovery"):
        await _recover()

    assert [i for i in tried if i in invoices] == invoices
    _assert_failure_logged(caplog, "invoices", invoices[0])
    released = await _raw(TimeEntry, entries[1])
    assert released["invoice_id"] is None and released["outbox"] == []
    assert await _event_types(entries[1]) == ["time_entry.created"]  # the claim never stood: no event
    claimed = await _raw(TimeEntry, entries[0])
    assert claimed["invoice_id"] == invoices[0]
    assert [entry.get("claim") for entry in claimed["outbox"]] == [invoices[0]]  # still pending, not sent
    assert await _event_types(entries[0]) == ["time_entry.created"]
    assert ("time_entries", str(entries[0])) in _held(caplog)

    _restore(monkeypatch, invoices_recovery, "_settle_claim", original)
    await _recover()
    released = await _raw(TimeEntry, entries[0])
    assert released["invoice_id"] is None and released["outbox"] == []
    assert await _event_types(entries[0]) == ["time_entry.created"]


async def test_an_unreachable_database_ends_the_pass_instead_of_failing_every_item(caplog):
    """A step that cannot reach the database is not one bad item: the pass stops (the worker logs the
    periodic task's failure once) rather than logging every item as failed after its timeout."""
    from pymongo.errors import ServerSelectionTimeoutError

    from app.db.recovery import RecoveryPass

    recovery, tried = RecoveryPass(), []

    async def unreachable() -> None:
        tried.append(1)
        raise ServerSelectionTimeoutError("no primary")

    with pytest.raises(ServerSelectionTimeoutError), caplog.at_level(logging.ERROR, "orbix.recovery"):
        await recovery.item("finish", "invoices", ObjectId(), unreachable)
    assert tried == [1] and caplog.records == []
