"""Strict request input: JSON bodies and query strings pass the contract's input rules before any handler.

Litestar converts request bodies with msgspec's lax mode, which turns "30" into 30 and "true" into True.
Orbix's contract says a wrong type is a 400, so every JSON body is first decoded strictly against the
handler's struct; only then does Litestar parse it as usual. On the way, the rules of API section 1 that
hold for every field whatever its struct are applied here once, rather than in each struct:
- nesting deeper than 64 levels is refused before anything recursive touches the body;
- every string (keys included) and every query parameter obeys the text rule (core/text.py), and CRLF in
  a multi-line field reaches the handler as LF; every `email` field reaches it folded and checked;
- a number sent as a string is plain ASCII `-?[0-9]+(\\.[0-9]+)?` (Python's Decimal would take `1_000`, `١٢`);
- every date and timestamp lies in 1900-01-01 … 2999-12-31.
"""

from __future__ import annotations

import re
from datetime import date
from decimal import Decimal
from itertools import accumulate
from typing import Any

import msgspec
from litestar import Request
from litestar.exceptions import ClientException, ValidationException

from app.core.clock import check_in_range
from app.core.text import clean_field, clean_text
from app.http.public import EXCLUDE_FROM_AUTH

MAX_DEPTH = 64

_STRING_LITERAL = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_NOT_A_BRACKET = bytes(b for b in range(256) if b not in b"[]{}")
_DEPTH_STEP = [0] * 256
_DEPTH_STEP[ord("[")] = _DEPTH_STEP[ord("{")] = 1
_DEPTH_STEP[ord("]")] = _DEPTH_STEP[ord("}")] = -1
_ASCII_NUMBER = re.compile(r"-?[0-9]+(?:\.[0-9]+)?")


def nesting_depth(body: bytes) -> int:
    """How deep the JSON nests, counted without recursion (strings removed first, then brackets summed)."""
    brackets = _STRING_LITERAL.sub(b"", body).translate(None, _NOT_A_BRACKET)
    return max(accumulate(map(_DEPTH_STEP.__getitem__, brackets)), default=0)


def _is_json_media_type(content_type: str | None) -> bool:
    media = (content_type or "").split(";", 1)[0].strip().lower()
    return media == "application/json" or (media.startswith("application/") and media.endswith("+json"))


def _malformed() -> ClientException:
    return ClientException(detail="JSON is malformed")  # core/errors.py answers 400 invalid_json


def _invalid(errors: list[tuple[str, str]]) -> ValidationException:
    return ValidationException(
        detail="Validation failed",
        extra=[{"key": field, "message": message, "source": "body"} for field, message in errors],
    )


def _is_json(body: bytes) -> bool:
    """Syntax and UTF-8 only: a number too big for any type (1e400) is a wrong value, not malformed JSON."""
    try:
        body.decode("utf-8")
        msgspec.json.decode(body, type=msgspec.Raw)
    except (msgspec.DecodeError, UnicodeDecodeError):
        return False
    return True


def _plain_json(body: bytes) -> Any:
    """The body as plain JSON, or None where even that fails (a number beyond a float's range)."""
    try:
        return msgspec.json.decode(body)
    except (msgspec.DecodeError, UnicodeDecodeError):  # msgspec.ValidationError is a DecodeError
        return None


def _child_path(parent: str, key: str | int) -> str:
    if isinstance(key, int):
        return f"{parent}[{key}]"
    return f"{parent}.{key}" if parent else key


def check_values(typed: Any, raw: Any) -> list[tuple[str, str]]:
    """Walk the strictly decoded body and the plain JSON it came from side by side (iteratively).

    `raw` is the very object Litestar builds the handler's argument from, so normalising a string in it
    (CRLF -> LF) is what the handler receives. Returns (field path, message) for each broken rule.
    """
    errors: list[tuple[str, str]] = []
    # (typed value, raw container, key in that container, path, field name that governs the text rule)
    stack: list[tuple[Any, Any, Any, str, str]] = [(typed, None, None, "", "")]
    while stack:
        value, container, key, path, name = stack.pop()
        current = container[key] if container is not None else raw
        if isinstance(value, msgspec.Struct) and isinstance(current, dict):
            for field in value.__struct_fields__:
                if field in current:
                    stack.append((getattr(value, field), current, field, _child_path(path, field), field))
            continue
        if isinstance(current, dict):
            for field in current:
                _check_string(field, path or "body", "", errors)
            if isinstance(value, dict):
                for field in current:
                    stack.append((value.get(field), current, field, _child_path(path, field), name))
            continue
        if isinstance(value, list | tuple) and isinstance(current, list):
            stack.extend(
                (item, current, index, _child_path(path, index), name) for index, item in enumerate(value)
            )
            continue
        if isinstance(current, str):
            cleaned = _check_string(current, path, name, errors)
            if cleaned is not None and cleaned != current and container is not None:
                container[key] = cleaned
            if isinstance(value, Decimal) and not _ASCII_NUMBER.fullmatch(current):
                errors.append((path, "must be a number of ASCII digits, e.g. 12.50 (no exponent or `_`)"))
        if isinstance(value, date):  # datetime is a date too
            try:
                check_in_range(value)
            except ValueError as exc:
                errors.append((path, str(exc)))
    errors.reverse()
    return errors


def raw_text_errors(raw: Any) -> list[tuple[str, str]]:
    """The text rule over plain JSON (keys and strings), for a body that did not decode to its struct."""
    errors: list[tuple[str, str]] = []
    stack: list[tuple[Any, str, str]] = [(raw, "", "")]
    while stack:
        value, path, name = stack.pop()
        if isinstance(value, dict):
            for key, item in value.items():
                _check_string(key, path or "body", "", errors)
                stack.append((item, _child_path(path, key), key))
        elif isinstance(value, list):
            stack.extend((item, _child_path(path, index), name) for index, item in enumerate(value))
        elif isinstance(value, str):
            _check_string(value, path or "body", name, errors)
    errors.reverse()
    return errors


def _check_string(text: str, path: str, name: str, errors: list[tuple[str, str]]) -> str | None:
    try:
        return clean_field(text, name)
    except ValueError as exc:
        errors.append((path, str(exc)))
        return None


async def validate_request(request: Request[Any, Any, Any]) -> None:
    """The `before_request` hook: query parameters first, then the JSON body."""
    errors = [
        (name, message)
        for name, value in request.query_params.multi_items()
        for text in (name, value)
        if (message := _text_error(text))
    ]
    if errors:
        raise _invalid(errors)
    await _validate_body(request)


def _text_error(text: str) -> str | None:
    try:
        clean_text(text)
    except ValueError as exc:
        return str(exc)
    return None


async def _validate_body(request: Request[Any, Any, Any]) -> None:
    field = request.route_handler.parsed_data_field
    if (
        field is None
        or not isinstance(field.annotation, type)
        or not issubclass(field.annotation, msgspec.Struct)
    ):
        return
    if request.route_handler.opt.get(EXCLUDE_FROM_AUTH) and not _is_json_media_type(
        request.headers.get("content-type")
    ):
        # A cross-site <form enctype="text/plain"> can post a JSON-looking body without a CORS preflight; to
        # a login that sets the session cookie, that would sign the victim's browser into another account.
        raise ClientException(detail="The body must be sent as Content-Type: application/json")
    body = await request.body()
    if nesting_depth(body) > MAX_DEPTH:
        raise _invalid([("body", f"must not nest deeper than {MAX_DEPTH} levels")])
    try:
        typed = msgspec.json.decode(body, type=field.annotation, strict=True)
    except msgspec.ValidationError as exc:
        # The decoder stops at the first wrong value; a syntax error further on still makes it malformed JSON.
        if not _is_json(body):
            raise _malformed() from None
        # A struct's own checks (a country code, an IBAN) run while decoding; the text rule comes first,
        # so a control character is reported on its own field, not as whatever check it tripped.
        if text_errors := raw_text_errors(_plain_json(body)):
            raise _invalid(text_errors) from None
        raise ValidationException(
            detail="Validation failed", extra=[{"key": "data", "message": str(exc), "source": "body"}]
        ) from None
    except (msgspec.DecodeError, UnicodeDecodeError):
        # Invalid UTF-8 inside a string is a DecodeError from msgspec 0.23 on, a UnicodeDecodeError before.
        if body.strip():
            raise _malformed() from None
        return  # an empty body: Litestar's own parsing reports it
    errors = check_values(typed, await request.json())
    if errors:
        raise _invalid(errors)
