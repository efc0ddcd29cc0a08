"""Concurrent PATCHes on one draft (issue 8, finding 9): a PATCH that loses a race while the invoice stays a
draft retries on the fresh draft; it never answers a state error, and no edit is lost."""

from __future__ import annotations

import asyncio

from app.core.retry import ATTEMPTS
from tests.conftest import assert_problem
from tests.invoices.factories import create_invoice, send_invoice

WRITERS = 15


async def test_racing_patches_on_a_draft_all_succeed_and_none_is_lost(client, auth):
    draft = await create_invoice(client, auth)
    path = f"/api/invoices/{draft['id']}"
    responses = await asyncio.gather(
        *(client.patch(path, json={"notes": f"edit {i}"}, headers=auth) for i in range(WRITERS))
    )
    assert [r.status_code for r in responses] == [200] * WRITERS, [
        r.text for r in responses if r.status_code != 200
    ]
    final = (await client.get(path, headers=auth)).json()
    assert final["status"] == "draft"
    assert final["notes"] in {f"edit {i}" for i in range(WRITERS)}


async def test_racing_line_and_rate_patches_are_all_applied(client, auth):
    """Different fields from different writers: the final draft holds each of them, priced consistently."""
    draft = await create_invoice(client, auth, tax_rate="0")
    path = f"/api/invoices/{draft['id']}"
    lines = [{"description": "Big", "quantity": "10", "unit_price": "100.00"}]
    bodies = [{"lines": lines}, {"tax_rate": "10"}, {"discount_rate": "50"}] + [
        {"notes": f"n{i}"} for i in range(WRITERS)
    ]
    responses = await asyncio.gather(*(client.patch(path, json=body, headers=auth) for body in bodies))
    assert {r.status_code for r in responses} == {200}
    final = (await client.get(path, headers=auth)).json()
    assert (final["subtotal"], final["discount"], final["tax"], final["total"]) == (
        "1000.00",
        "500.00",
        "50.00",
        "550.00",
    )


async def test_a_patch_racing_a_send_gets_the_state_error_only_when_the_draft_was_sent(client, auth):
    draft = await create_invoice(client, auth)
    path = f"/api/invoices/{draft['id']}"
    patched, sent = await asyncio.gather(
        client.patch(path, json={"notes": "late"}, headers=auth), send_invoice(client, auth, draft["id"])
    )
    assert sent["status"] == "sent"
    if patched.status_code != 200:
        assert_problem(patched, 409, "invalid_state")


async def test_more_racing_patches_than_retry_rounds_never_get_a_state_error(client, auth):
    """Past core/retry's ATTEMPTS a loser may give up, but as 409 `conflict` (fetch and retry): the draft is
    still a draft, so `invalid_state` would be a lie."""
    draft = await create_invoice(client, auth)
    path = f"/api/invoices/{draft['id']}"
    responses = await asyncio.gather(
        *(client.patch(path, json={"notes": f"edit {i}"}, headers=auth) for i in range(ATTEMPTS + 10))
    )
    codes = {r.json().get("code") for r in responses if r.status_code != 200}
    assert codes <= {"conflict"}, codes
    assert sum(r.status_code == 200 for r in responses) >= ATTEMPTS
