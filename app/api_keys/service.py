"""API keys of the organisation a request acts in, and the lookup that authenticates one (API.md section 20).

A key is `orbix_sk_` + 32 random URL-safe characters (`secrets`), shown once in the create's answer; the
store keeps its SHA-256 (unique: the authenticating lookup finds it by the hash alone) and its first 12
characters, to tell keys apart in lists. Revoking deletes the key: its next request is a 401 like an unknown
key's. Keys have no events: the contract lists none.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from typing import Any

from app.api_keys.models import ApiKey
from app.api_keys.schemas import ApiKeyCreate, ApiKeyOut
from app.auth.models import Owner
from app.core.clock import to_utc_ms, utc_now
from app.core.errors import NotFound, ValidationFailed
from app.db.pagination import Page, PageParams, paginate_raw, sortable
from app.db.repository import get_owned_view, owned_filter, parse_object_id
from app.db.versions import ANY, Expected
from app.organizations.models import Organization

PREFIX = "orbix_sk_"
SHOWN = 12  # the characters of a key its `prefix` keeps
_RANDOM_BYTES = 24  # 32 URL-safe characters
_SHAPE = re.compile(rf"^{PREFIX}[A-Za-z0-9_-]{{32}}$")
SORTS = sortable(ApiKey, {"name": "name", "created_at": "created_at"})
# What authenticating a request reads of a key.
_AUTHENTICATING = {"owner_id": 1, "scopes": 1, "expires_at": 1}


def new_key() -> str:
    return PREFIX + secrets.token_urlsafe(_RANDOM_BYTES)


def is_api_key(token: str) -> bool:
    """Whether a bearer token claims to be an API key (rather than a JWT)."""
    return token.startswith(PREFIX)


def well_formed(key: str) -> bool:
    return bool(_SHAPE.match(key))


def key_hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


async def create_key(caller: Owner, data: ApiKeyCreate) -> tuple[ApiKey, str]:
    """A new key of the caller's organisation, and the key itself (never stored)."""
    expires_at = to_utc_ms(data.expires_at) if data.expires_at is not None else None
    if expires_at is not None and expires_at <= utc_now():
        raise ValidationFailed.field("expires_at", "must be in the future")
    key = new_key()
    document = ApiKey(
        owner_id=caller.id,
        name=data.name,
        prefix=key[:SHOWN],
        scopes=data.scopes,
        key_hash=key_hash(key),
        expires_at=expires_at,
    )
    await document.insert()
    # A delete of the organisation that ran meanwhile revoked its keys before this one existed: take it back.
    from app.organizations.service import being_deleted  # the organisations area calls this one: no cycle

    if caller.id is None or await being_deleted(caller.id):
        await ApiKey.get_motor_collection().delete_one({"_id": document.id})
        raise NotFound("No such organization")
    return document, key


async def list_keys(caller: Owner, params: PageParams) -> Page[ApiKeyOut]:
    return await paginate_raw(ApiKey, owned_filter(caller.id), params, SORTS, ApiKeyOut)


async def get_key(caller: Owner, key_id: str) -> ApiKeyOut:
    return await get_owned_view(ApiKey, key_id, caller.id, ApiKeyOut)


async def revoke_key(caller: Owner, key_id: str, expected: Expected = ANY) -> None:
    """Revoke at once: the key is deleted, so the next request that carries it is a 401 (412 when If-Match
    names another version)."""
    oid = parse_object_id(key_id)
    collection = ApiKey.get_motor_collection()
    query = owned_filter(caller.id, _id=oid)
    deleted = await collection.delete_one(expected.guard(query)) if oid else None
    if deleted is None or not deleted.deleted_count:
        if oid is not None:
            await expected.explain_miss(collection, query)
        raise NotFound(f"No API key with id {key_id!r}")


async def revoke_all(organization_id: Any) -> None:
    """Every key of a deleted organisation stops working (its data is unreachable to everyone)."""
    await ApiKey.get_motor_collection().delete_many({"owner_id": organization_id})


async def authenticating(key: str, with_organization: bool) -> dict[str, Any] | None:
    """The key's organisation, scopes and expiry, by its hash: one store operation. With the organisation's
    profile joined (`_organization`) in the same round trip for the routes that need it."""
    collection = ApiKey.get_motor_collection()
    match = {"key_hash": key_hash(key)}
    if not with_organization:
        found: dict[str, Any] | None = await collection.find_one(match, _AUTHENTICATING)
        return found
    pipeline: list[dict[str, Any]] = [
        {"$match": match},
        {"$project": _AUTHENTICATING},
        {
            "$lookup": {
                "from": Organization.get_settings().name,
                "localField": "owner_id",
                "foreignField": "_id",
                "as": "_organization",
            }
        },
    ]
    joined = await collection.aggregate(pipeline).to_list(1)
    return joined[0] if joined else None


async def existing_keys(key_ids: list[Any]) -> dict[Any, dict[str, Any]]:
    """The keys among these that still exist (not revoked), with their expiry, in one query: the live event
    streams recheck their keys with it (events/live.py)."""
    found = ApiKey.get_motor_collection().find({"_id": {"$in": key_ids}}, {"expires_at": 1})
    return {raw["_id"]: raw async for raw in found}
