"""Builders for the webhook tests: endpoints over HTTP, events written to the feed and fanned out."""

from __future__ import annotations

from typing import Any

from bson import ObjectId

from app.core.clock import utc_now
from app.events import emit
from app.webhooks.fanout import fan_out
from app.worker.models import Job


async def create_endpoint(
    http: Any, headers: dict[str, str], url: str, events: list[str] | None = None
) -> dict[str, Any]:
    response = await http.post(
        "/api/webhook-endpoints", json={"url": url, "events": events or ["*"]}, headers=headers
    )
    assert response.status_code == 201, response.text
    return response.json()  # type: ignore[no-any-return]


async def an_event(owner_id: str, event_type: str = "invoice.paid", **obj: Any) -> str:
    """An event of `owner_id` in the feed, then one fan-out pass (as the worker's periodic task runs it)."""
    event_id = await emit(
        ObjectId(owner_id), event_type, {"id": str(ObjectId()), "number": "INV-0001", **obj}
    )
    await fan_out()
    return str(event_id)


async def deliveries(
    http: Any, headers: dict[str, str], endpoint_id: str, **query: Any
) -> list[dict[str, Any]]:
    response = await http.get(
        f"/api/webhook-endpoints/{endpoint_id}/deliveries", params={"limit": 100, **query}, headers=headers
    )
    assert response.status_code == 200, response.text
    return response.json()["items"]  # type: ignore[no-any-return]


async def make_retries_due() -> None:
    """Time travel: every scheduled retry is due now."""
    await Job.get_motor_collection().update_many({"status": "pending"}, {"$set": {"run_at": utc_now()}})
