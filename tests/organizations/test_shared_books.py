"""One set of books for several people (API.md section 19): numbers, reports and the feed are the
organisation's, whoever acts; two members sending at once still get one gap-free sequence."""

from __future__ import annotations

import asyncio

from app.core.roles import Role
from tests.conftest import assert_problem, register
from tests.invoices.factories import create_invoice, send_invoice
from tests.organizations_helpers import join


async def _agency(client, owner) -> str:
    made = await client.post("/api/organizations", json={"name": "Agency"}, headers=owner.headers)
    assert made.status_code == 201, made.text
    return made.json()["id"]


async def test_two_members_sending_at_once_share_one_gap_free_sequence(client, user):
    agency = await _agency(client, user)
    ada = {**user.headers, "Orbix-Organization": agency}
    bob = await join(await register(client, "bob@example.com", "Bob"), agency, Role.BILLING)
    drafts = [await create_invoice(client, ada if i % 2 else bob) for i in range(20)]
    sent = await asyncio.gather(
        *(send_invoice(client, ada if i % 2 else bob, draft["id"]) for i, draft in enumerate(drafts))
    )
    assert sorted(invoice["number"] for invoice in sent) == [f"INV-{n:04d}" for n in range(1, 21)]
    # the books are the agency's: each member sees all twenty, and their personal books none of them
    for headers in (ada, bob):
        listed = await client.get("/api/invoices", params={"limit": 100}, headers=headers)
        assert listed.json()["total"] == 20
    personal = await client.get("/api/invoices", headers=user.headers)
    assert personal.json()["total"] == 0
    summary = await client.get("/api/reports/summary", headers=bob)
    assert (
        summary.status_code == 200
        and summary.json() != (await client.get("/api/reports/summary", headers=user.headers)).json()
    )


async def test_the_business_profile_through_me_is_the_organisations_and_only_admins_write_it(client, user):
    agency = await _agency(client, user)
    owner = {**user.headers, "Orbix-Organization": agency}
    changed = await client.patch("/api/auth/me", json={"business": {"invoice_prefix": "AG-"}}, headers=owner)
    assert changed.status_code == 200 and changed.json()["business"]["invoice_prefix"] == "AG-"
    personal = await client.get("/api/auth/me", headers=user.headers)
    assert personal.json()["business"]["invoice_prefix"] == "INV-"  # another organisation's profile
    for role in (Role.VIEWER, Role.MEMBER, Role.BILLING):
        someone = await register(client, f"{role.value}@example.com", role.value)
        headers = await join(someone, agency, role)
        refused = await client.patch(
            "/api/auth/me", json={"name": "New", "business": {"invoice_prefix": "X-"}}, headers=headers
        )
        assert_problem(refused, 403, "forbidden")
        me = await client.get("/api/auth/me", headers=headers)
        assert (
            me.json()["name"] == role.value and me.json()["business"]["invoice_prefix"] == "AG-"
        )  # nothing written
        renamed = await client.patch("/api/auth/me", json={"name": "Renamed"}, headers=headers)
        assert renamed.status_code == 200 and renamed.json()["name"] == "Renamed"


async def test_the_default_organisation_is_where_requests_act_without_a_header(client, user):
    agency = await _agency(client, user)
    moved = await client.patch("/api/auth/me", json={"default_organization_id": agency}, headers=user.headers)
    assert moved.status_code == 200 and moved.json()["default_organization_id"] == agency
    me = await client.get("/api/auth/me", headers=user.headers)
    assert me.headers["orbix-organization"] == agency
    stranger = await register(client, "eve@example.com", "Eve")
    refused = await client.patch(
        "/api/auth/me", json={"default_organization_id": stranger.id}, headers=user.headers
    )
    assert_problem(refused, 400, "invalid_reference")
    for bad in ("not-an-id", "0" * 24):
        assert_problem(
            await client.patch("/api/auth/me", json={"default_organization_id": bad}, headers=user.headers),
            400,
            "invalid_reference",
        )
