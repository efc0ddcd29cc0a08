"""Deleting a client while a child naming it is created or moved to it: never an orphan (API.md §5)."""

from __future__ import annotations

from typing import Any

import pytest
from bson import ObjectId

import app.contracts.service as contracts_service
import app.projects.service as projects_service
from app.clients.models import Client
from app.contracts.models import Contract
from app.invoices.models import Invoice
from app.projects.models import Project
from tests.clients.factories import create_client
from tests.conftest import assert_problem
from tests.contracts.factories import create_contract
from tests.projects.factories import create_project
from tests.races import run_competitor

LINES = [{"description": "Work", "quantity": "1", "unit_price": "10.00"}]
# (child model, path, body for a client id): every create that names a client directly.
CREATES: dict[str, tuple[Any, str, Any]] = {
    "project": (Project, "/api/projects", lambda cid: {"client_id": cid, "name": "Site"}),
    "invoice": (Invoice, "/api/invoices", lambda cid: {"client_id": cid, "lines": LINES}),
    "contract": (Contract, "/api/contracts", lambda cid: {"client_id": cid, "title": "MSA"}),
}

# (child model, path, module whose update_owned writes the move, builder): every move to another client.
MOVES: dict[str, tuple[Any, str, Any, Any]] = {
    "project": (Project, "/api/projects", projects_service, create_project),
    "contract": (Contract, "/api/contracts", contracts_service, create_contract),
}


async def _raw_client(client_id: str) -> dict[str, Any] | None:
    return await Client.get_motor_collection().find_one({"_id": ObjectId(client_id)})  # type: ignore[no-any-return]


@pytest.mark.parametrize("kind", list(CREATES))
async def test_create_child_of_client_deleted_meanwhile(
    client: Any, auth: dict[str, str], monkeypatch: pytest.MonkeyPatch, kind: str
) -> None:
    model, path, body = CREATES[kind]
    cid = (await create_client(client, auth))["id"]
    deleted = run_competitor(
        monkeypatch, model, "insert", lambda: client.delete(f"/api/clients/{cid}", headers=auth)
    )

    response = await client.post(path, json=body(cid), headers=auth)

    assert deleted[0].status_code == 204, deleted[0].text
    assert_problem(response, 400, "invalid_reference")
    assert await model.get_motor_collection().count_documents({"client_id": ObjectId(cid)}) == 0
    assert await _raw_client(cid) is None


@pytest.mark.parametrize("kind", list(CREATES))
async def test_delete_client_while_child_created(
    client: Any, auth: dict[str, str], monkeypatch: pytest.MonkeyPatch, kind: str
) -> None:
    model, path, body = CREATES[kind]
    cid = (await create_client(client, auth))["id"]
    deleted = run_competitor(
        monkeypatch,
        model,
        "insert",
        lambda: client.delete(f"/api/clients/{cid}", headers=auth),
        before=False,
    )

    response = await client.post(path, json=body(cid), headers=auth)

    assert response.status_code == 201, response.text
    assert_problem(deleted[0], 409, "in_use")
    raw = await _raw_client(cid)
    assert raw is not None and raw.get("deleting") is not True
    assert "deleting" not in (await client.get(f"/api/clients/{cid}", headers=auth)).json()
    again = await client.post(path, json=body(cid), headers=auth)  # the client is usable again
    assert again.status_code == 201, again.text


@pytest.mark.parametrize("kind", list(MOVES))
async def test_update_child_client_deleted_meanwhile(
    client: Any, auth: dict[str, str], monkeypatch: pytest.MonkeyPatch, kind: str
) -> None:
    model, path, module, create = MOVES[kind]
    child = await create(client, auth)
    target = (await create_client(client, auth, name="Globex"))["id"]
    deleted = run_competitor(
        monkeypatch, module, "update_owned", lambda: client.delete(f"/api/clients/{target}", headers=auth)
    )

    response = await client.patch(f"{path}/{child['id']}", json={"client_id": target}, headers=auth)

    assert deleted[0].status_code == 204, deleted[0].text
    assert_problem(response, 400, "invalid_reference")
    raw = await model.get_motor_collection().find_one({"_id": ObjectId(child["id"])})
    assert str(raw["client_id"]) == child["client_id"]


@pytest.mark.parametrize("kind", list(MOVES))
async def test_delete_client_while_child_moved_to_it(
    client: Any, auth: dict[str, str], monkeypatch: pytest.MonkeyPatch, kind: str
) -> None:
    _, path, module, create = MOVES[kind]
    child = await create(client, auth)
    target = (await create_client(client, auth, name="Globex"))["id"]
    deleted = run_competitor(
        monkeypatch,
        module,
        "update_owned",
        lambda: client.delete(f"/api/clients/{target}", headers=auth),
        before=False,
    )

    response = await client.patch(f"{path}/{child['id']}", json={"client_id": target}, headers=auth)

    assert response.status_code == 200, response.text
    assert response.json()["client_id"] == target
    assert_problem(deleted[0], 409, "in_use")
    assert await _raw_client(target) is not None


async def test_delete_client_interrupted_after_its_tombstone_can_be_retried(client, auth):
    """A delete that died between marking and deleting leaves no client stuck: deleting again finishes."""
    acme = await create_client(client, auth)
    referenced = await create_client(client, auth, name="Globex")
    await create_project(client, auth, client_id=referenced["id"])
    for stuck in (acme, referenced):
        await Client.get_motor_collection().update_one(
            {"_id": ObjectId(stuck["id"])}, {"$set": {"deleting": True}}
        )
    assert (await client.delete(f"/api/clients/{acme['id']}", headers=auth)).status_code == 204
    assert_problem(await client.delete(f"/api/clients/{referenced['id']}", headers=auth), 409, "in_use")
    raw = await Client.get_motor_collection().find_one({"_id": ObjectId(referenced["id"])})
    assert raw is not None and not raw.get("deleting")  # the retried delete cleared the mark
    again = await client.post(
        "/api/projects", json={"client_id": referenced["id"], "name": "Two"}, headers=auth
    )
    assert again.status_code == 201, again.text
