"""Organisations: the personal one of each user, their profile, and the migration of users stored before
organisations existed (API.md section 19)."""

from __future__ import annotations

from typing import Any

from bson import ObjectId
from pymongo import ReturnDocument

from app.auth import memberships
from app.core.clock import utc_now
from app.core.errors import NotFound
from app.db import versions
from app.db.repository import StoredAddress, to_bson
from app.db.versions import ANY, Expected
from app.organizations.models import Actor, Organization


async def books(owner_id: Any) -> Organization | None:
    """The organisation whose books `owner_id` names (what the worker acts for)."""
    return await Organization.get(owner_id)


def personal_organization(user_id: ObjectId, name: str, email: str, business: Any = None) -> Organization:
    return Organization(
        id=user_id,
        name=name,
        personal=True,
        business=business or {},
        contact_email=email,
        created_by=Actor(type="user", id=user_id),
    )


async def create_personal(user_id: ObjectId, name: str, email: str) -> Organization:
    """A new user's personal organisation, stored before the user (see auth/service.register)."""
    return await personal_organization(user_id, name, email).insert()


async def drop_personal(user_id: ObjectId) -> None:
    """Undo `create_personal` when the user could not be stored (their e-mail was taken)."""
    await _organizations().delete_one({"_id": user_id, "personal": True})


async def migrate_personal_organizations() -> int:
    """Every user stored before organisations gets a personal organisation holding all they had: its id is
    theirs, so every document they own (`owner_id` = their id) is its without a write. Two steps per user,
    each idempotent: the organisation is upserted with the user's profile, then the user joins it (and loses
    the copy). Killed between them, a rerun finishes the second. Returns how many users it migrated."""
    migrated = 0
    async for raw in memberships.unmigrated_users():
        organization = personal_organization(
            raw["_id"], raw.get("name") or "", raw.get("email") or "", raw.get("business")
        )
        organization.created_at = organization.updated_at = raw.get("created_at") or organization.created_at
        await _organizations().update_one(
            {"_id": raw["_id"]},
            {"$setOnInsert": to_bson(organization.model_dump(exclude={"id"}))},
            upsert=True,
        )
        migrated += await memberships.give_personal_membership(raw["_id"], organization.created_at)
    return migrated


async def migrate_invoice_prefixes() -> int:
    """A stored invoice prefix ending with a digit gets `-` appended (`X1` -> `X1-`): with `X1` and `X` both
    allowed, `X1`+`0001` and `X`+`10001` were one number. Idempotent and safe to race (each write is
    conditional on the value it read); returns how many profiles changed."""
    changed = 0
    async for raw in _organizations().find(
        {"business.invoice_prefix": {"$regex": "[0-9]$"}}, {"business.invoice_prefix": 1}
    ):
        old = raw["business"]["invoice_prefix"]
        result = await _organizations().update_one(
            {"_id": raw["_id"], "business.invoice_prefix": old},
            {"$set": {"business.invoice_prefix": f"{old}-"}},
        )
        changed += result.modified_count
    return changed


async def update_profile(
    organization_id: ObjectId,
    name: str | None,
    business: dict[str, Any],
    expected: Expected = ANY,
) -> Organization:
    """One atomic update of the name and the keys of `business` sent (an address sent replaces the whole
    address; None clears an optional key), with a new version, guarded by `expected`."""
    update: dict[str, object] = {}
    if name is not None:
        update["name"] = name
    for key, value in business.items():
        if key == "address" and value is not None:
            value = StoredAddress(**value).model_dump()
        update[f"business.{key}"] = value
    operation = versions.bump({"$set": {**update, "updated_at": utc_now()}})
    raw = await _organizations().find_one_and_update(
        expected.guard({"_id": organization_id}), to_bson(operation), return_document=ReturnDocument.AFTER
    )
    if raw is None:
        await expected.explain_miss(_organizations(), {"_id": organization_id})
        raise NotFound("No such organization")
    return Organization.model_validate(raw)


def _organizations() -> Any:
    return Organization.get_motor_collection()
