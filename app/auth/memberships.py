"""The memberships on the user document: the only writer of them (the organisations area calls these)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

from beanie import PydanticObjectId
from bson import ObjectId

from app.auth.models import Membership, User
from app.core.clock import utc_now
from app.core.roles import Role
from app.db.outbox import PendingEvent


def personal(user_id: ObjectId, joined_at: datetime | None = None) -> Membership:
    """The owner's membership of their personal organisation (its id is theirs)."""
    membership = Membership(organization_id=PydanticObjectId(user_id), role=Role.OWNER)
    if joined_at is not None:
        membership.joined_at = joined_at
    return membership


async def unmigrated_users() -> AsyncIterator[dict[str, Any]]:
    """Users stored before organisations: no `memberships` yet (with what their personal one needs)."""
    cursor = _users().find(
        {"memberships": {"$exists": False}}, {"name": 1, "email": 1, "business": 1, "created_at": 1}
    )
    async for raw in cursor:
        yield raw


async def give_personal_membership(user_id: ObjectId, joined_at: datetime) -> bool:
    """The second step of a user's migration: they join their personal organisation (whose profile now holds
    what `business` held). Conditional on not being done, so a rerun changes nothing."""
    result = await _users().update_one(
        {"_id": user_id, "memberships": {"$exists": False}},
        {
            "$set": {
                "memberships": [personal(user_id, joined_at).model_dump()],
                "default_organization_id": user_id,
            },
            "$unset": {"business": ""},
        },
    )
    return result.modified_count == 1


async def add_membership(user_id: ObjectId, organization_id: ObjectId, role: Role) -> bool:
    """`user_id` joins `organization_id` with `role`; nothing happens when they are a member already (a
    conditional push: a rerun or a race adds no second membership). True when they joined."""
    membership = Membership(organization_id=PydanticObjectId(organization_id), role=role)
    result = await _users().update_one(
        {"_id": user_id, "memberships.organization_id": {"$ne": organization_id}},
        {"$push": {"memberships": membership.model_dump()}},
    )
    return result.modified_count == 1


def _users() -> Any:
    return User.get_motor_collection()


# ---------------------------------------------------------------- organisations and their members

MEMBER_SORTS = {"name": "name", "email": "email", "joined_at": "membership.joined_at"}


def carrying(user_id: ObjectId, event: dict[str, Any]) -> User:
    """What `publish` needs of a user whose write left `event` in their outbox (it reads the rest again)."""
    return User.model_construct(id=user_id, outbox=[PendingEvent.model_validate(event)])


def _member(organization_id: ObjectId, **also: Any) -> dict[str, Any]:
    return {"$elemMatch": {"organization_id": organization_id, **also}}


async def join(
    user_id: ObjectId,
    organization_id: ObjectId,
    role: Role,
    *,
    event: dict[str, Any] | None = None,
    memberships_now: int | None = None,
    verify_email: str | None = None,
    joined_at: datetime | None = None,
) -> bool:
    """Add the membership, unless the user already has one there (False). `memberships_now`: only while the
    user has that many (a compare-and-set for a quota counted on them); `verify_email`: only while the
    user's address is that one, which becomes verified in the same write (an accepted invitation)."""
    query: dict[str, Any] = {"_id": user_id, "memberships.organization_id": {"$ne": organization_id}}
    if memberships_now is not None:
        query["memberships"] = {"$size": memberships_now}
    update: dict[str, Any] = {
        "$push": {
            "memberships": Membership(
                organization_id=PydanticObjectId(organization_id), role=role, joined_at=joined_at or utc_now()
            ).model_dump()
        }
    }
    if verify_email is not None:
        query["email"] = verify_email
        update["$set"] = {"email_verified": True}
    if event is not None:
        update["$push"]["outbox"] = event
    result = await _users().update_one(query, update)
    return result.modified_count == 1


async def change_role(
    user_id: ObjectId, organization_id: ObjectId, old: Role, new: Role, event: dict[str, Any]
) -> bool:
    """Move the member from `old` to `new`: False when their role there is no longer `old` (or they left)."""
    result = await _users().update_one(
        {"_id": user_id, "memberships": _member(organization_id, role=old.value)},
        {"$set": {"memberships.$.role": new.value}, "$push": {"outbox": event}},
    )
    return result.modified_count == 1


async def leave(user_id: ObjectId, organization_id: ObjectId, role: Role, event: dict[str, Any]) -> bool:
    """Remove the membership while its role is still `role` (False otherwise)."""
    result = await _users().update_one(
        {"_id": user_id, "memberships": _member(organization_id, role=role.value)},
        {"$pull": {"memberships": {"organization_id": organization_id}}, "$push": {"outbox": event}},
    )
    return result.modified_count == 1


async def undo_join(user_id: ObjectId, organization_id: ObjectId, event_id: ObjectId) -> None:
    """Take back a join that must not stand, with its `member.added` if it has not left yet."""
    await _users().update_one(
        {"_id": user_id},
        {"$pull": {"memberships": {"organization_id": organization_id}, "outbox": {"id": event_id}}},
    )


async def remove_everyone(organization_id: ObjectId) -> None:
    """Every membership of a deleted organisation (a default naming it falls back on its own: middleware)."""
    await _users().update_many(
        {"memberships.organization_id": organization_id},
        {"$pull": {"memberships": {"organization_id": organization_id}}},
    )


async def count_owners(organization_id: ObjectId) -> int:
    count: int = await _users().count_documents(
        {"memberships": _member(organization_id, role=Role.OWNER.value)}
    )
    return count


async def earliest_owner_email(organization_id: ObjectId) -> str | None:
    """The e-mail of the organisation's owner who joined first (what e-mails Orbix sends on its own, such as
    reminders, name as `Reply-To` when the profile names no e-mail); None when it has no owner."""
    found = _users().find(
        {"memberships": _member(organization_id, role=Role.OWNER.value)}, {"email": 1, "memberships": 1}
    )
    owners = [
        (_with_membership(raw, organization_id)["membership"]["joined_at"], raw["_id"], raw["email"])
        async for raw in found
    ]
    return min(owners)[2] if owners else None


async def member(user_id: ObjectId, organization_id: ObjectId) -> dict[str, Any] | None:
    """The member as the member list shows them (`membership` their membership there), or None."""
    raw = await _users().find_one(
        {"_id": user_id, "memberships.organization_id": organization_id},
        {"name": 1, "email": 1, "memberships": 1},
    )
    return _with_membership(raw, organization_id) if raw is not None else None


async def member_by_email(organization_id: ObjectId, email: str) -> bool:
    found = await _users().find_one(
        {"email": email, "memberships.organization_id": organization_id}, {"_id": 1}
    )
    return found is not None


async def members(
    organization_id: ObjectId, sort: tuple[str, int], offset: int, limit: int
) -> tuple[list[dict[str, Any]], int]:
    """A page of the organisation's members in `sort` order (a MEMBER_SORTS value, direction), and total."""
    query = {"memberships.organization_id": organization_id}
    total: int = await _users().count_documents(query)
    field, direction = sort
    order = [(field, direction), ("_id", direction)]
    if field.startswith("membership."):
        # The joined_at of this organisation's membership: read with each user, sorted here (a page of an
        # organisation's members; the index bounds the read to them).
        found = [
            _with_membership(raw, organization_id)
            async for raw in _users().find(query, {"name": 1, "email": 1, "memberships": 1})
        ]
        found.sort(key=lambda raw: (raw["membership"]["joined_at"], raw["_id"]), reverse=direction < 0)
        return found[offset : offset + limit], total
    cursor = (
        _users().find(query, {"name": 1, "email": 1, "memberships": 1}).sort(order).skip(offset).limit(limit)
    )
    return [_with_membership(raw, organization_id) async for raw in cursor], total


def _with_membership(raw: dict[str, Any], organization_id: ObjectId) -> dict[str, Any]:
    raw["membership"] = next(m for m in raw["memberships"] if m["organization_id"] == organization_id)
    return raw


async def joined(user_id: ObjectId) -> list[dict[str, Any]]:
    """The user's memberships as stored now."""
    raw = await _users().find_one({"_id": user_id}, {"memberships": 1})
    return list(raw.get("memberships") or ()) if raw else []


async def creators_joined(user_id: ObjectId, organization_id: ObjectId) -> bool:
    return (
        await _users().find_one({"_id": user_id, "memberships.organization_id": organization_id}, {"_id": 1})
        is not None
    )
