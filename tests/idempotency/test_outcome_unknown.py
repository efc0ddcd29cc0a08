"""A retry after an outcome-unknown failure never applies the write twice (docs/api-conventions.md, safe
retries). Each keyed write is failed *after* it commits (the store applies it, then the caller sees
AutoReconnect, as a lost connection or a client-side timeout shows it on a replica set), once at each of the
request's writes in turn; the retry with the same key answers as if the first had succeeded, with one effect."""

from __future__ import annotations

import itertools
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import pytest
from bson import ObjectId

from app.events.models import Event
from tests.clients.factories import create_client
from tests.conftest import Account, assert_problem, register
from tests.faults import LostAnswer, lost_answer_fixture  # noqa: F401
from tests.invoices.factories import create_sent_invoice
from tests.projects.factories import create_project
from tests.time_entries.factories import create_time_entry

REPLAYED = "idempotent-replayed"
_accounts = itertools.count()


@dataclass(frozen=True)
class Write:
    """One keyed POST: how to prepare it (returns path and body) and where its effect is stored."""

    name: str
    prepare: Callable[[Any, dict[str, str]], Awaitable[tuple[str, dict[str, Any]]]]
    collection: str  # the documents it creates (payments: the invoice's payments)
    status: int = 201


async def prepare_client(http: Any, headers: dict[str, str]) -> tuple[str, dict[str, Any]]:
    return "/api/clients", {"name": "Acme", "email": "billing@acme.example"}


async def prepare_project(http: Any, headers: dict[str, str]) -> tuple[str, dict[str, Any]]:
    client = await create_client(http, headers)
    return "/api/projects", {"client_id": client["id"], "name": "Website", "hourly_rate": "100"}


async def prepare_entry(http: Any, headers: dict[str, str]) -> tuple[str, dict[str, Any]]:
    project = await create_project(http, headers)
    body = {
        "project_id": project["id"],
        "started_at": "2026-03-02T09:00:00Z",
        "ended_at": "2026-03-02T11:00:00Z",
    }
    return "/api/time-entries", body


async def prepare_timer(http: Any, headers: dict[str, str]) -> tuple[str, dict[str, Any]]:
    project = await create_project(http, headers)
    return "/api/time-entries/start", {"project_id": project["id"]}


async def prepare_invoice_from_time(http: Any, headers: dict[str, str]) -> tuple[str, dict[str, Any]]:
    project = await create_project(http, headers)
    entries = [(await create_time_entry(http, headers, project["id"]))["id"] for _ in range(2)]
    body = {
        "client_id": project["client_id"],
        "lines": [{"description": "Setup", "quantity": "1", "unit_price": "50.00"}],
        "time_entry_ids": entries,
    }
    return "/api/invoices", body


async def prepare_contract(http: Any, headers: dict[str, str]) -> tuple[str, dict[str, Any]]:
    client = await create_client(http, headers)
    return "/api/contracts", {"client_id": client["id"], "title": "Services agreement"}


async def prepare_resume(http: Any, headers: dict[str, str]) -> tuple[str, dict[str, Any]]:
    return "/api/resumes", {"title": "CV", "profile": {"full_name": "Ada Lovelace"}}


async def prepare_endpoint(http: Any, headers: dict[str, str]) -> tuple[str, dict[str, Any]]:
    return "/api/webhook-endpoints", {"url": "http://127.0.0.1:9/hooks", "events": ["*"]}


async def prepare_payment(http: Any, headers: dict[str, str]) -> tuple[str, dict[str, Any]]:
    invoice = await create_sent_invoice(http, headers)
    return f"/api/invoices/{invoice['id']}/payments", {"amount": "40.00"}


async def prepare_settling_payment(http: Any, headers: dict[str, str]) -> tuple[str, dict[str, Any]]:
    invoice = await create_sent_invoice(http, headers)
    return f"/api/invoices/{invoice['id']}/payments", {"amount": invoice["amount_due"]}


WRITES = [
    Write("client", prepare_client, "clients"),
    Write("project", prepare_project, "projects"),
    Write("time entry", prepare_entry, "time_entries"),
    Write("timer", prepare_timer, "time_entries"),
    Write("invoice from time", prepare_invoice_from_time, "invoices"),
    Write("contract", prepare_contract, "contracts"),
    Write("resume", prepare_resume, "resumes"),
    Write("webhook endpoint", prepare_endpoint, "webhook_endpoints"),
    Write("part payment", prepare_payment, "payments"),
    Write("settling payment", prepare_settling_payment, "payments"),
]


def _database() -> Any:
    return Event.get_motor_collection().database


async def _effects(write: Write, owner_id: str, path: str) -> list[dict[str, Any]]:
    database = _database()
    if write.collection == "payments":
        invoice = await database["invoices"].find_one({"_id": ObjectId(path.split("/")[3])})
        return invoice["payments"]  # type: ignore[no-any-return]
    return await database[write.collection].find({"owner_id": ObjectId(owner_id)}).to_list(None)


async def _created_events(resource_id: str) -> list[str]:
    found = Event.get_motor_collection().find({"data.object.id": resource_id})
    return [event["type"] async for event in found]


@pytest.mark.parametrize("write", WRITES, ids=[w.name for w in WRITES])
async def test_a_retry_after_a_lost_answer_applies_the_write_once(client, lost_answer, write):
    for step in itertools.count(1):
        account: Account = await register(client, f"retry-{next(_accounts)}@example.com")
        path, body = await write.prepare(client, account.headers)
        before = await _effects(write, account.id, path)
        headers = {**account.headers, "Idempotency-Key": f"lost-at-{step}"}

        lost_answer.arm(step)
        first = await client.post(path, json=body, headers=headers)
        lost_answer.disarm()  # the retry's writes all answer
        if not lost_answer.fired:
            assert first.status_code == write.status, first.text
            assert step > 1, "the request made no write"
            return
        if first.status_code == write.status:  # a step after the write stood (an event's relay): it is done
            retry = first
        else:
            assert_problem(first, 503, "database_unavailable")
            retry = await client.post(path, json=body, headers=headers)
            assert retry.status_code == write.status and REPLAYED not in retry.headers, (step, retry.text)
        after = await _effects(write, account.id, path)
        assert len(after) == len(before) + 1, (
            f"{write.name}: answer lost after write {step}: {len(after)} stored"
        )

        answer = retry.json()
        if write.collection == "payments":
            assert [p["amount"] for p in answer["payments"]] == [body["amount"]]
        else:
            assert answer["id"] == str(after[-1]["_id"])
            shown = await client.get(f"{path.removesuffix('/start')}/{answer['id']}", headers=account.headers)
            kept = [key for key in answer if key in shown.json() and key != "updated_at"]
            assert {k: shown.json()[k] for k in kept} == {k: answer[k] for k in kept}
            events = await _created_events(answer["id"])
            assert len([t for t in events if t.endswith((".created", ".started"))]) <= 1, events

        again = await client.post(path, json=body, headers=headers)
        assert again.headers.get(REPLAYED) == "true" and again.content == retry.content
