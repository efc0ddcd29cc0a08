"""If-Match, generated from the route table: every write of one resource honours it, and a stale one is 412
with nothing written (docs/api-conventions.md). A handler honours it by taking the `expected` dependency,
which the OpenAPI document then declares; so a route added without it fails here."""

from __future__ import annotations

import pytest

from tests.conftest import assert_problem
from tests.security.route_table import OPERATIONS, Operation, ids, sample_body
from tests.security.world import World

STALE = '"999999-0000000000000000"'


# Resources without an id in their path: the caller's own profile, the organisation the request acts in.
SINGLETONS = {"PATCH /api/auth/me", "PATCH /api/organization", "DELETE /api/organization"}
# Writes of something that has no version of its own, each with why.
UNVERSIONED = {
    "PATCH /api/organization/members/{user_id}": "a membership is an entry of a user document, shown only in "
    "a list (no ETag to send back); concurrent owner changes are serialised by the owner lock",
    "DELETE /api/organization/members/{user_id}": "the same membership",
    "DELETE /api/auth/sessions/{session_id}": "ending a session takes it off its user's live list; a session "
    "has nothing that changes, so no version to compare",
}


def _writes_one_resource(op: Operation) -> bool:
    """PATCH and DELETE of a resource, and the state actions on one (POST under its id)."""
    if str(op) in SINGLETONS:
        return True
    return bool(op.path_params) and op.method in ("PATCH", "DELETE", "POST") and str(op) not in UNVERSIONED


def _honours_if_match(op: Operation) -> bool:
    return any(p.get("in") == "header" and p["name"] == "If-Match" for p in op.spec.get("parameters", []))


WRITES = [op for op in OPERATIONS if _writes_one_resource(op)]


def test_exactly_the_writes_of_one_resource_declare_if_match():
    assert WRITES, "no write of one resource found: the route table was not read"
    missing = [str(op) for op in WRITES if not _honours_if_match(op)]
    assert not missing, f"these writes ignore If-Match (take the `expected` dependency): {missing}"
    extra = [str(op) for op in OPERATIONS if _honours_if_match(op) and not _writes_one_resource(op)]
    assert not extra, f"these routes declare If-Match but write no one resource: {extra}"


@pytest.mark.parametrize("op", WRITES, ids=ids(WRITES))
async def test_a_stale_if_match_is_412_and_writes_nothing_on_every_write(client, user, op):
    world = World(client, user.headers)
    await world.everything()
    values, all_real = await world.path_values(op)
    before = await world.snapshot()
    me = (await client.get("/api/auth/me", headers=user.headers)).json()

    response = await client.request(
        op.method, op.url(values), json=sample_body(op), headers={**user.headers, "If-Match": STALE}
    )

    if all_real:
        assert_problem(response, 412, "precondition_failed")
    else:  # a nested id this suite cannot create: the outer resource's miss answers first
        assert_problem(response, 404, "not_found")
    assert await world.snapshot() == before, "a stale If-Match let the write through"
    assert (await client.get("/api/auth/me", headers=user.headers)).json() == me
