from __future__ import annotations

import asyncio
import re

from app.organizations.invitations import token_hash
from app.organizations.models import Invitation
from tests.conftest import assert_problem, register
from tests.organizations.conftest import acting, invite, join, new_organization, token_for


async def test_invitation_is_emailed_with_a_one_time_link(client, mailbox, worker, ada, bob):
    org = await new_organization(client, ada, "Studio")
    created = await invite(client, ada, org, bob.email, "member")
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["status"] == "pending" and body["role"] == "member" and body["email"] == bob.email
    await worker.run_until_idle()
    [message] = mailbox.delivered
    assert message.rcpt_tos == [bob.email]
    text = message.message.get_body().get_content()
    token = re.search(r"http://127\.0\.0\.1:8000/invitations/(\S+)", text).group(1)
    stored = await Invitation.get(body["id"])
    assert stored.token_hash == token_hash(token) and token not in str(stored.model_dump())
    accepted = await client.post("/api/invitations/accept", json={"token": token}, headers=bob.headers)
    assert accepted.status_code == 200, accepted.text
    assert accepted.json()["id"] == org and accepted.json()["role"] == "member"
    me = (await client.get("/api/auth/me", headers=bob.headers)).json()
    assert me["email_verified"] is True
    again = await client.post("/api/invitations/accept", json={"token": token}, headers=bob.headers)
    assert_problem(again, 410, "invitation_invalid")
    feed = (await client.get("/api/events", headers=acting(ada, org))).json()["items"]
    assert [e["type"] for e in feed] == ["invitation.created", "invitation.accepted", "member.added"]


async def test_accept_with_another_address_is_forbidden_and_stays_pending(client, ada, bob):
    org = await new_organization(client, ada)
    created = (await invite(client, ada, org, "someone@example.com", "viewer")).json()
    token = await token_for(created["id"])
    assert_problem(
        await client.post("/api/invitations/accept", json={"token": token}, headers=bob.headers),
        403,
        "forbidden",
    )
    listed = (await client.get("/api/organization/invitations", headers=acting(ada, org))).json()["items"]
    assert [i["status"] for i in listed] == ["pending"]


async def test_revoked_or_expired_invitation_is_invalid(client, ada, bob):
    org = await new_organization(client, ada)
    created = (await invite(client, ada, org, bob.email, "viewer")).json()
    assert (
        await client.delete(f"/api/organization/invitations/{created['id']}", headers=acting(ada, org))
    ).status_code == 204
    token = await token_for(created["id"])
    assert_problem(
        await client.post("/api/invitations/accept", json={"token": token}, headers=bob.headers),
        410,
        "invitation_invalid",
    )
    assert_problem(
        await client.delete(f"/api/organization/invitations/{created['id']}", headers=acting(ada, org)),
        409,
        "invalid_state",
    )
    expiring = (await invite(client, ada, org, bob.email, "viewer")).json()
    await Invitation.get_motor_collection().update_one(
        {"_id": Invitation.model_fields and __import__("bson").ObjectId(expiring["id"])},
        {"$set": {"expires_at": __import__("datetime").datetime(2020, 1, 1)}},
    )
    token = await token_for(expiring["id"])
    assert_problem(
        await client.post("/api/invitations/accept", json={"token": token}, headers=bob.headers),
        410,
        "invitation_invalid",
    )
    assert_problem(
        await client.post("/api/invitations/accept", json={"token": "nonsense"}, headers=bob.headers),
        410,
        "invitation_invalid",
    )


async def test_two_accepts_at_once_one_wins(client, ada, bob):
    org = await new_organization(client, ada)
    created = (await invite(client, ada, org, bob.email, "member")).json()
    token = await token_for(created["id"])
    answers = await asyncio.gather(
        *(
            client.post("/api/invitations/accept", json={"token": token}, headers=bob.headers)
            for _ in range(2)
        )
    )
    assert sorted(a.status_code for a in answers) == [200, 410]
    members = (await client.get("/api/organization/members", headers=acting(ada, org))).json()
    assert members["total"] == 2


async def test_invitation_rules(client, ada, bob):
    org = await new_organization(client, ada)
    carol = await register(client, "carol@example.com", "Carol")
    await join(client, ada, org, bob, "admin")
    assert_problem(await invite(client, bob, org, carol.email, "owner"), 403, "forbidden")
    assert_problem(await invite(client, bob, org, ada.email, "viewer"), 409, "conflict")
    assert_problem(await invite(client, bob, org, bob.email, "viewer"), 400, "validation_error")
    assert_problem(await invite(client, bob, org, carol.email, "chief"), 400, "validation_error")
    await join(client, bob, org, carol, "viewer")
    assert_problem(await invite(client, carol, org, "x@example.com", "viewer"), 403, "forbidden")
    assert_problem(
        await client.get("/api/organization/invitations", headers=acting(carol, org)), 403, "forbidden"
    )
    assert (await invite(client, ada, org, "dan@example.com", "owner")).status_code == 201
