"""Deleting a project while a child naming it is created or moved to it: never an orphan (API.md §6)."""

from __future__ import annotations

from typing import Any

import pytest
from bson import ObjectId

import app.contracts.service as contracts_service
import app.invoices.service as invoices_service
import app.time_entries.service as time_entries_service
from app.contracts.models import Contract
from app.invoices.models import Invoice
from app.projects.models import Project
from app.time_entries.models import TimeEntry
from tests.conftest import assert_problem
from tests.contracts.factories import create_contract
from tests.invoices.factories import create_invoice
from tests.projects.factories import create_project
from tests.races import run_competitor
from tests.time_entries.factories import DEFAULT_ENDED_AT, DEFAULT_STARTED_AT, create_time_entry

LINES = [{"description": "Work", "quantity": "1", "unit_price": "10.00"}]
SPAN = {"started_at": DEFAULT_STARTED_AT, "ended_at": DEFAULT_ENDED_AT}
# (child model, path, body for a project): every create that names a project.
CREATES: dict[str, tuple[Any, str, Any]] = {
    "time_entry": (TimeEntry, "/api/time-entries", lambda p: {"project_id": p["id"], **SPAN}),
    "timer": (TimeEntry, "/api/time-entries/start", lambda p: {"project_id": p["id"]}),
    "invoice": (
        Invoice,
        "/api/invoices",
        lambda p: {"client_id": p["client_id"], "project_id": p["id"], "lines": LINES},
    ),
    "contract": (
        Contract,
        "/api/contracts",
        lambda p: {"client_id": p["client_id"], "project_id": p["id"], "title": "MSA"},
    ),
}
# (module whose update_owned writes the move, path of the moved resource, PATCH body): moves to a project.
MOVES: dict[str, tuple[Any, str, str]] = {
    "time_entry": (time_entries_service, "/api/time-entries", "project_id"),
    "invoice": (invoices_service, "/api/invoices", "project_id"),
    "contract": (contracts_service, "/api/contracts", "project_id"),
}


async def _raw_project(project_id: str) -> dict[str, Any] | None:
    return await Project.get_motor_collection().find_one({"_id": ObjectId(project_id)})  # type: ignore[no-any-return]


async def _movable(http: Any, headers: dict[str, str], kind: str, project: dict[str, Any]) -> dict[str, Any]:
    """A `kind` on `project`'s client, naming another project of that client (or none)."""
    if kind == "time_entry":
        other = await create_project(http, headers, project["client_id"], name="Other")
        return await create_time_entry(http, headers, other["id"])
    if kind == "invoice":
        return await create_invoice(http, headers, project["client_id"])
    return await create_contract(http, headers, project["client_id"])


@pytest.mark.parametrize("kind", list(CREATES))
async def test_create_child_of_project_deleted_meanwhile(
    client: Any, auth: dict[str, str], monkeypatch: pytest.MonkeyPatch, kind: str
) -> None:
    model, path, body = CREATES[kind]
    project = await create_project(client, auth)
    deleted = run_competitor(
        monkeypatch, model, "insert", lambda: client.delete(f"/api/projects/{project['id']}", headers=auth)
    )

    response = await client.post(path, json=body(project), headers=auth)

    assert deleted[0].status_code == 204, deleted[0].text
    assert_problem(response, 400, "invalid_reference")
    assert await model.get_motor_collection().count_documents({"project_id": ObjectId(project["id"])}) == 0
    assert await _raw_project(project["id"]) is None


@pytest.mark.parametrize("kind", list(CREATES))
async def test_delete_project_while_child_created(
    client: Any, auth: dict[str, str], monkeypatch: pytest.MonkeyPatch, kind: str
) -> None:
    model, path, body = CREATES[kind]
    project = await create_project(client, auth)
    deleted = run_competitor(
        monkeypatch,
        model,
        "insert",
        lambda: client.delete(f"/api/projects/{project['id']}", headers=auth),
        before=False,
    )

    response = await client.post(path, json=body(project), headers=auth)

    assert response.status_code == 201, response.text
    assert_problem(deleted[0], 409, "in_use")
    raw = await _raw_project(project["id"])
    assert raw is not None and raw.get("deleting") is not True
    assert "deleting" not in (await client.get(f"/api/projects/{project['id']}", headers=auth)).json()
    if kind != "timer":  # one running timer per user; the others show the project is usable again
        again = await client.post(path, json=body(project), headers=auth)
        assert again.status_code == 201, again.text


async def test_create_invoice_from_time_project_deleted_meanwhile_releases_entries(
    client: Any, auth: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    worked = await create_project(client, auth)
    entry = await create_time_entry(client, auth, worked["id"])
    doomed = await create_project(client, auth, worked["client_id"], name="Doomed")
    deleted = run_competitor(
        monkeypatch, Invoice, "insert", lambda: client.delete(f"/api/projects/{doomed['id']}", headers=auth)
    )
    body = {"client_id": worked["client_id"], "project_id": doomed["id"], "time_entry_ids": [entry["id"]]}

    response = await client.post("/api/invoices", json=body, headers=auth)

    assert deleted[0].status_code == 204, deleted[0].text
    assert_problem(response, 400, "invalid_reference")
    assert await Invoice.get_motor_collection().count_documents({}) == 0
    stored = await client.get(f"/api/time-entries/{entry['id']}", headers=auth)
    assert stored.json()["invoice_id"] is None


@pytest.mark.parametrize("kind", list(MOVES))
async def test_update_child_project_deleted_meanwhile(
    client: Any, auth: dict[str, str], monkeypatch: pytest.MonkeyPatch, kind: str
) -> None:
    module, path, field = MOVES[kind]
    target = await create_project(client, auth)
    child = await _movable(client, auth, kind, target)
    deleted = run_competitor(
        monkeypatch,
        module,
        "update_owned",
        lambda: client.delete(f"/api/projects/{target['id']}", headers=auth),
    )

    response = await client.patch(f"{path}/{child['id']}", json={field: target["id"]}, headers=auth)

    assert deleted[0].status_code == 204, deleted[0].text
    assert_problem(response, 400, "invalid_reference")
    stored = (await client.get(f"{path}/{child['id']}", headers=auth)).json()
    assert stored[field] == child[field]
    assert stored["client_id"] == child["client_id"]


@pytest.mark.parametrize("kind", list(MOVES))
async def test_delete_project_while_child_moved_to_it(
    client: Any, auth: dict[str, str], monkeypatch: pytest.MonkeyPatch, kind: str
) -> None:
    module, path, field = MOVES[kind]
    target = await create_project(client, auth)
    child = await _movable(client, auth, kind, target)
    deleted = run_competitor(
        monkeypatch,
        module,
        "update_owned",
        lambda: client.delete(f"/api/projects/{target['id']}", headers=auth),
        before=False,
    )

    response = await client.patch(f"{path}/{child['id']}", json={field: target["id"]}, headers=auth)

    assert response.status_code == 200, response.text
    assert response.json()[field] == target["id"]
    assert_problem(deleted[0], 409, "in_use")
    assert await _raw_project(target["id"]) is not None
