"""One error model: AppError subclasses, mapped once to RFC 9457 problem details."""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from http import HTTPStatus
from typing import Any, ClassVar

import msgspec
from litestar import Request, Response
from litestar.exceptions import (
    ClientException,
    HTTPException,
    NotFoundException,
    ValidationException,
)
from pymongo.errors import ConnectionFailure, ExecutionTimeout, ServerSelectionTimeoutError

from app.core.observability import client_disconnected, current_request_id
from app.core.schemas import CURRENCY_PATTERN

log = logging.getLogger("orbix.errors")

PROBLEM_JSON = "application/problem+json"


class FieldError(msgspec.Struct):
    field: str
    message: str


class RuleError(msgspec.Struct):
    """A failed business rule of a generated document (EN 16931 `BR-…`, or `XSD`), where it failed."""

    rule: str
    message: str
    location: str


ProblemErrors = list[FieldError] | list[RuleError]


class ProblemItem(msgspec.Struct, kw_only=True, omit_defaults=True):
    """One entry of a problem's `errors`, as sent: `{field, message}` for a request field that failed
    validation, `{rule, message, location}` for a failed rule of a generated document
    (`e_invoice_invalid`). One struct: msgspec cannot describe an untagged union of two."""

    field: str | None = None
    rule: str | None = None
    message: str
    location: str | None = None


class Problem(msgspec.Struct, omit_defaults=True):
    """RFC 9457 problem details, as every error response carries them."""

    type: str
    title: str
    status: int
    detail: str
    code: str
    request_id: str
    errors: list[ProblemItem] | None = None


class AppError(Exception):
    """One named problem. `status` and `code` are class attributes, so the classes themselves are the list of
    what can go wrong: a route handler declares the ones it may raise with `raises(...)` and the OpenAPI
    document reads them back with `declared_errors(...)`. The message (`detail`) is per instance."""

    status: ClassVar[int] = 500
    code: ClassVar[str] = "internal_error"

    def __init__(
        self,
        detail: str,
        *,
        errors: ProblemErrors | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(detail)
        self.detail = detail
        self.errors = errors
        self.headers = headers or {}


# ---------------------------------------------------------------- 4xx: the request cannot be served


class ValidationFailed(AppError):
    status, code = 400, "validation_error"

    @classmethod
    def field(cls, field: str, message: str) -> ValidationFailed:
        return cls(f"{field}: {message}", errors=[FieldError(field=field, message=message)])


class InvalidJson(AppError):
    status, code = 400, "invalid_json"


class InvalidReference(AppError):
    """An id in the body names nothing the caller owns (or something being deleted)."""

    status, code = 400, "invalid_reference"


class CorsRejected(AppError):
    status, code = 400, "cors_rejected"


class Unauthorized(AppError):
    status, code = 401, "unauthorized"


class NotFound(AppError):
    status, code = 404, "not_found"


class MethodNotAllowed(AppError):
    status, code = 405, "method_not_allowed"


class Conflict(AppError):
    """The resource changed while the request ran (a compare-and-set kept losing): fetch it and retry.
    The other 409s subclass it and name the rule that refused."""

    status, code = 409, "conflict"


class InvalidState(Conflict):
    """The action is not allowed from the resource's current status (see core/transitions.py)."""

    code = "invalid_state"


class AlreadyInvoiced(Conflict):
    """A time entry is on an invoice: it is locked, and no other invoice may take it."""

    code = "already_invoiced"


class TimerRunning(Conflict):
    code = "timer_running"


class TooManyPayments(Conflict):
    """An invoice keeps at most MAX_PAYMENTS payments (so that no document nears MongoDB's 16 MiB)."""

    code = "too_many_payments"


class InUse(Conflict):
    """A client or project that other documents still name cannot be deleted or moved."""

    code = "in_use"


class EmailTaken(Conflict):
    code = "email_taken"


class RequestTimeout(AppError):
    """The request body did not arrive within REQUEST_BODY_TIMEOUT_SECONDS."""

    status, code = 408, "request_timeout"


class PreconditionFailed(AppError):
    """If-Match names a version that is no longer current (core/versioning.py)."""

    status, code = 412, "precondition_failed"


class PayloadTooLarge(AppError):
    status, code = 413, "payload_too_large"


class HeadersTooLarge(AppError):
    status, code = 431, "headers_too_large"


class EInvoiceInvalid(AppError):
    """Sending would produce an e-invoice that breaks the EN 16931 rules (API.md section 16)."""

    status, code = 422, "e_invoice_invalid"

    @classmethod
    def rules(cls, errors: list[RuleError]) -> EInvoiceInvalid:
        names = ", ".join(sorted({error.rule for error in errors}))
        return cls(f"The e-invoice breaks EN 16931 rule(s) {names}; the invoice stays a draft", errors=errors)


class IdempotencyKeyInProgress(Conflict):
    """A request with this Idempotency-Key is still running (core/idempotency.py)."""

    code = "idempotency_key_in_progress"


class IdempotencyKeyReused(AppError):
    """The Idempotency-Key was used for another method, path or body."""

    status, code = 422, "idempotency_key_reused"


class RateLimited(AppError):
    status, code = 429, "rate_limited"


# ---------------------------------------------------------------- 5xx: we or a service we need failed


class InternalError(AppError):
    status, code = 500, "internal_error"


class UpstreamBadGateway(AppError):
    status, code = 502, "ai_bad_gateway"


class UpstreamUnavailable(AppError):
    status, code = 503, "ai_unavailable"


class DatabaseUnavailable(AppError):
    status, code = 503, "database_unavailable"


class EmailUnavailable(AppError):
    """No SMTP server is configured (SMTP_HOST), so no e-mail can be queued."""

    status, code = 503, "email_unavailable"


class UpstreamTimeout(AppError):
    status, code = 504, "ai_timeout"


def problem_classes() -> list[type[AppError]]:
    """Every named problem, in status order: the source of the README's error table and of the schema."""
    found: list[type[AppError]] = []
    pending: list[type[AppError]] = [AppError]
    while pending:
        cls = pending.pop()
        for sub in cls.__subclasses__():
            found.append(sub)
            pending.append(sub)
    return sorted(found, key=lambda cls: (cls.status, cls.code))


# ---------------------------------------------------------------- what a route declares

ERRORS_OPT = "errors"


def raises(*errors: type[AppError]) -> dict[str, tuple[type[AppError], ...]]:
    """A route handler's `opt` entry naming the problems it may answer beyond those of every route:
    `@post(..., opt=raises(InvalidState, AlreadyInvoiced))`."""
    return {ERRORS_OPT: errors}


def declared_errors(opt: Mapping[str, Any]) -> tuple[type[AppError], ...]:
    """What a handler declared with `raises(...)`, from its `opt`."""
    return tuple(opt.get(ERRORS_OPT, ()))


# The problem Litestar's own HTTP exceptions (and its middleware's) stand for, by status; any other status
# (none is expected) gets its phrase as a code, e.g. 415 unsupported_media_type.
_FRAMEWORK_PROBLEMS: dict[int, type[AppError]] = {
    cls.status: cls
    for cls in (
        ValidationFailed,
        Unauthorized,
        NotFound,
        MethodNotAllowed,
        Conflict,
        PayloadTooLarge,
        RateLimited,
    )
}


def problem_response(
    status: int,
    code: str,
    detail: str,
    *,
    errors: ProblemErrors | None = None,
    headers: dict[str, str] | None = None,
) -> Response[bytes]:
    problem = Problem(
        type="about:blank",
        title=HTTPStatus(status).phrase,
        status=status,
        detail=detail,
        code=code,
        request_id=current_request_id(),
        errors=[ProblemItem(**msgspec.structs.asdict(error)) for error in errors] if errors else None,
    )
    if status == 401:  # RFC 9110: a 401 names the scheme that would be accepted
        headers = {"WWW-Authenticate": "Bearer", **(headers or {})}
    return Response(
        content=msgspec.json.encode(problem),
        status_code=status,
        media_type=PROBLEM_JSON,
        headers=headers,
    )


def _app_error(_: Request[Any, Any, Any], exc: AppError) -> Response[bytes]:
    return problem_response(exc.status, exc.code, exc.detail, errors=exc.errors, headers=exc.headers)


_MSGSPEC_PATH = re.compile(r"^(?P<message>.*?) - at `\$(?P<path>[^`]*)`$")
_FIELD_PREFIX = re.compile(r"^(?P<field>[a-z_][a-z0-9_]*): (?P<message>.+)$", re.DOTALL)
_UNKNOWN_FIELD = re.compile(r"^Object contains unknown field `(?P<field>[^`]+)`$")
_MISSING_FIELD = re.compile(r"^Object missing required field `(?P<field>[^`]+)`$")


# Patterns too long to show the caller, by the message msgspec gives for them.
_PATTERN_MESSAGES = {
    f"Expected `str` matching regex {CURRENCY_PATTERN!r}": "must be an ISO 4217 currency code in current use",
}


def _join(parent: str, child: str) -> str:
    if parent in ("", "data"):
        return child
    return f"{parent}.{child}" if not child.startswith("[") else parent + child


def field_error(key: str, message: str) -> FieldError:
    """Turn one of Litestar's/msgspec's validation messages into a field path and a plain message."""
    key = key or ""
    found = _MSGSPEC_PATH.match(message)
    if found:
        message = found["message"]
        key = _join(key, found["path"].lstrip("."))
    message = _PATTERN_MESSAGES.get(message, message)
    for pattern, text in ((_UNKNOWN_FIELD, "unknown field"), (_MISSING_FIELD, "field required")):
        named = pattern.match(message)
        if named:
            return FieldError(field=_join(key, named["field"]), message=text)
    prefixed = _FIELD_PREFIX.match(message)
    if prefixed:
        return FieldError(field=_join(key, prefixed["field"]), message=prefixed["message"])
    if key == "data" and message == "'data'":
        return FieldError(field="body", message="a JSON body is required")
    return FieldError(field="body" if key == "data" else key, message=message)


def _validation(_: Request[Any, Any, Any], exc: ValidationException) -> Response[bytes]:
    extra = exc.extra if isinstance(exc.extra, list) else []
    errors = [
        field_error(str(item.get("key", "")), str(item.get("message", "invalid value")))
        for item in extra
        if isinstance(item, dict)
    ]
    detail = "; ".join(f"{e.field}: {e.message}" for e in errors) or "The request is not valid"
    return problem_response(400, ValidationFailed.code, detail, errors=errors or None)


def _http_exception(_: Request[Any, Any, Any], exc: HTTPException) -> Response[bytes]:
    status = exc.status_code
    if status >= 500:
        return _internal(_, exc)
    problem = _FRAMEWORK_PROBLEMS.get(status)
    code = problem.code if problem else HTTPStatus(status).phrase.lower().replace(" ", "_")
    detail = exc.detail or HTTPStatus(status).phrase
    if status == 400 and isinstance(exc, ClientException):
        if detail.startswith(("JSON is malformed", "Input data was truncated")):
            return problem_response(400, InvalidJson.code, "The request body is not valid JSON")
        detail = _MSGSPEC_PATH.sub(r"\g<message>", detail)
    if isinstance(exc, NotFoundException):
        detail = "No such resource"
    headers = {k: v for k, v in (exc.headers or {}).items()}
    return problem_response(status, code, detail, headers=headers or None)


def _database_down(_: Request[Any, Any, Any], exc: Exception) -> Response[bytes]:
    log.error("database unreachable: %s", type(exc).__name__)
    return problem_response(503, DatabaseUnavailable.code, "The database is unreachable; try again shortly")


def _internal(_: Request[Any, Any, Any], exc: Exception) -> Response[bytes]:
    if client_disconnected():  # reading a body the client stopped sending: not our error (the edge logs it)
        return problem_response(500, "internal_error", "The client disconnected")
    log.exception("unhandled error", exc_info=exc)
    return problem_response(500, InternalError.code, "Something went wrong on our side")


EXCEPTION_HANDLERS: dict[type[Exception] | int, Any] = {
    AppError: _app_error,
    ValidationException: _validation,
    HTTPException: _http_exception,
    ServerSelectionTimeoutError: _database_down,
    ConnectionFailure: _database_down,
    ExecutionTimeout: _database_down,  # MONGODB_TIMEOUT_MS ran out on the server (timeoutMS)
    Exception: _internal,
}


def problem_bytes(error: AppError) -> bytes:
    """The problem+json body of `error`, for the raw-ASGI edge that answers before Litestar runs."""
    problem = Problem(
        type="about:blank",
        title=HTTPStatus(error.status).phrase,
        status=error.status,
        detail=error.detail,
        code=error.code,
        request_id=current_request_id(),
    )
    return msgspec.json.encode(problem)
