"""The input rules of API section 1 that hold for every field, whatever its struct (issue 8, findings 2 and 6,
and issue 10 item 7): control characters, bidi overrides and zero-width characters in any string field or
query parameter are a 400, and so is JSON nested deeper than 64 levels."""

from __future__ import annotations

import pytest

from app.core.text import EXEMPT_FIELDS, MULTILINE_FIELDS
from tests.conftest import assert_problem
from tests.security.route_table import (
    WITH_BODY,
    WITH_QUERY,
    Operation,
    body_with,
    field_name,
    ids,
    is_string,
    leaves,
    new_id,
)
from tests.security.world import World, unique_email

# NUL, an ANSI escape, DEL, a C1 control, a bidi override, a bidi isolate, zero-width space and BOM; and
# noncharacters (XML 1.0 cannot hold U+FFFE or U+FFFF, so an e-invoice could not carry them).
FORBIDDEN = ["\x00", "\x1b[31m", "\x7f", "\x85", "\u202e", "\u2066", "\u200b", "\ufeff"]
FORBIDDEN += ["\ufffe", "\uffff", "\ufdd0", "\U0010ffff"]
LINE_BREAKS = ["\r", "\x0b"]  # a lone CR and a vertical tab are refused even where newlines are allowed
# Unicode's line and paragraph separators: a line break a one-line field (an e-mail subject) cannot hold.
UNICODE_LINE_BREAKS = ["\u2028", "\u2029"]
# Every field of every body gets one character of each kind (the whole list is tried on one field below).
PER_FIELD = ["\x00", "\x85", "\u202e", "\u200b"]


def _url(op: Operation) -> str:
    return op.url({param: new_id() for param in op.path_params})


def _named(response) -> list[str]:
    return [error["field"] for error in response.json().get("errors", [])]


@pytest.mark.parametrize("op", WITH_BODY, ids=ids(WITH_BODY))
async def test_control_and_invisible_characters_in_any_string_field_are_refused(client, user, op):
    """Every string field of every body, nested ones included: 400 naming that field; passwords exempt."""
    url, offenders = _url(op), []
    fields = [
        (path, schema)
        for path, schema in leaves(op.body_schema)
        if path and is_string(schema) and not schema.get("enum") and path[-1] not in EXEMPT_FIELDS
    ]
    for path, _ in fields:
        multiline = any(part in MULTILINE_FIELDS for part in path if isinstance(part, str))
        for bad in PER_FIELD + (["\r"] if multiline else ["\n"]):
            response = await client.request(
                op.method, url, json=body_with(op, path, f"ok{bad}ok"), headers=user.headers
            )
            if response.status_code != 400 or field_name(path) not in _named(response):
                offenders.append(f"{field_name(path)}={bad!r}: {response.status_code} {response.text}")
    assert not offenders, offenders


@pytest.mark.parametrize("op", WITH_QUERY, ids=ids(WITH_QUERY))
async def test_control_and_invisible_characters_in_any_query_parameter_are_refused(client, user, op):
    """Real MongoDB answers a regex with NUL with an error: `q=%00` must be a 400, not a 500."""
    url, offenders = _url(op), []
    for param in op.query_params:
        for bad in PER_FIELD:
            response = await client.get(url, params={param["name"]: f"a{bad}"}, headers=user.headers)
            if response.status_code != 400 or param["name"] not in _named(response):
                offenders.append(f"{param['name']}={bad!r}: {response.status_code} {response.text}")
    assert not offenders, offenders


@pytest.mark.parametrize("bad", FORBIDDEN + LINE_BREAKS + UNICODE_LINE_BREAKS + ["\n", "\t"])
async def test_each_forbidden_character_is_refused_in_a_single_line_field(client, user, bad):
    response = await client.post("/api/clients", json={"name": f"Acme{bad}"}, headers=user.headers)
    assert_problem(response, 400, "validation_error")
    assert _named(response) == ["name"]


@pytest.mark.parametrize("bad", FORBIDDEN + LINE_BREAKS)
async def test_each_forbidden_character_is_refused_in_a_multiline_field(client, user, bad):
    response = await client.post(
        "/api/clients", json={"name": "Acme", "notes": f"a\n{bad}"}, headers=user.headers
    )
    assert_problem(response, 400, "validation_error")
    assert _named(response) == ["notes"]


@pytest.mark.parametrize("separator", UNICODE_LINE_BREAKS)
async def test_a_multiline_field_may_hold_unicode_line_separators(client, user, separator):
    response = await client.post(
        "/api/clients", json={"name": "Acme", "notes": f"a{separator}b"}, headers=user.headers
    )
    assert response.status_code == 201, response.text
    assert response.json()["notes"] == f"a{separator}b"


async def test_nul_in_the_search_query_is_a_400(client, user):
    response = await client.get("/api/clients?q=%00", headers=user.headers)
    body = assert_problem(response, 400, "validation_error")
    assert body["errors"][0]["field"] == "q"


async def test_multiline_fields_keep_tab_and_newline_and_store_crlf_as_lf(client, user):
    client_id = await World(client, user.headers).id("clients")
    response = await client.post(
        "/api/invoices",
        json={
            "client_id": client_id,
            "notes": "Thanks!\r\nIBAN:\tDE89",
            "lines": [{"description": "Design\r\nweek 1", "quantity": "1", "unit_price": "10"}],
        },
        headers=user.headers,
    )
    assert response.status_code == 201, response.text
    invoice = (await client.get(f"/api/invoices/{response.json()['id']}", headers=user.headers)).json()
    assert invoice["notes"] == "Thanks!\nIBAN:\tDE89"
    assert invoice["lines"][0]["description"] == "Design\nweek 1"


async def test_a_name_with_a_newline_is_refused_but_a_password_may_hold_any_character(client):
    email = unique_email("text")
    response = await client.post(
        "/api/auth/register", json={"email": email, "password": "pass\u202eword\x1b1", "name": "Ada\nX"}
    )
    assert_problem(response, 400, "validation_error")
    assert _named(response) == ["name"]
    response = await client.post(
        "/api/auth/register", json={"email": email, "password": "pass\u202eword\x1b1", "name": "Ada"}
    )
    assert response.status_code == 201, response.text
    response = await client.post("/api/auth/login", json={"email": email, "password": "pass\u202eword\x1b1"})
    assert response.status_code == 200, response.text


def _nested(depth: int) -> bytes:
    return b'{"email": ' + b"[" * (depth - 1) + b"]" * (depth - 1) + b"}"


@pytest.mark.parametrize("depth", [65, 958, 100_000])
async def test_json_nested_deeper_than_64_levels_is_a_400_even_anonymously(client, depth):
    response = await client.post(
        "/api/auth/register", content=_nested(depth), headers={"content-type": "application/json"}
    )
    body = assert_problem(response, 400, "validation_error")
    assert "64" in body["detail"]


async def test_json_nested_64_levels_is_judged_on_its_fields(client):
    """Depth 64 passes the depth rule; the body is then refused for what it holds (email is not a list)."""
    response = await client.post(
        "/api/auth/register", content=_nested(64), headers={"content-type": "application/json"}
    )
    body = assert_problem(response, 400, "validation_error")
    assert "64" not in body["detail"]


async def test_brackets_inside_strings_do_not_count_as_nesting(client):
    email = unique_email("brackets")
    response = await client.post(
        "/api/auth/register",
        json={"email": email, "password": "[" * 50 + "{" * 30, "name": "Ada [[[{{{"},
    )
    assert response.status_code == 400  # the password is too long: judged on its field, not as nesting
    assert _named(response) == ["password"]
    response = await client.post(
        "/api/auth/register", json={"email": email, "password": '"[\\"' * 10, "name": "[" * 80}
    )
    assert response.status_code == 201, response.text
