from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import jwt
import pytest

from app.auth.models import User
from tests.conftest import PASSWORD, Account, assert_problem, register, serve


async def test_register_returns_user_and_token(client):
    response = await client.post(
        "/api/auth/register", json={"email": "  Grace@Example.COM ", "password": PASSWORD, "name": " Grace "}
    )
    assert response.status_code == 201
    body = response.json()
    assert body["token_type"] == "bearer"
    assert body["user"]["email"] == "grace@example.com"
    assert body["user"]["name"] == "Grace"
    assert set(body["user"]) == {
        "id",
        "email",
        "name",
        "email_verified",
        "default_organization_id",
        "business",
        "created_at",
        "updated_at",
    }
    assert body["user"]["business"] == {
        "company_name": None,
        "address": None,
        "tax_id": None,
        "tax_number": None,
        "email": None,
        "phone": None,
        "iban": None,
        "bic": None,
        "locale": "en",
        "e_invoice": "none",
        "default_currency": "USD",
        "default_tax_rate": "0",
        "payment_terms_days": 30,
        "invoice_prefix": "INV-",
        "credit_note_prefix": "CN-",
        "time_zone": "UTC",
        "reminders": [],
    }
    claims = jwt.decode(body["access_token"], options={"verify_signature": False})
    assert claims["sub"] == body["user"]["id"] and claims["ver"] == 0
    assert claims["exp"] - claims["iat"] == 7 * 24 * 3600
    expires_at = datetime.fromisoformat(body["expires_at"])
    assert expires_at.tzinfo is not None
    assert abs(expires_at - (datetime.now(UTC) + timedelta(days=7))) < timedelta(minutes=1)


async def test_register_stores_a_bcrypt_hash_never_the_password(client):
    await register(client, "hash@example.com")
    stored = await User.find_one({"email": "hash@example.com"})
    assert stored is not None
    assert stored.password_hash.startswith("$2b$04$") and PASSWORD not in stored.password_hash
    me = await client.post("/api/auth/login", json={"email": "hash@example.com", "password": PASSWORD})
    assert "password" not in me.text and stored.password_hash not in me.text


async def test_register_duplicate_email_is_conflict(client, user: Account):
    response = await client.post(
        "/api/auth/register", json={"email": "ADA@example.com", "password": PASSWORD, "name": "Ada again"}
    )
    assert_problem(response, 409, "email_taken")


@pytest.mark.parametrize(
    "body, field",
    [
        ({"email": "not-an-email", "password": PASSWORD, "name": "X"}, "email"),
        ({"email": "a@b", "password": PASSWORD, "name": "X"}, "email"),
        ({"email": "a@example.com", "password": "short", "name": "X"}, "password"),
        ({"email": "a@example.com", "password": "x" * 73, "name": "X"}, "password"),
        ({"email": "a@example.com", "password": "é" * 37, "name": "X"}, "password"),  # 74 bytes, 37 chars
        ({"email": "a@example.com", "password": PASSWORD, "name": ""}, "name"),
        ({"email": "a@example.com", "password": PASSWORD, "name": "x" * 101}, "name"),
        ({"email": "a@example.com", "password": PASSWORD}, "name"),
        ({"email": "a@example.com", "password": PASSWORD, "name": "X", "admin": True}, "admin"),
        ({"email": ["a@example.com"], "password": PASSWORD, "name": "X"}, "email"),
    ],
)
async def test_register_rejects_bad_input(client, body, field):
    problem = assert_problem(await client.post("/api/auth/register", json=body), 400, "validation_error")
    assert field in [error["field"] for error in problem["errors"]]


async def test_register_accepts_exactly_72_bytes(client):
    password = "é" * 36  # 72 bytes in UTF-8
    response = await client.post(
        "/api/auth/register", json={"email": "long@example.com", "password": password, "name": "Long"}
    )
    assert response.status_code == 201
    login = await client.post("/api/auth/login", json={"email": "long@example.com", "password": password})
    assert login.status_code == 200
    # bcrypt would truncate at 72 bytes; one byte less must not match either
    wrong = await client.post(
        "/api/auth/login", json={"email": "long@example.com", "password": "é" * 35 + "e"}
    )
    assert_problem(wrong, 401, "unauthorized")


async def test_login_returns_a_working_token(client, user: Account):
    response = await client.post("/api/auth/login", json={"email": " ADA@example.com", "password": PASSWORD})
    assert response.status_code == 200
    token = response.json()["access_token"]
    me = await client.get("/api/auth/me", headers={"Authorization": f"Bearer {token}"})
    assert me.status_code == 200 and me.json()["id"] == user.id


async def test_login_unknown_email_and_wrong_password_answer_alike(client, user: Account):
    wrong = await client.post("/api/auth/login", json={"email": user.email, "password": "wrong password"})
    unknown = await client.post("/api/auth/login", json={"email": "nobody@example.com", "password": PASSWORD})
    a, b = assert_problem(wrong, 401, "unauthorized"), assert_problem(unknown, 401, "unauthorized")
    assert {**a, "request_id": ""} == {**b, "request_id": ""}


async def test_me_requires_a_token(client):
    assert_problem(await client.get("/api/auth/me"), 401, "unauthorized")


async def test_update_me_changes_name_and_business_partially(client, auth):
    response = await client.patch(
        "/api/auth/me",
        json={
            "name": "Ada L.",
            "business": {
                "company_name": "Analytical Engines",
                "default_tax_rate": "8.875",
                "address": {"city": "London"},
            },
        },
        headers=auth,
    )
    assert response.status_code == 200
    business = response.json()["business"]
    assert response.json()["name"] == "Ada L."
    assert business["company_name"] == "Analytical Engines"
    assert business["default_tax_rate"] == "8.875"
    assert business["address"]["city"] == "London"
    assert business["default_currency"] == "USD" and business["invoice_prefix"] == "INV-"
    # a second partial update keeps what the first one set
    second = await client.patch("/api/auth/me", json={"business": {"invoice_prefix": "AE-"}}, headers=auth)
    assert second.json()["business"]["company_name"] == "Analytical Engines"
    assert second.json()["business"]["invoice_prefix"] == "AE-"
    assert (await client.get("/api/auth/me", headers=auth)).json() == second.json()


@pytest.mark.parametrize(
    "body",
    [
        {"email": "new@example.com"},
        {"business": {"default_currency": "dollars"}},
        {"business": {"default_tax_rate": "101"}},
        {"business": {"default_tax_rate": "NaN"}},
        {"business": {"default_tax_rate": -1}},
        {"business": {"payment_terms_days": 400}},
        {"business": {"default_currency": None}},
        {"name": None},
        {"business": {"vat": "x"}},
    ],
)
async def test_update_me_rejects_bad_input(client, auth, body):
    assert_problem(await client.patch("/api/auth/me", json=body, headers=auth), 400, "validation_error")


async def test_change_password_revokes_older_tokens(client, user: Account):
    response = await client.post(
        "/api/auth/change-password",
        json={"current_password": PASSWORD, "new_password": "a brand new secret"},
        headers=user.headers,
    )
    assert response.status_code == 204
    assert_problem(await client.get("/api/auth/me", headers=user.headers), 401, "unauthorized")
    old = await client.post("/api/auth/login", json={"email": user.email, "password": PASSWORD})
    assert_problem(old, 401, "unauthorized")
    new = await client.post("/api/auth/login", json={"email": user.email, "password": "a brand new secret"})
    assert new.status_code == 200


async def test_change_password_with_wrong_current_password_is_400(client, user: Account):
    response = await client.post(
        "/api/auth/change-password",
        json={"current_password": "not my password", "new_password": "a brand new secret"},
        headers=user.headers,
    )
    problem = assert_problem(response, 400, "validation_error")
    assert problem["errors"][0]["field"] == "current_password"
    assert (await client.get("/api/auth/me", headers=user.headers)).status_code == 200


async def test_change_password_validates_the_new_password(client, user: Account):
    response = await client.post(
        "/api/auth/change-password",
        json={"current_password": PASSWORD, "new_password": "x" * 73},
        headers=user.headers,
    )
    assert_problem(response, 400, "validation_error")


async def test_logout_revokes_every_token_issued_so_far(client, user: Account):
    second = (await client.post("/api/auth/login", json={"email": user.email, "password": PASSWORD})).json()
    response = await client.post("/api/auth/logout", headers=user.headers)
    assert response.status_code == 204
    for token in (user.token, second["access_token"]):
        assert_problem(
            await client.get("/api/auth/me", headers={"Authorization": f"Bearer {token}"}),
            401,
            "unauthorized",
        )
    fresh = (await client.post("/api/auth/login", json={"email": user.email, "password": PASSWORD})).json()
    assert (
        await client.get("/api/auth/me", headers={"Authorization": f"Bearer {fresh['access_token']}"})
    ).status_code == 200


async def test_hashing_runs_off_the_event_loop(client, make_app):
    """While a slow (cost 12) registration hashes, another request on the same loop completes."""
    async with serve(make_app(bcrypt_rounds=12)) as slow:
        registration = asyncio.create_task(
            slow.post(
                "/api/auth/register", json={"email": "s@example.com", "password": PASSWORD, "name": "S"}
            )
        )
        await asyncio.sleep(0.01)
        started = asyncio.get_running_loop().time()
        ready = await slow.get("/ready")
        elapsed = asyncio.get_running_loop().time() - started
        assert ready.status_code == 200
        assert not registration.done(), "the registration should still be hashing"
        assert (await registration).status_code == 201
    assert elapsed < 0.1, f"/ready waited {elapsed:.3f}s behind bcrypt"
