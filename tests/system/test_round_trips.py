"""Store operations per request (#24): each one a round trip on MongoDB, a majority one for a write on a
replica set. Counted at the store (scripts/store_ops.py, which prints the same table), so the limits hold
deterministically: a create or an update at most 4 operations before its answer (authentication included), a
list 3 (authentication, count, page), a read 2. A write's events are relayed after its answer."""

from __future__ import annotations

import pytest

from scripts import store_ops
from tests.clients.factories import create_client


@pytest.fixture
def counting():
    with store_ops.counting():
        yield


async def test_every_route_stays_within_its_store_operations(app, client, user, counting):
    rows = await store_ops.scenario(app, user.token)
    assert len(rows) == len(store_ops.ROUTES)
    over = [
        (route.name, status, operations)
        for route, status, operations in rows
        if status >= 300 or len(operations) > store_ops.limit_of(route)
    ]
    assert not over, over


async def test_a_writes_events_are_relayed_after_its_answer(app, client, user, counting):
    created = await store_ops.request(app, "POST", "/api/clients", user.token, b'{"name": "Acme"}')
    assert created.status == 201
    assert not any(op.startswith(("events.", "event_sequence.")) for op in created.tally.operations)
    assert "events.insert_one" in created.tally.after  # copied to the feed, then sequenced
    assert any(op.startswith("event_sequence.") for op in created.tally.after)
    feed = await client.get("/api/events", headers=user.headers)
    assert [event["type"] for event in feed.json()["items"]] == ["client.created"]


async def test_an_update_that_keeps_the_currency_reads_no_project(app, client, user, counting):
    made = await create_client(client, user.headers)
    renamed = await store_ops.request(
        app, "PATCH", f"/api/clients/{made['id']}", user.token, b'{"name": "B"}'
    )
    assert renamed.status == 200 and not any(op.startswith("projects.") for op in renamed.tally.operations)
    moved = await store_ops.request(
        app, "PATCH", f"/api/clients/{made['id']}", user.token, b'{"currency": "EUR"}'
    )
    assert moved.status == 200 and "projects.find" in moved.tally.operations  # its projects follow
