"""Every problem a route answers anywhere in the suite must be declared in the OpenAPI document.

tests/conftest.py wraps the app's ASGI entry with `record` and, after each test, `undeclared()` names each
(operation, status, code) the test saw that /schema/openapi.json does not list for that operation: the test
then fails. So the document's per-status `code` enums are checked against what the app really answers,
by the whole suite, for every route that lands later too.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Awaitable, Callable
from typing import Any

ASGI = Callable[[Any, dict[str, Any], Any, Any], Awaitable[None]]
Seen = tuple[str, int, str]  # (operationId, status, code)

_seen: list[Seen] = []
_declared: dict[str, dict[int, set[str]]] | None = None


def record(call: ASGI) -> ASGI:
    """Wrap an ASGI `__call__`: note the operation, status and code of every problem+json answer."""

    @functools.wraps(call)
    async def recording(app: Any, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await call(app, scope, receive, send)
            return
        answer: dict[str, Any] = {"body": b""}

        async def watch(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                headers = dict(message.get("headers", ()))
                answer["status"] = message["status"]
                answer["problem"] = headers.get(b"content-type", b"").startswith(b"application/problem+json")
            elif message["type"] == "http.response.body" and answer.get("problem"):
                answer["body"] += message.get("body", b"")
            await send(message)

        await call(app, scope, receive, watch)
        handler = scope.get("route_handler")
        operation_id = getattr(handler, "operation_id", None)
        if (
            answer.get("problem")
            and isinstance(operation_id, str)
            and scope["method"] in getattr(handler, "http_methods", ())
        ):
            code = json.loads(answer["body"]).get("code", "")
            _seen.append((operation_id, answer["status"], code))

    return recording


def _document_codes() -> dict[str, dict[int, set[str]]]:
    """operationId -> status -> codes, read once per process from a served document."""
    global _declared
    if _declared is None:
        from litestar.testing import TestClient

        from app.config import Settings
        from app.main import create_app

        with TestClient(create_app(Settings.from_env())) as http:
            document = http.get("/schema/openapi.json").json()
        _declared = {}
        for item in document["paths"].values():
            for operation in item.values():
                if not isinstance(operation, dict) or "operationId" not in operation:
                    continue
                codes = _declared.setdefault(operation["operationId"], {})
                for status, response in operation["responses"].items():
                    schema = response.get("content", {}).get("application/problem+json", {}).get("schema")
                    if schema:
                        codes[int(status)] = set(schema["allOf"][1]["properties"]["code"]["enum"])
    return _declared


def start() -> None:
    _seen.clear()


def undeclared() -> list[Seen]:
    """What was answered since `start()` and is missing from the document (operations it lacks are skipped:
    a test may mount a route of its own)."""
    if not _seen:
        return []
    declared = _document_codes()
    missing = [
        (operation, status, code)
        for operation, status, code in _seen
        if operation in declared and code not in declared[operation].get(status, set())
    ]
    _seen.clear()
    return sorted(set(missing))
