"""Auth edges (issue 8, finding 8): change-password cannot be brute-forced with a stolen token, a correctly
signed token with odd claims is refused, and every 401 names the Bearer scheme."""

from __future__ import annotations

import asyncio
import os
import time

import jwt
import pytest
from bson import ObjectId

from app.auth.models import User
from tests.conftest import PASSWORD, Account, assert_problem, register
from tests.security.world import unique_email

SECRET = os.environ["JWT_SECRET"]


async def _guess(client, account: Account, current: str):
    return await client.post(
        "/api/auth/change-password",
        json={"current_password": current, "new_password": "a new passphrase"},
        headers=account.headers,
    )


async def test_change_password_allows_five_wrong_guesses_then_429_with_retry_after(client):
    account = await register(client, unique_email("guess"))
    for attempt in range(5):
        assert_problem(await _guess(client, account, f"wrong guess {attempt}"), 400, "validation_error")
    response = await _guess(client, account, "wrong guess 6")
    assert_problem(response, 429, "rate_limited")
    assert 1 <= int(response.headers["retry-after"]) <= 15 * 60
    # Even the right password waits: otherwise the limit would only slow a brute force down.
    assert_problem(await _guess(client, account, PASSWORD), 429, "rate_limited")


async def test_change_password_limit_holds_against_parallel_guesses(client):
    account = await register(client, unique_email("parallel"))
    responses = await asyncio.gather(*(_guess(client, account, f"wrong {i}") for i in range(12)))
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [400] * 5 + [429] * 7


async def test_change_password_window_slides_after_fifteen_minutes(client):
    account = await register(client, unique_email("window"))
    for attempt in range(5):
        await _guess(client, account, f"wrong {attempt}")
    users = User.get_motor_collection()
    stored = await users.find_one({"_id": ObjectId(account.id)})
    old = [moment.replace(year=moment.year - 1) for moment in stored["password_failures"]]
    await users.update_one({"_id": ObjectId(account.id)}, {"$set": {"password_failures": old}})
    assert (await _guess(client, account, PASSWORD)).status_code == 204


async def test_a_right_guess_clears_earlier_failures(client):
    account = await register(client, unique_email("clear"))
    for attempt in range(4):
        await _guess(client, account, f"wrong {attempt}")
    assert (await _guess(client, account, PASSWORD)).status_code == 204
    stored = await User.get_motor_collection().find_one({"_id": ObjectId(account.id)})
    assert stored["password_failures"] == []


def _token(user_id: str, **claims) -> str:
    now = int(time.time())
    return jwt.encode({"sub": user_id, "iat": now, "exp": now + 3600, "ver": 0, **claims}, SECRET, "HS256")


@pytest.mark.parametrize(
    "claims",
    [
        {"exp": str(int(time.time()) + 3600)},
        {"exp": 10**30},
        {"exp": float(int(time.time()) + 3600)},
        {"iat": str(int(time.time()))},
        {"iat": True},
        {"ver": False},
        {"iat": int(time.time()) - 3600, "exp": int(time.time()) + 7 * 24 * 3600},  # lives past 7 days
    ],
    ids=["exp_string", "exp_huge", "exp_float", "iat_string", "iat_bool", "ver_bool", "lifetime_too_long"],
)
async def test_a_signed_token_with_odd_claims_is_401(client, user, claims):
    response = await client.get(
        "/api/auth/me", headers={"Authorization": f"Bearer {_token(user.id, **claims)}"}
    )
    assert_problem(response, 401, "unauthorized")


async def test_a_token_with_the_full_lifetime_is_accepted(client, user):
    token = _token(user.id, exp=int(time.time()) + 7 * 24 * 3600)
    response = await client.get("/api/auth/me", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200, response.text


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer nope"}, {"Authorization": "Basic x"}])
async def test_every_401_carries_www_authenticate_bearer(client, headers):
    response = await client.get("/api/auth/me", headers=headers)
    assert_problem(response, 401, "unauthorized")
    assert response.headers["www-authenticate"] == "Bearer"
    response = await client.post("/api/auth/login", json={"email": "nobody@example.com", "password": "x" * 8})
    assert_problem(response, 401, "unauthorized")
    assert response.headers["www-authenticate"] == "Bearer"
