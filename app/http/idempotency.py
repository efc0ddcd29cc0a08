"""`Idempotency-Key` (docs/api-conventions.md): one ASGI middleware on the `/api` router, after
authentication.

A POST carrying the header is run at most once per (organisation, caller, key) for 24 hours, or per (user,
key) on a route outside an organisation (API.md section 18). Before the handler runs, the request claims the
key by *inserting* a record against the unique index (owner_id, caller_id, key): of any number of requests
with one key, on any number of API processes sharing the database, exactly one insert succeeds.
The winner runs the handler and stores its answer (status, body, Content-Type, Location, ETag); the others
read the record and get that answer replayed, 409 `idempotency_key_in_progress` while it runs, or 422
`idempotency_key_reused` when their method, path or body differs.

A 5xx answer (or a crash of the handler) is not kept: the claim is given back, and a retry runs again. But the
write may have reached the database before the failure (a lost connection, a timeout, a write-concern
error), so the record stays, open, with what makes the retry find that write: `resource_id`, drawn once
when the key is first claimed and the same for every run of the request. A handler takes it as the
`new_id` dependency, and the id of what it creates (a client, an invoice, a payment, an e-mail) is that id:
a retry whose earlier run committed meets its own document (the insert is refused on `_id`, the payment is
already on the invoice) and answers with it, never writing a second one.

A 429 is not kept either: it says "try again after Retry-After", which a kept answer would contradict for
24 hours. A route whose handler carries `never_replayed()` in its `opt` (auth state changes: logout,
change-password) ignores the header altogether: a repeat must run, or a logout after a new login would be
answered from the store and leave the new token working.

A process can die while it holds a claim. The claim carries a lease (`lease_until`) that the holder renews
in the background while the handler runs; once the lease has lapsed, a retry takes the claim over with one
conditional update (only the request that swaps the holder's token wins) and runs the request. A live holder
keeps renewing, so in the normal case a slow first request is never run twice: its retries get 409. The
window that remains is documented in docs/api-conventions.md: a holder cut off from the database for a
whole lease, or a process that died after its handler's write but before storing the answer.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import re
import secrets
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from beanie import Document, PydanticObjectId
from bson import ObjectId
from litestar import Request
from pydantic import Field
from pymongo import ASCENDING, IndexModel
from pymongo.errors import DuplicateKeyError

from app.config import MAX_BODY_BYTES
from app.core.clock import as_utc, utc_now
from app.core.errors import IdempotencyKeyInProgress, IdempotencyKeyReused, ValidationFailed
from app.http.tenancy import acts_in_organization

log = logging.getLogger("orbix.idempotency")

HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
_HEADER_NAME = b"idempotency-key"
_VALID_KEY = re.compile(rb"^[\x20-\x7e]{1,255}$")  # 1-255 printable ASCII characters
# The headers of an answer a replay repeats; the others (X-Request-ID, ...) belong to each request.
_KEPT_HEADERS = frozenset({b"content-type", b"location", b"etag"})
_CLAIM_ATTEMPTS = 5
_RESOURCE_ID = "idempotent_resource_id"  # where the middleware leaves the claim's id for `provide_new_id`
NEVER_REPLAYED = "never_replayed"  # the route-handler `opt` key of the routes the header does not apply to

ASGIApp = Callable[[dict[str, Any], Any, Any], Awaitable[None]]


def never_replayed() -> dict[str, bool]:
    """A route handler's `opt` entry: every request runs, an Idempotency-Key notwithstanding (auth state
    changes, API.md section 18): `@post(..., opt={**never_replayed(), **raises(...)})`."""
    return {NEVER_REPLAYED: True}


def is_never_replayed(opt: Mapping[str, Any]) -> bool:
    return bool(opt.get(NEVER_REPLAYED))


@dataclass(frozen=True)
class IdempotencyPolicy:
    """How long answers are kept, and the lease of a running claim (renewed every `renew_every`)."""

    keep: timedelta = timedelta(hours=24)
    lease: timedelta = timedelta(seconds=60)
    renew_every: timedelta = timedelta(seconds=15)


class IdempotencyRecord(Document):
    """One (organisation, caller, key): the request's fingerprint, and either the running claim or the stored
    answer."""

    # The organisation the request acted in; None on a route outside one (the key is the user's alone).
    owner_id: PydanticObjectId | None
    # Who sent it: the user (records stored before organisations have none).
    caller_id: PydanticObjectId | None = None
    key: str
    fingerprint: str
    created_at: datetime
    # The id of what the request creates, the same for every run of it (the `new_id` dependency).
    resource_id: PydanticObjectId = Field(default_factory=PydanticObjectId)
    # While the first request runs: its holder's random token and the lease it keeps renewing.
    holder: str | None = None
    lease_until: datetime | None = None
    # Once it answered (any status below 500):
    status: int | None = None
    headers: list[tuple[str, str]] = Field(default_factory=list)
    body: bytes = b""

    class Settings:
        name = "idempotency_keys"
        indexes = [
            # The name of the (owner_id, key) version it replaces: `migrate` builds this one beside it, then
            # drops that (app/db/index_migration.py).
            IndexModel(
                [("owner_id", ASCENDING), ("caller_id", ASCENDING), ("key", ASCENDING)],
                unique=True,
                name="idempotency_owner_key_unique",
            ),
            # Expiry after `keep` (24 h). MongoDB's TTL monitor runs once a minute; a claim also treats an
            # older record as absent, so the 24 hours are exact.
            IndexModel([("created_at", ASCENDING)], expireAfterSeconds=86400, name="idempotency_expiry_ttl"),
        ]


# ---------------------------------------------------------------- what "the same request" means


def _canonical(value: Any) -> str:
    """Parsed JSON written one way: keys sorted, no whitespace, numbers by exact value (1.50 == 1.5).

    An integer literal and a fractional one stay distinct ("d1" vs "1"): the API treats 1 and 1.0 apart.
    """
    if isinstance(value, dict):
        items = sorted(value.items())
        return "{" + ",".join(json.dumps(k) + ":" + _canonical(v) for k, v in items) + "}"
    if isinstance(value, list):
        return "[" + ",".join(_canonical(v) for v in value) + "]"
    if isinstance(value, Decimal):
        return "d" + str(value.normalize())
    return json.dumps(value)  # str, int, bool, None


def fingerprint(method: str, path: str, query: bytes, body: bytes) -> str:
    """A hash of the method, path and body; a body that is not JSON is compared byte for byte."""
    try:
        content = "json:" + _canonical(json.loads(body, parse_float=Decimal, parse_constant=Decimal))
    except (ValueError, RecursionError):
        content = "raw:" + body.hex()
    digest = hashlib.sha256()
    for part in (method, path.rstrip("/") or "/", query.decode("latin-1"), content):
        digest.update(part.encode("utf-8", "surrogatepass") + b"\x00")
    return digest.hexdigest()


# ---------------------------------------------------------------- the store


@dataclass(frozen=True)
class Scope:
    """Whose a key is: the organisation the request acts in (None outside one) and its caller."""

    owner_id: Any
    caller_id: Any

    @property
    def filter(self) -> dict[str, Any]:
        return {"owner_id": self.owner_id, "caller_id": self.caller_id}


def scope_of(caller: Any, opt: Mapping[str, Any]) -> Scope:
    """Read duck-typed from the auth middleware's Caller: `id` is the organisation the request acts in,
    `key_id` the API key or else `user_id` the user (http/ imports no area)."""
    who = getattr(caller, "key_id", None) or getattr(caller, "user_id", None) or caller.id
    return Scope(caller.id if acts_in_organization(dict(opt)) else None, who)


@dataclass(frozen=True)
class Claim:
    record_id: Any
    holder: str
    resource_id: Any = None


class IdempotencyStore:
    """Claims, renews, completes and releases records; every write is one single-document operation."""

    def __init__(self, policy: IdempotencyPolicy | None = None) -> None:
        self.policy = policy or IdempotencyPolicy()

    @property
    def _collection(self) -> Any:
        return IdempotencyRecord.get_motor_collection()

    async def claim(self, scope: Scope, key: str, print_: str) -> Claim | IdempotencyRecord:
        """The claim on a new (or abandoned) key, or the stored answer to replay; raises 409/422."""
        for _ in range(_CLAIM_ATTEMPTS):
            now = utc_now()
            holder = secrets.token_hex(16)
            resource_id = ObjectId()
            try:
                inserted = await self._collection.insert_one(
                    {
                        **scope.filter,
                        "key": key,
                        "fingerprint": print_,
                        "created_at": now,
                        "resource_id": resource_id,
                        "holder": holder,
                        "lease_until": now + self.policy.lease,
                        "status": None,
                        "headers": [],
                        "body": b"",
                    }
                )
                return Claim(inserted.inserted_id, holder, resource_id)
            except DuplicateKeyError:
                pass
            raw = await self._collection.find_one({**scope.filter, "key": key})
            if raw is None:
                continue  # released or expired since the insert failed: try again
            record = IdempotencyRecord.model_validate(raw)
            if as_utc(record.created_at) <= now - self.policy.keep:
                # Past its 24 hours and not yet removed by the TTL monitor: as good as gone.
                await self._collection.delete_one({"_id": record.id, "created_at": raw["created_at"]})
                continue
            if record.fingerprint != print_:
                raise IdempotencyKeyReused(
                    f"This {HEADER} was already used for another request (method, path or body)"
                )
            if record.status is not None:
                return record
            if record.holder is None:  # an earlier run failed (5xx): this one runs again
                given_back: dict[str, Any] = {"holder": None, "status": None}
                taken = await self._collection.update_one(
                    {"_id": record.id, **given_back},
                    {"$set": {"holder": holder, "lease_until": now + self.policy.lease}},
                )
            elif record.lease_until is not None and as_utc(record.lease_until) > now:
                raise IdempotencyKeyInProgress(
                    f"A request with this {HEADER} is still running; retry when it has answered"
                )
            else:  # the holder stopped renewing its lease (its process died): take the claim over
                taken = await self._collection.update_one(
                    {"_id": record.id, "holder": record.holder, "lease_until": {"$lte": now}},
                    {"$set": {"holder": holder, "lease_until": now + self.policy.lease}},
                )
                if taken.modified_count == 1:
                    log.warning("idempotency key taken over after its holder's lease lapsed")
            if taken.modified_count == 1:  # else another retry took it first: look again
                return Claim(record.id, holder, record.resource_id)
        raise IdempotencyKeyInProgress(f"A request with this {HEADER} is still running; retry shortly")

    async def renew(self, claim: Claim) -> bool:
        result = await self._collection.update_one(
            {"_id": claim.record_id, "holder": claim.holder},
            {"$set": {"lease_until": utc_now() + self.policy.lease}},
        )
        return bool(result.matched_count)

    async def complete(self, claim: Claim, status: int, headers: list[tuple[str, str]], body: bytes) -> None:
        result = await self._collection.update_one(
            {"_id": claim.record_id, "holder": claim.holder},
            {
                "$set": {"status": status, "headers": headers, "body": body},
                "$unset": {"holder": "", "lease_until": ""},
            },
        )
        if not result.matched_count:
            log.error("idempotency claim lost before the answer was stored (lease lapsed)")

    async def release(self, claim: Claim) -> None:
        """Give the claim back after a failed run: a retry runs again, with the same `resource_id`."""
        await self._collection.update_one(
            {"_id": claim.record_id, "holder": claim.holder}, {"$set": {"holder": None, "lease_until": None}}
        )


# ---------------------------------------------------------------- the middleware


@dataclass
class _Captured:
    status: int = 500
    headers: list[tuple[str, str]] = field(default_factory=list)
    chunks: list[bytes] = field(default_factory=list)


def _opt(scope: dict[str, Any]) -> Mapping[str, Any]:
    handler = scope.get("route_handler")
    return getattr(handler, "opt", None) or {}


def _header(scope: dict[str, Any], name: bytes) -> bytes | None:
    return next((value for key, value in scope["headers"] if key == name), None)


async def _read_body(receive: Any) -> tuple[bytes | None, list[dict[str, Any]]]:
    """The whole body and the messages read; None when it is over the limit (the app answers 413)."""
    messages: list[dict[str, Any]] = []
    size = 0
    while True:
        message = await receive()
        messages.append(message)
        if message["type"] != "http.request":
            return None, messages
        size += len(message.get("body", b""))
        if size > MAX_BODY_BYTES:
            return None, messages
        if not message.get("more_body", False):
            return b"".join(m.get("body", b"") for m in messages), messages


def _replaying(messages: list[dict[str, Any]], receive: Any) -> Any:
    """A receive that hands out the messages already read, then the rest of the connection's."""
    pending = list(messages)

    async def replay() -> dict[str, Any]:
        return pending.pop(0) if pending else await receive()

    return replay


def provide_new_id(request: Request[Any, Any, Any]) -> PydanticObjectId | None:
    """The `new_id` dependency: the id of what this request creates, the same for every run of a request with
    an Idempotency-Key (its record's `resource_id`); None without a key (the service draws a new one)."""
    claimed = request.scope.get("state", {}).get(_RESOURCE_ID)
    return None if claimed is None else PydanticObjectId(claimed)


class IdempotencyMiddleware:
    """For a Router's `middleware=[...]`, after authentication: POSTs with `Idempotency-Key` only. The store
    (and its policy) is the app's `state.idempotency`."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        raw_key = _header(scope, _HEADER_NAME) if scope["type"] == "http" else None
        user = scope.get("user")
        if raw_key is None or scope["method"] != "POST" or user is None or is_never_replayed(_opt(scope)):
            await self.app(scope, receive, send)
            return
        if not _VALID_KEY.match(raw_key):
            raise ValidationFailed.field(HEADER, "must be 1 to 255 printable ASCII characters")
        body, messages = await _read_body(receive)
        receive = _replaying(messages, receive)
        if body is None:
            await self.app(scope, receive, send)
            return
        print_ = fingerprint(scope["method"], scope["path"], scope.get("query_string", b""), body)
        store: IdempotencyStore = scope["app"].state.idempotency
        outcome = await store.claim(scope_of(user, _opt(scope)), raw_key.decode("ascii"), print_)
        if isinstance(outcome, IdempotencyRecord):
            await _replay(outcome, send)
            return
        scope.setdefault("state", {})[_RESOURCE_ID] = outcome.resource_id
        await self._run(store, outcome, scope, receive, send)

    async def _run(
        self, store: IdempotencyStore, claim: Claim, scope: dict[str, Any], receive: Any, send: Any
    ) -> None:
        """Run the request under the claim; keep its answer, or give the key back after a 5xx or a crash."""
        captured = _Captured()

        async def capture(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                captured.status = message["status"]
                captured.headers = [
                    (name.decode("latin-1"), value.decode("latin-1"))
                    for name, value in message.get("headers", ())
                    if name.lower() in _KEPT_HEADERS
                ]
            elif message["type"] == "http.response.body":
                captured.chunks.append(message.get("body", b""))
            await send(message)

        renewing = asyncio.create_task(_keep_renewing(store, claim))
        try:
            await self.app(scope, receive, capture)
        except BaseException:
            renewing.cancel()
            await _quietly(store.release(claim))
            raise
        renewing.cancel()
        if captured.status >= 500 or captured.status == 429:  # a retry runs again
            await _quietly(store.release(claim))
        else:
            body = b"".join(captured.chunks)
            await _quietly(store.complete(claim, captured.status, captured.headers, body))


async def _quietly(step: Awaitable[None]) -> None:
    """A bookkeeping write after the answer has gone out: a failure is logged (the lease frees the key)."""
    try:
        await step
    except Exception:
        log.exception("idempotency record not updated; the key frees itself when its lease lapses")


async def _keep_renewing(store: IdempotencyStore, claim: Claim) -> None:
    interval = store.policy.renew_every.total_seconds()
    with contextlib.suppress(asyncio.CancelledError):
        while True:
            await asyncio.sleep(interval)
            try:
                if not await store.renew(claim):
                    return
            except Exception:  # retried at the next tick: the lease outlasts several of them
                log.warning("idempotency lease renewal failed", exc_info=True)


async def _replay(record: IdempotencyRecord, send: Any) -> None:
    headers = [(name.encode("latin-1"), value.encode("latin-1")) for name, value in record.headers]
    headers += [
        (b"content-length", str(len(record.body)).encode("ascii")),
        (REPLAYED_HEADER.lower().encode("ascii"), b"true"),
    ]
    await send({"type": "http.response.start", "status": record.status, "headers": headers})
    await send({"type": "http.response.body", "body": record.body})
