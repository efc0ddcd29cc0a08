"""GET /api/events/stream (API.md section 21) over a real server on loopback: uvicorn serving the app in
this test's event loop (so a test can set the stream's knobs), an httpx client streaming the answer."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
import uvicorn
from litestar import Litestar

from app.config import Settings
from app.db import embedded_store
from app.main import create_app
from tests.conftest import PASSWORD, assert_problem
from tests.events.helpers import poll_all
from tests.servers import free_port


@asynccontextmanager
async def running(app: Litestar) -> AsyncIterator[httpx.AsyncClient]:
    port = free_port()
    config = uvicorn.Config(
        app, host="127.0.0.1", port=port, lifespan="on", log_level="warning", timeout_graceful_shutdown=5
    )
    server = uvicorn.Server(config)
    server.install_signal_handlers = lambda: None  # type: ignore[method-assign]
    task = asyncio.create_task(server.serve())
    for _ in range(600):
        if server.started or task.done():
            break
        await asyncio.sleep(0.02)
    assert server.started, "the server did not start"
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=10) as http:
            yield http
    finally:
        server.should_exit = True
        await task


def fast(app: Litestar, **knobs: Any) -> Litestar:
    live = app.state.live
    live.interval = 0.05
    live.recheck = 0.5
    for name, value in knobs.items():
        setattr(live, name, value)
    return app


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with running(fast(create_app(Settings.from_env()))) as client:
        yield client


async def signup(http: httpx.AsyncClient, email: str, **extra: Any) -> dict[str, Any]:
    response = await http.post(
        "/api/auth/register",
        json={"email": email, "password": PASSWORD, "name": email.split("@")[0], **extra},
    )
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def bearer(body: dict[str, Any]) -> dict[str, str]:
    return {"Authorization": f"Bearer {body['access_token']}"}


@dataclass
class Message:
    id: str | None = None
    event: str | None = None
    data: str = ""
    comments: list[str] = field(default_factory=list)

    @property
    def json(self) -> Any:
        return json.loads(self.data)


class Reader:
    """Parses an SSE answer into messages (an event, or a lone comment)."""

    def __init__(self, response: httpx.Response) -> None:
        self.response = response
        self.lines = response.aiter_lines()

    async def next(self, within: float = 5) -> Message | None:
        message = Message()
        async with asyncio.timeout(within):
            async for line in self.lines:
                if line == "":
                    if message.id or message.event or message.data or message.comments:
                        return message
                    continue
                name, _, value = line.partition(":")
                value = value[1:] if value.startswith(" ") else value
                if name == "":
                    message.comments.append(value)
                elif name == "id":
                    message.id = value
                elif name == "event":
                    message.event = value
                elif name == "data":
                    message.data += value
        return None  # the stream ended

    async def events(self, count: int, within: float = 10) -> list[Message]:
        found: list[Message] = []
        while len(found) < count:
            message = await self.next(within)
            assert message is not None, f"the stream ended after {len(found)} of {count} events"
            if message.id is not None:
                found.append(message)
        return found

    async def comment(self, within: float = 10) -> str:
        """The next comment (events before it are skipped)."""
        while True:
            message = await self.next(within)
            assert message is not None, "the stream ended without a comment"
            if message.comments and message.id is None:
                return message.comments[0]


@asynccontextmanager
async def stream(
    http: httpx.AsyncClient, headers: dict[str, str] | None = None, **params: str
) -> AsyncIterator[Reader]:
    async with http.stream("GET", "/api/events/stream", headers=headers or {}, params=params) as response:
        assert response.status_code == 200, (await response.aread()).decode()
        assert response.headers["content-type"].startswith("text/event-stream")
        reader = Reader(response)
        assert (await reader.next()).comments == ["connected"]  # type: ignore[union-attr]
        yield reader


async def add_client(http: httpx.AsyncClient, headers: dict[str, str], name: str) -> dict[str, Any]:
    response = await http.post("/api/clients", json={"name": name}, headers=headers)
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


async def feed_of(http: httpx.AsyncClient, headers: dict[str, str], count: int, **params: Any) -> list[dict]:
    """The feed once it holds `count` events (a write's event is in the feed within a moment of its answer)."""
    for _ in range(100):
        feed = await poll_all(http, headers, **params)
        if len(feed) >= count:
            assert len(feed) == count
            return feed
        await asyncio.sleep(0.05)
    raise AssertionError(f"the feed holds {len(feed)} events, not {count}")


# ------------------------------------------------------------------ tests


async def test_replay_then_live_as_the_feed_says(http):
    ada = bearer(await signup(http, "ada@example.com"))
    for name in ("A", "B", "C"):
        await add_client(http, ada, name)
    feed = await feed_of(http, ada, 3)
    async with stream(http, ada, after=feed[0]["id"]) as reader:
        replayed = await reader.events(len(feed) - 1)
        assert [m.json for m in replayed] == feed[1:]
        assert [m.id for m in replayed] == [e["id"] for e in feed[1:]]
        assert [m.event for m in replayed] == [e["type"] for e in feed[1:]]
        await add_client(http, ada, "D")
        live = await reader.events(1, within=2)
        assert live[0].event == "client.created" and live[0].json["data"]["object"]["name"] == "D"
        assert live[0].json == (await feed_of(http, ada, 1, after=feed[-1]["id"]))[0]


async def test_an_unknown_cursor_is_a_400_before_the_stream_opens(http):
    ada = bearer(await signup(http, "ada@example.com"))
    response = await http.get("/api/events/stream", headers={**ada, "Last-Event-ID": "0" * 24})
    assert_problem(response, 400, "validation_error")
    response = await http.get("/api/events/stream", params={"after": "nope"}, headers=ada)
    assert_problem(response, 400, "validation_error")
    response = await http.get("/api/events/stream", params={"types": "nope.nope"}, headers=ada)
    assert_problem(response, 400, "validation_error")
    # operator strings are data (the security suite's walk leaves this endless route to this test)
    for params in ({"after": '{"$gt": ""}'}, {"after": ".*"}, {"after": "$where"}, {"types": "$where"}):
        response = await http.get("/api/events/stream", params=params, headers=ada)
        assert_problem(response, 400, "validation_error")
    # another organisation's event names no event of this one
    eve = bearer(await signup(http, "eve@example.com"))
    await add_client(http, eve, "Eve's")
    (theirs,) = await feed_of(http, eve, 1)
    response = await http.get("/api/events/stream", headers={**ada, "Last-Event-ID": theirs["id"]})
    assert_problem(response, 400, "validation_error")
    async with stream(http, {**eve, "Last-Event-ID": theirs["id"]}):
        pass  # the same id is a good cursor for its own organisation


async def test_types_filter_and_another_organisations_events_never_show(http):
    ada = bearer(await signup(http, "ada@example.com"))
    eve = bearer(await signup(http, "eve@example.com"))
    async with stream(http, ada, types="project.created") as reader:
        await add_client(http, eve, "Eve's")  # another organisation
        client = await add_client(http, ada, "Mine")  # filtered out
        response = await http.post(
            "/api/projects", json={"name": "P", "client_id": client["id"]}, headers=ada
        )
        assert response.status_code == 201, response.text
        (only,) = await reader.events(1)
        assert only.event == "project.created"
        await add_client(http, eve, "Eve's 2")
        await http.post("/api/projects", json={"name": "Q", "client_id": client["id"]}, headers=ada)
        (second,) = await reader.events(1)
        assert second.json["data"]["object"]["name"] == "Q"


async def test_a_reconnect_in_the_middle_of_200_concurrent_writes_has_no_gap_and_no_duplicate():
    """Two app instances on one store: the writes go through one, the stream reads from the other."""
    store = embedded_store.build_client()
    settings = Settings.from_env()
    writer_app = create_app(settings, client_factory=lambda _: (store, True))
    reader_app = fast(create_app(settings, client_factory=lambda _: (store, True)))
    async with running(writer_app) as writes, running(reader_app) as reads:
        ada = bearer(await signup(writes, "ada@example.com"))
        await add_client(writes, ada, "first")
        start = (await feed_of(reads, ada, 1))[-1]["id"]
        gate = asyncio.Semaphore(20)

        async def one(n: int) -> None:
            async with gate:
                await add_client(writes, ada, f"c{n}")

        writing = asyncio.gather(*(one(n) for n in range(200)))
        seen: list[Message] = []
        async with stream(reads, ada, after=start) as reader:
            seen += await reader.events(60, within=20)
        async with stream(reads, {**ada, "Last-Event-ID": seen[-1].id or ""}) as reader:
            await writing
            seen += await reader.events(200 - 60, within=20)
            feed = await feed_of(reads, ada, 200, after=start)
            assert [m.id for m in seen] == [e["id"] for e in feed]
            with pytest.raises(TimeoutError):  # nothing more, and no duplicate later
                await reader.next(within=0.5)


async def test_cookie_sessions_and_api_keys_authenticate_a_stream(http):
    response = await http.post(
        "/api/auth/register",
        json={"email": "ada@example.com", "password": PASSWORD, "name": "Ada", "session": "cookie"},
    )
    ada = response.json()
    assert "access_token" not in ada
    # the cookie is Secure outside development: an http client keeps it but would not send it back
    cookie = {"Cookie": f"orbix_session={response.cookies['orbix_session']}"}
    async with stream(http, cookie) as reader:
        response = await http.post(
            "/api/clients", json={"name": "Via cookie"}, headers={**cookie, "X-CSRF-Token": ada["csrf_token"]}
        )
        assert response.status_code == 201, response.text
        (event,) = await reader.events(1)
        assert event.json["data"]["object"]["name"] == "Via cookie"
    admin = bearer(await signup(http, "bob@example.com"))
    keys = {}
    for name, scopes in (("reader", ["events:read"]), ("other", ["clients:read"])):
        response = await http.post(
            "/api/organization/api-keys", json={"name": name, "scopes": scopes}, headers=admin
        )
        assert response.status_code == 201, response.text
        keys[name] = {"Authorization": f"Bearer {response.json()['key']}"}
    response = await http.get("/api/events/stream", headers=keys["other"])
    assert_problem(response, 403, "insufficient_scope")
    async with stream(http, keys["reader"]) as reader:
        response = await http.post(
            "/api/organization/api-keys", json={"name": "x", "scopes": ["*"]}, headers=admin
        )  # api_key.created: never shown to a key
        await add_client(http, admin, "Seen by the key")
        (event,) = await reader.events(1)
        assert event.event == "client.created"
    response = await http.get("/api/events/stream")
    assert_problem(response, 401, "unauthorized")


async def test_the_sixth_stream_is_429_and_a_closed_one_frees_its_place(http):
    ada = bearer(await signup(http, "ada@example.com"))
    async with contextlib.AsyncExitStack() as stack:
        for _ in range(5):
            await stack.enter_async_context(stream(http, ada))
        response = await http.get("/api/events/stream", headers=ada)
        problem = assert_problem(response, 429, "too_many_streams")
        assert response.headers["retry-after"]
        assert "5" in problem["detail"]
    for _ in range(50):  # a closed stream frees its place once the server sees the hang-up
        async with http.stream("GET", "/api/events/stream", headers=ada) as response:
            if response.status_code == 200:
                return
        await asyncio.sleep(0.1)
    pytest.fail("closed streams did not free their places")


async def test_a_removed_members_stream_is_closed(http):
    owner = await signup(http, "owner@example.com")
    member = await signup(http, "member@example.com")
    org = owner["user"]["default_organization_id"]
    # the member joins the owner's organisation by invitation is e-mail bound; add them directly in the store
    from bson import ObjectId

    from app.auth.models import User
    from app.core.clock import utc_now

    await User.get_motor_collection().update_one(
        {"_id": ObjectId(member["user"]["id"])},
        {
            "$push": {
                "memberships": {"organization_id": ObjectId(org), "role": "viewer", "joined_at": utc_now()}
            }
        },
    )
    headers = {**bearer(member), "Orbix-Organization": org}
    async with stream(http, headers) as reader:
        response = await http.delete(
            f"/api/organization/members/{member['user']['id']}", headers=bearer(owner)
        )
        assert response.status_code == 204, response.text
        assert "ended" in await reader.comment(within=5)
        assert await reader.next(within=5) is None


async def test_an_ended_session_closes_its_stream(http):
    ada = await signup(http, "ada@example.com")
    async with stream(http, bearer(ada)) as reader:
        response = await http.post("/api/auth/logout", headers=bearer(ada))
        assert response.status_code in (200, 204), response.text
        assert "ended" in await reader.comment(within=5)


async def test_a_slow_reader_is_disconnected_with_a_comment():
    async with running(fast(create_app(Settings.from_env()), queue_size=3, interval=1.0)) as http:
        ada = bearer(await signup(http, "ada@example.com"))
        async with stream(http, ada) as reader:
            await asyncio.gather(*(add_client(http, ada, f"c{n}") for n in range(20)))
            comment = await reader.comment(within=5)
            assert "Last-Event-ID" in comment
            assert await reader.next(within=5) is None


async def test_heartbeats_and_a_clean_end_on_shutdown():
    app = fast(create_app(Settings.from_env()), heartbeat=0.2)
    async with running(app) as http:
        ada = bearer(await signup(http, "ada@example.com"))
        async with stream(http, ada) as reader:
            assert await reader.comment(within=2) == "heartbeat"
            app.state.live.stop()  # what the lifespan's shutdown does first
            assert "shutting down" in await reader.comment(within=2)
            assert await reader.next(within=2) is None


async def test_a_revoked_keys_stream_is_closed(http):
    admin = bearer(await signup(http, "admin@example.com"))
    response = await http.post(
        "/api/organization/api-keys", json={"name": "reader", "scopes": ["events:read"]}, headers=admin
    )
    assert response.status_code == 201, response.text
    key = response.json()
    async with stream(http, {"Authorization": f"Bearer {key['key']}"}) as reader:
        response = await http.delete(f"/api/organization/api-keys/{key['id']}", headers=admin)
        assert response.status_code == 204, response.text
        assert "ended" in await reader.comment(within=5)
        assert await reader.next(within=5) is None


def test_callers_are_rechecked_often_enough_to_close_a_stream_within_5_seconds():
    """The tests above recheck every 0.5 s; what production runs must close a stream within 5 s too (one
    recheck period plus one lookup)."""
    live = create_app(Settings.from_env()).state.live
    assert live.recheck <= 3
    assert live.interval <= 0.5  # and an event reaches its streams well within 1 s of being published


async def test_a_stream_ends_at_its_maximum_age_and_resumes_with_last_event_id():
    app = fast(create_app(Settings.from_env()), max_age=3.0, heartbeat=60)
    async with running(app) as http:
        ada = bearer(await signup(http, "ada@example.com"))
        async with stream(http, ada) as reader:
            await add_client(http, ada, "one")
            (one,) = await reader.events(1)
            comment = await reader.comment(within=5)
            assert "maximum age" in comment and "Last-Event-ID" in comment
            assert await reader.next(within=5) is None
        await add_client(http, ada, "two")  # while no stream is open
        async with stream(http, {**ada, "Last-Event-ID": one.id or ""}) as reader:
            (two,) = await reader.events(1)
            assert two.json["data"]["object"]["name"] == "two"


async def test_the_tail_makes_no_store_operation_while_no_stream_is_open(monkeypatch):
    """No polling without subscribers: the tail reads the feed only while a stream is open."""
    from app.events import live as live_module

    reads: list[str] = []

    async def published() -> int:
        reads.append("published")
        return 0

    async def read_since(seq: int, limit: int) -> list:
        reads.append("read_since")
        return []

    monkeypatch.setattr(live_module, "published", published)
    monkeypatch.setattr(live_module.service, "read_since", read_since)
    live = live_module.Live(interval=0, recheck=3600)
    tail = asyncio.create_task(live.run())
    try:
        for _ in range(50):  # an interval of 0: a polling tail would read at every turn of the loop
            await asyncio.sleep(0)
        assert reads == []
        caller = type("Caller", (), {"id": "org", "key_id": None, "user_id": "u", "sid": None})()
        opened = live.open(caller, {}, None, frozenset())  # type: ignore[arg-type]
        await asyncio.wait_for(live.positioned.wait(), 5)
        for _ in range(50):
            await asyncio.sleep(0)
        assert reads[0] == "published" and "read_since" in reads
        live.close(opened)
        for _ in range(5):
            await asyncio.sleep(0)
        settled = len(reads)
        for _ in range(50):
            await asyncio.sleep(0)
        assert len(reads) == settled and not live.positioned.is_set()
    finally:
        live.stop()
        await asyncio.wait_for(tail, 5)
