"""Every event carries `actor` = {type, id} (API.md sections 15 and 19): the user whose request made the
change, or `system` for what Orbix does by itself (recovery, the worker)."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
from bson import ObjectId

from app.core.clock import utc_now
from app.events.models import Event
from app.invoices import lifecycle
from app.recovery import recover
from app.webhooks.fanout import event_body
from tests.clients.factories import create_client
from tests.conftest import Account
from tests.events.helpers import poll_all, stored_events
from tests.faults import Died
from tests.projects.factories import create_project
from tests.time_entries.factories import create_time_entry

SYSTEM = {"type": "system", "id": None}


def _by(account: Account) -> dict[str, Any]:
    return {"type": "user", "id": account.id}


async def test_every_event_of_a_request_names_its_user_in_the_feed_and_the_webhook_body(
    client: Any, user: Account, other_user: Account
) -> None:
    h = user.headers
    acme = await create_client(client, h)
    await client.patch(f"/api/clients/{acme['id']}", json={"currency": "EUR"}, headers=h)  # + a cascade
    project = await create_project(client, h, acme["id"])
    entry = await create_time_entry(client, h, project["id"])
    await client.delete(f"/api/time-entries/{entry['id']}", headers=h)
    await create_client(client, other_user.headers)

    events = await poll_all(client, h)
    assert len(events) == 5
    assert all(event["actor"] == _by(user) for event in events), events
    one = await client.get(f"/api/events/{events[0]['id']}", headers=h)
    assert one.json()["actor"] == _by(user)
    assert [event["actor"] for event in await poll_all(client, other_user.headers)] == [_by(other_user)]
    stored = Event.model_validate((await stored_events(owner_id=ObjectId(user.id)))[0])
    assert json.loads(event_body(stored))["actor"] == _by(user)  # what a webhook receiver gets


async def test_what_recovery_finishes_is_done_by_the_system(
    client: Any, user: Account, monkeypatch: pytest.MonkeyPatch
) -> None:
    h = user.headers
    project = await create_project(client, h)
    entry = await create_time_entry(client, h, project["id"])
    body = {"client_id": project["client_id"], "time_entry_ids": [entry["id"]]}
    invoice = (await client.post("/api/invoices", json=body, headers=h)).json()
    release = lifecycle.release_entries

    async def dies(*args: Any) -> None:  # the void stands; the process dies before releasing the entry
        raise Died

    monkeypatch.setattr(lifecycle, "release_entries", dies)
    with pytest.raises(Died):
        await client.post(f"/api/invoices/{invoice['id']}/void", headers=h)
    monkeypatch.setattr(lifecycle, "release_entries", release)
    await recover(utc_now() + timedelta(hours=1))

    events = await stored_events(owner_id=ObjectId(user.id))
    actors = [
        (event["type"], event["actor"]) for event in events if event["data"]["object"]["id"] == entry["id"]
    ]
    released_by = {"type": "user", "id": ObjectId(user.id)}
    assert actors == [
        ("time_entry.created", released_by),
        ("time_entry.updated", released_by),  # claimed by the invoice's create
        ("time_entry.updated", SYSTEM),  # released by recovery
    ]
    voided = [event["actor"] for event in events if event["type"] == "invoice.voided"]
    assert voided == [released_by]


async def test_an_event_kept_from_before_actors_were_recorded_shows_null(client: Any, user: Account) -> None:
    await create_client(client, user.headers)
    await Event.get_motor_collection().update_many({}, {"$unset": {"actor": ""}})
    (event,) = await poll_all(client, user.headers)
    assert event["actor"] is None
