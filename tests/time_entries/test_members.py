"""Time entries per user (API.md section 19): every entry names the user who created it; a `member` sees the
organisation's entries but edits, stops and deletes only their own (403 once the entry is found, before
invalid_reference, If-Match and the state rules); billing and above edit everyone's; one running timer per
user per organisation."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

import pytest

from app.core.roles import Role
from tests.conftest import Account, assert_problem, register
from tests.organizations_helpers import join
from tests.projects.factories import create_project
from tests.time_entries.factories import create_time_entry, mark_invoiced, start_timer

STALE = {"If-Match": '"999-0000000000000000"'}


@dataclass
class Team:
    owner: dict[str, str]
    member: dict[str, str]
    other_member: dict[str, str]
    billing: dict[str, str]
    ids: dict[str, str]
    project: dict[str, Any]


@pytest.fixture
async def team(client: Any, user: Account) -> Team:
    """Ada's organisation (her personal one, whose id is hers) with two members and a billing user."""
    accounts = {name: await register(client, f"{name}@example.com", name) for name in ("bob", "cy", "bill")}
    bob = await join(accounts["bob"], user.id, Role.MEMBER)
    cy = await join(accounts["cy"], user.id, Role.MEMBER)
    bill = await join(accounts["bill"], user.id, Role.BILLING)
    project = await create_project(client, user.headers)
    ids = {"ada": user.id, **{name: account.id for name, account in accounts.items()}}
    return Team(user.headers, bob, cy, bill, ids, project)


async def test_an_entry_names_its_user_and_the_list_filters_by_user(client: Any, team: Team) -> None:
    mine = await create_time_entry(client, team.member, team.project["id"])
    timer = await start_timer(client, team.member, team.project["id"])
    theirs = await create_time_entry(client, team.owner, team.project["id"])
    assert mine["user_id"] == timer["user_id"] == team.ids["bob"]
    assert theirs["user_id"] == team.ids["ada"]

    everyone = await client.get("/api/time-entries", headers=team.member)  # a member sees every entry
    assert {item["id"] for item in everyone.json()["items"]} == {mine["id"], timer["id"], theirs["id"]}
    one = await client.get(f"/api/time-entries/{theirs['id']}", headers=team.member)
    assert one.status_code == 200 and one.json()["user_id"] == team.ids["ada"]
    bobs = await client.get("/api/time-entries", params={"user_id": team.ids["bob"]}, headers=team.owner)
    assert {item["id"] for item in bobs.json()["items"]} == {mine["id"], timer["id"]}
    assert_problem(
        await client.get("/api/time-entries", params={"user_id": "bob"}, headers=team.owner),
        400,
        "validation_error",
    )


async def test_a_member_edits_stops_and_deletes_only_their_own_entries(client: Any, team: Team) -> None:
    theirs = await create_time_entry(client, team.owner, team.project["id"])
    running = await start_timer(client, team.other_member, team.project["id"])
    path = f"/api/time-entries/{theirs['id']}"
    assert_problem(await client.patch(path, json={"description": "x"}, headers=team.member), 403, "forbidden")
    assert_problem(await client.delete(path, headers=team.member), 403, "forbidden")
    stop = f"/api/time-entries/{running['id']}/stop"
    assert_problem(await client.post(stop, headers=team.member), 403, "forbidden")
    assert (await client.get(path, headers=team.owner)).json() == theirs  # nothing changed

    mine = await create_time_entry(client, team.member, team.project["id"])
    patched = await client.patch(
        f"/api/time-entries/{mine['id']}", json={"description": "mine"}, headers=team.member
    )
    assert patched.status_code == 200 and patched.json()["description"] == "mine"
    assert (await client.delete(f"/api/time-entries/{mine['id']}", headers=team.member)).status_code == 204
    assert (await client.post(stop, headers=team.other_member)).status_code == 200


async def test_billing_and_the_owner_edit_everyones_entries(client: Any, team: Team) -> None:
    bobs = await create_time_entry(client, team.member, team.project["id"])
    path = f"/api/time-entries/{bobs['id']}"
    by_billing = await client.patch(path, json={"description": "fixed"}, headers=team.billing)
    assert by_billing.status_code == 200 and by_billing.json()["user_id"] == team.ids["bob"]
    running = await start_timer(client, team.member, team.project["id"])
    assert (
        await client.post(f"/api/time-entries/{running['id']}/stop", headers=team.owner)
    ).status_code == 200
    assert (await client.delete(path, headers=team.owner)).status_code == 204


async def test_forbidden_comes_after_not_found_and_before_reference_precondition_and_state(
    client: Any, team: Team
) -> None:
    theirs = await create_time_entry(client, team.owner, team.project["id"])
    await mark_invoiced(theirs["id"])  # a state rule would refuse it too (409 already_invoiced)
    path = f"/api/time-entries/{theirs['id']}"
    bad_project = {"project_id": "0" * 24}  # invalid_reference
    member_stale = {**team.member, **STALE}
    assert_problem(await client.patch(path, json=bad_project, headers=member_stale), 403, "forbidden")
    assert_problem(await client.delete(path, headers=member_stale), 403, "forbidden")
    assert_problem(await client.post(f"{path}/stop", headers=member_stale), 403, "forbidden")  # not running
    missing = f"/api/time-entries/{'0' * 24}"
    assert_problem(await client.patch(missing, json=bad_project, headers=member_stale), 404, "not_found")
    assert_problem(await client.delete(missing, headers=member_stale), 404, "not_found")
    # The owner passes that rule: the next ones answer as before.
    owner_stale = {**team.owner, **STALE}
    assert_problem(await client.delete(path, headers=owner_stale), 412, "precondition_failed")
    assert_problem(await client.delete(path, headers=team.owner), 409, "already_invoiced")


async def test_two_members_each_run_a_timer_but_one_member_cannot_run_two(client: Any, team: Team) -> None:
    body = {"project_id": team.project["id"]}
    both = await asyncio.gather(
        client.post("/api/time-entries/start", json=body, headers=team.member),
        client.post("/api/time-entries/start", json=body, headers=team.other_member),
        client.post("/api/time-entries/start", json=body, headers=team.owner),
    )
    assert [r.status_code for r in both] == [201, 201, 201], [r.text for r in both]
    assert {r.json()["user_id"] for r in both} == {team.ids["bob"], team.ids["cy"], team.ids["ada"]}

    twice = await asyncio.gather(
        *[client.post("/api/time-entries/start", json=body, headers=team.billing) for _ in range(2)]
    )
    assert sorted(r.status_code for r in twice) == [201, 409]
    assert_problem(next(r for r in twice if r.status_code == 409), 409, "timer_running")
    assert_problem(
        await client.post("/api/time-entries/start", json=body, headers=team.member), 409, "timer_running"
    )
    running = await client.get("/api/time-entries", params={"running": "true"}, headers=team.owner)
    assert running.json()["total"] == 4
