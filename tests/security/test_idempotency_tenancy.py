"""Idempotency keys are per organisation and caller, generated from the route table: on every authenticated
POST, another user sending your key (same path, same body) never gets your stored answer; neither does another
member of your organisation, nor you in another organisation."""

from __future__ import annotations

import itertools
from types import SimpleNamespace

import pytest
from bson import ObjectId

from app.core.roles import Role
from app.http.idempotency import IdempotencyRecord, Scope, is_never_replayed, scope_of
from app.http.tenancy import ORGANIZATION_HEADER, outside_organization, requires
from tests.security.agency import agency
from tests.security.route_table import OPERATIONS, ids, sample_body
from tests.security.world import World

REPLAYED = "idempotent-replayed"
KEYED = [op for op in OPERATIONS if op.method == "POST" and not op.is_public]
_keys = itertools.count()


@pytest.mark.parametrize("op", KEYED, ids=ids(KEYED))
async def test_another_users_key_never_replays_your_answer(client, user, other_user, op):
    values, _ = await World(client, user.headers).path_values(op)
    url, body, key = op.url(values), sample_body(op), f"tenancy-{next(_keys)}"

    first = await client.post(url, json=body, headers={**user.headers, "Idempotency-Key": key})
    theirs = await client.post(url, json=body, headers={**other_user.headers, "Idempotency-Key": key})

    assert REPLAYED not in theirs.headers, f"{op}: another user got the stored answer {theirs.text[:200]}"
    if op.path_params:
        assert theirs.status_code == 404, theirs.text
    # The control: the key did keep the owner's answer (a 5xx is not kept; logout revokes the owner's token).
    again = await client.post(url, json=body, headers={**user.headers, "Idempotency-Key": key})
    if first.status_code >= 500:
        assert REPLAYED not in again.headers
    elif is_never_replayed(op.opt):
        assert REPLAYED not in again.headers, f"{op}: never replayed, yet replayed"
    elif again.status_code != 401:
        assert again.headers.get(REPLAYED) == "true" and again.content == first.content, again.text
    else:
        assert op.path.startswith("/api/auth/"), f"{op}: the owner's repeat was refused"


# ---------------------------------------------------------------- per organisation and caller (API.md section 18)


def test_a_key_is_the_organisations_and_callers_inside_one_and_the_users_alone_outside():
    caller = SimpleNamespace(id=ObjectId(), user_id=ObjectId())
    assert scope_of(caller, requires(Role.BILLING, scope="clients")) == Scope(caller.id, caller.user_id)
    assert scope_of(caller, outside_organization()) == Scope(None, caller.user_id)
    key = SimpleNamespace(id=ObjectId(), user_id=None, key_id=ObjectId())  # an API key: the key is the caller
    assert scope_of(key, requires(Role.BILLING, scope="clients")) == Scope(key.id, key.key_id)


async def _records(key: str) -> list[dict]:
    return await IdempotencyRecord.get_motor_collection().find({"key": key}).to_list(None)


async def test_two_members_of_one_organisation_with_one_key_both_run(client):
    shared = await agency(client)
    key = f"members-{next(_keys)}"
    answers = {}
    for role in (Role.BILLING, Role.ADMIN):
        headers = {**shared.headers(role), "Idempotency-Key": key}
        answers[role] = await client.post("/api/clients", json={"name": "Acme"}, headers=headers)
        assert answers[role].status_code == 201 and REPLAYED not in answers[role].headers, answers[role].text
        again = await client.post("/api/clients", json={"name": "Acme"}, headers=headers)
        assert again.headers.get(REPLAYED) == "true" and again.content == answers[role].content
    assert answers[Role.BILLING].json()["id"] != answers[Role.ADMIN].json()["id"]
    listed = await client.get("/api/clients", headers=shared.headers(Role.VIEWER))
    assert listed.json()["total"] == 2
    assert {r["caller_id"] for r in await _records(key)} == {
        ObjectId(shared.members[role].id) for role in (Role.BILLING, Role.ADMIN)
    }


async def test_one_users_key_in_two_organisations_is_two_records_never_replayed_across(client):
    shared = await agency(client)
    owner = shared.members[Role.OWNER]
    key = f"organisations-{next(_keys)}"
    in_agency = await client.post(
        "/api/clients", json={"name": "Acme"}, headers={**shared.headers(Role.OWNER), "Idempotency-Key": key}
    )
    # the same key and body in the personal organisation: its own request, never the agency's answer
    personal = await client.post(
        "/api/clients", json={"name": "Acme"}, headers={**owner.headers, "Idempotency-Key": key}
    )
    assert in_agency.status_code == personal.status_code == 201, personal.text
    assert REPLAYED not in personal.headers and personal.json()["id"] != in_agency.json()["id"]
    assert personal.headers[ORGANIZATION_HEADER] == owner.id
    records = await _records(key)
    assert sorted(str(r["owner_id"]) for r in records) == sorted([shared.id, owner.id])
    assert {r["caller_id"] for r in records} == {ObjectId(owner.id)}
