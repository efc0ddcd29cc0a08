"""The app's route table and OpenAPI document, read once at collection time, and what the suite derives from them.

Every security test that says "every route" iterates OPERATIONS, so a route an area adds later is covered
without touching this suite. Request bodies are derived from the OpenAPI document (`sample_body`), and the
fields an attack is aimed at are found by walking it (`leaves`, `containers`).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from bson import ObjectId

from app.config import Settings
from app.http.schemas import CURRENCY_PATTERN
from app.http.tenancy import ORGANIZATION_QUERY
from app.main import create_app
from tests.conftest import PASSWORD

# conftest has set the test environment before this module is imported.
_APP = create_app(Settings.from_env())
OPENAPI: dict[str, Any] = json.loads(json.dumps(_APP.openapi_schema.to_schema(), default=str))
SCHEMAS: dict[str, Any] = OPENAPI.get("components", {}).get("schemas", {})

PUBLIC_OPERATIONS = frozenset(
    {
        "POST /api/auth/register",
        "POST /api/auth/login",
        "POST /api/auth/password-reset",
        "POST /api/auth/password-reset/confirm",
        "POST /api/auth/verify-email",
    }
)
_IGNORED_METHODS = frozenset({"OPTIONS", "HEAD"})
_PARAM = re.compile(r"\{([^}:]+)(?::[^}]*)?\}")
_OBJECT_ID_PATTERN = "^[0-9a-f]{24}$"
Path = tuple[str | int, ...]


@dataclass(frozen=True)
class Operation:
    """One (method, route) of the app, with its OpenAPI operation ({} if the document lacks it)."""

    method: str
    path: str  # OpenAPI form: /api/clients/{client_id}
    spec: dict[str, Any] = field(compare=False, hash=False, repr=False)
    opt: Mapping[str, Any] = field(
        default_factory=dict, compare=False, hash=False, repr=False
    )  # its handler's

    def __str__(self) -> str:
        return f"{self.method} {self.path}"

    @property
    def path_params(self) -> list[str]:
        return _PARAM.findall(self.path)

    @property
    def is_public(self) -> bool:
        return str(self) in PUBLIC_OPERATIONS

    @property
    def body_schema(self) -> dict[str, Any] | None:
        content = self.spec.get("requestBody", {}).get("content", {})
        media = content.get("application/json") or next(iter(content.values()), None)
        return media.get("schema") if media else None

    @property
    def streams(self) -> bool:
        """Its answer is an endless text/event-stream (GET /api/events/stream): an in-process client, which reads
        a whole answer before returning it, would wait for ever. Those routes are walked over a real socket by
        their own tests (tests/events/test_stream.py: tenancy, cursors, filters, operator strings)."""
        content = self.spec.get("responses", {}).get("200", {}).get("content", {})
        return "text/event-stream" in content

    @property
    def query_params(self) -> list[dict[str, Any]]:
        """The operation's own query parameters: not `organization`, which names where the request acts
        (its answers are the organisation's 404s, test_roles.py), not a filter of the data."""
        own = [p for p in self.spec.get("parameters", []) if p.get("in") == "query"]
        return [p for p in own if p["name"] != ORGANIZATION_QUERY]

    def url(self, values: Mapping[str, str]) -> str:
        """The path with each parameter replaced by its (percent-encoded) value."""
        return _PARAM.sub(lambda m: quote(values[m.group(1)], safe=""), self.path)

    def collection_of(self, param: str) -> str:
        """The collection a path parameter names: the segment before it (/api/invoices/{x} -> invoices)."""
        segments = self.path.split("/")
        index = next(
            i for i, s in enumerate(segments) if _PARAM.fullmatch(s) and _PARAM.findall(s) == [param]
        )
        return segments[index - 1]


def _operations() -> list[Operation]:
    found = []
    for route in _APP.routes:
        path = _PARAM.sub(lambda m: "{" + m.group(1) + "}", route.path)
        if not path.startswith("/api/"):
            continue
        handlers = {m: h for h in getattr(route, "route_handlers", []) for m in h.http_methods}
        for method in sorted(set(getattr(route, "methods", ())) - _IGNORED_METHODS):
            spec = OPENAPI.get("paths", {}).get(path, {}).get(method.lower(), {})
            handler = handlers.get(method)
            found.append(Operation(method, path, spec, dict(handler.opt) if handler else {}))
    return sorted(found, key=lambda o: (o.path, o.method))


OPERATIONS: list[Operation] = _operations()

# Collections: /api/<name> with a POST that creates one (/api/auth/... has two segments: not a collection).
COLLECTIONS: list[str] = [
    op.path.split("/")[2]
    for op in OPERATIONS
    if op.method == "POST" and re.fullmatch(r"/api/[a-z0-9-]+", op.path)
]
WITH_ID = [op for op in OPERATIONS if op.path_params]
WITH_BODY = [op for op in OPERATIONS if op.body_schema is not None]
# GET routes without an id: the lists (and summaries) a user sees of their own data.
READ_ALL = [
    op
    for op in OPERATIONS
    if op.method == "GET" and not op.path_params and not op.is_public and not op.streams
]
WITH_QUERY = [op for op in OPERATIONS if op.query_params and not op.streams]


def shared_app() -> Any:
    """The app the route table was read from; each AsyncTestClient on it runs a new lifespan (a fresh database)."""
    return _APP


# Answers that prove a request reached the resource past its ownership check though the server cannot finish
# it here: the suite's app has no SMTP server (a credit note's e-mail has no state rule to answer first).
PAST_OWNERSHIP = frozenset({"email_unavailable"})


def reached(response: Any) -> bool:
    """Whether the owner's control request found its resource: neither 404 nor a failure of the server."""
    if response.status_code == 404:
        return False
    return response.status_code < 500 or response.json().get("code") in PAST_OWNERSHIP


def ids(ops: list[Operation]) -> list[str]:
    return [str(op) for op in ops]


def new_id() -> str:
    return str(ObjectId())


def collection_for_field(name: str) -> str | None:
    """client_id -> clients, time_entry_id / entry_id -> time-entries; None when no such collection exists."""
    if not name.endswith("_id"):
        return None
    base = name.removesuffix("_id").replace("_", "-")
    plural = base[:-1] + "ies" if base.endswith("y") else base + "s"
    for collection in COLLECTIONS:
        if collection == plural or collection.endswith("-" + plural):
            return collection
    return None


# ---------------------------------------------------------------- OpenAPI schema walking


def resolve(schema: Mapping[str, Any]) -> dict[str, Any]:
    seen = 0
    while "$ref" in schema and seen < 20:
        schema = SCHEMAS[schema["$ref"].rsplit("/", 1)[-1]]
        seen += 1
    return dict(schema)


def variant(schema: Mapping[str, Any]) -> dict[str, Any]:
    """The first non-null alternative of a schema, with the constraints Litestar puts beside `oneOf`."""
    schema = resolve(schema)
    alternatives = schema.pop("oneOf", None) or schema.pop("anyOf", None)
    if alternatives:
        options = [resolve(a) for a in alternatives if resolve(a).get("type") != "null"]
        if options:
            return {**options[0], **schema}
    return schema


def _kind(schema: Mapping[str, Any]) -> str:
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), None)
    if kind is None and "properties" in schema:
        kind = "object"
    return kind or "any"


def leaves(
    schema: Mapping[str, Any] | None, path: Path = (), depth: int = 0
) -> Iterator[tuple[Path, dict[str, Any]]]:
    """(path, schema) of every scalar value a body can carry: lines[0].quantity is ("lines", 0, "quantity")."""
    node = variant(schema or {})
    kind = _kind(node)
    if depth > 6:
        return
    if kind == "object" and node.get("properties"):
        for name, sub in node["properties"].items():
            yield from leaves(sub, (*path, name), depth + 1)
    elif kind == "array":
        yield from leaves(node.get("items", {}), (*path, 0), depth + 1)
    else:
        yield path, node


def containers(schema: Mapping[str, Any] | None, path: Path = (), depth: int = 0) -> Iterator[Path]:
    """The path of every JSON object with declared fields: the root () and nested ones (address, lines[0])."""
    node = variant(schema or {})
    kind = _kind(node)
    if depth > 6:
        return
    if kind == "object" and node.get("properties"):
        yield path
        for name, sub in node["properties"].items():
            yield from containers(sub, (*path, name), depth + 1)
    elif kind == "array":
        yield from containers(node.get("items", {}), (*path, 0), depth + 1)


def is_string(schema: Mapping[str, Any]) -> bool:
    return _kind(schema) == "string"


def takes_a_number(schema: Mapping[str, Any]) -> bool:
    """Integers, numbers, and the decimal strings of money, rates and quantities (strings without a length,
    format, pattern or choices: the API accepts a JSON number for them)."""
    if _kind(schema) in ("integer", "number"):
        return True
    plain = not any(key in schema for key in ("maxLength", "format", "pattern", "enum"))
    return _kind(schema) == "string" and plain


def is_freeform(schema: Mapping[str, Any]) -> bool:
    """An object without declared fields: its keys are data, not a schema."""
    return _kind(schema) in ("object", "any")


def field_name(path: Path) -> str:
    """("lines", 0, "quantity") -> "lines[0].quantity", as the API's errors[].field names it."""
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else part)
    return text


def sample(schema: Mapping[str, Any], name: str = "") -> Any:
    """A small valid value: required fields only, each the simplest thing its schema accepts."""
    node = variant(schema)
    if node.get("enum"):
        return node["enum"][0]
    kind = _kind(node)
    if kind == "object":
        required = node.get("required", [])
        return {key: sample(sub, key) for key, sub in node.get("properties", {}).items() if key in required}
    if kind == "array":
        return [sample(node.get("items", {}), name) for _ in range(node.get("minItems", 0))]
    if kind == "boolean":
        return True
    if kind in ("integer", "number"):
        low = node.get("minimum", node.get("exclusiveMinimum", 0) + 1)
        return min(max(low, 1), node.get("maximum", 1))
    if kind == "string":
        pattern = node.get("pattern", "")
        later = name.startswith(("end", "due")) or name in (
            "to",
            "until",
        )  # periods must end after they start
        if node.get("format") == "date":
            return "2026-03-31" if later else "2026-03-02"
        if node.get("format") == "date-time":
            return "2026-03-02T11:30:00Z" if later else "2026-03-02T09:00:00Z"
        if pattern == _OBJECT_ID_PATTERN:
            return new_id()
        if pattern == CURRENCY_PATTERN:
            return "USD"
        if "email" in name:
            return "sample@example.com"
        if "password" in name:
            return PASSWORD
        return "1" * max(1, node.get("minLength", 1))  # "1" is also a valid decimal for money and rates
    return None


def sample_body(op: Operation) -> dict[str, Any] | None:
    schema = op.body_schema
    return sample(schema) if schema is not None else None


def _child(schema: Mapping[str, Any], key: str | int) -> dict[str, Any]:
    """The schema of a property (or, for an int key, of an array's items); {} for an undeclared key."""
    node = variant(schema)
    if isinstance(key, int):
        return dict(node.get("items", {}))
    return dict(node.get("properties", {}).get(key, {}))


def place(schema: Mapping[str, Any], body: Any, path: Path, value: Any) -> Any:
    """A copy of `body` with `value` at `path`, each key on the way placed first in its object.

    The API decodes bodies in key order and stops at the first bad value, so the error names this path
    whatever follows; objects created on the way get their required fields, so nothing precedes it either.
    """
    if not path:
        return value
    head, rest = path[0], path[1:]
    sub = _child(schema, head)
    if isinstance(head, int):
        items = list(body) if isinstance(body, list) else []
        inner = items[0] if items else sample(sub)
        return [place(sub, inner, rest, value), *items[1:]]
    current = body if isinstance(body, dict) else {}
    inner = current[head] if head in current else sample(sub, head)
    return {head: place(sub, inner, rest, value), **{k: v for k, v in current.items() if k != head}}


def body_with(op: Operation, path: Path, value: Any) -> Any:
    """The operation's sample body with `value` at `path` (decoded first)."""
    return place(op.body_schema or {}, sample_body(op), path, value)


def is_page(body: Any) -> bool:
    return isinstance(body, dict) and "items" in body and "total" in body
