"""Request bodies: size limit, malformed JSON, NaN/Infinity, bcrypt's 72-byte passwords, numbers too big for any
field. Generated from the route table: every route with a body."""

from __future__ import annotations

import json
from typing import Any

import pytest

from app.config import MAX_BODY_BYTES
from tests.conftest import PASSWORD, assert_problem
from tests.security.asgi import raw_request
from tests.security.route_table import (
    WITH_BODY,
    WITH_QUERY,
    Operation,
    body_with,
    field_name,
    ids,
    is_freeform,
    leaves,
    new_id,
    takes_a_number,
)
from tests.security.world import unique_email

JSON = {"content-type": "application/json"}
MALFORMED = [
    b'{"name": "Acme"',
    b"{'name': 'Acme'}",
    b'{"name": }',
    b"{,}",
    b'{"a" 1}',
    b"\xff\xfe{}",
    b"[1, 2",
    b'{"unknown": 1, "name": "Acme"',  # a wrong field before the syntax error is still malformed JSON
    b'{"name": "Acme"} trailing',
    b'{"name": "\xff\xfe"}',  # invalid UTF-8 inside a string
]
NON_FINITE = [b"NaN", b"Infinity", b"-Infinity"]
HUGE = [b"1e400", str(10**30).encode()]  # beyond a float; beyond an int64
HUGER = [b"-1e400", b"1" * 400]


def _url(op: Operation) -> str:
    return op.url({param: new_id() for param in op.path_params})


def _check(offenders: list[str], label: str, response: Any, status: int, code: str) -> None:
    ok = response.status_code == status and response.headers.get("content-type", "").startswith(
        "application/problem+json"
    )
    if not ok or response.json().get("code") != code:
        offenders.append(f"{label}: {response.status_code} {response.text[:200]}")


async def test_body_over_one_mib_is_413_on_every_route(client, auth):
    oversized = b'{"name": "' + b"a" * MAX_BODY_BYTES + b'"}'
    offenders: list[str] = []
    for op in WITH_BODY:
        response = await client.request(op.method, _url(op), content=oversized, headers={**auth, **JSON})
        _check(offenders, str(op), response, 413, "payload_too_large")
    assert not offenders, offenders


@pytest.mark.parametrize("path", ["/api/auth/register", "/api/clients"])
async def test_chunked_body_over_one_mib_is_413(client, app, auth, path):
    """No Content-Length to trust: the limit holds while the body streams in."""
    chunks = [b" " * 65536] * (MAX_BODY_BYTES // 65536 + 1)
    headers = [(b"content-type", b"application/json"), (b"authorization", auth["Authorization"].encode())]
    response = await raw_request(app, "POST", path, headers, chunks)
    assert response.status == 413
    assert json.loads(response.body)["code"] == "payload_too_large"
    assert response.header("content-type") == "application/problem+json"


async def test_body_of_exactly_one_mib_is_accepted(client):
    body = json.dumps({"email": unique_email("big"), "password": PASSWORD, "name": "Big"}).encode()
    padded = body[:-1] + b" " * (MAX_BODY_BYTES - len(body)) + b"}"
    assert len(padded) == MAX_BODY_BYTES
    response = await client.post("/api/auth/register", content=padded, headers=JSON)
    assert response.status_code == 201, response.text


async def test_malformed_json_is_invalid_json_on_every_route(client, auth):
    offenders: list[str] = []
    for op in WITH_BODY:
        for body in MALFORMED:
            response = await client.request(op.method, _url(op), content=body, headers={**auth, **JSON})
            _check(offenders, f"{op} {body!r}", response, 400, "invalid_json")
    assert not offenders, offenders


async def test_nan_and_infinity_literals_are_invalid_json_on_every_route(client, auth):
    offenders: list[str] = []
    for op in WITH_BODY:
        path, _ = next(iter(leaves(op.body_schema)))
        template = json.dumps(body_with(op, path, "__VALUE__")).encode()
        for literal in NON_FINITE:
            body = template.replace(b'"__VALUE__"', literal)
            response = await client.request(op.method, _url(op), content=body, headers={**auth, **JSON})
            _check(offenders, f"{op} {field_name(path)}={literal.decode()}", response, 400, "invalid_json")
    assert not offenders, offenders


async def test_empty_or_non_object_body_is_400_on_every_route(client, auth):
    offenders: list[str] = []
    for op in WITH_BODY:
        for body in (b"", b"null", b"[1]"):
            response = await client.request(op.method, _url(op), content=body, headers={**auth, **JSON})
            if response.status_code != 400:
                offenders.append(f"{op} {body!r}: {response.status_code} {response.text[:200]}")
    assert not offenders, offenders


@pytest.mark.parametrize("op", WITH_BODY, ids=ids(WITH_BODY))
async def test_huge_number_in_any_field_is_400(client, auth, op):
    """1e400 and 10**30 in every field (-1e400 and 400 digits too where a number fits): a 400 naming the field."""
    offenders: list[str] = []
    for path, schema in leaves(op.body_schema):
        if not path or is_freeform(schema):
            continue
        template = json.dumps(body_with(op, path, "__VALUE__")).encode()
        for literal in (*HUGE, *HUGER) if takes_a_number(schema) else HUGE:
            body = template.replace(b'"__VALUE__"', literal)
            response = await client.request(op.method, _url(op), content=body, headers={**auth, **JSON})
            answer = response.json()
            named = [e["field"] for e in answer.get("errors", [])]
            if response.status_code != 400 or field_name(path) not in named:
                offenders.append(
                    f"{field_name(path)}={literal.decode()[:12]}: {response.status_code} {answer}"
                )
    assert not offenders, offenders


@pytest.mark.parametrize("op", WITH_QUERY, ids=ids(WITH_QUERY))
async def test_huge_number_in_query_parameter_is_never_500(client, auth, op):
    offenders: list[str] = []
    for param in op.query_params:
        numeric = param.get("schema", {}).get("type") in ("integer", "number")
        for literal in (*HUGE, *HUGER, b"NaN", b"Infinity", b"-1"):
            response = await client.get(_url(op), params={param["name"]: literal.decode()}, headers=auth)
            if response.status_code >= 500 or (numeric and response.status_code != 400):
                offenders.append(f"{param['name']}={literal.decode()[:12]}: {response.status_code}")
    assert not offenders, offenders


# ---------------------------------------------------------------- bcrypt's 72 bytes


def _register(email: str, password: str) -> dict[str, str]:
    return {"email": email, "password": password, "name": "Byte Counter"}


@pytest.mark.parametrize(
    "password",
    ["a" * 73, "a" * 74, "é" * 36 + "a", "🔑" * 18 + "a", "a" * 200],
    ids=["73_ascii", "74_ascii", "73_bytes_2_byte_chars", "73_bytes_4_byte_chars", "200_ascii"],
)
async def test_register_password_over_72_bytes_is_rejected(client, password):
    response = await client.post("/api/auth/register", json=_register(unique_email("long"), password))
    body = assert_problem(response, 400, "validation_error")
    assert "password" in [e["field"] for e in body["errors"]]


@pytest.mark.parametrize(
    "password", ["a" * 72, "é" * 36, "🔑" * 18], ids=["ascii", "2_byte_chars", "4_byte_chars"]
)
async def test_register_password_of_72_bytes_works(client, password):
    assert len(password.encode()) == 72
    email = unique_email("edge")
    assert (await client.post("/api/auth/register", json=_register(email, password))).status_code == 201
    login = await client.post("/api/auth/login", json={"email": email, "password": password})
    assert login.status_code == 200, login.text
    # bcrypt ignores what lies past 72 bytes: a longer password must not log in as if truncated
    longer = await client.post("/api/auth/login", json={"email": email, "password": password + "x"})
    assert_problem(longer, 401, "unauthorized")


async def test_change_password_over_72_bytes_is_rejected(client, auth):
    response = await client.post(
        "/api/auth/change-password",
        json={"current_password": PASSWORD, "new_password": "é" * 36 + "a"},
        headers=auth,
    )
    body = assert_problem(response, 400, "validation_error")
    assert "new_password" in [e["field"] for e in body["errors"]]


async def test_overlong_password_at_login_or_as_current_password_is_not_a_500(client, user):
    login = await client.post("/api/auth/login", json={"email": user.email, "password": "p" * 150})
    assert_problem(login, 401, "unauthorized")
    unknown = await client.post(
        "/api/auth/login", json={"email": "nobody@example.com", "password": "p" * 150}
    )
    assert_problem(unknown, 401, "unauthorized")
    change = await client.post(
        "/api/auth/change-password",
        json={"current_password": "p" * 150, "new_password": "a new passphrase"},
        headers=user.headers,
    )
    body = assert_problem(change, 400, "validation_error")
    assert "current_password" in [e["field"] for e in body["errors"]]
