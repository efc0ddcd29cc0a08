"""One error model: AppError subclasses, each a named problem with its status and code. The one mapping to
RFC 9457 problem details is the HTTP edge's (app/http/problems.py)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, ClassVar

import msgspec


class FieldError(msgspec.Struct):
    field: str
    message: str


class RuleError(msgspec.Struct):
    """A failed business rule of a generated document (EN 16931 `BR-…`, or `XSD`), where it failed."""

    rule: str
    message: str
    location: str


ProblemErrors = list[FieldError] | list[RuleError]


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


class Forbidden(AppError):
    """The caller is known and a member, but their role does not allow this (API.md section 19)."""

    status, code = 403, "forbidden"


class CsrfFailed(AppError):
    """A request authenticated by the session cookie, not GET/HEAD/OPTIONS, without its X-CSRF-Token."""

    status, code = 403, "csrf_failed"


class InsufficientScope(AppError):
    """The caller is an API key whose scopes do not cover this route (API.md section 20)."""

    status, code = 403, "insufficient_scope"


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


class InUse(Conflict):
    """A client or project that other documents still name cannot be deleted or moved."""

    code = "in_use"


class RequestTimeout(AppError):
    """The request body did not arrive within REQUEST_BODY_TIMEOUT_SECONDS."""

    status, code = 408, "request_timeout"


class PreconditionFailed(AppError):
    """If-Match names a version that is no longer current (http/versioning.py)."""

    status, code = 412, "precondition_failed"


class PayloadTooLarge(AppError):
    status, code = 413, "payload_too_large"


class HeadersTooLarge(AppError):
    status, code = 431, "headers_too_large"


class IdempotencyKeyInProgress(Conflict):
    """A request with this Idempotency-Key is still running (http/idempotency.py)."""

    code = "idempotency_key_in_progress"


class IdempotencyKeyReused(AppError):
    """The Idempotency-Key was used for another method, path or body."""

    status, code = 422, "idempotency_key_reused"


class RateLimited(AppError):
    status, code = 429, "rate_limited"


class QuotaExceeded(AppError):
    """An organisation reached one of its fair-share limits (docs/operations.md, fair share): `limit` is the
    setting's name, which the detail names too; `retry_after` seconds until the window allows again."""

    status, code = 429, "quota_exceeded"

    def __init__(self, limit: str, detail: str, retry_after: float) -> None:
        seconds = max(1, math.ceil(retry_after))
        super().__init__(f"{detail} (the limit is {limit})", headers={"Retry-After": str(seconds)})
        self.limit = limit


# ---------------------------------------------------------------- 5xx: we or a service we need failed


class InternalError(AppError):
    status, code = 500, "internal_error"


class UpstreamBadGateway(AppError):
    status, code = 502, "ai_bad_gateway"


class UpstreamUnavailable(AppError):
    status, code = 503, "ai_unavailable"


class DatabaseUnavailable(AppError):
    status, code = 503, "database_unavailable"


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
