"""API keys (API.md section 20): made, listed, read and revoked by admins; the key shown once and stored as
its SHA-256 only; a key authenticates in one store operation, acts in its own organisation, and its usage is
counted without a write per request."""

from __future__ import annotations

import hashlib
import re
from datetime import UTC, datetime, timedelta

import pytest
from bson import ObjectId

from app.api_keys.models import ApiKey
from app.http.tenancy import ORGANIZATION_HEADER
from scripts import store_ops
from tests.api_keys.keys import KEYS, bearer, make_key
from tests.clients.factories import create_client
from tests.conftest import assert_problem
from tests.projects.factories import create_project


async def _stored(key_id: str) -> dict:
    raw = await ApiKey.get_motor_collection().find_one({"_id": ObjectId(key_id)})
    assert raw is not None
    return raw


# ---------------------------------------------------------------- create, list, get, revoke


async def test_create_shows_the_key_once_and_stores_only_its_hash(client, user):
    created = await make_key(client, user.headers, ["clients:read", "invoices:write"])
    key = created["key"]
    assert re.fullmatch(r"orbix_sk_[A-Za-z0-9_-]{32}", key)
    assert created["prefix"] == key[:12]
    assert created["scopes"] == ["clients:read", "invoices:write"]
    assert created["created_by"] == {"type": "user", "id": user.id}
    assert (created["last_used_at"], created["usage_count"], created["expires_at"]) == (None, 0, None)
    raw = await _stored(created["id"])
    assert raw["key_hash"] == hashlib.sha256(key.encode()).hexdigest()
    assert key not in str(raw) and raw["owner_id"] == ObjectId(user.id)
    shown = await client.get(f"{KEYS}/{created['id']}", headers=user.headers)
    listed = await client.get(KEYS, headers=user.headers)
    assert shown.status_code == 200 and "key" not in shown.json() and key not in shown.text
    assert listed.json()["total"] == 1 and key not in listed.text
    assert {k: v for k, v in created.items() if k != "key"} == shown.json() == listed.json()["items"][0]


async def test_the_create_answers_with_the_location_of_the_key(client, user):
    response = await client.post(KEYS, json={"name": "CI", "scopes": ["*"]}, headers=user.headers)
    assert response.headers["location"] == f"{KEYS}/{response.json()['id']}"


@pytest.mark.parametrize(
    "scopes",
    [["clients:admin"], ["payments:read"], ["*", "clients:read"], [], ["CLIENTS:READ"], ["members:read"]],
)
async def test_an_unknown_scope_is_400(client, user, scopes):
    response = await client.post(KEYS, json={"name": "CI", "scopes": scopes}, headers=user.headers)
    assert_problem(response, 400, "validation_error")


async def test_an_expiry_in_the_past_is_400(client, user):
    past = (datetime.now(UTC) - timedelta(minutes=1)).isoformat()
    response = await client.post(
        KEYS, json={"name": "CI", "scopes": ["*"], "expires_at": past}, headers=user.headers
    )
    assert_problem(response, 400, "validation_error")


async def test_lists_sort_by_name_and_created_at(client, user):
    for name in ("b", "a", "c"):
        await client.post(KEYS, json={"name": name, "scopes": ["*"]}, headers=user.headers)
    by_name = await client.get(KEYS, params={"sort": "name"}, headers=user.headers)
    assert [item["name"] for item in by_name.json()["items"]] == ["a", "b", "c"]
    newest = await client.get(KEYS, params={"sort": "-created_at"}, headers=user.headers)
    assert [item["name"] for item in newest.json()["items"]] == ["c", "a", "b"]
    assert_problem(
        await client.get(KEYS, params={"sort": "prefix"}, headers=user.headers), 400, "validation_error"
    )


async def test_revoke_ends_the_key_at_once(client, user):
    created = await make_key(client, user.headers, ["clients:read"])
    assert (await client.get("/api/clients", headers=bearer(created["key"]))).status_code == 200
    revoked = await client.delete(f"{KEYS}/{created['id']}", headers=user.headers)
    assert revoked.status_code == 204
    assert_problem(await client.get("/api/clients", headers=bearer(created["key"])), 401, "unauthorized")
    assert_problem(await client.get(f"{KEYS}/{created['id']}", headers=user.headers), 404, "not_found")
    assert_problem(await client.delete(f"{KEYS}/{created['id']}", headers=user.headers), 404, "not_found")


async def test_another_organisations_key_is_not_found(client, user, other_user):
    theirs = await make_key(client, other_user.headers, ["*"])
    for method in ("GET", "DELETE"):
        response = await client.request(method, f"{KEYS}/{theirs['id']}", headers=user.headers)
        assert_problem(response, 404, "not_found")
    assert (await client.get(KEYS, headers=user.headers)).json()["total"] == 0
    assert (await client.get("/api/clients", headers=bearer(theirs["key"]))).status_code == 200


# ---------------------------------------------------------------- authenticating with a key


async def test_a_key_acts_in_its_organisation_and_records_itself_as_the_actor(client, user):
    created = await make_key(client, user.headers, ["clients:write", "projects:write", "time_entries:write"])
    key = bearer(created["key"])
    made = await client.post("/api/clients", json={"name": "Acme"}, headers=key)
    assert made.status_code == 201, made.text
    assert made.headers[ORGANIZATION_HEADER] == user.id
    raw = (
        await ApiKey.get_motor_collection().database["clients"].find_one({"_id": ObjectId(made.json()["id"])})
    )
    assert raw["created_by"] == {"type": "api_key", "id": ObjectId(created["id"])}
    # The owner sees what the key made, and the event names the key.
    listed = await client.get("/api/clients", headers=user.headers)
    assert [item["name"] for item in listed.json()["items"]] == ["Acme"]
    events = await client.get("/api/events", headers=user.headers)
    assert events.json()["items"][0]["actor"] == {"type": "api_key", "id": created["id"]}


async def test_a_keys_time_entry_has_no_user_and_a_key_cannot_start_a_timer(client, user):
    project = await create_project(client, user.headers)
    key = bearer((await make_key(client, user.headers, ["*"]))["key"])
    entry = await client.post(
        "/api/time-entries",
        json={
            "project_id": project["id"],
            "started_at": "2026-03-02T09:00:00Z",
            "ended_at": "2026-03-02T10:00:00Z",
        },
        headers=key,
    )
    assert entry.status_code == 201, entry.text
    assert entry.json()["user_id"] is None
    timer = await client.post("/api/time-entries/start", json={"project_id": project["id"]}, headers=key)
    assert_problem(timer, 403, "insufficient_scope")


async def test_unknown_malformed_expired_and_revoked_keys_are_401(client, user):
    created = await make_key(client, user.headers, ["*"])
    expiring = await make_key(
        client, user.headers, ["*"], expires_at=(datetime.now(UTC) + timedelta(hours=1)).isoformat()
    )
    assert (await client.get("/api/clients", headers=bearer(expiring["key"]))).status_code == 200
    await ApiKey.get_motor_collection().update_one(
        {"_id": ObjectId(expiring["id"])}, {"$set": {"expires_at": datetime.now(UTC) - timedelta(seconds=1)}}
    )
    await client.delete(f"{KEYS}/{created['id']}", headers=user.headers)
    for key in (
        created["key"],  # revoked
        expiring["key"],  # expired
        "orbix_sk_" + "A" * 32,  # unknown
        "orbix_sk_short",  # malformed
        created["key"] + "x",
        "orbix_sk_" + "!" * 32,
    ):
        assert_problem(await client.get("/api/clients", headers=bearer(key)), 401, "unauthorized")


async def test_a_key_naming_another_organisation_is_404(client, user, other_user):
    key = (await make_key(client, user.headers, ["*"]))["key"]
    for named in (other_user.id, str(ObjectId()), "not-an-id"):
        assert_problem(await client.get("/api/clients", headers=bearer(key, named)), 404, "not_found")
    own = await client.get("/api/clients", headers=bearer(key, user.id))
    assert own.status_code == 200 and own.headers[ORGANIZATION_HEADER] == user.id


async def test_a_key_in_the_query_string_is_refused(client, user):
    key = (await make_key(client, user.headers, ["*"]))["key"]
    for params, headers in (({"api_key": key}, {}), ({"access_token": key}, bearer(key))):
        response = await client.get("/api/clients", params=params, headers=headers)
        assert_problem(response, 401, "unauthorized")


async def test_keys_never_manage_keys_members_or_invitations(client, user):
    key = bearer((await make_key(client, user.headers, ["*"]))["key"])
    for method, path, body in (
        ("GET", KEYS, None),
        ("POST", KEYS, {"name": "more", "scopes": ["*"]}),
        ("GET", "/api/organization/members", None),
        ("DELETE", f"/api/organization/members/{user.id}", None),
        ("GET", "/api/organization/invitations", None),
        ("POST", "/api/organization/invitations", {"email": "a@example.com", "role": "admin"}),
        ("DELETE", "/api/organization", None),
        ("GET", "/api/auth/me", None),
        ("GET", "/api/organizations", None),
        ("POST", "/api/invitations/accept", {"token": "x"}),
    ):
        response = await client.request(method, path, json=body, headers=key)
        assert_problem(response, 403, "insufficient_scope")
    # What a key may: read its organisation (no scope), change it with `*`.
    assert (await client.get("/api/organization", headers=key)).status_code == 200
    renamed = await client.patch("/api/organization", json={"name": "Renamed by CI"}, headers=key)
    assert renamed.status_code == 200 and renamed.json()["name"] == "Renamed by CI"


async def test_an_e_mail_sent_with_a_key_replies_to_the_organisation(make_app):
    from tests.conftest import register, serve
    from tests.invoices.factories import create_invoice, send_invoice

    app = make_app(smtp_host="127.0.0.1", smtp_port=9, smtp_from="invoices@orbix.example")
    async with serve(app) as http:
        ada = await register(http, "ada@example.com", "Ada")
        client_ = await create_client(http, ada.headers)
        invoice = await create_invoice(http, ada.headers, client_["id"])
        await send_invoice(http, ada.headers, invoice["id"])
        key = bearer((await make_key(http, ada.headers, ["invoices:write"]))["key"])
        emailed = await http.post(
            f"/api/invoices/{invoice['id']}/email", json={"to": ["a@example.com"]}, headers=key
        )
        assert emailed.status_code == 202, emailed.text
        record = await ApiKey.get_motor_collection().database["invoice_emails"].find_one({})
        assert record["reply_to"] is None  # delivery falls back to the organisation's contact address


# ---------------------------------------------------------------- one store operation; usage without writes


async def test_a_key_authenticates_in_one_store_operation(app, client, user):
    made = await create_client(client, user.headers)
    key = (await make_key(client, user.headers, ["clients:write"]))["key"]
    with store_ops.counting():
        read = await store_ops.request(app, "GET", f"/api/clients/{made['id']}", key)
        created = await store_ops.request(app, "POST", "/api/clients", key, b'{"name": "B"}')
    assert read.status == 200 and read.tally.operations[0] == "api_keys.find_one"
    assert len(read.tally) <= store_ops.LIMITS["read"]
    # A route that needs the organisation's profile gets it joined in the same round trip.
    assert created.status == 201 and created.tally.operations[0] == "api_keys.aggregate"
    assert len(created.tally) <= store_ops.LIMITS["create"]
    for tally in (read.tally, created.tally):
        assert not any(op.startswith(("users.", "organizations.")) for op in tally.operations), tally
        assert not any(op.startswith("api_keys.update") for op in [*tally.operations, *tally.after])


async def test_usage_is_counted_in_memory_and_flushed_in_one_write_per_key(app, client, user):
    first = await make_key(client, user.headers, ["clients:read"])
    second = await make_key(client, user.headers, ["clients:read"])
    with store_ops.counting():
        for key in (first, first, first, second):
            answer = await store_ops.request(app, "GET", "/api/clients", key["key"])
            assert answer.status == 200
            assert not any("update" in op for op in [*answer.tally.operations, *answer.tally.after])
    assert (await _stored(first["id"]))["usage_count"] == 0
    usage = app.state.api_key_usage
    assert await usage.flush() == 2  # one write per key used
    before = datetime.now(UTC).replace(second=0, microsecond=0)
    shown = (await client.get(f"{KEYS}/{first['id']}", headers=user.headers)).json()
    assert shown["usage_count"] == 3
    used = datetime.fromisoformat(shown["last_used_at"])
    assert used.second == 0 and used.microsecond == 0 and abs(used - before) <= timedelta(minutes=1)
    assert (await client.get(f"{KEYS}/{second['id']}", headers=user.headers)).json()["usage_count"] == 1
    assert await usage.flush() == 0  # nothing new: no write
    await client.get("/api/clients", headers=bearer(first["key"]))
    await usage.flush()
    assert (await _stored(first["id"]))["usage_count"] == 4
