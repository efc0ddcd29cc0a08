"""Orbix against a floor: CPU per request, measured in-process, for the routes of issue #14.

One process, one event loop, one embedded store. Orbix runs with its lifespan (asgi-lifespan); the floor is
a bare ASGI app on the same database that answers the same requests with the same queries and encodes the
raw driver documents with msgspec: no validation, no models, no middleware, no authentication. Both are
called through the same minimal ASGI driver, one request at a time, so the driver's own cost is in both.

For each route: process CPU time (time.process_time) over `--requests` calls after a warm-up, divided by
the count; Orbix/floor is the app's own multiple. `GET /api/auth/me` is also compared with Orbix's /health
(in-process; the issue's 3x target is judged on server CPU by scripts/bench.py). Everything is printed at
each `--scales` (invoices per user).

`POST /api/clients`' floor performs the writes Orbix's create does: the client with its pending event in
its outbox, the event's insert into the events collection, the pull from the outbox, and a sequencing round
(the app's own sequencer, so that the round's writes are exactly Orbix's).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import sys
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import msgspec
from bson import Decimal128, ObjectId

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from scripts import store_ops  # noqa: E402

Asgi = Callable[[dict[str, Any], Any, Any], Awaitable[None]]
PASSWORD = "bench-password-0123"


# ---------------------------------------------------------------- the driver

# One HTTP request straight through ASGI, the least a caller can cost (store operations counted only inside
# store_ops.counting()).
call = store_ops.request


# ---------------------------------------------------------------- the floor


def _raw_value(value: Any) -> Any:
    if isinstance(value, ObjectId):
        return str(value)
    if isinstance(value, Decimal128):
        return str(value.to_decimal())
    raise NotImplementedError(type(value))


ENCODER = msgspec.json.Encoder(enc_hook=_raw_value)
JSON_HEADERS = [(b"content-type", b"application/json")]


class Floor:
    """The same queries on the same collections, raw documents encoded by msgspec."""

    def __init__(self, database: Any, owner_id: ObjectId) -> None:
        self.db = database
        self.owner = {"owner_id": owner_id, "removed": {"$ne": True}}
        self.order = [("created_at", -1), ("_id", -1)]

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        path, method = scope["path"], scope["method"]
        status = 200
        if path == "/health":
            payload: Any = {"status": "ok"}
        elif method == "POST" and path == "/api/clients":
            message = await receive()
            payload, status = await self.create_client(msgspec.json.decode(message["body"])), 201
        elif path in ("/api/invoices", "/api/clients"):
            payload = await self.page(self.db[path.rsplit("/", 1)[1]])
        elif path.startswith("/api/invoices/"):
            payload = await self.db.invoices.find_one({"_id": ObjectId(path.rsplit("/", 1)[1]), **self.owner})
        elif path == "/api/auth/me":
            payload = await self.db.users.find_one({"_id": self.owner["owner_id"]})
        else:
            payload, status = {"detail": "not found"}, 404
        await send({"type": "http.response.start", "status": status, "headers": JSON_HEADERS})
        await send({"type": "http.response.body", "body": ENCODER.encode(payload)})

    async def page(self, collection: Any) -> dict[str, Any]:
        total = await collection.count_documents(self.owner)
        items = await collection.find(self.owner).sort(self.order).skip(0).limit(20).to_list(None)
        return {"items": items, "total": total, "limit": 20, "offset": 0}

    async def create_client(self, data: dict[str, Any]) -> dict[str, Any]:
        from app.events.sequencer import SEQUENCER

        now = datetime.now(UTC)
        event = {"id": ObjectId(), "type": "client.created", "at": now}
        document = {
            "_id": ObjectId(),
            "owner_id": self.owner["owner_id"],
            **data,
            "created_at": now,
            "updated_at": now,
            "outbox": [event],
        }
        await self.db.clients.insert_one(document)
        await self.db.events.insert_one(
            {
                "_id": event["id"],
                "owner_id": document["owner_id"],
                "type": event["type"],
                "created_at": now,
                "data": {"object": {k: v for k, v in document.items() if k != "outbox"}},
                "pending": True,
            }
        )
        await self.db.clients.update_one({"_id": document["_id"]}, {"$pull": {"outbox": {"id": event["id"]}}})
        await SEQUENCER.kick()
        return document


# ---------------------------------------------------------------- measuring


async def cpu_per_request(app: Asgi, method: str, path: str, token: str, body: bytes, n: int) -> float:
    """Milliseconds of process CPU per request, over `n` calls after a warm-up of n/10."""
    for _ in range(max(5, n // 10)):
        await call(app, method, path, token, body)
    started = time.process_time()
    for _ in range(n):
        answer = await call(app, method, path, token, body)
    spent = time.process_time() - started
    if answer.status >= 300:
        raise SystemExit(f"bench: {method} {path} answered {answer.status}: {answer.body[:300]!r}")
    return spent / n * 1000


async def seed(orbix: Asgi, token: str, invoices: int) -> tuple[str, str]:
    """A client and `invoices` drafts (made through the API up to 40; beyond, copies of them with fresh ids,
    numbers and creation times, which is what a list reads). Returns (a client id, an invoice id)."""
    from app.invoices.models import Invoice

    made = await call(orbix, "POST", "/api/clients", token, b'{"name":"Seed client"}')
    client_id = msgspec.json.decode(made.body)["id"]
    line = {"description": "Consulting", "quantity": "2", "unit_price": "150.00"}
    body = msgspec.json.encode({"client_id": client_id, "lines": [line]})
    invoice_id = ""
    for _ in range(min(invoices, 40)):
        made = await call(orbix, "POST", "/api/invoices", token, body)
        if made.status != 201:
            raise SystemExit(f"bench: seeding failed: {made.status} {made.body[:300]!r}")
        invoice_id = msgspec.json.decode(made.body)["id"]
    collection = Invoice.get_motor_collection()
    template = await collection.find_one({"_id": ObjectId(invoice_id)})
    assert template is not None
    copies = []
    for n in range(invoices - 40):
        copy = dict(template, _id=ObjectId(), created_at=datetime.now(UTC))
        if str(copy.get("number_slot", "")).startswith("draft:"):
            copy["number_slot"] = f"draft:{copy['_id']}"  # a draft's slot is unique per owner
        if copy.get("number"):
            copy["number"] = f"{copy['number']}-{n}"
        copies.append(copy)
    if copies:
        await collection.insert_many(copies)
    return client_id, invoice_id


ROUTES = (
    ("GET", "/api/invoices?limit=20"),
    ("GET", "/api/clients?limit=20"),
    ("GET", "/api/invoices/{id}"),
    ("GET", "/api/auth/me"),
    ("POST", "/api/clients"),
)
TARGETS = {"POST /api/clients": 1.5}  # the reads: 1.3; /api/auth/me is judged against /health


async def one_scale(invoices: int, requests: int) -> list[tuple[str, int, float, float, str]]:
    from asgi_lifespan import LifespanManager

    from app.auth.models import User
    from app.config import Settings
    from app.main import create_app

    orbix = create_app(Settings.from_env())
    rows: list[tuple[str, int, float, float, str]] = []
    async with LifespanManager(orbix, startup_timeout=60):
        for _ in range(600):  # the embedded store connects in the background
            if (await call(orbix, "GET", "/ready")).status == 200:
                break
            await asyncio.sleep(0.05)
        email = f"bench-{secrets.token_hex(4)}@example.com"
        registered = await call(
            orbix,
            "POST",
            "/api/auth/register",
            body=msgspec.json.encode({"email": email, "password": PASSWORD, "name": "Bench"}),
        )
        token = msgspec.json.decode(registered.body)["access_token"]
        _, invoice_id = await seed(orbix, token, invoices)
        user = await User.find_one({"email": email})
        assert user is not None and user.id is not None
        floor = Floor(User.get_motor_collection().database, user.id)
        health = await cpu_per_request(orbix, "GET", "/health", "", b"", requests * 4)
        body = b'{"name":"Bench client","currency":"EUR"}'
        for method, route in ROUTES:
            path = route.replace("{id}", invoice_id)
            sent = body if method == "POST" else b""
            # Alternate, so that a drift of the machine (or of the store's size) hits both alike.
            orbix_ms = floor_ms = 0.0
            for _ in range(2):
                orbix_ms += await cpu_per_request(orbix, method, path, token, sent, requests // 2)
                floor_ms += await cpu_per_request(floor, method, path, token, sent, requests // 2)
            orbix_ms, floor_ms = orbix_ms / 2, floor_ms / 2
            name = f"{method} {route}"
            if name == "GET /api/auth/me":
                # In-process /health is the edge's fast path with no HTTP server around it: the target
                # (<= 3x /health) is judged on server CPU by scripts/bench.py, where /health costs a parse.
                note = f"in-process /health {health:.3f} ms; see the server CPU rows"
            else:
                target = TARGETS.get(name, 1.3)
                met = "met" if orbix_ms / floor_ms <= target else "MISSED"
                note = f"target <= {target}x: {met}"
            with store_ops.counting():  # the same request once more, its store operations counted
                operations = len((await store_ops.request(orbix, method, path, token, sent)).tally)
            rows.append((name, operations, orbix_ms, floor_ms, note))
            print(
                f"  {invoices:>5} {name:<28} ops {operations:>2}  "
                f"orbix {orbix_ms:7.3f} ms  floor {floor_ms:7.3f} ms  "
                f"x{orbix_ms / floor_ms:5.2f}  {note}",
                flush=True,
            )
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--scales", default=os.environ.get("BENCH_SCALES", "40,4000"))
    parser.add_argument("--requests", type=int, default=int(os.environ.get("BENCH_REQUESTS", "400")))
    args = parser.parse_args()
    os.environ.setdefault("APP_ENV", "development")
    os.environ.setdefault("JWT_SECRET", secrets.token_urlsafe(48))
    os.environ.setdefault("BCRYPT_ROUNDS", "4")
    os.environ.setdefault("AUTH_RATE_LIMIT_PER_MINUTE", "100000")
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    for name in [n for n in os.environ if n.startswith("MONGODB_")]:
        del os.environ[name]
    import logging

    logging.disable(logging.WARNING)
    print(
        f"bench floor: in-process, CPU per request over {args.requests} requests, one at a time", flush=True
    )
    table = [
        "| invoices/user | route | store ops | Orbix ms CPU | floor ms CPU | Orbix/floor | note |",
        "|---:|---|---:|---:|---:|---:|---|",
    ]
    for scale in (int(s) for s in args.scales.split(",") if s.strip()):
        for name, operations, orbix_ms, floor_ms, note in asyncio.run(one_scale(scale, args.requests)):
            ratio = orbix_ms / floor_ms
            table.append(
                f"| {scale} | {name} | {operations} | {orbix_ms:.3f} | {floor_ms:.3f} | {ratio:.2f} "
                f"| {note} |"
            )
    print()
    print("\n".join(table))
    return 0


if __name__ == "__main__":
    sys.exit(main())
