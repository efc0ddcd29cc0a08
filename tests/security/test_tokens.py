"""Bearer tokens: every forged, expired, revoked or malformed token is the same 401, and the route table has no
unprotected /api route besides register and login."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import os
import time
from collections.abc import Callable
from typing import Any

import jwt
import pytest

from tests.conftest import PASSWORD, Account, assert_problem
from tests.security.route_table import OPERATIONS, new_id

# Forging HS512 with the (HS256-sized) test secret is the point; PyJWT's key-length advice is noise here.
pytestmark = pytest.mark.filterwarnings("ignore::jwt.warnings.InsecureKeyLengthWarning")

SECRET = os.environ["JWT_SECRET"]  # the test secret conftest put in the environment
PROTECTED = "/api/auth/me"
FORGED_DETAIL = "The token is invalid or expired"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _raw(header: dict[str, Any], claims: dict[str, Any], signature: str | None = None) -> str:
    """A JWT assembled by hand (PyJWT refuses to build the malicious ones): HMAC-SHA256 with the real secret."""
    signing_input = f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(claims).encode())}"
    if signature is None:
        signature = _b64(hmac.new(SECRET.encode(), signing_input.encode(), hashlib.sha256).digest())
    return f"{signing_input}.{signature}"


def _claims(user_id: str, **changes: Any) -> dict[str, Any]:
    now = int(time.time())
    claims = {"sub": user_id, "iat": now, "exp": now + 3600, "ver": 0, **changes}
    return {k: v for k, v in claims.items() if v is not ...}


def _hs256(claims: dict[str, Any], secret: str = SECRET) -> str:
    return jwt.encode(claims, secret, algorithm="HS256")


def _tampered(user_id: str) -> str:
    """A valid token whose payload is swapped for another user's, keeping the old signature."""
    header, _, signature = _hs256(_claims(user_id)).split(".")
    payload = _b64(json.dumps(_claims(new_id())).encode())
    return f"{header}.{payload}.{signature}"


FORGERIES: dict[str, Callable[[str], str]] = {
    "alg_none": lambda uid: _raw({"alg": "none", "typ": "JWT"}, _claims(uid), signature=""),
    "alg_None_mixed_case": lambda uid: _raw({"alg": "None", "typ": "JWT"}, _claims(uid), signature=""),
    "alg_none_with_signature": lambda uid: _raw({"alg": "none", "typ": "JWT"}, _claims(uid)),
    "hs512_with_the_real_secret": lambda uid: jwt.encode(_claims(uid), SECRET, algorithm="HS512"),
    "rs256_header_hmac_signed": lambda uid: _raw({"alg": "RS256", "typ": "JWT"}, _claims(uid)),
    "bad_signature": lambda uid: _hs256(_claims(uid), secret="another-secret-that-is-long-enough-0123456789"),
    "truncated_signature": lambda uid: _hs256(_claims(uid))[:-4],
    "payload_swapped": _tampered,
    "expired": lambda uid: _hs256(_claims(uid, iat=int(time.time()) - 7200, exp=int(time.time()) - 60)),
    "future_iat": lambda uid: _hs256(_claims(uid, iat=int(time.time()) + 3600, exp=int(time.time()) + 7200)),
    "missing_sub": lambda uid: _hs256(_claims(uid, sub=...)),
    "missing_ver": lambda uid: _hs256(_claims(uid, ver=...)),
    "missing_exp": lambda uid: _hs256(_claims(uid, exp=...)),
    "missing_iat": lambda uid: _hs256(_claims(uid, iat=...)),
    "ver_not_an_int": lambda uid: _hs256(_claims(uid, ver="0")),
    "sub_not_an_object_id": lambda uid: _hs256(_claims("not-an-object-id")),
    "sub_upper_case": lambda uid: _hs256(_claims(uid.upper())),
    "sub_operator": lambda uid: _raw({"alg": "HS256", "typ": "JWT"}, _claims({"$ne": None})),  # type: ignore[arg-type]
    "unknown_user": lambda uid: _hs256(_claims(new_id())),
    "newer_ver_than_user": lambda uid: _hs256(_claims(uid, ver=1)),
    "garbage": lambda uid: "not.a.jwt",
    "two_segments": lambda uid: ".".join(_hs256(_claims(uid)).split(".")[:2]),
}


async def _me(client: Any, token: str) -> Any:
    return await client.get(PROTECTED, headers={"Authorization": f"Bearer {token}"})


async def test_forged_token_control_a_correctly_signed_token_works(client, user):
    """The forgeries below differ from this token in one point each, so their 401 is about that point."""
    response = await _me(client, _hs256(_claims(user.id)))
    assert response.status_code == 200, response.text
    lower = await client.get(PROTECTED, headers={"Authorization": f"bearer {_hs256(_claims(user.id))}"})
    assert lower.status_code == 200, "the auth scheme is case-insensitive (RFC 9110)"


@pytest.mark.parametrize("name", list(FORGERIES))
async def test_forged_token_is_unauthorized(client, user, name):
    problem = assert_problem(await _me(client, FORGERIES[name](user.id)), 401, "unauthorized")
    assert problem["detail"] == FORGED_DETAIL


async def test_forged_tokens_share_one_answer(client, user):
    """No oracle: whatever is wrong with a token, the answer says nothing more than 'invalid or expired'."""
    answers = set()
    for make in FORGERIES.values():
        body = (await _me(client, make(user.id))).json()
        answers.add((body["status"], body["code"], body["detail"]))
    assert len(answers) == 1, answers


async def test_a_token_accepted_before_is_refused_once_it_expires(client, user):
    """A process remembers the tokens it verified (auth/tokens.py): only while they have not expired."""
    expires = int(time.time()) + 2
    token = _hs256(_claims(user.id, iat=expires - 60, exp=expires))
    assert (await _me(client, token)).status_code == 200
    await asyncio.sleep(max(0.0, expires - time.time()) + 0.05)
    problem = assert_problem(await _me(client, token), 401, "unauthorized")
    assert problem["detail"] == FORGED_DETAIL


def test_the_verified_tokens_a_process_remembers_are_bounded(settings, monkeypatch):
    from app.auth import tokens

    monkeypatch.setattr(tokens, "VERIFIED_TOKENS_KEPT", 2)
    service = tokens.TokenService(settings)
    issued = [service.issue(new_id(), version, new_id()).access_token for version in range(3)]
    for token in issued:
        assert service.verify(token)["ver"] == issued.index(token)
    assert list(service._verified) == issued[1:]  # the oldest was forgotten first


async def _login(client: Any, account: Account, password: str = PASSWORD) -> str:
    response = await client.post("/api/auth/login", json={"email": account.email, "password": password})
    assert response.status_code == 200, response.text
    return response.json()["access_token"]


async def test_token_revoked_by_logout(client, user):
    second = await _login(client, user)
    assert (await client.post("/api/auth/logout", headers=user.headers)).status_code == 204
    for token in (user.token, second):
        problem = assert_problem(await _me(client, token), 401, "unauthorized")
        assert problem["detail"] == FORGED_DETAIL
    assert (await _me(client, await _login(client, user))).status_code == 200


async def test_token_revoked_by_change_password(client, user):
    second = await _login(client, user)
    response = await client.post(
        "/api/auth/change-password",
        json={"current_password": PASSWORD, "new_password": "a brand new passphrase"},
        headers=user.headers,
    )
    assert response.status_code == 204, response.text
    for token in (user.token, second):
        problem = assert_problem(await _me(client, token), 401, "unauthorized")
        assert problem["detail"] == FORGED_DETAIL
    assert (await _me(client, await _login(client, user, "a brand new passphrase"))).status_code == 200


@pytest.mark.parametrize(
    "header",
    [
        "Basic YWRhQGV4YW1wbGUuY29tOnB3",
        "Token {token}",
        "JWT {token}",
        "{token}",
        "Bearer",
        "Bearer ",
        "Bearer    ",
        "Bearer\t",
        "",
    ],
    ids=[
        "basic",
        "token_scheme",
        "jwt_scheme",
        "no_scheme",
        "bearer_alone",
        "bearer_space",
        "bearer_spaces",
        "bearer_tab",
        "empty",
    ],
)
async def test_non_bearer_authorization_is_unauthorized(client, user, header):
    response = await client.get(PROTECTED, headers={"Authorization": header.format(token=user.token)})
    assert_problem(response, 401, "unauthorized")


async def test_missing_authorization_is_unauthorized(client):
    assert_problem(await client.get(PROTECTED), 401, "unauthorized")


async def test_every_route_but_register_and_login_requires_a_valid_token(client, user):
    """Generated from the route table; one test for all routes, listing every offender."""
    offenders = []
    for op in OPERATIONS:
        if op.is_public:
            continue
        url = op.url({param: new_id() for param in op.path_params})
        for headers in ({}, {"Authorization": f"Bearer {FORGERIES['alg_none'](user.id)}"}):
            response = await client.request(op.method, url, headers=headers)
            if response.status_code != 401 or response.json().get("code") != "unauthorized":
                offenders.append(f"{op} with {headers or 'no token'}: {response.status_code}")
    assert not offenders, offenders


async def test_a_token_revoked_through_one_process_is_refused_by_another_on_its_next_request(settings):
    """Two API processes on one store: the user lookup is per request, nothing cached may outlive a logout."""
    from mongomock_motor import AsyncMongoMockClient

    from app.main import create_app
    from tests.conftest import register, serve

    store = AsyncMongoMockClient(tz_aware=True)
    one = create_app(settings, client_factory=lambda _: (store, True))
    two = create_app(settings, client_factory=lambda _: (store, True))
    async with serve(one) as first, serve(two) as second:
        await _wait_ready(first)
        await _wait_ready(second)
        account = await register(first, "twice@example.com")
        assert (await _me(second, account.token)).status_code == 200  # warmed: any cache would hold it now
        clients = await second.get("/api/clients", headers=account.headers)  # a route given only a Caller
        assert clients.status_code == 200
        assert (await first.post("/api/auth/logout", headers=account.headers)).status_code == 204
        problem = assert_problem(await _me(second, account.token), 401, "unauthorized")
        assert problem["detail"] == FORGED_DETAIL
        assert_problem(await second.get("/api/clients", headers=account.headers), 401, "unauthorized")


async def _wait_ready(client: Any) -> None:
    for _ in range(200):
        if (await client.get("/ready")).status_code == 200:
            return
        await asyncio.sleep(0.02)
    raise AssertionError("the app did not get ready")


async def test_a_user_stored_before_token_versions_existed_keeps_its_version_0_tokens(client, user):
    from bson import ObjectId

    from app.auth.models import User

    await User.get_motor_collection().update_one(
        {"_id": ObjectId(user.id)}, {"$unset": {"token_version": ""}}
    )
    assert (await _me(client, user.token)).status_code == 200
    assert (await client.get("/api/clients", headers=user.headers)).status_code == 200


async def test_routes_that_need_no_profile_read_only_the_token_version(client, user, monkeypatch):
    """One lookup: a route that names `current_user` gets the whole user with the organisation's profile
    joined; any other route a Caller, from a projection of the version and the memberships."""
    from app.auth import middleware

    projections: list[Any] = []
    users = middleware.users

    class Spy:
        async def find_one(self, query: Any, projection: Any = None) -> Any:
            # mongomock adds the default "_id": 1 to the projection it is given, in place (a driver does not)
            projections.append(projection and {k: v for k, v in projection.items() if (k, v) != ("_id", 1)})
            return await users().find_one(query, projection)

        def aggregate(self, pipeline: list[Any]) -> Any:
            projections.append(("joined", [next(iter(stage)) for stage in pipeline]))
            return users().aggregate(pipeline)

    monkeypatch.setattr(middleware, "users", Spy)
    assert (await client.get("/api/clients", headers=user.headers)).status_code == 200
    assert (await _me(client, user.token)).status_code == 200
    assert projections == [
        {
            "token_version": 1,
            "memberships": 1,
            "default_organization_id": 1,
            "email": 1,
            "live_sessions": 1,
        },
        # the whole user, and the organisation's profile joined in the same round trip
        ("joined", ["$match", "$addFields", "$lookup"]),
    ]
