"""Tenancy, generated from the route table: another user's resource is indistinguishable from a missing one."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import assert_problem
from tests.security.route_table import (
    OPENAPI,
    OPERATIONS,
    READ_ALL,
    WITH_BODY,
    WITH_ID,
    Operation,
    collection_for_field,
    ids,
    is_page,
    new_id,
    reached,
    sample_body,
    variant,
)
from tests.security.world import World, shows_any_of

MALFORMED_IDS = [
    "not-an-id",
    "123",
    "g" * 24,  # right length, not hex
    "6740F0C2A1B2C3D4E5F60718",  # upper-case hex: ids are lower-case
    "0" * 25,
    '{"$gt": ""}',
]


async def send(http: Any, op: Operation, values: dict[str, str], headers: dict[str, str]) -> Any:
    return await http.request(op.method, op.url(values), json=sample_body(op), headers=headers)


def _without_ids(problem: dict[str, Any], values: dict[str, str]) -> dict[str, Any]:
    detail = problem["detail"]
    for value in values.values():
        detail = detail.replace(value, "<id>")
    return {**problem, "detail": detail, "request_id": None}


def test_every_api_route_is_in_the_openapi_document():
    """The suite reads bodies and parameters from the document; a route missing from it would go untested."""
    missing = [str(op) for op in OPERATIONS if not op.spec]
    assert not missing, missing
    assert WITH_ID, "no route with an id found: the route table was not read"


@pytest.mark.parametrize("op", WITH_ID, ids=ids(WITH_ID))
async def test_other_users_id_is_not_found(client, user, other_user, op):
    world = World(client, user.headers)
    values, all_real = await world.path_values(op)
    before = await world.snapshot()

    response = await send(client, op, values, other_user.headers)
    problem = assert_problem(response, 404, "not_found")

    absent = {param: new_id() for param in values}
    missing = assert_problem(await send(client, op, absent, other_user.headers), 404, "not_found")
    assert _without_ids(problem, values) == _without_ids(missing, absent), (
        "someone else's id answers differently"
    )
    assert await world.snapshot() == before, "the other user's request changed the owner's data"

    if all_real:  # the 404 came from ownership, not from a route that always says 404
        control = await send(client, op, values, user.headers)
        assert reached(control), control.text


@pytest.mark.parametrize("op", WITH_ID, ids=ids(WITH_ID))
async def test_malformed_id_is_not_found(client, user, op):
    for bad in MALFORMED_IDS:
        response = await send(client, op, dict.fromkeys(op.path_params, bad), user.headers)
        assert_problem(response, 404, "not_found")


def _stable(body: Any) -> Any:
    """A body without the keys that move with the clock (generated_at, as_of ...)."""
    if isinstance(body, dict):
        return {k: _stable(v) for k, v in body.items() if not k.endswith(("_at", "as_of"))}
    return body


@pytest.mark.parametrize("op", READ_ALL, ids=ids(READ_ALL))
async def test_read_all_shows_nothing_of_another_user(client, user, other_user, op):
    before = await client.get(op.path, headers=other_user.headers)
    world = World(client, user.headers)
    await world.everything()

    after = await client.get(op.path, headers=other_user.headers)
    assert after.status_code == before.status_code == 200, after.text
    assert _stable(after.json()) == _stable(before.json()), "another organisation's data shows up"
    assert not shows_any_of(after.json(), {user.id, *world.ids.values()}), after.json()

    for param in op.query_params:  # filters naming the other user's resources find nothing
        collection = collection_for_field(param["name"])
        if collection is None or collection not in world.ids:
            continue
        filtered = await client.get(
            op.path, params={param["name"]: world.ids[collection]}, headers=other_user.headers
        )
        assert filtered.status_code < 500, filtered.text
        if filtered.status_code == 200:
            assert not shows_any_of(filtered.json(), {user.id, *world.ids.values()}), filtered.json()


# Lists whose items the security world does not make, each with where they are tested.
NOT_MADE_BY_THE_WORLD = {
    "/api/organization/invitations": "an invitation needs SMTP: tests/organizations/test_invitations.py",
    "/api/organization/api-keys": "nested under the organisation: tests/api_keys/test_api_keys.py",
}


async def test_owner_sees_own_data_in_lists(client, user):
    """The control for the test above: the lists do show the owner's data, so 'nothing' is not vacuous."""
    world = World(client, user.headers)
    await world.everything()
    pages = 0
    for op in READ_ALL:
        if op.path in NOT_MADE_BY_THE_WORLD:
            continue
        response = await client.get(op.path, headers=user.headers)
        assert response.status_code == 200, response.text
        if is_page(response.json()):
            pages += 1
            assert response.json()["total"] >= 1, f"{op}: the owner's data is missing"
    assert pages >= 1, "no list route found in " + ", ".join(OPENAPI.get("paths", {}))


def _reference_fields(op: Operation) -> list[tuple[str, str, bool]]:
    """(field, collection, is_list) for each top-level body field naming a resource: client_id, time_entry_ids."""
    schema = variant(op.body_schema or {})
    found = []
    for name in schema.get("properties", {}):
        is_list = name.endswith("_ids")
        collection = collection_for_field(name[:-1] if is_list else name)
        if collection:
            found.append((name, collection, is_list))
    return found


WITH_REFERENCES = [op for op in WITH_BODY if not op.is_public and _reference_fields(op)]


@pytest.mark.parametrize("op", WITH_REFERENCES, ids=ids(WITH_REFERENCES))
async def test_body_reference_to_another_users_resource_is_invalid(client, user, other_user, op):
    """A body naming someone else's client, project or time entry: 400 invalid_reference, before any state rule."""
    theirs, mine = World(client, user.headers), World(client, other_user.headers)
    await theirs.everything()
    await mine.everything()
    values, _ = await mine.path_values(op)
    before = await theirs.snapshot()
    base = sample_body(op) or {}
    for name, collection, _is_list in _reference_fields(op):  # every other reference: the caller's own
        if name in base:
            base[name] = [mine.ids[collection]] if _is_list else mine.ids[collection]
    offenders = []
    for name, collection, is_list in _reference_fields(op):
        body = {**base, name: [theirs.ids[collection]] if is_list else theirs.ids[collection]}
        response = await client.request(op.method, op.url(values), json=body, headers=other_user.headers)
        if response.status_code != 400 or response.json().get("code") != "invalid_reference":
            offenders.append(f"{name}: {response.status_code} {response.text[:300]}")
    assert not offenders, offenders
    assert await theirs.snapshot() == before, "naming the owner's resource changed it"
