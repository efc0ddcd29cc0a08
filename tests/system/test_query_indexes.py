"""Every query the app runs has a declared index that serves it on MongoDB 7 (tests/system/index_use.py
says what "serves" means). The queries are not listed by hand: a broad scenario runs through the HTTP app,
the worker and the recovery on a store that notes every query (query_recorder.py), and each noted query is
held to the declared indexes."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import timedelta
from typing import Any

import httpx
import pytest

from app.config import Settings
from app.core.clock import today_in, utc_now
from app.db.pagination import SORTABLE
from app.main import create_app
from app.recovery import recover
from app.recurring import jobs as recurring
from tests.conftest import Account, register, serve
from tests.documents.factories import BUYER, set_business
from tests.jobs import kept_registry, new_worker
from tests.mail.conftest import SmtpServer
from tests.system.index_use import indexes_by_collection, served, shape
from tests.system.query_recorder import Recorded, recording_factory
from tests.webhooks.receiver import Receiver

PAGINATION = "app/db/pagination.py:"

# Queries that are fine without an index, by (collection, origin), each with its reason.
UNINDEXED: dict[tuple[str, str], str] = {
    ("organizations", "app/organizations/service.py:migrate_invoice_prefixes"): (
        "the start-up migration, once per process start; an end-anchored regex cannot bound an index scan"
    ),
    ("time_entries", "app/time_entries/service.py:migrate_user_ids"): (
        "a data migration run once per database (db/data_migrations.py); no index can serve $exists: false"
    ),
    ("users", "app/auth/memberships.py:unmigrated_users"): (
        "the start-up migration to organisations, once per process start; no index can serve $exists: false"
    ),
}
# Queries whose index leaves some equality fields to filter the documents it finds, with the reason.
RESIDUAL: dict[tuple[str, str], tuple[set[str], str]] = {
    ("invoices", "app/invoices/recovery.py:_finish_releases"): (
        {"removed"},
        "its $or clause for tombstones reads the sparse outbox index: only documents with an event pending",
    ),
}


@pytest.fixture
async def recorded() -> AsyncIterator[tuple[httpx.AsyncClient, Recorded, Receiver]]:
    """The app on a recording store, with an SMTP server and a webhook receiver to send to."""
    smtp = SmtpServer()
    mailbox = smtp.start()
    receiver = await Receiver().start()
    log = Recorded()
    settings = replace(
        Settings.from_env(), smtp_host="127.0.0.1", smtp_port=mailbox.port, smtp_starttls=False,
        smtp_from="invoices@orbix.example", smtp_timeout_seconds=5.0,
    )  # fmt: skip
    try:
        with kept_registry():
            async with serve(create_app(settings, client_factory=recording_factory(log))) as http:
                yield http, log, receiver
    finally:
        await receiver.stop()
        smtp.stop()


def _ok(response: httpx.Response, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    return response.json() if response.content else None


async def _every_page(
    http: httpx.AsyncClient, path: str, h: dict[str, str], sorts: list[str], **query: Any
) -> None:
    """Each sort both ways, a first page, a later one by offset and one by `after`."""
    for sort in sorts:
        for way in (sort, f"-{sort}"):
            first = _ok(await http.get(path, params={"sort": way, "limit": 2, **query}, headers=h))
            _ok(await http.get(path, params={"sort": way, "limit": 2, "offset": 2, **query}, headers=h))
            if first["items"]:
                after = {"sort": way, "limit": 2, "after": first["items"][-1]["id"], **query}
                _ok(await http.get(path, params=after, headers=h))


async def _scenario(http: httpx.AsyncClient, ada: Account, bob: Account, receiver: Receiver) -> None:
    h = ada.headers
    _ok(await http.post("/api/auth/login", json={"email": ada.email, "password": "correct horse battery"}))
    _ok(await http.get("/api/auth/me", headers=h))
    await set_business(http, h)  # a Factur-X seller
    hook = _ok(
        await http.post("/api/webhook-endpoints", json={"url": receiver.url, "events": ["*"]}, headers=h), 201
    )

    acme = _ok(await http.post("/api/clients", json=BUYER, headers=h), 201)
    other = _ok(await http.post("/api/clients", json={"name": "Other", "currency": "EUR"}, headers=h), 201)
    spare = _ok(await http.post("/api/clients", json={"name": "Spare"}, headers=h), 201)
    _ok(await http.patch(f"/api/clients/{other['id']}", json={"notes": "n"}, headers=h))
    _ok(await http.get(f"/api/clients/{acme['id']}", headers=h))
    await _every_page(http, "/api/clients", h, ["name", "created_at"])
    await _every_page(http, "/api/clients", h, ["name"], q="ac")

    body = {"client_id": acme["id"], "name": "Website", "hourly_rate": "100.00"}
    site = _ok(await http.post("/api/projects", json=body, headers=h), 201)
    body = {"client_id": other["id"], "name": "App", "hourly_rate": "80.00"}
    app_project = _ok(await http.post("/api/projects", json=body, headers=h), 201)
    _ok(await http.patch(f"/api/clients/{other['id']}", json={"currency": "GBP"}, headers=h))
    _ok(await http.patch(f"/api/projects/{site['id']}", json={"name": "Site"}, headers=h))
    _ok(await http.get(f"/api/projects/{site['id']}", headers=h))
    project_sorts = ["name", "status", "hourly_rate", "created_at", "updated_at"]
    await _every_page(http, "/api/projects", h, project_sorts)
    await _every_page(http, "/api/projects", h, ["name"], client_id=acme["id"], status="active")

    entries = []
    for day in range(2, 6):
        body = {"project_id": site["id"], "started_at": f"2026-03-0{day}T09:00:00Z",
                "ended_at": f"2026-03-0{day}T11:00:00Z", "description": f"day {day}"}  # fmt: skip
        entries.append(_ok(await http.post("/api/time-entries", json=body, headers=h), 201))
    timer = _ok(
        await http.post("/api/time-entries/start", json={"project_id": app_project["id"]}, headers=h), 201
    )
    _ok(await http.post(f"/api/time-entries/{timer['id']}/stop", headers=h))
    _ok(await http.patch(f"/api/time-entries/{entries[0]['id']}", json={"description": "d"}, headers=h))
    _ok(await http.get(f"/api/time-entries/{entries[0]['id']}", headers=h))
    _ok(await http.delete(f"/api/time-entries/{entries[3]['id']}", headers=h), 204)
    await _every_page(http, "/api/time-entries", h, ["started_at", "created_at", "duration_seconds"])
    filters = {"project_id": site["id"], "client_id": acme["id"], "from": "2026-03-01T00:00:00Z",
               "to": "2026-04-01T00:00:00Z", "billable": "true", "invoiced": "false", "running": "false"}  # fmt: skip
    await _every_page(http, "/api/time-entries", h, ["started_at"], **filters)
    await _every_page(http, "/api/time-entries", h, ["started_at", "created_at"], user_id=ada.id)
    _ok(await http.get(f"/api/projects/{site['id']}", headers=h))

    lines = [{"description": "Consulting", "quantity": "2", "unit_price": "50.00"}]
    body = {"client_id": acme["id"], "time_entry_ids": [entries[0]["id"], entries[1]["id"]], "tax_rate": "20"}
    timed = _ok(await http.post("/api/invoices", json=body, headers=h), 201)
    plain = _ok(
        await http.post(
            "/api/invoices", json={"client_id": acme["id"], "lines": lines, "tax_rate": "20"}, headers=h
        ),
        201,
    )
    doomed = _ok(
        await http.post("/api/invoices", json={"client_id": other["id"], "lines": lines}, headers=h), 201
    )
    _ok(await http.patch(f"/api/invoices/{plain['id']}", json={"notes": "Net 15"}, headers=h))
    _ok(await http.post(f"/api/invoices/{plain['id']}/validate", headers=h))
    _ok(await http.post(f"/api/invoices/{timed['id']}/send", headers=h))
    _ok(await http.post(f"/api/invoices/{plain['id']}/send", headers=h))
    _ok_bytes(await http.get(f"/api/invoices/{timed['id']}/pdf", headers=h))
    _ok_bytes(await http.get(f"/api/invoices/{timed['id']}/e-invoice", headers=h))
    _ok(await http.post(f"/api/invoices/{timed['id']}/payments", json={"amount": "10.00"}, headers=h), 201)
    # a sent e-invoice is corrected by a credit note (section 22): one of the lines, then the rest
    one = {"description": "x", "quantity": "1", "unit_price": "10"}
    note = _ok(
        await http.post(
            f"/api/invoices/{plain['id']}/credit-notes", json={"reason": "r", "lines": [one]}, headers=h
        ),
        201,
    )
    _ok(await http.post(f"/api/invoices/{plain['id']}/credit-notes", json={"reason": "rest"}, headers=h), 201)
    _ok(await http.get(f"/api/credit-notes/{note['id']}", headers=h))
    _ok_bytes(await http.get(f"/api/credit-notes/{note['id']}/pdf", headers=h))
    await _every_page(http, "/api/credit-notes", h, ["number", "issue_date", "created_at"])
    await _every_page(http, "/api/credit-notes", h, ["number"], invoice_id=plain["id"], client_id=acme["id"])
    await _every_page(http, "/api/credit-notes", h, ["created_at"], client_id=acme["id"])
    await _every_page(http, f"/api/invoices/{plain['id']}/credit-notes", h, ["created_at"])
    _ok(await http.post(f"/api/credit-notes/{note['id']}/email", json={}, headers=h), 202)
    await _every_page(http, f"/api/credit-notes/{note['id']}/emails", h, ["created_at"])
    _ok(await http.post(f"/api/invoices/{doomed['id']}/void", headers=h))  # a draft
    spare_draft = _ok(
        await http.post("/api/invoices", json={"client_id": other["id"], "lines": lines}, headers=h), 201
    )
    _ok(await http.delete(f"/api/invoices/{spare_draft['id']}", headers=h), 204)
    _ok(await http.get(f"/api/invoices/{timed['id']}", headers=h))
    await _every_page(http, "/api/invoices", h, ["issue_date", "due_date", "total", "number", "created_at"])
    filters = {
        "status": "sent",
        "client_id": acme["id"],
        "from": "2020-01-01",
        "to": "2999-01-01",
        "q": "INV",
    }
    await _every_page(http, "/api/invoices", h, ["due_date"], **filters)
    await _every_page(http, "/api/invoices", h, ["due_date"], overdue="true")
    await _every_page(http, "/api/invoices", h, ["due_date"], overdue="false", project_id=site["id"])
    _ok(await http.post(f"/api/invoices/{timed['id']}/email", json={}, headers=h), 202)
    # Payment reminders (section 23): an invoice long overdue, reminded by the worker's pass below.
    _ok(
        await http.patch(
            "/api/organization", json={"business": {"reminders": [{"days_after_due": 1}]}}, headers=h
        )
    )
    late = {
        "client_id": acme["id"],
        "lines": lines,
        "tax_rate": "20",
        "issue_date": "2026-01-01",
        "due_date": "2026-01-10",
    }
    late_invoice = _ok(await http.post("/api/invoices", json=late, headers=h), 201)
    _ok(await http.post(f"/api/invoices/{late_invoice['id']}/send", headers=h))
    await _every_page(http, f"/api/invoices/{timed['id']}/emails", h, ["created_at"])
    _ok(await http.get("/api/reports/summary", headers=h))
    _ok(await http.get("/api/reports/summary", params={"currency": "GBP"}, headers=h))

    body = {"client_id": acme["id"], "project_id": site["id"], "title": "MSA", "start_date": "2026-01-01"}
    contract = _ok(await http.post("/api/contracts", json=body, headers=h), 201)
    spare_contract = _ok(
        await http.post("/api/contracts", json={"client_id": acme["id"], "title": "NDA"}, headers=h), 201
    )
    _ok(await http.patch(f"/api/contracts/{contract['id']}", json={"title": "MSA 2"}, headers=h))
    _ok(await http.post(f"/api/contracts/{contract['id']}/send", headers=h))
    _ok(await http.post(f"/api/contracts/{contract['id']}/sign", json={"signed_by": "Grace"}, headers=h))
    _ok(await http.post(f"/api/contracts/{spare_contract['id']}/cancel", headers=h))
    _ok(await http.get(f"/api/contracts/{contract['id']}", headers=h))
    await _every_page(http, "/api/contracts", h, ["created_at", "title", "start_date"])
    filters = {"status": "signed", "client_id": acme["id"], "project_id": site["id"]}
    await _every_page(http, "/api/contracts", h, ["title"], **filters)
    _ok(await http.delete(f"/api/contracts/{spare_contract['id']}", headers=h), 204)

    await _recurring(http, h, acme["id"], site["id"])

    resume = _ok(await http.post("/api/resumes", json={"title": "CV"}, headers=h), 201)
    _ok(await http.post("/api/resumes", json={"title": "Long CV"}, headers=h), 201)
    _ok(await http.patch(f"/api/resumes/{resume['id']}", json={"title": "CV 2"}, headers=h))
    _ok(await http.get(f"/api/resumes/{resume['id']}", headers=h))
    await _every_page(http, "/api/resumes", h, ["created_at", "title", "updated_at"])
    _ok(await http.delete(f"/api/resumes/{resume['id']}", headers=h), 204)

    _ok(await http.delete(f"/api/clients/{spare['id']}", headers=h), 204)
    _ok(await http.delete(f"/api/clients/{acme['id']}", headers=h), 409)  # its projects, invoices ...
    _ok(await http.delete(f"/api/projects/{app_project['id']}", headers=h), 409)  # time entries on it
    events = _ok(await http.get("/api/events", params={"limit": 5}, headers=h))
    _ok(
        await http.get(
            "/api/events", params={"after": events["items"][-1]["id"], "types": "invoice.sent"}, headers=h
        )
    )
    _ok(await http.get(f"/api/events/{events['items'][0]['id']}", headers=h))

    # Bob: an idempotent POST and its replay.
    keyed = {**bob.headers, "Idempotency-Key": "k-1"}
    _ok(await http.post("/api/clients", json={"name": "Bob's"}, headers=keyed), 201)
    _ok(await http.post("/api/clients", json={"name": "Bob's"}, headers=keyed), 201)
    _ok(
        await http.post(
            "/api/auth/change-password",
            json={"current_password": "correct horse battery", "new_password": "another long passphrase"},
            headers=bob.headers,
        ),
        204,
    )

    worker = new_worker()
    await worker.run_until_idle()
    late_emails = _ok(await http.get(f"/api/invoices/{late_invoice['id']}/emails", headers=h))["items"]
    assert [e["kind"] for e in late_emails] == ["reminder"]  # the pass's queries were recorded too
    _ok(await http.patch(f"/api/webhook-endpoints/{hook['id']}", json={"description": "d"}, headers=h))
    _ok(await http.get(f"/api/webhook-endpoints/{hook['id']}", headers=h))
    await _every_page(http, "/api/webhook-endpoints", h, ["created_at"])
    path = f"/api/webhook-endpoints/{hook['id']}/deliveries"
    await _every_page(http, path, h, ["created_at"])
    await _every_page(http, path, h, ["created_at"], status="succeeded")
    delivery = (_ok(await http.get(path, headers=h)))["items"][0]
    _ok(await http.post(f"{path}/{delivery['id']}/retry", headers=h))
    _ok(await http.post(f"/api/webhook-endpoints/{hook['id']}/rotate-secret", headers=h))
    await worker.run_until_idle()
    await recover(utc_now() + timedelta(hours=1))  # everything counts as stuck: every step looks
    _ok(await http.delete(f"/api/webhook-endpoints/{hook['id']}", headers=h), 204)
    _ok(await http.post("/api/auth/logout", headers=h), 204)


async def _recurring(http: httpx.AsyncClient, h: dict[str, str], client_id: str, project_id: str) -> None:
    """Schedules (section 23): every route, a scheduler pass and the runs it queues."""
    today = today_in("UTC").isoformat()
    body = {"client_id": client_id, "project_id": project_id, "frequency": "monthly", "start_date": today,
            "lines": [{"description": "Retainer", "quantity": "1", "unit_price": "100.00"}], "send": "send", "tax_rate": "20"}  # fmt: skip
    schedule = _ok(await http.post("/api/recurring-invoices", json=body, headers=h), 201)
    spare = _ok(await http.post("/api/recurring-invoices", json={**body, "send": "draft"}, headers=h), 201)
    path = f"/api/recurring-invoices/{schedule['id']}"
    _ok(await http.patch(path, json={"notes": "Monthly", "project_id": None}, headers=h))
    _ok(await http.get(path, headers=h))
    _ok(await http.post(f"/api/recurring-invoices/{spare['id']}/pause", headers=h))
    _ok(await http.post(f"/api/recurring-invoices/{spare['id']}/resume", headers=h))
    await _every_page(http, "/api/recurring-invoices", h, ["next_run_on", "created_at"])
    await _every_page(
        http, "/api/recurring-invoices", h, ["created_at"], status="active", client_id=client_id
    )
    await recurring.schedule_due_runs()
    await new_worker().run_until_idle()
    _ok(await http.delete(f"/api/recurring-invoices/{spare['id']}", headers=h), 204)


def _ok_bytes(response: httpx.Response) -> None:
    assert response.status_code == 200, response.text


def _scopes() -> dict[str, set[str]]:
    """By list collection: the fields each of its queries names by equality (the owner and the scope)."""
    return {model.get_settings().name: {"owner_id", *scope} for model, _, scope in SORTABLE}


async def test_every_query_the_app_runs_has_an_index_that_serves_it(recorded):
    http, log, receiver = recorded
    ada = await register(http, "ada@example.com", "Ada Lovelace")
    bob = await register(http, "bob@example.com", "Bob")
    await _scenario(http, ada, bob, receiver)

    indexes, scopes, unserved = indexes_by_collection(), _scopes(), []
    for query in log.queries:
        if (query.collection, query.origin) in UNINDEXED:
            continue
        where = shape(query.filter)
        count = query.operation == "count_documents"
        residual = RESIDUAL.get((query.collection, query.origin), (set(), ""))[0]
        # A list's own filters (status, client_id, q, dates ...) may be applied to the owner's documents as
        # the sort index reads them; the owner, the list's scope and the tombstone must be in the index.
        scope = scopes.get(query.collection) if query.origin.startswith(PAGINATION) else None
        specs = indexes.get(query.collection, [])
        if not served(specs, where, query.sort, count=count, residual=residual, scope=scope):
            unserved.append(
                f"{query.collection}.{query.operation} from {query.origin}: equal {sorted(where.equal)}, "
                f"ranges {sorted(where.ranges)}, $or {len(where.ors)}, sort {list(query.sort)}"
            )
    assert sorted(set(unserved)) == [], "\n".join(sorted(set(unserved)))
    seen = {(query.collection, query.origin) for query in log.queries}
    assert seen >= set(UNINDEXED) | set(RESIDUAL), "an allowed query no longer runs: drop it from the list"
