"""Builders for time entries: other areas (invoices, reports) import these."""

from __future__ import annotations

from typing import Any

DEFAULT_STARTED_AT = "2026-03-02T09:00:00Z"
DEFAULT_ENDED_AT = "2026-03-02T11:30:00Z"  # 2.5 h = 9000 s


async def create_time_entry(
    http: Any,
    headers: dict[str, str],
    project_id: str,
    started_at: str = DEFAULT_STARTED_AT,
    ended_at: str = DEFAULT_ENDED_AT,
    **fields: Any,
) -> dict[str, Any]:
    """Create a manual (stopped) time entry over HTTP; returns the TimeEntry JSON.

    Extra fields: description, billable (default true), hourly_rate ("150.00" or None = project's rate).
    """
    body = {"project_id": project_id, "started_at": started_at, "ended_at": ended_at, **fields}
    response = await http.post("/api/time-entries", json=body, headers=headers)
    assert response.status_code == 201, response.text
    return response.json()  # type: ignore[no-any-return]


async def start_timer(http: Any, headers: dict[str, str], project_id: str, **fields: Any) -> dict[str, Any]:
    """Start the caller's timer on a project; returns the running TimeEntry JSON."""
    response = await http.post(
        "/api/time-entries/start", json={"project_id": project_id, **fields}, headers=headers
    )
    assert response.status_code == 201, response.text
    return response.json()  # type: ignore[no-any-return]


async def mark_invoiced(entry_id: str) -> str:
    """Test shortcut: lock an entry as if an invoice had claimed it; returns the fake invoice id."""
    from bson import ObjectId

    from app.time_entries.models import TimeEntry

    invoice_id = ObjectId()
    await TimeEntry.get_motor_collection().update_one(
        {"_id": ObjectId(entry_id)}, {"$set": {"invoice_id": invoice_id}}
    )
    return str(invoice_id)
