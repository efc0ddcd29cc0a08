"""The hard part of the feed: a client polling with the last id it saw, while many requests write at once,
receives every event exactly once and in order (API.md section 15). Writers and the poller run through the
app in one event loop on the yielding store, so their database calls interleave as on a network driver."""

from __future__ import annotations

import asyncio
import random
from typing import Any

import pytest

from tests.clients.factories import create_client
from tests.conftest import Account
from tests.events.helpers import stored_events

WRITERS = 12
WRITES_EACH = 6


@pytest.fixture
def jittery_store(monkeypatch: pytest.MonkeyPatch) -> None:
    """Writes take a random time, as on a network: what one writer started first may commit last."""
    import mongomock_motor

    rng = random.Random(1234)
    for name in ("insert_one", "update_one", "find_one_and_update"):
        original = getattr(mongomock_motor.AsyncMongoMockCollection, name)

        async def jittered(self: Any, *args: Any, _original: Any = original, **kwargs: Any) -> Any:
            await asyncio.sleep(rng.random() / 500)
            return await _original(self, *args, **kwargs)

        monkeypatch.setattr(mongomock_motor.AsyncMongoMockCollection, name, jittered)


async def _writer(http: Any, headers: dict[str, str], seed: int) -> int:
    """Creates a client and edits it a few times; returns how many writes committed."""
    rng = random.Random(seed)
    created = await create_client(http, headers, name=f"writer {seed}")
    for step in range(WRITES_EACH - 1):
        await asyncio.sleep(rng.random() / 1000)
        response = await http.patch(
            f"/api/clients/{created['id']}", json={"notes": f"{step}"}, headers=headers
        )
        assert response.status_code == 200, response.text
    return WRITES_EACH


async def _poller(http: Any, headers: dict[str, str], done: asyncio.Event) -> list[dict[str, Any]]:
    """Polls with the last id seen until the writers are done and one more poll comes back empty."""
    seen: list[dict[str, Any]] = []
    after: str | None = None
    finished = False
    for _ in range(100_000):
        params = {"limit": 7, **({"after": after} if after else {})}
        response = await http.get("/api/events", params=params, headers=headers)
        assert response.status_code == 200, response.text
        items = response.json()["items"]
        seen += items
        if items:
            after = items[-1]["id"]
        elif finished:
            return seen
        finished = done.is_set()
        # Between polls the writers run; after an empty page, a short pause rather than a spin (a busy poller
        # made the sends' test take 20 s, every empty poll a request of its own).
        await asyncio.sleep(0 if items else 0.005)
    raise AssertionError("the poller never caught up")


async def test_a_poller_sees_every_event_once_and_in_order_while_many_requests_write(
    client: Any, user: Account, other_user: Account, jittery_store: None
) -> None:
    done = asyncio.Event()
    poller = asyncio.create_task(_poller(client, user.headers, done))
    writes = await asyncio.gather(
        *(_writer(client, (user if i % 3 else other_user).headers, i) for i in range(WRITERS))
    )
    done.set()
    seen = await poller

    mine = await stored_events(owner_id=_oid(user.id))
    ids = [event["id"] for event in seen]
    assert len(ids) == len(set(ids)), "an event was delivered twice"
    assert ids == [str(event["_id"]) for event in mine], "the poller's sequence differs from the feed"
    assert len(ids) == sum(w for i, w in enumerate(writes) if i % 3), "an event was skipped or invented"
    # one writer's events keep the order of its writes
    for name in {e["data"]["object"]["name"] for e in seen}:
        notes = [e["data"]["object"]["notes"] for e in seen if e["data"]["object"]["name"] == name]
        assert notes == ["", *[str(i) for i in range(WRITES_EACH - 1)]]
    # the sequence numbers are gap-free across both users
    everyone = await stored_events()
    assert [event["seq"] for event in everyone] == list(range(1, len(everyone) + 1))


def _oid(value: str) -> Any:
    from bson import ObjectId

    return ObjectId(value)


async def test_concurrent_sends_take_consecutive_numbers_and_each_gives_one_sent_event(
    client: Any, user: Account, jittery_store: None
) -> None:
    """Many sends at once contend for the held counter (invoices/numbering.py) while a poller reads: every
    invoice gets its own number, 1..n without gaps, and the poller sees one `invoice.sent` for each."""
    from tests.invoices.factories import create_invoice

    drafts = [await create_invoice(client, user.headers) for _ in range(8)]
    done = asyncio.Event()
    poller = asyncio.create_task(_poller(client, user.headers, done))
    responses = await asyncio.gather(
        *(client.post(f"/api/invoices/{draft['id']}/send", headers=user.headers) for draft in drafts)
    )
    done.set()
    seen = await poller
    assert all(r.status_code == 200 for r in responses), [r.text for r in responses]
    numbers = sorted(int(r.json()["number"][-4:]) for r in responses)
    assert numbers == list(range(1, len(drafts) + 1))
    sent = [e for e in seen if e["type"] == "invoice.sent"]
    assert sorted(e["data"]["object"]["id"] for e in sent) == sorted(d["id"] for d in drafts)
    assert all(e["data"]["object"]["number"] for e in sent)
    ids = [e["id"] for e in seen]
    assert len(ids) == len(set(ids))
    assert ids == [str(e["_id"]) for e in await stored_events(owner_id=_oid(user.id))]


async def test_concurrent_currency_changes_leave_every_project_in_the_clients_last_currency(
    client: Any, user: Account, jittery_store: None
) -> None:
    """Two cascades at once: the slower must not leave projects in the currency the client no longer has."""
    from tests.projects.factories import create_project

    acme = await create_client(client, user.headers, currency="USD")
    projects = [await create_project(client, user.headers, acme["id"]) for _ in range(4)]
    for _ in range(3):
        responses = await asyncio.gather(
            *(
                client.patch(f"/api/clients/{acme['id']}", json={"currency": code}, headers=user.headers)
                for code in ("EUR", "GBP", "CHF")
            )
        )
        assert all(r.status_code == 200 for r in responses), [r.text for r in responses]
        final = (await client.get(f"/api/clients/{acme['id']}", headers=user.headers)).json()["currency"]
        for project in projects:
            got = (await client.get(f"/api/projects/{project['id']}", headers=user.headers)).json()
            assert got["currency"] == final
