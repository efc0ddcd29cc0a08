"""The one mapping of errors to RFC 9457 problem details: every AppError (app/core/errors.py), Litestar's own
HTTP exceptions and validation errors, a database that cannot be reached, and anything unexpected."""

from __future__ import annotations

import logging
import re
from http import HTTPStatus
from typing import Any

import msgspec
from litestar import Request, Response
from litestar.exceptions import (
    ClientException,
    HTTPException,
    NotFoundException,
    ValidationException,
)
from pymongo.errors import (
    ConnectionFailure,
    ExecutionTimeout,
    ServerSelectionTimeoutError,
    WaitQueueTimeoutError,
    WriteConcernError,
)

from app.core.errors import (
    AppError,
    Conflict,
    DatabaseUnavailable,
    FieldError,
    InternalError,
    InvalidJson,
    MethodNotAllowed,
    NotFound,
    PayloadTooLarge,
    ProblemErrors,
    QuotaExceeded,
    RateLimited,
    Unauthorized,
    ValidationFailed,
)
from app.http.observability import client_disconnected, current_request_id
from app.http.schemas import CURRENCY_PATTERN

log = logging.getLogger("orbix.errors")

PROBLEM_JSON = "application/problem+json"


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


def _app_error(request: Request[Any, Any, Any], exc: AppError) -> Response[bytes]:
    if isinstance(exc, QuotaExceeded):  # an operator sees which limits are hit (orbix_quota_exceeded_total)
        request.app.state.metrics.quota_exceeded.labels(exc.limit).inc()
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


# What each database failure means for the caller (all 503 database_unavailable): whether a write of this
# request may have been applied (the driver sent it and lost or did not get the answer), so that the caller
# knows to retry with the same Idempotency-Key, which never applies a write twice (http/idempotency.py).
_RETRY = "retry with the same Idempotency-Key, which never applies a write twice"
_DATABASE_FAILURES: tuple[tuple[type[Exception], str, str], ...] = (
    # Most specific first: ServerSelectionTimeoutError and WaitQueueTimeoutError are ConnectionFailures,
    # WTimeoutError a WriteConcernError.
    (ServerSelectionTimeoutError, "unreachable", "The database is unreachable; try again shortly"),
    (
        WaitQueueTimeoutError,
        "busy",
        "The database is busy (no connection was free in time); try again shortly",
    ),
    (
        ConnectionFailure,
        "connection lost",
        f"The connection to the database broke before it answered; a change may have been applied: {_RETRY}",
    ),
    (
        ExecutionTimeout,
        "timed out",
        f"The database did not answer within its time limit; a change may have been applied: {_RETRY}",
    ),
    (
        WriteConcernError,
        "write not confirmed",
        "The database applied a change but could not confirm it on a majority of its members in time: "
        + _RETRY,
    ),
)


def _database_failure(_: Request[Any, Any, Any], exc: Exception) -> Response[bytes]:
    kind, detail = next(
        (kind, detail) for error, kind, detail in _DATABASE_FAILURES if isinstance(exc, error)
    )
    log.error("database %s: %s", kind, type(exc).__name__)
    return problem_response(503, DatabaseUnavailable.code, detail)


def _internal(_: Request[Any, Any, Any], exc: Exception) -> Response[bytes]:
    if client_disconnected():  # reading a body the client stopped sending: not our error (the edge logs it)
        return problem_response(500, "internal_error", "The client disconnected")
    log.exception("unhandled error", exc_info=exc)
    return problem_response(500, InternalError.code, "Something went wrong on our side")


EXCEPTION_HANDLERS: dict[type[Exception] | int, Any] = {
    AppError: _app_error,
    ValidationException: _validation,
    HTTPException: _http_exception,
    **{error: _database_failure for error, _, _ in _DATABASE_FAILURES},
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
