"""Review 26: failing tests that demonstrate bugs in section 19 (organisations, members, roles)."""

from __future__ import annotations

from tests.conftest import assert_problem
from tests.faults import fault_fixture  # noqa: F401 (the `fault` fixture)
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


async def test_an_organisation_with_a_send_in_flight_cannot_be_deleted(client, ada, fault):
    """DELETE /api/organization checks only invoices already numbered (`number_slot: seq:*`). A send that
    claimed its draft (status sent, `sending_at`) but has not taken its number yet (a request in flight,
    or one that died: recovery finishes it) passes the check: the organisation is deleted, and the send
    then numbers a legal record in a deleted organisation - or, if it died, recovery's `_owner` asserts
    the organisation exists and fails on every pass forever, leaving the invoice `sent` without a number
    (section 14: 'No invoice stays sent without a number or document')."""
    import pytest

    from app.core.clock import utc_now
    from app.invoices.models import Invoice
    from app.recovery import recover
    from tests.faults import Died
    from tests.invoices.factories import create_invoice

    org = await new_organization(client, ada)
    draft = await create_invoice(client, acting(ada, org))
    fault.arm(1)  # the send dies right after its claim
    with pytest.raises(Died):
        await client.post(f"/api/invoices/{draft['id']}/send", headers=acting(ada, org))
    fault.disarm()
    deleted = await client.delete("/api/organization", headers=acting(ada, org))
    if deleted.status_code == 204:
        await recover(utc_now())
        invoice = await Invoice.get_motor_collection().find_one(
            {"_id": __import__("bson").ObjectId(draft["id"])}
        )
        assert invoice["number"] is not None, "sent, in a deleted organisation, never numbered"
    assert_problem(deleted, 409, "invalid_state")


async def test_invitation_events_are_for_admins_only(client, ada, bob):
    """API.md section 15: `invitation.*` (and `webhook_endpoint.*`) events are visible in the feed and by id
    to admin+ only; others get 404 by id. GET /api/events is open to viewers and filters nothing by role,
    so a viewer reads every invitee's address and role."""
    from tests.organizations.conftest import join

    org = await new_organization(client, ada)
    await join(client, ada, org, bob, "viewer")
    await invite(client, ada, org, "carol@example.com", "admin")
    owner_feed = (await client.get("/api/events", headers=acting(ada, org))).json()["items"]
    [created] = [
        e
        for e in owner_feed
        if e["type"] == "invitation.created" and e["data"]["object"]["email"] == "carol@example.com"
    ]
    viewer_feed = (await client.get("/api/events", headers=acting(bob, org))).json()["items"]
    assert not [e for e in viewer_feed if e["type"].startswith("invitation.")]
    assert_problem(
        await client.get(f"/api/events/{created['id']}", headers=acting(bob, org)), 404, "not_found"
    )


async def test_cors_exposes_and_allows_the_organisation_header(make_app):
    """API.md section 1: CORS exposes `Orbix-Organization` to the page and allows it as a request header;
    app/main.EXPOSED_HEADERS lacks it, so an SPA cannot read which organisation a request acted in."""
    from litestar.testing import AsyncTestClient

    origin = "https://app.example"
    async with AsyncTestClient(app=make_app(cors_origins=(origin,))) as http:
        preflight = await http.options(
            "/api/clients",
            headers={
                "Origin": origin,
                "Access-Control-Request-Method": "GET",
                "Access-Control-Request-Headers": "authorization,orbix-organization",
            },
        )
        assert preflight.status_code in (200, 204), preflight.text
        response = await http.get("/health", headers={"Origin": origin})
        exposed = {h.strip().lower() for h in response.headers["access-control-expose-headers"].split(",")}
        assert "orbix-organization" in exposed


async def test_a_user_with_no_membership_left_can_still_reach_the_routes_of_the_user_alone(client, ada, bob):
    """A personal organisation accepts invitations like any other and an owner may leave while another
    owner stays. Once a user belongs to no organisation (here: Ada leaves her personal one after making
    Bob an owner), middleware._acting raises 404 'You belong to no organization' for *every* route, even
    those declared outside_organization(): she can no longer list or create organisations, accept an
    invitation, log out or change her password."""
    from tests.organizations.conftest import join

    await join(client, ada, ada.id, bob, "owner")  # Ada's personal organisation has her id
    left = await client.delete(f"/api/organization/members/{ada.id}", headers=acting(ada, ada.id))
    assert left.status_code == 204, left.text
    listed = await client.get("/api/organizations", headers=ada.headers)
    assert listed.status_code == 200, listed.text
    created = await client.post("/api/organizations", json={"name": "Fresh start"}, headers=ada.headers)
    assert created.status_code == 201, created.text


async def test_accepting_while_the_organisation_is_deleted_leaves_no_membership_in_it(
    client, ada, bob, monkeypatch
):
    """accept() checks the organisation (exists, not `deleting_at`) once, then claims, then joins. A delete
    that runs in between (mark, remove_everyone, delete the document) finishes before the join, which then
    adds a membership to an organisation that no longer exists and that nothing ever removes: Bob acts in
    the deleted organisation and reads (and writes) its books, which were to stay unreachable."""
    from app.auth import memberships
    from app.organizations import invitations

    org = await new_organization(client, ada)
    seeded = await client.post("/api/clients", json={"name": "Old client"}, headers=acting(ada, org))
    assert seeded.status_code == 201, seeded.text
    created = (await invite(client, ada, org, bob.email, "member")).json()
    token = await token_for(created["id"])
    original = memberships.join

    async def delete_first(*args, **kwargs):
        deleted = await client.delete("/api/organization", headers=acting(ada, org))
        assert deleted.status_code == 204, deleted.text
        return await original(*args, **kwargs)

    monkeypatch.setattr(invitations.memberships, "join", delete_first)
    accepted = await client.post("/api/invitations/accept", json={"token": token}, headers=bob.headers)
    monkeypatch.setattr(invitations.memberships, "join", original)
    books = await client.get("/api/clients", headers=acting(bob, org))
    assert_problem(books, 404, "not_found")
    assert accepted.status_code == 410, accepted.text
