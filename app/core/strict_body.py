"""Strict JSON bodies.

Litestar converts request bodies with msgspec's lax mode, which turns "30" into 30 and "true" into True.
Orbix's contract says a wrong type is a 400, so every JSON body is first decoded strictly against the
handler's struct; only then does Litestar parse it as usual.
"""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Request
from litestar.exceptions import ClientException, ValidationException


def _malformed() -> ClientException:
    return ClientException(detail="JSON is malformed")  # core/errors.py answers 400 invalid_json


def _is_json(body: bytes) -> bool:
    """Syntax and UTF-8 only: a number too big for any type (1e400) is a wrong value, not malformed JSON."""
    try:
        body.decode("utf-8")
        msgspec.json.decode(body, type=msgspec.Raw)
    except (msgspec.DecodeError, UnicodeDecodeError):
        return False
    return True


async def validate_body_strictly(request: Request[Any, Any, Any]) -> None:
    field = request.route_handler.parsed_data_field
    if (
        field is None
        or not isinstance(field.annotation, type)
        or not issubclass(field.annotation, msgspec.Struct)
    ):
        return
    body = await request.body()
    try:
        msgspec.json.decode(body, type=field.annotation, strict=True)
    except msgspec.ValidationError as exc:
        # The decoder stops at the first wrong value; a syntax error further on still makes it malformed JSON.
        if not _is_json(body):
            raise _malformed() from None
        raise ValidationException(
            detail="Validation failed", extra=[{"key": "data", "message": str(exc), "source": "body"}]
        ) from None
    except UnicodeDecodeError:
        raise _malformed() from None  # invalid UTF-8 inside a string (msgspec raises this, not DecodeError)
    except msgspec.DecodeError:
        return  # malformed or empty JSON: Litestar's own parsing reports it
