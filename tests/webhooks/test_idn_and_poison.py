"""API.md section 24: an internationalised host is stored in its IDNA form and delivered to (Host and DNS in
ASCII); a host no encoder can write is refused with 400; and a delivery that no attempt can make (an
endpoint stored before these rules, a secret that cannot sign) logs its attempt and fails at once, never
retried for hours, never in the way of the deliveries behind it."""

from __future__ import annotations

from typing import Any

import pytest
from bson import ObjectId

from app.webhooks.delivery import Sender
from app.webhooks.jobs import DELIVER
from app.webhooks.models import WebhookEndpoint
from app.worker import jobs
from app.worker.models import Job
from tests.conftest import assert_problem
from tests.webhooks.helpers import an_event, create_endpoint, deliveries, make_retries_due
from tests.webhooks.receiver import Receiver
from tests.webhooks.test_url_guard import FakeDns

SNOWMAN = "http://\u2603.example/hooks"  # U+2603 is not allowed in a domain name by IDNA 2008


@pytest.fixture
def dns(monkeypatch: pytest.MonkeyPatch) -> FakeDns:
    return FakeDns(monkeypatch)


@pytest.fixture
async def receiver():
    started = await Receiver().start()
    yield started
    await started.stop()


async def _store_url(endpoint_id: str, url: str) -> None:
    """An endpoint whose URL was stored before the API normalised or refused it."""
    await WebhookEndpoint.get_motor_collection().update_one(
        {"_id": ObjectId(endpoint_id)}, {"$set": {"url": url}}
    )


async def _delivery_job(delivery_id: str) -> dict[str, Any]:
    job = await jobs.get_by_key(f"{DELIVER}:{delivery_id}")
    assert job is not None
    return job


@pytest.mark.parametrize(
    ("host", "ascii_host"),
    [
        ("ⓛⓞⓒⓐⓛⓗⓞⓢⓣ", "localhost"),
        ("bücher.example", "xn--bcher-kva.example"),
        ("BÜCHER.example", "xn--bcher-kva.example"),
    ],
)
async def test_an_internationalised_host_is_stored_in_idna_form_and_delivered_to(
    client, user, worker, receiver, dns, host, ascii_host
):
    dns.set(ascii_host, ["127.0.0.1"])
    endpoint = await create_endpoint(client, user.headers, f"http://{host}:{receiver.port}/hooks")
    assert endpoint["url"] == f"http://{ascii_host}:{receiver.port}/hooks"
    shown = (await client.get(f"/api/webhook-endpoints/{endpoint['id']}", headers=user.headers)).json()
    assert shown["url"] == endpoint["url"]

    await an_event(user.id)
    await worker.run_until_idle()
    [request] = receiver.requests
    assert request.headers["host"] == f"{ascii_host}:{receiver.port}"
    [delivery] = await deliveries(client, user.headers, endpoint["id"])
    assert delivery["status"] == "succeeded"


async def test_patch_stores_the_idna_form_too_and_an_ascii_url_is_kept_as_it_is(client, user, dns):
    dns.set("xn--mnchen-3ya.example", ["127.0.0.1"])
    ascii_url = "http://127.0.0.1:9/Hooks?Key=Value"
    endpoint = await create_endpoint(client, user.headers, ascii_url)
    assert endpoint["url"] == ascii_url
    patched = await client.patch(
        f"/api/webhook-endpoints/{endpoint['id']}",
        json={"url": "https://münchen.example/höoks?q=ü"},
        headers=user.headers,
    )
    assert patched.status_code == 200, patched.text
    assert patched.json()["url"] == "https://xn--mnchen-3ya.example/höoks?q=ü"  # only the host is encoded


@pytest.mark.parametrize("method", ["POST", "PATCH"])
async def test_a_host_no_encoder_can_write_is_refused_with_400(client, user, method):
    if method == "POST":
        response = await client.post(
            "/api/webhook-endpoints", json={"url": SNOWMAN, "events": ["*"]}, headers=user.headers
        )
    else:
        endpoint = await create_endpoint(client, user.headers, "http://127.0.0.1:9/hooks")
        response = await client.patch(
            f"/api/webhook-endpoints/{endpoint['id']}", json={"url": SNOWMAN}, headers=user.headers
        )
    problem = assert_problem(response, 400, "validation_error")
    [error] = problem["errors"]
    assert error["field"] == "url" and "not a valid internationalised domain name" in error["message"]


async def test_a_stored_internationalised_host_is_delivered_to_in_idna_form(
    client, user, worker, receiver, dns
):
    dns.set("localhost", ["127.0.0.1"])
    endpoint = await create_endpoint(client, user.headers, receiver.url)
    await _store_url(endpoint["id"], f"http://ⓛⓞⓒⓐⓛⓗⓞⓢⓣ:{receiver.port}/hooks")
    await an_event(user.id)
    await worker.run_until_idle()
    [request] = receiver.requests
    assert request.headers["host"] == f"localhost:{receiver.port}"


@pytest.mark.parametrize("poison", ["host", "secret"])
async def test_a_delivery_no_attempt_can_make_logs_its_attempt_and_fails_at_once(
    client, user, worker, receiver, poison
):
    """The poisoned endpoint's delivery: one attempt logged with the reason, `failed`, no next attempt, its
    job `failed` with the reason after one run. The healthy endpoint's delivery of the same event goes out."""
    poisoned = await create_endpoint(client, user.headers, "http://127.0.0.1:9/hooks")
    if poison == "host":
        await _store_url(poisoned["id"], SNOWMAN)
        expected = "refused: the host '\u2603.example' is not a valid internationalised domain name"
    else:  # a secret that cannot sign (nothing left of it once decoded)
        await WebhookEndpoint.get_motor_collection().update_one(
            {"_id": ObjectId(poisoned["id"])}, {"$set": {"secret": "whsec_!!!"}}
        )
        expected = "cannot be sent: the endpoint's secret cannot sign a delivery; rotate it"
    healthy = await create_endpoint(client, user.headers, receiver.url)
    await an_event(user.id)
    await worker.run_until_idle()

    [failed] = await deliveries(client, user.headers, poisoned["id"])
    assert failed["status"] == "failed" and failed["next_attempt_at"] is None
    [attempt] = failed["attempts"]
    assert attempt["error"].startswith(expected) and attempt["status_code"] is None
    job = await _delivery_job(failed["id"])
    assert job["status"] == "failed" and job["attempts"] == 1
    assert job["last_error"].startswith(f"PermanentFailure: no attempt can succeed: {expected}")
    [delivered] = await deliveries(client, user.headers, healthy["id"])
    assert delivered["status"] == "succeeded" and len(receiver.requests) == 1

    await make_retries_due()
    await worker.run_until_idle()
    assert len((await deliveries(client, user.headers, poisoned["id"]))[0]["attempts"]) == 1
    assert await Job.get_motor_collection().count_documents({"status": "pending"}) == 0


async def test_an_unforeseen_error_in_an_attempt_is_logged_as_a_failed_attempt(
    client, user, worker, monkeypatch
):
    """Never silent: the delivery log shows the attempt (without the error's text), and the retry schedule,
    not the job's thousand attempts, bounds what follows."""

    async def broken(self: Any, *args: Any) -> Any:
        raise RuntimeError("a bug")

    monkeypatch.setattr(Sender, "attempt", broken)
    endpoint = await create_endpoint(client, user.headers, "http://127.0.0.1:9/hooks")
    await an_event(user.id)
    await worker.run_until_idle()
    [delivery] = await deliveries(client, user.headers, endpoint["id"])
    assert delivery["status"] == "pending" and delivery["next_attempt_at"] is not None
    [attempt] = delivery["attempts"]
    assert attempt["error"] == "internal error; not sent"
    assert (await _delivery_job(delivery["id"]))["status"] == "pending"
