"""Deliveries over real HTTP to a receiver on loopback, signed as Standard Webhooks says, verified with the
`standardwebhooks` package as a receiver would."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

import pytest
from bson import ObjectId
from standardwebhooks import Webhook

from app.core.clock import utc_now
from app.webhooks.delivery import Sender
from app.webhooks.fanout import fan_out
from app.webhooks.jobs import DELIVER, PER_ENDPOINT_CONCURRENCY, DeliveryJob
from app.webhooks.models import FanoutCursor, WebhookEndpoint
from app.worker import register_handler
from app.worker.models import Job
from tests.conftest import assert_problem, register, serve
from tests.events.helpers import poll_all
from tests.webhooks.helpers import an_event, create_endpoint, deliveries, make_retries_due
from tests.webhooks.receiver import Receiver, closed_port


@pytest.fixture
async def receiver():
    started = await Receiver().start()
    yield started
    await started.stop()


def _when(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


async def test_an_event_is_posted_signed_and_the_receiver_verifies_it(client, user, worker, receiver):
    endpoint = await create_endpoint(client, user.headers, receiver.url)
    event_id = await an_event(user.id, "invoice.paid", total="120.00")

    await worker.run_until_idle()

    assert len(receiver.requests) == 1
    request = receiver.requests[0]
    assert request.method == "POST" and request.path == "/hooks"
    payload = Webhook(endpoint["secret"]).verify(request.body, request.headers)
    assert payload["id"] == event_id and payload["type"] == "invoice.paid"
    assert payload["data"]["object"]["total"] == "120.00"
    assert request.headers["webhook-id"] == event_id
    assert request.headers["content-type"] == "application/json"
    assert request.headers["webhook-signature"].startswith("v1,")
    with pytest.raises(Exception, match="signature"):  # a forged body fails verification
        Webhook(endpoint["secret"]).verify(request.body.replace(b"120.00", b"999.00"), request.headers)

    [delivery] = await deliveries(client, user.headers, endpoint["id"])
    assert delivery["status"] == "succeeded" and delivery["event_id"] == event_id
    assert delivery["event_type"] == "invoice.paid" and delivery["next_attempt_at"] is None
    [attempt] = delivery["attempts"]
    assert attempt["status_code"] == 200 and attempt["error"] is None and attempt["duration_ms"] >= 0


async def test_only_subscribed_enabled_endpoints_of_the_owner_get_an_event(
    client, user, other_user, worker, receiver
):
    paid = await create_endpoint(client, user.headers, receiver.url, ["invoice.paid"])
    sent_only = await create_endpoint(client, user.headers, receiver.url, ["invoice.sent"])
    disabled = await create_endpoint(client, user.headers, receiver.url, ["*"])
    await client.patch(
        f"/api/webhook-endpoints/{disabled['id']}", json={"enabled": False}, headers=user.headers
    )
    await create_endpoint(client, other_user.headers, receiver.url, ["*"])

    await an_event(user.id, "invoice.paid")
    await worker.run_until_idle()

    assert len(receiver.requests) == 1
    Webhook(paid["secret"]).verify(receiver.requests[0].body, receiver.requests[0].headers)
    assert await deliveries(client, user.headers, sent_only["id"]) == []
    assert await deliveries(client, user.headers, disabled["id"]) == []


async def test_a_500_is_retried_on_the_schedule_then_succeeds(client, user, worker):
    receiver = await Receiver(statuses=[500, 204]).start()
    endpoint = await create_endpoint(client, user.headers, receiver.url)
    await an_event(user.id)

    await worker.run_until_idle()
    [delivery] = await deliveries(client, user.headers, endpoint["id"])
    assert delivery["status"] == "pending" and len(receiver.requests) == 1
    [failed] = delivery["attempts"]
    assert failed["status_code"] == 500 and failed["error"] == "HTTP 500"
    # The first delay of WEBHOOK_RETRY_SCHEDULE (5 s, less up to 10 % jitter), counted from the attempt's end.
    wait = (_when(delivery["next_attempt_at"]) - _when(failed["at"])).total_seconds()
    assert 4.5 <= wait - failed["duration_ms"] / 1000 <= 5.1, (wait, failed["duration_ms"])
    await worker.run_until_idle()
    assert len(receiver.requests) == 1, "retried before its time"

    await make_retries_due()
    await worker.run_until_idle()
    [delivery] = await deliveries(client, user.headers, endpoint["id"])
    assert delivery["status"] == "succeeded" and [a["status_code"] for a in delivery["attempts"]] == [
        500,
        204,
    ]
    assert receiver.requests[0].headers["webhook-id"] == receiver.requests[1].headers["webhook-id"]
    assert receiver.requests[0].body == receiver.requests[1].body
    await receiver.stop()


async def test_after_the_last_scheduled_attempt_the_delivery_is_failed_and_a_manual_retry_sends_once_more(
    make_app, make_worker
):
    app = make_app(webhook_retry_schedule=(1.0, 2.0))
    receiver = await Receiver(statuses=[503, 503, 503, 200]).start()
    async with serve(app) as http:
        account = await register(http, "ada@example.com")
        endpoint = await create_endpoint(http, account.headers, receiver.url)
        await an_event(account.id)
        worker = make_worker()
        for _ in range(4):
            await worker.run_until_idle()
            await make_retries_due()

        [delivery] = await deliveries(http, account.headers, endpoint["id"], status="failed")
        assert len(delivery["attempts"]) == 3 and delivery["next_attempt_at"] is None
        assert len(receiver.requests) == 3
        job = await Job.get_motor_collection().find_one({"kind": DELIVER})
        assert job["status"] == "failed"
        assert await deliveries(http, account.headers, endpoint["id"], status="pending") == []

        url = f"/api/webhook-endpoints/{endpoint['id']}/deliveries/{delivery['id']}/retry"
        retried = await http.post(url, headers=account.headers)
        assert retried.status_code == 200, retried.text
        assert retried.json()["status"] == "pending"
        await worker.run_until_idle()
        [delivery] = await deliveries(http, account.headers, endpoint["id"])
        assert delivery["status"] == "succeeded" and len(delivery["attempts"]) == 4
        assert len(receiver.requests) == 4
    await receiver.stop()


async def test_a_closed_port_is_a_failed_attempt(client, user, worker):
    endpoint = await create_endpoint(client, user.headers, f"http://127.0.0.1:{closed_port()}/hooks")
    await an_event(user.id)
    await worker.run_until_idle()
    [delivery] = await deliveries(client, user.headers, endpoint["id"])
    [attempt] = delivery["attempts"]
    assert delivery["status"] == "pending" and attempt["status_code"] is None
    assert attempt["error"].startswith("ConnectError")


async def test_a_redirect_is_not_followed(client, user, worker, receiver):
    redirecting = await Receiver(statuses=[307], location=receiver.url).start()
    endpoint = await create_endpoint(client, user.headers, redirecting.url)
    await an_event(user.id)
    await worker.run_until_idle()

    assert len(redirecting.requests) == 1 and receiver.requests == []
    [delivery] = await deliveries(client, user.headers, endpoint["id"])
    [attempt] = delivery["attempts"]
    assert attempt["status_code"] == 307 and "not followed" in attempt["error"]
    assert delivery["status"] == "pending"
    await redirecting.stop()


async def test_a_slow_receiver_times_out_and_delays_only_its_own_deliveries(
    client, user, make_worker, settings
):
    # 0.5 s stands for the 10 s of production, so that the test does not wait 10 s.
    sender = Sender(https_only=False, allow_private=True, timeout=0.5)
    register_handler(DELIVER, DeliveryJob(settings, sender), group_limit=PER_ENDPOINT_CONCURRENCY)
    slow = await Receiver(delay=30.0).start()
    fast = await Receiver().start()
    slow_endpoint = await create_endpoint(client, user.headers, slow.url, ["invoice.sent"])
    await create_endpoint(client, user.headers, fast.url, ["invoice.paid"])
    for _ in range(20):
        await an_event(user.id, "invoice.sent")
    worker = make_worker(concurrency=4)
    running = asyncio.create_task(worker.run())
    await asyncio.wait_for(slow.arrived.wait(), 30)
    await an_event(user.id, "invoice.paid")  # queued after all twenty slow ones
    await asyncio.wait_for(fast.arrived.wait(), 30)
    # The fast event overtook the slow endpoint's queue: it did not wait for the slow deliveries' attempts.
    slow_deliveries = await deliveries(client, user.headers, slow_endpoint["id"])
    assert any(not d["attempts"] for d in slow_deliveries), "the fast event waited for every slow delivery"
    worker.stop()
    await running

    attempted = [d for d in await deliveries(client, user.headers, slow_endpoint["id"]) if d["attempts"]]
    assert attempted and all(d["attempts"][0]["error"] == "timed out after 0.5 s" for d in attempted)
    assert all(d["status"] == "pending" for d in attempted)
    await slow.stop()
    await fast.stop()


async def test_two_workers_deliver_each_event_once_per_endpoint(client, user, make_worker):
    first_receiver, second_receiver = await Receiver().start(), await Receiver().start()
    await create_endpoint(client, user.headers, first_receiver.url)
    await create_endpoint(client, user.headers, second_receiver.url)
    event_ids = [await an_event(user.id) for _ in range(15)]
    # The fan-out seeing the events again (its cursor lost) creates nothing new.
    await FanoutCursor.get_motor_collection().delete_many({})
    await fan_out()
    workers = [make_worker(concurrency=3), make_worker(concurrency=3)]
    loops = [asyncio.create_task(w.run()) for w in workers]
    for _ in range(500):
        if len(first_receiver.requests) + len(second_receiver.requests) >= 30:
            break
        await asyncio.sleep(0.01)
    await asyncio.sleep(0.1)
    for w in workers:
        w.stop()
    await asyncio.gather(*loops)

    for receiver in (first_receiver, second_receiver):
        ids = [r.headers["webhook-id"] for r in receiver.requests]
        assert sorted(ids) == sorted(event_ids), "an event was delivered twice or not at all"
        await receiver.stop()
    ran_on = await Job.get_motor_collection().distinct("worker_id", {"kind": DELIVER})
    assert len(ran_on) == 2


async def test_rotating_the_secret_signs_later_deliveries_with_the_new_one(client, user, worker, receiver):
    endpoint = await create_endpoint(client, user.headers, receiver.url)
    rotated = await client.post(
        f"/api/webhook-endpoints/{endpoint['id']}/rotate-secret", headers=user.headers
    )
    assert rotated.status_code == 200
    new_secret = rotated.json()["secret"]
    assert new_secret != endpoint["secret"] and new_secret.startswith("whsec_")
    await an_event(user.id)
    await worker.run_until_idle()
    request = receiver.requests[0]
    Webhook(new_secret).verify(request.body, request.headers)
    with pytest.raises(Exception, match="signature"):
        Webhook(endpoint["secret"]).verify(request.body, request.headers)


async def test_an_endpoint_failing_for_five_days_is_disabled_with_its_event(client, user, worker, receiver):
    endpoint = await create_endpoint(client, user.headers, f"http://127.0.0.1:{closed_port()}/hooks")
    watcher = await create_endpoint(client, user.headers, receiver.url, ["webhook_endpoint.disabled"])
    await an_event(user.id)
    await worker.run_until_idle()
    stored = await WebhookEndpoint.get_motor_collection().find_one({"_id": ObjectId(endpoint["id"])})
    assert stored["failing_since"] is not None, "a failed attempt must start the failure clock"
    shown = (await client.get(f"/api/webhook-endpoints/{endpoint['id']}", headers=user.headers)).json()
    assert shown["enabled"] is True, "one failure is not five days of them"

    four_days = utc_now() - timedelta(days=4, hours=23)
    await WebhookEndpoint.get_motor_collection().update_one(
        {"_id": ObjectId(endpoint["id"])}, {"$set": {"failing_since": four_days}}
    )
    await make_retries_due()
    await worker.run_until_idle()
    shown = (await client.get(f"/api/webhook-endpoints/{endpoint['id']}", headers=user.headers)).json()
    assert shown["enabled"] is True

    await WebhookEndpoint.get_motor_collection().update_one(
        {"_id": ObjectId(endpoint["id"])},
        {"$set": {"failing_since": utc_now() - timedelta(days=5, minutes=1)}},
    )
    await make_retries_due()
    await worker.run_until_idle()
    shown = (await client.get(f"/api/webhook-endpoints/{endpoint['id']}", headers=user.headers)).json()
    assert shown["enabled"] is False
    [event] = await poll_all(client, user.headers, types="webhook_endpoint.disabled")
    assert event["data"]["object"]["id"] == endpoint["id"] and event["data"]["object"]["enabled"] is False
    assert "secret" not in event["data"]["object"]
    await fan_out()  # the fan-out's next run (its periodic lease says it ran a moment ago)
    await worker.run_until_idle()
    [announced] = receiver.requests  # the owner's other endpoint that subscribes to it is told
    assert Webhook(watcher["secret"]).verify(announced.body, announced.headers)["id"] == event["id"]

    await an_event(user.id)  # a disabled endpoint gets no new deliveries, and is not disabled twice
    await make_retries_due()
    await worker.run_until_idle()
    assert len(await poll_all(client, user.headers, types="webhook_endpoint.disabled")) == 1
    [delivery] = await deliveries(client, user.headers, endpoint["id"])
    assert (
        delivery["status"] == "failed" and delivery["attempts"][-1]["error"] == "endpoint disabled: not sent"
    )

    enabled = await client.patch(
        f"/api/webhook-endpoints/{endpoint['id']}", json={"enabled": True}, headers=user.headers
    )
    assert enabled.json()["enabled"] is True
    stored = await WebhookEndpoint.get_motor_collection().find_one({"_id": ObjectId(endpoint["id"])})
    assert stored["failing_since"] is None, "re-enabling starts a fresh five days"


async def test_a_success_resets_the_failure_clock(client, user, worker):
    receiver = await Receiver(statuses=[500, 200]).start()
    endpoint = await create_endpoint(client, user.headers, receiver.url)
    await an_event(user.id)
    await worker.run_until_idle()
    await make_retries_due()
    await worker.run_until_idle()
    stored = await WebhookEndpoint.get_motor_collection().find_one({"_id": ObjectId(endpoint["id"])})
    assert stored["failing_since"] is None
    await receiver.stop()


async def test_deliveries_filter_by_status_and_refuse_an_unknown_one(client, user, worker, receiver):
    endpoint = await create_endpoint(client, user.headers, receiver.url)
    await an_event(user.id)
    await worker.run_until_idle()
    assert len(await deliveries(client, user.headers, endpoint["id"], status="succeeded")) == 1
    assert await deliveries(client, user.headers, endpoint["id"], status="failed") == []
    response = await client.get(
        f"/api/webhook-endpoints/{endpoint['id']}/deliveries", params={"status": "lost"}, headers=user.headers
    )
    assert_problem(response, 400, "validation_error")


async def test_deleting_an_endpoint_stops_its_queued_deliveries(client, user, worker, receiver):
    endpoint = await create_endpoint(client, user.headers, receiver.url)
    await an_event(user.id)
    deleted = await client.delete(f"/api/webhook-endpoints/{endpoint['id']}", headers=user.headers)
    assert deleted.status_code == 204
    await worker.run_until_idle()
    assert receiver.requests == []


async def test_a_delivery_keeps_its_last_50_attempts_however_often_it_is_retried(client, user, worker):
    """docs/webhooks-and-events.md: every stored log is bounded; manual retries append attempts, the oldest go."""
    from app.webhooks.jobs import ATTEMPTS_KEPT
    from app.webhooks.models import WebhookDelivery

    endpoint = await create_endpoint(client, user.headers, f"http://127.0.0.1:{closed_port()}/hooks")
    await an_event(user.id)
    await worker.run_until_idle()
    [delivery] = await deliveries(client, user.headers, endpoint["id"])
    stored = await WebhookDelivery.get_motor_collection().find_one({"_id": ObjectId(delivery["id"])})
    old = [{**stored["attempts"][0], "error": f"old attempt {n}"} for n in range(ATTEMPTS_KEPT)]
    await WebhookDelivery.get_motor_collection().update_one(
        {"_id": stored["_id"]}, {"$set": {"attempts": old}}
    )

    url = f"/api/webhook-endpoints/{endpoint['id']}/deliveries/{delivery['id']}/retry"
    assert (await client.post(url, headers=user.headers)).status_code == 200
    await worker.run_until_idle()

    [delivery] = await deliveries(client, user.headers, endpoint["id"])
    assert len(delivery["attempts"]) == ATTEMPTS_KEPT
    assert delivery["attempts"][0]["error"] == "old attempt 1"  # the oldest went
    assert delivery["attempts"][-1]["error"].startswith("ConnectError")
