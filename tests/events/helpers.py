"""Reading the feed the way a polling client does, and reading the events collection directly."""

from __future__ import annotations

from typing import Any

from app.events.models import Event


async def poll_all(http: Any, headers: dict[str, str], after: str | None = None, **params: Any) -> list[dict]:
    """Every event after `after`, page by page, as a client following `has_more` would read them."""
    items: list[dict[str, Any]] = []
    while True:
        query = {"limit": 100, **params, **({"after": after} if after else {})}
        response = await http.get("/api/events", params=query, headers=headers)
        assert response.status_code == 200, response.text
        body = response.json()
        items += body["items"]
        if body["items"]:
            after = body["items"][-1]["id"]
        if not body["has_more"]:
            return items


async def stored_events(**query: Any) -> list[dict[str, Any]]:
    return await Event.get_motor_collection().find(query).sort("seq", 1).to_list(None)  # type: ignore[no-any-return]


def types_of(events: list[dict[str, Any]]) -> list[str]:
    return [event["type"] for event in events]
