"""Documents the error responses every operation can give, as RFC 9457 problem details."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from http import HTTPStatus
from typing import Any

from litestar import Litestar
from litestar._openapi.schema_generation import SchemaCreator
from litestar._openapi.schema_generation.plugins.struct import StructSchemaPlugin
from litestar.handlers import HTTPRouteHandler
from litestar.openapi.datastructures import ResponseSpec
from litestar.openapi.spec import Operation, Parameter, Schema
from litestar.openapi.spec.enums import OpenAPIType
from litestar.plugins import OpenAPISchemaPlugin
from litestar.typing import FieldDefinition

from app.core.errors import (
    ERRORS_OPT,
    PROBLEM_JSON,
    AppError,
    IdempotencyKeyInProgress,
    IdempotencyKeyReused,
    PreconditionFailed,
    Problem,
    declared_errors,
)
from app.core.idempotency import HEADER as IDEMPOTENCY_KEY
from app.core.rate_limit import RATE_LIMITED
from app.core.schemas import BaseStruct
from app.core.tokens import EXCLUDE_FROM_AUTH
from app.core.versioning import NAMES_THE_CALLER


def _problem(status: int) -> ResponseSpec:
    return ResponseSpec(
        data_container=Problem,
        generate_examples=False,
        description=HTTPStatus(status).phrase,
        media_type=PROBLEM_JSON,
    )


_IDEMPOTENCY_KEY_PARAMETER = Parameter(
    name=IDEMPOTENCY_KEY,
    param_in="header",
    required=False,
    schema=Schema(type=OpenAPIType.STRING, min_length=1, max_length=255, pattern=r"^[\x20-\x7E]+$"),
    description=(
        "Makes a retry safe: the first answer (below 500) to this user's request with this key is kept "
        "for 24 h and replayed with `Idempotent-Replayed: true`. The same key with another method, path or "
        "body is 422 `idempotency_key_reused`; a repeat while the first still runs is 409 "
        "`idempotency_key_in_progress`."
    ),
)


_IF_MATCH_PARAMETER = Parameter(
    name="If-Match",
    param_in="header",
    required=False,
    schema=Schema(type=OpenAPIType.STRING),
    description=(
        "The `ETag` you last read (`*` or a list also work): the write happens only while the resource is "
        "still at that version, else 412 `precondition_failed` (checked before any state rule; nothing is "
        "written)."
    ),
)
_IF_NONE_MATCH_PARAMETER = Parameter(
    name="If-None-Match",
    param_in="header",
    required=False,
    schema=Schema(type=OpenAPIType.STRING),
    description="An `ETag` you hold: 304 without a body while it is still the current one.",
)


def _request_headers(path: str, handler: HTTPRouteHandler) -> list[Parameter]:
    """The headers of API.md §18 an operation honours: Idempotency-Key on every authenticated POST under /api
    (not register or login), If-Match on the writes of one resource, If-None-Match on its reads."""
    if not path.startswith("/api/") or handler.opt.get(EXCLUDE_FROM_AUTH):
        return []
    methods = handler.http_methods
    headers = [_IDEMPOTENCY_KEY_PARAMETER] if "POST" in methods else []
    if "{" in path or handler.opt.get(NAMES_THE_CALLER):
        if methods & {"PATCH", "DELETE", "POST"}:
            headers.append(_IF_MATCH_PARAMETER)
        if "GET" in methods:
            headers.append(_IF_NONE_MATCH_PARAMETER)
    return headers


def _operation_with(headers: list[Parameter]) -> type[Operation]:
    """An Operation class that declares `headers` beside the parameters Litestar finds."""

    @dataclass
    class WithHeaders(Operation):
        def __post_init__(self) -> None:
            self.parameters = [*(self.parameters or []), *headers]

    return WithHeaders


_ERRORS_OF_HEADER: dict[str, tuple[type[AppError], ...]] = {
    IDEMPOTENCY_KEY: (IdempotencyKeyInProgress, IdempotencyKeyReused),
    "If-Match": (PreconditionFailed,),
}


def _error_statuses(path: str, handler: HTTPRouteHandler) -> set[int]:
    statuses = {500, *(error.status for error in declared_errors(handler.opt))}
    if path.startswith("/api/"):
        statuses |= {400, 404, 405, 409, 503}  # 503: database_unavailable
        if not handler.opt.get(EXCLUDE_FROM_AUTH):
            statuses.add(401)
        if handler.parsed_data_field is not None:
            statuses.add(413)
        if handler.opt.get(RATE_LIMITED):
            statuses.add(429)
    return statuses


def document_errors(app: Litestar) -> None:
    """Declare the problem-details responses every operation can give, on the route handlers themselves,
    so Litestar writes them into the schema when (and only when) the schema is first asked for."""
    for route in app.routes:
        for handler in getattr(route, "route_handlers", []):
            if not isinstance(handler, HTTPRouteHandler):
                continue
            headers = _request_headers(route.path, handler)
            if headers:
                handler.operation_class = _operation_with(headers)
                declared = declared_errors(handler.opt)
                added = {e for h in headers for e in _ERRORS_OF_HEADER.get(h.name, ()) if e not in declared}
                handler.opt[ERRORS_OPT] = (*declared, *sorted(added, key=lambda e: e.code))
            responses = dict(handler.responses or {})
            if _IF_NONE_MATCH_PARAMETER in headers:
                responses.setdefault(304, ResponseSpec(data_container=None, description="Not Modified"))
            for status in _error_statuses(route.path, handler):
                responses.setdefault(status, _problem(status))
            handler.responses = responses


class RequestStructSchemaPlugin(StructSchemaPlugin):
    """Request bodies reject unknown fields (a 400), so their schemas say `additionalProperties: false`."""

    def is_plugin_supported_field(self, field_definition: FieldDefinition) -> bool:
        return field_definition.is_subclass_of(BaseStruct)

    def to_openapi_schema(self, field_definition: FieldDefinition, schema_creator: SchemaCreator) -> Schema:
        schema = super().to_openapi_schema(field_definition, schema_creator)
        schema.additional_properties = False
        return schema


class DecimalInputSchemaPlugin(OpenAPISchemaPlugin):
    """Decimal request fields take a decimal string or a JSON number (both decoded exactly)."""

    @staticmethod
    def is_plugin_supported_type(value: Any) -> bool:
        return value is Decimal

    def to_openapi_schema(self, field_definition: FieldDefinition, schema_creator: SchemaCreator) -> Schema:
        return Schema(
            one_of=[
                Schema(type=OpenAPIType.STRING, pattern=r"^-?\d+(\.\d+)?$", examples=["1234.50"]),
                Schema(type=OpenAPIType.NUMBER),
            ],
            description='A decimal: a string such as "1234.50" or a JSON number, never read through a float',
        )
