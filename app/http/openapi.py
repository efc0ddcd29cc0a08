"""The OpenAPI document as client generators read it.

Handlers declare in their `opt` what the document cannot see in their signatures: the named errors they
raise (`raises(InvalidState)`, core/errors.py) and, for a list, the sort fields it accepts
(`sorted_by(SORTS)`, db/pagination.py: the very mapping the service sorts with). `document_operations`
turns that, and each route's shape (auth, parameters, body), into every operation's security, its `sort`
enum, and per error status the problem `code`s it can return.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass, replace
from decimal import Decimal
from http import HTTPStatus
from typing import Any

from litestar import Litestar
from litestar.handlers import HTTPRouteHandler
from litestar.openapi.datastructures import ResponseSpec
from litestar.openapi.spec import (
    Components,
    OpenAPIHeader,
    OpenAPIMediaType,
    OpenAPIResponse,
    Operation,
    Parameter,
    Reference,
    Schema,
    SecurityScheme,
)
from litestar.openapi.spec.enums import OpenAPIType
from litestar.plugins import OpenAPISchemaPlugin
from litestar.typing import FieldDefinition

from app.core import scopes
from app.core.errors import (
    AppError,
    CsrfFailed,
    DatabaseUnavailable,
    Forbidden,
    IdempotencyKeyInProgress,
    IdempotencyKeyReused,
    InsufficientScope,
    InternalError,
    InvalidJson,
    NotFound,
    PayloadTooLarge,
    PreconditionFailed,
    RateLimited,
    Unauthorized,
    ValidationFailed,
    declared_errors,
)
from app.core.roles import Role
from app.db.pagination import DEFAULT_SORT, KEYSET, SORT_DEFAULT, SORTS, sort_values
from app.http.credentials import CSRF_HEADER, SAFE_METHODS, SESSION_COOKIE
from app.http.idempotency import HEADER as IDEMPOTENCY_KEY
from app.http.idempotency import is_never_replayed
from app.http.litestar_private import SchemaCreator, StructSchemaPlugin
from app.http.problems import PROBLEM_JSON, Problem
from app.http.public import EXCLUDE_FROM_AUTH
from app.http.rate_limit import RATE_LIMITED
from app.http.schemas import BaseStruct
from app.http.tenancy import (
    ORGANIZATION_HEADER,
    ORGANIZATION_QUERY,
    acts_in_organization,
    declared_role,
    needed_scope,
)
from app.http.versioning import EXPECTED, NAMES_THE_CALLER

ProblemClass = type[AppError]  # a named problem class: its status and code

BEARER = "BearerToken"
API_KEY = "ApiKey"
SESSION_COOKIE_SCHEME = "SessionCookie"
CSRF_SCHEME = "CsrfToken"
# The names app/auth/cookies.py uses (an area, which this layer does not import; test_openapi.py compares).
REQUEST_ID = "X-Request-ID"
RETRY_AFTER = "Retry-After"
_OBJECT_ID = "^[0-9a-f]{24}$"

# What the shape of a route implies, whatever its handler does.
ANY_OPERATION: frozenset[ProblemClass] = frozenset({InternalError})
UNDER_API: frozenset[ProblemClass] = frozenset({DatabaseUnavailable})
AUTHENTICATED: frozenset[ProblemClass] = frozenset({Unauthorized})
WITH_BODY: frozenset[ProblemClass] = frozenset({ValidationFailed, InvalidJson, PayloadTooLarge})
WITH_QUERY: frozenset[ProblemClass] = frozenset({ValidationFailed})
WITH_PATH_ID: frozenset[ProblemClass] = frozenset({NotFound})  # a malformed, missing or someone else's id
LIMITED: frozenset[ProblemClass] = frozenset({RateLimited})
IN_ORGANIZATION: frozenset[ProblemClass] = frozenset({NotFound})  # an organisation the caller is not in
ABOVE_VIEWER: frozenset[ProblemClass] = frozenset({Forbidden})  # the role guard (http/tenancy.py)
SCOPED: frozenset[ProblemClass] = frozenset({InsufficientScope})  # an API key outside its scopes


def security_schemes() -> dict[str, SecurityScheme | Reference]:
    """The ways to authenticate (API.md section 20): a user's bearer token, an API key, or the HttpOnly
    session cookie of a browser app, which unsafe methods must pair with its CSRF token in a header (double
    submit)."""
    return {
        BEARER: SecurityScheme(type="http", scheme="bearer", bearer_format="JWT"),
        API_KEY: SecurityScheme(
            type="http",
            scheme="bearer",
            bearer_format="orbix_sk_…",
            description="An API key of one organisation (`Authorization: Bearer orbix_sk_…`), created by "
            "an admin with scopes (`POST /api/organization/api-keys`). It acts in its own organisation; "
            "a route its scopes do not cover is 403 `insufficient_scope`. Never in a URL (401).",
        ),
        SESSION_COOKIE_SCHEME: SecurityScheme(
            type="apiKey",
            name=SESSION_COOKIE,
            security_scheme_in="cookie",
            description=(
                'The session cookie that login or register with `session: "cookie"` sets (HttpOnly, '
                "SameSite=Lax, Path=/api): the browser sends it (`credentials: 'include'`), script never "
                "sees it. A bearer header wins over it."
            ),
        ),
        CSRF_SCHEME: SecurityScheme(
            type="apiKey",
            name=CSRF_HEADER,
            security_scheme_in="header",
            description=(
                "With the session cookie on every method but GET, HEAD and OPTIONS: the session's "
                "`csrf_token` (in the login or register answer, in GET /api/auth/me and in the readable "
                "`orbix_csrf` cookie), else 403 `csrf_failed`."
            ),
        ),
    }


def security(public: bool, unsafe: bool, api_key: bool) -> list[dict[str, list[str]]]:
    """Any requirement satisfies an operation: the bearer token, the session cookie (with the CSRF header
    when the method is unsafe), or an API key where a key may use it."""
    if public:
        return []
    cookie: dict[str, list[str]] = {SESSION_COOKIE_SCHEME: []}
    if unsafe:
        cookie[CSRF_SCHEME] = []
    requirements: list[dict[str, list[str]]] = [{BEARER: []}, cookie]
    if api_key:
        requirements.append({API_KEY: []})
    return requirements


def components() -> Components:
    """The shared pieces every operation refers to: the security schemes and the response headers."""
    return Components(
        security_schemes=security_schemes(),
        headers={
            REQUEST_ID: OpenAPIHeader(
                description="The client's own X-Request-ID when it sent a sane one, else a new one; "
                "the problem's `request_id` on errors",
                schema=Schema(type=OpenAPIType.STRING),
            ),
            RETRY_AFTER: OpenAPIHeader(
                description="Seconds to wait before trying again", schema=Schema(type=OpenAPIType.INTEGER)
            ),
            ORGANIZATION_HEADER: OpenAPIHeader(
                description="The id of the organisation the request acted in",
                schema=Schema(type=OpenAPIType.STRING, pattern=_OBJECT_ID),
            ),
        },
    )


# ---------------------------------------------------------------- request headers (docs/api-conventions.md)


def _organization_parameter(name: str, place: str, description: str) -> Parameter:
    """An optional object id naming the organisation the request acts in."""
    schema = Schema(type=OpenAPIType.STRING, pattern=_OBJECT_ID)
    return Parameter(name=name, param_in=place, required=False, schema=schema, description=description)


_ORGANIZATION_HEADER_PARAMETER = _organization_parameter(
    ORGANIZATION_HEADER,
    "header",
    "The organisation the request acts in (one the caller is a member of, else 404 `not_found`); without "
    "it, the `organization` query parameter where accepted, else the caller's default organisation. The "
    "answer names it in its own `Orbix-Organization` header.",
)
_ORGANIZATION_QUERY_PARAMETER = _organization_parameter(
    ORGANIZATION_QUERY,
    "query",
    "The organisation the request acts in, for links and `EventSource`, which cannot send a header; the "
    "`Orbix-Organization` header wins when both are sent.",
)

_IDEMPOTENCY_KEY_PARAMETER = Parameter(
    name=IDEMPOTENCY_KEY,
    param_in="header",
    required=False,
    schema=Schema(type=OpenAPIType.STRING, min_length=1, max_length=255, pattern=r"^[\x20-\x7E]+$"),
    description=(
        "Makes a retry safe: the first answer (below 500, a 429 excepted) to this caller's request with this "
        "key, in this organisation, is kept for 24 h and replayed with `Idempotent-Replayed: true`. The same "
        "key with another method, path or body is 422 `idempotency_key_reused`; a repeat while the first "
        "still runs is 409 "
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
# What sending each header may answer (an Idempotency-Key that is not 1-255 printable characters is a 400).
_ERRORS_OF_HEADER: dict[str, frozenset[ProblemClass]] = {
    IDEMPOTENCY_KEY: frozenset({IdempotencyKeyInProgress, IdempotencyKeyReused, ValidationFailed}),
    "If-Match": frozenset({PreconditionFailed}),
}


def _request_headers(path: str, handler: HTTPRouteHandler) -> tuple[Parameter, ...]:
    """The headers an operation honours: Idempotency-Key on every authenticated POST under /api (not
    register or login, nor a route never replayed), If-Match on the writes that take it (the `expected`
    dependency), If-None-Match on the reads of one resource."""
    if not path.startswith("/api/") or handler.opt.get(EXCLUDE_FROM_AUTH):
        return ()
    methods = handler.http_methods
    keyed = "POST" in methods and not is_never_replayed(handler.opt)
    headers = [_IDEMPOTENCY_KEY_PARAMETER] if keyed else []
    if EXPECTED in inspect.signature(handler.fn).parameters:
        headers.append(_IF_MATCH_PARAMETER)
    if "GET" in methods and ("{" in path or handler.opt.get(NAMES_THE_CALLER)):
        headers.append(_IF_NONE_MATCH_PARAMETER)
    return tuple(headers)


def _organization_parameters(path: str, handler: HTTPRouteHandler) -> tuple[Parameter, ...]:
    """How an operation acting in an organisation names it: the header on every one; the query parameter
    (read on any method) documented on GET alone, the links and EventSource it exists for."""
    if not path.startswith("/api/") or not acts_in_organization(handler.opt):
        return ()
    if "GET" in handler.http_methods:
        return (_ORGANIZATION_HEADER_PARAMETER, _ORGANIZATION_QUERY_PARAMETER)
    return (_ORGANIZATION_HEADER_PARAMETER,)


# ---------------------------------------------------------------- each operation


@dataclass(frozen=True)
class Declaration:
    """What one handler adds to the shape of its route."""

    public: bool
    problems: frozenset[ProblemClass]
    sorts: tuple[str, ...] | None
    headers: tuple[Parameter, ...] = ()
    in_organization: bool = False  # its answers name the organisation (the Orbix-Organization header)
    api_key: bool = False  # an API key may use it (with the scope it needs)
    sort_default: str = DEFAULT_SORT
    keyset: bool = True  # a list offers `after`
    unsafe: bool = False  # a session cookie needs the CSRF header


def _declaration(path: str, handler: HTTPRouteHandler) -> Declaration:
    under_api = path.startswith("/api/")
    problems = set(ANY_OPERATION) | set(declared_errors(handler.opt))
    if under_api:
        problems |= UNDER_API
    if handler.opt.get(RATE_LIMITED):
        problems |= LIMITED
    public = not under_api or bool(handler.opt.get(EXCLUDE_FROM_AUTH))
    need = needed_scope(handler.opt, handler.http_methods) if under_api else None
    if not public:
        problems |= AUTHENTICATED
        if handler.http_methods - SAFE_METHODS:
            problems.add(CsrfFailed)  # a session cookie's write without its X-CSRF-Token
        if need != scopes.ANY_KEY:
            problems |= SCOPED
    headers = _request_headers(path, handler)
    for header in headers:
        problems |= _ERRORS_OF_HEADER.get(header.name, frozenset())
    organization = _organization_parameters(path, handler)
    if organization:
        problems |= IN_ORGANIZATION
        role = declared_role(handler.opt)
        if role is not None and role is not Role.VIEWER:
            problems |= ABOVE_VIEWER
    sorts = handler.opt.get(SORTS)
    return Declaration(
        sort_default=handler.opt.get(SORT_DEFAULT, DEFAULT_SORT),
        keyset=handler.opt.get(KEYSET, True),
        public=public,
        problems=frozenset(problems),
        sorts=sorts,
        headers=organization + headers,
        in_organization=bool(organization),
        api_key=not public and need != scopes.NO_KEY,
        unsafe=bool(handler.http_methods - SAFE_METHODS),
    )


def operation_codes(operation: Operation, declaration: Declaration) -> dict[int, list[str]]:
    """Per error status, the problem codes this operation can return, from its declaration and its shape."""
    problems = set(declaration.problems)
    places = {p.param_in for p in operation.parameters or [] if isinstance(p, Parameter)}
    if "query" in places:
        problems |= WITH_QUERY
    if "path" in places:
        problems |= WITH_PATH_ID
    if operation.request_body is not None:
        problems |= WITH_BODY
    by_status: dict[int, list[str]] = {}
    for status, code in sorted({(problem.status, problem.code) for problem in problems}):
        by_status.setdefault(status, []).append(code)
    return by_status


def _header_refs(status: int, in_organization: bool = False) -> dict[str, OpenAPIHeader | Reference]:
    names = [REQUEST_ID, RETRY_AFTER] if status == 429 else [REQUEST_ID]
    if in_organization and status < 400:
        names.append(ORGANIZATION_HEADER)
    return {name: Reference(ref=f"#/components/headers/{name}") for name in names}


def _problem_response(status: int, codes: list[str]) -> OpenAPIResponse:
    code = Schema(type=OpenAPIType.STRING, enum=list(codes))
    schema = Schema(
        all_of=[
            Reference(ref="#/components/schemas/Problem"),
            Schema(type=OpenAPIType.OBJECT, properties={"code": code}, required=["code"]),
        ]
    )
    return OpenAPIResponse(
        description=HTTPStatus(status).phrase,
        headers=_header_refs(status),
        content={PROBLEM_JSON: OpenAPIMediaType(schema=schema)},
    )


def _single_option(schema: Schema | Reference) -> Schema | Reference:
    """`X | UnsetType` (a PATCH field that may be left out) is documented as a `oneOf` of X alone: just X."""
    if not isinstance(schema, Schema) or not schema.one_of or len(schema.one_of) != 1:
        return schema
    (only,) = schema.one_of
    if isinstance(only, Reference):
        return only  # the very object, whose ref Litestar shortens later
    rest = {k: v for k, v in vars(schema).items() if v is not None and k != "one_of"}
    return replace(only, **rest)


def without_null(schema: Schema | Reference) -> Schema | Reference:
    """An optional query parameter is absent, never `null`: drop null from its schema (generators would send
    the string "null")."""
    if not isinstance(schema, Schema):
        return schema
    if schema.one_of:
        options = [s for s in schema.one_of if not (isinstance(s, Schema) and s.type == OpenAPIType.NULL)]
        single = _single_option(replace(schema, one_of=options))
        if not isinstance(single, Schema):
            return single
        schema = single
    if isinstance(schema.type, list):
        kinds = [t for t in schema.type if t != OpenAPIType.NULL]
        schema = replace(schema, type=kinds[0] if len(kinds) == 1 else kinds)
    if schema.enum:
        schema = replace(schema, enum=[v for v in schema.enum if v is not None])
    return schema


def _finish_parameter(parameter: Parameter, declaration: Declaration) -> Parameter:
    if parameter.param_in != "query" or parameter.schema is None:
        return parameter
    schema = without_null(parameter.schema)
    if parameter.name == "sort" and declaration.sorts is not None and isinstance(schema, Schema):
        schema = replace(
            schema, enum=sort_values(declaration.sorts), max_length=None, default=declaration.sort_default
        )
    return replace(parameter, schema=schema)


def finish(operation: Operation, declaration: Declaration) -> None:
    """Security, parameters and responses as the declaration and the route's shape say."""
    operation.security = security(declaration.public, declaration.unsafe, declaration.api_key)
    operation.parameters = [
        *(
            _finish_parameter(p, declaration) if isinstance(p, Parameter) else p
            for p in operation.parameters or []
            if declaration.keyset or not (isinstance(p, Parameter) and p.name == "after")
        ),
        *declaration.headers,
    ] or None
    responses: dict[str, OpenAPIResponse | Reference] = {}
    if _IF_NONE_MATCH_PARAMETER in declaration.headers:
        responses["304"] = OpenAPIResponse(
            description="Not Modified", headers=_header_refs(304, declaration.in_organization)
        )
    for key, response in (operation.responses or {}).items():
        if int(key) < 400 and isinstance(response, OpenAPIResponse):  # Litestar's own errors are replaced
            headers = _header_refs(int(key), declaration.in_organization)
            response.headers = {**(response.headers or {}), **headers}
            if key == "204":  # no body, whatever Litestar infers from a `Response[None]` return type
                response.content = None
            responses[key] = response
    for status, codes in operation_codes(operation, declaration).items():
        responses[str(status)] = _problem_response(status, codes)
    operation.responses = responses


def _operation_class(declaration: Declaration) -> type[Operation]:
    @dataclass
    class DocumentedOperation(Operation):
        def __post_init__(self) -> None:
            finish(self, declaration)

    return DocumentedOperation


def document_operations(app: Litestar) -> None:
    """Hand each route handler what its operation needs; Litestar applies it when (and only when) the
    document is first asked for. The 500 problem response also registers the `Problem` component."""
    for route in app.routes:
        for handler in getattr(route, "route_handlers", []):
            if not isinstance(handler, HTTPRouteHandler):
                continue
            handler.operation_class = _operation_class(_declaration(route.path, handler))
            handler.responses = {
                **(handler.responses or {}),
                500: ResponseSpec(
                    data_container=Problem, generate_examples=False, description="", media_type=PROBLEM_JSON
                ),
            }


# ---------------------------------------------------------------- schema plugins


class RequestStructSchemaPlugin(StructSchemaPlugin):
    """Request bodies reject unknown fields (a 400), so their schemas say `additionalProperties: false`."""

    def is_plugin_supported_field(self, field_definition: FieldDefinition) -> bool:
        return field_definition.is_subclass_of(BaseStruct)

    def to_openapi_schema(self, field_definition: FieldDefinition, schema_creator: SchemaCreator) -> Schema:
        schema = super().to_openapi_schema(field_definition, schema_creator)
        schema.additional_properties = False
        if schema.properties:
            schema.properties = {name: _single_option(sub) for name, sub in schema.properties.items()}
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
