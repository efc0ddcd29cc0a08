"""One user's data in every area the app has: a real id per collection, created over HTTP on demand."""

from __future__ import annotations

import itertools
import re
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import pytest

from tests.security.route_table import (
    COLLECTIONS,
    OPERATIONS,
    Operation,
    collection_for_field,
    new_id,
    sample,
)

_serial = itertools.count()


def unique_email(name: str) -> str:
    """Tests share a database per module (see conftest.py): every account needs its own email."""
    return f"{name}-{next(_serial)}@example.com"


# The smallest valid create body per collection, given the ids already made (deps first).
# A collection missing here is created from its OpenAPI schema, `*_id` fields filled from this world.
CREATE_BODIES: dict[str, tuple[tuple[str, ...], Callable[[Mapping[str, str]], dict[str, Any]]]] = {
    "clients": ((), lambda ids: {"name": "Acme"}),
    "projects": (
        ("clients",),
        lambda ids: {"client_id": ids["clients"], "name": "Website", "hourly_rate": "100"},
    ),
    "time-entries": (
        ("projects",),
        lambda ids: {
            "project_id": ids["projects"],
            "started_at": "2026-03-02T09:00:00Z",
            "ended_at": "2026-03-02T11:30:00Z",
        },
    ),
    "invoices": (
        ("clients",),
        lambda ids: {
            "client_id": ids["clients"],
            "lines": [{"description": "Design work", "quantity": "2", "unit_price": "150.00"}],
        },
    ),
    "contracts": (("clients",), lambda ids: {"client_id": ids["clients"], "title": "Services agreement"}),
    "resumes": ((), lambda ids: {"title": "Ada's CV"}),
    # A start date no test's business clock has passed (it must be today or later).
    "recurring-invoices": (
        ("clients",),
        lambda ids: {
            "client_id": ids["clients"],
            "lines": [{"description": "Retainer", "quantity": "1", "unit_price": "500.00"}],
            "frequency": "monthly",
            "start_date": "2900-01-01",
        },
    ),
    # Loopback: the tests allow private webhook URLs (WEBHOOK_ALLOW_PRIVATE_URLS=true in conftest).
    "webhook-endpoints": ((), lambda ids: {"url": "http://127.0.0.1:9/hooks", "events": ["*"]}),
}


async def _credit_note(world: World) -> str:
    """A credit note is issued for a sent invoice, under the invoice's path (API.md section 22)."""
    client_id = await world.id("clients")
    lines = [{"description": "Design work", "quantity": "2", "unit_price": "150.00"}]
    made = await world.http.post(
        "/api/invoices", json={"client_id": client_id, "lines": lines}, headers=world.headers
    )
    assert made.status_code == 201, made.text
    invoice_id = made.json()["id"]
    sent = await world.http.post(f"/api/invoices/{invoice_id}/send", headers=world.headers)
    assert sent.status_code == 200, sent.text
    body = {
        "reason": "Billed twice",
        "lines": [{"description": "Design work", "quantity": "1", "unit_price": "150"}],
    }
    note = await world.http.post(f"/api/invoices/{invoice_id}/credit-notes", json=body, headers=world.headers)
    assert note.status_code == 201, note.text
    return str(note.json()["id"])


# Collections whose resources are created under another's path (no POST /api/{collection}).
NESTED_CREATES: dict[str, Callable[[World], Awaitable[str]]] = {"credit-notes": _credit_note}


def _create_operation(collection: str) -> Operation | None:
    return next((op for op in OPERATIONS if op.method == "POST" and op.path == f"/api/{collection}"), None)


def _inferred(collection: str) -> tuple[tuple[str, ...], Callable[[Mapping[str, str]], dict[str, Any]]]:
    """Deps and body of a collection this suite has no entry for, from its OpenAPI create schema."""
    op = _create_operation(collection)
    schema = op.body_schema if op else None
    body = sample(schema) if schema else {}
    refs = {key: collection_for_field(key) for key in body}
    deps = tuple(c for c in refs.values() if c and c != collection)
    return deps, lambda ids: {**body, **{k: ids[c] for k, c in refs.items() if c and c in ids}}


class World:
    """The resources one user owns; `await world.id("invoices")` creates an invoice (and its client) once."""

    def __init__(self, http: Any, headers: dict[str, str]) -> None:
        self.http = http
        self.headers = headers
        self.ids: dict[str, str] = {}

    async def id(self, collection: str) -> str:
        if collection in self.ids:
            return self.ids[collection]
        if collection in NESTED_CREATES:
            self.ids[collection] = await NESTED_CREATES[collection](self)
            return self.ids[collection]
        if collection not in COLLECTIONS:
            pytest.skip(f"/api/{collection} has no create route in the app yet")
        deps, make = CREATE_BODIES.get(collection) or _inferred(collection)
        for dep in deps:
            await self.id(dep)
        body = make(self.ids)
        response = await self.http.post(f"/api/{collection}", json=body, headers=self.headers)
        assert response.status_code == 201, (
            f"creating {collection} with {body} answered {response.status_code} {response.text}; "
            "update CREATE_BODIES in tests/security/world.py"
        )
        self.ids[collection] = response.json()["id"]
        return self.ids[collection]

    async def everything(self) -> dict[str, str]:
        # Nested ones first: each of the others is then the newest of its list (a credit note's invoice is
        # made before the world's own invoice).
        for collection in [*NESTED_CREATES, *COLLECTIONS]:
            await self.id(collection)
        return self.ids

    async def path_values(self, op: Operation) -> tuple[dict[str, str], bool]:
        """An id for each path parameter; False when one of them is not a real resource of this world."""
        values: dict[str, str] = {}
        all_real = True
        for param in op.path_params:
            collection = op.collection_of(param)
            if collection in COLLECTIONS or collection in CREATE_BODIES or collection in NESTED_CREATES:
                values[param] = await self.id(collection)
            else:  # a nested id this suite cannot create (e.g. a payment): the outer one still proves tenancy
                values[param], all_real = new_id(), False
        return values, all_real

    async def snapshot(self) -> dict[str, Any]:
        """Every resource of this world as its owner reads it."""
        seen: dict[str, Any] = {}
        for collection, id_ in self.ids.items():
            detail = re.compile(rf"/api/{re.escape(collection)}/\{{[^}}/]+\}}")
            if any(op.method == "GET" and detail.fullmatch(op.path) for op in OPERATIONS):
                response = await self.http.get(f"/api/{collection}/{id_}", headers=self.headers)
                seen[collection] = (response.status_code, response.json())
        return seen


def shows_any_of(body: Any, ids: set[str]) -> bool:
    """Whether a JSON answer names any of `ids` anywhere (an item's id, a reference, a member's user id): how a
    list shows another organisation's data. Every caller's own lists hold their own organisation and
    membership, so 'empty' is not the test; 'nothing of theirs' is."""
    if isinstance(body, dict):
        return any(shows_any_of(value, ids) for value in body.values())
    if isinstance(body, list):
        return any(shows_any_of(item, ids) for item in body)
    return isinstance(body, str) and body in ids
