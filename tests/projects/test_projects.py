from __future__ import annotations

import pytest

from tests.clients.factories import create_client
from tests.conftest import Account, assert_problem, moment
from tests.projects.factories import create_project
from tests.time_entries.factories import create_time_entry, mark_invoiced, start_timer

PROJECT_KEYS = {
    "id",
    "client_id",
    "name",
    "description",
    "status",
    "hourly_rate",
    "currency",
    "budget_hours",
    "created_at",
    "updated_at",
}


async def test_create_project_defaults(client, auth):
    acme = await create_client(client, auth, currency="EUR")
    response = await client.post(
        "/api/projects", json={"client_id": acme["id"], "name": "  Site  "}, headers=auth
    )
    assert response.status_code == 201, response.text
    created = response.json()
    assert set(created) == PROJECT_KEYS
    assert created["client_id"] == acme["id"]
    assert created["name"] == "Site"
    assert created["status"] == "active"
    assert created["hourly_rate"] == "0.00"
    assert created["currency"] == "EUR"
    assert created["budget_hours"] is None
    assert created["description"] == ""


async def test_create_project_with_every_field(client, auth):
    created = await create_project(
        client, auth, hourly_rate=120.5, budget_hours="37.5", status="completed", description="Phase 1"
    )
    fetched = (await client.get(f"/api/projects/{created['id']}", headers=auth)).json()
    for project in (created, fetched):
        assert project["hourly_rate"] == "120.50"
        assert project["budget_hours"] == "37.5"
        assert project["status"] == "completed"
        assert project["description"] == "Phase 1"


async def test_create_project_currency_is_the_clients_not_the_callers(client, auth):
    body = {"client_id": (await create_client(client, auth))["id"], "name": "x", "currency": "EUR"}
    problem = assert_problem(
        await client.post("/api/projects", json=body, headers=auth), 400, "validation_error"
    )
    assert "currency" in [e["field"] for e in problem["errors"]]


@pytest.mark.parametrize(
    "fields, field",
    [
        ({"name": ""}, "name"),
        ({"name": "   "}, "name"),
        ({"name": "x" * 201}, "name"),
        ({"name": {"$gt": ""}}, "name"),
        ({"description": {"$gt": ""}}, "description"),
        ({"status": "paused"}, "status"),
        ({"hourly_rate": -1}, "hourly_rate"),
        ({"hourly_rate": "-0.01"}, "hourly_rate"),
        ({"hourly_rate": "NaN"}, "hourly_rate"),
        ({"hourly_rate": "Infinity"}, "hourly_rate"),
        ({"hourly_rate": "1.001"}, "hourly_rate"),
        ({"hourly_rate": True}, "hourly_rate"),
        ({"budget_hours": -1}, "budget_hours"),
        ({"budget_hours": "NaN"}, "budget_hours"),
        ({"budget_hours": "2000000"}, "budget_hours"),
        ({"client_id": "zz"}, "client_id"),
        ({"client_id": {"$gt": ""}}, "client_id"),
        ({"client_id": None}, "client_id"),
        ({"tracked_seconds": 5}, "tracked_seconds"),
    ],
)
async def test_create_project_rejects_bad_input(client, auth, fields, field):
    body = {"client_id": (await create_client(client, auth))["id"], "name": "Site", **fields}
    problem = assert_problem(
        await client.post("/api/projects", json=body, headers=auth), 400, "validation_error"
    )
    assert field in [e["field"] for e in problem["errors"]]


async def test_create_project_requires_client_id_and_name(client, auth):
    for body in ({"name": "Site"}, {"client_id": (await create_client(client, auth))["id"]}):
        assert_problem(await client.post("/api/projects", json=body, headers=auth), 400, "validation_error")


async def test_create_project_for_unknown_or_others_client_is_invalid_reference(client, user, other_user):
    theirs = await create_client(client, other_user.headers)
    for client_id in (theirs["id"], "6740f0c2a1b2c3d4e5f60718"):
        response = await client.post(
            "/api/projects", json={"client_id": client_id, "name": "x"}, headers=user.headers
        )
        assert_problem(response, 400, "invalid_reference")


async def test_get_project_reports_tracked_and_unbilled_seconds(client, user: Account, other_user: Account):
    auth = user.headers
    project = await create_project(client, auth)
    pid = project["id"]
    await create_time_entry(
        client, auth, pid, "2026-03-02T09:00:00Z", "2026-03-02T11:30:00Z"
    )  # 9000 billable
    await create_time_entry(
        client, auth, pid, "2026-03-03T09:00:00Z", "2026-03-03T10:00:00Z", billable=False
    )  # 3600
    invoiced = await create_time_entry(
        client, auth, pid, "2026-03-04T09:00:00Z", "2026-03-04T09:10:00Z"
    )  # 600
    await mark_invoiced(invoiced["id"])
    await start_timer(client, auth, pid)  # running: not counted
    other_project = await create_project(client, auth)
    await create_time_entry(client, auth, other_project["id"], "2026-03-02T09:00:00Z", "2026-03-02T10:00:00Z")
    response = await client.get(f"/api/projects/{pid}", headers=auth)
    assert response.status_code == 200
    body = response.json()
    assert set(body) == PROJECT_KEYS | {"tracked_seconds", "unbilled_seconds"}
    assert body["tracked_seconds"] == 9000 + 3600 + 600
    assert body["unbilled_seconds"] == 9000


async def test_get_project_without_entries_has_zero_totals(client, auth):
    project = await create_project(client, auth)
    body = (await client.get(f"/api/projects/{project['id']}", headers=auth)).json()
    assert (body["tracked_seconds"], body["unbilled_seconds"]) == (0, 0)


async def test_list_projects_filters_by_client_and_status(client, auth):
    acme = await create_client(client, auth, name="Acme")
    globex = await create_client(client, auth, name="Globex")
    await create_project(client, auth, acme["id"], name="A1")
    await create_project(client, auth, acme["id"], name="A2", status="archived")
    await create_project(client, auth, globex["id"], name="G1", status="archived")
    listed = (await client.get("/api/projects", params={"client_id": acme["id"]}, headers=auth)).json()
    assert {p["name"] for p in listed["items"]} == {"A1", "A2"} and listed["total"] == 2
    listed = (await client.get("/api/projects", params={"status": "archived"}, headers=auth)).json()
    assert {p["name"] for p in listed["items"]} == {"A2", "G1"}
    listed = (
        await client.get(
            "/api/projects", params={"status": "archived", "client_id": acme["id"]}, headers=auth
        )
    ).json()
    assert [p["name"] for p in listed["items"]] == ["A2"]
    listed = (await client.get("/api/projects", headers=auth)).json()
    assert listed["total"] == 3 and "tracked_seconds" not in listed["items"][0]


async def test_list_projects_sorts(client, auth):
    acme = await create_client(client, auth)
    for name, rate in [("Bravo", "5"), ("Alpha", "50"), ("Charlie", "10")]:
        await create_project(client, auth, acme["id"], name=name, hourly_rate=rate)
    names = lambda r: [p["name"] for p in r.json()["items"]]  # noqa: E731
    assert names(await client.get("/api/projects?sort=name", headers=auth)) == ["Alpha", "Bravo", "Charlie"]
    assert names(await client.get("/api/projects?sort=-hourly_rate", headers=auth)) == [
        "Alpha",
        "Charlie",
        "Bravo",
    ]
    assert names(await client.get("/api/projects", headers=auth)) == ["Charlie", "Alpha", "Bravo"]
    assert names(await client.get("/api/projects?sort=created_at", headers=auth)) == [
        "Bravo",
        "Alpha",
        "Charlie",
    ]


@pytest.mark.parametrize(
    "query",
    [
        "client_id=zz",
        'client_id={"$gt": ""}',
        "status=paused",
        'status={"$gt": ""}',
        "sort=currency",
        "sort=-owner_id",
        "limit=0",
    ],
)
async def test_list_projects_rejects_bad_query(client, auth, query):
    assert_problem(await client.get(f"/api/projects?{query}", headers=auth), 400, "validation_error")


@pytest.mark.parametrize("sort", ["--name", "%2Bname", "-%2Bname", "---created_at"])
async def test_list_projects_sort_allows_only_field_or_minus_field(client, auth, sort):
    """API.md §1: `sort=field` or `sort=-field`; anything else names an unknown field → 400."""
    problem = assert_problem(
        await client.get(f"/api/projects?sort={sort}", headers=auth), 400, "validation_error"
    )
    assert [e["field"] for e in problem["errors"]] == ["sort"]


async def test_update_project_changes_only_sent_fields(client, auth):
    created = await create_project(client, auth, description="keep", budget_hours=10)
    response = await client.patch(
        f"/api/projects/{created['id']}",
        json={"name": "Site v2", "hourly_rate": "80", "budget_hours": None, "status": "completed"},
        headers=auth,
    )
    assert response.status_code == 200, response.text
    updated = response.json()
    assert (
        updated["name"] == "Site v2" and updated["hourly_rate"] == "80.00" and updated["budget_hours"] is None
    )
    assert updated["status"] == "completed" and updated["description"] == "keep"
    assert updated["created_at"] == created["created_at"] and moment(updated["updated_at"]) >= moment(
        created["updated_at"]
    )
    response = await client.patch(
        f"/api/projects/{created['id']}", json={"budget_hours": "12.25"}, headers=auth
    )
    assert response.json()["budget_hours"] == "12.25" and response.json()["name"] == "Site v2"


@pytest.mark.parametrize(
    "body",
    [
        {"name": None},
        {"nmae": "x"},
        {"hourly_rate": -5},
        {"hourly_rate": None},
        {"status": "done"},
        {"status": None},
        {"currency": "EUR"},
        {"budget_hours": "Infinity"},
        {"client_id": "zz"},
        {"name": {"$gt": ""}},
    ],
)
async def test_update_project_rejects_bad_input(client, auth, body):
    created = await create_project(client, auth)
    response = await client.patch(f"/api/projects/{created['id']}", json=body, headers=auth)
    assert_problem(response, 400, "validation_error")


async def test_update_project_client_id_moves_currency_while_unreferenced(client, auth):
    project = await create_project(client, auth)
    globex = await create_client(client, auth, name="Globex", currency="GBP")
    response = await client.patch(
        f"/api/projects/{project['id']}", json={"client_id": globex["id"]}, headers=auth
    )
    assert response.status_code == 200, response.text
    assert response.json()["client_id"] == globex["id"] and response.json()["currency"] == "GBP"


async def test_update_project_client_id_when_referenced_is_in_use(client, auth):
    project = await create_project(client, auth)
    await create_time_entry(client, auth, project["id"])
    globex = await create_client(client, auth, name="Globex")
    response = await client.patch(
        f"/api/projects/{project['id']}", json={"client_id": globex["id"]}, headers=auth
    )
    assert_problem(response, 409, "in_use")
    # naming the same client again is not a move
    response = await client.patch(
        f"/api/projects/{project['id']}",
        json={"client_id": project["client_id"], "name": "Renamed"},
        headers=auth,
    )
    assert response.status_code == 200 and response.json()["name"] == "Renamed"


async def test_update_project_client_id_to_others_client_is_invalid_reference(client, user, other_user):
    project = await create_project(client, user.headers)
    theirs = await create_client(client, other_user.headers)
    response = await client.patch(
        f"/api/projects/{project['id']}", json={"client_id": theirs["id"]}, headers=user.headers
    )
    assert_problem(response, 400, "invalid_reference")


async def test_delete_project(client, auth):
    project = await create_project(client, auth)
    assert (await client.delete(f"/api/projects/{project['id']}", headers=auth)).status_code == 204
    assert_problem(await client.get(f"/api/projects/{project['id']}", headers=auth), 404, "not_found")


async def test_delete_project_with_time_entries_is_in_use(client, auth):
    project = await create_project(client, auth)
    entry = await create_time_entry(client, auth, project["id"])
    assert_problem(await client.delete(f"/api/projects/{project['id']}", headers=auth), 409, "in_use")
    assert (await client.get(f"/api/projects/{project['id']}", headers=auth)).status_code == 200
    await client.delete(f"/api/time-entries/{entry['id']}", headers=auth)
    assert (await client.delete(f"/api/projects/{project['id']}", headers=auth)).status_code == 204


async def test_delete_project_checks_invoices_and_contracts_too():
    from app.contracts.models import Contract
    from app.invoices.models import Invoice
    from app.projects.service import project_references
    from app.time_entries.models import TimeEntry

    models = {model for model, field in project_references() if field == "project_id"}
    assert {TimeEntry, Invoice, Contract} <= models


async def test_client_with_projects_cannot_be_deleted(client, auth):
    project = await create_project(client, auth)
    assert_problem(await client.delete(f"/api/clients/{project['client_id']}", headers=auth), 409, "in_use")


@pytest.mark.parametrize(
    "bad_id",
    ["zz", "6740f0c2a1b2c3d4e5f6071", "6740F0C2A1B2C3D4E5F60718", "null", "6740f0c2a1b2c3d4e5f60718"],
)
async def test_bad_or_missing_project_id_is_404(client, auth, bad_id):
    for method in ("get", "delete"):
        assert_problem(
            await getattr(client, method)(f"/api/projects/{bad_id}", headers=auth), 404, "not_found"
        )
    assert_problem(
        await client.patch(f"/api/projects/{bad_id}", json={"name": "x"}, headers=auth), 404, "not_found"
    )


async def test_another_users_project_is_404_on_every_verb(client, user: Account, other_user: Account):
    project = await create_project(client, user.headers)
    path = f"/api/projects/{project['id']}"
    mine = await create_client(client, other_user.headers)
    assert_problem(await client.get(path, headers=other_user.headers), 404, "not_found")
    assert_problem(
        await client.patch(path, json={"name": "mine"}, headers=other_user.headers), 404, "not_found"
    )
    assert_problem(
        await client.patch(path, json={"client_id": mine["id"]}, headers=other_user.headers), 404, "not_found"
    )
    assert_problem(await client.delete(path, headers=other_user.headers), 404, "not_found")
    for params in ({}, {"client_id": project["client_id"]}):
        listed = (await client.get("/api/projects", params=params, headers=other_user.headers)).json()
        assert listed["total"] == 0 and listed["items"] == []
    assert (await client.get(path, headers=user.headers)).json()["name"] == project["name"]


async def test_projects_require_auth(client):
    assert_problem(await client.get("/api/projects"), 401, "unauthorized")
