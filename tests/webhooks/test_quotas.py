"""API.md section 24 for webhooks: at most WEBHOOK_ENDPOINTS_MAX endpoints per owner (however many creates run
at once), at most WEBHOOK_MANUAL_RETRIES_PER_HOUR manual retries per endpoint, and bounded delivery logs."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest
from bson import ObjectId

from app.core import error_text
from app.core.clock import utc_now
from app.core.errors import QuotaExceeded
from app.db.quota import QuotaWindow
from app.webhooks import slots
from app.webhooks.models import WebhookEndpoint
from app.worker.models import Job
from tests.conftest import assert_problem, register, serve
from tests.webhooks.helpers import an_event, create_endpoint, deliveries
from tests.webhooks.receiver import Receiver

URL = "http://127.0.0.1:9/hooks"


async def _create(http: Any, headers: dict[str, str], url: str = URL) -> Any:
    return await http.post("/api/webhook-endpoints", json={"url": url, "events": ["*"]}, headers=headers)


async def _count(http: Any, headers: dict[str, str]) -> int:
    listed = await http.get("/api/webhook-endpoints", headers=headers)
    return int(listed.json()["total"])


def _retry_after(response: Any) -> int:
    return int(response.headers["retry-after"])


# ---------------------------------------------------------------- WEBHOOK_ENDPOINTS_MAX


async def test_25_concurrent_creates_leave_exactly_20_endpoints(client, user, other_user):
    answers = await asyncio.gather(*(_create(client, user.headers) for _ in range(25)))

    assert sorted(answer.status_code for answer in answers) == [201] * 20 + [429] * 5
    for refused in (answer for answer in answers if answer.status_code == 429):
        body = assert_problem(refused, 429, "quota_exceeded")
        assert "WEBHOOK_ENDPOINTS_MAX" in body["detail"] and _retry_after(refused) > 0
    assert await _count(client, user.headers) == 20
    metrics = (await client.get("/metrics")).text
    assert 'orbix_quota_exceeded_total{limit="WEBHOOK_ENDPOINTS_MAX"} 5.0' in metrics
    stored = await WebhookEndpoint.get_motor_collection().find({"owner_id": ObjectId(user.id)}).to_list(None)
    assert sorted(endpoint["quota_slot"] for endpoint in stored) == sorted(
        slots.slot(user.id, n) for n in range(20)
    )
    # another owner's endpoints are their own
    assert (await _create(client, other_user.headers)).status_code == 201


async def test_deleting_an_endpoint_makes_room_for_one_more(client, user):
    created = [await create_endpoint(client, user.headers, URL) for _ in range(20)]
    assert_problem(await _create(client, user.headers), 429, "quota_exceeded")
    deleted = await client.delete(f"/api/webhook-endpoints/{created[7]['id']}", headers=user.headers)
    assert deleted.status_code == 204
    assert (await _create(client, user.headers)).status_code == 201
    assert_problem(await _create(client, user.headers), 429, "quota_exceeded")


async def test_a_request_is_validated_before_the_limit_is_checked(client, user):
    for _ in range(20):
        await create_endpoint(client, user.headers, URL)
    invalid = await client.post(
        "/api/webhook-endpoints", json={"url": "ftp://x.example/", "events": ["*"]}, headers=user.headers
    )
    assert_problem(invalid, 400, "validation_error")


async def test_endpoints_stored_before_the_limit_count_and_are_given_slots(client, user):
    """Endpoints without a slot (stored before the limit) count like any other."""
    owner = ObjectId(user.id)
    legacy = [
        {
            "_id": ObjectId(),
            "owner_id": owner,
            "url": URL,
            "events": ["*"],
            "description": "",
            "enabled": True,
            "secret": "whsec_" + "A" * 43 + "=",
            "failing_since": None,
            "version": 1,
            "created_at": utc_now(),
            "updated_at": utc_now(),
            "outbox": [],
        }
        for _ in range(19)
    ]
    await WebhookEndpoint.get_motor_collection().insert_many(legacy)

    assert (await _create(client, user.headers)).status_code == 201
    assert_problem(await _create(client, user.headers), 429, "quota_exceeded")
    stored = await WebhookEndpoint.get_motor_collection().find({"owner_id": owner}).to_list(None)
    assert len({endpoint["quota_slot"] for endpoint in stored}) == 20


async def test_after_the_limit_is_lowered_no_new_endpoint_until_the_owner_is_below_it(app, client, user):
    made = [await create_endpoint(client, user.headers, URL) for _ in range(5)]
    owner = await _owner(user)
    lowered = replace(app.state.settings, webhook_endpoints_max=3)

    from app.webhooks import service
    from app.webhooks.schemas import WebhookEndpointCreate

    data = WebhookEndpointCreate(url=URL, events=["*"])
    for endpoint in made[:2]:  # 5 → 3: still not below 3
        await client.delete(f"/api/webhook-endpoints/{endpoint['id']}", headers=user.headers)
    with pytest.raises(QuotaExceeded, match="WEBHOOK_ENDPOINTS_MAX"):
        await service.create_endpoint(owner, data, lowered)
    await client.delete(f"/api/webhook-endpoints/{made[2]['id']}", headers=user.headers)
    await service.create_endpoint(owner, data, lowered)  # 2 → 3; the two left were moved below 3
    with pytest.raises(QuotaExceeded, match="WEBHOOK_ENDPOINTS_MAX"):
        await service.create_endpoint(owner, data, lowered)
    stored = await WebhookEndpoint.get_motor_collection().find({"owner_id": owner.id}).to_list(None)
    assert sorted(endpoint["quota_slot"] for endpoint in stored) == [slots.slot(user.id, n) for n in range(3)]


async def _owner(user: Any) -> Any:
    from app.auth.models import User

    found = await User.get(ObjectId(user.id))
    assert found is not None
    return found


# ---------------------------------------------------------------- WEBHOOK_MANUAL_RETRIES_PER_HOUR


@pytest.fixture
async def limited(make_app):
    async with serve(make_app(webhook_manual_retries_per_hour=3)) as http:
        yield http


async def _a_delivery(http: Any, account: Any) -> tuple[str, str]:
    endpoint = await create_endpoint(http, account.headers, URL)
    await an_event(account.id)
    [delivery] = await deliveries(http, account.headers, endpoint["id"])
    return endpoint["id"], delivery["id"]


def _retry_url(endpoint_id: str, delivery_id: str) -> str:
    return f"/api/webhook-endpoints/{endpoint_id}/deliveries/{delivery_id}/retry"


async def test_manual_retries_beyond_the_hours_limit_are_429_until_the_window_allows(limited):
    account = await register(limited, "ada@example.com")
    endpoint_id, delivery_id = await _a_delivery(limited, account)
    url = _retry_url(endpoint_id, delivery_id)

    answers = await asyncio.gather(*(limited.post(url, headers=account.headers) for _ in range(10)))
    assert sorted(answer.status_code for answer in answers) == [200] * 3 + [429] * 7
    refused = next(answer for answer in answers if answer.status_code == 429)
    body = assert_problem(refused, 429, "quota_exceeded")
    assert "WEBHOOK_MANUAL_RETRIES_PER_HOUR" in body["detail"]
    assert 0 < _retry_after(refused) <= 3600
    metrics = (await limited.get("/metrics")).text
    assert 'orbix_quota_exceeded_total{limit="WEBHOOK_MANUAL_RETRIES_PER_HOUR"} 7.0' in metrics

    # another endpoint of the same owner has an hour of its own
    other_endpoint, other_delivery = await _a_delivery(limited, account)
    assert (
        await limited.post(_retry_url(other_endpoint, other_delivery), headers=account.headers)
    ).status_code == 200

    await _an_hour_passes()
    assert (await limited.post(url, headers=account.headers)).status_code == 200


async def test_a_retry_refused_for_another_reason_does_not_count(limited):
    account = await register(limited, "ada@example.com")
    endpoint_id, delivery_id = await _a_delivery(limited, account)
    url = _retry_url(endpoint_id, delivery_id)
    assert_problem(
        await limited.post(_retry_url(endpoint_id, str(ObjectId())), headers=account.headers),
        404,
        "not_found",
    )
    # an attempt under way: 409, and the place it took is given back
    jobs = Job.get_motor_collection()
    await jobs.update_many({"kind": "webhook.deliver"}, {"$set": {"status": "running"}})
    for _ in range(3):
        assert_problem(await limited.post(url, headers=account.headers), 409, "conflict")
    await jobs.update_many({"kind": "webhook.deliver"}, {"$set": {"status": "pending"}})

    for _ in range(3):
        assert (await limited.post(url, headers=account.headers)).status_code == 200
    assert_problem(await limited.post(url, headers=account.headers), 429, "quota_exceeded")


async def _an_hour_passes() -> None:
    """Time travel: every counted use is an hour and a second older."""
    windows = QuotaWindow.get_motor_collection()
    async for window in windows.find({}):
        uses = [{**use, "at": use["at"] - timedelta(hours=1, seconds=1)} for use in window["uses"]]
        await windows.update_one({"_id": window["_id"]}, {"$set": {"uses": uses}})


# ---------------------------------------------------------------- bounded logs


async def test_a_stored_attempt_error_is_cut_to_500_characters_location_included(client, user, worker):
    redirecting = await Receiver(statuses=[307], location="http://elsewhere.example/" + "x" * 3000).start()
    endpoint = await create_endpoint(client, user.headers, redirecting.url)
    await an_event(user.id)
    await worker.run_until_idle()

    [delivery] = await deliveries(client, user.headers, endpoint["id"])
    [attempt] = delivery["attempts"]
    assert attempt["status_code"] == 307 and len(attempt["error"]) == error_text.LIMIT
    assert attempt["error"].startswith("redirect to 'http://elsewhere.example/xxx")
    assert attempt["error"].endswith("…")
    await redirecting.stop()
