"""The outbox and the sequencer survive a process that dies between any two of their database calls."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import pytest
from bson import ObjectId

from app.clients.models import Client
from app.core.clock import utc_now
from app.db import outbox
from app.events import emit, read_after, sequencer
from app.events import relay as relay_module
from app.events.models import Event
from app.events.relay import recover_outboxes
from tests.clients.factories import create_client
from tests.conftest import Account
from tests.events.helpers import poll_all, stored_events, types_of


class Died(BaseException):
    """The process ends here (BaseException: nothing in the app catches it)."""


async def _die(document: Any) -> None:
    """Installed as the relay: the change committed, then the process died before relaying its event."""
    raise Died


async def _commit_then_die(call: Any) -> None:
    with pytest.raises(Died):
        await call


async def test_an_event_left_in_its_document_is_relayed_once_by_recovery(
    client: Any, user: Account, monkeypatch: pytest.MonkeyPatch
) -> None:
    created = await create_client(client, user.headers)
    monkeypatch.setattr(outbox, "_relay", [_die])
    await _commit_then_die(
        client.patch(f"/api/clients/{created['id']}", json={"notes": "n"}, headers=user.headers)
    )
    assert types_of(await poll_all(client, user.headers)) == ["client.created"]
    stored = await Client.get_motor_collection().find_one({"_id": ObjectId(created["id"])})
    assert [entry["type"] for entry in stored["outbox"]] == ["client.updated"]

    assert (
        await recover_outboxes(utc_now() - timedelta(seconds=60)) == 0
    )  # too fresh: its request may be running
    assert await recover_outboxes(utc_now()) == 1
    assert await recover_outboxes(utc_now()) == 0
    events = await poll_all(client, user.headers)
    assert types_of(events) == ["client.created", "client.updated"]
    assert events[1]["data"]["object"]["notes"] == "n"
    stored = await Client.get_motor_collection().find_one({"_id": ObjectId(created["id"])})
    assert stored["outbox"] == []


async def test_a_relay_that_dies_after_copying_leaves_no_second_copy(
    client: Any, user: Account, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def copy_then_die(document: Any) -> None:
        await relay_module.copy_to_events(document)
        raise Died

    monkeypatch.setattr(outbox, "_relay", [copy_then_die])
    with pytest.raises(Died):
        await client.post("/api/clients", json={"name": "Acme"}, headers=user.headers)
    assert await poll_all(client, user.headers) == []  # copied, not yet sequenced: invisible
    monkeypatch.setattr(outbox, "_relay", [relay_module.relay])
    await recover_outboxes(utc_now())
    await recover_outboxes(utc_now())
    assert types_of(await poll_all(client, user.headers)) == ["client.created"]
    assert len(await stored_events()) == 1


async def test_a_delete_that_dies_after_its_tombstone_is_finished_by_recovery(
    client: Any, user: Account, monkeypatch: pytest.MonkeyPatch
) -> None:
    created = await create_client(client, user.headers)
    monkeypatch.setattr(outbox, "_relay", [_die])
    await _commit_then_die(client.delete(f"/api/clients/{created['id']}", headers=user.headers))
    # committed: the client is gone for every read, though its tombstone is still stored
    assert (await client.get(f"/api/clients/{created['id']}", headers=user.headers)).status_code == 404
    assert (await client.get("/api/clients", headers=user.headers)).json()["total"] == 0
    patch = await client.patch(f"/api/clients/{created['id']}", json={"notes": "x"}, headers=user.headers)
    assert patch.status_code == 404
    monkeypatch.setattr(outbox, "_relay", [relay_module.relay])
    await recover_outboxes(utc_now())
    assert types_of(await poll_all(client, user.headers)) == ["client.created", "client.deleted"]
    assert await Client.get_motor_collection().find_one({"_id": ObjectId(created["id"])}) is None


async def test_a_round_that_dies_before_publishing_is_published_by_the_next(
    client: Any, user: Account
) -> None:
    owner = ObjectId(user.id)
    await emit(owner, "webhook_endpoint.disabled", {"id": "a"})
    original = sequencer._state

    class DiesOnPublish:
        def __getattr__(self, name: str) -> Any:
            return getattr(original(), name)

        async def update_one(self, query: Any, update: Any, **kw: Any) -> Any:
            if "$max" in update:
                raise Died
            return await original().update_one(query, update, **kw)

    await Event.get_motor_collection().insert_one(
        {
            "_id": ObjectId(),
            "owner_id": owner,
            "type": "client.created",
            "created_at": utc_now(),
            "data": {},
            "pending": True,
        }
    )
    sequencer._state = lambda: DiesOnPublish()  # type: ignore[assignment]
    try:
        with pytest.raises(Died):
            await sequencer.sequence_round("dying")
    finally:
        sequencer._state = original  # type: ignore[assignment]
    assert len(await read_after(None, 10, owner_id=owner)) == 1  # numbered but not published: invisible
    await sequencer.sequence_round("next")
    assert [e.seq for e in await read_after(None, 10, owner_id=owner)] == [1, 2]


async def test_sequencers_racing_on_an_expired_lease_never_repeat_or_skip_a_number(
    client: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sequencer, "LEASE", timedelta(seconds=-1))  # every lease is already expired
    owner = ObjectId()
    for _ in range(60):
        await Event.get_motor_collection().insert_one(
            {
                "_id": ObjectId(),
                "owner_id": owner,
                "type": "client.created",
                "created_at": utc_now(),
                "data": {},
                "pending": True,
            }
        )
    await asyncio.gather(*(sequencer.sequence_round(f"holder {i}") for i in range(4)))
    while await Event.get_motor_collection().count_documents({"pending": True}):
        await sequencer.sequence_round("sweeper")
    assert [event["seq"] for event in await stored_events()] == list(range(1, 61))
    assert [e.seq for e in await read_after(None, 100)] == list(range(1, 61))


async def test_emit_records_an_event_for_all_feed_readers(
    client: Any, user: Account, other_user: Account
) -> None:
    await emit(ObjectId(user.id), "webhook_endpoint.disabled", {"id": "x", "enabled": False})
    events = await poll_all(client, user.headers)
    assert types_of(events) == ["webhook_endpoint.disabled"]
    assert events[0]["data"] == {"object": {"id": "x", "enabled": False}}
    assert await poll_all(client, other_user.headers) == []
    assert [e.type for e in await read_after(None, 10)] == ["webhook_endpoint.disabled"]
    with pytest.raises(ValueError):
        await emit(ObjectId(user.id), "made.up", {})


async def test_events_expire_after_30_days(client: Any) -> None:
    info = await Event.get_motor_collection().index_information()
    assert info["events_ttl_30d"]["expireAfterSeconds"] == 30 * 24 * 3600
    assert list(info["events_ttl_30d"]["key"]) == [("created_at", 1)]
