"""Idempotency-Key over HTTP (API.md §18): one answer per user and key, replayed; concurrent repeats refused."""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta
from typing import Any

import pytest
from beanie import init_beanie
from bson import ObjectId

from app.clients import service as clients_service
from app.core.clock import utc_now
from app.db import embedded_store, index_migration, indexes
from app.http import idempotency
from app.http.idempotency import (
    Claim,
    IdempotencyPolicy,
    IdempotencyRecord,
    IdempotencyStore,
    fingerprint,
    is_never_replayed,
)
from app.invoices import lifecycle
from tests.conftest import Account, assert_problem, register
from tests.invoices.factories import create_invoice, create_sent_invoice

REPLAYED = "idempotent-replayed"


def keyed(account: Account, key: str) -> dict[str, str]:
    return {**account.headers, "Idempotency-Key": key}


async def pay(client: Any, headers: dict[str, str], invoice_id: str, amount: str = "10.00") -> Any:
    return await client.post(f"/api/invoices/{invoice_id}/payments", json={"amount": amount}, headers=headers)


async def payments_of(client: Any, user: Account, invoice_id: str) -> list[dict[str, Any]]:
    response = await client.get(f"/api/invoices/{invoice_id}", headers=user.headers)
    return response.json()["payments"]  # type: ignore[no-any-return]


async def client_count(client: Any, user: Account) -> int:
    return (await client.get("/api/clients", headers=user.headers)).json()["total"]  # type: ignore[no-any-return]


class Held:
    """`owner.name` patched so that its first call waits for `gate`; `entered` is set when it starts."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, owner: Any, name: str) -> None:
        original = getattr(owner, name)
        self.gate, self.entered, self.calls = asyncio.Event(), asyncio.Event(), 0

        async def waiting(*args: Any, **kwargs: Any) -> Any:
            self.calls += 1
            if self.calls == 1:
                self.entered.set()
                await self.gate.wait()
            return await original(*args, **kwargs)

        monkeypatch.setattr(owner, name, waiting)


# ---------------------------------------------------------------- the payment sent five times at once


async def test_five_concurrent_payments_with_one_key_record_one_payment(client, user):
    invoice = await create_sent_invoice(client, user.headers)
    headers = keyed(user, "pay-7f3a")

    answers = await asyncio.gather(*(pay(client, headers, invoice["id"]) for _ in range(5)))

    statuses = sorted(a.status_code for a in answers)
    assert set(statuses) <= {201, 409}, [a.text for a in answers]
    created = [a for a in answers if a.status_code == 201]
    assert len([a for a in created if REPLAYED not in a.headers]) == 1, "exactly one request ran"
    assert all(a.headers.get(REPLAYED) == "true" for a in created[1:] if REPLAYED in a.headers)
    assert len({a.content for a in created}) == 1, "a replay differs from the first answer"
    for refused in (a for a in answers if a.status_code == 409):
        assert_problem(refused, 409, "idempotency_key_in_progress")
    assert 409 in statuses, "the five requests did not overlap: the test proves nothing"
    assert len(await payments_of(client, user, invoice["id"])) == 1

    later = await pay(client, headers, invoice["id"])
    assert later.status_code == 201 and later.headers[REPLAYED] == "true"
    assert later.content == created[0].content
    assert later.headers["content-type"] == created[0].headers["content-type"]
    assert len(await payments_of(client, user, invoice["id"])) == 1


async def test_a_repeat_while_the_first_runs_is_in_progress_then_replayed(client, user, monkeypatch):
    invoice = await create_sent_invoice(client, user.headers)
    held = Held(monkeypatch, lifecycle, "add_payment")
    headers = keyed(user, "slow-payment")

    first = asyncio.create_task(pay(client, headers, invoice["id"]))
    await held.entered.wait()
    assert_problem(await pay(client, headers, invoice["id"]), 409, "idempotency_key_in_progress")
    held.gate.set()
    assert (await first).status_code == 201
    again = await pay(client, headers, invoice["id"])
    assert again.status_code == 201 and again.headers[REPLAYED] == "true"
    assert held.calls == 1 and len(await payments_of(client, user, invoice["id"])) == 1


# ---------------------------------------------------------------- what counts as the same request


async def test_same_json_in_another_key_order_and_spacing_is_a_replay(client, user):
    headers = {**keyed(user, "client-1"), "Content-Type": "application/json"}
    first = await client.post("/api/clients", content='{"name":"Acme","company":"Acme Ltd"}', headers=headers)
    assert first.status_code == 201, first.text
    again = await client.post(
        "/api/clients", content='{ "company" : "Acme Ltd",\n  "name": "Acme" }', headers=headers
    )
    assert again.status_code == 201 and again.headers[REPLAYED] == "true"
    assert again.content == first.content
    assert await client_count(client, user) == 1


async def test_key_reused_with_another_body_is_422(client, user):
    headers = keyed(user, "client-2")
    assert (await client.post("/api/clients", json={"name": "Acme"}, headers=headers)).status_code == 201
    reused = await client.post("/api/clients", json={"name": "Globex"}, headers=headers)
    assert_problem(reused, 422, "idempotency_key_reused")
    assert await client_count(client, user) == 1


async def test_key_reused_on_another_path_is_422(client, user):
    invoice = await create_sent_invoice(client, user.headers)
    other = await create_sent_invoice(client, user.headers)
    headers = keyed(user, "pay-once")
    assert (await pay(client, headers, invoice["id"])).status_code == 201
    assert_problem(await pay(client, headers, other["id"]), 422, "idempotency_key_reused")
    assert await payments_of(client, user, other["id"]) == []
    # the first request's own answer is still there
    assert (await pay(client, headers, invoice["id"])).headers[REPLAYED] == "true"


async def test_a_first_request_that_failed_validation_replays_its_4xx(client, user):
    headers = keyed(user, "bad-client")
    first = await client.post("/api/clients", json={"name": ""}, headers=headers)
    assert_problem(first, 400, "validation_error")
    again = await client.post("/api/clients", json={"name": ""}, headers=headers)
    assert again.status_code == 400 and again.headers[REPLAYED] == "true"
    assert again.content == first.content and again.headers["content-type"] == first.headers["content-type"]
    # the key is spent on that request: a corrected body needs a new key
    fixed = await client.post("/api/clients", json={"name": "Acme"}, headers=headers)
    assert_problem(fixed, 422, "idempotency_key_reused")
    assert await client_count(client, user) == 0


async def test_a_refused_state_action_replays_its_409(client, user):
    invoice = await create_invoice(client, user.headers, lines=[])  # sending an empty draft is refused
    headers = keyed(user, "send-empty")
    first = await client.post(f"/api/invoices/{invoice['id']}/send", headers=headers)
    assert_problem(first, 409, "invalid_state")
    again = await client.post(f"/api/invoices/{invoice['id']}/send", headers=headers)
    assert again.status_code == 409 and again.headers[REPLAYED] == "true" and again.content == first.content


async def test_a_5xx_is_not_kept_and_the_retry_runs(client, user, monkeypatch):
    original = clients_service.create_client
    failures = [RuntimeError("the database hiccuped")]

    async def failing_once(*args: Any) -> Any:
        if failures:
            raise failures.pop()
        return await original(*args)

    monkeypatch.setattr(clients_service, "create_client", failing_once)
    headers = keyed(user, "flaky")
    assert_problem(
        await client.post("/api/clients", json={"name": "Acme"}, headers=headers), 500, "internal_error"
    )
    retry = await client.post("/api/clients", json={"name": "Acme"}, headers=headers)
    assert retry.status_code == 201 and REPLAYED not in retry.headers
    assert await client_count(client, user) == 1


async def test_without_the_header_nothing_changes(client, user):
    for _ in range(2):
        response = await client.post("/api/clients", json={"name": "Acme"}, headers=user.headers)
        assert response.status_code == 201 and REPLAYED not in response.headers
    assert await client_count(client, user) == 2


@pytest.mark.parametrize("key", ["", "x" * 256, "tab\there", "caf\u00e9"])
async def test_a_malformed_key_is_400(client, user, key):
    headers = {**user.headers, "Idempotency-Key": key}
    if not key.isascii():
        headers = [*user.headers.items(), ("Idempotency-Key", key.encode("utf-8"))]  # type: ignore[assignment]
    response = await client.post("/api/clients", json={"name": "Acme"}, headers=headers)
    body = assert_problem(response, 400, "validation_error")
    assert body["errors"][0]["field"] == "Idempotency-Key"
    assert await client_count(client, user) == 0


async def test_the_longest_key_is_accepted(client, user):
    headers = keyed(user, "~" * 255)
    assert (await client.post("/api/clients", json={"name": "Acme"}, headers=headers)).status_code == 201
    assert (await client.post("/api/clients", json={"name": "Acme"}, headers=headers)).headers[
        REPLAYED
    ] == "true"


async def test_the_key_is_ignored_on_register_and_login(client):
    headers = {"Idempotency-Key": "signup"}
    for email in ("one@example.com", "two@example.com"):
        body = {"email": email, "password": "correct horse battery", "name": "Someone"}
        response = await client.post("/api/auth/register", json=body, headers=headers)
        assert response.status_code == 201 and REPLAYED not in response.headers, response.text
    login = {"email": "one@example.com", "password": "correct horse battery"}
    for _ in range(2):
        response = await client.post("/api/auth/login", json=login, headers=headers)
        assert response.status_code == 200 and REPLAYED not in response.headers
    assert await IdempotencyRecord.get_motor_collection().count_documents({}) == 0


# ---------------------------------------------------------------- tenancy


async def test_another_users_key_never_replays_your_answer(client, user, other_user):
    mine = await client.post("/api/clients", json={"name": "Acme"}, headers=keyed(user, "shared-key"))
    theirs = await client.post("/api/clients", json={"name": "Acme"}, headers=keyed(other_user, "shared-key"))
    assert mine.status_code == theirs.status_code == 201
    assert REPLAYED not in theirs.headers and theirs.json()["id"] != mine.json()["id"]
    assert await client_count(client, other_user) == 1
    # and another body under that key is not "reused" for them either: the keys are separate
    third = await register(client, "eve@example.com")
    fresh = await client.post("/api/clients", json={"name": "Other"}, headers=keyed(third, "shared-key"))
    assert fresh.status_code == 201 and REPLAYED not in fresh.headers


async def test_another_users_path_under_your_key_is_their_404_not_your_answer(client, user, other_user):
    invoice = await create_sent_invoice(client, user.headers)
    assert (await pay(client, keyed(user, "k"), invoice["id"])).status_code == 201
    response = await pay(client, keyed(other_user, "k"), invoice["id"])
    assert_problem(response, 404, "not_found")
    assert REPLAYED not in response.headers


# ---------------------------------------------------------------- the holder dies, or lives long


async def _dead_holders_claim(
    owner: str, key: str, body: dict[str, Any], path: str, lease_left: float
) -> None:
    """What a process that died while running the request leaves behind: a claim nobody renews."""
    now = utc_now()
    await IdempotencyRecord.get_motor_collection().insert_one(
        {
            "owner_id": ObjectId(owner),  # their personal organisation
            "caller_id": ObjectId(owner),
            "key": key,
            "fingerprint": fingerprint("POST", path, b"", json.dumps(body).encode()),
            "created_at": now - timedelta(seconds=90),
            "holder": "the-dead-process",
            "lease_until": now + timedelta(seconds=lease_left),
            "status": None,
            "headers": [],
            "body": b"",
        }
    )


async def test_a_key_held_by_a_dead_process_is_taken_over_once_its_lease_lapses(client, user, monkeypatch):
    invoice = await create_sent_invoice(client, user.headers)
    path = f"/api/invoices/{invoice['id']}/payments"
    await _dead_holders_claim(user.id, "orphan", {"amount": "10.00"}, path, lease_left=30)
    headers = keyed(user, "orphan")

    # while the lease runs, the holder may still be alive: nobody else runs the request
    assert_problem(await pay(client, headers, invoice["id"]), 409, "idempotency_key_in_progress")
    assert await payments_of(client, user, invoice["id"]) == []

    later = utc_now() + timedelta(seconds=31)
    monkeypatch.setattr(idempotency, "utc_now", lambda: later)
    answers = await asyncio.gather(*(pay(client, headers, invoice["id"]) for _ in range(3)))
    ran = [a for a in answers if a.status_code == 201 and REPLAYED not in a.headers]
    assert len(ran) == 1, [a.text for a in answers]
    assert all(a.status_code in (201, 409) for a in answers)
    assert len(await payments_of(client, user, invoice["id"])) == 1
    assert (await pay(client, headers, invoice["id"])).headers[REPLAYED] == "true"

    # the dead holder, were it to come back, can no longer write the key's answer
    record = await IdempotencyRecord.find_one({"key": "orphan"})
    assert record is not None
    await IdempotencyStore().complete(Claim(record.id, "the-dead-process"), 500, [], b"stale")
    await IdempotencyStore().release(Claim(record.id, "the-dead-process"))
    replay = await pay(client, headers, invoice["id"])
    assert replay.status_code == 201 and replay.content == ran[0].content


async def test_a_live_holder_keeps_its_lease_however_long_it_runs(app, client, user, monkeypatch):
    """The lease is renewed while the handler runs: a slow first request is never run a second time."""
    app.state.idempotency = IdempotencyStore(
        IdempotencyPolicy(lease=timedelta(seconds=0.4), renew_every=timedelta(seconds=0.05))
    )
    invoice = await create_sent_invoice(client, user.headers)
    held = Held(monkeypatch, lifecycle, "add_payment")
    headers = keyed(user, "long-runner")

    first = asyncio.create_task(pay(client, headers, invoice["id"]))
    await held.entered.wait()
    await asyncio.sleep(1.2)  # three leases long
    assert_problem(await pay(client, headers, invoice["id"]), 409, "idempotency_key_in_progress")
    held.gate.set()
    assert (await first).status_code == 201
    assert held.calls == 1 and len(await payments_of(client, user, invoice["id"])) == 1


async def test_a_cancelled_request_gives_its_key_back(client, user, monkeypatch):
    held = Held(monkeypatch, clients_service, "create_client")
    headers = keyed(user, "cancelled")
    first = asyncio.create_task(client.post("/api/clients", json={"name": "Acme"}, headers=headers))
    await held.entered.wait()
    first.cancel()
    with pytest.raises(asyncio.CancelledError):
        await first
    held.gate.set()
    retry = await client.post("/api/clients", json={"name": "Acme"}, headers=headers)
    assert retry.status_code == 201 and REPLAYED not in retry.headers


# ---------------------------------------------------------------- 24 hours


async def test_an_answer_is_kept_24_hours(client, user, monkeypatch):
    headers = keyed(user, "daily")
    assert (await client.post("/api/clients", json={"name": "Acme"}, headers=headers)).status_code == 201

    almost = utc_now() + timedelta(hours=23, minutes=59)
    monkeypatch.setattr(idempotency, "utc_now", lambda: almost)
    assert_problem(
        await client.post("/api/clients", json={"name": "Globex"}, headers=headers),
        422,
        "idempotency_key_reused",
    )
    day_later = utc_now() + timedelta(hours=24, seconds=1)
    monkeypatch.setattr(idempotency, "utc_now", lambda: day_later)
    fresh = await client.post("/api/clients", json={"name": "Globex"}, headers=headers)
    assert fresh.status_code == 201 and REPLAYED not in fresh.headers
    assert await client_count(client, user) == 2


async def test_records_have_a_unique_organisation_caller_key_index_and_a_24h_ttl_index(client):
    indexes = await IdempotencyRecord.get_motor_collection().index_information()
    unique = indexes["idempotency_owner_key_unique"]
    assert list(unique["key"]) == [("owner_id", 1), ("caller_id", 1), ("key", 1)] and unique["unique"] is True
    ttl = indexes["idempotency_expiry_ttl"]
    assert list(ttl["key"]) == [("created_at", 1)] and ttl["expireAfterSeconds"] == 24 * 3600


async def test_migrate_replaces_the_per_user_unique_index_keeping_its_records():
    """Before organisations a key was unique per (owner_id, key); `migrate` builds the (owner_id, caller_id,
    key) version under the same name before it drops the old one (app/db/index_migration.py)."""
    database = embedded_store.build_client()["idempotency_migration"]
    await init_beanie(database=database, document_models=[IdempotencyRecord], skip_indexes=True)
    records = database[IdempotencyRecord.get_settings().name]
    await records.create_index(
        [("owner_id", 1), ("key", 1)], name="idempotency_owner_key_unique", unique=True
    )
    old = {"owner_id": ObjectId(), "key": "k", "fingerprint": "f", "created_at": utc_now(), "status": 201}
    await records.insert_one(old)

    assert (await index_migration.migrate(database, [IdempotencyRecord])).failed == []
    found = {spec["name"]: spec async for spec in records.list_indexes()}
    (unique,) = indexes.family("idempotency_owner_key_unique", found).values()  # the new version alone
    assert list(unique["key"]) == ["owner_id", "caller_id", "key"] and unique["unique"] is True
    await records.insert_one({**old, "_id": ObjectId(), "caller_id": ObjectId()})  # another caller: allowed
    assert await records.count_documents({}) == 2


# ---------------------------------------------------------------- the fingerprint


def test_fingerprint_reads_json_not_bytes():
    same = fingerprint("POST", "/api/x", b"", b'{"a": 1, "b": [1.50, "x"]}')
    assert same == fingerprint("POST", "/api/x", b"", b'{"b":[1.5,"x"],"a":1}')
    assert same == fingerprint("POST", "/api/x/", b"", b' {"a":1,"b":[1.500,"x"]} ')
    assert same != fingerprint("POST", "/api/x", b"", b'{"a": 1.0, "b": [1.5, "x"]}')
    assert same != fingerprint("POST", "/api/y", b"", b'{"a": 1, "b": [1.5, "x"]}')
    assert same != fingerprint("PUT", "/api/x", b"", b'{"a": 1, "b": [1.5, "x"]}')
    assert same != fingerprint("POST", "/api/x", b"dry=1", b'{"a": 1, "b": [1.5, "x"]}')
    assert fingerprint("POST", "/p", b"", b"not json") != fingerprint("POST", "/p", b"", b"not  json")
    assert fingerprint("POST", "/p", b"", b'{"a": "1"}') != fingerprint("POST", "/p", b"", b'{"a": 1}')


# ---------------------------------------------------------------- the OpenAPI document


def test_every_authenticated_post_declares_the_key_and_its_answers():
    from tests.security.route_table import OPERATIONS

    posts = [op for op in OPERATIONS if op.method == "POST"]
    assert len(posts) > 5
    for op in posts:
        headers = {p["name"]: p for p in op.spec.get("parameters", []) if p["in"] == "header"}
        if op.is_public or is_never_replayed(op.opt):  # tests/idempotency/test_never_replayed.py
            assert "Idempotency-Key" not in headers, op
            continue
        key = headers["Idempotency-Key"]
        assert key["required"] is False and key["schema"]["maxLength"] == 255, op
        for status, code in (("409", "idempotency_key_in_progress"), ("422", "idempotency_key_reused")):
            assert status in op.spec["responses"], f"{op}: {code} undocumented"
