from __future__ import annotations

import asyncio

import pytest

from app.contracts import service as contract_service
from tests.clients.factories import create_client
from tests.conftest import Account, assert_problem, moment
from tests.contracts.factories import contract_in_status, create_contract, insert_project

STATUSES = ("draft", "sent", "signed", "cancelled")
ACTIONS = ("send", "sign", "cancel")
LEGAL_MOVES = {
    ("draft", "send"): "sent",
    ("sent", "sign"): "signed",
    ("draft", "cancel"): "cancelled",
    ("sent", "cancel"): "cancelled",
}


def action_body(action: str) -> dict[str, str] | None:
    return {"signed_by": "Grace Hopper"} if action == "sign" else None


# ---------------------------------------------------------------- create


async def test_create_contract_defaults(client, auth):
    acme = await create_client(client, auth, currency="EUR")
    created = await create_contract(client, auth, client_id=acme["id"], title="  Master services  ")
    assert created == {
        **created,
        "client_id": acme["id"],
        "project_id": None,
        "title": "Master services",
        "body": "",
        "value": None,
        "currency": "EUR",
        "start_date": None,
        "end_date": None,
        "status": "draft",
        "sent_at": None,
        "signed_at": None,
        "signed_by": None,
    }
    assert len(created["id"]) == 24
    assert created["created_at"] == created["updated_at"]


async def test_create_contract_with_every_field(client, auth, user: Account):
    acme = await create_client(client, auth)
    project_id = await insert_project(user.id, acme["id"])
    body = {
        "client_id": acme["id"],
        "project_id": project_id,
        "title": "SOW 1",
        "body": "# Scope\n\n* one",
        "value": "12500.50",
        "currency": "CHF",
        "start_date": "2026-01-01",
        "end_date": "2026-01-01",
    }
    response = await client.post("/api/contracts", json=body, headers=auth)
    assert response.status_code == 201, response.text
    created = response.json()
    assert created == {**created, **body}
    fetched = (await client.get(f"/api/contracts/{created['id']}", headers=auth)).json()
    assert fetched == created


@pytest.mark.parametrize("value, wire", [(0, "0.00"), (1234.5, "1234.50"), ("99", "99.00"), ("0.10", "0.10")])
async def test_create_contract_value_is_money(client, auth, value, wire):
    created = await create_contract(client, auth, value=value)
    assert created["value"] == wire
    assert (await client.get(f"/api/contracts/{created['id']}", headers=auth)).json()["value"] == wire


async def test_create_contract_accepts_body_of_100000_chars(client, auth):
    created = await create_contract(client, auth, body="é" * 100_000)
    assert len(created["body"]) == 100_000


async def test_create_contract_rejects_unowned_client(client, user: Account, other_user: Account):
    theirs = await create_client(client, other_user.headers)
    for client_id in (theirs["id"], "6740f0c2a1b2c3d4e5f60718"):
        response = await client.post(
            "/api/contracts", json={"client_id": client_id, "title": "x"}, headers=user.headers
        )
        assert_problem(response, 400, "invalid_reference")


async def test_create_contract_rejects_unowned_project(client, user: Account, other_user: Account):
    mine = await create_client(client, user.headers)
    theirs = await create_client(client, other_user.headers)
    their_project = await insert_project(other_user.id, theirs["id"])
    for project_id in (their_project, "6740f0c2a1b2c3d4e5f60718"):
        body = {"client_id": mine["id"], "project_id": project_id, "title": "x"}
        assert_problem(
            await client.post("/api/contracts", json=body, headers=user.headers), 400, "invalid_reference"
        )


async def test_create_contract_rejects_project_of_another_client(client, auth, user: Account):
    acme = await create_client(client, auth, name="Acme")
    globex = await create_client(client, auth, name="Globex")
    globex_project = await insert_project(user.id, globex["id"])
    body = {"client_id": acme["id"], "project_id": globex_project, "title": "x"}
    assert_problem(await client.post("/api/contracts", json=body, headers=auth), 400, "invalid_reference")


@pytest.mark.parametrize(
    "fields, field",
    [
        ({"title": None}, "title"),
        ({"title": ""}, "title"),
        ({"title": "   "}, "title"),
        ({"title": "x" * 201}, "title"),
        ({"title": {"$gt": ""}}, "title"),
        ({"client_id": None}, "client_id"),
        ({"client_id": "zz"}, "client_id"),
        ({"client_id": {"$ne": None}}, "client_id"),
        ({"project_id": {"$exists": True}}, "project_id"),
        ({"body": "x" * 100_001}, "body"),
        ({"body": None}, "body"),
        ({"value": "NaN"}, "value"),
        ({"value": "Infinity"}, "value"),
        ({"value": -1}, "value"),
        ({"value": "-0.01"}, "value"),
        ({"value": "1.005"}, "value"),
        ({"value": 10.125}, "value"),
        ({"value": "ten"}, "value"),
        ({"value": True}, "value"),
        ({"value": {"$gt": 0}}, "value"),
        ({"currency": "usd"}, "currency"),
        ({"currency": "EURO"}, "currency"),
        ({"start_date": "2026-02-30"}, "start_date"),
        ({"start_date": "2026-01-01T00:00:00"}, "start_date"),
        ({"start_date": "2026-01-01T00:00:00Z"}, "start_date"),
        ({"start_date": "01/02/2026"}, "start_date"),
        ({"end_date": 20260101}, "end_date"),
        ({"start_date": "2026-03-02", "end_date": "2026-03-01"}, "end_date"),
        ({"status": "signed"}, "status"),
        ({"signed_by": "me"}, "signed_by"),
        ({"value_cents": 100}, "value_cents"),
        ({"owner_id": "6740f0c2a1b2c3d4e5f60718"}, "owner_id"),
    ],
)
async def test_create_contract_rejects_bad_input(client, auth, fields, field):
    acme = await create_client(client, auth)
    body = {"client_id": acme["id"], "title": "MSA", **fields}
    problem = assert_problem(
        await client.post("/api/contracts", json=body, headers=auth), 400, "validation_error"
    )
    assert field in [error["field"] for error in problem["errors"]]
    assert (await client.get("/api/contracts", headers=auth)).json()["total"] == 0


async def test_create_contract_requires_client_id_and_title(client, auth):
    problem = assert_problem(
        await client.post("/api/contracts", json={}, headers=auth), 400, "validation_error"
    )
    assert {e["field"] for e in problem["errors"]} & {"client_id", "title"}


# ---------------------------------------------------------------- lifecycle


async def test_send_contract_sets_sent_at(client, auth):
    contract = await create_contract(client, auth)
    response = await client.post(f"/api/contracts/{contract['id']}/send", headers=auth)
    assert response.status_code == 200, response.text
    sent = response.json()
    assert sent["status"] == "sent"
    assert sent["sent_at"] and sent["sent_at"].endswith(("Z", "+00:00"))
    assert sent["signed_at"] is None and sent["signed_by"] is None
    assert (await client.get(f"/api/contracts/{contract['id']}", headers=auth)).json() == sent


async def test_sign_contract_records_signer_and_time(client, auth):
    contract = await contract_in_status(client, auth, "sent")
    response = await client.post(
        f"/api/contracts/{contract['id']}/sign", json={"signed_by": " Grace Hopper "}, headers=auth
    )
    assert response.status_code == 200, response.text
    signed = response.json()
    assert signed["status"] == "signed"
    assert signed["signed_by"] == "Grace Hopper"
    assert (
        moment(signed["signed_at"]) >= moment(signed["sent_at"]) and signed["sent_at"] == contract["sent_at"]
    )


@pytest.mark.parametrize("start", ["draft", "sent"])
async def test_cancel_contract_from_draft_or_sent(client, auth, start):
    contract = await contract_in_status(client, auth, start)
    response = await client.post(f"/api/contracts/{contract['id']}/cancel", headers=auth)
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "cancelled"
    assert response.json()["sent_at"] == contract["sent_at"]


@pytest.mark.parametrize("start", STATUSES)
@pytest.mark.parametrize("action", ACTIONS)
async def test_contract_transition_table(client, auth, start, action):
    contract = await contract_in_status(client, auth, start)
    response = await client.post(
        f"/api/contracts/{contract['id']}/{action}", json=action_body(action), headers=auth
    )
    expected = LEGAL_MOVES.get((start, action))
    if expected is None:
        assert_problem(response, 409, "invalid_state")
        assert (await client.get(f"/api/contracts/{contract['id']}", headers=auth)).json() == contract
    else:
        assert response.status_code == 200, response.text
        assert response.json()["status"] == expected


@pytest.mark.parametrize(
    "body, field",
    [
        ({}, "signed_by"),
        ({"signed_by": ""}, "signed_by"),
        ({"signed_by": "  "}, "signed_by"),
        ({"signed_by": "x" * 201}, "signed_by"),
        ({"signed_by": 7}, "signed_by"),
        ({"signed_by": "Ada", "signed_at": "2026-01-01T00:00:00Z"}, "signed_at"),
    ],
)
async def test_sign_contract_rejects_bad_signer(client, auth, body, field):
    contract = await contract_in_status(client, auth, "sent")
    problem = assert_problem(
        await client.post(f"/api/contracts/{contract['id']}/sign", json=body, headers=auth),
        400,
        "validation_error",
    )
    assert field in [error["field"] for error in problem["errors"]]
    assert (await client.get(f"/api/contracts/{contract['id']}", headers=auth)).json()["status"] == "sent"


@pytest.fixture
def yield_before_writes(monkeypatch):
    """Let the other request run between any read and the write (mongomock itself never yields)."""
    real = contract_service.update_owned

    async def update_owned_after_a_yield(*args, **kwargs):
        await asyncio.sleep(0.01)
        return await real(*args, **kwargs)

    monkeypatch.setattr(contract_service, "update_owned", update_owned_after_a_yield)


async def test_sign_contract_concurrently_signs_once(client, auth, yield_before_writes):
    contract = await contract_in_status(client, auth, "sent")
    path = f"/api/contracts/{contract['id']}/sign"
    responses = await asyncio.gather(
        client.post(path, json={"signed_by": "Ada"}, headers=auth),
        client.post(path, json={"signed_by": "Grace"}, headers=auth),
    )
    assert sorted(r.status_code for r in responses) == [200, 409]
    winner = next(r for r in responses if r.status_code == 200).json()
    assert_problem(next(r for r in responses if r.status_code == 409), 409, "invalid_state")
    stored = (await client.get(f"/api/contracts/{contract['id']}", headers=auth)).json()
    assert stored["signed_by"] == winner["signed_by"] and stored["signed_at"] == winner["signed_at"]


async def test_sign_and_cancel_concurrently_only_one_wins(client, auth, yield_before_writes):
    contract = await contract_in_status(client, auth, "sent")
    path = f"/api/contracts/{contract['id']}"
    sign, cancel = await asyncio.gather(
        client.post(f"{path}/sign", json={"signed_by": "Ada"}, headers=auth),
        client.post(f"{path}/cancel", headers=auth),
    )
    assert sorted([sign.status_code, cancel.status_code]) == [200, 409]
    final = (await client.get(path, headers=auth)).json()["status"]
    assert final == ("signed" if sign.status_code == 200 else "cancelled")


# ---------------------------------------------------------------- update


async def test_update_contract_changes_only_sent_fields(client, auth):
    contract = await create_contract(client, auth, body="old", value="10.00", start_date="2026-01-01")
    response = await client.patch(
        f"/api/contracts/{contract['id']}",
        json={"title": "Renamed", "value": None, "end_date": "2026-12-31"},
        headers=auth,
    )
    assert response.status_code == 200, response.text
    updated = response.json()
    assert updated == {
        **contract,
        "title": "Renamed",
        "value": None,
        "end_date": "2026-12-31",
        "updated_at": updated["updated_at"],
    }
    assert moment(updated["updated_at"]) >= moment(contract["updated_at"])
    assert (await client.get(f"/api/contracts/{contract['id']}", headers=auth)).json() == updated


@pytest.mark.parametrize(
    "stored, change",
    [
        ({"start_date": "2026-05-01"}, {"end_date": "2026-04-30"}),
        ({"end_date": "2026-05-01"}, {"start_date": "2026-05-02"}),
        ({}, {"start_date": "2026-05-02", "end_date": "2026-05-01"}),
    ],
)
async def test_update_contract_checks_dates_against_stored_values(client, auth, stored, change):
    contract = await create_contract(client, auth, **stored)
    response = await client.patch(f"/api/contracts/{contract['id']}", json=change, headers=auth)
    problem = assert_problem(response, 400, "validation_error")
    assert "end_date" in [error["field"] for error in problem["errors"]]
    assert (await client.get(f"/api/contracts/{contract['id']}", headers=auth)).json() == contract


async def test_update_contract_dates_stay_ordered_under_concurrent_edits(client, auth, yield_before_writes):
    contract = await create_contract(client, auth, start_date="2026-05-01", end_date="2026-05-31")
    path = f"/api/contracts/{contract['id']}"
    # each change is valid against what is stored; together they would put the end before the start
    later_start, earlier_end = await asyncio.gather(
        client.patch(path, json={"start_date": "2026-05-20"}, headers=auth),
        client.patch(path, json={"end_date": "2026-05-10"}, headers=auth),
    )
    assert sorted([later_start.status_code, earlier_end.status_code]) == [200, 400]
    stored = (await client.get(path, headers=auth)).json()
    assert stored["start_date"] <= stored["end_date"]


async def test_update_contract_can_clear_a_date(client, auth):
    contract = await create_contract(client, auth, start_date="2026-05-01", end_date="2026-06-01")
    response = await client.patch(f"/api/contracts/{contract['id']}", json={"start_date": None}, headers=auth)
    assert response.status_code == 200, response.text
    assert response.json()["start_date"] is None and response.json()["end_date"] == "2026-06-01"


@pytest.mark.parametrize(
    "body, field",
    [
        ({"titel": "x"}, "titel"),
        ({"title": None}, "title"),
        ({"client_id": None}, "client_id"),
        ({"value": "1.001"}, "value"),
        ({"value": "NaN"}, "value"),
        ({"currency": None}, "currency"),
        ({"status": "signed"}, "status"),
        ({"start_date": "2026-13-01"}, "start_date"),
        ({"title": {"$set": {"status": "signed"}}}, "title"),
    ],
)
async def test_update_contract_rejects_bad_input(client, auth, body, field):
    contract = await create_contract(client, auth)
    problem = assert_problem(
        await client.patch(f"/api/contracts/{contract['id']}", json=body, headers=auth),
        400,
        "validation_error",
    )
    assert field in [error["field"] for error in problem["errors"]]


@pytest.mark.parametrize("status", ["sent", "signed", "cancelled"])
async def test_update_contract_only_in_draft(client, auth, status):
    contract = await contract_in_status(client, auth, status)
    response = await client.patch(f"/api/contracts/{contract['id']}", json={"title": "Changed"}, headers=auth)
    assert_problem(response, 409, "invalid_state")
    assert (await client.get(f"/api/contracts/{contract['id']}", headers=auth)).json()["title"] == "MSA"


async def test_update_contract_checks_ownership_before_state(client, user: Account, other_user: Account):
    contract = await contract_in_status(client, user.headers, "sent")
    theirs = await create_client(client, other_user.headers)
    response = await client.patch(
        f"/api/contracts/{contract['id']}", json={"client_id": theirs["id"]}, headers=user.headers
    )
    assert_problem(response, 400, "invalid_reference")


async def test_update_contract_new_client_brings_its_currency(client, auth):
    usd = await create_client(client, auth, currency="USD")
    eur = await create_client(client, auth, currency="EUR")
    contract = await create_contract(client, auth, client_id=usd["id"])
    moved = (
        await client.patch(f"/api/contracts/{contract['id']}", json={"client_id": eur["id"]}, headers=auth)
    ).json()
    assert moved["client_id"] == eur["id"] and moved["currency"] == "EUR"
    explicit = (
        await client.patch(
            f"/api/contracts/{contract['id']}", json={"client_id": usd["id"], "currency": "GBP"}, headers=auth
        )
    ).json()
    assert explicit["client_id"] == usd["id"] and explicit["currency"] == "GBP"


async def test_update_contract_keeps_project_and_client_consistent(client, auth, user: Account):
    acme = await create_client(client, auth, name="Acme")
    globex = await create_client(client, auth, name="Globex")
    acme_project = await insert_project(user.id, acme["id"])
    globex_project = await insert_project(user.id, globex["id"])
    contract = await create_contract(client, auth, client_id=acme["id"], project_id=acme_project)
    path = f"/api/contracts/{contract['id']}"
    # the stored project belongs to the old client
    assert_problem(
        await client.patch(path, json={"client_id": globex["id"]}, headers=auth), 400, "invalid_reference"
    )
    # a project of another client than the stored one
    assert_problem(
        await client.patch(path, json={"project_id": globex_project}, headers=auth), 400, "invalid_reference"
    )
    both = await client.patch(
        path, json={"client_id": globex["id"], "project_id": globex_project}, headers=auth
    )
    assert both.status_code == 200, both.text
    assert both.json()["client_id"] == globex["id"] and both.json()["project_id"] == globex_project
    cleared = (await client.patch(path, json={"project_id": None}, headers=auth)).json()
    assert cleared["project_id"] is None


# ---------------------------------------------------------------- delete


@pytest.mark.parametrize("status", ["draft", "cancelled"])
async def test_delete_contract_in_draft_or_cancelled(client, auth, status):
    contract = await contract_in_status(client, auth, status)
    response = await client.delete(f"/api/contracts/{contract['id']}", headers=auth)
    assert response.status_code == 204
    assert_problem(await client.get(f"/api/contracts/{contract['id']}", headers=auth), 404, "not_found")


@pytest.mark.parametrize("status", ["sent", "signed"])
async def test_delete_contract_refused_when_sent_or_signed(client, auth, status):
    contract = await contract_in_status(client, auth, status)
    assert_problem(
        await client.delete(f"/api/contracts/{contract['id']}", headers=auth), 409, "invalid_state"
    )
    assert (await client.get(f"/api/contracts/{contract['id']}", headers=auth)).json() == contract


async def test_delete_client_with_contract_is_in_use(client, auth):
    contract = await create_contract(client, auth)
    response = await client.delete(f"/api/clients/{contract['client_id']}", headers=auth)
    assert_problem(response, 409, "in_use")


# ---------------------------------------------------------------- list


async def test_list_contracts_filters(client, auth, user: Account):
    acme = await create_client(client, auth, name="Acme")
    globex = await create_client(client, auth, name="Globex")
    project = await insert_project(user.id, acme["id"])
    a1 = await create_contract(client, auth, client_id=acme["id"], project_id=project, title="A1")
    a2 = await contract_in_status(client, auth, "sent", client_id=acme["id"], title="A2")
    g1 = await contract_in_status(client, auth, "sent", client_id=globex["id"], title="G1")

    async def titles(**params: str) -> list[str]:
        response = await client.get("/api/contracts", params=params, headers=auth)
        assert response.status_code == 200, response.text
        return sorted(c["title"] for c in response.json()["items"])

    assert await titles() == ["A1", "A2", "G1"]
    assert await titles(status="sent") == ["A2", "G1"]
    assert await titles(client_id=acme["id"]) == ["A1", "A2"]
    assert await titles(client_id=globex["id"], status="sent") == ["G1"]
    assert await titles(project_id=project) == ["A1"]
    assert await titles(status="signed") == []
    assert {a1["id"], a2["id"], g1["id"]}


async def test_list_contracts_sorts(client, auth):
    acme = await create_client(client, auth)
    for title, start in [("Bravo", "2026-03-01"), ("Alpha", None), ("Charlie", "2026-01-15")]:
        await create_contract(client, auth, client_id=acme["id"], title=title, start_date=start)

    async def order(sort: str | None = None) -> list[str]:
        params = {"sort": sort} if sort else {}
        return [
            c["title"]
            for c in (await client.get("/api/contracts", params=params, headers=auth)).json()["items"]
        ]

    assert await order() == ["Charlie", "Alpha", "Bravo"]
    assert await order("created_at") == ["Bravo", "Alpha", "Charlie"]
    assert await order("title") == ["Alpha", "Bravo", "Charlie"]
    assert await order("-title") == ["Charlie", "Bravo", "Alpha"]
    assert await order("start_date") == ["Alpha", "Charlie", "Bravo"]
    assert await order("-start_date") == ["Bravo", "Charlie", "Alpha"]
    page = (await client.get("/api/contracts?sort=title&limit=1&offset=2", headers=auth)).json()
    assert page == {**page, "total": 3, "limit": 1, "offset": 2}
    assert [c["title"] for c in page["items"]] == ["Charlie"]


@pytest.mark.parametrize(
    "query",
    [
        "status=open",
        "client_id=zz",
        "project_id=123",
        "sort=value",
        "sort=-body",
        "limit=0",
        "offset=-1",
        "client_id[$ne]=x",
    ],
)
async def test_list_contracts_rejects_bad_query(client, auth, query):
    response = await client.get(f"/api/contracts?{query}", headers=auth)
    if query == "client_id[$ne]=x":  # an unknown parameter is ignored, never an operator
        assert response.status_code == 200 and response.json()["total"] == 0
    else:
        assert_problem(response, 400, "validation_error")


# ---------------------------------------------------------------- tenancy and ids


async def test_another_users_contract_is_404_on_every_verb(client, user: Account, other_user: Account):
    contract = await contract_in_status(client, user.headers, "sent")
    path = f"/api/contracts/{contract['id']}"
    mallory = other_user.headers
    assert_problem(await client.get(path, headers=mallory), 404, "not_found")
    assert_problem(await client.patch(path, json={"title": "mine"}, headers=mallory), 404, "not_found")
    assert_problem(await client.delete(path, headers=mallory), 404, "not_found")
    for action in ACTIONS:
        assert_problem(
            await client.post(f"{path}/{action}", json=action_body(action), headers=mallory), 404, "not_found"
        )
    listed = (await client.get("/api/contracts", headers=mallory)).json()
    assert listed["total"] == 0 and listed["items"] == []
    assert (await client.get(path, headers=user.headers)).json() == contract


async def test_another_users_draft_cannot_be_deleted_or_edited(client, user: Account, other_user: Account):
    contract = await create_contract(client, user.headers)
    path = f"/api/contracts/{contract['id']}"
    assert_problem(await client.delete(path, headers=other_user.headers), 404, "not_found")
    assert_problem(
        await client.patch(path, json={"title": "x"}, headers=other_user.headers), 404, "not_found"
    )
    assert (await client.get(path, headers=user.headers)).json() == contract


@pytest.mark.parametrize(
    "bad_id",
    ["zz", "6740f0c2a1b2c3d4e5f6071", "6740F0C2A1B2C3D4E5F60718", "null", "6740f0c2a1b2c3d4e5f60718"],
)
async def test_bad_or_missing_contract_id_is_404(client, auth, bad_id):
    path = f"/api/contracts/{bad_id}"
    assert_problem(await client.get(path, headers=auth), 404, "not_found")
    assert_problem(await client.delete(path, headers=auth), 404, "not_found")
    assert_problem(await client.patch(path, json={"title": "x"}, headers=auth), 404, "not_found")
    for action in ACTIONS:
        assert_problem(
            await client.post(f"{path}/{action}", json=action_body(action), headers=auth), 404, "not_found"
        )


async def test_contracts_require_auth(client):
    assert_problem(await client.get("/api/contracts"), 401, "unauthorized")
