"""The memberships on the user document: the only writer of them (the organisations area calls these)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

from beanie import PydanticObjectId
from bson import ObjectId

from app.auth.models import Membership, User
from app.core.roles import Role


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
    """The user joins the organisation with this role; nothing happens when they are already a member (the
    filter makes the `$push` conditional, so two joins at once add one membership)."""
    membership = Membership(organization_id=PydanticObjectId(organization_id), role=role)
    result = await _users().update_one(
        {"_id": user_id, "memberships.organization_id": {"$ne": organization_id}},
        {"$push": {"memberships": membership.model_dump()}},
    )
    return result.modified_count == 1


def _users() -> Any:
    return User.get_motor_collection()
