from __future__ import annotations

import asyncio

from tests.conftest import assert_problem, register
from tests.organizations.conftest import acting, join, new_organization


async def test_list_members_with_roles_and_sorts(client, ada, bob):
    org = await new_organization(client, ada)
    await join(client, ada, org, bob, "member")
    listed = (await client.get("/api/organization/members", headers=acting(bob, org))).json()
    assert [(m["email"], m["role"]) for m in listed["items"]] == [
        ("ada@example.com", "owner"),
        ("bob@example.com", "member"),
    ]
    assert set(listed["items"][0]) == {"user_id", "email", "name", "role", "joined_at"}
    by_name = (await client.get("/api/organization/members?sort=-name", headers=acting(bob, org))).json()
    assert [m["name"] for m in by_name["items"]] == ["Bob Babbage", "Ada Lovelace"]
    by_email = (
        await client.get("/api/organization/members?sort=email&limit=1&offset=1", headers=acting(bob, org))
    ).json()
    assert [m["email"] for m in by_email["items"]] == ["bob@example.com"] and by_email["total"] == 2


async def test_update_member_role_needs_admin_and_owner_for_owners(client, ada, bob):
    org = await new_organization(client, ada)
    carol = await register(client, "carol@example.com", "Carol")
    await join(client, ada, org, bob, "admin")
    await join(client, ada, org, carol, "viewer")
    assert_problem(
        await client.patch(
            f"/api/organization/members/{bob.id}", json={"role": "viewer"}, headers=acting(carol, org)
        ),
        403,
        "forbidden",
    )
    made = await client.patch(
        f"/api/organization/members/{carol.id}", json={"role": "billing"}, headers=acting(bob, org)
    )
    assert made.status_code == 200 and made.json()["role"] == "billing"
    refused = [
        (carol.id, "owner", 403, "forbidden"),  # only an owner makes owners
        (ada.id, "admin", 403, "forbidden"),  # nor demotes them
        (carol.id, "boss", 400, "validation_error"),  # no such role
        ("0" * 24, "viewer", 404, "not_found"),  # no such member
    ]
    for user_id, role, status, code in refused:
        patched = await client.patch(
            f"/api/organization/members/{user_id}", json={"role": role}, headers=acting(bob, org)
        )
        assert_problem(patched, status, code)
    feed = (await client.get("/api/events", headers=acting(ada, org))).json()["items"]
    updated = [e for e in feed if e["type"] == "member.updated"]
    assert [e["data"]["object"]["role"] for e in updated] == ["billing"]
    assert updated[0]["data"]["object"]["user_id"] == carol.id


async def test_last_owner_can_be_neither_demoted_nor_removed(client, ada, bob):
    org = await new_organization(client, ada)
    await join(client, ada, org, bob, "admin")
    assert_problem(
        await client.patch(
            f"/api/organization/members/{ada.id}", json={"role": "admin"}, headers=acting(ada, org)
        ),
        409,
        "invalid_state",
    )
    assert_problem(
        await client.delete(f"/api/organization/members/{ada.id}", headers=acting(ada, org)),
        409,
        "invalid_state",
    )
    promoted = await client.patch(
        f"/api/organization/members/{bob.id}", json={"role": "owner"}, headers=acting(ada, org)
    )
    assert promoted.json()["role"] == "owner"
    left = await client.delete(f"/api/organization/members/{ada.id}", headers=acting(ada, org))
    assert left.status_code == 204


async def test_two_owners_demoting_each_other_at_once_leave_one_owner(client, ada, bob):
    org = await new_organization(client, ada)
    await join(client, ada, org, bob, "owner")
    answers = await asyncio.gather(
        client.patch(f"/api/organization/members/{bob.id}", json={"role": "admin"}, headers=acting(ada, org)),
        client.patch(f"/api/organization/members/{ada.id}", json={"role": "admin"}, headers=acting(bob, org)),
    )
    assert sorted(a.status_code for a in answers) in ([200, 403], [200, 409]), [a.text for a in answers]
    members = (await client.get("/api/organization/members", headers=acting(ada, org))).json()["items"]
    assert [m["role"] for m in members].count("owner") == 1


async def test_two_owners_leaving_at_once_leave_one_owner(client, ada, bob):
    org = await new_organization(client, ada)
    await join(client, ada, org, bob, "owner")
    answers = await asyncio.gather(
        client.delete(f"/api/organization/members/{ada.id}", headers=acting(ada, org)),
        client.delete(f"/api/organization/members/{bob.id}", headers=acting(bob, org)),
    )
    assert sorted(a.status_code for a in answers) == [204, 409]
    remaining = [
        acct
        for acct in (ada, bob)
        if (await client.get("/api/organization", headers=acting(acct, org))).status_code == 200
    ]
    assert len(remaining) == 1


async def test_anyone_may_leave_but_removing_others_needs_admin(client, ada, bob):
    org = await new_organization(client, ada)
    carol = await register(client, "carol@example.com", "Carol")
    await join(client, ada, org, bob, "viewer")
    await join(client, ada, org, carol, "member")
    assert_problem(
        await client.delete(f"/api/organization/members/{carol.id}", headers=acting(bob, org)),
        403,
        "forbidden",
    )
    assert (
        await client.delete(f"/api/organization/members/{bob.id}", headers=acting(bob, org))
    ).status_code == 204
    assert (
        await client.delete(f"/api/organization/members/{carol.id}", headers=acting(ada, org))
    ).status_code == 204
    feed = (await client.get("/api/events", headers=acting(ada, org))).json()["items"]
    assert [e["data"]["object"]["email"] for e in feed if e["type"] == "member.removed"] == [
        "bob@example.com",
        "carol@example.com",
    ]


async def test_removed_member_is_refused_at_once(client, ada, bob):
    org = await new_organization(client, ada)
    await join(client, ada, org, bob, "admin")
    assert (await client.get("/api/organization/members", headers=acting(bob, org))).status_code == 200
    assert (
        await client.delete(f"/api/organization/members/{bob.id}", headers=acting(ada, org))
    ).status_code == 204
    assert_problem(await client.get("/api/organization/members", headers=acting(bob, org)), 404, "not_found")
    assert_problem(
        await client.get(f"/api/organization?organization={org}", headers=bob.headers), 404, "not_found"
    )


async def test_only_an_owner_removes_an_owner(client, ada, bob):
    org = await new_organization(client, ada)
    await join(client, ada, org, bob, "admin")
    assert_problem(
        await client.delete(f"/api/organization/members/{ada.id}", headers=acting(bob, org)), 403, "forbidden"
    )
