"""MongoDB operator injection: in a body an operator object is a 400; in a query string it is plain data."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import assert_problem
from tests.security.route_table import (
    WITH_BODY,
    WITH_QUERY,
    Operation,
    body_with,
    containers,
    field_name,
    ids,
    is_freeform,
    is_string,
    leaves,
    new_id,
)
from tests.security.world import World, shows_any_of

OPERATOR_VALUES: list[Any] = [{"$gt": ""}, {"$ne": None}, {"$where": "1"}, {"a.b": 1}]
OPERATOR_KEYS = ["$where", "a.b", "owner_id"]


def _url(op: Operation) -> str:
    return op.url({param: new_id() for param in op.path_params})


@pytest.mark.parametrize("op", WITH_BODY, ids=ids(WITH_BODY))
async def test_operator_object_in_any_field_is_rejected(client, user, op):
    """Every field of every body (strings, and numbers, dates and booleans too), nested ones included
    (address.city, lines[0].description): 400 validation_error naming that field."""
    url, offenders = _url(op), []
    fields = [(path, schema) for path, schema in leaves(op.body_schema) if path]
    assert any(is_string(schema) for _, schema in fields), f"{op}: no string field found in its schema"
    for path, schema in fields:
        for value in OPERATOR_VALUES:
            response = await client.request(
                op.method, url, json=body_with(op, path, value), headers=user.headers
            )
            if is_freeform(schema):  # a free-form object's keys are data: stored, never interpreted
                if response.status_code >= 500:
                    offenders.append(f"{field_name(path)}={value}: {response.status_code}")
                continue
            body = response.json()
            named = [e["field"] for e in body.get("errors", [])]
            if (
                response.status_code != 400
                or body.get("code") != "validation_error"
                or field_name(path) not in named
            ):
                offenders.append(f"{field_name(path)}={value}: {response.status_code} {body}")
    assert not offenders, offenders


@pytest.mark.parametrize("op", WITH_BODY, ids=ids(WITH_BODY))
async def test_operator_or_dotted_key_in_a_body_object_is_rejected(client, user, op):
    """`{"$where": ...}` or `{"a.b": ...}` as a key, at the top level and in every nested object."""
    url, offenders = _url(op), []
    for path in containers(op.body_schema):
        for key in OPERATOR_KEYS:
            body = body_with(op, (*path, key), 1)
            response = await client.request(op.method, url, json=body, headers=user.headers)
            answer = response.json()
            named = [e["field"] for e in answer.get("errors", [])]
            if (
                response.status_code != 400
                or answer.get("code") != "validation_error"
                or not any(key in field for field in named)
            ):
                offenders.append(f"{field_name((*path, key))}: {response.status_code} {answer}")
    assert not offenders, offenders


async def test_login_with_operators_is_rejected_without_a_token(client, user):
    response = await client.post("/api/auth/login", json={"email": {"$gt": ""}, "password": {"$gt": ""}})
    body = assert_problem(response, 400, "validation_error")
    assert "access_token" not in response.text
    assert "email" in [e["field"] for e in body["errors"]]
    for body in (
        {"email": user.email, "password": {"$ne": None}},
        {"email": {"$regex": ".*"}, "password": "x" * 8},
    ):
        response = await client.post("/api/auth/login", json=body)
        assert_problem(response, 400, "validation_error")
        assert "access_token" not in response.text


QUERY_VALUES = ["$where", '{"$gt": ""}', ".*"]


def _query_attacks(op: Operation) -> list[list[tuple[str, str]]]:
    attacks: list[list[tuple[str, str]]] = [[("$where", "1")], [("$or", "[]")]]
    for param in op.query_params:
        name = param["name"]
        attacks += [[(name, value)] for value in QUERY_VALUES]
        attacks += [[(f"{name}[$ne]", "x")], [(f"{name}[$gt]", "")]]
        attacks += [[(name, "x"), (name, "$ne")]]  # a repeated parameter
    return attacks


@pytest.mark.parametrize("op", WITH_QUERY, ids=ids(WITH_QUERY))
async def test_operator_strings_in_query_parameters_are_data(client, user, other_user, op):
    """As another user with the owner's data in place: never a 500, never the owner's data."""
    world = World(client, user.headers)
    await world.everything()
    owners = {user.id, *world.ids.values()}
    values = {param: new_id() for param in op.path_params}
    offenders = []
    for params in _query_attacks(op):
        for who in (other_user, user):
            response = await client.get(op.url(values), params=params, headers=who.headers)
            if response.status_code >= 500:
                offenders.append(f"{params} as {who.email}: {response.status_code}")
            elif who is other_user and response.status_code == 200 and shows_any_of(response.json(), owners):
                offenders.append(f"{params}: the owner's data leaked {response.json()}")
    assert not offenders, offenders
