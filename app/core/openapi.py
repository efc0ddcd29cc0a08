"""Documents the error responses every operation can give, as RFC 9457 problem details."""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

from litestar import Litestar
from litestar.openapi.spec import OpenAPIMediaType, OpenAPIResponse, Reference, Schema
from litestar.openapi.spec.enums import OpenAPIType

from app.core.auth import RATE_LIMITED
from app.core.errors import PROBLEM_JSON
from app.core.schemas import BaseStruct

PROBLEM_SCHEMA = Schema(
    type=OpenAPIType.OBJECT,
    required=["type", "title", "status", "detail", "code", "request_id"],
    properties={
        "type": Schema(type=OpenAPIType.STRING),
        "title": Schema(type=OpenAPIType.STRING),
        "status": Schema(type=OpenAPIType.INTEGER),
        "detail": Schema(type=OpenAPIType.STRING),
        "code": Schema(type=OpenAPIType.STRING, description="Stable machine-readable error code"),
        "request_id": Schema(type=OpenAPIType.STRING),
        "errors": Schema(
            type=OpenAPIType.ARRAY,
            items=Schema(
                type=OpenAPIType.OBJECT,
                required=["field", "message"],
                properties={
                    "field": Schema(type=OpenAPIType.STRING),
                    "message": Schema(type=OpenAPIType.STRING),
                },
            ),
        ),
    },
)


def _problem(status: int) -> OpenAPIResponse:
    return OpenAPIResponse(
        description=HTTPStatus(status).phrase,
        content={PROBLEM_JSON: OpenAPIMediaType(schema=Reference(ref="#/components/schemas/Problem"))},
    )


def document_errors(app: Litestar) -> None:
    """Add the problem-details responses to every operation of the generated schema, once."""
    schema = app.openapi_schema
    if schema.components.schemas is None:
        schema.components.schemas = {}
    schema.components.schemas["Problem"] = PROBLEM_SCHEMA
    handlers = {
        (route.path, method): handler
        for route in app.routes
        for handler in getattr(route, "route_handlers", [])
        for method in handler.http_methods
    }
    for path, item in (schema.paths or {}).items():
        for method in ("get", "post", "put", "patch", "delete"):
            operation = getattr(item, method, None)
            if operation is None:
                continue
            handler = handlers.get((path, method.upper()))
            opt: dict[str, Any] = handler.opt if handler else {}
            statuses = [500]
            if path.startswith("/api/"):
                statuses += [400, 404, 405, 409]
                if operation.security != []:
                    statuses.append(401)
                if operation.request_body is not None:
                    statuses.append(413)
                if opt.get(RATE_LIMITED):
                    statuses.append(429)
            statuses += opt.get("error_statuses", [])
            responses = operation.responses or {}
            for status in sorted(set(statuses)):
                responses[str(status)] = _problem(status)
            operation.responses = responses
    _forbid_unknown_fields(schema.components.schemas)


def _request_structs(base: type = BaseStruct) -> list[type]:
    found: list[type] = []
    sub: type
    for sub in base.__subclasses__():
        found += [sub, *_request_structs(sub)]
    return found


def _forbid_unknown_fields(components: dict[str, Any]) -> None:
    """Request bodies reject unknown fields (a 400), so their schemas say `additionalProperties: false`."""
    for struct in _request_structs():
        component = components.get(struct.__name__)
        if isinstance(component, Schema) and component.properties is not None:
            component.additional_properties = False
