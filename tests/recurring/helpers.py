"""Builders and a worker for the recurring schedule tests: the business clock is moved, never slept on."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from app.core.clock import MovableClock, local_midnight
from app.recurring import jobs
from app.worker.loop import Worker
from tests.clients.factories import create_client
from tests.jobs import new_worker

LINES = [{"description": "Retainer", "quantity": "1", "unit_price": "1000.00"}]


def at(moment: str) -> datetime:
    """An aware UTC datetime from 'YYYY-MM-DDTHH:MM'."""
    return datetime.fromisoformat(moment).replace(tzinfo=UTC)


def clock_at(moment: str) -> MovableClock:
    return MovableClock(at(moment))


def just_before_midnight(day: date, zone: str, clock: MovableClock) -> None:
    """Set `clock` one millisecond before `day` begins in `zone`."""
    from datetime import timedelta

    clock.set(local_midnight(day, zone) - timedelta(milliseconds=1))


def at_midnight(day: date, zone: str, clock: MovableClock) -> None:
    clock.set(local_midnight(day, zone))


async def set_zone(http: Any, headers: dict[str, str], zone: str) -> None:
    response = await http.patch("/api/auth/me", json={"business": {"time_zone": zone}}, headers=headers)
    assert response.status_code == 200, response.text


async def create_schedule(
    http: Any, headers: dict[str, str], client_id: str | None = None, **fields: Any
) -> dict[str, Any]:
    """A monthly schedule (for a new client unless one is given) of one 1000.00 line."""
    if client_id is None:
        client_id = (await create_client(http, headers, email="billing@acme.example"))["id"]
    body = {"client_id": client_id, "lines": LINES, "frequency": "monthly", **fields}
    response = await http.post("/api/recurring-invoices", json=body, headers=headers)
    assert response.status_code == 201, response.text
    return response.json()  # type: ignore[no-any-return]


async def run_worker(worker: Worker | None = None) -> int:
    """One scheduler pass, then every job it queued (and what those queue) to completion."""
    queued = await jobs.schedule_due_runs()
    await (worker or new_worker()).run_until_idle()
    return queued


async def invoices_of(http: Any, headers: dict[str, str], schedule_id: str) -> list[dict[str, Any]]:
    """The invoices a schedule made, oldest period first."""
    response = await http.get("/api/invoices", params={"limit": 100, "sort": "issue_date"}, headers=headers)
    assert response.status_code == 200, response.text
    return [i for i in response.json()["items"] if i["recurring_invoice_id"] == schedule_id]


async def get_schedule(http: Any, headers: dict[str, str], schedule_id: str) -> dict[str, Any]:
    response = await http.get(f"/api/recurring-invoices/{schedule_id}", headers=headers)
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]
