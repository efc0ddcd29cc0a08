"""Versions, ETags and If-Match / If-None-Match over HTTP (API.md §18)."""

from __future__ import annotations

import asyncio
import re
from typing import Any

import pytest
from bson import ObjectId

from app.clients.models import Client
from app.http.versioning import etag, expected_versions, none_match
from tests.clients.factories import create_client
from tests.conftest import assert_problem
from tests.invoices.factories import create_invoice, create_sent_invoice
from tests.security.world import World

TAG = re.compile(r'^"(\d+)-[0-9a-f]{16}"$')


def version_of(response: Any) -> int:
    found = TAG.match(response.headers["etag"])
    assert found, response.headers.get("etag")
    return int(found.group(1))


def matching(auth: dict[str, str], tag: str) -> dict[str, str]:
    return {**auth, "If-Match": tag}


async def test_single_resources_carry_an_etag_and_lists_do_not(client, auth):
    made = await client.post("/api/clients", json={"name": "Acme"}, headers=auth)
    assert version_of(made) == 0
    read = await client.get(f"/api/clients/{made.json()['id']}", headers=auth)
    assert read.headers["etag"] == made.headers["etag"]
    assert "etag" not in (await client.get("/api/clients", headers=auth)).headers
    assert version_of(await client.get("/api/auth/me", headers=auth)) == 0


async def test_every_write_bumps_the_version(client, auth):
    invoice = await create_invoice(client, auth)
    url = f"/api/invoices/{invoice['id']}"
    assert version_of(await client.get(url, headers=auth)) == 0
    assert version_of(await client.patch(url, json={"notes": "a"}, headers=auth)) == 1
    sent = await client.post(f"{url}/send", headers=auth)
    assert version_of(sent) > 1
    paid = await client.post(f"{url}/payments", json={"amount": "10"}, headers=auth)
    assert version_of(paid) == version_of(sent) + 1
    assert (await client.get(url, headers=auth)).headers["etag"] == paid.headers["etag"]


async def test_if_none_match_answers_304_while_the_tag_is_current(client, auth):
    made = await client.post("/api/clients", json={"name": "Acme"}, headers=auth)
    url = f"/api/clients/{made.json()['id']}"
    fresh = await client.get(url, headers={**auth, "If-None-Match": made.headers["etag"]})
    assert fresh.status_code == 304 and fresh.content == b"" and fresh.headers["etag"] == made.headers["etag"]
    await client.patch(url, json={"name": "Globex"}, headers=auth)
    stale = await client.get(url, headers={**auth, "If-None-Match": made.headers["etag"]})
    assert stale.status_code == 200 and stale.json()["name"] == "Globex"


async def test_a_stale_if_match_is_412_and_writes_nothing(client, auth):
    made = await client.post("/api/clients", json={"name": "Acme"}, headers=auth)
    url, first_tag = f"/api/clients/{made.json()['id']}", made.headers["etag"]
    assert (await client.patch(url, json={"name": "B"}, headers=matching(auth, first_tag))).status_code == 200
    assert_problem(
        await client.patch(url, json={"name": "C"}, headers=matching(auth, first_tag)),
        412,
        "precondition_failed",
    )
    assert_problem(await client.delete(url, headers=matching(auth, first_tag)), 412, "precondition_failed")
    after = await client.get(url, headers=auth)
    assert after.json()["name"] == "B" and version_of(after) == 1
    assert (await client.delete(url, headers=matching(auth, after.headers["etag"]))).status_code == 204


@pytest.mark.parametrize(
    ("collection", "field"),
    [("invoices", "notes"), ("clients", "name"), ("contracts", "title"), ("resumes", "title")],
)
async def test_two_patches_with_one_if_match_one_wins(client, auth, collection, field):
    made = await World(client, auth).id(collection)
    url = f"/api/{collection}/{made}"
    tag = (await client.get(url, headers=auth)).headers["etag"]
    answers = await asyncio.gather(
        client.patch(url, json={field: "first"}, headers=matching(auth, tag)),
        client.patch(url, json={field: "second"}, headers=matching(auth, tag)),
    )
    assert sorted(a.status_code for a in answers) == [200, 412], [a.text for a in answers]
    winner = next(a for a in answers if a.status_code == 200).json()
    stored = await client.get(url, headers=auth)
    assert stored.json()[field] == winner[field] and version_of(stored) == 1


async def test_a_send_with_a_stale_if_match_takes_no_number(client, auth):
    draft = await create_invoice(client, auth)
    url = f"/api/invoices/{draft['id']}"
    old = (await client.get(url, headers=auth)).headers["etag"]
    await client.patch(url, json={"notes": "changed"}, headers=auth)
    assert_problem(await client.post(f"{url}/send", headers=matching(auth, old)), 412, "precondition_failed")
    assert (await client.get(url, headers=auth)).json()["status"] == "draft"
    assert (await create_sent_invoice(client, auth))["number"] == "INV-0001"


async def test_if_match_is_checked_before_state_rules_and_guards_payments(client, auth):
    invoice = await create_sent_invoice(client, auth)
    url = f"/api/invoices/{invoice['id']}"
    old = (await client.get(url, headers=auth)).headers["etag"]
    await client.post(f"{url}/payments", json={"amount": "10"}, headers=auth)
    # editing a sent invoice is 409, but the stale precondition answers first
    assert_problem(
        await client.patch(url, json={"notes": "x"}, headers=matching(auth, old)), 412, "precondition_failed"
    )
    stale_payment = await client.post(f"{url}/payments", json={"amount": "10"}, headers=matching(auth, old))
    assert_problem(stale_payment, 412, "precondition_failed")
    current = (await client.get(url, headers=auth)).headers["etag"]
    ok = await client.post(f"{url}/payments", json={"amount": "10"}, headers=matching(auth, current))
    assert ok.status_code == 201 and len(ok.json()["payments"]) == 2


async def test_if_match_accepts_star_and_lists_and_refuses_weak_or_garbage_tags(client, auth):
    made = await client.post("/api/clients", json={"name": "Acme"}, headers=auth)
    url, tag = f"/api/clients/{made.json()['id']}", made.headers["etag"]
    assert (await client.patch(url, json={"name": "B"}, headers=matching(auth, "*"))).status_code == 200
    current = (await client.get(url, headers=auth)).headers["etag"]
    listed = f"{tag}, {current}"
    assert (await client.patch(url, json={"name": "C"}, headers=matching(auth, listed))).status_code == 200
    for bad in (f"W/{tag}", "garbage", '"x-1"'):
        assert_problem(
            await client.patch(url, json={"name": "D"}, headers=matching(auth, bad)),
            412,
            "precondition_failed",
        )


async def test_a_refused_delete_tombstone_is_not_a_version(client, auth):
    made = await create_client(client, auth)
    await client.post("/api/projects", json={"client_id": made["id"], "name": "Site"}, headers=auth)
    url = f"/api/clients/{made['id']}"
    tag = (await client.get(url, headers=auth)).headers["etag"]
    assert_problem(await client.delete(url, headers=matching(auth, tag)), 409, "in_use")
    assert (await client.get(url, headers=auth)).headers["etag"] == tag


async def test_a_document_stored_before_versions_reads_as_version_0(client, auth, user):
    collection = Client.get_motor_collection()
    made = await create_client(client, auth)
    await collection.update_one({"_id": ObjectId(made["id"])}, {"$unset": {"version": ""}})
    assert "version" not in await collection.find_one({"_id": ObjectId(made["id"])})
    url = f"/api/clients/{made['id']}"
    read = await client.get(url, headers=auth)
    assert version_of(read) == 0
    patched = await client.patch(url, json={"name": "B"}, headers=matching(auth, read.headers["etag"]))
    assert patched.status_code == 200 and version_of(patched) == 1


async def test_the_caller_can_guard_their_own_profile(client, auth):
    me = await client.get("/api/auth/me", headers=auth)
    changed = await client.patch(
        "/api/auth/me", json={"name": "Ada"}, headers=matching(auth, me.headers["etag"])
    )
    assert changed.status_code == 200 and version_of(changed) == 1
    stale = await client.patch(
        "/api/auth/me", json={"name": "Eve"}, headers=matching(auth, me.headers["etag"])
    )
    assert_problem(stale, 412, "precondition_failed")
    assert (await client.get("/api/auth/me", headers=auth)).json()["name"] == "Ada"


async def test_derived_fields_change_the_tag_without_a_write(client, auth):
    """tracked_seconds moves when a time entry is added: the project's tag moves with it, its version does not."""
    made = await create_client(client, auth)
    project = await client.post("/api/projects", json={"client_id": made["id"], "name": "Site"}, headers=auth)
    url = f"/api/projects/{project.json()['id']}"
    before = await client.get(url, headers=auth)
    entry = {
        "project_id": project.json()["id"],
        "started_at": "2026-03-02T09:00:00Z",
        "ended_at": "2026-03-02T10:00:00Z",
    }
    assert (await client.post("/api/time-entries", json=entry, headers=auth)).status_code == 201
    after = await client.get(url, headers={**auth, "If-None-Match": before.headers["etag"]})
    assert after.status_code == 200 and version_of(after) == version_of(before) == 0
    assert after.headers["etag"] != before.headers["etag"]


def test_tags_and_their_comparisons():
    assert etag(3, {"is_overdue": True}) != etag(3, {"is_overdue": False})
    assert expected_versions('"3-abc", W/"4-def", "5"') == frozenset({3, 5})
    assert expected_versions("*") is None and expected_versions("nonsense") == frozenset()
    assert (
        none_match('W/"3-abc"', '"3-abc"') and none_match("*", '"1-x"') and not none_match('"2-a"', '"3-a"')
    )


def test_the_openapi_document_declares_the_headers_and_their_answers():
    from tests.security.route_table import OPERATIONS
    from tests.security.test_preconditions import UNVERSIONED

    def headers(op: Any) -> set[str]:
        return {p["name"] for p in op.spec.get("parameters", []) if p["in"] == "header"}

    guarded = [
        op
        for op in OPERATIONS
        if op.method in ("PATCH", "DELETE", "POST") and op.path_params and str(op) not in UNVERSIONED
    ]
    reads = [op for op in OPERATIONS if op.method == "GET" and op.path_params]
    assert guarded and reads
    for op in guarded:
        assert "If-Match" in headers(op) and "412" in op.spec["responses"], op
    for op in reads:
        assert "If-None-Match" in headers(op) and "304" in op.spec["responses"], op
    me = {str(op): op for op in OPERATIONS}
    assert "If-Match" in headers(me["PATCH /api/auth/me"]) and "If-None-Match" in headers(
        me["GET /api/auth/me"]
    )
    for op in OPERATIONS:
        if not op.path_params and op.method == "GET" and op.path not in ("/api/auth/me", "/api/organization"):
            assert "If-None-Match" not in headers(op), op  # lists are unaffected
