"""API.md section 18: auth state changes are never replayed from the idempotency store, they always run; and a
429 is not kept (its Retry-After invites the retry, which must then run)."""

from __future__ import annotations

from typing import Any

import pytest

from app.http.idempotency import IdempotencyRecord, is_never_replayed
from tests.conftest import PASSWORD, assert_problem, register
from tests.security.route_table import OPERATIONS, Operation, sample_body

REPLAYED = "idempotent-replayed"


# read from the route table: the handlers that carry never_replayed() in their opt
NEVER_REPLAYED = [op for op in OPERATIONS if is_never_replayed(op.opt)]


def test_the_auth_state_changes_are_the_routes_never_replayed():
    # creating an API key too (a kept answer would store the key, which is shown once and stored only as its
    # hash: API.md section 20)
    assert {str(op) for op in NEVER_REPLAYED} == {
        "POST /api/auth/logout",
        "POST /api/auth/change-password",
        "POST /api/organization/api-keys",
        "POST /api/auth/password-reset/confirm",
        "POST /api/auth/verify-email",
    }


@pytest.mark.parametrize("op", NEVER_REPLAYED, ids=str)
def test_the_document_offers_no_idempotency_key_on_them(op):
    headers = {p["name"] for p in op.spec.get("parameters", []) if p["in"] == "header"}
    assert "Idempotency-Key" not in headers
    codes = {
        code
        for response in op.spec["responses"].values()
        for code in response.get("content", {})
        .get("application/problem+json", {})
        .get("schema", {"allOf": [{}, {"properties": {"code": {"enum": []}}}]})["allOf"][1]["properties"][
            "code"
        ]["enum"]
    }
    assert not codes & {"idempotency_key_in_progress", "idempotency_key_reused"}


async def _login(client: Any, email: str, *passwords: str) -> dict[str, str]:
    for password in passwords:
        answer = await client.post("/api/auth/login", json={"email": email, "password": password})
        if answer.status_code == 200:
            return {"Authorization": f"Bearer {answer.json()['access_token']}"}
    raise AssertionError(f"no password logs {email} in")


def _body(op: Operation) -> dict[str, Any] | None:
    if op.body_schema is None:
        return None
    body = sample_body(op) or {}
    if "current_password" in body:
        body["current_password"] = PASSWORD
    return body


@pytest.mark.parametrize("op", NEVER_REPLAYED, ids=str)
async def test_each_runs_twice_with_one_key(client, op):
    """The same request twice with one key, each time with a token that works: the second runs (its answer is
    never the first's replayed) and nothing is kept."""
    account = await register(client, "ada@example.com")
    body = _body(op)
    passwords = [PASSWORD, *([body["new_password"]] if body and "new_password" in body else [])]
    for _ in range(2):
        headers = {**await _login(client, account.email, *passwords), "Idempotency-Key": "k"}
        answer = await client.post(op.path, json=body, headers=headers)
        assert answer.status_code < 500 and REPLAYED not in answer.headers, answer.text
    assert await IdempotencyRecord.get_motor_collection().count_documents({}) == 0


async def test_a_logout_after_a_new_login_logs_the_new_token_out(client, user):
    keyed = {"Idempotency-Key": "k"}
    assert (await client.post("/api/auth/logout", headers={**user.headers, **keyed})).status_code == 204
    again = await _login(client, user.email, PASSWORD)
    assert (await client.get("/api/auth/me", headers=again)).status_code == 200

    second = await client.post("/api/auth/logout", headers={**again, **keyed})
    assert second.status_code == 204 and REPLAYED not in second.headers
    assert_problem(await client.get("/api/auth/me", headers=again), 401, "unauthorized")


async def test_a_password_changed_back_with_the_same_key_is_changed_back(client, user):
    keyed = {**user.headers, "Idempotency-Key": "k"}
    change = {"current_password": PASSWORD, "new_password": "another good passphrase"}
    assert (await client.post("/api/auth/change-password", json=change, headers=keyed)).status_code == 204
    headers = {**await _login(client, user.email, change["new_password"]), "Idempotency-Key": "k"}
    back = {"current_password": change["new_password"], "new_password": PASSWORD}
    answer = await client.post("/api/auth/change-password", json=back, headers=headers)
    assert answer.status_code == 204 and REPLAYED not in answer.headers  # not 422 idempotency_key_reused
    await _login(client, user.email, PASSWORD)


async def test_a_429_is_not_kept_and_the_retry_runs(make_app):
    from tests.conftest import serve
    from tests.webhooks.helpers import create_endpoint

    async with serve(make_app(webhook_endpoints_max=1)) as http:
        account = await register(http, "ada@example.com")
        first = await create_endpoint(http, account.headers, "http://127.0.0.1:9/hooks")
        keyed = {**account.headers, "Idempotency-Key": "k"}
        body = {"url": "http://127.0.0.1:9/other", "events": ["*"]}
        assert_problem(
            await http.post("/api/webhook-endpoints", json=body, headers=keyed), 429, "quota_exceeded"
        )
        await http.delete(f"/api/webhook-endpoints/{first['id']}", headers=account.headers)
        retried = await http.post("/api/webhook-endpoints", json=body, headers=keyed)
        assert retried.status_code == 201 and REPLAYED not in retried.headers
        replayed = await http.post("/api/webhook-endpoints", json=body, headers=keyed)
        assert replayed.status_code == 201 and replayed.headers[REPLAYED] == "true"
