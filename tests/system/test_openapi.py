"""The served OpenAPI document, as TypeScript client generators (openapi-typescript, orval, hey-api) read it.

Every check walks every operation of /schema/openapi.json, so routes added later are covered as they land.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from html.parser import HTMLParser
from typing import Any

import openapi_ui_bundles
import pytest
from litestar.testing import TestClient

from app.config import Settings
from app.core.errors import InUse
from app.core.roles import Role
from app.http.credentials import CSRF_HEADER, SESSION_COOKIE
from app.main import create_app
from tests import problem_codes
from tests.conftest import assert_problem
from tests.invoices.factories import create_invoice, create_sent_invoice
from tests.security.test_roles import EXPECTED as EXPECTED_ROLES

PUBLIC_API = {
    ("post", "/api/auth/register"),
    ("post", "/api/auth/login"),
    ("post", "/api/auth/password-reset"),
    ("post", "/api/auth/password-reset/confirm"),
    ("post", "/api/auth/verify-email"),
}
METHODS = ("get", "post", "put", "patch", "delete")
PROBLEM_REF = "#/components/schemas/Problem"


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    with TestClient(create_app(Settings.from_env())) as http:
        response = http.get("/schema/openapi.json")
    assert response.status_code == 200
    return dict(response.json())


def operations(document: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, item in document["paths"].items():
        for method, operation in item.items():
            if method in METHODS:
                yield method, path, operation


def query_parameters(operation: dict[str, Any]) -> list[dict[str, Any]]:
    return [p for p in operation.get("parameters", []) if p["in"] == "query"]


def lists(document: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """(path, operation) of every list: a GET with a `sort` parameter."""
    return [
        (path, op)
        for method, path, op in operations(document)
        if method == "get" and any(p["name"] == "sort" for p in query_parameters(op))
    ]


def test_register_and_login_declare_no_security_and_every_other_api_operation_the_bearer_token_or_cookie(
    document,
):
    """Either requirement satisfies an operation: the bearer token, or the session cookie, paired with the
    CSRF header on every method but GET (double submit, API.md section 20)."""
    for method, path, operation in operations(document):
        public = (method, path) in PUBLIC_API or not path.startswith("/api/")
        cookie = {"SessionCookie": []} if method == "get" else {"SessionCookie": [], "CsrfToken": []}
        expected = [] if public else [{"BearerToken": []}, cookie]
        assert (operation.get("security") or [])[:2] == expected, (
            method,
            path,
        )  # then ApiKey where a key may
    schemes = document["components"]["securitySchemes"]
    assert schemes["BearerToken"] == {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
    assert {k: v for k, v in schemes["SessionCookie"].items() if k != "description"} == {
        "type": "apiKey",
        "in": "cookie",
        "name": SESSION_COOKIE,
    }
    assert {k: v for k, v in schemes["CsrfToken"].items() if k != "description"} == {
        "type": "apiKey",
        "in": "header",
        "name": "X-CSRF-Token",
    }
    assert schemes["CsrfToken"]["name"] == CSRF_HEADER  # the header the middleware reads


def test_no_204_answer_is_documented_with_a_body(document):
    """A 204 has no body and no Content-Type: logout's `Response[None]` once documented `application/json`."""
    answers = [
        (m, p, op["responses"]["204"]) for m, p, op in operations(document) if "204" in op["responses"]
    ]
    assert len(answers) >= 10
    for method, path, answer in answers:
        assert "content" not in answer, (method, path, answer)


def test_the_operations_an_api_key_may_use_declare_its_scheme(document):
    """API.md section 20: a key never reaches the user's own routes, members, invitations, keys or timers."""
    scheme = document["components"]["securitySchemes"]["ApiKey"]
    assert (scheme["scheme"], scheme["bearerFormat"]) == ("bearer", "orbix_sk_…")
    keyed = {
        (method, path)
        for method, path, operation in operations(document)
        if {"ApiKey": []} in (operation.get("security") or [])
    }
    assert ("get", "/api/clients") in keyed and ("patch", "/api/organization") in keyed
    never = [
        (method, path)
        for method, path in keyed
        if path.startswith(("/api/auth/", "/api/organizations", "/api/invitations"))
        or path.startswith(("/api/organization/members", "/api/organization/invitations"))
        or path.startswith("/api/organization/api-keys")
        or path == "/api/time-entries/start"
    ]
    assert not never, never


async def test_each_list_sort_parameter_is_an_enum_of_exactly_the_values_the_list_accepts(
    client, auth, document
):
    assert len(lists(document)) >= 6
    invoice = await create_invoice(client, auth)  # for the lists under one invoice (or one webhook endpoint)
    endpoint = await client.post(
        "/api/webhook-endpoints", json={"url": "http://127.0.0.1:9/hooks", "events": ["*"]}, headers=auth
    )
    sent = await create_sent_invoice(client, auth)  # and under one credit note
    note = await client.post(f"/api/invoices/{sent['id']}/credit-notes", json={"reason": "x"}, headers=auth)
    for listed, operation in lists(document):
        path = listed.replace("{invoice_id}", invoice["id"]).replace("{endpoint_id}", endpoint.json()["id"])
        path = path.replace("{credit_note_id}", note.json()["id"])
        sort = next(p for p in query_parameters(operation) if p["name"] == "sort")
        values = sort["schema"]["enum"]
        fields = sorted({v.removeprefix("-") for v in values})
        assert sorted(values) == sorted(fields + [f"-{f}" for f in fields]), path
        assert sort["schema"]["default"] in values
        for value in values:
            response = await client.get(path, params={"sort": value}, headers=auth)
            assert response.status_code == 200, (path, value, response.text)
        refused = await client.get(path, params={"sort": "no_such_field"}, headers=auth)
        assert refused.status_code == 400
        accepted = re.search(r"use one of (.+)$", refused.json()["errors"][0]["message"])
        assert accepted and accepted[1].split(", ") == fields, (path, refused.json())


def test_filters_are_optional_parameters_never_null(document):
    for method, path, operation in operations(document):
        for parameter in query_parameters(operation):
            where = (method, path, parameter["name"])
            assert parameter["required"] is False, where
            schema = json.dumps(parameter["schema"])
            assert '"null"' not in schema and "null]" not in schema and "oneOf" not in schema, where


def test_every_operation_has_a_unique_operation_id_and_a_description(document):
    ids = [op.get("operationId") for _, _, op in operations(document)]
    assert all(ids) and len(ids) == len(set(ids))
    for method, path, operation in operations(document):
        assert operation.get("description", "").strip(), (method, path)


def error_codes(response: dict[str, Any]) -> list[str]:
    """The `code` enum of a problem response (allOf: Problem, then the codes)."""
    schema = response["content"]["application/problem+json"]["schema"]
    problem, narrowed = schema["allOf"]
    assert problem == {"$ref": PROBLEM_REF}
    assert narrowed["required"] == ["code"]
    return list(narrowed["properties"]["code"]["enum"])


def test_every_error_response_is_a_problem_listing_the_codes_of_its_status(document):
    for method, path, operation in operations(document):
        errors = {int(s): r for s, r in operation["responses"].items() if int(s) >= 400}
        assert "internal_error" in error_codes(errors[500]), (method, path)
        for status, response in errors.items():
            assert error_codes(response), (method, path, status)
        if path.startswith("/api/") and (method, path) not in PUBLIC_API:
            assert error_codes(errors[401]) == ["unauthorized"], (method, path)
        if "{" in path:
            assert "not_found" in error_codes(errors[404]), (method, path)
        if "requestBody" in operation:
            assert {"validation_error", "invalid_json"} <= set(error_codes(errors[400])), (method, path)
            assert error_codes(errors[413]) == ["payload_too_large"], (method, path)
    login = document["paths"]["/api/auth/login"]["post"]["responses"]
    assert error_codes(login["401"]) == ["unauthorized"]  # wrong credentials, declared by the handler
    assert error_codes(login["429"]) == ["rate_limited"]
    generate = document["paths"]["/api/resumes/generate"]["post"]["responses"]
    assert error_codes(generate["503"]) == ["ai_unavailable", "database_unavailable"]


def test_list_responses_are_named_page_components(document):
    schemas = document["components"]["schemas"]
    for name in schemas:
        assert re.fullmatch(r"[A-Z][A-Za-z0-9]*", name), name  # never Page_app.invoices.schemas.InvoiceOut_
    for path, operation in lists(document):
        ref = operation["responses"]["200"]["content"]["application/json"]["schema"]["$ref"]
        page = ref.rsplit("/", 1)[1]
        assert page.endswith("Page"), (path, page)
        items = schemas[page]["properties"]["items"]["items"]["$ref"].rsplit("/", 1)[1]
        assert items == page.removesuffix("Page") + "Out", (path, page, items)
    assert {"ClientPage", "InvoicePage", "ProjectPage", "TimeEntryPage", "ContractPage"} <= set(schemas)


def test_shared_enums_are_components(document):
    schemas = document["components"]["schemas"]
    expected = {
        "InvoiceStatus": ["draft", "sent", "paid", "void"],
        "ProjectStatus": ["active", "completed", "archived"],
        "ContractStatus": ["draft", "sent", "signed", "cancelled"],
    }
    for name, values in expected.items():
        assert schemas[name]["type"] == "string" and schemas[name]["enum"] == values, name
    for thing in ("Invoice", "Project", "Contract"):
        status = schemas[f"{thing}Out"]["properties"]["status"]
        assert status == {"$ref": f"#/components/schemas/{thing}Status"}, status
    invoice_filter = next(
        p for p in query_parameters(document["paths"]["/api/invoices"]["get"]) if p["name"] == "status"
    )
    assert invoice_filter["schema"]["$ref"] == "#/components/schemas/InvoiceStatus"
    # Any enum used in more than one place (TaxCategory when invoices carry one, ...) is a component too.
    inline: dict[tuple[str, ...], list[str]] = {}
    for method, path, operation in operations(document):
        for parameter in query_parameters(operation):
            if parameter["name"] != "sort":  # each list's own
                for where, schema in walk(parameter["schema"], f"{method} {path} ?{parameter['name']}"):
                    if "enum" in schema:
                        inline.setdefault(tuple(map(str, schema["enum"])), []).append(where)
    for name, component in schemas.items():
        for where, schema in walk(component, name):
            if "enum" in schema and where != name:
                inline.setdefault(tuple(map(str, schema["enum"])), []).append(where)
    shared = {values: places for values, places in inline.items() if len(places) > 1}
    assert not shared, shared


def walk(node: Any, where: str) -> Iterator[tuple[str, dict[str, Any]]]:
    """(path, object) of every JSON object in `node`."""
    if isinstance(node, dict):
        yield where, node
        for key, value in node.items():
            yield from walk(value, f"{where}/{key}")
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from walk(value, f"{where}/{index}")


def test_every_response_declares_x_request_id_and_a_429_retry_after(document):
    headers = document["components"]["headers"]
    assert {"X-Request-ID", "Retry-After"} <= set(headers)
    limited = 0
    for method, path, operation in operations(document):
        for status, response in operation["responses"].items():
            declared = response.get("headers", {})
            assert declared.get("X-Request-ID") == {"$ref": "#/components/headers/X-Request-ID"}, (
                method,
                path,
                status,
            )
            if status == "429":
                limited += 1
                assert declared["Retry-After"] == {"$ref": "#/components/headers/Retry-After"}
    assert limited >= 2  # register and login


async def test_metrics_sends_exactly_one_charset(client):
    response = await client.get("/metrics")
    assert response.status_code == 200
    content_type = response.headers["content-type"]
    assert content_type.startswith("text/plain") and content_type.count("charset=") == 1, content_type


class _Assets(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.urls += [v for k, v in attrs if k in ("src", "href", "spec-url") and v]


async def test_interactive_docs_load_only_what_the_app_itself_serves(client):
    page = await client.get("/schema")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    found = _Assets()
    found.feed(page.text)
    assert len(found.urls) >= 2, page.text  # Redoc's script and the document it reads
    for url in found.urls:
        assert url.startswith("/") and not url.startswith("//"), url  # no CDN, no other host
        asset = await client.get(url)
        assert asset.status_code == 200 and asset.content, url
    assert not re.search(r"https?://", page.text), page.text  # the page itself names no other host
    script = next(u for u in found.urls if u.endswith(".js"))
    served = await client.get(script)
    assert served.headers["content-type"].startswith("application/javascript")
    # Redoc's own bundle, less the one image it would load from a CDN (Redocly's logo): no `src` in the
    # script names another host, and the rest is the package's file byte for byte.
    assert not re.findall(rb"""src\s*[:=]\s*["'](?:https?:)?//""", served.content)
    bundle = (openapi_ui_bundles.redoc.static_path / "redoc.standalone.js").read_bytes()
    assert served.content == bundle.replace(b"https://cdn.redoc.ly/redoc/logo-mini.svg", b"")


@pytest.mark.parametrize(
    "path", ["/schema/nope", "/schema/redoc/nope", "/schema/assets/nope.js", "/schema/x.json"]
)
async def test_an_unknown_path_under_schema_is_a_404_problem(client, path):
    response = await client.get(path)
    assert_problem(response, 404, "not_found")


def test_document_downloads_are_binary_with_their_media_type(document):
    for path, media_type in (
        ("/api/invoices/{invoice_id}/pdf", "application/pdf"),
        ("/api/invoices/{invoice_id}/e-invoice", "application/xml"),
    ):
        content = document["paths"][path]["get"]["responses"]["200"]["content"]
        assert list(content) == [media_type], (path, content)
        schema = content[media_type]["schema"]
        assert schema == {"type": "string", "format": "binary", "contentMediaType": media_type}, path


async def test_a_route_answering_a_code_its_operation_does_not_declare_is_caught(client, auth, monkeypatch):
    """The suite-wide check of tests/problem_codes.py (run after every test) catches an undeclared code."""
    from app.clients import service

    async def refuse(*_: Any) -> None:
        raise InUse("A client that nothing references, refused anyway")

    monkeypatch.setattr(service, "get_client", refuse)
    response = await client.get("/api/clients/6740f0c2a1b2c3d4e5f60718", headers=auth)
    assert response.status_code == 409
    assert problem_codes.undeclared() == [("getClient", 409, "in_use")]  # and forgotten: this test passes


def test_operations_acting_in_an_organisation_document_how_it_is_chosen_and_the_403_of_their_role(document):
    """API.md section 19: the Orbix-Organization header (and, on GET, the `organization` query parameter) on
    every operation that acts in an organisation, its 404, the 403 of a role above viewer, and the response
    header naming the organisation; the routes of the user alone document none of it."""
    acting = 0
    for method, path, operation in operations(document):
        least = EXPECTED_ROLES.get(operation["operationId"])
        parameters = {(p["in"], p["name"]): p for p in operation.get("parameters", [])}
        header = parameters.get(("header", "Orbix-Organization"))
        query = parameters.get(("query", "organization"))
        errors = {int(s): r for s, r in operation["responses"].items() if int(s) >= 400}
        successes = [r for s, r in operation["responses"].items() if int(s) < 400]
        if not isinstance(least, Role):
            assert header is None and query is None, (method, path)
            assert all("Orbix-Organization" not in r.get("headers", {}) for r in successes), (method, path)
            continue
        acting += 1
        for parameter in (header, query) if method == "get" else (header,):
            assert parameter is not None and parameter.get("required") is False, (method, path)
            assert parameter["schema"] == {"type": "string", "pattern": "^[0-9a-f]{24}$"}, (method, path)
            assert parameter["description"].strip(), (method, path)
        assert method == "get" or query is None, (method, path)
        assert "not_found" in error_codes(errors[404]), (method, path)
        if least is not Role.VIEWER:  # a viewer's operation may still name a rule of its own (PATCH /me)
            assert "forbidden" in error_codes(errors[403]), (method, path)
        for response in successes:
            named = response["headers"]["Orbix-Organization"]
            assert named == {"$ref": "#/components/headers/Orbix-Organization"}, (method, path)
    assert acting >= 50
    assert document["components"]["headers"]["Orbix-Organization"]["schema"]["pattern"] == "^[0-9a-f]{24}$"
