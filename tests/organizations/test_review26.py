"""Review 26: failing tests that demonstrate bugs in section 19 (organisations, members, roles)."""

from __future__ import annotations

from tests.conftest import assert_problem
from tests.organizations.conftest import acting, invite, new_organization, token_for


async def test_removed_member_cannot_rejoin_with_their_used_invitation_token(client, ada, bob):
    """The token is single use and removing a member ends their access (API.md section 19). accept()
    treats any 'accepted by this caller' invitation as a crash to resume and skips the status and
    expiry checks, so a removed member re-adds themselves with the old token."""
    org = await new_organization(client, ada)
    created = (await invite(client, ada, org, bob.email, "admin")).json()
    token = await token_for(created["id"])
    accepted = await client.post("/api/invitations/accept", json={"token": token}, headers=bob.headers)
    assert accepted.status_code == 200, accepted.text
    removed = await client.delete(f"/api/organization/members/{bob.id}", headers=acting(ada, org))
    assert removed.status_code == 204, removed.text
    assert_problem(await client.get("/api/clients", headers=acting(bob, org)), 404, "not_found")
    again = await client.post("/api/invitations/accept", json={"token": token}, headers=bob.headers)
    assert_problem(again, 410, "invitation_invalid")
    assert_problem(await client.get("/api/clients", headers=acting(bob, org)), 404, "not_found")
