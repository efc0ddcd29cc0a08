"""GET /api/events and /api/events/{id} (API.md section 15): order, cursor, filters, tenancy."""

from __future__ import annotations

from typing import Any

from tests.clients.factories import create_client
from tests.conftest import Account, assert_problem
from tests.events.helpers import poll_all, types_of


async def test_a_write_appears_in_the_feed_with_the_object_as_the_api_returned_it(
    client: Any, user: Account
) -> None:
    created = await create_client(client, user.headers, name="Acme")
    events = await poll_all(client, user.headers)
    assert types_of(events) == ["client.created"]
    event = events[0]
    assert event["data"] == {"object": created}
    assert set(event) == {"id", "type", "created_at", "actor", "data"}
    one = await client.get(f"/api/events/{event['id']}", headers=user.headers)
    assert one.status_code == 200 and one.json() == event


async def test_update_and_delete_each_give_one_event_and_the_deleted_object_is_as_it_was_last(
    client: Any, user: Account
) -> None:
    created = await create_client(client, user.headers)
    patched = await client.patch(f"/api/clients/{created['id']}", json={"notes": "vip"}, headers=user.headers)
    assert patched.status_code == 200
    assert (await client.delete(f"/api/clients/{created['id']}", headers=user.headers)).status_code == 204
    events = await poll_all(client, user.headers)
    assert types_of(events) == ["client.created", "client.updated", "client.deleted"]
    assert events[1]["data"]["object"] == patched.json()
    assert events[2]["data"]["object"] == patched.json()
    assert (await client.get(f"/api/clients/{created['id']}", headers=user.headers)).status_code == 404


async def test_a_write_that_did_not_commit_has_no_event(client: Any, user: Account) -> None:
    created = await create_client(client, user.headers)
    await client.post("/api/projects", json={"client_id": created["id"], "name": "P"}, headers=user.headers)
    # refused writes: unknown id, bad body, client still in use
    assert (
        await client.patch(f"/api/clients/{'0' * 24}", json={"notes": "x"}, headers=user.headers)
    ).status_code == 404
    assert (await client.post("/api/clients", json={"name": ""}, headers=user.headers)).status_code == 400
    refused = await client.delete(f"/api/clients/{created['id']}", headers=user.headers)
    assert_problem(refused, 409, "in_use")
    assert types_of(await poll_all(client, user.headers)) == ["client.created", "project.created"]


async def test_the_cursor_resumes_after_the_last_event_seen_and_has_more_pages(
    client: Any, user: Account
) -> None:
    for name in ("A", "B", "C", "D", "E"):
        await create_client(client, user.headers, name=name)
    first = (await client.get("/api/events", params={"limit": 2}, headers=user.headers)).json()
    assert [e["data"]["object"]["name"] for e in first["items"]] == ["A", "B"] and first["has_more"] is True
    after = first["items"][-1]["id"]
    rest = (await client.get("/api/events", params={"after": after, "limit": 3}, headers=user.headers)).json()
    assert [e["data"]["object"]["name"] for e in rest["items"]] == ["C", "D", "E"]
    assert rest["has_more"] is False
    last = rest["items"][-1]["id"]
    empty = (await client.get("/api/events", params={"after": last}, headers=user.headers)).json()
    assert empty == {"items": [], "has_more": False}


async def test_types_filter_keeps_only_those_types(client: Any, user: Account) -> None:
    created = await create_client(client, user.headers)
    await client.patch(f"/api/clients/{created['id']}", json={"notes": "x"}, headers=user.headers)
    events = await poll_all(client, user.headers, types="client.updated,invoice.paid")
    assert types_of(events) == ["client.updated"]
    assert_problem(
        await client.get("/api/events", params={"types": "client.exploded"}, headers=user.headers),
        400,
        "validation_error",
    )


async def test_paging_limits_are_checked(client: Any, user: Account) -> None:
    for limit in (0, 101, "x"):
        response = await client.get("/api/events", params={"limit": limit}, headers=user.headers)
        assert response.status_code == 400, (limit, response.text)


async def test_an_after_that_names_no_kept_event_is_400(client: Any, user: Account) -> None:
    for after in ("0" * 24, "not-an-id", "6740f0c2a1b2c3d4e5f60718"):
        response = await client.get("/api/events", params={"after": after}, headers=user.headers)
        assert_problem(response, 400, "validation_error")


async def test_tenancy_is_absolute(client: Any, user: Account, other_user: Account) -> None:
    await create_client(client, user.headers)
    mine = (await poll_all(client, user.headers))[0]
    assert await poll_all(client, other_user.headers) == []
    assert_problem(
        await client.get(f"/api/events/{mine['id']}", headers=other_user.headers), 404, "not_found"
    )
    assert_problem(
        await client.get("/api/events", params={"after": mine["id"]}, headers=other_user.headers),
        400,
        "validation_error",
    )
    assert_problem(await client.get("/api/events/nope", headers=user.headers), 404, "not_found")
    assert (await client.get("/api/events")).status_code == 401


async def test_a_started_timer_is_time_entry_started_not_also_created(client: Any, user: Account) -> None:
    from tests.projects.factories import create_project

    project = await create_project(client, user.headers)
    started = await client.post(
        "/api/time-entries/start", json={"project_id": project["id"]}, headers=user.headers
    )
    assert started.status_code == 201, started.text
    events = await poll_all(client, user.headers, types="time_entry.created,time_entry.started")
    assert types_of(events) == ["time_entry.started"]
    assert events[0]["data"]["object"] == started.json()


def test_the_feed_reads_and_writes_with_majority_on_a_mongodb_server() -> None:
    """Numbers and the watermark a reader sees can never be rolled back by a failover (docs/webhooks-and-events.md)."""
    from motor.motor_asyncio import AsyncIOMotorClient

    from app.events.models import _majority

    server = AsyncIOMotorClient("mongodb://127.0.0.1:9", connect=False)
    collection = _majority(server.orbix.events)
    assert collection.read_concern.level == "majority"
    assert collection.write_concern.document == {"w": "majority"}
    server.close()
