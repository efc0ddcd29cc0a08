"""Operational endpoints, the error model for the framework's own errors, request ids, the schema."""

from __future__ import annotations

import re

import pytest
from pymongo.errors import (
    AutoReconnect,
    ExecutionTimeout,
    NetworkTimeout,
    ServerSelectionTimeoutError,
    WaitQueueTimeoutError,
    WriteConcernError,
    WTimeoutError,
)

from app.clients import service as clients_service
from tests.conftest import assert_problem


class _ExplodingDatabase:
    def __getattr__(self, name):
        raise AssertionError(f"/health touched the database ({name})")


async def test_health_is_ok_without_auth_or_database(client, app):
    real, app.state.db = app.state.db, _ExplodingDatabase()
    response = await client.get("/health")
    app.state.db = real
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
    assert response.headers["content-type"] == "application/json"
    assert len(response.headers["x-request-id"]) >= 16


async def test_ready_pings_the_database(client):
    response = await client.get("/ready")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "ok"}


REFUSED = "127.0.0.1:27017: [Errno 111] Connection refused, secret topology"


@pytest.mark.parametrize(
    ("error", "says"),
    [
        (ServerSelectionTimeoutError(REFUSED), "unreachable"),
        (WaitQueueTimeoutError("secret topology: pool wait timed out"), "busy"),
        (AutoReconnect("connection closed, secret topology"), "a change may have been applied"),
        (NetworkTimeout("timed out, secret topology"), "a change may have been applied"),
        # timeoutMS ran out on the server: the operation was cut off, perhaps after it applied
        (ExecutionTimeout("operation exceeded time limit, refused by secret topology", 50), "time limit"),
        # the primary applied it; a majority did not confirm in time (w: majority, wtimeout)
        (WTimeoutError("waiting for replication timed out, secret topology", 64), "could not confirm"),
        (WriteConcernError("secret topology: write concern error", 100), "could not confirm"),
    ],
)
async def test_database_errors_in_a_request_are_honest_503s_not_500(client, auth, monkeypatch, error, says):
    async def down(*args, **kwargs):
        raise error

    monkeypatch.setattr(clients_service, "create_client", down)
    response = await client.post("/api/clients", json={"name": "Acme"}, headers=auth)
    problem = assert_problem(response, 503, "database_unavailable")
    assert says in problem["detail"]
    assert "refused" not in problem["detail"] and "topology" not in problem["detail"]
    if says not in ("unreachable", "busy"):
        assert "Idempotency-Key" in problem["detail"]


async def test_unexpected_errors_are_500_problems_without_internals(client, auth, monkeypatch):
    async def boom(*args, **kwargs):
        raise RuntimeError("secret internal message at /srv/app/x.py line 3")

    monkeypatch.setattr(clients_service, "list_clients", boom)
    response = await client.get("/api/clients", headers=auth)
    problem = assert_problem(response, 500, "internal_error")
    assert "secret" not in response.text and "Traceback" not in response.text and "x.py" not in response.text
    assert problem["title"] == "Internal Server Error"


async def test_metrics_are_prometheus_text_per_route_template(client, auth):
    created = await client.post("/api/clients", json={"name": "Acme"}, headers=auth)
    await client.get(f"/api/clients/{created.json()['id']}", headers=auth)
    response = await client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    text = response.text
    assert 'orbix_http_requests_total{method="GET",route="/api/clients/{client_id}",status="200"} 1.0' in text
    assert "orbix_http_request_duration_seconds_bucket" in text
    assert created.json()["id"] not in text


async def test_unknown_route_is_a_404_problem(client):
    assert_problem(await client.get("/api/nope"), 404, "not_found")
    assert_problem(await client.get("/definitely/not/here"), 404, "not_found")


async def test_wrong_method_is_a_405_problem(client, auth):
    assert_problem(await client.put("/api/clients", json={}, headers=auth), 405, "method_not_allowed")
    assert_problem(await client.delete("/health"), 405, "method_not_allowed")


async def test_body_over_one_mebibyte_is_413(client, auth):
    body = b'{"name": "' + b"x" * (1024 * 1024) + b'"}'
    response = await client.post(
        "/api/clients", content=body, headers={**auth, "content-type": "application/json"}
    )
    assert_problem(response, 413, "payload_too_large")


@pytest.mark.parametrize(
    "body",
    [b"{bad json", b'{"name": NaN}', b'{"name": Infinity}', b"{'name': 'x'}", b'{"name": "x"', b"\xff\xfe"],
)
async def test_malformed_json_is_invalid_json(client, auth, body):
    response = await client.post(
        "/api/clients", content=body, headers={**auth, "content-type": "application/json"}
    )
    assert_problem(response, 400, "invalid_json")


async def test_empty_body_is_a_validation_error(client, auth):
    response = await client.post(
        "/api/clients", content=b"", headers={**auth, "content-type": "application/json"}
    )
    problem = assert_problem(response, 400, "validation_error")
    assert problem["errors"][0]["field"] == "body"


async def test_validation_errors_name_every_field(client, auth):
    response = await client.post("/api/clients", json={"name": 5}, headers=auth)
    problem = assert_problem(response, 400, "validation_error")
    assert problem["errors"] == [{"field": "name", "message": "Expected `str`, got `int`"}]


async def test_request_id_is_echoed_when_sane_and_generated_otherwise(client):
    sane = await client.get("/api/nope", headers={"X-Request-ID": "abc-123.DEF_456"})
    assert sane.headers["x-request-id"] == "abc-123.DEF_456"
    assert sane.json()["request_id"] == "abc-123.DEF_456"
    for insane in ["x" * 500, "has space", "<script>"]:
        response = await client.get("/ready", headers={"X-Request-ID": insane})
        assert response.headers["x-request-id"] != insane
        assert len(response.headers["x-request-id"]) == 32
    health = await client.get("/health", headers={"X-Request-ID": "lb-probe-1"})
    assert health.headers["x-request-id"] == "lb-probe-1"


async def test_openapi_document_lists_every_route_with_bodies_and_errors(client, app):
    response = await client.get("/schema/openapi.json")
    assert response.status_code == 200
    schema = response.json()
    assert schema["openapi"].startswith("3.1")
    paths = schema["paths"]
    for route in app.routes:
        if route.path.startswith("/schema"):
            continue
        documented = re.sub(r"\{(\w+):\w+\}", r"{\1}", route.path)
        assert documented in paths, documented
    register = paths["/api/auth/register"]["post"]
    assert register["requestBody"]["content"]["application/json"]["schema"]
    assert {"201", "400", "409", "429", "500"} <= set(register["responses"])
    problem = register["responses"]["409"]["content"]["application/problem+json"]["schema"]
    assert problem["allOf"][0] == {"$ref": "#/components/schemas/Problem"}
    assert problem["allOf"][1]["properties"]["code"]["enum"] == ["email_taken"]
    assert "401" not in register["responses"]  # no token is needed, and no credential is checked
    assert {"200", "401", "429"} <= set(paths["/api/auth/login"]["post"]["responses"])  # wrong credentials
    get_client = paths["/api/clients/{client_id}"]["get"]
    assert {"200", "401", "404"} <= set(get_client["responses"])
    assert schema["components"]["securitySchemes"]["BearerToken"]["scheme"] == "bearer"
