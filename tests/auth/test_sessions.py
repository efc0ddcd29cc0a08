"""Sessions per device and cookie sessions for browser apps (API.md section 20)."""

from __future__ import annotations

from datetime import timedelta
from http.cookies import SimpleCookie
from typing import Any

import jwt
import pytest
from bson import ObjectId

from app.auth import sessions
from app.auth.sessions import Session
from app.config import ConfigError, Settings
from app.core.clock import as_utc, utc_now
from scripts import store_ops
from tests.conftest import PASSWORD, Account, assert_problem, serve

UA_PHONE = "Mozilla/5.0 (iPhone; CPU iPhone OS 18_0 like Mac OS X)"
UA_LAPTOP = "Mozilla/5.0 (X11; Linux x86_64) Firefox/140.0"


async def _login(client: Any, email: str, user_agent: str, session: str = "bearer") -> Any:
    response = await client.post(
        "/api/auth/login",
        json={"email": email, "password": PASSWORD, "session": session},
        headers={"User-Agent": user_agent},
    )
    assert response.status_code == 200, response.text
    client.cookies.clear()  # the tests send the cookie themselves, as a browser would
    return response


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _set_cookies(response: Any) -> dict[str, Any]:
    jar: dict[str, Any] = {}
    for header in response.headers.get_list("set-cookie"):
        parsed = SimpleCookie()
        parsed.load(header)
        for name, morsel in parsed.items():
            jar[name] = (morsel, header)
    return jar


async def test_each_login_is_a_session_with_its_device_and_the_token_names_it(client, user: Account):
    phone = (await _login(client, user.email, UA_PHONE)).json()
    laptop = (await _login(client, user.email, UA_LAPTOP)).json()
    listed = await client.get("/api/auth/sessions", headers=_bearer(laptop["access_token"]))
    assert listed.status_code == 200
    items = listed.json()["items"]
    assert len(items) == 3 and listed.json()["total"] == 3  # registration opened the first
    by_agent = {item["user_agent"]: item for item in items}
    assert by_agent[UA_LAPTOP]["current"] is True and by_agent[UA_PHONE]["current"] is False
    assert by_agent[UA_PHONE]["ip"] == "127.0.0.1"
    assert set(items[0]) == {
        "id",
        "user_agent",
        "ip",
        "created_at",
        "last_active_at",
        "expires_at",
        "current",
    }
    sid = jwt.decode(phone["access_token"], options={"verify_signature": False})["sid"]
    assert by_agent[UA_PHONE]["id"] == sid
    assert items[0]["last_active_at"].endswith(":00Z")  # to the minute


async def test_ending_one_session_refuses_its_token_at_once_and_keeps_the_others(client, user: Account):
    phone = (await _login(client, user.email, UA_PHONE)).json()["access_token"]
    laptop = (await _login(client, user.email, UA_LAPTOP)).json()["access_token"]
    sid = jwt.decode(phone, options={"verify_signature": False})["sid"]
    ended = await client.delete(f"/api/auth/sessions/{sid}", headers=_bearer(laptop))
    assert ended.status_code == 204
    assert_problem(await client.get("/api/clients", headers=_bearer(phone)), 401, "unauthorized")
    assert (await client.get("/api/clients", headers=_bearer(laptop))).status_code == 200
    assert (await client.get("/api/clients", headers=user.headers)).status_code == 200
    assert_problem(
        await client.delete(f"/api/auth/sessions/{sid}", headers=_bearer(laptop)), 404, "not_found"
    )
    for bad in ("not-an-id", str(ObjectId())):
        assert_problem(
            await client.delete(f"/api/auth/sessions/{bad}", headers=_bearer(laptop)), 404, "not_found"
        )


async def test_another_users_session_is_not_found(client, user: Account, other_user: Account):
    sid = jwt.decode(other_user.token, options={"verify_signature": False})["sid"]
    assert_problem(await client.delete(f"/api/auth/sessions/{sid}", headers=user.headers), 404, "not_found")
    assert (await client.get("/api/clients", headers=other_user.headers)).status_code == 200
    listed = await client.get("/api/auth/sessions", headers=user.headers)
    assert sid not in {item["id"] for item in listed.json()["items"]}


async def test_logout_ends_every_session(client, user: Account):
    phone = (await _login(client, user.email, UA_PHONE)).json()["access_token"]
    assert (await client.post("/api/auth/logout", headers=user.headers)).status_code == 204
    assert_problem(await client.get("/api/clients", headers=_bearer(phone)), 401, "unauthorized")
    fresh = (await _login(client, user.email, UA_LAPTOP)).json()["access_token"]
    listed = (await client.get("/api/auth/sessions", headers=_bearer(fresh))).json()
    assert [item["user_agent"] for item in listed["items"]] == [UA_LAPTOP]


async def test_last_activity_is_written_after_the_answer_at_most_once_a_minute(app, client, user: Account):
    sid = ObjectId(jwt.decode(user.token, options={"verify_signature": False})["sid"])
    old = sessions.to_the_minute(utc_now() - timedelta(hours=2))
    await Session.get_motor_collection().update_one({"_id": sid}, {"$set": {"last_active_at": old}})
    sessions._last_written.clear()  # another process: it has not written this minute yet
    with store_ops.counting():
        first = await store_ops.request(app, "GET", "/api/clients", user.token)
        second = await store_ops.request(app, "GET", "/api/clients", user.token)
    assert first.status == second.status == 200
    assert not any(op.startswith("sessions.") for op in first.tally.operations)  # not before the answer
    assert "sessions.update_one" in first.tally.after
    assert not any(op.startswith("sessions.") for op in second.tally.after)  # once a minute
    stored = await Session.get_motor_collection().find_one({"_id": sid})
    assert as_utc(stored["last_active_at"]) > old


# ---------------------------------------------------------------- cookie sessions


async def _cookie_login(client: Any, email: str) -> tuple[str, str, Any]:
    response = await _login(client, email, UA_LAPTOP, session="cookie")
    jar = _set_cookies(response)
    return jar["orbix_session"][0].value, jar["orbix_csrf"][0].value, response


async def test_a_cookie_session_sets_an_httponly_cookie_and_answers_without_the_token(client, user: Account):
    token, csrf, response = await _cookie_login(client, user.email)
    body = response.json()
    assert "access_token" not in body and body["csrf_token"] == csrf and body["user"]["email"] == user.email
    jar = _set_cookies(response)
    session, session_header = jar["orbix_session"]
    readable, readable_header = jar["orbix_csrf"]
    assert session["httponly"] and not readable["httponly"]
    for morsel, header in ((session, session_header), (readable, readable_header)):
        assert morsel["samesite"].lower() == "lax" and morsel["path"] == "/api"
        assert morsel["secure"]  # SESSION_COOKIE_SECURE is on outside development
        assert int(morsel["max-age"]) == 7 * 24 * 3600
        assert "domain" not in header.lower()
    me = await client.get("/api/auth/me", headers={"Cookie": f"orbix_session={token}"})
    assert me.status_code == 200 and me.json()["csrf_token"] == csrf
    bearer_me = await client.get("/api/auth/me", headers=user.headers)
    assert "csrf_token" not in bearer_me.json()


async def test_a_cookie_write_needs_its_csrf_token(client, user: Account):
    token, csrf, _ = await _cookie_login(client, user.email)
    cookie = {"Cookie": f"orbix_session={token}"}
    body = {"name": "Acme"}
    assert_problem(await client.post("/api/clients", json=body, headers=cookie), 403, "csrf_failed")
    wrong = {**cookie, "X-CSRF-Token": csrf[:-2] + "xx"}
    assert_problem(await client.post("/api/clients", json=body, headers=wrong), 403, "csrf_failed")
    _, other_csrf, _ = await _cookie_login(client, user.email)  # another session's token
    assert_problem(
        await client.post("/api/clients", json=body, headers={**cookie, "X-CSRF-Token": other_csrf}),
        403,
        "csrf_failed",
    )
    listed = await client.get("/api/clients", headers=cookie)  # a read needs none
    assert listed.status_code == 200 and listed.json()["total"] == 0  # nothing was written
    made = await client.post("/api/clients", json=body, headers={**cookie, "X-CSRF-Token": csrf})
    assert made.status_code == 201, made.text


async def test_the_check_order_is_authentication_then_csrf_then_the_organisation(client, user: Account):
    token, _, _ = await _cookie_login(client, user.email)
    assert_problem(
        await client.post("/api/clients", json={}, headers={"Cookie": "orbix_session=forged"}),
        401,
        "unauthorized",
    )
    foreign = {"Cookie": f"orbix_session={token}", "Orbix-Organization": str(ObjectId())}
    assert_problem(await client.post("/api/clients", json={}, headers=foreign), 403, "csrf_failed")
    assert_problem(await client.get("/api/clients", headers=foreign), 404, "not_found")


async def test_a_bearer_header_wins_over_the_cookie(client, user: Account, other_user: Account):
    token, _, _ = await _cookie_login(client, user.email)
    both = {"Cookie": f"orbix_session={token}", **other_user.headers}
    me = await client.get("/api/auth/me", headers=both)
    assert me.json()["email"] == other_user.email
    made = await client.post("/api/clients", json={"name": "Bearer's"}, headers=both)  # no CSRF: not a cookie
    assert made.status_code == 201


async def test_logout_clears_both_cookies_and_ends_the_cookie_session(client, user: Account):
    token, csrf, _ = await _cookie_login(client, user.email)
    cookie = {"Cookie": f"orbix_session={token}", "X-CSRF-Token": csrf}
    out = await client.post("/api/auth/logout", headers=cookie)
    assert out.status_code == 204
    jar = _set_cookies(out)
    assert {name: morsel["max-age"] for name, (morsel, _) in jar.items()} == {
        "orbix_session": "0",
        "orbix_csrf": "0",
    }
    assert_problem(await client.get("/api/clients", headers=cookie), 401, "unauthorized")


async def test_register_can_open_a_cookie_session(client):
    response = await client.post(
        "/api/auth/register",
        json={"email": "grace@example.com", "password": PASSWORD, "name": "Grace", "session": "cookie"},
    )
    assert response.status_code == 201 and "access_token" not in response.json()
    assert set(_set_cookies(response)) == {"orbix_session", "orbix_csrf"}
    refused = await client.post(
        "/api/auth/login", json={"email": "grace@example.com", "password": PASSWORD, "session": "jar"}
    )
    assert_problem(refused, 400, "validation_error")


# ---------------------------------------------------------------- settings and CORS


def test_production_refuses_insecure_cookies_and_cors_everywhere():
    base = {
        "APP_ENV": "production",
        "JWT_SECRET": "x" * 40,
        "MONGODB_URL": "mongodb://db:27017/?replicaSet=rs0",
        "PUBLIC_URL": "https://app.example.com",
    }
    with pytest.raises(ConfigError, match="SESSION_COOKIE_SECURE"):
        Settings.from_env({**base, "SESSION_COOKIE_SECURE": "false"})
    with pytest.raises(ConfigError, match="CORS_ORIGINS"):
        Settings.from_env({"CORS_ORIGINS": "*"})
    assert Settings.from_env({"APP_ENV": "development"}).session_cookie_secure is False
    assert Settings.from_env(base).session_cookie_secure is True


async def test_cors_allows_credentials_for_the_listed_origins_only(make_app):
    app = make_app(cors_origins=("https://app.example.com",))
    async with serve(app) as http:
        preflight = {
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type, x-csrf-token, orbix-organization",
        }
        allowed = await http.options(
            "/api/clients", headers={"Origin": "https://app.example.com", **preflight}
        )
        assert allowed.status_code in (200, 204)
        assert allowed.headers["access-control-allow-origin"] == "https://app.example.com"
        assert allowed.headers["access-control-allow-credentials"] == "true"
        assert "x-csrf-token" in allowed.headers["access-control-allow-headers"].lower()
        refused = await http.options("/api/clients", headers={"Origin": "https://evil.example", **preflight})
        assert "access-control-allow-origin" not in refused.headers
