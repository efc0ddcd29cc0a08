from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from tests.clients.factories import create_client
from tests.conftest import Account, assert_problem, moment
from tests.projects.factories import create_project
from tests.time_entries.factories import create_time_entry, mark_invoiced, start_timer

ENTRY_KEYS = {
    "id",
    "user_id",
    "project_id",
    "client_id",
    "description",
    "started_at",
    "ended_at",
    "duration_seconds",
    "billable",
    "hourly_rate",
    "invoice_id",
    "created_at",
    "updated_at",
}
START, END = "2026-03-02T09:00:00Z", "2026-03-02T11:30:00Z"


def iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


@pytest.fixture
async def project(client, auth):
    return await create_project(client, auth)


# ---------------------------------------------------------------- manual entries


async def test_create_time_entry(client, auth, project):
    response = await client.post(
        "/api/time-entries",
        json={"project_id": project["id"], "started_at": START, "ended_at": END},
        headers=auth,
    )
    assert response.status_code == 201, response.text
    entry = response.json()
    assert set(entry) == ENTRY_KEYS  # never timer_slot
    assert entry["project_id"] == project["id"] and entry["client_id"] == project["client_id"]
    assert entry["started_at"] == START and entry["ended_at"] == END
    assert entry["duration_seconds"] == 9000
    assert entry["description"] == "" and entry["billable"] is True
    assert entry["hourly_rate"] is None and entry["invoice_id"] is None
    fetched = (await client.get(f"/api/time-entries/{entry['id']}", headers=auth)).json()
    assert fetched == entry


async def test_create_time_entry_normalises_to_utc_milliseconds(client, auth, project):
    entry = await create_time_entry(
        client, auth, project["id"], "2026-03-02T10:00:00.123456+01:00", "2026-03-02T09:00:02.122999Z"
    )
    assert datetime.fromisoformat(entry["started_at"]) == datetime(2026, 3, 2, 9, 0, 0, 123000, tzinfo=UTC)
    assert datetime.fromisoformat(entry["ended_at"]) == datetime(2026, 3, 2, 9, 0, 2, 122000, tzinfo=UTC)
    assert entry["duration_seconds"] == 1  # 1.999 s: whole seconds, truncated


async def test_create_time_entry_of_exactly_24_hours(client, auth, project):
    entry = await create_time_entry(
        client, auth, project["id"], "2026-03-02T00:00:00Z", "2026-03-03T00:00:00Z"
    )
    assert entry["duration_seconds"] == 86400


async def test_create_time_entry_with_rate_description_and_billable(client, auth, project):
    entry = await create_time_entry(
        client, auth, project["id"], hourly_rate=99.5, description="Design", billable=False
    )
    assert (entry["hourly_rate"], entry["description"], entry["billable"]) == ("99.50", "Design", False)
    entry = await create_time_entry(
        client,
        auth,
        project["id"],
        hourly_rate="0",
        started_at="2026-03-05T09:00:00Z",
        ended_at="2026-03-05T10:00:00Z",
    )
    assert entry["hourly_rate"] == "0.00"
    entry = await create_time_entry(client, auth, project["id"], hourly_rate=None)
    assert entry["hourly_rate"] is None


@pytest.mark.parametrize(
    "fields, field",
    [
        ({"started_at": "2026-03-02T09:00:00"}, "started_at"),
        ({"ended_at": "2026-03-02T11:00:00"}, "ended_at"),
        ({"started_at": "2026-03-02"}, "started_at"),
        ({"started_at": 1772442000}, "started_at"),
        ({"ended_at": "2026-03-02T08:59:59Z"}, "ended_at"),
        ({"ended_at": START}, "ended_at"),
        ({"ended_at": "2026-03-02T09:00:00.0009Z"}, "ended_at"),  # equal once truncated to the millisecond
        ({"ended_at": "2026-03-03T09:00:00.001Z"}, "ended_at"),  # 24 h and 1 ms
        ({"ended_at": None}, "ended_at"),
        ({"hourly_rate": -1}, "hourly_rate"),
        ({"hourly_rate": "-0.01"}, "hourly_rate"),
        ({"hourly_rate": "NaN"}, "hourly_rate"),
        ({"hourly_rate": "Infinity"}, "hourly_rate"),
        ({"hourly_rate": "-Infinity"}, "hourly_rate"),
        ({"hourly_rate": "1.005"}, "hourly_rate"),
        ({"hourly_rate": "abc"}, "hourly_rate"),
        ({"description": {"$gt": ""}}, "description"),
        ({"description": "x" * 2001}, "description"),
        ({"project_id": {"$gt": ""}}, "project_id"),
        ({"project_id": "zz"}, "project_id"),
        ({"billable": "true"}, "billable"),
        ({"billable": None}, "billable"),
        ({"timer_slot": "running"}, "timer_slot"),
        ({"invoice_id": "6740f0c2a1b2c3d4e5f60718"}, "invoice_id"),
        ({"duration_seconds": 5}, "duration_seconds"),
        ({"client_id": "6740f0c2a1b2c3d4e5f60718"}, "client_id"),
    ],
)
async def test_create_time_entry_rejects_bad_input(client, auth, project, fields, field):
    body = {"project_id": project["id"], "started_at": START, "ended_at": END, **fields}
    problem = assert_problem(
        await client.post("/api/time-entries", json=body, headers=auth), 400, "validation_error"
    )
    assert field in [e["field"] for e in problem["errors"]], problem


# Valid RFC 3339 timestamps whose UTC instant lies outside what Python (and BSON) can represent.
PAST_THE_END = "9999-12-31T22:00:00-05:00"


BEFORE_THE_START = "0001-01-01T00:00:00+05:00"


@pytest.mark.parametrize(
    ("started_at", "ended_at", "field"),
    [
        (PAST_THE_END, "9999-12-31T23:00:00-05:00", "started_at"),
        (BEFORE_THE_START, "0001-01-01T01:00:00+05:00", "started_at"),
        ("2026-03-02T09:00:00Z", PAST_THE_END, "ended_at"),
    ],
)
async def test_create_time_entry_with_unrepresentable_instant_is_400(
    client, auth, started_at, ended_at, field
):
    project = await create_project(client, auth)
    body = {"project_id": project["id"], "started_at": started_at, "ended_at": ended_at}
    problem = assert_problem(
        await client.post("/api/time-entries", json=body, headers=auth), 400, "validation_error"
    )
    assert field in [e["field"] for e in problem["errors"]]


@pytest.mark.parametrize("missing", ["project_id", "started_at", "ended_at"])
async def test_create_time_entry_requires_fields(client, auth, project, missing):
    body = {"project_id": project["id"], "started_at": START, "ended_at": END}
    del body[missing]
    problem = assert_problem(
        await client.post("/api/time-entries", json=body, headers=auth), 400, "validation_error"
    )
    assert missing in [e["field"] for e in problem["errors"]]


async def test_create_time_entry_for_unknown_or_others_project_is_invalid_reference(client, user, other_user):
    theirs = await create_project(client, other_user.headers)
    for project_id in (theirs["id"], "6740f0c2a1b2c3d4e5f60718"):
        body = {"project_id": project_id, "started_at": START, "ended_at": END}
        assert_problem(
            await client.post("/api/time-entries", json=body, headers=user.headers), 400, "invalid_reference"
        )
        response = await client.post(
            "/api/time-entries/start", json={"project_id": project_id}, headers=user.headers
        )
        assert_problem(response, 400, "invalid_reference")
    listed = (await client.get("/api/time-entries", headers=other_user.headers)).json()
    assert listed["total"] == 0


async def test_create_time_entry_on_archived_project_is_invalid_state(client, auth):
    archived = await create_project(client, auth, status="archived")
    completed = await create_project(client, auth, status="completed")
    body = {"project_id": archived["id"], "started_at": START, "ended_at": END}
    assert_problem(await client.post("/api/time-entries", json=body, headers=auth), 409, "invalid_state")
    response = await client.post("/api/time-entries/start", json={"project_id": archived["id"]}, headers=auth)
    assert_problem(response, 409, "invalid_state")
    assert (await create_time_entry(client, auth, completed["id"]))["duration_seconds"] == 9000


# ---------------------------------------------------------------- timer


async def test_start_timer_returns_a_running_entry(client, auth, project):
    before = datetime.now(UTC) - timedelta(seconds=1)
    response = await client.post(
        "/api/time-entries/start",
        json={"project_id": project["id"], "description": "Call", "billable": False, "hourly_rate": "75"},
        headers=auth,
    )
    assert response.status_code == 201, response.text
    entry = response.json()
    assert set(entry) == ENTRY_KEYS
    assert entry["ended_at"] is None and entry["duration_seconds"] is None
    assert (entry["description"], entry["billable"], entry["hourly_rate"]) == ("Call", False, "75.00")
    assert entry["client_id"] == project["client_id"]
    started = datetime.fromisoformat(entry["started_at"])
    assert before <= started <= datetime.now(UTC) + timedelta(seconds=1)


@pytest.mark.parametrize(
    "body",
    [
        {"project": "x"},
        {"project_id": None},
        {"description": {"$gt": ""}},
        {"hourly_rate": "NaN"},
        {"hourly_rate": -3},
        {"started_at": START},
        {"ended_at": END},
    ],
)
async def test_start_timer_rejects_bad_input(client, auth, project, body):
    response = await client.post(
        "/api/time-entries/start", json={"project_id": project["id"], **body}, headers=auth
    )
    assert_problem(response, 400, "validation_error")


async def test_start_timer_while_one_runs_is_timer_running(client, auth, project):
    running = await start_timer(client, auth, project["id"])
    other = await create_project(client, auth)
    response = await client.post("/api/time-entries/start", json={"project_id": other["id"]}, headers=auth)
    assert_problem(response, 409, "timer_running")
    # manual entries are not timers
    await create_time_entry(client, auth, other["id"])
    listed = (await client.get("/api/time-entries?running=true", headers=auth)).json()
    assert [e["id"] for e in listed["items"]] == [running["id"]]


async def test_start_timer_is_per_user(client, user, other_user):
    await start_timer(client, user.headers, (await create_project(client, user.headers))["id"])
    await start_timer(client, other_user.headers, (await create_project(client, other_user.headers))["id"])


async def test_start_timer_concurrently_only_one_wins(client, auth, project):
    responses = await asyncio.gather(
        *[
            client.post("/api/time-entries/start", json={"project_id": project["id"]}, headers=auth)
            for _ in range(10)
        ]
    )
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [201] + [409] * 9, statuses
    for response in responses:
        if response.status_code == 409:
            assert_problem(response, 409, "timer_running")
    listed = (await client.get("/api/time-entries", headers=auth)).json()
    assert listed["total"] == 1


async def test_stop_timer(client, auth, project):
    running = await start_timer(client, auth, project["id"])
    response = await client.post(f"/api/time-entries/{running['id']}/stop", headers=auth)
    assert response.status_code == 200, response.text
    stopped = response.json()
    assert stopped["id"] == running["id"] and set(stopped) == ENTRY_KEYS
    assert stopped["started_at"] == running["started_at"]
    assert moment(stopped["ended_at"]) > moment(stopped["started_at"])
    assert stopped["duration_seconds"] == 0
    # the slot is free again
    again = await start_timer(client, auth, project["id"])
    assert again["id"] != running["id"]


async def test_stop_timer_that_is_not_running_is_invalid_state(client, auth, project):
    running = await start_timer(client, auth, project["id"])
    await client.post(f"/api/time-entries/{running['id']}/stop", headers=auth)
    assert_problem(
        await client.post(f"/api/time-entries/{running['id']}/stop", headers=auth), 409, "invalid_state"
    )
    manual = await create_time_entry(client, auth, project["id"])
    assert_problem(
        await client.post(f"/api/time-entries/{manual['id']}/stop", headers=auth), 409, "invalid_state"
    )


async def test_stop_timer_concurrently_only_one_wins(client, auth, project, monkeypatch):
    from app.time_entries import service

    real_update = service.update_owned

    async def slow_update(*args, **kwargs):  # both stops read "running" before either writes
        await asyncio.sleep(0.05)
        return await real_update(*args, **kwargs)

    monkeypatch.setattr(service, "update_owned", slow_update)
    running = await start_timer(client, auth, project["id"])
    responses = await asyncio.gather(
        *[client.post(f"/api/time-entries/{running['id']}/stop", headers=auth) for _ in range(2)]
    )
    assert sorted(r.status_code for r in responses) == [200, 409]
    assert_problem(next(r for r in responses if r.status_code == 409), 409, "invalid_state")


async def test_stop_timer_running_over_24_hours_is_capped(client, auth, project):
    running = await start_timer(client, auth, project["id"])
    started = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=30)
    response = await client.patch(
        f"/api/time-entries/{running['id']}", json={"started_at": iso(started)}, headers=auth
    )
    assert response.status_code == 200, response.text
    stopped = (await client.post(f"/api/time-entries/{running['id']}/stop", headers=auth)).json()
    assert stopped["duration_seconds"] == 86400
    assert stopped["ended_at"] == iso(started + timedelta(hours=24))


async def test_stop_timer_duration_counts_from_started_at(client, auth, project):
    running = await start_timer(client, auth, project["id"])
    started = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=90)
    await client.patch(f"/api/time-entries/{running['id']}", json={"started_at": iso(started)}, headers=auth)
    stopped = (await client.post(f"/api/time-entries/{running['id']}/stop", headers=auth)).json()
    assert 5400 <= stopped["duration_seconds"] <= 5402


# ---------------------------------------------------------------- update


async def test_update_time_entry_recomputes_duration(client, auth, project):
    entry = await create_time_entry(client, auth, project["id"])
    response = await client.patch(
        f"/api/time-entries/{entry['id']}", json={"ended_at": "2026-03-02T10:00:00Z"}, headers=auth
    )
    assert response.status_code == 200, response.text
    assert response.json()["duration_seconds"] == 3600
    response = await client.patch(
        f"/api/time-entries/{entry['id']}",
        json={"started_at": "2026-03-02T09:30:00+00:00", "description": "x"},
        headers=auth,
    )
    updated = response.json()
    assert updated["duration_seconds"] == 1800 and updated["description"] == "x"
    assert updated["started_at"] == "2026-03-02T09:30:00Z" and updated["ended_at"] == "2026-03-02T10:00:00Z"
    assert updated["created_at"] == entry["created_at"] and moment(updated["updated_at"]) >= moment(
        entry["updated_at"]
    )


@pytest.mark.parametrize(
    "body, field",
    [
        ({"ended_at": "2026-03-02T08:00:00Z"}, "ended_at"),  # before the stored started_at
        ({"started_at": "2026-03-02T12:00:00Z"}, "started_at"),  # after the stored ended_at
        ({"started_at": "2026-03-01T11:29:59Z"}, "started_at"),  # more than 24 h before the stored ended_at
        ({"started_at": "2026-03-02T12:00:00Z", "ended_at": "2026-03-03T12:00:01Z"}, "ended_at"),
    ],
)
async def test_update_time_entry_checks_the_merged_span(client, auth, project, body, field):
    entry = await create_time_entry(client, auth, project["id"])
    problem = assert_problem(
        await client.patch(f"/api/time-entries/{entry['id']}", json=body, headers=auth),
        400,
        "validation_error",
    )
    assert [e["field"] for e in problem["errors"]] == [field]
    assert (await client.get(f"/api/time-entries/{entry['id']}", headers=auth)).json() == entry


@pytest.mark.parametrize(
    "body",
    [
        {"started_at": "2026-03-02T09:00:00"},
        {"ended_at": None},
        {"billable": None},
        {"description": None},
        {"description": {"$gt": ""}},
        {"hourly_rate": "Infinity"},
        {"hourly_rate": -1},
        {"project_id": None},
        {"client_id": "6740f0c2a1b2c3d4e5f60718"},
        {"invoice_id": None},
        {"timer_slot": "x"},
        {"duration_seconds": 1},
    ],
)
async def test_update_time_entry_rejects_bad_input(client, auth, project, body):
    entry = await create_time_entry(client, auth, project["id"])
    response = await client.patch(f"/api/time-entries/{entry['id']}", json=body, headers=auth)
    assert_problem(response, 400, "validation_error")


async def test_update_time_entry_with_unrepresentable_instant_is_400(client, auth):
    entry = await create_time_entry(client, auth, (await create_project(client, auth))["id"])
    response = await client.patch(
        f"/api/time-entries/{entry['id']}", json={"ended_at": PAST_THE_END}, headers=auth
    )
    problem = assert_problem(response, 400, "validation_error")
    assert [e["field"] for e in problem["errors"]] == ["ended_at"]


async def test_update_time_entry_hourly_rate_and_billable(client, auth, project):
    entry = await create_time_entry(client, auth, project["id"], hourly_rate="120")
    updated = (
        await client.patch(f"/api/time-entries/{entry['id']}", json={"billable": False}, headers=auth)
    ).json()
    assert updated["hourly_rate"] == "120.00" and updated["billable"] is False
    updated = (
        await client.patch(f"/api/time-entries/{entry['id']}", json={"hourly_rate": None}, headers=auth)
    ).json()
    assert updated["hourly_rate"] is None and updated["duration_seconds"] == 9000


async def test_update_time_entry_project_rederives_client(client, auth, project):
    entry = await create_time_entry(client, auth, project["id"])
    globex = await create_client(client, auth, name="Globex")
    other = await create_project(client, auth, globex["id"])
    updated = (
        await client.patch(f"/api/time-entries/{entry['id']}", json={"project_id": other["id"]}, headers=auth)
    ).json()
    assert updated["project_id"] == other["id"] and updated["client_id"] == globex["id"]


async def test_update_time_entry_project_must_be_owned_and_open(client, user, other_user):
    project = await create_project(client, user.headers)
    entry = await create_time_entry(client, user.headers, project["id"])
    theirs = await create_project(client, other_user.headers)
    path = f"/api/time-entries/{entry['id']}"
    assert_problem(
        await client.patch(path, json={"project_id": theirs["id"]}, headers=user.headers),
        400,
        "invalid_reference",
    )
    archived = await create_project(client, user.headers, status="archived")
    assert_problem(
        await client.patch(path, json={"project_id": archived["id"]}, headers=user.headers),
        409,
        "invalid_state",
    )
    # an entry on a project archived later can still be edited
    await client.patch(f"/api/projects/{project['id']}", json={"status": "archived"}, headers=user.headers)
    response = await client.patch(
        path, json={"project_id": project["id"], "description": "late note"}, headers=user.headers
    )
    assert response.status_code == 200, response.text


async def test_update_running_entry(client, auth, project):
    running = await start_timer(client, auth, project["id"])
    path = f"/api/time-entries/{running['id']}"
    other = await create_project(client, auth)
    response = await client.patch(
        path,
        json={"description": "Focus", "billable": False, "hourly_rate": "10", "project_id": other["id"]},
        headers=auth,
    )
    assert response.status_code == 200, response.text
    updated = response.json()
    assert (updated["description"], updated["billable"], updated["hourly_rate"]) == ("Focus", False, "10.00")
    assert updated["project_id"] == other["id"]
    assert updated["ended_at"] is None and updated["duration_seconds"] is None
    assert (await client.get("/api/time-entries?running=true", headers=auth)).json()["total"] == 1


async def test_update_running_entry_ended_at_is_invalid_state(client, auth, project):
    running = await start_timer(client, auth, project["id"])
    response = await client.patch(
        f"/api/time-entries/{running['id']}", json={"ended_at": iso(datetime.now(UTC))}, headers=auth
    )
    assert_problem(response, 409, "invalid_state")


async def test_update_running_entry_started_at_in_future_is_rejected(client, auth, project):
    running = await start_timer(client, auth, project["id"])
    future = iso(datetime.now(UTC).replace(microsecond=0) + timedelta(hours=1))
    response = await client.patch(
        f"/api/time-entries/{running['id']}", json={"started_at": future}, headers=auth
    )
    problem = assert_problem(response, 400, "validation_error")
    assert problem["errors"][0]["field"] == "started_at"


# ---------------------------------------------------------------- invoiced entries are locked


async def test_invoiced_time_entry_is_locked(client, auth, project):
    entry = await create_time_entry(client, auth, project["id"])
    invoice_id = await mark_invoiced(entry["id"])
    path = f"/api/time-entries/{entry['id']}"
    assert_problem(await client.patch(path, json={"description": "x"}, headers=auth), 409, "already_invoiced")
    assert_problem(await client.patch(path, json={}, headers=auth), 409, "already_invoiced")
    assert_problem(await client.delete(path, headers=auth), 409, "already_invoiced")
    fetched = (await client.get(path, headers=auth)).json()
    assert fetched["invoice_id"] == invoice_id and fetched["description"] == ""


async def test_update_time_entry_claimed_by_an_invoice_mid_update_is_already_invoiced(
    client, auth, project, monkeypatch
):
    from app.time_entries import service

    entry = await create_time_entry(client, auth, project["id"])
    real_update = service.update_owned

    async def claimed_first(*args, **kwargs):  # an invoice claims the entry between the read and the write
        await mark_invoiced(entry["id"])
        return await real_update(*args, **kwargs)

    monkeypatch.setattr(service, "update_owned", claimed_first)
    response = await client.patch(
        f"/api/time-entries/{entry['id']}", json={"description": "late"}, headers=auth
    )
    assert_problem(response, 409, "already_invoiced")
    assert (await client.get(f"/api/time-entries/{entry['id']}", headers=auth)).json()["description"] == ""


# ---------------------------------------------------------------- delete


async def test_delete_time_entry(client, auth, project):
    entry = await create_time_entry(client, auth, project["id"])
    assert (await client.delete(f"/api/time-entries/{entry['id']}", headers=auth)).status_code == 204
    assert_problem(await client.get(f"/api/time-entries/{entry['id']}", headers=auth), 404, "not_found")
    assert_problem(await client.delete(f"/api/time-entries/{entry['id']}", headers=auth), 404, "not_found")


async def test_delete_running_entry_frees_the_timer(client, auth, project):
    running = await start_timer(client, auth, project["id"])
    assert (await client.delete(f"/api/time-entries/{running['id']}", headers=auth)).status_code == 204
    await start_timer(client, auth, project["id"])


# ---------------------------------------------------------------- list


@pytest.fixture
async def spread(client, auth):
    """Entries across two clients/projects, billable or not, invoiced or not, and one running."""
    acme = await create_project(client, auth, name="Acme site")
    globex = await create_project(client, auth, name="Globex app")
    made = {
        "a1": await create_time_entry(
            client, auth, acme["id"], "2026-03-01T09:00:00Z", "2026-03-01T10:00:00Z"
        ),
        "a2": await create_time_entry(
            client, auth, acme["id"], "2026-03-02T09:00:00Z", "2026-03-02T12:00:00Z", billable=False
        ),
        "g1": await create_time_entry(
            client, auth, globex["id"], "2026-03-03T09:00:00Z", "2026-03-03T09:30:00Z"
        ),
        "run": await start_timer(client, auth, globex["id"]),
    }
    await mark_invoiced(made["a1"]["id"])
    return {"acme": acme, "globex": globex, **made}


@pytest.mark.parametrize(
    "params, expected",
    [
        ({}, {"a1", "a2", "g1", "run"}),
        ({"project_id": "acme"}, {"a1", "a2"}),
        ({"client_id": "globex"}, {"g1", "run"}),
        ({"from": "2026-03-02T09:00:00Z"}, {"a2", "g1", "run"}),  # from is inclusive
        ({"to": "2026-03-02T09:00:00Z"}, {"a1"}),  # to is exclusive
        ({"from": "2026-03-02T00:00:00+01:00", "to": "2026-03-03T00:00:00Z"}, {"a2"}),
        ({"billable": "true"}, {"a1", "g1", "run"}),
        ({"billable": "false"}, {"a2"}),
        ({"invoiced": "true"}, {"a1"}),
        ({"invoiced": "false"}, {"a2", "g1", "run"}),
        ({"running": "true"}, {"run"}),
        ({"running": "false"}, {"a1", "a2", "g1"}),
        ({"project_id": "globex", "running": "false", "invoiced": "false"}, {"g1"}),
    ],
)
async def test_list_time_entries_filters(client, auth, spread, params, expected):
    params = {k: spread[v]["id"] if k in ("project_id",) else v for k, v in params.items()}
    if "client_id" in params:
        params["client_id"] = spread[params["client_id"]]["client_id"]
    response = await client.get("/api/time-entries", params=params, headers=auth)
    assert response.status_code == 200, response.text
    ids = {e["id"] for e in response.json()["items"]}
    assert ids == {spread[name]["id"] for name in expected}
    assert response.json()["total"] == len(expected)


async def test_list_time_entries_sorts(client, auth, spread):
    def names(response):
        by_id = {spread[k]["id"]: k for k in ("a1", "a2", "g1", "run")}
        return [by_id[e["id"]] for e in response.json()["items"]]

    assert names(await client.get("/api/time-entries?sort=started_at", headers=auth)) == [
        "a1",
        "a2",
        "g1",
        "run",
    ]
    assert names(await client.get("/api/time-entries", headers=auth)) == ["run", "g1", "a2", "a1"]
    by_duration = names(
        await client.get("/api/time-entries?sort=-duration_seconds&running=false", headers=auth)
    )
    assert by_duration == ["a2", "a1", "g1"]


@pytest.mark.parametrize(
    "query",
    [
        "from=2026-03-02T00:00:00",
        "to=2026-03-02",
        "from=yesterday",
        "from=2026-03-02T00:00:00Z&to=2026-03-01T00:00:00Z",
        "from=2026-03-02T00:00:00Z&to=2026-03-02T00:00:00Z",
        "project_id=zz",
        'project_id={"$gt": ""}',
        'client_id={"$ne": null}',
        "billable=maybe",
        "invoiced=2",
        "running=yes-please",
        "sort=timer_slot",
        "sort=hourly_rate_cents",
        "offset=-1",
    ],
)
async def test_list_time_entries_rejects_bad_query(client, auth, query):
    assert_problem(await client.get(f"/api/time-entries?{query}", headers=auth), 400, "validation_error")


@pytest.mark.parametrize(
    ("query", "field"),
    [("from=9999-12-31T23:00:00-05:00", "from"), ("to=0001-01-01T00:00:00%2B05:00", "to")],
)
async def test_list_time_entries_with_unrepresentable_bound_is_400(client, auth, query, field):
    problem = assert_problem(
        await client.get(f"/api/time-entries?{query}", headers=auth), 400, "validation_error"
    )
    assert [e["field"] for e in problem["errors"]] == [field]


@pytest.mark.parametrize(
    "value", ["1700000000", "1e10", "2026-11-21", "2026-11-21T10:15:00", "2026-02-30T10:00:00Z", "yesterday"]
)
async def test_list_time_entries_from_and_to_take_only_rfc3339_with_offset(client, auth, value):
    for name in ("from", "to"):
        problem = assert_problem(
            await client.get("/api/time-entries", params={name: value}, headers=auth), 400, "validation_error"
        )
        assert problem["errors"][0]["field"] == name


async def test_list_time_entries_window_accepts_offsets_and_fractions(client, auth):
    response = await client.get(
        "/api/time-entries",
        params={"from": "2026-03-02T10:00:00.123456789+01:00", "to": "2026-03-03T00:00:00z"},
        headers=auth,
    )
    assert response.status_code == 200, response.text


# ---------------------------------------------------------------- tenancy and ids


async def test_another_users_time_entry_is_404_on_every_verb(client, user: Account, other_user: Account):
    project = await create_project(client, user.headers)
    entry = await create_time_entry(client, user.headers, project["id"])
    running = await start_timer(client, user.headers, project["id"])
    theirs = await create_project(client, other_user.headers)
    for target in (entry, running):
        path = f"/api/time-entries/{target['id']}"
        assert_problem(await client.get(path, headers=other_user.headers), 404, "not_found")
        assert_problem(
            await client.patch(path, json={"description": "mine"}, headers=other_user.headers),
            404,
            "not_found",
        )
        assert_problem(
            await client.patch(path, json={"project_id": theirs["id"]}, headers=other_user.headers),
            404,
            "not_found",
        )
        assert_problem(await client.delete(path, headers=other_user.headers), 404, "not_found")
        assert_problem(await client.post(f"{path}/stop", headers=other_user.headers), 404, "not_found")
    for params in (
        {},
        {"project_id": project["id"]},
        {"client_id": project["client_id"]},
        {"running": "true"},
    ):
        listed = (await client.get("/api/time-entries", params=params, headers=other_user.headers)).json()
        assert listed["total"] == 0 and listed["items"] == []
    # the owner's entries are untouched and the owner's timer still runs
    assert (await client.get(f"/api/time-entries/{entry['id']}", headers=user.headers)).json() == entry
    assert (await client.get(f"/api/time-entries/{running['id']}", headers=user.headers)).json()[
        "ended_at"
    ] is None


@pytest.mark.parametrize(
    "bad_id",
    [
        "zz",
        "6740f0c2a1b2c3d4e5f6071",
        "6740F0C2A1B2C3D4E5F60718",
        "null",
        "6740f0c2a1b2c3d4e5f60718",
    ],
)
async def test_bad_or_missing_time_entry_id_is_404(client, auth, bad_id):
    path = f"/api/time-entries/{bad_id}"
    assert_problem(await client.get(path, headers=auth), 404, "not_found")
    assert_problem(await client.delete(path, headers=auth), 404, "not_found")
    assert_problem(await client.patch(path, json={"description": "x"}, headers=auth), 404, "not_found")
    assert_problem(await client.post(f"{path}/stop", headers=auth), 404, "not_found")


async def test_time_entries_require_auth(client):
    assert_problem(await client.get("/api/time-entries"), 401, "unauthorized")
    assert_problem(await client.post("/api/time-entries/start", json={}), 401, "unauthorized")
